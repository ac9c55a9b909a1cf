//! How Custos names its objects on a PKCS#11 token, so it finds its keys again after a restart
//! with nothing but the token.
//!
//! Every key pair is two token objects (private and public) sharing one `CKA_ID`, which is the
//! conventional way PKCS#11 links the halves of a pair:
//!
//! - `CKA_ID` = `custos:v1:{owner}:{scheme}:{key_id}`, unique per pair and never changed;
//! - `CKA_LABEL` = `custos:v1:{owner}:{scheme}:active` for the owner's current key, rewritten to
//!   `custos:v1:{owner}:{scheme}:receive-only:{until_ms}` when the key is rotated out.
//!
//! `{owner}` is `agent-{uuid}` or `identity` (the boundary's own Ed25519 key), `{scheme}` is
//! [`KeyScheme::as_str`], and `{key_id}` is `p11-{created_ms}-{16 hex}`, so the creation time
//! survives on the token without a metadata file. Finding the active key is one exact-match
//! `C_FindObjects` on the label; the status lives on the token, next to the key it describes.
use custos_core::{AgentId, KeyScheme};
use rand_core::{OsRng, RngCore};

/// Whose key an object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Owner {
    /// An agent's wallet key.
    Agent(AgentId),
    /// The boundary's identity key (attestation documents, audit checkpoints).
    Identity,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Agent(a) => write!(f, "agent-{a}"),
            Self::Identity => f.write_str("identity"),
        }
    }
}

const PREFIX: &str = "custos:v1";

/// A fresh key id embedding its creation time.
pub(crate) fn new_key_id(created_ms: i64) -> String {
    let mut r = [0u8; 8];
    OsRng.fill_bytes(&mut r);
    format!("p11-{created_ms}-{}", hex::encode(r))
}

/// The creation time embedded in a key id from [`new_key_id`].
pub(crate) fn created_ms(key_id: &str) -> Option<i64> {
    let rest = key_id.strip_prefix("p11-")?;
    let (ms, rand) = rest.split_once('-')?;
    (rand.len() == 16 && rand.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| ms.parse().ok())
        .flatten()
}

/// `CKA_ID` of both halves of a pair.
pub(crate) fn object_id(owner: Owner, scheme: KeyScheme, key_id: &str) -> Vec<u8> {
    format!("{PREFIX}:{owner}:{}:{key_id}", scheme.as_str()).into_bytes()
}

/// The key id inside a `CKA_ID` written by [`object_id`] for this owner and scheme.
pub(crate) fn key_id_of(owner: Owner, scheme: KeyScheme, id: &[u8]) -> Option<String> {
    let id = std::str::from_utf8(id).ok()?;
    let head = format!("{PREFIX}:{owner}:{}:", scheme.as_str());
    let key_id = id.strip_prefix(&head)?;
    created_ms(key_id).map(|_| key_id.to_string())
}

/// `CKA_LABEL` of the owner's active key.
pub(crate) fn active_label(owner: Owner, scheme: KeyScheme) -> Vec<u8> {
    format!("{PREFIX}:{owner}:{}:active", scheme.as_str()).into_bytes()
}

/// `CKA_LABEL` of a rotated-out key, usable for receiving and sweeping until `until_ms`.
pub(crate) fn receive_only_label(owner: Owner, scheme: KeyScheme, until_ms: i64) -> Vec<u8> {
    format!(
        "{PREFIX}:{owner}:{}:receive-only:{until_ms}",
        scheme.as_str()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_round_trip_and_are_bound_to_owner_and_scheme() {
        let a = Owner::Agent(AgentId::new_random());
        let b = Owner::Agent(AgentId::new_random());
        let kid = new_key_id(1_700_000_000_123);
        assert_eq!(created_ms(&kid), Some(1_700_000_000_123));
        let id = object_id(a, KeyScheme::Ed25519, &kid);
        assert_eq!(key_id_of(a, KeyScheme::Ed25519, &id), Some(kid.clone()));
        assert_eq!(key_id_of(b, KeyScheme::Ed25519, &id), None);
        assert_eq!(key_id_of(a, KeyScheme::Secp256k1Ecdsa, &id), None);
        assert_eq!(key_id_of(Owner::Identity, KeyScheme::Ed25519, &id), None);
        assert_ne!(new_key_id(1), new_key_id(1));
        assert_eq!(created_ms("p11-12-zz"), None);
    }

    #[test]
    fn labels_differ_by_status() {
        let a = Owner::Agent(AgentId::new_random());
        assert_ne!(
            active_label(a, KeyScheme::Ed25519),
            receive_only_label(a, KeyScheme::Ed25519, 5)
        );
        assert_ne!(
            active_label(a, KeyScheme::Ed25519),
            active_label(a, KeyScheme::Secp256k1Ecdsa)
        );
    }
}
