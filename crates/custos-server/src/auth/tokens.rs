//! Opaque bearer secrets: agent API keys (`cka_…`) and operator tokens (`cko_…`). 256 random
//! bits each, shown once, stored only as SHA-256.
use base64::Engine;
use custos_core::SecretString;
use rand::RngCore;

/// Prefix of agent API keys.
pub const API_KEY_PREFIX: &str = "cka_";
/// Prefix of operator tokens.
pub const OPERATOR_TOKEN_PREFIX: &str = "cko_";

/// A freshly generated secret and its public id and hash.
pub struct Minted {
    /// The secret, to show once.
    pub secret: SecretString,
    /// Public identifier.
    pub id: String,
    /// SHA-256 of the secret, the only thing stored.
    pub hash: [u8; 32],
}

/// Mints a new secret with `prefix`.
pub fn mint(prefix: &str) -> Minted {
    let mut raw = zeroize::Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(raw.as_mut());
    let secret = SecretString::new(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.as_ref())
    ));
    let hash = custos_core::sha256(secret.expose().as_bytes());
    let mut idb = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut idb);
    Minted {
        secret,
        id: hex::encode(idb),
        hash,
    }
}

/// The stored hash of a presented secret.
pub fn hash(secret: &str) -> [u8; 32] {
    custos_core::sha256(secret.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn minted_secrets_are_distinct_prefixed_and_hashed() {
        let a = mint(API_KEY_PREFIX);
        let b = mint(API_KEY_PREFIX);
        assert!(a.secret.expose().starts_with("cka_"));
        assert_eq!(a.secret.expose().len(), 4 + 43);
        assert_ne!(a.secret.expose(), b.secret.expose());
        assert_ne!(a.id, b.id);
        assert_eq!(hash(a.secret.expose()), a.hash);
    }
}
