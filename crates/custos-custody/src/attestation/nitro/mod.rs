//! Verifier for AWS Nitro Enclaves attestation documents.
//!
//! A Nitro attestation document is a COSE_Sign1 message (CBOR, tagged or untagged) signed with
//! ES384 by a short-lived leaf certificate that the Nitro hypervisor carries, certified through an
//! AWS chain (`cabundle`, root first) to the AWS Nitro root "aws.nitro-enclaves" (G1, P-384). Its
//! payload states the enclave image's measurements (PCRs), a millisecond timestamp, and the
//! optional `public_key`, `user_data` and `nonce` the enclave asked the Nitro Secure Module to
//! include.
//!
//! [`verify_nitro_attestation`] checks, in order:
//! 1. the envelope: COSE_Sign1 with a protected header of exactly `{alg: ES384}`;
//! 2. the payload: required fields present and typed, `digest` = `SHA384`, 48-byte PCRs;
//! 3. the chain ([`NitroRoot::aws`] by default, its SHA-256 pinned): `cabundle[0]` is the trusted
//!    root, every certificate is signed by the one before it with ECDSA P-384/SHA-384, names
//!    chain, every certificate is valid at the caller's `now`, CA certificates are CAs within
//!    their path length, the leaf is not a CA, and no unknown critical extension appears;
//! 4. the COSE signature over `["Signature1", protected, h'', payload]` with the leaf's key;
//! 5. the [`NitroPolicy`]: freshness, nonce, debug mode, expected PCRs, image version.
//!
//! What it does not do: no I/O — `now` is a parameter and revocation lists are not fetched (leaf
//! certificates live for hours); it does not produce documents (that needs `/dev/nsm` inside a
//! real enclave); it does not read NitroTPM documents (`nitrotpm_pcrs`).
//!
//! **Security version.** Nitro has no security version number: a document proves *which* image
//! runs (PCR0 is the SHA-384 of the enclave image file), not how new it is, and AWS signs
//! documents for old images as readily as for new ones. Rollback to an older, still-measurable
//! image is refused here only if the operator says which measurements are which release, through
//! [`ImageVersionPolicy`]. Hardware TCB/SVN checks of the SEV-SNP or TDX kind do not exist for
//! Nitro and are not pretended.
use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use p384::ecdsa::signature::Verifier as _;
use sha2::{Digest as _, Sha256};

mod chain;
mod cose;

/// The AWS Nitro Enclaves root certificate (G1), as published by AWS in
/// `AWS_NitroEnclaves_Root-G1.zip`: subject `CN=aws.nitro-enclaves, OU=AWS, O=Amazon, C=US`,
/// P-384, valid 2019-10-28 to 2049-10-28.
const AWS_NITRO_ROOT_G1_PEM: &str = include_str!("aws_nitro_root_g1.pem");

/// SHA-256 of the DER of the AWS Nitro root G1, as AWS publishes it:
/// `64:1A:03:21:A3:E2:44:EF:E4:56:46:31:95:D6:06:31:7E:D7:CD:CC:3C:17:56:E0:98:93:F3:C6:8F:79:BB:5B`.
pub const AWS_NITRO_ROOT_G1_SHA256: [u8; 32] = [
    0x64, 0x1A, 0x03, 0x21, 0xA3, 0xE2, 0x44, 0xEF, 0xE4, 0x56, 0x46, 0x31, 0x95, 0xD6, 0x06, 0x31,
    0x7E, 0xD7, 0xCD, 0xCC, 0x3C, 0x17, 0x56, 0xE0, 0x98, 0x93, 0xF3, 0xC6, 0x8F, 0x79, 0xBB, 0x5B,
];

