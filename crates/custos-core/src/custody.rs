//! The one signing interface. Every custody backend (enclave process, PKCS#11 HSM, later
//! threshold and multisig co-signers) implements [`Custody`]; the API server calls nothing else.
//!
//! There is deliberately no operation that returns private key bytes.
use crate::AgentId;
use serde::{Deserialize, Serialize};

/// Every off-chain message signed with an Ed25519 (Solana) key must begin with this domain (the
/// Solana off-chain message signing domain). Its leading `0xff` can never begin a serialized
/// Solana transaction message (whose first byte is a signer count, or `0x80 | version`), so
/// "sign a message" can never be used to get a transaction signed.
pub const SOLANA_OFFCHAIN_DOMAIN: &[u8] = b"\xffsolana offchain";

/// A signature scheme a key is created for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyScheme {
    /// Ed25519 (RFC 8032): Solana.
    Ed25519,
    /// secp256k1 ECDSA, low-S, with a recovery id: EVM.
    Secp256k1Ecdsa,
    /// secp256k1 BIP-340 Schnorr: Bitcoin Taproot.
    Secp256k1Schnorr,
    /// RSA-2048 signing RSA-PSS with SHA-256 (MGF1-SHA-256, 32-byte salt): the agent's Kalshi
    /// API key. It signs Kalshi requests only.
    RsaPssSha256,
}

impl KeyScheme {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::Secp256k1Ecdsa => "secp256k1_ecdsa",
            Self::Secp256k1Schnorr => "secp256k1_schnorr",
            Self::RsaPssSha256 => "rsa_pss_sha256",
        }
    }
}

/// Whether a key signs for everything, or only to receive/sweep after a rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// The agent's current key.
    Active,
    /// Rotated out: usable for receiving and sweeping until `until_ms`.
    ReceiveOnly {
        /// End of the grace period.
        until_ms: i64,
    },
    /// No longer usable.
    Retired,
}

/// The public half of an agent key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyInfo {
    /// Backend-unique key id.
    pub key_id: String,
    /// The scheme.
    pub scheme: KeyScheme,
    /// Public key: 32 bytes Ed25519, 33 bytes compressed SEC1 for ECDSA, 32 bytes x-only for
    /// BIP-340, DER `SubjectPublicKeyInfo` for RSA.
    #[serde(with = "hex_bytes")]
    pub public_key: Vec<u8>,
    /// The chain address: base58 for Solana, EIP-55 hex for EVM, hex x-only key for Schnorr;
    /// for RSA (no chain), the hex SHA-256 of the DER public key (its fingerprint).
    pub address: String,
    /// Creation time.
    pub created_at_ms: i64,
    /// Status.
    pub status: KeyStatus,
}

/// What is to be signed. The boundary decodes it itself: it never signs a bare label.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SignPayload {
    /// An off-chain message. Ed25519 signs the bytes as given; secp256k1 ECDSA signs the EIP-191
    /// personal-message digest; BIP-340 signs SHA-256 of the bytes.
    Message {
        /// The message bytes.
        #[serde(with = "hex_bytes")]
        bytes: Vec<u8>,
    },
    /// A serialized Solana transaction (legacy or v0), as it goes on the wire.
    SolanaTransaction {
        /// Serialized transaction (signatures section included, possibly zeroed).
        #[serde(with = "hex_bytes")]
        bytes: Vec<u8>,
    },
    /// An unsigned EVM transaction: the EIP-1559 signing encoding `0x02 || rlp(fields)`. The
    /// boundary decodes it and signs its keccak-256 with the secp256k1 ECDSA key.
    EvmTransaction {
        /// Unsigned encoded transaction.
        #[serde(with = "hex_bytes")]
        bytes: Vec<u8>,
    },
    /// EIP-712 typed data as JSON (`types`, `primaryType`, `domain`, `message`). The boundary
    /// computes the digest itself from the document, never from a hash the server supplies.
    Eip712 {
        /// The typed-data document.
        typed_data: String,
    },
    /// A bare 32-byte digest. Signed only when the policy turns `actions.sign_raw_hash` on: the
    /// boundary cannot know what it is.
    RawHash {
        /// The digest.
        #[serde(with = "hex_bytes")]
        hash: Vec<u8>,
    },
    /// A Kalshi Trade API request (the `prediction` action), signed with the agent's RSA-PSS
    /// key. The boundary classifies it, judges an order under the policy and builds the signed
    /// text (`timestamp + METHOD + path`) itself.
    KalshiRequest {
        /// The request (boxed: it is larger than the other payloads).
        request: Box<crate::prediction::KalshiRequest>,
    },
}

