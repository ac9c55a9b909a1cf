//! The `dev` attestation document and signed audit checkpoints, both signed by the enclave's
//! Ed25519 identity key, and their client-side verifiers.
//!
//! A `dev` document is honest about what it is: `hardware_backed: false`, and the measurement is
//! only the SHA-256 of the enclave binary as the enclave itself read it. It proves freshness
//! (the nonce) and possession of the identity key, nothing about the platform.
use base64::Engine as _;
use custos_core::{AttestationDocument, AuditCheckpoint};
use serde::{Deserialize, Serialize};

/// Why a document or checkpoint failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The document is not a `dev` document.
    #[error("unsupported attestation format {0:?}")]
    UnsupportedFormat(String),
    /// The document could not be decoded.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// The signed body and the outer fields disagree.
    #[error("signed body does not match field {0}")]
    Mismatch(&'static str),
    /// The nonce is not the one the verifier sent.
    #[error("nonce mismatch")]
    Nonce,
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
}

/// The signed body of a `dev` attestation document.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DevBody {
    pub(crate) format: String,
    pub(crate) hardware_backed: bool,
    pub(crate) measurement: String,
    pub(crate) nonce: String,
    pub(crate) timestamp_ms: i64,
    pub(crate) public_key: String,
}

/// Builds a signed `dev` document with `sign` (the identity key's Ed25519 signing function).
pub(crate) fn dev_document(
    measurement: &str,
    nonce: &[u8],
    timestamp_ms: i64,
    identity: &ed25519_dalek::SigningKey,
) -> Result<AttestationDocument, custos_core::CustodyError> {
    let public_key = hex::encode(identity.verifying_key().to_bytes());
    let body = DevBody {
        format: "dev".into(),
        hardware_backed: false,
        measurement: measurement.into(),
        nonce: hex::encode(nonce),
        timestamp_ms,
        public_key: public_key.clone(),
    };
    let bytes = serde_json::to_vec(&body)
        .map_err(|e| custos_core::CustodyError::Internal(e.to_string()))?;
    let signature = crate::signer::ed25519_sign(identity, &bytes);
    Ok(AttestationDocument {
        format: body.format,
        hardware_backed: false,
        measurement: body.measurement,
        nonce: body.nonce,
        timestamp_ms,
        public_key,
        document: base64::engine::general_purpose::STANDARD.encode(&bytes),
        signature: hex::encode(signature),
    })
}

/// Verifies a `dev` attestation document: the Ed25519 signature (by the key named in the
/// document) over the decoded `document` bytes, the outer fields against the signed body, and
/// the nonce against `expected_nonce`.
///
/// This proves freshness and possession of the identity key only. Callers should also pin
/// `doc.public_key` (trust on first use, or configured) — a `dev` document is self-signed.
pub fn verify_dev_attestation(
    doc: &AttestationDocument,
    expected_nonce: &[u8],
) -> Result<(), VerifyError> {
    if doc.format != "dev" {
        return Err(VerifyError::UnsupportedFormat(doc.format.clone()));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&doc.document)
        .map_err(|_| VerifyError::Malformed("document is not base64"))?;
    let body: DevBody =
        serde_json::from_slice(&bytes).map_err(|_| VerifyError::Malformed("document body"))?;
    let vk = parse_key(&body.public_key)?;
    let sig = parse_sig(&doc.signature)?;
    vk.verify_strict(&bytes, &sig)
        .map_err(|_| VerifyError::Signature)?;
    let checks = [
        (body.format == doc.format, "format"),
        (
            !body.hardware_backed && !doc.hardware_backed,
            "hardware_backed",
        ),
        (body.measurement == doc.measurement, "measurement"),
        (body.nonce == doc.nonce, "nonce"),
        (body.timestamp_ms == doc.timestamp_ms, "timestamp_ms"),
        (body.public_key == doc.public_key, "public_key"),
    ];
    if let Some((_, field)) = checks.iter().find(|(ok, _)| !ok) {
        return Err(VerifyError::Mismatch(field));
    }
    if body.nonce != hex::encode(expected_nonce) {
        return Err(VerifyError::Nonce);
    }
    Ok(())
}