/// Why a Nitro attestation document was refused.
///
/// `Malformed`, `UnsupportedAlgorithm`, `UntrustedRoot`, `Certificate` and `Signature` mean the
/// document is not a genuine, intact Nitro document; the policy variants mean it is genuine but
/// not what the caller accepts; `NoMeasurementExpected` and `TrustAnchor` are the caller's
/// mistakes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NitroError {
    /// The document could not be decoded, or a field is missing, mistyped or oversized.
    #[error("malformed attestation document: {0}")]
    Malformed(&'static str),
    /// The document uses an algorithm this verifier does not accept.
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(&'static str),
    /// The document's chain does not start at the trusted root.
    #[error("certificate chain does not start at the trusted root")]
    UntrustedRoot,
    /// A certificate of the chain failed validation; `index` counts from the root (0) to the
    /// leaf.
    #[error("certificate {index} of the chain: {reason}")]
    Certificate {
        /// Position in the chain, root = 0, leaf = last.
        index: usize,
        /// What is wrong with it.
        reason: CertProblem,
    },
    /// The COSE signature does not verify under the leaf certificate's key.
    #[error("COSE signature does not verify")]
    Signature,
    /// The document is older than the policy accepts.
    #[error("attestation document is too old")]
    Stale,
    /// The document's timestamp is later than `now` plus the allowed clock skew.
    #[error("attestation document is dated in the future")]
    FromFuture,
    /// The document's nonce is absent or not the expected one.
    #[error("nonce mismatch")]
    Nonce,
    /// PCR0, PCR1 and PCR2 are all zero: the enclave runs in debug mode, where its memory is
    /// readable from the parent instance.
    #[error("enclave runs in debug mode")]
    DebugMode,
    /// A PCR the policy expects is not in the document.
    #[error("PCR{0} is not in the document")]
    PcrMissing(u8),
    /// A PCR differs from the expected value.
    #[error("PCR{0} does not match the expected value")]
    PcrMismatch(u8),
    /// PCR0 is not a known release, or a release older than the minimum.
    #[error("enclave image version is unknown or below the minimum")]
    ImageVersion,
    /// The policy expects no PCR at all, which would accept any enclave image on AWS.
    #[error("the policy pins no measurement")]
    NoMeasurementExpected,
    /// The trust anchor is unusable (our bug if it is the embedded AWS root).
    #[error("invalid trust anchor: {0}")]
    TrustAnchor(&'static str),
}

/// What is wrong with one certificate of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertProblem {
    /// Not a DER X.509 certificate, or a malformed extension.
    #[error("malformed certificate")]
    Malformed,
    /// Not ECDSA P-384 with SHA-384.
    #[error("not ECDSA P-384 / SHA-384")]
    Algorithm,
    /// Its issuer name is not the previous certificate's subject.
    #[error("issuer is not the previous certificate's subject")]
    IssuerMismatch,
    /// Its signature does not verify under the previous certificate's key.
    #[error("signature does not verify")]
    Signature,
    /// `now` is outside its validity period.
    #[error("not valid at the given time")]
    NotValidAt,
    /// It issues certificates but is not a CA.
    #[error("not a CA")]
    NotCa,
    /// More CAs follow it than its path length constraint allows.
    #[error("path length constraint exceeded")]
    PathLength,
    /// Its key usage does not allow what it is used for.
    #[error("key usage does not allow this use")]
    KeyUsage,
    /// The leaf is a CA certificate.
    #[error("leaf certificate is a CA")]
    LeafIsCa,
    /// It carries a critical extension this verifier does not understand.
    #[error("unknown critical extension")]
    UnknownCriticalExtension,
}

/// The root a Nitro chain must start at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NitroRoot {
    der: Vec<u8>,
}

impl NitroRoot {
    /// The embedded AWS Nitro Enclaves root G1, checked against [`AWS_NITRO_ROOT_G1_SHA256`].
    pub fn aws() -> Result<Self, NitroError> {
        let body: String = AWS_NITRO_ROOT_G1_PEM
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| NitroError::TrustAnchor("embedded AWS root is not base64"))?;
        let root = Self { der };
        if root.sha256() != AWS_NITRO_ROOT_G1_SHA256 {
            return Err(NitroError::TrustAnchor(
                "embedded AWS root does not match its pinned fingerprint",
            ));
        }
        Ok(root)
    }

    /// Another root, given as DER — for tests, or for a private PKI that mimics Nitro's. It is
    /// validated (self-signed P-384 CA, valid at `now`) when a document is verified against it.
    pub fn from_der(der: Vec<u8>) -> Self {
        Self { der }
    }

    /// SHA-256 of the root's DER encoding.
    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(&self.der).into()
    }

    /// The root's DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
}

