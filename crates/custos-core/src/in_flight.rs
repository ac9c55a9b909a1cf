//! The journal of transactions that left Custos for a chain and whose outcome is not yet
//! recorded. A row is written, durably, before a signed transaction is broadcast and removed
//! once its outcome (landed, failed, provably never landing) is audited, its budget
//! reservation resolved and its idempotency key answered. A crash in between leaves the row:
//! the server's recovery pass asks the chain what became of it and finishes the books, so a
//! retry under the same `Idempotency-Key` gets the same transaction back instead of a second
//! payment.
use crate::amount::Decimal;
use crate::chain::Chain;
use crate::ids::AgentId;
use serde::{Deserialize, Serialize};

/// An `Idempotency-Key` claim: the scope (the agent) and the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdempotencyRef {
    /// The scope the key was claimed in.
    pub scope: String,
    /// The key.
    pub key: String,
}

/// One signed transaction whose outcome is not yet on the books.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InFlightTx {
    /// The transaction id (Solana signature, EVM hash).
    pub tx_id: String,
    /// The chain.
    pub chain: Chain,
    /// The agent it spends for.
    pub agent: AgentId,
    /// The signed transaction, exactly as broadcast; re-broadcasting it is always safe (it is
    /// the same transaction, so it can land at most once).
    #[serde(with = "crate::custody::hex_bytes")]
    pub signed_tx: Vec<u8>,
    /// Solana: the last block height at which it can land; after it, it never will.
    pub last_valid_block_height: Option<u64>,
    /// The budget reservation it holds.
    pub reservation: String,
    /// The idempotency claim waiting for its answer, if the request had a key.
    pub idempotency: Option<IdempotencyRef>,
    /// The action (`transfer`, `sign`, `trade`).
    pub action: String,
    /// Its USD value, as reserved.
    pub usd: Decimal,
    /// The request that signed it.
    pub request_id: String,
    /// `METHOD route` of that request.
    pub endpoint: String,
    /// When the row was written.
    pub created_at_ms: i64,
    /// The server instance whose request wrote it. Recovery leaves a live instance's entries
    /// alone while its request may still be finishing them.
    #[serde(default)]
    pub owner: String,
    /// Transactions signed later to replace this one (EVM: the same nonce with higher fees — a
    /// speed-up, or a cancel), oldest first. Exactly one of the original and its replacements
    /// can land (they share a nonce), so the entry holds one reservation for all of them and is
    /// settled by whichever lands.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replacements: Vec<Replacement>,
}

/// What a replacement does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplacementKind {
    /// The same transaction with higher fees.
    SpeedUp,
    /// A transfer of nothing to the sender itself with higher fees: if it lands, the original
    /// never does and nothing but the fee is spent.
    Cancel,
    /// The same message on a fresh blockhash (Solana), after the original's expired before the
    /// cluster took it: the original can never land.
    Refresh,
}

impl ReplacementKind {
    /// `speed_up`, `cancel` or `refresh`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SpeedUp => "speed_up",
            Self::Cancel => "cancel",
            Self::Refresh => "refresh",
        }
    }
}

/// A signed replacement of an in-flight transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replacement {
    /// Its transaction id.
    pub tx_id: String,
    /// What it does.
    pub kind: ReplacementKind,
    /// The signed transaction, exactly as broadcast.
    #[serde(with = "crate::custody::hex_bytes")]
    pub signed_tx: Vec<u8>,
    /// The request that signed it.
    pub request_id: String,
    /// When it was added.
    pub created_at_ms: i64,
}

/// One signed transaction of an entry: the original or a replacement.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// Its id.
    pub tx_id: &'a str,
    /// Its bytes.
    pub signed_tx: &'a [u8],
    /// `None` for the original.
    pub kind: Option<ReplacementKind>,
}

impl InFlightTx {
    /// The original and every replacement, newest first (the one most likely to land).
    pub fn candidates(&self) -> Vec<Candidate<'_>> {
        let mut out: Vec<Candidate<'_>> = self
            .replacements
            .iter()
            .rev()
            .map(|r| Candidate {
                tx_id: &r.tx_id,
                signed_tx: &r.signed_tx,
                kind: Some(r.kind),
            })
            .collect();
        out.push(Candidate {
            tx_id: &self.tx_id,
            signed_tx: &self.signed_tx,
            kind: None,
        });
        out
    }

    /// Whether `tx_id` is this entry's transaction or one of its replacements.
    pub fn names(&self, tx_id: &str) -> bool {
        self.tx_id == tx_id || self.replacements.iter().any(|r| r.tx_id == tx_id)
    }

    /// Whether `tx_id` landing spends what the entry reserved: the original or a speed-up does;
    /// a cancel moves nothing (its fee aside), so its reservation is released.
    pub fn spends(&self, tx_id: &str) -> bool {
        !self
            .replacements
            .iter()
            .any(|r| r.tx_id == tx_id && r.kind == ReplacementKind::Cancel)
    }
}