impl SignPayload {
    /// The payload's bytes as the caller sent them (the typed-data document's text for EIP-712):
    /// what a signer's record of the request names by hash.
    pub fn bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        use std::borrow::Cow;
        match self {
            Self::Message { bytes }
            | Self::SolanaTransaction { bytes }
            | Self::EvmTransaction { bytes } => Cow::Borrowed(bytes),
            Self::Eip712 { typed_data } => Cow::Borrowed(typed_data.as_bytes()),
            Self::RawHash { hash } => Cow::Borrowed(hash),
            Self::KalshiRequest { request } => Cow::Owned(request.canonical_bytes()),
        }
    }

    /// The payload's kind name, as serialized.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Message { .. } => "message",
            Self::SolanaTransaction { .. } => "solana_transaction",
            Self::EvmTransaction { .. } => "evm_transaction",
            Self::Eip712 { .. } => "eip712",
            Self::RawHash { .. } => "raw_hash",
            Self::KalshiRequest { .. } => "kalshi_request",
        }
    }

    /// What a policy decision names as the bytes it judged (see [`PayloadDigest`]).
    pub fn digest(&self) -> PayloadDigest {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(b"custos-payload/1:");
        h.update(self.kind().as_bytes());
        h.update(b":");
        h.update(self.bytes());
        PayloadDigest(h.finalize().into())
    }
}

/// SHA-256 over a payload's kind and bytes (`custos-payload/1:<kind>:<bytes>`): the bytes a
/// policy decision judged, which the signature it allows must be over. Two payloads of different
/// kinds never share one, so an approval of a 32-byte message cannot sign the same 32 bytes as a
/// raw hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PayloadDigest([u8; 32]);

impl std::fmt::Debug for PayloadDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PayloadDigest({})", hex::encode(self.0))
    }
}

impl Serialize for PayloadDigest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

/// A request to the custody boundary. It carries no policy: the boundary signs under the
/// owner-signed policy it holds for the agent (see [`Custody::submit_policy`]), never under
/// one its caller supplies.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// Whose key.
    pub agent_id: AgentId,
    /// Which of the agent's keys.
    pub scheme: KeyScheme,
    /// What to sign.
    pub payload: SignPayload,
    /// What the server says a transaction is for (`transfer`, `trade`, `sign`…): it picks the
    /// action toggle the boundary checks; the boundary judges what the bytes do either way. A
    /// transaction without one is judged as `sign`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<crate::Action>,
}

/// What submitting an owner-signed policy envelope to a boundary did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case", deny_unknown_fields)]
pub enum PolicyApplied {
    /// Now in force.
    Current {
        /// Envelope version in force.
        version: u64,
        /// Its body hash (hex).
        hash: String,
    },
    /// The same envelope was already in force.
    Unchanged {
        /// Envelope version in force.
        version: u64,
        /// Its body hash (hex).
        hash: String,
    },
    /// A loosening, verified, that takes force once its delay has passed.
    Pending {
        /// Pending envelope version.
        version: u64,
        /// Its body hash (hex).
        hash: String,
        /// When it takes force.
        effective_from_ms: i64,
        /// What it loosens.
        loosens: Vec<String>,
    },
}

