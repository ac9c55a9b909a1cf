//! Audit records and the hash chain that links them.
//!
//! Each stored record carries `hash = SHA-256(prev_hash || canonical_json(entry))`, where the
//! canonical JSON is the entry's fields in a fixed order plus its sequence number. Changing,
//! removing or reordering any record breaks every hash after it; checkpoints signed inside the
//! custody boundary pin the head so truncation is detectable too.
use crate::AgentId;
use serde::{Deserialize, Serialize};

/// The hash that precedes the first record.
pub const GENESIS_HASH: [u8; 32] = [0u8; 32];

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// The action was performed.
    Success,
    /// Policy, freeze or role refused it.
    Denied,
    /// The request was malformed.
    Invalid,
    /// Something failed while performing it.
    Error,
    /// Parked for human approval.
    Pending,
}

impl AuditOutcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
            Self::Invalid => "invalid",
            Self::Error => "error",
            Self::Pending => "pending",
        }
    }
    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "success" => Self::Success,
            "denied" => Self::Denied,
            "invalid" => Self::Invalid,
            "error" => Self::Error,
            "pending" => Self::Pending,
            _ => return None,
        })
    }
}

/// One audit record before it is stored (no sequence number or hash yet).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The acting agent, if the caller was an agent.
    pub agent_id: Option<AgentId>,
    /// The acting operator token id, if the caller was an operator.
    pub operator: Option<String>,
    /// HTTP method and matched route, e.g. `POST /v1/wallets/me/actions/{action}`.
    pub endpoint: String,
    /// The action name (`transfer`, `sign`, `api_key.create`, …).
    pub action: String,
    /// Request parameters with secrets removed.
    pub params: serde_json::Value,
    /// USD value of the action, if any.
    pub usd_amount: Option<String>,
    /// Token amounts moved, e.g. `[{"asset":"SOL","amount":"1.5"}]`.
    pub token_amounts: serde_json::Value,
    /// Transaction signature or hash, or a message signature.
    pub tx: Option<String>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// HTTP status returned.
    pub status: u16,
    /// Error code or denial reasons, if any.
    pub reason: Option<String>,
    /// The request id (also returned as `x-request-id`).
    pub request_id: String,
}

/// A stored record: the entry plus its position and chain hashes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredAudit {
    /// Sequence number, starting at 1, without gaps.
    pub id: u64,
    /// The entry.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// Hex hash of the previous record (zeros for the first).
    pub prev_hash: String,
    /// Hex hash of this record.
    pub hash: String,
}

impl AuditEntry {
    /// The canonical bytes hashed for record number `id`: a compact JSON array of the fields in
    /// a fixed order (set here, not by serde), with object keys sorted at every depth, so the
    /// chain never depends on a library's map ordering. Written straight into one buffer.
    pub fn canonical_bytes(&self, id: u64) -> Vec<u8> {
        let agent = self.agent_id.map(|a| a.to_string());
        let fields = (
            id,
            self.time_ms,
            agent,
            &self.operator,
            &self.endpoint,
            &self.action,
            Sorted(&self.params),
            &self.usd_amount,
            Sorted(&self.token_amounts),
            &self.tx,
            self.outcome.as_str(),
            self.status,
            &self.reason,
            &self.request_id,
        );
        let mut out = Vec::with_capacity(256 + self.endpoint.len() + self.request_id.len());
        // Writing strings, numbers, options and JSON values into a `Vec` has no way to fail
        // (no I/O; every object key is a string), so the error arm is unreachable. Were it
        // ever reached, the same entry would still give the same bytes every time.
        if serde_json::to_writer(&mut out, &fields).is_err() {
            out.clear();
            out.extend_from_slice(b"unserializable audit entry");
        }
        out
    }

    /// `SHA-256(prev || canonical_bytes(id))`.
    pub fn chain_hash(&self, id: u64, prev: &[u8; 32]) -> [u8; 32] {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(prev);
        h.update(self.canonical_bytes(id));
        h.finalize().into()
    }
}

/// A JSON value serialized with object keys sorted recursively (serde_json's map is already
/// ordered by key unless `preserve_order` is on; sorting here keeps the chain stable either way).
struct Sorted<'a>(&'a serde_json::Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.0 {
            serde_json::Value::Object(m) => {
                let mut entries: Vec<_> = m.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, &Sorted(v))?;
                }
                map.end()
            }
            serde_json::Value::Array(a) => s.collect_seq(a.iter().map(Sorted)),
            other => other.serialize(s),
        }
    }
}

/// Where a chain verification failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("audit record {id} is broken: {reason}")]
pub struct ChainBreak {
    /// The first broken record.
    pub id: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// Incrementally verifies records in id order.
#[derive(Debug)]
pub struct ChainVerifier {
    next_id: u64,
    prev: [u8; 32],
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            next_id: 1,
            prev: GENESIS_HASH,
        }
    }
}

