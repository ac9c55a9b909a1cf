//! The storage interface. The pipeline talks only to [`Store`]; SQLite (the embedded default)
//! and PostgreSQL implement it in `custos-store`. Only hashes of OTPs, tokens and API keys are
//! ever handed to a store.
use crate::ledger::{
    ApprovalRecord, ApprovalStatus, Reservation, ReserveOutcome, Usage24h, VoteOutcome,
};
use crate::{AgentId, AuditEntry, StoredAudit};
use serde::{Deserialize, Serialize};

/// An agent (one wallet identity).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// Id.
    pub id: AgentId,
    /// Login email (lower-cased).
    pub email: String,
    /// Creation time.
    pub created_at_ms: i64,
    /// Whether every action is refused.
    pub frozen: bool,
    /// The agent's policy document, if one was set (otherwise the server default applies).
    pub policy: Option<serde_json::Value>,
    /// Increments with each policy change; 0 = never set.
    pub policy_version: u64,
    /// Chain addresses by family (`{"solana": "...", "evm": "0x..."}`).
    pub addresses: serde_json::Value,
}

/// What is needed to create an agent.
#[derive(Clone, Debug)]
pub struct NewAgent {
    /// Id (keys are created for it in the boundary before it is stored).
    pub id: AgentId,
    /// Lower-cased email.
    pub email: String,
    /// Creation time.
    pub created_at_ms: i64,
    /// Chain addresses.
    pub addresses: serde_json::Value,
}

/// A pending one-time code (hashed).
#[derive(Clone, Debug)]
pub struct OtpRecord {
    /// Email it was sent to.
    pub email: String,
    /// Keyed hash of the code.
    pub code_hash: [u8; 32],
    /// Expiry.
    pub expires_at_ms: i64,
    /// Wrong guesses so far.
    pub attempts: u32,
}

/// The one live session of an agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// Agent.
    pub agent_id: AgentId,
    /// The `jti` of the only token that is accepted.
    pub session_id: String,
    /// Expiry.
    pub expires_at_ms: i64,
}

/// An agent API key (hashed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Public id of the key.
    pub key_id: String,
    /// Owner.
    pub agent_id: AgentId,
    /// SHA-256 of the key.
    pub key_hash: [u8; 32],
    /// Creation time.
    pub created_at_ms: i64,
    /// Revocation time, if revoked.
    pub revoked_at_ms: Option<i64>,
    /// What the key may do; `None`: every scope ([`crate::scope`]).
    pub scopes: Option<crate::Scopes>,
}

/// An operator's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperatorRole {
    /// Read-only.
    Viewer,
    /// Approvals, freezes, API keys.
    Operator,
    /// Everything, including policies.
    Admin,
}

impl OperatorRole {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }
    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "viewer" => Self::Viewer,
            "operator" => Self::Operator,
            "admin" => Self::Admin,
            _ => return None,
        })
    }
}

/// An operator bearer token (hashed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorTokenRecord {
    /// Public id.
    pub token_id: String,
    /// SHA-256 of the token.
    pub token_hash: [u8; 32],
    /// Role.
    pub role: OperatorRole,
    /// Creation time.
    pub created_at_ms: i64,
    /// Revocation time, if revoked.
    pub revoked_at_ms: Option<i64>,
}

/// Result of claiming an idempotency key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// First use: the caller owns the key and must complete or abandon it.
    Started,
    /// Already completed with the same request: replay this response.
    Replay {
        /// HTTP status.
        status: u16,
        /// Response body.
        body: Vec<u8>,
    },
    /// A request with the same key is still running.
    InProgress,
    /// The key was used with a different request.
    Mismatch,
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A uniqueness rule was violated (e.g. the email exists).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database refused or failed.
    #[error("database error: {0}")]
    Database(String),
    /// Stored data could not be decoded (corruption or a bug).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
}

