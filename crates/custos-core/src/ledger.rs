//! What the store keeps for two stateful parts of the pipeline: the budget ledger (USD
//! reserved per action in an agent's rolling windows, then committed or released) and the
//! approvals that park a transaction until operators decide.
//!
//! Amounts are exact [`Decimal`]s; the store never rounds them and never passes them through a
//! float. Times are Unix milliseconds supplied by the caller (the injected clock), so the
//! window arithmetic is testable without waiting.
use crate::amount::Decimal;
use crate::ids::AgentId;
use serde::{Deserialize, Serialize};

/// The rolling spend window of `daily_usd`.
pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// The rolling count window of `max_tx_per_hour`.
pub const HOUR_MS: i64 = 60 * 60 * 1000;

/// A request to reserve `usd` for one action against the agent's caps.
///
/// The store counts the agent's reservations that are reserved or committed and were created
/// within the last 24 hours (`created_at > now - 24 h`) for the daily sum, and those created
/// within the last hour for the hourly count, and inserts this one only if both caps still hold
/// — all in one transaction, so concurrent reservations can never overrun a cap together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// Unique id of the reservation (e.g. the request id); a reused id is a conflict.
    pub id: String,
    /// The agent spending.
    pub agent: AgentId,
    /// USD value of the action.
    pub usd: Decimal,
    /// Current time; becomes the reservation's creation time.
    pub now_ms: i64,
    /// The policy's `daily_usd`: the reservation is refused if the window's sum would exceed it.
    pub daily_cap: Decimal,
    /// The policy's `max_tx_per_hour`: refused if this would be one more than that.
    pub max_tx_per_hour: u32,
    /// The server instance that holds it; after a crash another instance releases the
    /// reservations of an owner that is gone (see [`crate::Store::budget_orphans`]).
    pub owner: String,
    /// A sub-budget this reservation also counts against, if any.
    pub bucket: Option<Bucket>,
}

/// A sub-budget inside the agent's: the reservations tagged with `key` may not together exceed
/// `daily_cap` in the rolling 24 hours (x402 payments: one per paid site, `x402:<host>`). It is
/// checked in the same store transaction as the agent's caps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// What the reservations share (at most 300 bytes).
    pub key: String,
    /// The most they may add up to in 24 hours, USD.
    pub daily_cap: Decimal,
}

/// What [`crate::Store::budget_reserve`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum ReserveOutcome {
    /// The amount is reserved and counts against the caps until released.
    Reserved,
    /// Refused: `spent + usd` would exceed the daily cap. `spent` is the window's sum without
    /// this request.
    OverDaily {
        /// USD reserved or committed in the rolling 24 hours.
        spent: Decimal,
    },
    /// Refused: `spent + usd` would exceed the reservation's [`Bucket`] cap. `spent` is the
    /// bucket's 24 h sum without this request.
    OverBucket {
        /// USD reserved or committed under the bucket's key in the rolling 24 hours.
        spent: Decimal,
    },
    /// Refused: one more transaction would exceed `max_tx_per_hour`.
    OverHourly {
        /// Reservations in the rolling hour without this request.
        count: u32,
    },
}

/// An agent's live counters, as [`crate::Store::budget_usage`] reads them (reserved and
/// committed reservations; released ones do not count).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage24h {
    /// USD reserved or committed in the rolling 24 hours.
    pub spent_usd: Decimal,
    /// Reservations created in the rolling hour.
    pub tx_last_hour: u32,
}

/// Where an approval stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for operators.
    Pending,
    /// Quorum reached; may be claimed once for execution before it expires.
    Approved,
    /// An operator rejected it.
    Rejected,
    /// Its expiry passed before it was decided or executed.
    Expired,
    /// Claimed for execution (single use: it can never be claimed again).
    Executed,
}

impl ApprovalStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Executed => "executed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "rejected" => Self::Rejected,
            "expired" => Self::Expired,
            "executed" => Self::Executed,
            _ => return None,
        })
    }
}

/// A parked action awaiting (or past) operator approval. The approval is bound to the exact
/// transaction (`tx_hash`), the policy version it was judged under, and an expiry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// Public id.
    pub id: String,
    /// The agent whose action it is.
    pub agent: AgentId,
    /// The action name (`transfer`, `sign`, ...).
    pub action: String,
    /// The parked request (e.g. the intent and the serialized transaction, base64).
    pub request: serde_json::Value,
    /// Hex SHA-256 of the exact transaction or message bytes that will be signed.
    pub tx_hash: String,
    /// The agent's policy version the request was evaluated under.
    pub policy_version: u64,
    /// USD value, if the action has one.
    pub usd: Option<Decimal>,
    /// Distinct operator approvals needed.
    pub quorum: u32,
    /// Creation time.
    pub created_at_ms: i64,
    /// From this time on the approval can neither be voted on nor executed.
    pub expires_at_ms: i64,
    /// Current status.
    pub status: ApprovalStatus,
    /// Operators who approved, in voting order, each at most once.
    pub approvers: Vec<String>,
    /// The operator who rejected it, if one did.
    pub rejected_by: Option<String>,
}

/// What [`crate::Store::vote_approval`] did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum VoteOutcome {
    /// The approval was counted; quorum is not reached yet.
    Counted {
        /// Distinct approvals so far.
        approvals: u32,
        /// Approvals needed.
        quorum: u32,
    },
    /// This vote reached quorum: the record is now [`ApprovalStatus::Approved`].
    Approved,
    /// This vote rejected it: the record is now [`ApprovalStatus::Rejected`].
    Rejected,
    /// This operator has already voted on it; nothing changed.
    AlreadyVoted,
    /// It had expired; the record is now [`ApprovalStatus::Expired`] and the vote was refused.
    Expired,
    /// It is no longer pending; the vote was refused.
    NotPending {
        /// Its status.
        status: ApprovalStatus,
    },
    /// No approval has this id.
    NotFound,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn status_names_round_trip() {
        for s in [
            ApprovalStatus::Pending,
            ApprovalStatus::Approved,
            ApprovalStatus::Rejected,
            ApprovalStatus::Expired,
            ApprovalStatus::Executed,
        ] {
            assert_eq!(ApprovalStatus::parse(s.as_str()), Some(s));
            let json = serde_json::to_value(s).unwrap();
            assert_eq!(json, serde_json::Value::String(s.as_str().to_owned()));
        }
        assert_eq!(ApprovalStatus::parse("Pending"), None);
        assert_eq!(ApprovalStatus::parse(""), None);
    }

    #[test]
    fn outcomes_serialize_with_exact_amounts() {
        let o = ReserveOutcome::OverDaily {
            spent: "990.000000000000000001".parse().unwrap(),
        };
        assert_eq!(
            serde_json::to_value(o).unwrap(),
            serde_json::json!({"outcome": "over_daily", "spent": "990.000000000000000001"})
        );
        assert_eq!(
            serde_json::to_value(VoteOutcome::Counted {
                approvals: 1,
                quorum: 2
            })
            .unwrap(),
            serde_json::json!({"outcome": "counted", "approvals": 1, "quorum": 2})
        );
    }
}
