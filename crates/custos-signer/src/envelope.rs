//! The owner-signed policy envelope: a policy document takes effect in a signer only inside one
//! of these, signed by enough of the wallet's owner keys.
//!
//! ```json
//! {"format":"custos-policy-envelope/1","wallet":"<agent id>","version":2,
//!  "prev_hash":"<hex sha-256 of version 1's body>","not_before_ms":0,
//!  "authority":{"owners":["<hex ed25519>"],"quorum":1,"loosen_delay_seconds":0},
//!  "document":{ …a complete policy document… },
//!  "signatures":[{"key":"<hex>","signature":"<hex>"}]}
//! ```
//!
//! The *body* is every field but `signatures`, serialized by this crate in a fixed field order
//! (the document as its typed form, so two JSON spellings of one policy are one body). Its
//! SHA-256 is the envelope's hash — what the next version's `prev_hash` names — and each owner
//! signs `custos-policy-envelope/1:` followed by that hash. The document is complete: sections it
//! leaves out take the built-in defaults, never a server's configured ones, so every signer reads
//! the same rules from the same bytes.
use crate::owner::{OwnerKey, OwnerSigningKey};
use custos_core::AgentId;
use custos_policy::PolicyDocument;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeSet;

/// The format tag, and the domain each owner signature is made under.
pub const ENVELOPE_FORMAT: &str = "custos-policy-envelope/1";
/// Most owner keys one wallet may enrol.
pub const MAX_OWNERS: usize = 16;
/// Longest loosening delay accepted: one year.
pub const MAX_DELAY_SECONDS: u64 = 366 * 24 * 3600;

/// Who may change a wallet's policy: the enrolled owner keys, how many must sign a loosening,
/// and how long a loosening waits after a signer first sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authority {
    /// Enrolled owner keys, sorted, no duplicates.
    pub owners: Vec<OwnerKey>,
    /// Signatures a loosening (or any change of this authority) needs: 1 ≤ quorum ≤ owners.
    pub quorum: u32,
    /// Seconds a loosening waits, counted from when the signer first saw it.
    pub loosen_delay_seconds: u64,
}

impl Authority {
    /// A 1-of-1 authority with no delay: the development default.
    pub fn single(owner: OwnerKey) -> Self {
        Self {
            owners: vec![owner],
            quorum: 1,
            loosen_delay_seconds: 0,
        }
    }

    fn validate(&self) -> Result<(), EnvelopeError> {
        let bad = |m: &str| EnvelopeError::Malformed(format!("authority.{m}"));
        if self.owners.is_empty() {
            return Err(bad("owners: at least one owner key is needed"));
        }
        if self.owners.len() > MAX_OWNERS {
            return Err(bad(&format!("owners: at most {MAX_OWNERS} keys")));
        }
        if self.owners.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad("owners: must be sorted and without duplicates"));
        }
        if self.quorum == 0 || self.quorum as usize > self.owners.len() {
            return Err(bad(&format!(
                "quorum: {} is not between 1 and the {} owner keys",
                self.quorum,
                self.owners.len()
            )));
        }
        if self.loosen_delay_seconds > MAX_DELAY_SECONDS {
            return Err(bad(&format!(
                "loosen_delay_seconds: more than {MAX_DELAY_SECONDS}"
            )));
        }
        Ok(())
    }

    /// What `new` loosens relative to `self`: owners added, a lower quorum, a shorter delay.
    pub fn loosenings(&self, new: &Authority) -> Vec<String> {
        let mut out = Vec::new();
        for k in &new.owners {
            if !self.owners.contains(k) {
                out.push(format!("authority.owners: adds {k}"));
            }
        }
        if new.quorum < self.quorum {
            out.push(format!(
                "authority.quorum: {} → {}",
                self.quorum, new.quorum
            ));
        }
        if new.loosen_delay_seconds < self.loosen_delay_seconds {
            out.push(format!(
                "authority.loosen_delay_seconds: {} → {}",
                self.loosen_delay_seconds, new.loosen_delay_seconds
            ));
        }
        out
    }
}

/// One owner's signature over an envelope's body hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerSignature {
    /// The owner key.
    pub key: OwnerKey,
    /// 64-byte Ed25519 signature, hex.
    #[serde(with = "custos_core::custody::hex_bytes")]
    pub signature: Vec<u8>,
}

