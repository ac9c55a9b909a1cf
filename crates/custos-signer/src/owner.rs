//! Owner keys: Ed25519 keys kept by the people who own a wallet (operators today, passkeys when
//! the console lands). Their public halves are enrolled with every signer; a policy takes effect
//! only under their signatures.
//!
//! A key file is JSON `{"format":"custos-owner-key/1","public_key":HEX,"secret_key":HEX}`, written
//! owner-only (0600). The secret never appears in `Debug` output and is zeroized on drop.
use ed25519_dalek::Signer as _;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;
use zeroize::Zeroizing;

/// The format tag of an owner key file.
pub const KEY_FILE_FORMAT: &str = "custos-owner-key/1";

/// The public half of an owner key (hex on the wire).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OwnerKey([u8; 32]);

impl OwnerKey {
    /// From 32 bytes; refuses bytes that are not an Ed25519 point.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, String> {
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map(|_| Self(bytes))
            .map_err(|_| "not an ed25519 public key".to_owned())
    }

    /// From 64 hex characters.
    pub fn from_hex(s: &str) -> Result<Self, String> {
        let raw = hex::decode(s.trim()).map_err(|_| "owner key must be hex".to_owned())?;
        let arr: [u8; 32] = raw
            .try_into()
            .map_err(|_| "owner key must be 32 bytes (64 hex characters)".to_owned())?;
        Self::from_bytes(arr)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Whether `signature` (64 bytes) is this key's strict RFC 8032 signature over `msg`.
    pub fn verifies(&self, msg: &[u8], signature: &[u8]) -> bool {
        let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(&self.0) else {
            return false;
        };
        let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        // Strict: small-order keys and non-canonical signatures are refused.
        vk.verify_strict(msg, &sig).is_ok()
    }
}

impl fmt::Display for OwnerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for OwnerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OwnerKey({})", self.to_hex())
    }
}

impl Serialize for OwnerKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for OwnerKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// An owner's signing key. Held by the operator (a file they keep) or, in development, by the
/// server as its bootstrap owner key.
pub struct OwnerSigningKey(ed25519_dalek::SigningKey);

impl fmt::Debug for OwnerSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OwnerSigningKey({}, <redacted>)", self.public().to_hex())
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    format: String,
    public_key: OwnerKey,
    secret_key: String,
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret_key);
    }
}

impl OwnerSigningKey {
    /// A fresh key from the OS CSPRNG.
    pub fn generate() -> Self {
        Self(ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng))
    }

    /// The public half.
    pub fn public(&self) -> OwnerKey {
        OwnerKey(self.0.verifying_key().to_bytes())
    }

    /// Signs `msg` (RFC 8032, deterministic).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.0.sign(msg).to_bytes()
    }

    /// Writes the key to a new file `path` (mode 0600). Refuses to overwrite an existing file.
    pub fn write_new(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let body = KeyFile {
            format: KEY_FILE_FORMAT.into(),
            public_key: self.public(),
            secret_key: hex::encode(self.0.to_bytes()),
        };
        let text =
            Zeroizing::new(serde_json::to_string_pretty(&body).map_err(std::io::Error::other)?);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(text.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()
    }

    /// Reads a key file; the error names the file and what is wrong, never the secret.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| format!("{}: cannot read: {e}", path.display()))?,
        );
        let file: KeyFile = serde_json::from_str(&text)
            .map_err(|_| format!("{}: not a custos owner key file", path.display()))?;
        if file.format != KEY_FILE_FORMAT {
            return Err(format!(
                "{}: format {:?} is not {KEY_FILE_FORMAT}",
                path.display(),
                file.format
            ));
        }
        let raw = Zeroizing::new(
            hex::decode(file.secret_key.as_str())
                .map_err(|_| format!("{}: secret_key is not hex", path.display()))?,
        );
        let mut arr = Zeroizing::new([0u8; 32]);
        if raw.len() != 32 {
            return Err(format!("{}: secret_key must be 32 bytes", path.display()));
        }
        arr.copy_from_slice(&raw);
        let key = Self(ed25519_dalek::SigningKey::from_bytes(&arr));
        if key.public() != file.public_key {
            return Err(format!(
                "{}: public_key does not match secret_key",
                path.display()
            ));
        }
        Ok(key)
    }

    /// Reads `path`, or creates it with a fresh key when it does not exist.
    pub fn read_or_create(path: &Path) -> Result<(Self, bool), String> {
        if path.exists() {
            return Self::read(path).map(|k| (k, false));
        }
        let key = Self::generate();
        key.write_new(path)
            .map_err(|e| format!("{}: cannot create: {e}", path.display()))?;
        Ok((key, true))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rfc8032_test_2_verifies_and_a_flipped_bit_does_not() {
        let pk =
            OwnerKey::from_hex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
                .unwrap();
        let sig = hex::decode("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00").unwrap();
        assert!(pk.verifies(&[0x72], &sig));
        assert!(!pk.verifies(&[0x73], &sig));
        let mut bad = sig.clone();
        bad[0] ^= 1;
        assert!(!pk.verifies(&[0x72], &bad));
        assert!(!pk.verifies(&[0x72], &sig[..63]));
    }

    #[test]
    fn key_file_round_trips_is_private_and_never_printed() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("owner.key");
        let key = OwnerSigningKey::generate();
        key.write_new(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(key.write_new(&path).is_err(), "overwrote a key file");
        let back = OwnerSigningKey::read(&path).unwrap();
        assert_eq!(back.public(), key.public());
        let secret = hex::encode(key.0.to_bytes());
        assert!(!format!("{back:?}").contains(&secret));
        // A file whose halves disagree is refused, naming the problem.
        let text = std::fs::read_to_string(&path).unwrap();
        let other = OwnerSigningKey::generate().public().to_hex();
        std::fs::write(&path, text.replace(&key.public().to_hex(), &other)).unwrap();
        let err = OwnerSigningKey::read(&path).unwrap_err();
        assert!(err.contains("does not match"), "{err}");
        assert!(!err.contains(&secret));
    }

    #[test]
    fn bad_public_keys_are_refused_by_name() {
        assert!(OwnerKey::from_hex("zz").unwrap_err().contains("hex"));
        assert!(OwnerKey::from_hex("00").unwrap_err().contains("32 bytes"));
    }
}
