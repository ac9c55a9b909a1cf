//! The `pkcs11` attestation document and its verifier.
//!
//! PKCS#11 has no standard attestation: a token cannot prove through the standard API that it
//! is hardware, nor what firmware it runs (vendors that can — YubiHSM, Luna, CloudHSM — do it
//! through their own extensions, which this backend does not speak). So the document is built
//! like the enclave's `dev` document and is just as modest: it is signed by the boundary's
//! Ed25519 identity key, which is itself a non-extractable key on the token, and it states
//!
//! - `hardware_backed: false`, always — the token's own `CKF_HW_SLOT` flag is reported inside
//!   the signed body as `hardware_slot_claimed`, but a claim the token makes about itself is not
//!   evidence, and SoftHSM2 is software anyway;
//! - `measurement`: the hex SHA-256 of the PKCS#11 module file that was loaded (for SoftHSM2
//!   that library *is* the boundary's code; for a real HSM it is only the driver);
//! - the token's self-description (label, manufacturer, model, serial).
//!
//! It proves freshness (the nonce) and that whoever answered can use the identity key on the
//! token. Verifiers must pin `public_key`, as for `dev`.
use crate::attestation::VerifyError;
use base64::Engine as _;
use custos_core::{AttestationDocument, CustodyError};
use serde::{Deserialize, Serialize};

/// The `format` value of documents from this backend.
pub const FORMAT: &str = "pkcs11";

/// What the token says about itself (unverified claims, reported as such).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenDescription {
    /// `CKA`/token label.
    pub label: String,
    /// Token manufacturer id.
    pub manufacturer: String,
    /// Token model.
    pub model: String,
    /// Token serial number.
    pub serial: String,
    /// The slot's `CKF_HW_SLOT` flag: the token's own claim to be hardware. Not evidence.
    pub hardware_slot_claimed: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    format: String,
    hardware_backed: bool,
    measurement: String,
    nonce: String,
    timestamp_ms: i64,
    public_key: String,
    token: TokenDescription,
}

/// Builds the document; `sign` signs the body bytes with the identity key on the token.
pub(crate) fn document(
    measurement: &str,
    token: &TokenDescription,
    nonce: &[u8],
    timestamp_ms: i64,
    identity_public: &[u8; 32],
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, CustodyError>,
) -> Result<AttestationDocument, CustodyError> {
    let public_key = hex::encode(identity_public);
    let body = Body {
        format: FORMAT.into(),
        hardware_backed: false,
        measurement: measurement.into(),
        nonce: hex::encode(nonce),
        timestamp_ms,
        public_key: public_key.clone(),
        token: token.clone(),
    };
    let bytes = serde_json::to_vec(&body).map_err(|e| CustodyError::Internal(e.to_string()))?;
    let signature = sign(&bytes)?;
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

/// Verifies a `pkcs11` document: the Ed25519 signature by the key it names over the decoded
/// body, the outer fields against the body, `hardware_backed == false`, and the nonce. Returns
/// the token's self-description. Callers must also pin `doc.public_key`.
pub fn verify_pkcs11_attestation(
    doc: &AttestationDocument,
    expected_nonce: &[u8],
) -> Result<TokenDescription, VerifyError> {
    if doc.format != FORMAT {
        return Err(VerifyError::UnsupportedFormat(doc.format.clone()));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&doc.document)
        .map_err(|_| VerifyError::Malformed("document is not base64"))?;
    let body: Body =
        serde_json::from_slice(&bytes).map_err(|_| VerifyError::Malformed("document body"))?;
    let key: [u8; 32] = hex::decode(&body.public_key)
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or(VerifyError::Malformed("public key"))?;
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&key)
        .map_err(|_| VerifyError::Malformed("public key"))?;
    let sig = hex::decode(&doc.signature)
        .ok()
        .and_then(|s| ed25519_dalek::Signature::from_slice(&s).ok())
        .ok_or(VerifyError::Malformed("signature"))?;
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
    Ok(body.token)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ed25519_dalek::Signer as _;

    fn token() -> TokenDescription {
        TokenDescription {
            label: "custos".into(),
            manufacturer: "SoftHSM project".into(),
            model: "SoftHSM v2".into(),
            serial: "1234".into(),
            hardware_slot_claimed: false,
        }
    }

    #[test]
    fn round_trip_and_tampering() {
        let sk = ed25519_dalek::SigningKey::from_bytes(&[5u8; 32]);
        let pk = sk.verifying_key().to_bytes();
        let doc = document("ab", &token(), b"nonce", 7, &pk, |b| {
            Ok(sk.sign(b).to_bytes().to_vec())
        })
        .unwrap();
        assert_eq!(verify_pkcs11_attestation(&doc, b"nonce").unwrap(), token());
        assert_eq!(
            verify_pkcs11_attestation(&doc, b"other"),
            Err(VerifyError::Nonce)
        );
        let mut lie = doc.clone();
        lie.hardware_backed = true;
        assert_eq!(
            verify_pkcs11_attestation(&lie, b"nonce"),
            Err(VerifyError::Mismatch("hardware_backed"))
        );
        let mut dev = doc.clone();
        dev.format = "dev".into();
        assert!(matches!(
            verify_pkcs11_attestation(&dev, b"nonce"),
            Err(VerifyError::UnsupportedFormat(_))
        ));
        let mut forged = doc;
        forged.document =
            base64::engine::general_purpose::STANDARD.encode(br#"{"format":"pkcs11"}"#);
        assert!(verify_pkcs11_attestation(&forged, b"nonce").is_err());
    }
}
