//! Owner-only files for the server's own secrets (JWT key, OTP pepper): written to a temporary
//! name with mode 0600, synced, then renamed into place so a crash never leaves half a key.
use std::path::Path;

pub use custos_signer::files::write_private;

/// Reads a 32-byte secret stored as hex in `path`, creating it on first use.
pub fn load_or_create_secret32(path: &Path) -> std::io::Result<zeroize::Zeroizing<[u8; 32]>> {
    let mut out = zeroize::Zeroizing::new([0u8; 32]);
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let raw = zeroize::Zeroizing::new(
                hex::decode(text.trim())
                    .map_err(|_| std::io::Error::other(format!("{}: not hex", path.display())))?,
            );
            if raw.len() != 32 {
                return Err(std::io::Error::other(format!(
                    "{}: must hold 32 bytes",
                    path.display()
                )));
            }
            out.copy_from_slice(&raw);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, out.as_mut());
            write_private(
                path,
                zeroize::Zeroizing::new(hex::encode(out.as_ref())).as_bytes(),
            )?;
        }
        Err(e) => return Err(e),
    }
    Ok(out)
}
