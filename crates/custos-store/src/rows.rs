//! What both backends share: the row shapes they read (both schemas use the same column names
//! and compatible types), their conversion into domain types, error mapping, and the hash-chain
//! arithmetic of an append.
use custos_core::audit::AuditOutcome;
use custos_core::{
    Agent, AgentId, ApiKeyRecord, AuditEntry, IdempotencyBegin, OperatorRole, OperatorTokenRecord,
    OtpRecord, SessionRecord, StoreError, StoredAudit,
};
use std::str::FromStr;

/// Rows written in one INSERT statement; keeps well under both SQLite's (32,766) and
/// PostgreSQL's (65,535) bind-parameter limits at 16 columns a row.
pub(crate) const AUDIT_INSERT_CHUNK: usize = 1000;

/// Maps a driver error: uniqueness violations become [`StoreError::Conflict`]. Only the
/// database's own message is kept — never bound values (which may be hashes).
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(d.message().to_owned())
        }
        sqlx::Error::Database(d) => StoreError::Database(d.message().to_owned()),
        _ => StoreError::Database(e.to_string()),
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

pub(crate) fn to_i64(v: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Database(format!("{what} out of range")))
}

fn to_u64(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| corrupt(what))
}

fn hash32(v: &[u8], what: &str) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(v).map_err(|_| corrupt(what))
}

fn agent_id(s: &str) -> Result<AgentId, StoreError> {
    AgentId::from_str(s).map_err(|_| corrupt("agent id"))
}

fn json(s: &str, what: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(s).map_err(|_| corrupt(what))
}

pub(crate) fn json_text(v: &serde_json::Value) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Database(format!("encoding JSON: {e}")))
}

#[derive(sqlx::FromRow)]
pub(crate) struct AgentRow {
    id: String,
    email: String,
    created_at_ms: i64,
    frozen: bool,
    policy: Option<String>,
    policy_version: i64,
    addresses: String,
}

impl AgentRow {
    /// The row from a `rusqlite` query naming these columns.
    pub(crate) fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get("id")?,
            email: row.get("email")?,
            created_at_ms: row.get("created_at_ms")?,
            frozen: row.get("frozen")?,
            policy: row.get("policy")?,
            policy_version: row.get("policy_version")?,
            addresses: row.get("addresses")?,
        })
    }

    pub(crate) fn into_agent(self) -> Result<Agent, StoreError> {
        Ok(Agent {
            id: agent_id(&self.id)?,
            email: self.email,
            created_at_ms: self.created_at_ms,
            frozen: self.frozen,
            policy: self
                .policy
                .as_deref()
                .map(|p| json(p, "agent policy"))
                .transpose()?,
            policy_version: to_u64(self.policy_version, "policy version")?,
            addresses: json(&self.addresses, "agent addresses")?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OtpRow {
    email: String,
    code_hash: Vec<u8>,
    expires_at_ms: i64,
    attempts: i64,
}

impl OtpRow {
    pub(crate) fn into_record(self) -> Result<OtpRecord, StoreError> {
        Ok(OtpRecord {
            email: self.email,
            code_hash: hash32(&self.code_hash, "otp code hash")?,
            expires_at_ms: self.expires_at_ms,
            attempts: to_u32(self.attempts)?,
        })
    }
}

/// The last record's id and hash as stored.
pub(crate) fn parse_head((id, hash): (i64, Vec<u8>)) -> Result<(u64, [u8; 32]), StoreError> {
    let id = u64::try_from(id).map_err(|_| StoreError::Corrupt("audit id".into()))?;
    let hash = <[u8; 32]>::try_from(hash.as_slice())
        .map_err(|_| StoreError::Corrupt("audit hash".into()))?;
    Ok((id, hash))
}

pub(crate) fn to_u32(v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| corrupt("otp attempt count"))
}

/// A session joined with its agent (authentication reads both in one query).
#[derive(sqlx::FromRow)]
pub(crate) struct SessionAgentRow {
    #[sqlx(flatten)]
    agent: AgentRow,
    session_id: String,
    expires_at_ms: i64,
}

impl SessionAgentRow {
    /// The row from a `rusqlite` query naming these columns.
    pub(crate) fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            agent: AgentRow::from_sqlite(row)?,
            session_id: row.get("session_id")?,
            expires_at_ms: row.get("expires_at_ms")?,
        })
    }

    pub(crate) fn into_pair(self) -> Result<(SessionRecord, Agent), StoreError> {
        let agent = self.agent.into_agent()?;
        Ok((
            SessionRecord {
                agent_id: agent.id,
                session_id: self.session_id,
                expires_at_ms: self.expires_at_ms,
            },
            agent,
        ))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    agent_id: String,
    session_id: String,
    expires_at_ms: i64,
}

