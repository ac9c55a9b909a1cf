//! The PostgreSQL backend, for many stateless API replicas sharing one database.
use crate::ledger::{
    apply_vote, bucket_decision, parse_sum, reserve_decision, vote_changes, ApprovalColumns,
    ApprovalRow, APPROVAL_COLUMNS, COMMITTED, PG_BUDGET_LOCK_CLASS, RELEASED, RESERVED,
};
use crate::rows::{
    db_err, json_text, parse_head, prepare_chain, to_i64, to_u32, AgentRow, ApiKeyRow, AuditRow,
    IdempotencyRow, OperatorTokenRow, OtpRow, SessionAgentRow, SessionRow, AUDIT_COLUMNS,
    AUDIT_INSERT_CHUNK,
};
use custos_core::ledger::{DAY_MS, HOUR_MS};
use custos_core::{
    Agent, AgentId, ApiKeyRecord, ApprovalRecord, ApprovalStatus, AuditEntry, IdempotencyBegin,
    NewAgent, OperatorTokenRecord, OtpRecord, Reservation, ReserveOutcome, SessionRecord, Store,
    StoreError, StoredAudit, Usage24h, VoteOutcome,
};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, QueryBuilder};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Connections per store unless the caller chooses.
const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// The PostgreSQL store. Several API replicas may share one database: every operation is a
/// single statement or a transaction that is safe under concurrency, and audit appends take
/// an exclusive lock on the `audit` table (readers are not blocked) so the chain stays linear.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pub(crate) pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (e.g. `postgres://user@host/db`; libpq-style `options` such as
    /// `?options[search_path]=custos` are honoured) with up to 10 connections and brings the
    /// schema up to date.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_max_connections(url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// [`Self::connect`] with a chosen pool size.
    pub async fn connect_with_max_connections(
        url: &str,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .connect(url)
            .await
            .map_err(db_err)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("migrating the schema: {e}")))?;
        Ok(Self { pool })
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn create_agent(&self, new: NewAgent) -> Result<Agent, StoreError> {
        let addresses = json_text(&new.addresses)?;
        sqlx::query(
            "INSERT INTO agents (id, email, created_at_ms, addresses) VALUES ($1, $2, $3, $4)",
        )
        .bind(new.id.to_string())
        .bind(&new.email)
        .bind(new.created_at_ms)
        .bind(addresses)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(Agent {
            id: new.id,
            email: new.email,
            created_at_ms: new.created_at_ms,
            frozen: false,
            policy: None,
            policy_version: 0,
            addresses: new.addresses,
        })
    }

    async fn agent_by_email(&self, email: &str) -> Result<Option<Agent>, StoreError> {
        sqlx::query_as::<_, AgentRow>("SELECT * FROM agents WHERE email = $1")
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(AgentRow::into_agent)
            .transpose()
    }

    async fn agent(&self, id: AgentId) -> Result<Option<Agent>, StoreError> {
        sqlx::query_as::<_, AgentRow>("SELECT * FROM agents WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(AgentRow::into_agent)
            .transpose()
    }

    async fn list_agents(
        &self,
        limit: u32,
        after: Option<AgentId>,
    ) -> Result<Vec<Agent>, StoreError> {
        let rows = match after {
            None => {
                sqlx::query_as::<_, AgentRow>(
                    "SELECT * FROM agents ORDER BY created_at_ms, seq LIMIT $1",
                )
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
            }
            Some(after) => {
                sqlx::query_as::<_, AgentRow>(
                    "SELECT * FROM agents \
                     WHERE (created_at_ms, seq) > \
                           (SELECT created_at_ms, seq FROM agents WHERE id = $1) \
                     ORDER BY created_at_ms, seq LIMIT $2",
                )
                .bind(after.to_string())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(db_err)?;
        rows.into_iter().map(AgentRow::into_agent).collect()
    }

    async fn set_frozen(&self, id: AgentId, frozen: bool) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE agents SET frozen = $1 WHERE id = $2")
            .bind(frozen)
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_addresses(
        &self,
        id: AgentId,
        addresses: serde_json::Value,
    ) -> Result<bool, StoreError> {
        let text = json_text(&addresses)?;
        let done = sqlx::query("UPDATE agents SET addresses = $1 WHERE id = $2")
            .bind(text)
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_policy(
        &self,
        id: AgentId,
        policy: serde_json::Value,
    ) -> Result<Option<u64>, StoreError> {
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE agents SET policy = $1, policy_version = policy_version + 1 \
             WHERE id = $2 RETURNING policy_version",
        )
        .bind(json_text(&policy)?)
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        version
            .map(|v| u64::try_from(v).map_err(|_| StoreError::Corrupt("policy version".into())))
            .transpose()
    }

    async fn put_otp(&self, rec: OtpRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO otps (email, code_hash, expires_at_ms, attempts) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (email) DO UPDATE SET code_hash = excluded.code_hash, \
             expires_at_ms = excluded.expires_at_ms, attempts = excluded.attempts",
        )
        .bind(&rec.email)
        .bind(&rec.code_hash[..])
        .bind(rec.expires_at_ms)
        .bind(i64::from(rec.attempts))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn otp(&self, email: &str) -> Result<Option<OtpRecord>, StoreError> {
        sqlx::query_as::<_, OtpRow>("SELECT * FROM otps WHERE email = $1")
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(OtpRow::into_record)
            .transpose()
    }

    async fn record_otp_failure(&self, email: &str) -> Result<u32, StoreError> {
        let attempts: Option<i64> = sqlx::query_scalar(
            "UPDATE otps SET attempts = attempts + 1 WHERE email = $1 RETURNING attempts",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        attempts.map_or(Ok(0), to_u32)
    }

    async fn consume_otp(&self, email: &str, code_hash: &[u8; 32]) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM otps WHERE email = $1 AND code_hash = $2")
            .bind(email)
            .bind(&code_hash[..])
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_otp(&self, email: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM otps WHERE email = $1")
            .bind(email)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn purge_expired_otps(&self, now_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM otps WHERE expires_at_ms < $1")
            .bind(now_ms)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn replace_session(&self, rec: SessionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (agent_id, session_id, expires_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (agent_id) DO UPDATE SET session_id = excluded.session_id, \
             expires_at_ms = excluded.expires_at_ms",
        )
        .bind(rec.agent_id.to_string())
        .bind(&rec.session_id)
        .bind(rec.expires_at_ms)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn session(&self, agent: AgentId) -> Result<Option<SessionRecord>, StoreError> {
        sqlx::query_as::<_, SessionRow>("SELECT * FROM sessions WHERE agent_id = $1")
            .bind(agent.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(SessionRow::into_record)
            .transpose()
    }

    async fn session_and_agent(
        &self,
        agent: AgentId,
    ) -> Result<Option<(SessionRecord, Agent)>, StoreError> {
        sqlx::query_as::<_, SessionAgentRow>(
            "SELECT a.id, a.email, a.created_at_ms, a.frozen, a.policy, a.policy_version, \
             a.addresses, s.session_id, s.expires_at_ms \
             FROM sessions s JOIN agents a ON a.id = s.agent_id WHERE s.agent_id = $1",
        )
        .bind(agent.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .map(SessionAgentRow::into_pair)
        .transpose()
    }

    async fn create_api_key(&self, rec: ApiKeyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys \
             (key_id, agent_id, key_hash, created_at_ms, revoked_at_ms, scopes) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&rec.key_id)
        .bind(rec.agent_id.to_string())
        .bind(&rec.key_hash[..])
        .bind(rec.created_at_ms)
        .bind(rec.revoked_at_ms)
        .bind(rec.scopes.as_ref().map(custos_core::Scopes::to_text))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn api_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKeyRecord>, StoreError> {
        sqlx::query_as::<_, ApiKeyRow>(
            "SELECT * FROM api_keys WHERE key_hash = $1 AND revoked_at_ms IS NULL",
        )
        .bind(&hash[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .map(ApiKeyRow::into_record)
        .transpose()
    }

    async fn revoke_api_key(
        &self,
        agent: AgentId,
        key_id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = $1 \
             WHERE agent_id = $2 AND key_id = $3 AND revoked_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(agent.to_string())
        .bind(key_id)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_api_keys(&self, agent: AgentId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        sqlx::query_as::<_, ApiKeyRow>(
            "SELECT * FROM api_keys WHERE agent_id = $1 ORDER BY created_at_ms, key_id",
        )
        .bind(agent.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(ApiKeyRow::into_record)
        .collect()
    }

    async fn create_operator_token(&self, rec: OperatorTokenRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO operator_tokens \
             (token_id, token_hash, role, created_at_ms, revoked_at_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&rec.token_id)
        .bind(&rec.token_hash[..])
        .bind(rec.role.as_str())
        .bind(rec.created_at_ms)
        .bind(rec.revoked_at_ms)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn operator_token_by_hash(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<OperatorTokenRecord>, StoreError> {
        sqlx::query_as::<_, OperatorTokenRow>(
            "SELECT * FROM operator_tokens WHERE token_hash = $1 AND revoked_at_ms IS NULL",
        )
        .bind(&hash[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .map(OperatorTokenRow::into_record)
        .transpose()
    }

    async fn idempotency_begin(
        &self,
        scope: &str,
        key: &str,
        request_hash: &[u8; 32],
        now_ms: i64,
        owner: &str,
    ) -> Result<IdempotencyBegin, StoreError> {
        // The primary key makes the claim atomic. If the row we collide with is abandoned
        // before we read it, the key is free again: try once more rather than report a
        // request that no longer exists.
        for _ in 0..3 {
            let claimed = sqlx::query(
                "INSERT INTO idempotency (scope, idem_key, request_hash, created_at_ms, owner) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope, idem_key) DO NOTHING",
            )
            .bind(scope)
            .bind(key)
            .bind(&request_hash[..])
            .bind(now_ms)
            .bind(owner)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
            if claimed.rows_affected() == 1 {
                return Ok(IdempotencyBegin::Started);
            }
            let existing = sqlx::query_as::<_, IdempotencyRow>(
                "SELECT request_hash, status, body FROM idempotency \
                 WHERE scope = $1 AND idem_key = $2",
            )
            .bind(scope)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
            if let Some(row) = existing {
                return row.outcome(request_hash);
            }
        }
        Ok(IdempotencyBegin::InProgress)
    }

    async fn idempotency_complete(
        &self,
        scope: &str,
        key: &str,
        status: u16,
        body: &[u8],
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE idempotency SET status = $1, body = $2 \
             WHERE scope = $3 AND idem_key = $4 AND status IS NULL",
        )
        .bind(i64::from(status))
        .bind(body)
        .bind(scope)
        .bind(key)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if done.rows_affected() != 1 {
            tracing::warn!(
                scope,
                "idempotency_complete for a key that was not in progress"
            );
        }
        Ok(())
    }

    async fn idempotency_abandon(&self, scope: &str, key: &str) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM idempotency WHERE scope = $1 AND idem_key = $2 AND status IS NULL",
        )
        .bind(scope)
        .bind(key)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn purge_idempotency(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM idempotency WHERE created_at_ms < $1 AND status IS NOT NULL")
                .bind(before_ms)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn idempotency_disown(&self, scope: &str, key: &str) -> Result<(), StoreError> {
        self.disown(scope, key).await
    }

    async fn idempotency_orphans(
        &self,
        owner: &str,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<custos_core::IdempotencyRef>, StoreError> {
        self.idem_orphans(owner, before_ms, limit).await
    }

    async fn in_flight_put(&self, tx: &custos_core::InFlightTx) -> Result<(), StoreError> {
        self.put_in_flight(tx).await
    }

    async fn in_flight_swap(
        &self,
        current: &custos_core::InFlightTx,
        next: &custos_core::InFlightTx,
    ) -> Result<bool, StoreError> {
        self.swap_in_flight(current, next).await
    }

    async fn in_flight_list(&self, limit: u32) -> Result<Vec<custos_core::InFlightTx>, StoreError> {
        self.list_in_flight(limit).await
    }

    async fn in_flight_settle(
        &self,
        tx_id: &str,
        landed: bool,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.settle_in_flight(tx_id, landed, now_ms).await
    }

    async fn audit_by_tx(&self, tx: &str) -> Result<Vec<StoredAudit>, StoreError> {
        self.by_tx(tx).await
    }

    async fn budget_orphans(
        &self,
        owner: &str,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        self.reservation_orphans(owner, before_ms, limit).await
    }

    async fn audit_append(&self, entries: &[AuditEntry]) -> Result<Vec<StoredAudit>, StoreError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // EXCLUSIVE blocks other appends but not readers. The head is read in a statement
        // after the lock is held, so (under READ COMMITTED) it sees every earlier append.
        sqlx::query("LOCK TABLE audit IN EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let head: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        let prepared = prepare_chain(entries, head)?;
        for chunk in prepared.chunks(AUDIT_INSERT_CHUNK) {
            let mut insert =
                QueryBuilder::<Postgres>::new(format!("INSERT INTO audit ({AUDIT_COLUMNS}) "));
            insert.push_values(chunk, |mut row, p| {
                let e = &p.stored.entry;
                row.push_bind(p.id)
                    .push_bind(e.time_ms)
                    .push_bind(p.agent_id.as_deref())
                    .push_bind(e.operator.as_deref())
                    .push_bind(e.endpoint.as_str())
                    .push_bind(e.action.as_str())
                    .push_bind(p.params.as_str())
                    .push_bind(e.usd_amount.as_deref())
                    .push_bind(p.token_amounts.as_str())
                    .push_bind(e.tx.as_deref())
                    .push_bind(e.outcome.as_str())
                    .push_bind(p.status)
                    .push_bind(e.reason.as_deref())
                    .push_bind(e.request_id.as_str())
                    .push_bind(&p.prev[..])
                    .push_bind(&p.hash[..]);
            });
            insert
                .build()
                .persistent(false)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(prepared.into_iter().map(|p| p.stored).collect())
    }

    async fn audit_page(
        &self,
        agent: Option<AgentId>,
        after: u64,
        limit: u32,
    ) -> Result<Vec<StoredAudit>, StoreError> {
        let after = to_i64(after, "audit id")?;
        let rows = match agent {
            None => {
                sqlx::query_as::<_, AuditRow>(
                    "SELECT * FROM audit WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
            }
            Some(agent) => {
                sqlx::query_as::<_, AuditRow>(
                    "SELECT * FROM audit WHERE agent_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                )
                .bind(agent.to_string())
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(db_err)?;
        rows.into_iter().map(AuditRow::into_stored).collect()
    }

    async fn audit_head(&self) -> Result<Option<(u64, [u8; 32])>, StoreError> {
        let head: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        head.map(parse_head).transpose()
    }

    async fn put_audit_checkpoint(
        &self,
        seq: u64,
        checkpoint: serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO audit_checkpoints (seq, checkpoint) VALUES ($1, $2)")
            .bind(to_i64(seq, "checkpoint seq")?)
            .bind(json_text(&checkpoint)?)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn audit_checkpoints(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT checkpoint FROM audit_checkpoints ORDER BY seq")
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        rows.iter()
            .map(|s| serde_json::from_str(s).map_err(|_| StoreError::Corrupt("checkpoint".into())))
            .collect()
    }

    async fn budget_reserve(&self, r: Reservation) -> Result<ReserveOutcome, StoreError> {
        let agent = r.agent.to_string();
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // Serialize this agent's reservations across every replica. The window is read in a
        // later statement, so (under READ COMMITTED) it sees every reservation committed
        // before the lock was granted.
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(PG_BUDGET_LOCK_CLASS)
            .bind(&agent)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let (spent, count) = usage_in(&mut tx, &agent, r.now_ms).await?;
        let mut outcome = reserve_decision(spent, count, &r);
        if let (ReserveOutcome::Reserved, Some(b)) = (outcome, &r.bucket) {
            let (sum,): (String,) = sqlx::query_as(
                "SELECT COALESCE(SUM(usd), 0)::text FROM budget_reservations \
                 WHERE agent_id = $1 AND bucket = $2 AND status IN ($3, $4) AND created_at_ms > $5",
            )
            .bind(&agent)
            .bind(&b.key)
            .bind(RESERVED)
            .bind(COMMITTED)
            .bind(r.now_ms.saturating_sub(DAY_MS))
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
            outcome = bucket_decision(parse_sum(&sum)?, &r);
        }
        if outcome == ReserveOutcome::Reserved {
            sqlx::query(
                "INSERT INTO budget_reservations (id, agent_id, usd, status, created_at_ms, owner, bucket) \
                 VALUES ($1, $2, $3::numeric, $4, $5, $6, $7)",
            )
            .bind(&r.id)
            .bind(&agent)
            .bind(r.usd.to_string())
            .bind(RESERVED)
            .bind(r.now_ms)
            .bind(&r.owner)
            .bind(r.bucket.as_ref().map(|b| b.key.as_str()))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(outcome)
    }

    async fn budget_commit(&self, id: &str, tx: &str, now_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE budget_reservations SET status = $1, tx = $2, committed_at_ms = $3 \
             WHERE id = $4 AND status = $5",
        )
        .bind(COMMITTED)
        .bind(tx)
        .bind(now_ms)
        .bind(id)
        .bind(RESERVED)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn budget_release(&self, id: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE budget_reservations SET status = $1 WHERE id = $2 AND status = $3")
                .bind(RELEASED)
                .bind(id)
                .bind(RESERVED)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn budget_settle(
        &self,
        agent: AgentId,
        tx_id: &str,
        usd: custos_core::Decimal,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT id, usd::text FROM budget_reservations WHERE agent_id = $1 AND tx = $2 \
             AND status = $3 FOR UPDATE",
        )
        .bind(agent.to_string())
        .bind(tx_id)
        .bind(COMMITTED)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some((id, held)) = row else {
            return Ok(false);
        };
        if let Some(lower) = crate::ledger::settled(&held, usd)? {
            sqlx::query("UPDATE budget_reservations SET usd = $1::numeric WHERE id = $2")
                .bind(lower.to_string())
                .bind(&id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn budget_usage(&self, agent: AgentId, now_ms: i64) -> Result<Usage24h, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        let (spent_usd, tx_last_hour) = usage_in(&mut conn, &agent.to_string(), now_ms).await?;
        Ok(Usage24h {
            spent_usd,
            tx_last_hour,
        })
    }

    async fn create_approval(&self, rec: ApprovalRecord) -> Result<(), StoreError> {
        let c = ApprovalColumns::of(&rec)?;
        sqlx::query(&format!(
            "INSERT INTO approvals ({APPROVAL_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&rec.id)
        .bind(&c.agent_id)
        .bind(&rec.action)
        .bind(&c.request)
        .bind(&rec.tx_hash)
        .bind(c.policy_version)
        .bind(c.usd.as_deref())
        .bind(c.quorum)
        .bind(rec.created_at_ms)
        .bind(rec.expires_at_ms)
        .bind(rec.status.as_str())
        .bind(&c.approvers)
        .bind(rec.rejected_by.as_deref())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn approval(&self, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        sqlx::query_as::<_, ApprovalRow>(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .map(ApprovalRow::into_record)
        .transpose()
    }

    async fn list_approvals(
        &self,
        status: Option<ApprovalStatus>,
        limit: u32,
    ) -> Result<Vec<ApprovalRecord>, StoreError> {
        sqlx::query_as::<_, ApprovalRow>(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals \
             WHERE ($1::text IS NULL OR status = $1::text) \
             ORDER BY created_at_ms, id LIMIT $2"
        ))
        .bind(status.map(ApprovalStatus::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(ApprovalRow::into_record)
        .collect()
    }

    async fn vote_approval(
        &self,
        id: &str,
        operator: &str,
        approve: bool,
        now_ms: i64,
    ) -> Result<VoteOutcome, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let row = sqlx::query_as::<_, ApprovalRow>(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = $1 FOR UPDATE"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(mut rec) = row.map(ApprovalRow::into_record).transpose()? else {
            return Ok(VoteOutcome::NotFound);
        };
        let outcome = apply_vote(&mut rec, operator, approve, now_ms);
        if vote_changes(&outcome) {
            let c = ApprovalColumns::of(&rec)?;
            sqlx::query(
                "UPDATE approvals SET status = $1, approvers = $2, rejected_by = $3 \
                 WHERE id = $4 AND status = 'pending'",
            )
            .bind(rec.status.as_str())
            .bind(&c.approvers)
            .bind(rec.rejected_by.as_deref())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
        }
        Ok(outcome)
    }

    async fn claim_approval(
        &self,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<ApprovalRecord>, StoreError> {
        sqlx::query_as::<_, ApprovalRow>(&format!(
            "UPDATE approvals SET status = 'executed' \
             WHERE id = $1 AND status = 'approved' AND expires_at_ms > $2 \
             RETURNING {APPROVAL_COLUMNS}"
        ))
        .bind(id)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .map(ApprovalRow::into_record)
        .transpose()
    }

    async fn expire_approvals(&self, now_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE approvals SET status = 'expired' \
             WHERE status IN ('pending', 'approved') AND expires_at_ms <= $1",
        )
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn webhook_put(&self, w: &custos_core::Webhook) -> Result<(), StoreError> {
        self.put_webhook(w).await
    }

    async fn webhook(&self, agent: AgentId) -> Result<Option<custos_core::Webhook>, StoreError> {
        self.get_webhook(agent).await
    }

    async fn webhook_delete(&self, agent: AgentId) -> Result<bool, StoreError> {
        self.delete_webhook(agent).await
    }

    async fn webhook_cursor(&self) -> Result<Option<u64>, StoreError> {
        self.get_webhook_cursor().await
    }

    async fn webhook_enqueue(
        &self,
        from: Option<u64>,
        to: u64,
        deliveries: &[custos_core::NewDelivery],
    ) -> Result<bool, StoreError> {
        self.enqueue_webhooks(from, to, deliveries).await
    }

    async fn webhook_claim_due(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<custos_core::Delivery>, StoreError> {
        self.claim_due_webhooks(now_ms, lease_ms, limit).await
    }

    async fn webhook_attempted(
        &self,
        id: u64,
        attempt: &custos_core::Attempt,
    ) -> Result<(), StoreError> {
        self.record_attempt(crate::rows::Outbox::Webhooks, id, attempt)
            .await
    }

    async fn webhook_deliveries(
        &self,
        agent: AgentId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<custos_core::Delivery>, StoreError> {
        self.list_webhook_deliveries(agent, after, limit).await
    }

    async fn alert_raise(&self, alerts: &[custos_core::NewAlert]) -> Result<u32, StoreError> {
        self.raise_alerts(alerts).await
    }

    async fn alert_claim_due(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<custos_core::AlertDelivery>, StoreError> {
        self.claim_due_alerts(now_ms, lease_ms, limit).await
    }

    async fn alert_attempted(
        &self,
        id: u64,
        attempt: &custos_core::Attempt,
    ) -> Result<(), StoreError> {
        self.record_attempt(crate::rows::Outbox::Alerts, id, attempt)
            .await
    }

    async fn alert_deliveries(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<custos_core::AlertDelivery>, StoreError> {
        self.list_alerts(after, limit).await
    }

    async fn operator_account_create(
        &self,
        account: &custos_core::OperatorAccount,
    ) -> Result<(), StoreError> {
        self.create_operator_account(account).await
    }

    async fn operator_account(
        &self,
        id: &str,
    ) -> Result<Option<custos_core::OperatorAccount>, StoreError> {
        self.get_operator_account("id", id).await
    }

    async fn operator_account_by_email(
        &self,
        email: &str,
    ) -> Result<Option<custos_core::OperatorAccount>, StoreError> {
        self.get_operator_account("email", email).await
    }

    async fn operator_account_update(
        &self,
        account: &custos_core::OperatorAccount,
    ) -> Result<bool, StoreError> {
        self.update_operator_account(account).await
    }

    async fn operator_accounts(
        &self,
        limit: u32,
        after: Option<&str>,
    ) -> Result<Vec<custos_core::OperatorAccount>, StoreError> {
        self.list_operator_accounts(limit, after).await
    }

    async fn console_session_put(&self, s: &custos_core::ConsoleSession) -> Result<(), StoreError> {
        self.put_console_session(s).await
    }

    async fn console_session(
        &self,
        id_hash: &[u8; 32],
    ) -> Result<Option<custos_core::ConsoleSession>, StoreError> {
        self.get_console_session(id_hash).await
    }

    async fn console_session_fresh(
        &self,
        id_hash: &[u8; 32],
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        self.fresh_console_session(id_hash, until_ms).await
    }

    async fn console_session_delete(&self, id_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.delete_console_session(id_hash).await
    }

    async fn console_sessions_end(&self, operator_id: &str) -> Result<u64, StoreError> {
        self.end_console_sessions(operator_id).await
    }

    async fn health(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

/// The agent's reserved and committed USD in the 24 h before `now_ms` (summed exactly by the
/// database) and its reservations in the hour before it.
async fn usage_in(
    conn: &mut sqlx::PgConnection,
    agent: &str,
    now_ms: i64,
) -> Result<(custos_core::Decimal, u32), StoreError> {
    let (sum, count): (String, i64) = sqlx::query_as(
        "SELECT COALESCE(SUM(usd), 0)::text, COUNT(*) FILTER (WHERE created_at_ms > $5) \
         FROM budget_reservations \
         WHERE agent_id = $1 AND status IN ($2, $3) AND created_at_ms > $4",
    )
    .bind(agent)
    .bind(RESERVED)
    .bind(COMMITTED)
    .bind(now_ms.saturating_sub(DAY_MS))
    .bind(now_ms.saturating_sub(HOUR_MS))
    .fetch_one(conn)
    .await
    .map_err(db_err)?;
    let count = u32::try_from(count).unwrap_or(u32::MAX);
    Ok((parse_sum(&sum)?, count))
}
