//! X.509 path validation for the Nitro certificate chain: from the trusted root, through the
//! document's `cabundle`, to the leaf whose key signed the document.
//!
//! Deliberately narrower than a general RFC 5280 validator, because the Nitro PKI is narrow:
//! every certificate is ECDSA P-384 signed with SHA-384, names chain byte-for-byte, and the only
//! critical extensions are basic constraints and key usage. Anything else is refused rather than
//! half-understood. Revocation (the CRL distribution points in the intermediates) is not checked:
//! the verifier does no I/O, and Nitro leaf certificates live for hours.
use std::time::Duration;

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode, Reader as _};
use p384::ecdsa::signature::Verifier as _;
use p384::pkcs8::DecodePublicKey as _;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
use x509_cert::Certificate;

use super::{CertProblem, NitroError};

/// ecdsa-with-SHA384 (RFC 5758 §3.2).
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
/// id-ce-basicConstraints.
const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
/// id-ce-keyUsage.
const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");

/// One certificate of the chain with the exact bytes its issuer signed.
struct Link<'a> {
    cert: Certificate,
    /// The DER `TBSCertificate` as received: signatures are checked over these bytes, never over
    /// a re-encoding.
    tbs: &'a [u8],
    key: p384::ecdsa::VerifyingKey,
    basic_constraints: Option<BasicConstraints>,
    key_usage: Option<KeyUsage>,
}

/// Validates `root_der` → `cabundle[1..]` → `leaf_der` at `now` (since the Unix epoch) and
/// returns the leaf's P-384 key, now trusted. `cabundle[0]` must be byte-identical to `root_der`: the document
/// names its root, and that root must be the one the caller trusts.
///
/// Certificate indexes in errors count from the root (0) to the leaf (`cabundle.len()`).
pub(super) fn verify_chain(
    root_der: &[u8],
    cabundle: &[Vec<u8>],
    leaf_der: &[u8],
    now: Duration,
) -> Result<p384::ecdsa::VerifyingKey, NitroError> {
    let Some(first) = cabundle.first() else {
        return Err(NitroError::Malformed("cabundle is empty"));
    };
    if first.as_slice() != root_der {
        return Err(NitroError::UntrustedRoot);
    }
    let ders = cabundle
        .iter()
        .map(Vec::as_slice)
        .chain(std::iter::once(leaf_der));
    let chain = ders
        .enumerate()
        .map(|(index, der)| Link::parse(der).map_err(|reason| cert_error(index, reason)))
        .collect::<Result<Vec<_>, _>>()?;
    let leaf_index = chain.len() - 1;

    for (index, link) in chain.iter().enumerate() {
        let fail = |reason| cert_error(index, reason);
        // The root is its own issuer: checking its self-signature proves the anchor's key is usable
        // and the anchor intact, which is cheap insurance for a caller-supplied root.
        let issuer = if index == 0 { link } else { &chain[index - 1] };
        link.check_issued_by(issuer).map_err(fail)?;
        link.check_valid_at(now).map_err(fail)?;
        if index == leaf_index {
            link.check_leaf().map_err(fail)?;
        } else {
            // CA certificates below this one, not counting the leaf (RFC 5280 §4.2.1.9).
            let below = leaf_index - index - 1;
            link.check_ca(below).map_err(fail)?;
        }
    }
    chain
        .last()
        .map(|leaf| leaf.key)
        .ok_or(NitroError::Malformed("empty chain"))
}

/// The leaf certificate's P-384 key, before the chain is validated (to check the COSE signature
/// first, which is cheaper than the chain). `leaf_index` only labels errors.
pub(super) fn leaf_key(
    leaf_der: &[u8],
    leaf_index: usize,
) -> Result<p384::ecdsa::VerifyingKey, NitroError> {
    Link::parse(leaf_der)
        .map(|leaf| leaf.key)
        .map_err(|reason| cert_error(leaf_index, reason))
}

fn cert_error(index: usize, reason: CertProblem) -> NitroError {
    NitroError::Certificate { index, reason }
}