/// What a verified document must also satisfy.
///
/// `Default` pins nothing and refuses every document ([`NitroError::NoMeasurementExpected`]);
/// set at least `expected_pcrs[0]`, the measurement of the enclave image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NitroPolicy {
    /// PCR index → expected 48-byte value. PCR0 = enclave image file, PCR1 = Linux kernel and
    /// bootstrap, PCR2 = application, PCR3 = parent instance's IAM role, PCR4 = parent instance
    /// id, PCR8 = signing certificate of the image. Must not be empty.
    pub expected_pcrs: BTreeMap<u8, Vec<u8>>,
    /// Refuse documents timestamped before this instant (Unix milliseconds).
    pub min_timestamp_ms: Option<u64>,
    /// Refuse documents older than this many milliseconds at `now`.
    pub max_age_ms: Option<u64>,
    /// How far in the future (relative to `now`) a document's timestamp may be.
    pub max_clock_skew_ms: u64,
    /// If set, the document must carry exactly this nonce.
    pub expected_nonce: Option<Vec<u8>>,
    /// Refuse debug-mode enclaves (PCR0, PCR1 and PCR2 all zero).
    pub reject_debug: bool,
    /// Refuse images that are not a known release at or above a minimum (Nitro has no hardware
    /// security version; see the module documentation).
    pub image_version: Option<ImageVersionPolicy>,
}

impl Default for NitroPolicy {
    fn default() -> Self {
        Self {
            expected_pcrs: BTreeMap::new(),
            min_timestamp_ms: None,
            max_age_ms: None,
            max_clock_skew_ms: 60_000,
            expected_nonce: None,
            reject_debug: true,
            image_version: None,
        }
    }
}

/// The operator's mapping from enclave image measurements (PCR0) to release numbers, and the
/// lowest release accepted: the Nitro stand-in for a minimum security version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageVersionPolicy {
    /// PCR0 (48 bytes) → release number.
    pub versions_by_pcr0: BTreeMap<Vec<u8>, u32>,
    /// Lowest accepted release number.
    pub minimum: u32,
}

/// A document that passed [`verify_nitro_attestation`]; only the verifier constructs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNitroDocument {
    module_id: String,
    timestamp_ms: u64,
    pcrs: BTreeMap<u8, Vec<u8>>,
    public_key: Option<Vec<u8>>,
    user_data: Option<Vec<u8>>,
    nonce: Option<Vec<u8>>,
    image_version: Option<u32>,
}

impl VerifiedNitroDocument {
    /// The enclave's module id (instance id and enclave id).
    pub fn module_id(&self) -> &str {
        &self.module_id
    }
    /// When the Nitro Secure Module produced the document (Unix milliseconds).
    pub fn timestamp_ms(&self) -> u64 {
        self.timestamp_ms
    }
    /// All PCRs the document states.
    pub fn pcrs(&self) -> &BTreeMap<u8, Vec<u8>> {
        &self.pcrs
    }
    /// One PCR, if stated.
    pub fn pcr(&self, index: u8) -> Option<&[u8]> {
        self.pcrs.get(&index).map(Vec::as_slice)
    }
    /// The public key the enclave asked to be attested, if any.
    pub fn public_key(&self) -> Option<&[u8]> {
        self.public_key.as_deref()
    }
    /// The user data the enclave asked to be attested, if any.
    pub fn user_data(&self) -> Option<&[u8]> {
        self.user_data.as_deref()
    }
    /// The nonce in the document, if any.
    pub fn nonce(&self) -> Option<&[u8]> {
        self.nonce.as_deref()
    }
    /// The release number [`ImageVersionPolicy`] mapped PCR0 to, if the policy had one.
    pub fn image_version(&self) -> Option<u32> {
        self.image_version
    }
}

/// Verifies a Nitro attestation document against the embedded AWS Nitro root at `now_unix_ms`
/// (Unix milliseconds; pass the real current time — documents expire within hours).
pub fn verify_nitro_attestation(
    document: &[u8],
    policy: &NitroPolicy,
    now_unix_ms: u64,
) -> Result<VerifiedNitroDocument, NitroError> {
    verify_nitro_attestation_with_root(document, &NitroRoot::aws()?, policy, now_unix_ms)
}