/// A policy document with the owner signatures that put it in force.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyEnvelope {
    /// [`ENVELOPE_FORMAT`].
    pub format: String,
    /// The wallet (agent) it governs.
    pub wallet: AgentId,
    /// 1 for the enrolment, then +1 per change.
    pub version: u64,
    /// Hex SHA-256 of the previous version's body; all zeros for version 1.
    #[serde(with = "hex32")]
    pub prev_hash: [u8; 32],
    /// Not in force before this time (ms since the epoch).
    pub not_before_ms: i64,
    /// Who may sign the next version.
    pub authority: Authority,
    /// The complete policy.
    pub document: PolicyDocument,
    /// Owner signatures over the body hash.
    #[serde(default)]
    pub signatures: Vec<OwnerSignature>,
}

/// The signed part, in its one serialization.
#[derive(Serialize)]
struct Body<'a> {
    format: &'a str,
    wallet: &'a AgentId,
    version: u64,
    #[serde(with = "hex32")]
    prev_hash: &'a [u8; 32],
    not_before_ms: i64,
    authority: &'a Authority,
    document: &'a PolicyDocument,
}

impl PolicyEnvelope {
    /// An unsigned envelope.
    pub fn new(
        wallet: AgentId,
        version: u64,
        prev_hash: [u8; 32],
        not_before_ms: i64,
        authority: Authority,
        document: PolicyDocument,
    ) -> Self {
        Self {
            format: ENVELOPE_FORMAT.into(),
            wallet,
            version,
            prev_hash,
            not_before_ms,
            authority,
            document,
            signatures: Vec::new(),
        }
    }

    /// Parses an envelope sent as JSON text; the error names the field.
    pub fn from_json(json: &custos_core::PolicyJson) -> Result<Self, EnvelopeError> {
        let mut de = serde_json::Deserializer::from_str(json.as_str());
        serde_path_to_error::deserialize(&mut de)
            .map_err(|e| EnvelopeError::Malformed(format!("{}: {}", e.path(), e.inner())))
    }

    /// SHA-256 of the body: what owners sign (under the format domain) and what the next
    /// version's `prev_hash` must name.
    pub fn hash(&self) -> [u8; 32] {
        let body = Body {
            format: &self.format,
            wallet: &self.wallet,
            version: self.version,
            prev_hash: &self.prev_hash,
            not_before_ms: self.not_before_ms,
            authority: &self.authority,
            document: &self.document,
        };
        // Serializing plain structs of strings and integers cannot fail; an empty body would
        // hash to a value no owner ever signed, so a failure still refuses.
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        Sha256::digest(&bytes).into()
    }

    /// The exact bytes each owner signs.
    pub fn signing_message(&self) -> Vec<u8> {
        signing_message(&self.hash())
    }

    /// Adds `key`'s signature (replacing an earlier one by the same key).
    pub fn sign(&mut self, key: &OwnerSigningKey) {
        let sig = key.sign(&self.signing_message()).to_vec();
        let public = key.public();
        self.signatures.retain(|s| s.key != public);
        self.signatures.push(OwnerSignature {
            key: public,
            signature: sig,
        });
    }

    /// The shape rules that need no prior state: format, authority, document validity.
    pub fn validate(&self) -> Result<(), EnvelopeError> {
        if self.format != ENVELOPE_FORMAT {
            return Err(EnvelopeError::Malformed(format!(
                "format: {:?} is not {ENVELOPE_FORMAT}",
                self.format
            )));
        }
        if self.version == 0 {
            return Err(EnvelopeError::Malformed("version: starts at 1".into()));
        }
        if (self.version == 1) != (self.prev_hash == [0u8; 32]) {
            return Err(EnvelopeError::Malformed(
                "prev_hash: all zeros exactly when version is 1".into(),
            ));
        }
        self.authority.validate()?;
        self.document
            .validate()
            .map_err(|e| EnvelopeError::Malformed(format!("document.{e}")))?;
        if self.signatures.len() > MAX_OWNERS {
            return Err(EnvelopeError::Malformed(format!(
                "signatures: at most {MAX_OWNERS}"
            )));
        }
        Ok(())
    }

