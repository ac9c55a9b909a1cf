//! KMS providers: who wraps the per-key data keys that seal agent keys at rest.
//!
//! [`KmsProvider`] is the small interface every provider implements (generate a data key,
//! decrypt a wrapped data key, health, destroy). [`LocalKms`] is the development provider: a
//! master key on the enclave's own disk — either a random 32-byte file (mode 0600, made on first
//! start) or derived from a passphrase with scrypt — that wraps data keys with AES-256-GCM.
//! An OpenBao/Vault Transit provider implements the same trait later.
use crate::keystore::write_atomic;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use custos_core::{CustodyError, SecretBytes};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use zeroize::Zeroizing;

/// Wraps and unwraps data keys. Implementations must never hand out the key that wraps.
///
/// Calls may block (file or network I/O); the enclave calls them off the async executor.
pub trait KmsProvider: Send + Sync {
    /// A short stable name stored beside each wrapped key (e.g. `local`).
    fn name(&self) -> &'static str;
    /// A fresh 256-bit data key: the plaintext (for use now) and its wrapped form (to store).
    fn generate_data_key(&self) -> Result<(SecretBytes, Vec<u8>), CustodyError>;
    /// Unwraps a data key produced by [`KmsProvider::generate_data_key`].
    fn decrypt_data_key(&self, wrapped: &[u8]) -> Result<SecretBytes, CustodyError>;
    /// Whether the provider can currently wrap and unwrap.
    fn health(&self) -> Result<(), CustodyError>;
    /// Wipes all in-memory key material; later calls fail with `Unavailable`.
    fn destroy(&self);
}

const NONCE_LEN: usize = 12;
const WRAP_AAD: &[u8] = b"custos-local-kms:data-key:v1";
const CHECK_AAD: &[u8] = b"custos-local-kms:passphrase-check:v1";
/// Name of the random master key file under the KMS directory.
pub const MASTER_KEY_FILE: &str = "master.key";
/// Name of the passphrase parameters file under the KMS directory.
pub const PASSPHRASE_FILE: &str = "master.json";

/// scrypt parameters for a passphrase-derived master key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScryptParams {
    /// log2(N).
    pub log_n: u8,
    /// Block size.
    pub r: u32,
    /// Parallelism.
    pub p: u32,
}

impl Default for ScryptParams {
    fn default() -> Self {
        // N = 2^17, r = 8: ~128 MiB, the OWASP-recommended minimum for scrypt.
        Self {
            log_n: 17,
            r: 8,
            p: 1,
        }
    }
}

/// The on-disk description of a passphrase-derived master key (no secret in it).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PassphraseFile {
    version: u32,
    kdf: String,
    params: ScryptParams,
    /// Base64 salt.
    salt: String,
    /// Base64 AES-256-GCM sealing of nothing: opening it proves the passphrase is right, so a
    /// typo fails at start instead of as `Integrity` on the first signature.
    check: String,
}

/// The local development KMS: a master key held in memory, from a key file or a passphrase.
pub struct LocalKms {
    master: Mutex<Option<Zeroizing<[u8; 32]>>>,
}

impl std::fmt::Debug for LocalKms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalKms(<redacted>)")
    }
}

