//! Status webhooks: an agent's registered endpoint, and the durable outbox of deliveries to it.
//!
//! A server turns the audit log into events (each new record about one of the agent's
//! transactions is one event, its id the record's) and queues a delivery per event; a worker
//! posts them, signed, and retries with backoff. The store keeps the registration, the outbox
//! with every attempt's outcome (the delivery log) and how far the audit log has been read, so
//! nothing is lost or sent twice across restarts and replicas (a receiver still dedupes by event
//! id: delivery is at least once).
use crate::ids::AgentId;
use serde::{Deserialize, Serialize};

/// An agent's webhook. The signing secret is not stored: it is derived from the server's
/// webhook root key and `key_id`, so a copy of the database cannot forge deliveries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// The agent.
    pub agent: AgentId,
    /// Where deliveries are posted.
    pub url: String,
    /// Names the secret (a random value; a new registration gets a new one).
    pub key_id: String,
    /// When it was registered.
    pub created_at_ms: i64,
}

/// A delivery to queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDelivery {
    /// The agent whose event it is.
    pub agent: AgentId,
    /// The event's id (the audit record's).
    pub event_id: u64,
    /// Where it goes.
    pub url: String,
    /// The JSON body, exactly as it is signed and sent.
    pub body: String,
    /// When it was queued (also its first attempt's time).
    pub created_at_ms: i64,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet; attempted again at `next_at_ms`.
    Pending,
    /// A 2xx answer.
    Delivered,
    /// Given up after the last attempt.
    Failed,
}

impl DeliveryStatus {
    /// `pending`, `delivered`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// The inverse of [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// A queued delivery and its attempts so far.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Its id.
    pub id: u64,
    /// The agent.
    pub agent: AgentId,
    /// The event (audit record) id.
    pub event_id: u64,
    /// The endpoint.
    pub url: String,
    /// The body sent.
    pub body: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// The next attempt (pending ones).
    pub next_at_ms: i64,
    /// The last attempt's HTTP status, if one came back.
    pub last_http_status: Option<u16>,
    /// The last attempt's failure, if it failed.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at_ms: i64,
    /// When it last changed.
    pub updated_at_ms: i64,
}

/// One attempt's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// Delivered, pending (retry at `next_at_ms`) or failed for good.
    pub status: DeliveryStatus,
    /// The HTTP status, if one came back.
    pub http_status: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// The next attempt, for a pending one.
    pub next_at_ms: i64,
    /// Now.
    pub now_ms: i64,
}