/// Signs an audit chain head.
pub(crate) fn checkpoint(
    seq: u64,
    head_hash: &[u8; 32],
    timestamp_ms: i64,
    identity: &ed25519_dalek::SigningKey,
) -> AuditCheckpoint {
    let head_hash = hex::encode(head_hash);
    let sig = crate::signer::ed25519_sign(
        identity,
        &AuditCheckpoint::signed_bytes(seq, &head_hash, timestamp_ms),
    );
    AuditCheckpoint {
        seq,
        head_hash,
        timestamp_ms,
        public_key: hex::encode(identity.verifying_key().to_bytes()),
        signature: hex::encode(sig),
    }
}

/// Verifies an audit checkpoint's signature under the public key it names. Callers must also
/// check that `cp.public_key` is the enclave identity they trust.
pub fn verify_checkpoint(cp: &AuditCheckpoint) -> Result<(), VerifyError> {
    let vk = parse_key(&cp.public_key)?;
    let sig = parse_sig(&cp.signature)?;
    vk.verify_strict(
        &AuditCheckpoint::signed_bytes(cp.seq, &cp.head_hash, cp.timestamp_ms),
        &sig,
    )
    .map_err(|_| VerifyError::Signature)
}

fn parse_key(h: &str) -> Result<ed25519_dalek::VerifyingKey, VerifyError> {
    let raw: [u8; 32] = hex::decode(h)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or(VerifyError::Malformed("public key"))?;
    ed25519_dalek::VerifyingKey::from_bytes(&raw).map_err(|_| VerifyError::Malformed("public key"))
}

fn parse_sig(h: &str) -> Result<ed25519_dalek::Signature, VerifyError> {
    let raw = hex::decode(h).map_err(|_| VerifyError::Malformed("signature"))?;
    ed25519_dalek::Signature::from_slice(&raw).map_err(|_| VerifyError::Malformed("signature"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key() -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng)
    }

    #[test]
    fn dev_document_round_trip_and_tamper() {
        let k = key();
        let doc = dev_document("ab", b"nonce-1", 7, &k).unwrap();
        verify_dev_attestation(&doc, b"nonce-1").unwrap();
        assert_eq!(
            verify_dev_attestation(&doc, b"nonce-2"),
            Err(VerifyError::Nonce)
        );
        let mut d = doc.clone();
        d.measurement = "cd".into();
        assert_eq!(
            verify_dev_attestation(&d, b"nonce-1"),
            Err(VerifyError::Mismatch("measurement"))
        );
        let mut d = doc.clone();
        d.hardware_backed = true;
        assert!(verify_dev_attestation(&d, b"nonce-1").is_err());
        // Re-signing with another key while keeping the original public key fails.
        let other = dev_document("ab", b"nonce-1", 7, &key()).unwrap();
        let mut d = doc.clone();
        d.signature = other.signature;
        assert_eq!(
            verify_dev_attestation(&d, b"nonce-1"),
            Err(VerifyError::Signature)
        );
    }

    #[test]
    fn checkpoint_round_trip_and_tamper() {
        let k = key();
        let cp = checkpoint(41, &[7u8; 32], 1000, &k);
        verify_checkpoint(&cp).unwrap();
        for f in [
            |c: &mut AuditCheckpoint| c.seq += 1,
            |c: &mut AuditCheckpoint| c.timestamp_ms += 1,
            |c: &mut AuditCheckpoint| c.head_hash = hex::encode([8u8; 32]),
        ] {
            let mut c = cp.clone();
            f(&mut c);
            assert_eq!(verify_checkpoint(&c), Err(VerifyError::Signature));
        }
    }
}