/// The owner-signed policy a boundary holds for an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeldPolicy {
    /// The envelope in force.
    pub current: PolicyJson,
    /// A verified loosening waiting for its delay, and when it takes force.
    #[serde(default)]
    pub pending: Option<(PolicyJson, i64)>,
}

/// A JSON object passed through as text: an owner-signed policy envelope on its way to (or from)
/// a boundary, which parses and verifies it itself. On the wire it is the JSON object itself
/// (not a string).
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PolicyJson(std::sync::Arc<serde_json::value::RawValue>);

impl PolicyJson {
    /// Serializes `doc` once.
    pub fn new<T: Serialize + ?Sized>(doc: &T) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(doc).map(|raw| Self(raw.into()))
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// The document as a JSON value (parsed anew on each call).
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }
}

impl From<serde_json::Value> for PolicyJson {
    fn from(value: serde_json::Value) -> Self {
        let text = value.to_string();
        // A `Value` always prints as valid JSON, so this only fails on a serde_json bug; the
        // fallback `null` would be refused by every boundary check (not an object).
        Self(
            serde_json::value::RawValue::from_string(text)
                .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned())
                .into(),
        )
    }
}

impl PartialEq for PolicyJson {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for PolicyJson {}

impl std::fmt::Debug for PolicyJson {
    // A policy is not secret; print it whole, as the `Value` it replaced did.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A signature produced inside the boundary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The key that signed.
    pub key_id: String,
    /// The scheme.
    pub scheme: KeyScheme,
    /// 64 bytes (Ed25519, BIP-340) or 65 bytes `r || s || v` with `v` ∈ {0,1} (ECDSA, low-S).
    #[serde(with = "hex_bytes")]
    pub bytes: Vec<u8>,
    /// The signer's public key (same encoding as [`PublicKeyInfo::public_key`]).
    #[serde(with = "hex_bytes")]
    pub public_key: Vec<u8>,
}

/// An attestation document describing the boundary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationDocument {
    /// `dev`, `nitro`, `sev-snp`, `tdx`.
    pub format: String,
    /// Whether hardware vouches for the measurement. `false` for `dev`.
    pub hardware_backed: bool,
    /// Hex SHA-256 of the boundary's binary (or the platform's measurement).
    pub measurement: String,
    /// The caller's nonce, echoed (hex).
    pub nonce: String,
    /// Time of issue.
    pub timestamp_ms: i64,
    /// The boundary's identity public key (hex Ed25519).
    pub public_key: String,
    /// Format-specific document (for `dev`: base64 of the signed JSON body; for `nitro`: the
    /// COSE_Sign1 bytes in base64).
    pub document: String,
    /// Hex signature over `document` (for `dev`).
    pub signature: String,
}

/// A signature by the boundary's identity key over the audit chain head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCheckpoint {
    /// Sequence number of the head record.
    pub seq: u64,
    /// Hex hash of the head record.
    pub head_hash: String,
    /// Time of signing.
    pub timestamp_ms: i64,
    /// Hex Ed25519 public key of the boundary.
    pub public_key: String,
    /// Hex Ed25519 signature over `custos-audit-checkpoint:v1:{seq}:{head_hash}:{timestamp_ms}`.
    pub signature: String,
}

impl AuditCheckpoint {
    /// The exact bytes the boundary signs.
    pub fn signed_bytes(seq: u64, head_hash: &str, timestamp_ms: i64) -> Vec<u8> {
        format!("custos-audit-checkpoint:v1:{seq}:{head_hash}:{timestamp_ms}").into_bytes()
    }
}

