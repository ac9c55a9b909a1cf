//! The protocol's messages on the wire: fixed-size concatenations of RFC 9591 encodings
//! (32-byte compressed Edwards points, 32-byte little-endian scalars), with no framing of their
//! own — the sender's holder and the recipient travel beside them in the transport's envelope.
//! The same layout is what the browser's implementation (`clients/browser`, on `@noble/curves`)
//! reads and writes, so the two interoperate byte for byte:
//!
//! | message | layout | bytes |
//! | --- | --- | --- |
//! | DKG round 1 | commitment points `C0 ‖ C1`, proof of knowledge `R ‖ z` | 128 |
//! | DKG round 2 | the signing share for the recipient (secret) | 32 |
//! | signing commitment | hiding `D ‖` binding `E` | 64 |
//! | signature share | `z_i` | 32 |

/// `bytes` cut into fields of exactly `sizes`, or why not.
pub(crate) fn split<'a>(bytes: &'a [u8], sizes: &[usize]) -> Result<Vec<&'a [u8]>, String> {
    let want: usize = sizes.iter().sum();
    if bytes.len() != want {
        return Err(format!("{} bytes, expected {want}", bytes.len()));
    }
    let mut out = Vec::with_capacity(sizes.len());
    let mut rest = bytes;
    for &n in sizes {
        let (field, tail) = rest.split_at(n);
        out.push(field);
        rest = tail;
    }
    Ok(out)
}
