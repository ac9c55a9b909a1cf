//! Decoding of the Nitro attestation document's two CBOR layers: the COSE_Sign1 envelope
//! (RFC 9052 §4.2) and the attestation payload inside it, and the `Sig_structure` the ES384
//! signature covers.
//!
//! Everything here is untrusted input: sizes are capped before anything is allocated on their
//! behalf, duplicate map keys are refused (two readers must never see two different documents),
//! and nothing trailing the envelope is tolerated.
use std::collections::BTreeMap;

use ciborium::value::Value;

use super::NitroError;

/// Upper bound on a whole document. Genuine ones are about 4.5 KiB (a five-certificate chain).
pub(super) const MAX_DOCUMENT_LEN: usize = 32 * 1024;
/// COSE algorithm identifier of ECDSA with SHA-384 (RFC 9053 §2.1).
const COSE_ALG_ES384: i128 = -35;
/// COSE header label `alg`.
const COSE_HEADER_ALG: i128 = 1;
/// CBOR tag of a COSE_Sign1 message (RFC 9052 §4.2).
const COSE_SIGN1_TAG: u64 = 18;
/// Length of an ES384 signature: the fixed-size `r || s`.
pub(super) const ES384_SIGNATURE_LEN: usize = 96;
/// Length of a SHA-384 PCR value.
pub(super) const PCR_LEN: usize = 48;
/// Limits the Nitro Secure Module itself applies to the optional fields.
const MAX_PUBLIC_KEY_LEN: usize = 1024;
const MAX_USER_DATA_LEN: usize = 512;
const MAX_NONCE_LEN: usize = 512;
/// More certificates than any genuine chain (root, three intermediates) carries.
const MAX_CABUNDLE_LEN: usize = 8;
/// Nitro exposes PCR0..PCR31.
const MAX_PCR_INDEX: u8 = 31;

/// The decoded COSE_Sign1 envelope, before its signature is checked.
pub(super) struct CoseSign1 {
    /// The serialized protected header, exactly as received (the signature covers these bytes).
    pub(super) protected: Vec<u8>,
    /// The serialized attestation payload, exactly as received.
    pub(super) payload: Vec<u8>,
    /// `r || s`, 48 bytes each.
    pub(super) signature: Vec<u8>,
}

impl CoseSign1 {
    /// Decodes a COSE_Sign1 message, tagged (18) or untagged, whose protected header names
    /// ES384 and nothing else.
    pub(super) fn decode(bytes: &[u8]) -> Result<Self, NitroError> {
        if bytes.len() > MAX_DOCUMENT_LEN {
            return Err(NitroError::Malformed("document is larger than 32 KiB"));
        }
        let mut value = decode_one(bytes, "COSE_Sign1 is not one CBOR item")?;
        if let Value::Tag(tag, inner) = value {
            if tag != COSE_SIGN1_TAG {
                return Err(NitroError::Malformed("CBOR tag is not COSE_Sign1 (18)"));
            }
            value = *inner;
        }
        let Value::Array(items) = value else {
            return Err(NitroError::Malformed("COSE_Sign1 is not an array"));
        };
        let [protected, unprotected, payload, signature]: [Value; 4] = items
            .try_into()
            .map_err(|_| NitroError::Malformed("COSE_Sign1 does not have four elements"))?;
        let protected = into_bytes(protected, "COSE protected header")?;
        check_protected_header(&protected)?;
        // Unprotected headers are not signed; Nitro sends an empty map and nothing in it is used.
        if !matches!(unprotected, Value::Map(_)) {
            return Err(NitroError::Malformed(
                "COSE unprotected header is not a map",
            ));
        }
        let payload = into_bytes(
            payload,
            "COSE payload (detached payloads are not supported)",
        )?;
        let signature = into_bytes(signature, "COSE signature")?;
        if signature.len() != ES384_SIGNATURE_LEN {
            return Err(NitroError::Malformed("ES384 signature is not 96 bytes"));
        }
        Ok(Self {
            protected,
            payload,
            signature,
        })
    }

    /// The bytes the signature covers (RFC 9052 §4.4):
    /// `["Signature1", protected, external_aad = h'', payload]`.
    pub(super) fn sig_structure(&self) -> Result<Vec<u8>, NitroError> {
        let structure = Value::Array(vec![
            Value::Text("Signature1".into()),
            Value::Bytes(self.protected.clone()),
            Value::Bytes(Vec::new()),
            Value::Bytes(self.payload.clone()),
        ]);
        let mut out = Vec::with_capacity(self.payload.len() + 32);
        ciborium::ser::into_writer(&structure, &mut out)
            .map_err(|_| NitroError::Malformed("Sig_structure could not be encoded"))?;
        Ok(out)
    }
}

/// The protected header must be exactly `{1: -35}`: ES384, and no other (possibly critical)
/// header this verifier would not understand.
fn check_protected_header(protected: &[u8]) -> Result<(), NitroError> {
    let Value::Map(entries) = decode_one(protected, "COSE protected header is not CBOR")? else {
        return Err(NitroError::Malformed("COSE protected header is not a map"));
    };
    match entries.as_slice() {
        [(Value::Integer(label), Value::Integer(alg))] if i128::from(*label) == COSE_HEADER_ALG => {
            if i128::from(*alg) == COSE_ALG_ES384 {
                Ok(())
            } else {
                Err(NitroError::UnsupportedAlgorithm("COSE alg is not ES384"))
            }
        }
        _ => Err(NitroError::UnsupportedAlgorithm(
            "COSE protected header is not exactly {alg: ES384}",
        )),
    }
}