    /// The distinct owner keys of `authority` whose signatures verify. A signature by a key
    /// outside `authority`, or one that does not verify, refuses the whole envelope: it is
    /// either a mistake or an attack, and neither should be half-accepted.
    pub fn signers(&self, authority: &Authority) -> Result<BTreeSet<OwnerKey>, EnvelopeError> {
        let msg = self.signing_message();
        let mut out = BTreeSet::new();
        for s in &self.signatures {
            if !authority.owners.contains(&s.key) {
                return Err(EnvelopeError::UnenrolledSigner { key: s.key });
            }
            if !s.key.verifies(&msg, &s.signature) {
                return Err(EnvelopeError::BadSignature { key: s.key });
            }
            out.insert(s.key);
        }
        Ok(out)
    }
}

/// A wallet's first envelope: `document` under `owner` alone (1 of 1, no delay), in force from
/// the epoch, signed by `owner`. What a test or a single-owner setup enrols.
pub fn enrolment(
    wallet: AgentId,
    document: PolicyDocument,
    owner: &OwnerSigningKey,
) -> PolicyEnvelope {
    let mut env = PolicyEnvelope::new(
        wallet,
        1,
        [0; 32],
        0,
        Authority::single(owner.public()),
        document,
    );
    env.sign(owner);
    env
}

/// `custos-policy-envelope/1:` followed by the 32-byte body hash.
pub fn signing_message(hash: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(ENVELOPE_FORMAT.len() + 33);
    m.extend_from_slice(ENVELOPE_FORMAT.as_bytes());
    m.push(b':');
    m.extend_from_slice(hash);
    m
}

/// Why an envelope was refused, or why a wallet has no policy to sign under. Each message names
/// the field or rule and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The wallet has no owner-signed policy enrolled with this signer.
    #[error(
        "no owner-signed policy is enrolled for wallet {wallet}; nothing is signed without one"
    )]
    NoPolicy {
        /// Wallet.
        wallet: AgentId,
    },
    /// The envelope is not well formed.
    #[error("malformed envelope: {0}")]
    Malformed(String),
    /// Not for the wallet it was submitted for.
    #[error("envelope is for wallet {got}, not {expected}")]
    WrongWallet {
        /// The envelope's wallet.
        got: AgentId,
        /// The wallet asked about.
        expected: AgentId,
    },
    /// An older or equal version than the signer holds: a replay or a rollback.
    #[error("stale envelope: version {got} is not newer than version {current}, which this signer holds (replay or rollback refused)")]
    Stale {
        /// Submitted version.
        got: u64,
        /// Held version.
        current: u64,
    },
    /// Does not chain on the version the signer holds.
    #[error("envelope version {got} does not chain: the next version must be {expected_version} with prev_hash {expected_prev}")]
    BrokenChain {
        /// Submitted version.
        got: u64,
        /// The version that would chain.
        expected_version: u64,
        /// Hex hash of the held version.
        expected_prev: String,
    },
    /// Signed by a key that is not enrolled for the wallet.
    #[error("signed by owner key {key}, which is not enrolled for this wallet")]
    UnenrolledSigner {
        /// The key.
        key: OwnerKey,
    },
    /// A signature that does not verify.
    #[error("the signature by owner key {key} does not verify over this envelope")]
    BadSignature {
        /// The key.
        key: OwnerKey,
    },
    /// Too few owner signatures for what the change does.
    #[error("{have} owner signature(s), {need} needed: {why}")]
    Quorum {
        /// Valid signatures.
        have: usize,
        /// Needed.
        need: usize,
        /// What made them needed (the loosenings, or "no signature").
        why: String,
    },
    /// Not yet in force.
    #[error("not valid before {not_before_ms} (now {now_ms}); a signer takes no envelope from the future")]
    NotYetValid {
        /// `not_before_ms`.
        not_before_ms: i64,
        /// The signer's clock.
        now_ms: i64,
    },
    /// Enrolment refused by the signer's own enrolment keys.
    #[error("enrolment refused: version 1 must be signed by one of this signer's enrolment keys")]
    EnrolmentNotPermitted,
    /// The signer could not keep its copy.
    #[error("policy store: {0}")]
    Storage(String),
}