/// Everything the pipeline persists.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    // ---- agents ----
    /// Creates an agent; [`StoreError::Conflict`] if the email exists.
    async fn create_agent(&self, new: NewAgent) -> Result<Agent, StoreError>;
    /// Looks an agent up by (lower-cased) email.
    async fn agent_by_email(&self, email: &str) -> Result<Option<Agent>, StoreError>;
    /// Looks an agent up by id.
    async fn agent(&self, id: AgentId) -> Result<Option<Agent>, StoreError>;
    /// Agents ordered by creation, `limit` at most, after `after` if given.
    async fn list_agents(
        &self,
        limit: u32,
        after: Option<AgentId>,
    ) -> Result<Vec<Agent>, StoreError>;
    /// Sets the frozen flag; false if the agent does not exist.
    async fn set_frozen(&self, id: AgentId, frozen: bool) -> Result<bool, StoreError>;
    /// Replaces the agent's public addresses (after a key rotation); false if no such agent.
    async fn set_addresses(
        &self,
        id: AgentId,
        addresses: serde_json::Value,
    ) -> Result<bool, StoreError>;
    /// Replaces the policy; returns the new version, or None if the agent does not exist.
    async fn set_policy(
        &self,
        id: AgentId,
        policy: serde_json::Value,
    ) -> Result<Option<u64>, StoreError>;

    // ---- one-time codes ----
    /// Stores a code for `email`, replacing any previous one.
    async fn put_otp(&self, rec: OtpRecord) -> Result<(), StoreError>;
    /// The pending code for `email`.
    async fn otp(&self, email: &str) -> Result<Option<OtpRecord>, StoreError>;
    /// Counts a wrong guess; returns the new count.
    async fn record_otp_failure(&self, email: &str) -> Result<u32, StoreError>;
    /// Deletes the code if its hash is still `code_hash`; true if this call consumed it (so two
    /// concurrent verifications of one code cannot both succeed).
    async fn consume_otp(&self, email: &str, code_hash: &[u8; 32]) -> Result<bool, StoreError>;
    /// Deletes the code for `email`.
    async fn delete_otp(&self, email: &str) -> Result<(), StoreError>;
    /// Deletes expired codes; returns how many.
    async fn purge_expired_otps(&self, now_ms: i64) -> Result<u64, StoreError>;

    // ---- sessions ----
    /// Makes `rec` the agent's only session (replacing any previous one).
    async fn replace_session(&self, rec: SessionRecord) -> Result<(), StoreError>;
    /// The agent's current session.
    async fn session(&self, agent: AgentId) -> Result<Option<SessionRecord>, StoreError>;
    /// The agent's current session and the agent, read together (one query, one snapshot):
    /// what authenticating a session token needs. `None` if either is missing.
    async fn session_and_agent(
        &self,
        agent: AgentId,
    ) -> Result<Option<(SessionRecord, Agent)>, StoreError>;

    // ---- API keys ----
    /// Stores a new API key hash.
    async fn create_api_key(&self, rec: ApiKeyRecord) -> Result<(), StoreError>;
    /// Finds a non-revoked key by hash.
    async fn api_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Revokes; false if no such live key for that agent.
    async fn revoke_api_key(
        &self,
        agent: AgentId,
        key_id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// The agent's keys (revoked ones included).
    async fn list_api_keys(&self, agent: AgentId) -> Result<Vec<ApiKeyRecord>, StoreError>;

    // ---- operator tokens ----
    /// Stores a new operator token hash.
    async fn create_operator_token(&self, rec: OperatorTokenRecord) -> Result<(), StoreError>;
    /// Finds a non-revoked operator token by hash.
    async fn operator_token_by_hash(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<OperatorTokenRecord>, StoreError>;

    // ---- idempotency ----
    /// Atomically claims `(scope, key)` for a request whose canonical hash is `request_hash`,
    /// on behalf of server instance `owner`.
    async fn idempotency_begin(
        &self,
        scope: &str,
        key: &str,
        request_hash: &[u8; 32],
        now_ms: i64,
        owner: &str,
    ) -> Result<IdempotencyBegin, StoreError>;
    /// Stores the final response for a claimed key.
    async fn idempotency_complete(
        &self,
        scope: &str,
        key: &str,
        status: u16,
        body: &[u8],
    ) -> Result<(), StoreError>;
    /// Releases a claimed key without a response (the request did nothing and may be retried).
    async fn idempotency_abandon(&self, scope: &str, key: &str) -> Result<(), StoreError>;
    /// Deletes *answered* entries created before `before_ms`. A claim still in progress is
    /// never purged: its transaction's fate may be unknown, and forgetting the key would let a
    /// retry pay twice.
    async fn purge_idempotency(&self, before_ms: i64) -> Result<u64, StoreError>;
    /// Gives up ownership of a claim that stays in progress (its transaction was broadcast but
    /// its outcome is not known): the recovery pass answers it once the chain does.
    async fn idempotency_disown(&self, scope: &str, key: &str) -> Result<(), StoreError>;
    /// Claims in progress that no live request will answer: owned by another instance than
    /// `owner` (or disowned), created before `before_ms`, and not waiting on an in-flight
    /// transaction. At most `limit`.
    async fn idempotency_orphans(
        &self,
        owner: &str,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<crate::IdempotencyRef>, StoreError>;

    // ---- in-flight transactions (see `custos_core::in_flight`) ----
    /// Records a signed transaction about to be broadcast; durable when this returns.
    async fn in_flight_put(&self, tx: &crate::InFlightTx) -> Result<(), StoreError>;
    /// Replaces the entry `current` (as read) by `next` (same `tx_id`) if nothing changed it
    /// since it was read; `false` if something did (or it was settled). Adds a replacement
    /// transaction to an entry before it is broadcast.
    async fn in_flight_swap(
        &self,
        current: &crate::InFlightTx,
        next: &crate::InFlightTx,
    ) -> Result<bool, StoreError>;
    /// The oldest in-flight transactions, at most `limit`.
    async fn in_flight_list(&self, limit: u32) -> Result<Vec<crate::InFlightTx>, StoreError>;
    /// Settles one in a single transaction: its reservation is committed against the
    /// transaction (`landed`) or released, and the row removed. Settling again is a no-op.
    async fn in_flight_settle(
        &self,
        tx_id: &str,
        landed: bool,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// Audit records naming chain transaction `tx`, ascending. A signed message's record names
    /// its signature in `tx` too, but a message is not a transaction: such records (params
    /// `chain` = `"message"`) are not returned.
    async fn audit_by_tx(&self, tx: &str) -> Result<Vec<StoredAudit>, StoreError>;

    // ---- audit ----
    /// Appends `entries` in order, in one transaction, extending the hash chain; returns them
    /// as stored. Either all are stored or none.
    async fn audit_append(&self, entries: &[AuditEntry]) -> Result<Vec<StoredAudit>, StoreError>;
    /// Records with id > `after`, ascending, at most `limit`, optionally for one agent.
    async fn audit_page(
        &self,
        agent: Option<AgentId>,
        after: u64,
        limit: u32,
    ) -> Result<Vec<StoredAudit>, StoreError>;
    /// The last record's id and hash, if any.
    async fn audit_head(&self) -> Result<Option<(u64, [u8; 32])>, StoreError>;
    /// Stores a signed checkpoint of the chain head (JSON of `AuditCheckpoint`).
    async fn put_audit_checkpoint(
        &self,
        seq: u64,
        checkpoint: serde_json::Value,
    ) -> Result<(), StoreError>;
    /// All stored checkpoints, ascending by seq.
    async fn audit_checkpoints(&self) -> Result<Vec<serde_json::Value>, StoreError>;

    // ---- budget ledger ----
    /// Atomically (one transaction, serialized per agent) checks the agent's rolling 24 h sum
    /// and 1 h count of reserved and committed reservations against `r`'s caps and, if both
    /// hold with this one added, inserts it as reserved. Refusals store nothing.
    /// [`StoreError::Conflict`] if the id was used before.
    async fn budget_reserve(&self, r: Reservation) -> Result<ReserveOutcome, StoreError>;
    /// Marks a reservation committed (the action confirmed as transaction `tx`); it keeps
    /// counting. False if there is no such reservation in the reserved state.
    async fn budget_commit(&self, id: &str, tx: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// Releases a reservation (the action failed); it stops counting. False if there is no
    /// such reservation in the reserved state (a committed one cannot be released).
    async fn budget_release(&self, id: &str) -> Result<bool, StoreError>;
    /// Lowers the amount of `agent`'s committed reservation for `tx` to `usd`, when the action
    /// turned out to cost less than was reserved (a limit order filled below its limit, or
    /// cancelled before it filled); never raises it. False if `agent` has no committed
    /// reservation for `tx`.
    async fn budget_settle(
        &self,
        agent: AgentId,
        tx: &str,
        usd: crate::Decimal,
    ) -> Result<bool, StoreError>;
    /// Reservations still `reserved` that no live request will resolve: held by another
    /// instance than `owner`, created before `before_ms`, not held by an in-flight transaction.
    /// At most `limit`.
    async fn budget_orphans(
        &self,
        owner: &str,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError>;
    /// The agent's reserved and committed USD in the 24 h before `now_ms` and its reservations
    /// in the hour before it.
    async fn budget_usage(&self, agent: AgentId, now_ms: i64) -> Result<Usage24h, StoreError>;

    // ---- approvals ----
    /// Stores a new approval record; [`StoreError::Conflict`] if the id exists.
    async fn create_approval(&self, rec: ApprovalRecord) -> Result<(), StoreError>;
    /// One approval by id.
    async fn approval(&self, id: &str) -> Result<Option<ApprovalRecord>, StoreError>;
    /// Approvals (with the given status, or all), oldest first, at most `limit`.
    async fn list_approvals(
        &self,
        status: Option<ApprovalStatus>,
        limit: u32,
    ) -> Result<Vec<ApprovalRecord>, StoreError>;
    /// Atomically records `operator`'s vote. Only a pending, unexpired record takes votes (an
    /// expired one is marked expired); each operator counts once; `quorum` distinct approvals
    /// approve it, a single rejection rejects it.
    async fn vote_approval(
        &self,
        id: &str,
        operator: &str,
        approve: bool,
        now_ms: i64,
    ) -> Result<VoteOutcome, StoreError>;
    /// Atomically moves an approved, unexpired record to executed and returns it; `None`
    /// otherwise. Of concurrent claims exactly one gets the record.
    async fn claim_approval(
        &self,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<ApprovalRecord>, StoreError>;
    /// Marks pending and approved records whose expiry is at or before `now_ms` expired;
    /// returns how many.
    async fn expire_approvals(&self, now_ms: i64) -> Result<u64, StoreError>;

    // ---- status webhooks (see `custos_core::webhook`) ----
    /// Registers (or replaces) the agent's webhook.
    async fn webhook_put(&self, w: &crate::Webhook) -> Result<(), StoreError>;
    /// The agent's webhook.
    async fn webhook(&self, agent: AgentId) -> Result<Option<crate::Webhook>, StoreError>;
    /// Removes the agent's webhook (its queued deliveries are dropped); `false` if it had none.
    async fn webhook_delete(&self, agent: AgentId) -> Result<bool, StoreError>;
    /// The audit record id up to which events have been queued; `None` before the first pass.
    async fn webhook_cursor(&self) -> Result<Option<u64>, StoreError>;
    /// Queues `deliveries` (one per agent and event: a duplicate is ignored) and moves the cursor
    /// from `from` to `to`, in one transaction — only if the cursor is still `from` (two servers
    /// reading the log at once queue each event once); `false` if it moved meanwhile.
    async fn webhook_enqueue(
        &self,
        from: Option<u64>,
        to: u64,
        deliveries: &[crate::NewDelivery],
    ) -> Result<bool, StoreError>;
    /// Pending deliveries due at `now_ms`, oldest first, at most `limit` — claimed: their next
    /// attempt moves to `now_ms + lease_ms`, so no other worker takes them meanwhile.
    async fn webhook_claim_due(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<crate::Delivery>, StoreError>;
    /// Records an attempt on delivery `id`.
    async fn webhook_attempted(&self, id: u64, attempt: &crate::Attempt) -> Result<(), StoreError>;
    /// The agent's deliveries with id > `after`, oldest first, at most `limit` (the log).
    async fn webhook_deliveries(
        &self,
        agent: AgentId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<crate::Delivery>, StoreError>;

    // ---- operator alerts (see `custos_core::alert`) ----
    /// Queues `alerts`, each key at most once ever (a key already queued is ignored); returns
    /// how many were new.
    async fn alert_raise(&self, alerts: &[crate::NewAlert]) -> Result<u32, StoreError>;
    /// Pending alerts due at `now_ms`, oldest first, at most `limit` — claimed like
    /// [`Store::webhook_claim_due`].
    async fn alert_claim_due(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<crate::AlertDelivery>, StoreError>;
    /// Records an attempt on alert `id`.
    async fn alert_attempted(&self, id: u64, attempt: &crate::Attempt) -> Result<(), StoreError>;
    /// Alerts with id > `after`, oldest first, at most `limit` (the alert delivery log).
    async fn alert_deliveries(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<crate::AlertDelivery>, StoreError>;

    // ---- operator accounts and console sessions (see `custos_core::operator`) ----
    /// Creates an account; `Conflict` if its email or id exists.
    async fn operator_account_create(
        &self,
        account: &crate::OperatorAccount,
    ) -> Result<(), StoreError>;
    /// The account with this id.
    async fn operator_account(
        &self,
        id: &str,
    ) -> Result<Option<crate::OperatorAccount>, StoreError>;
    /// The account with this (lower-case) email.
    async fn operator_account_by_email(
        &self,
        email: &str,
    ) -> Result<Option<crate::OperatorAccount>, StoreError>;
    /// Stores `account` if the stored one still has `account.version`, as version + 1; `false`
    /// if it changed meanwhile (read it again and redo the change).
    async fn operator_account_update(
        &self,
        account: &crate::OperatorAccount,
    ) -> Result<bool, StoreError>;
    /// Accounts in email order after `after`, at most `limit`.
    async fn operator_accounts(
        &self,
        limit: u32,
        after: Option<&str>,
    ) -> Result<Vec<crate::OperatorAccount>, StoreError>;
    /// Stores a new console session.
    async fn console_session_put(&self, s: &crate::ConsoleSession) -> Result<(), StoreError>;
    /// The session whose cookie hashes to `id_hash`.
    async fn console_session(
        &self,
        id_hash: &[u8; 32],
    ) -> Result<Option<crate::ConsoleSession>, StoreError>;
    /// Sets until when the session may take admin actions; `false` if it is gone.
    async fn console_session_fresh(
        &self,
        id_hash: &[u8; 32],
        until_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Ends a session (a no-op if it is gone).
    async fn console_session_delete(&self, id_hash: &[u8; 32]) -> Result<(), StoreError>;
    /// Ends every session of an operator (their role changed, or they were disabled).
    async fn console_sessions_end(&self, operator_id: &str) -> Result<u64, StoreError>;

    /// Cheap liveness check.
    async fn health(&self) -> Result<(), StoreError>;
}