/// The attestation payload, decoded but not yet trusted.
#[derive(Debug)]
pub(super) struct Payload {
    pub(super) module_id: String,
    pub(super) timestamp_ms: u64,
    pub(super) pcrs: BTreeMap<u8, Vec<u8>>,
    pub(super) certificate: Vec<u8>,
    pub(super) cabundle: Vec<Vec<u8>>,
    pub(super) public_key: Option<Vec<u8>>,
    pub(super) user_data: Option<Vec<u8>>,
    pub(super) nonce: Option<Vec<u8>>,
}

impl Payload {
    /// Decodes the payload map. Unknown keys are ignored (AWS may add fields, and only the fields
    /// read here are ever trusted); duplicate keys are refused.
    pub(super) fn decode(bytes: &[u8]) -> Result<Self, NitroError> {
        let Value::Map(entries) = decode_one(bytes, "payload is not one CBOR item")? else {
            return Err(NitroError::Malformed("payload is not a map"));
        };
        let mut fields: BTreeMap<String, Value> = BTreeMap::new();
        for (key, value) in entries {
            let Value::Text(key) = key else {
                return Err(NitroError::Malformed("payload key is not text"));
            };
            if fields.insert(key, value).is_some() {
                return Err(NitroError::Malformed("payload has a duplicate key"));
            }
        }
        let mut take = |name: &'static str| fields.remove(name);

        let module_id = match take("module_id") {
            Some(Value::Text(s)) if !s.is_empty() => s,
            _ => return Err(NitroError::Malformed("module_id missing or not text")),
        };
        match take("digest") {
            Some(Value::Text(d)) if d == "SHA384" => {}
            Some(Value::Text(_)) => {
                return Err(NitroError::UnsupportedAlgorithm("PCR digest is not SHA384"))
            }
            _ => return Err(NitroError::Malformed("digest missing or not text")),
        }
        let timestamp_ms = match take("timestamp") {
            Some(Value::Integer(t)) => u64::try_from(t)
                .ok()
                .filter(|t| *t > 0)
                .ok_or(NitroError::Malformed("timestamp is not a positive integer"))?,
            _ => return Err(NitroError::Malformed("timestamp missing or not an integer")),
        };
        let pcrs = decode_pcrs(take("pcrs"))?;
        let certificate = match take("certificate") {
            Some(v) => into_bytes(v, "certificate")?,
            None => return Err(NitroError::Malformed("certificate missing")),
        };
        let cabundle = match take("cabundle") {
            Some(Value::Array(certs)) if !certs.is_empty() && certs.len() <= MAX_CABUNDLE_LEN => {
                certs
                    .into_iter()
                    .map(|c| into_bytes(c, "cabundle entry"))
                    .collect::<Result<Vec<_>, _>>()?
            }
            _ => {
                return Err(NitroError::Malformed(
                    "cabundle missing, empty or longer than 8",
                ))
            }
        };
        let public_key = optional_bytes(take("public_key"), MAX_PUBLIC_KEY_LEN, "public_key")?;
        let user_data = optional_bytes(take("user_data"), MAX_USER_DATA_LEN, "user_data")?;
        let nonce = optional_bytes(take("nonce"), MAX_NONCE_LEN, "nonce")?;
        Ok(Self {
            module_id,
            timestamp_ms,
            pcrs,
            certificate,
            cabundle,
            public_key,
            user_data,
            nonce,
        })
    }
}

fn decode_pcrs(value: Option<Value>) -> Result<BTreeMap<u8, Vec<u8>>, NitroError> {
    let Some(Value::Map(entries)) = value else {
        return Err(NitroError::Malformed("pcrs missing or not a map"));
    };
    if entries.is_empty() {
        return Err(NitroError::Malformed("pcrs is empty"));
    }
    let mut pcrs = BTreeMap::new();
    for (index, value) in entries {
        let index = match index {
            Value::Integer(i) => u8::try_from(i)
                .ok()
                .filter(|i| *i <= MAX_PCR_INDEX)
                .ok_or(NitroError::Malformed("PCR index out of range"))?,
            _ => return Err(NitroError::Malformed("PCR index is not an integer")),
        };
        let value = into_bytes(value, "PCR value")?;
        if value.len() != PCR_LEN {
            return Err(NitroError::Malformed("PCR value is not 48 bytes"));
        }
        if pcrs.insert(index, value).is_some() {
            return Err(NitroError::Malformed("duplicate PCR index"));
        }
    }
    Ok(pcrs)
}

fn optional_bytes(
    value: Option<Value>,
    max: usize,
    what: &'static str,
) -> Result<Option<Vec<u8>>, NitroError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bytes(b)) if b.len() <= max => Ok(Some(b)),
        Some(Value::Bytes(_)) => Err(NitroError::Malformed(what)),
        Some(_) => Err(NitroError::Malformed(what)),
    }
}

fn into_bytes(value: Value, what: &'static str) -> Result<Vec<u8>, NitroError> {
    match value {
        Value::Bytes(b) => Ok(b),
        _ => Err(NitroError::Malformed(what)),
    }
}

/// Decodes exactly one CBOR item that spans all of `bytes`.
fn decode_one(bytes: &[u8], what: &'static str) -> Result<Value, NitroError> {
    let mut rest = bytes;
    let value: Value =
        ciborium::de::from_reader(&mut rest).map_err(|_| NitroError::Malformed(what))?;
    if !rest.is_empty() {
        return Err(NitroError::Malformed(what));
    }
    Ok(value)
}