impl ChainVerifier {
    /// Checks the next record; returns the first break found.
    pub fn push(&mut self, r: &StoredAudit) -> Result<(), ChainBreak> {
        let fail = |reason: String| ChainBreak { id: r.id, reason };
        if r.id != self.next_id {
            return Err(ChainBreak {
                id: self.next_id,
                reason: format!(
                    "missing: found record {} where {} was expected",
                    r.id, self.next_id
                ),
            });
        }
        if r.prev_hash != hex::encode(self.prev) {
            return Err(fail(
                "prev_hash does not match the previous record's hash".into(),
            ));
        }
        let h = r.entry.chain_hash(r.id, &self.prev);
        if r.hash != hex::encode(h) {
            return Err(fail(
                "content does not match its hash (record altered)".into(),
            ));
        }
        self.prev = h;
        self.next_id += 1;
        Ok(())
    }
    /// Records verified so far.
    pub fn count(&self) -> u64 {
        self.next_id - 1
    }
    /// The head hash so far.
    pub fn head(&self) -> [u8; 32] {
        self.prev
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(n: i64) -> AuditEntry {
        AuditEntry {
            time_ms: n,
            agent_id: None,
            operator: None,
            endpoint: "GET /x".into(),
            action: "x".into(),
            params: serde_json::json!({"b": 1, "a": [1, {"z": 1, "y": 2}]}),
            usd_amount: None,
            token_amounts: serde_json::json!([]),
            tx: None,
            outcome: AuditOutcome::Success,
            status: 200,
            reason: None,
            request_id: format!("r{n}"),
        }
    }

    fn chain(n: u64) -> Vec<StoredAudit> {
        let mut prev = GENESIS_HASH;
        (1..=n)
            .map(|id| {
                let e = entry(id as i64);
                let h = e.chain_hash(id, &prev);
                let r = StoredAudit {
                    id,
                    entry: e,
                    prev_hash: hex::encode(prev),
                    hash: hex::encode(h),
                };
                prev = h;
                r
            })
            .collect()
    }

    /// Every field filled, with text that JSON must escape and parameters whose keys are out of
    /// order at every depth.
    fn full_entry() -> AuditEntry {
        AuditEntry {
            time_ms: 1_700_000_000_123,
            agent_id: Some(AgentId(uuid::Uuid::from_u128(
                0x0123_4567_89ab_cdef_0123_4567_89ab_cdef,
            ))),
            operator: Some("op_1 (admin)".into()),
            endpoint: "POST /v1/wallets/me/actions/{action}".into(),
            action: "transfer".into(),
            params: serde_json::json!({"to": "9xQ\"é\n", "amount": "1.5", "nested": {"z": [3, {"b": 1, "a": 2}], "a": null}}),
            usd_amount: Some("150.00".into()),
            token_amounts: serde_json::json!([{"asset": "SOL", "amount": "1.5"}]),
            tx: Some("5h6x".into()),
            outcome: AuditOutcome::Denied,
            status: 403,
            reason: Some("policy_denied: limits.per_tx_usd".into()),
            request_id: "req-1".into(),
        }
    }

    /// The hashed bytes are a stored format: every record already written was chained over
    /// them, so they must never change. These are the bytes and the hash the first release
    /// produced for this entry.
    #[test]
    fn canonical_bytes_and_hash_are_the_released_format() {
        let e = full_entry();
        assert_eq!(
            String::from_utf8(e.canonical_bytes(42)).unwrap(),
            r#"[42,1700000000123,"01234567-89ab-cdef-0123-456789abcdef","op_1 (admin)","POST /v1/wallets/me/actions/{action}","transfer",{"amount":"1.5","nested":{"a":null,"z":[3,{"a":2,"b":1}]},"to":"9xQ\"é\n"},"150.00",[{"amount":"1.5","asset":"SOL"}],"5h6x","denied",403,"policy_denied: limits.per_tx_usd","req-1"]"#
        );
        assert_eq!(
            hex::encode(e.chain_hash(42, &[7u8; 32])),
            "73809d5f692654327f490102a7c51df666711690820d1c3503689aafda10f103"
        );
        assert_eq!(
            String::from_utf8(entry(3).canonical_bytes(3)).unwrap(),
            r#"[3,3,null,null,"GET /x","x",{"a":[1,{"y":2,"z":1}],"b":1},null,[],null,"success",200,null,"r3"]"#
        );
    }

    #[test]
    fn intact_chain_verifies_and_any_edit_is_named() {
        let recs = chain(5);
        let mut v = ChainVerifier::default();
        for r in &recs {
            assert_eq!(v.push(r), Ok(()));
        }
        assert_eq!(v.count(), 5);

        let mut edited = recs.clone();
        edited[2].entry.status = 500;
        let mut v = ChainVerifier::default();
        let err = edited.iter().try_for_each(|r| v.push(r)).err();
        assert_eq!(err.map(|e| e.id), Some(3));

        let mut gap = recs.clone();
        gap.remove(1);
        let mut v = ChainVerifier::default();
        let err = gap.iter().try_for_each(|r| v.push(r)).err();
        assert_eq!(err.map(|e| e.id), Some(2));
    }
}
