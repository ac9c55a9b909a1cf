//! Wrappers for secret material. They zeroize on drop, print `<redacted>` from `Debug`, have no
//! `Display` and no `Serialize`, so a secret cannot reach a log line or a response by accident;
//! reading one takes an explicit `expose()` call that reviewers can grep for.
use zeroize::{Zeroize, Zeroizing};

/// A secret string: an OTP, a bearer token, an API key, a password.
#[derive(Clone, Default)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps `s`; the original allocation moves in, so no unzeroized copy is left behind.
    pub fn new(s: String) -> Self {
        Self(Zeroizing::new(s))
    }
    /// The secret value. Call sites are the only places a secret is read.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

impl<'de> serde::Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

/// Secret bytes: key material, seeds, data keys.
#[derive(Clone, Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps `v` (moved in, so no copy is left unzeroized).
    pub fn new(v: Vec<u8>) -> Self {
        Self(Zeroizing::new(v))
    }
    /// Copies `s` into a new zeroizing buffer.
    pub fn from_slice(s: &[u8]) -> Self {
        Self(Zeroizing::new(s.to_vec()))
    }
    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes(<redacted; {} bytes>)", self.0.len())
    }
}

impl Zeroize for SecretBytes {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_secret() {
        let s = SecretString::new("hunter2-otp-123456".into());
        let b = SecretBytes::new(b"\x01\x02supersecretkey".to_vec());
        let out = format!("{s:?} {b:?} {:#?}", (&s, &b));
        assert!(!out.contains("hunter2"), "{out}");
        assert!(!out.contains("supersecret"), "{out}");
        assert!(out.contains("<redacted"));
        assert_eq!(s.expose(), "hunter2-otp-123456");
    }
}
