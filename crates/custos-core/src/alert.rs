//! Operator alerts: conditions the server noticed (a burst of denials, a large transaction,
//! repeated failed logins, a frozen agent, an enclave restart, a failed audit checkpoint, a key
//! due for rotation), kept in a durable outbox and posted, signed, to the operators' receiver.
//!
//! An alert has a `key` that names the occurrence (`denial_burst:<agent>:<window>`,
//! `large_transaction:<tx>`, …): the outbox holds each key once, so two replicas that notice the
//! same thing, or one that notices it twice, raise one alert. Attempts and their outcomes use
//! the status webhooks' types ([`crate::DeliveryStatus`], [`crate::Attempt`]).
use crate::webhook::DeliveryStatus;
use serde::{Deserialize, Serialize};

/// An alert to queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAlert {
    /// The rule that raised it (`denial_burst`, `large_transaction`, …).
    pub rule: String,
    /// Names this occurrence; unique in the outbox.
    pub key: String,
    /// Where it goes.
    pub url: String,
    /// The JSON body, exactly as it is signed and sent.
    pub body: String,
    /// When it was raised (also its first attempt's time).
    pub created_at_ms: i64,
}

/// A queued alert with its delivery state (the alert delivery log).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertDelivery {
    /// Outbox id, increasing.
    pub id: u64,
    /// The rule that raised it.
    pub rule: String,
    /// Names the occurrence.
    pub key: String,
    /// Where it goes.
    pub url: String,
    /// The JSON body.
    pub body: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// The next attempt, for a pending one.
    pub next_at_ms: i64,
    /// The last attempt's HTTP status, if one came back.
    pub last_http_status: Option<u16>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When it was raised.
    pub created_at_ms: i64,
    /// When it last changed.
    pub updated_at_ms: i64,
}
