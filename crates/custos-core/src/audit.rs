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
    /// The canonical bytes hashed for record number `id`. Field order is fixed here, not by
    /// serde, so the chain never depends on a library's map ordering.
    pub fn canonical_bytes(&self, id: u64) -> Vec<u8> {
        let v = serde_json::json!([
            id,
            self.time_ms,
            self.agent_id.map(|a| a.to_string()),
            self.operator,
            self.endpoint,
            self.action,
            canonical_value(&self.params),
            self.usd_amount,
            canonical_value(&self.token_amounts),
            self.tx,
            self.outcome.as_str(),
            self.status,
            self.reason,
            self.request_id,
        ]);
        v.to_string().into_bytes()
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

/// JSON with object keys sorted recursively (serde_json's map is already ordered by key unless
/// `preserve_order` is on; sorting here keeps the chain stable either way).
fn canonical_value(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<_> = m.keys().collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for k in keys {
                if let Some(x) = m.get(k) {
                    out.insert(k.clone(), canonical_value(x));
                }
            }
            serde_json::Value::Object(out)
        }
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.iter().map(canonical_value).collect())
        }
        other => other.clone(),
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