impl<'a> Link<'a> {
    fn parse(der: &'a [u8]) -> Result<Self, CertProblem> {
        let cert = Certificate::from_der(der).map_err(|_| CertProblem::Malformed)?;
        let tbs = raw_tbs(der).map_err(|_| CertProblem::Malformed)?;
        let tbs_cert = &cert.tbs_certificate;
        if cert.signature_algorithm.oid != ECDSA_WITH_SHA384
            || cert.signature_algorithm.parameters.is_some()
            || tbs_cert.signature != cert.signature_algorithm
        {
            return Err(CertProblem::Algorithm);
        }
        let spki = tbs_cert
            .subject_public_key_info
            .to_der()
            .map_err(|_| CertProblem::Malformed)?;
        // Checks id-ecPublicKey with the secp384r1 parameter and a valid curve point.
        let key = p384::ecdsa::VerifyingKey::from_public_key_der(&spki)
            .map_err(|_| CertProblem::Algorithm)?;

        let mut basic_constraints = None;
        let mut key_usage = None;
        for ext in tbs_cert.extensions.iter().flatten() {
            let value = ext.extn_value.as_bytes();
            let duplicate = if ext.extn_id == BASIC_CONSTRAINTS {
                let bc = BasicConstraints::from_der(value).map_err(|_| CertProblem::Malformed)?;
                basic_constraints.replace(bc).is_some()
            } else if ext.extn_id == KEY_USAGE {
                let ku = KeyUsage::from_der(value).map_err(|_| CertProblem::Malformed)?;
                key_usage.replace(ku).is_some()
            } else if ext.critical {
                return Err(CertProblem::UnknownCriticalExtension);
            } else {
                false
            };
            if duplicate {
                return Err(CertProblem::Malformed);
            }
        }
        Ok(Self {
            cert,
            tbs,
            key,
            basic_constraints,
            key_usage,
        })
    }

    fn check_issued_by(&self, issuer: &Link<'_>) -> Result<(), CertProblem> {
        let named = self.cert.tbs_certificate.issuer.to_der();
        let subject = issuer.cert.tbs_certificate.subject.to_der();
        match (named, subject) {
            (Ok(named), Ok(subject)) if named == subject => {}
            _ => return Err(CertProblem::IssuerMismatch),
        }
        let signature = self
            .cert
            .signature
            .as_bytes()
            .and_then(|der| p384::ecdsa::Signature::from_der(der).ok())
            .ok_or(CertProblem::Signature)?;
        issuer
            .key
            .verify(self.tbs, &signature)
            .map_err(|_| CertProblem::Signature)
    }

    fn check_valid_at(&self, now: Duration) -> Result<(), CertProblem> {
        let validity = &self.cert.tbs_certificate.validity;
        if now < validity.not_before.to_unix_duration()
            || now > validity.not_after.to_unix_duration()
        {
            return Err(CertProblem::NotValidAt);
        }
        Ok(())
    }

    fn check_ca(&self, cas_below: usize) -> Result<(), CertProblem> {
        let Some(bc) = &self.basic_constraints else {
            return Err(CertProblem::NotCa);
        };
        if !bc.ca {
            return Err(CertProblem::NotCa);
        }
        if let Some(limit) = bc.path_len_constraint {
            if cas_below > usize::from(limit) {
                return Err(CertProblem::PathLength);
            }
        }
        if let Some(ku) = &self.key_usage {
            if !ku.key_cert_sign() {
                return Err(CertProblem::KeyUsage);
            }
        }
        Ok(())
    }

    fn check_leaf(&self) -> Result<(), CertProblem> {
        if self.basic_constraints.as_ref().is_some_and(|bc| bc.ca) {
            return Err(CertProblem::LeafIsCa);
        }
        if let Some(ku) = &self.key_usage {
            if !ku.digital_signature() {
                return Err(CertProblem::KeyUsage);
            }
        }
        Ok(())
    }
}

/// The complete DER encoding (tag, length, value) of the certificate's first element, the
/// `TBSCertificate`, sliced out of the received bytes.
fn raw_tbs(der: &[u8]) -> der::Result<&[u8]> {
    let mut reader = der::SliceReader::new(der)?;
    let outer = der::Header::decode(&mut reader)?;
    outer.tag.assert_eq(der::Tag::Sequence)?;
    reader.tlv_bytes()
}