/// [`verify_nitro_attestation`] against another root.
pub fn verify_nitro_attestation_with_root(
    document: &[u8],
    root: &NitroRoot,
    policy: &NitroPolicy,
    now_unix_ms: u64,
) -> Result<VerifiedNitroDocument, NitroError> {
    if policy.expected_pcrs.is_empty() {
        return Err(NitroError::NoMeasurementExpected);
    }
    let envelope = cose::CoseSign1::decode(document)?;
    let payload = cose::Payload::decode(&envelope.payload)?;

    // The cheap checks first: a document naming another root costs no signature verification,
    // and a tampered one costs one (the COSE signature under the not yet trusted leaf key)
    // instead of one per certificate.
    if payload.cabundle.first().map(Vec::as_slice) != Some(root.der.as_slice()) {
        return Err(NitroError::UntrustedRoot);
    }
    let leaf_key = chain::leaf_key(&payload.certificate, payload.cabundle.len())?;
    let signature = p384::ecdsa::Signature::from_slice(&envelope.signature)
        .map_err(|_| NitroError::Signature)?;
    leaf_key
        .verify(&envelope.sig_structure()?, &signature)
        .map_err(|_| NitroError::Signature)?;
    let now = Duration::from_millis(now_unix_ms);
    chain::verify_chain(&root.der, &payload.cabundle, &payload.certificate, now)?;

    let image_version = check_policy(&payload, policy, now_unix_ms)?;
    Ok(VerifiedNitroDocument {
        module_id: payload.module_id,
        timestamp_ms: payload.timestamp_ms,
        pcrs: payload.pcrs,
        public_key: payload.public_key,
        user_data: payload.user_data,
        nonce: payload.nonce,
        image_version,
    })
}

/// Applies the policy to an authenticated payload; returns the image release number if the
/// policy maps images to releases.
fn check_policy(
    payload: &cose::Payload,
    policy: &NitroPolicy,
    now_unix_ms: u64,
) -> Result<Option<u32>, NitroError> {
    let timestamp = payload.timestamp_ms;
    if timestamp > now_unix_ms.saturating_add(policy.max_clock_skew_ms) {
        return Err(NitroError::FromFuture);
    }
    if policy.min_timestamp_ms.is_some_and(|min| timestamp < min) {
        return Err(NitroError::Stale);
    }
    if policy
        .max_age_ms
        .is_some_and(|max| now_unix_ms.saturating_sub(timestamp) > max)
    {
        return Err(NitroError::Stale);
    }
    if let Some(expected) = &policy.expected_nonce {
        if payload.nonce.as_ref() != Some(expected) {
            return Err(NitroError::Nonce);
        }
    }
    if policy.reject_debug {
        let zero = [0u8; cose::PCR_LEN];
        let is_zero = |i: u8| payload.pcrs.get(&i).is_some_and(|v| v.as_slice() == zero);
        if (0..=2).all(is_zero) {
            return Err(NitroError::DebugMode);
        }
    }
    for (index, expected) in &policy.expected_pcrs {
        match payload.pcrs.get(index) {
            None => return Err(NitroError::PcrMissing(*index)),
            Some(actual) if actual != expected => return Err(NitroError::PcrMismatch(*index)),
            Some(_) => {}
        }
    }
    let Some(versions) = &policy.image_version else {
        return Ok(None);
    };
    let version = payload
        .pcrs
        .get(&0)
        .and_then(|pcr0| versions.versions_by_pcr0.get(pcr0))
        .copied()
        .filter(|v| *v >= versions.minimum)
        .ok_or(NitroError::ImageVersion)?;
    Ok(Some(version))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn embedded_root_matches_the_published_fingerprint() {
        let root = NitroRoot::aws().unwrap();
        assert_eq!(root.sha256(), AWS_NITRO_ROOT_G1_SHA256);
        assert_eq!(
            hex::encode_upper(AWS_NITRO_ROOT_G1_SHA256),
            "641A0321A3E244EFE456463195D606317ED7CDCC3C1756E09893F3C68F79BB5B"
        );
    }

    #[test]
    fn empty_policy_is_refused_before_parsing() {
        assert_eq!(
            verify_nitro_attestation(b"", &NitroPolicy::default(), 0),
            Err(NitroError::NoMeasurementExpected)
        );
    }
}
