//! HMAC-SHA256, the one keyed hash the server derives hashes, identifiers and secrets with
//! (login-code hashes, Knot `otpId`s, webhook secrets and signatures).
use hmac::{Hmac, Mac};

/// HMAC-SHA256 under `key` of the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(key) {
        Ok(m) => m,
        // HMAC takes a key of any length; this arm is unreachable.
        Err(_) => return [0u8; 32],
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}
