//! The PKCS#11 token behind the boundary protocol: `custos enclave --pkcs11-module …` serves the
//! same socket protocol as the sealed-keystore enclave, with the token as its key store and its
//! own owner-signed policy book and decision log (signed by the identity key on the token). The
//! API server then talks to it like to any enclave: it never loads the module, never opens a
//! session and never sees the PIN.
use super::{Inner, Pkcs11Config, Pkcs11Custody};
use crate::protocol::{Op, Outcome, Reply};
use crate::serve::Boundary;
use custos_core::CustodyError;
use std::path::Path;
use std::sync::Arc;

/// The token, answering protocol operations.
struct TokenBoundary(Arc<Inner>);

impl Boundary for TokenBoundary {
    // Every operation talks to the token (a device call): all of them run on the blocking pool.
    fn handle(&self, op: Op) -> Outcome {
        let i = &self.0;
        let result = match op {
            Op::CreateKey { agent, scheme } => i.create_key(agent, scheme).map(Reply::PublicKey),
            Op::PublicKey { agent, scheme } => {
                i.public_key(agent, scheme).map(Reply::MaybePublicKey)
            }
            Op::Sign(req) => i.sign_recorded(&req).map(Reply::Signature),
            Op::SubmitPolicy { envelope } => i.submit_recorded(&envelope).map(Reply::PolicyApplied),
            Op::HeldPolicy { agent } => i
                .book
                .held(agent, i.now())
                .map(Reply::HeldPolicy)
                .map_err(crate::recorded::envelope_error),
            Op::Attestation { nonce } => i.attestation(&nonce).map(Reply::Attestation),
            Op::Rotate { agent, scheme } => i.rotate(agent, scheme).map(Reply::PublicKey),
            Op::SignCheckpoint { seq, head_hash } => <[u8; 32]>::try_from(head_hash.as_slice())
                .map_err(|_| CustodyError::InvalidPayload("head_hash must be 32 bytes".into()))
                .and_then(|h| i.checkpoint(seq, h))
                .map(Reply::Checkpoint),
            Op::SetFrozen { target, frozen } => i.set_frozen(target, frozen).map(Reply::Frozen),
            Op::Frozen => Ok(Reply::Frozen(i.freeze.state())),
            Op::Health => i.health().map(|()| Reply::Healthy),
        };
        match result {
            Ok(r) => Outcome::Ok(r),
            Err(e) => Outcome::Err(e.into()),
        }
    }
}

/// Runs the token-backed boundary on `socket` until the task is dropped: hardens the process
/// (when `harden`), opens the token (the PIN is in `cfg`, read from this process's own
/// environment), binds the socket owner-only and serves.
pub async fn run_pkcs11(
    socket: &Path,
    cfg: Pkcs11Config,
    harden: bool,
    max_connections: usize,
) -> Result<(), CustodyError> {
    if harden {
        crate::harden::harden_process();
    }
    let custody = Pkcs11Custody::open(cfg).await?;
    let listener = crate::serve::bind(socket).await?;
    tracing::info!(socket = %socket.display(), token = %custody.inner.token.label,
        "PKCS#11 boundary listening");
    crate::serve::serve(
        listener,
        Arc::new(TokenBoundary(custody.inner.clone())),
        max_connections,
    )
    .await
}