/// Why the boundary refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CustodyError {
    /// The agent has no key of that scheme.
    #[error("no {scheme:?} key for agent {agent}")]
    NoKey {
        /// Agent.
        agent: AgentId,
        /// Scheme.
        scheme: KeyScheme,
    },
    /// The payload could not be decoded or is not signable with that scheme.
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
    /// The boundary's own policy re-check refused it.
    #[error("refused by the custody boundary: {0}")]
    PolicyRefused(String),
    /// The boundary refused an owner-signed policy envelope (or holds none for the agent).
    #[error("policy envelope refused by the custody boundary: {0}")]
    EnvelopeRefused(String),
    /// Sealed material failed to open (tampered or moved to another agent).
    #[error("sealed key material failed integrity check")]
    Integrity,
    /// The boundary could not be reached or answered out of protocol.
    #[error("custody boundary unavailable: {0}")]
    Unavailable(String),
    /// A bug or unexpected state inside the boundary.
    #[error("custody internal error: {0}")]
    Internal(String),
}

/// The signing interface the pipeline calls. Implementations must be safe to share between
/// request tasks.
#[async_trait::async_trait]
pub trait Custody: Send + Sync + 'static {
    /// Creates the agent's key for `scheme` inside the boundary, or returns the existing active
    /// one (idempotent). Only public material comes back.
    async fn create_key(
        &self,
        agent: AgentId,
        scheme: KeyScheme,
    ) -> Result<PublicKeyInfo, CustodyError>;
    /// The agent's active key for `scheme`, if any.
    async fn public_key(
        &self,
        agent: AgentId,
        scheme: KeyScheme,
    ) -> Result<Option<PublicKeyInfo>, CustodyError>;
    /// Signs, after the boundary's own checks against the policy it holds for the agent.
    async fn sign(&self, req: SignRequest) -> Result<Signature, CustodyError>;
    /// Hands the boundary an owner-signed policy envelope; it verifies it against what it
    /// holds (enrolled owners, version chain, quorum, delay) and keeps it, or refuses it.
    async fn submit_policy(&self, envelope: PolicyJson) -> Result<PolicyApplied, CustodyError>;
    /// The envelope the boundary holds for `agent`, if any.
    async fn held_policy(&self, agent: AgentId) -> Result<Option<HeldPolicy>, CustodyError>;
    /// The boundary's attestation document bound to `nonce`.
    async fn attestation(&self, nonce: &[u8]) -> Result<AttestationDocument, CustodyError>;
    /// Rotates the agent's key: a new active key; the old one becomes receive-only.
    async fn rotate(
        &self,
        agent: AgentId,
        scheme: KeyScheme,
    ) -> Result<PublicKeyInfo, CustodyError>;
    /// Signs the audit chain head with the boundary's identity key.
    async fn sign_audit_checkpoint(
        &self,
        seq: u64,
        head_hash: [u8; 32],
    ) -> Result<AuditCheckpoint, CustodyError>;
    /// Cheap liveness check.
    async fn health(&self) -> Result<(), CustodyError>;
    /// Freezes (or unfreezes) one agent, or every agent at once (the kill switch), in the
    /// boundary itself: it then signs nothing for them, whatever the server says. The state
    /// survives restarts of the boundary.
    async fn set_frozen(
        &self,
        target: FreezeTarget,
        frozen: bool,
    ) -> Result<FreezeState, CustodyError>;
    /// What the boundary holds frozen.
    async fn frozen(&self) -> Result<FreezeState, CustodyError>;
}

/// Whom a freeze in the custody boundary applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FreezeTarget {
    /// One agent.
    Agent(AgentId),
    /// Every agent, present and future: the kill switch.
    All,
}

/// What a custody boundary holds frozen.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeState {
    /// The kill switch: every agent is frozen.
    pub all: bool,
    /// Agents frozen one by one (sorted).
    pub agents: Vec<AgentId>,
}

impl FreezeState {
    /// Why `agent` may not sign now, if it may not.
    pub fn refusal(&self, agent: AgentId) -> Option<String> {
        if self.all {
            Some("frozen: every agent is frozen by an operator (the kill switch is engaged)".into())
        } else if self.agents.contains(&agent) {
            Some(format!("frozen: agent {agent} is frozen by an operator"))
        } else {
            None
        }
    }
}

/// Serde helper: bytes as lowercase hex strings.
pub mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};
    /// Serializes as hex.
    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }
    /// Deserializes from hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}
