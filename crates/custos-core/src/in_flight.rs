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
}