/// Serde helper: `[u8; 32]` as 64 hex characters.
pub(crate) mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};
    /// As hex.
    pub fn serialize<S: Serializer>(b: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }
    /// From hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let raw = hex::decode(&s).map_err(serde::de::Error::custom)?;
        raw.try_into()
            .map_err(|_| serde::de::Error::custom("expected 32 bytes (64 hex characters)"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hash_covers_every_body_field_and_two_spellings_of_one_policy_agree() {
        let k = OwnerSigningKey::generate();
        let env = PolicyEnvelope::new(
            AgentId::new_random(),
            1,
            [0; 32],
            0,
            Authority::single(k.public()),
            PolicyDocument::default(),
        );
        let h = env.hash();
        let mut e2 = env.clone();
        e2.version = 2;
        assert_ne!(e2.hash(), h);
        let mut e2 = env.clone();
        e2.not_before_ms = 1;
        assert_ne!(e2.hash(), h);
        let mut e2 = env.clone();
        e2.document.limits.max_tx_per_hour += 1;
        assert_ne!(e2.hash(), h);
        let mut e2 = env.clone();
        e2.authority.loosen_delay_seconds = 1;
        assert_ne!(e2.hash(), h);
        // Signatures are not part of the body.
        let mut e2 = env.clone();
        e2.sign(&k);
        assert_eq!(e2.hash(), h);
        // Round trip through JSON with the document's keys in another order.
        let mut v = serde_json::to_value(&e2).unwrap();
        let doc = v["document"].as_object().unwrap().clone();
        let reordered: serde_json::Map<_, _> = doc.into_iter().rev().collect();
        v["document"] = serde_json::Value::Object(reordered);
        let back: PolicyEnvelope = serde_json::from_value(v).unwrap();
        assert_eq!(back.hash(), h);
        assert_eq!(back.signers(&e2.authority).unwrap().len(), 1);
    }

    #[test]
    fn unknown_fields_and_partial_documents_are_refused() {
        let k = OwnerSigningKey::generate();
        let env = PolicyEnvelope::new(
            AgentId::new_random(),
            1,
            [0; 32],
            0,
            Authority::single(k.public()),
            PolicyDocument::default(),
        );
        let mut v = serde_json::to_value(&env).unwrap();
        v["extra"] = serde_json::json!(1);
        assert!(serde_json::from_value::<PolicyEnvelope>(v).is_err());
        let mut v = serde_json::to_value(&env).unwrap();
        v["document"].as_object_mut().unwrap().remove("limits");
        assert!(serde_json::from_value::<PolicyEnvelope>(v).is_err());
    }

    #[test]
    fn foreign_and_forged_signatures_are_named() {
        let (a, b) = (OwnerSigningKey::generate(), OwnerSigningKey::generate());
        let mut env = PolicyEnvelope::new(
            AgentId::new_random(),
            1,
            [0; 32],
            0,
            Authority::single(a.public()),
            PolicyDocument::default(),
        );
        env.sign(&b);
        assert_eq!(
            env.signers(&env.authority.clone()),
            Err(EnvelopeError::UnenrolledSigner { key: b.public() })
        );
        env.signatures.clear();
        env.sign(&a);
        env.signatures[0].signature[5] ^= 1;
        assert_eq!(
            env.signers(&env.authority.clone()),
            Err(EnvelopeError::BadSignature { key: a.public() })
        );
    }

    #[test]
    fn authority_shape_is_checked() {
        let mut keys: Vec<OwnerKey> = (0..3)
            .map(|_| OwnerSigningKey::generate().public())
            .collect();
        keys.sort();
        let ok = Authority {
            owners: keys.clone(),
            quorum: 2,
            loosen_delay_seconds: 60,
        };
        assert!(ok.validate().is_ok());
        for (bad, field) in [
            (
                Authority {
                    quorum: 0,
                    ..ok.clone()
                },
                "quorum",
            ),
            (
                Authority {
                    quorum: 4,
                    ..ok.clone()
                },
                "quorum",
            ),
            (
                Authority {
                    owners: vec![],
                    ..ok.clone()
                },
                "owners",
            ),
            (
                Authority {
                    owners: keys.iter().rev().copied().collect(),
                    ..ok.clone()
                },
                "owners",
            ),
            (
                Authority {
                    loosen_delay_seconds: u64::MAX,
                    ..ok.clone()
                },
                "loosen_delay_seconds",
            ),
        ] {
            let e = bad.validate().unwrap_err().to_string();
            assert!(e.contains(field), "{e}");
        }
        let fewer = Authority {
            owners: keys[..2].to_vec(),
            quorum: 2,
            loosen_delay_seconds: 60,
        };
        assert!(ok.loosenings(&fewer).is_empty());
        assert_eq!(fewer.loosenings(&ok).len(), 1);
        assert_eq!(
            ok.loosenings(&Authority {
                quorum: 1,
                ..ok.clone()
            })
            .len(),
            1
        );
    }
}