impl LocalKms {
    /// Loads the master key from `dir/master.key`, creating it (32 random bytes, mode 0600) on
    /// first start. Refuses a key file that group or others can read.
    pub fn from_key_file(dir: &Path) -> Result<Self, CustodyError> {
        crate::keystore::create_private_dir(dir)?;
        let path = dir.join(MASTER_KEY_FILE);
        if !path.exists() {
            let mut key = Zeroizing::new([0u8; 32]);
            OsRng.fill_bytes(key.as_mut());
            write_atomic(&path, key.as_ref(), false)?;
        }
        check_owner_only(&path)?;
        let bytes = Zeroizing::new(std::fs::read(&path).map_err(io_err("read master key"))?);
        if bytes.len() != 32 {
            return Err(CustodyError::Internal(format!(
                "{} is not a 32-byte key",
                path.display()
            )));
        }
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&bytes);
        Ok(Self::from_master(key))
    }

    /// Derives the master key from `passphrase` with scrypt. On first start writes
    /// `dir/master.json` (salt, parameters, a check value); later starts verify the passphrase
    /// against the check value.
    pub fn from_passphrase(dir: &Path, passphrase: &[u8]) -> Result<Self, CustodyError> {
        Self::from_passphrase_with(dir, passphrase, ScryptParams::default())
    }

    /// As [`LocalKms::from_passphrase`], with explicit scrypt parameters for a new file
    /// (an existing file's parameters win).
    pub fn from_passphrase_with(
        dir: &Path,
        passphrase: &[u8],
        params: ScryptParams,
    ) -> Result<Self, CustodyError> {
        crate::keystore::create_private_dir(dir)?;
        let path = dir.join(PASSPHRASE_FILE);
        let b64 = base64::engine::general_purpose::STANDARD;
        if path.exists() {
            let raw = std::fs::read(&path).map_err(io_err("read passphrase file"))?;
            let file: PassphraseFile = serde_json::from_slice(&raw)
                .map_err(|e| CustodyError::Internal(format!("passphrase file: {e}")))?;
            if file.version != 1 || file.kdf != "scrypt" {
                return Err(CustodyError::Internal(
                    "unsupported passphrase file version or kdf".into(),
                ));
            }
            let salt = b64
                .decode(&file.salt)
                .map_err(|_| CustodyError::Internal("passphrase file: bad salt".into()))?;
            let check = b64
                .decode(&file.check)
                .map_err(|_| CustodyError::Internal("passphrase file: bad check".into()))?;
            let key = derive(passphrase, &salt, file.params)?;
            let kms = Self::from_master(key);
            kms.unwrap_with(&check, CHECK_AAD).map_err(|_| {
                CustodyError::Unavailable("wrong passphrase for the enclave master key".into())
            })?;
            Ok(kms)
        } else {
            let mut salt = [0u8; 16];
            OsRng.fill_bytes(&mut salt);
            let key = derive(passphrase, &salt, params)?;
            let kms = Self::from_master(key);
            let check = kms.wrap_with(&[], CHECK_AAD)?;
            let file = PassphraseFile {
                version: 1,
                kdf: "scrypt".into(),
                params,
                salt: b64.encode(salt),
                check: b64.encode(check),
            };
            let json = serde_json::to_vec_pretty(&file)
                .map_err(|e| CustodyError::Internal(e.to_string()))?;
            write_atomic(&path, &json, false)?;
            Ok(kms)
        }
    }

    fn from_master(key: Zeroizing<[u8; 32]>) -> Self {
        Self {
            master: Mutex::new(Some(key)),
        }
    }

    fn cipher(&self) -> Result<Aes256Gcm, CustodyError> {
        let guard = self.master.lock().unwrap_or_else(|e| e.into_inner());
        let key = guard
            .as_ref()
            .ok_or_else(|| CustodyError::Unavailable("local KMS destroyed".into()))?;
        Aes256Gcm::new_from_slice(key.as_ref())
            .map_err(|_| CustodyError::Internal("bad master key length".into()))
    }

    fn wrap_with(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CustodyError> {
        seal(&self.cipher()?, plaintext, aad)
    }

    fn unwrap_with(&self, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes, CustodyError> {
        open(&self.cipher()?, wrapped, aad)
    }
}

impl KmsProvider for LocalKms {
    fn name(&self) -> &'static str {
        "local"
    }

    fn generate_data_key(&self) -> Result<(SecretBytes, Vec<u8>), CustodyError> {
        let mut raw = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(raw.as_mut());
        let wrapped = self.wrap_with(raw.as_ref(), WRAP_AAD)?;
        Ok((SecretBytes::from_slice(raw.as_ref()), wrapped))
    }

    fn decrypt_data_key(&self, wrapped: &[u8]) -> Result<SecretBytes, CustodyError> {
        let dk = self.unwrap_with(wrapped, WRAP_AAD)?;
        if dk.len() != 32 {
            return Err(CustodyError::Integrity);
        }
        Ok(dk)
    }

    fn health(&self) -> Result<(), CustodyError> {
        let (dk, wrapped) = self.generate_data_key()?;
        let back = self.decrypt_data_key(&wrapped)?;
        if back.expose() == dk.expose() {
            Ok(())
        } else {
            Err(CustodyError::Internal("local KMS round trip failed".into()))
        }
    }

    fn destroy(&self) {
        // Dropping the Zeroizing buffer wipes it.
        self.master.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

fn derive(
    passphrase: &[u8],
    salt: &[u8],
    p: ScryptParams,
) -> Result<Zeroizing<[u8; 32]>, CustodyError> {
    let params = scrypt::Params::new(p.log_n, p.r, p.p, 32)
        .map_err(|_| CustodyError::Internal("invalid scrypt parameters".into()))?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(passphrase, salt, &params, key.as_mut())
        .map_err(|_| CustodyError::Internal("scrypt failed".into()))?;
    Ok(key)
}

/// AES-256-GCM seal: `nonce (12) || ciphertext || tag (16)`.
pub(crate) fn seal(
    cipher: &Aes256Gcm,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CustodyError> {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| CustodyError::Internal("aes-gcm seal failed".into()))?;
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens what [`seal`] produced; any mismatch is [`CustodyError::Integrity`].
pub(crate) fn open(
    cipher: &Aes256Gcm,
    sealed: &[u8],
    aad: &[u8],
) -> Result<SecretBytes, CustodyError> {
    if sealed.len() < NONCE_LEN + 16 {
        return Err(CustodyError::Integrity);
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map(SecretBytes::new)
        .map_err(|_| CustodyError::Integrity)
}

fn check_owner_only(path: &Path) -> Result<(), CustodyError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(io_err("stat master key"))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(CustodyError::Internal(format!(
            "{} is readable by group or others; chmod 600 it",
            path.display()
        )));
    }
    Ok(())
}

pub(crate) fn io_err(what: &'static str) -> impl Fn(std::io::Error) -> CustodyError {
    move |e| CustodyError::Internal(format!("{what}: {e}"))
}

/// Where the local KMS keeps its files inside an enclave data dir.
pub fn local_kms_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("kms")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const FAST: ScryptParams = ScryptParams {
        log_n: 4,
        r: 8,
        p: 1,
    };

    #[test]
    fn key_file_round_trip_and_persistence() {
        let dir = tempfile::tempdir().unwrap();
        let kms = LocalKms::from_key_file(dir.path()).unwrap();
        kms.health().unwrap();
        let (dk, wrapped) = kms.generate_data_key().unwrap();
        assert_eq!(dk.len(), 32);
        assert!(!wrapped.windows(32).any(|w| w == dk.expose()));
        let again = LocalKms::from_key_file(dir.path()).unwrap();
        assert_eq!(
            again.decrypt_data_key(&wrapped).unwrap().expose(),
            dk.expose()
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(MASTER_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn tampered_wrap_is_integrity_error() {
        let dir = tempfile::tempdir().unwrap();
        let kms = LocalKms::from_key_file(dir.path()).unwrap();
        let (_, mut wrapped) = kms.generate_data_key().unwrap();
        wrapped[20] ^= 1;
        assert_eq!(
            kms.decrypt_data_key(&wrapped).unwrap_err(),
            CustodyError::Integrity
        );
        assert_eq!(
            kms.decrypt_data_key(&[1, 2]).unwrap_err(),
            CustodyError::Integrity
        );
    }

    #[test]
    fn world_readable_key_file_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        LocalKms::from_key_file(dir.path()).unwrap();
        let p = dir.path().join(MASTER_KEY_FILE);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(LocalKms::from_key_file(dir.path()).is_err());
    }

    #[test]
    fn passphrase_right_and_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let kms = LocalKms::from_passphrase_with(dir.path(), b"correct horse", FAST).unwrap();
        let (dk, wrapped) = kms.generate_data_key().unwrap();
        let again = LocalKms::from_passphrase_with(dir.path(), b"correct horse", FAST).unwrap();
        assert_eq!(
            again.decrypt_data_key(&wrapped).unwrap().expose(),
            dk.expose()
        );
        let err = LocalKms::from_passphrase_with(dir.path(), b"wrong horse", FAST).unwrap_err();
        assert!(matches!(err, CustodyError::Unavailable(_)), "{err:?}");
        let raw = std::fs::read_to_string(dir.path().join(PASSPHRASE_FILE)).unwrap();
        assert!(
            raw.contains("\"version\": 1") && raw.contains("scrypt"),
            "{raw}"
        );
    }

    #[test]
    fn destroy_wipes() {
        let dir = tempfile::tempdir().unwrap();
        let kms = LocalKms::from_key_file(dir.path()).unwrap();
        let (_, wrapped) = kms.generate_data_key().unwrap();
        kms.destroy();
        assert!(matches!(
            kms.decrypt_data_key(&wrapped),
            Err(CustodyError::Unavailable(_))
        ));
        assert!(kms.health().is_err());
    }
}