impl SessionRow {
    pub(crate) fn into_record(self) -> Result<SessionRecord, StoreError> {
        Ok(SessionRecord {
            agent_id: agent_id(&self.agent_id)?,
            session_id: self.session_id,
            expires_at_ms: self.expires_at_ms,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    key_id: String,
    agent_id: String,
    key_hash: Vec<u8>,
    created_at_ms: i64,
    revoked_at_ms: Option<i64>,
    scopes: Option<String>,
}

impl ApiKeyRow {
    /// The row from a `rusqlite` query naming these columns.
    pub(crate) fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            key_id: row.get("key_id")?,
            agent_id: row.get("agent_id")?,
            key_hash: row.get("key_hash")?,
            created_at_ms: row.get("created_at_ms")?,
            revoked_at_ms: row.get("revoked_at_ms")?,
            scopes: row.get("scopes")?,
        })
    }

    pub(crate) fn into_record(self) -> Result<ApiKeyRecord, StoreError> {
        Ok(ApiKeyRecord {
            key_id: self.key_id,
            agent_id: agent_id(&self.agent_id)?,
            key_hash: hash32(&self.key_hash, "api key hash")?,
            created_at_ms: self.created_at_ms,
            revoked_at_ms: self.revoked_at_ms,
            scopes: self
                .scopes
                .as_deref()
                .map(custos_core::Scopes::from_text)
                .transpose()
                .map_err(|_| corrupt("api key scopes"))?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct OperatorTokenRow {
    token_id: String,
    token_hash: Vec<u8>,
    role: String,
    created_at_ms: i64,
    revoked_at_ms: Option<i64>,
}

impl OperatorTokenRow {
    /// The row from a `rusqlite` query naming these columns.
    pub(crate) fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            token_id: row.get("token_id")?,
            token_hash: row.get("token_hash")?,
            role: row.get("role")?,
            created_at_ms: row.get("created_at_ms")?,
            revoked_at_ms: row.get("revoked_at_ms")?,
        })
    }

    pub(crate) fn into_record(self) -> Result<OperatorTokenRecord, StoreError> {
        Ok(OperatorTokenRecord {
            token_id: self.token_id,
            token_hash: hash32(&self.token_hash, "operator token hash")?,
            role: OperatorRole::parse(&self.role).ok_or_else(|| corrupt("operator role"))?,
            created_at_ms: self.created_at_ms,
            revoked_at_ms: self.revoked_at_ms,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct IdempotencyRow {
    request_hash: Vec<u8>,
    status: Option<i64>,
    body: Option<Vec<u8>>,
}

impl IdempotencyRow {
    /// What a caller whose request hashes to `request_hash` finds in an existing claim.
    pub(crate) fn outcome(self, request_hash: &[u8; 32]) -> Result<IdempotencyBegin, StoreError> {
        if self.request_hash.as_slice() != request_hash.as_slice() {
            return Ok(IdempotencyBegin::Mismatch);
        }
        Ok(match self.status {
            None => IdempotencyBegin::InProgress,
            Some(s) => IdempotencyBegin::Replay {
                status: u16::try_from(s).map_err(|_| corrupt("idempotency status"))?,
                body: self.body.unwrap_or_default(),
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    id: i64,
    time_ms: i64,
    agent_id: Option<String>,
    operator: Option<String>,
    endpoint: String,
    action: String,
    params: String,
    usd_amount: Option<String>,
    token_amounts: String,
    tx: Option<String>,
    outcome: String,
    status: i64,
    reason: Option<String>,
    request_id: String,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

impl AuditRow {
    pub(crate) fn into_stored(self) -> Result<StoredAudit, StoreError> {
        Ok(StoredAudit {
            id: to_u64(self.id, "audit id")?,
            entry: AuditEntry {
                time_ms: self.time_ms,
                agent_id: self.agent_id.as_deref().map(agent_id).transpose()?,
                operator: self.operator,
                endpoint: self.endpoint,
                action: self.action,
                params: json(&self.params, "audit params")?,
                usd_amount: self.usd_amount,
                token_amounts: json(&self.token_amounts, "audit token amounts")?,
                tx: self.tx,
                outcome: AuditOutcome::parse(&self.outcome)
                    .ok_or_else(|| corrupt("audit outcome"))?,
                status: u16::try_from(self.status).map_err(|_| corrupt("audit status"))?,
                reason: self.reason,
                request_id: self.request_id,
            },
            prev_hash: hex::encode(self.prev_hash),
            hash: hex::encode(self.hash),
        })
    }
}

/// Columns of `audit`, in the order [`PreparedAudit`] binds them.
pub(crate) const AUDIT_COLUMNS: &str = "id, time_ms, agent_id, operator, endpoint, action, \
     params, usd_amount, token_amounts, tx, outcome, status, reason, request_id, prev_hash, hash";

/// One record ready to insert: the stored form returned to the caller plus its column values.
pub(crate) struct PreparedAudit {
    pub(crate) stored: StoredAudit,
    pub(crate) id: i64,
    pub(crate) agent_id: Option<String>,
    pub(crate) params: String,
    pub(crate) token_amounts: String,
    pub(crate) status: i64,
    pub(crate) prev: [u8; 32],
    pub(crate) hash: [u8; 32],
}

/// Chains `entries` onto `head` (the last stored record's id and hash, if any).
pub(crate) fn prepare_chain(
    entries: &[AuditEntry],
    head: Option<(i64, Vec<u8>)>,
) -> Result<Vec<PreparedAudit>, StoreError> {
    let (mut last_id, mut prev) = match head {
        Some((id, hash)) => (to_u64(id, "audit id")?, hash32(&hash, "audit hash")?),
        None => (0, custos_core::audit::GENESIS_HASH),
    };
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let id = last_id + 1;
        let hash = e.chain_hash(id, &prev);
        out.push(PreparedAudit {
            id: to_i64(id, "audit id")?,
            agent_id: e.agent_id.map(|a| a.to_string()),
            params: json_text(&e.params)?,
            token_amounts: json_text(&e.token_amounts)?,
            status: i64::from(e.status),
            prev,
            hash,
            stored: StoredAudit {
                id,
                entry: e.clone(),
                prev_hash: hex::encode(prev),
                hash: hex::encode(hash),
            },
        });
        last_id = id;
        prev = hash;
    }
    Ok(out)
}

/// A `webhook_deliveries` row as both back ends select it ([`DELIVERY_COLUMNS`]).
pub(crate) type DeliveryRow = (
    i64,
    String,
    i64,
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    i64,
    i64,
);

/// The columns of a [`DeliveryRow`], in order.
pub(crate) const DELIVERY_COLUMNS: &str = "id, agent_id, event_id, url, body, status, attempts, \
     next_at_ms, last_http_status, last_error, created_at_ms, updated_at_ms";

/// An outbox table both back ends claim from and record attempts on the same way.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Outbox {
    /// `webhook_deliveries`: agents' transaction status events ([`DeliveryRow`]).
    Webhooks,
    /// `alert_deliveries`: operator alerts ([`AlertRow`]).
    Alerts,
}

impl Outbox {
    /// The table.
    pub(crate) fn table(self) -> &'static str {
        match self {
            Self::Webhooks => "webhook_deliveries",
            Self::Alerts => "alert_deliveries",
        }
    }

    /// Its columns, in the order of its row type.
    pub(crate) fn columns(self) -> &'static str {
        match self {
            Self::Webhooks => DELIVERY_COLUMNS,
            Self::Alerts => ALERT_COLUMNS,
        }
    }
}

/// The delivery state columns of an outbox row: `(status, attempts, last_http_status)` parsed.
fn delivery_state(
    table: &str,
    status: &str,
    attempts: i64,
    last_http_status: Option<i64>,
) -> Result<(custos_core::DeliveryStatus, u32, Option<u16>), StoreError> {
    let bad = |what: &str| StoreError::Corrupt(format!("{table}.{what}"));
    Ok((
        custos_core::DeliveryStatus::parse(status).ok_or_else(|| bad("status"))?,
        to_u32(attempts)?,
        last_http_status
            .map(|s| u16::try_from(s).map_err(|_| bad("last_http_status")))
            .transpose()?,
    ))
}

/// A delivery from its row.
pub(crate) fn delivery(r: DeliveryRow) -> Result<custos_core::Delivery, StoreError> {
    let bad = |what: &str| StoreError::Corrupt(format!("webhook_deliveries.{what}"));
    let (status, attempts, last_http_status) =
        delivery_state("webhook_deliveries", &r.5, r.6, r.8)?;
    Ok(custos_core::Delivery {
        id: u64::try_from(r.0).map_err(|_| bad("id"))?,
        agent: r.1.parse().map_err(|_| bad("agent_id"))?,
        event_id: u64::try_from(r.2).map_err(|_| bad("event_id"))?,
        url: r.3,
        body: r.4,
        status,
        attempts,
        next_at_ms: r.7,
        last_http_status,
        last_error: r.9,
        created_at_ms: r.10,
        updated_at_ms: r.11,
    })
}

/// An `alert_deliveries` row as both back ends select it ([`ALERT_COLUMNS`]).
pub(crate) type AlertRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    i64,
    i64,
);

/// The columns of an [`AlertRow`], in order.
pub(crate) const ALERT_COLUMNS: &str = "id, rule, alert_key, url, body, status, attempts, \
     next_at_ms, last_http_status, last_error, created_at_ms, updated_at_ms";

/// An alert from its row.
pub(crate) fn alert(r: AlertRow) -> Result<custos_core::AlertDelivery, StoreError> {
    let (status, attempts, last_http_status) = delivery_state("alert_deliveries", &r.5, r.6, r.8)?;
    Ok(custos_core::AlertDelivery {
        id: u64::try_from(r.0).map_err(|_| StoreError::Corrupt("alert_deliveries.id".into()))?,
        rule: r.1,
        key: r.2,
        url: r.3,
        body: r.4,
        status,
        attempts,
        next_at_ms: r.7,
        last_http_status,
        last_error: r.9,
        created_at_ms: r.10,
        updated_at_ms: r.11,
    })
}

/// A webhook registration from its row `(agent_id, url, key_id, created_at_ms)`.
pub(crate) fn webhook(
    r: (String, String, String, i64),
) -> Result<custos_core::Webhook, StoreError> {
    Ok(custos_core::Webhook {
        agent: r
            .0
            .parse()
            .map_err(|_| StoreError::Corrupt("webhooks.agent_id".into()))?,
        url: r.1,
        key_id: r.2,
        created_at_ms: r.3,
    })
}

/// An operator account's stored document (the account without its `version`, which is a
/// column of its own).
pub(crate) fn account_doc(a: &custos_core::OperatorAccount) -> Result<String, StoreError> {
    serde_json::to_string(a).map_err(|e| StoreError::Database(format!("operator account: {e}")))
}

/// An operator account from its `(doc, version)` row.
pub(crate) fn account(r: (String, i64)) -> Result<custos_core::OperatorAccount, StoreError> {
    let mut a: custos_core::OperatorAccount = serde_json::from_str(&r.0)
        .map_err(|e| StoreError::Corrupt(format!("operator_accounts.doc: {e}")))?;
    a.version =
        u64::try_from(r.1).map_err(|_| StoreError::Corrupt("operator_accounts.version".into()))?;
    Ok(a)
}

/// A `console_sessions` row: `(id_hash, operator_id, created_at_ms, expires_at_ms,
/// totp_fresh_until_ms)`.
pub(crate) type ConsoleSessionRow = (Vec<u8>, String, i64, i64, Option<i64>);

/// A console session from its row.
pub(crate) fn console_session(
    r: ConsoleSessionRow,
) -> Result<custos_core::ConsoleSession, StoreError> {
    Ok(custos_core::ConsoleSession {
        id_hash: r
            .0
            .try_into()
            .map_err(|_| StoreError::Corrupt("console_sessions.id_hash".into()))?,
        operator_id: r.1,
        created_at_ms: r.2,
        expires_at_ms: r.3,
        totp_fresh_until_ms: r.4,
    })
}
