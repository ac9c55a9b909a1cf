//! Ed25519 on the token, checked: the one routine every Ed25519 signature of the PKCS#11
//! backend goes through (agents' Solana keys and the boundary's identity key), and the identity
//! key as the signer of the boundary's decision log.
use super::token::{self, SessionPool};
use cryptoki::object::ObjectHandle;
use custos_core::{CustodyError, KeyScheme};
use std::sync::Arc;

/// Signs `message` with the token's Ed25519 key `private` and checks the result against its
/// public half `vk` before anything uses it.
pub(super) fn sign_ed25519(
    pool: &SessionPool,
    private: ObjectHandle,
    vk: &ed25519_dalek::VerifyingKey,
    message: &[u8],
) -> Result<[u8; 64], CustodyError> {
    let raw = pool.with(|s| token::sign_raw(s, KeyScheme::Ed25519, private, message))?;
    let sig = ed25519_dalek::Signature::from_slice(&raw).map_err(|_| {
        CustodyError::Internal("token returned a malformed Ed25519 signature".into())
    })?;
    vk.verify_strict(message, &sig)
        .map_err(|_| CustodyError::Internal("token's Ed25519 signature does not verify".into()))?;
    Ok(sig.to_bytes())
}

/// The boundary's identity key on the token, signing its decision log.
pub(super) struct TokenIdentity {
    pub(super) pool: Arc<SessionPool>,
    pub(super) private: ObjectHandle,
    pub(super) vk: ed25519_dalek::VerifyingKey,
}

impl custos_signer::decisions::IdentitySigner for TokenIdentity {
    fn sign_identity(&self, message: &[u8]) -> std::io::Result<[u8; 64]> {
        sign_ed25519(&self.pool, self.private, &self.vk, message).map_err(std::io::Error::other)
    }
}
