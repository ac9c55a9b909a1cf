//! The embedded SQLite backend: sqlx connections for writes and most reads, and
//! [`direct::DirectReads`] for the lookups on every authenticated request. Beside this file:
//! `audit_writer` (audit appends on the calling thread), `budget` (the budget ledger and
//! approvals), `in_flight` (crash-recovery bookkeeping), `wal` (WAL preallocation and
//! background checkpoints).
mod audit_writer;
mod budget;
mod direct;
mod in_flight;
mod operators;
mod wal;
mod webhooks;

use crate::rows::{
    db_err, json_text, parse_head, to_i64, to_u32, AgentRow, ApiKeyRow, AuditRow, IdempotencyRow,
    OperatorTokenRow, OtpRow, SessionAgentRow, SessionRow,
};
use audit_writer::AuditWriter;
use custos_core::{
    Agent, AgentId, ApiKeyRecord, ApprovalRecord, ApprovalStatus, AuditEntry, IdempotencyBegin,
    NewAgent, OperatorTokenRecord, OtpRecord, Reservation, ReserveOutcome, SessionRecord, Store,
    StoreError, StoredAudit, Usage24h, VoteOutcome,
};
use direct::DirectReads;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Concurrent readers; WAL lets them run alongside the single writer.
const READ_CONNECTIONS: u32 = 4;

/// The embedded store: one SQLite file in WAL mode with `synchronous=FULL` (a committed audit
/// record survives power loss). The workspace builds SQLite with `HAVE_FDATASYNC`
/// (`.cargo/config.toml`), so a commit syncs the WAL's data with `fdatasync`, not `fsync`: the
/// same durability on Linux (a size change is still flushed), without writing the inode's
/// modification time on every commit.
///
/// Writes go through two connections — sqlx's writer for everything but the audit log, and
/// [`audit_writer::AuditWriter`] for audit appends, committed on the calling thread — and one
/// in-process write gate, so writers queue inside the process instead of racing for SQLite's
/// lock. Reads use a small pool of their own, and the per-request lookups (session and agent,
/// API key, operator token, agent by id) run on the calling thread ([`direct::DirectReads`]).
/// Transactions that read before they write start with `BEGIN IMMEDIATE`, so even a second
/// process writing the same file cannot interleave with them. The audit append first tries one
/// `INSERT` chained onto the head this process last wrote, which the schema refuses if anyone
/// appended since (then it takes the locked read-then-write path).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Session, agent, API-key and operator-token lookups, on the calling thread.
    direct: Arc<DirectReads>,
    /// Audit appends, committed on the calling thread ([`audit_writer`]).
    audit: Arc<AuditWriter>,
    /// Held around every write in this process, so the sqlx writer and [`Self::audit`] never
    /// contend for SQLite's write lock (where SQLite's own busy handler would sleep a whole
    /// millisecond). See [`SqliteStore::write`].
    write_gate: Arc<tokio::sync::Mutex<()>>,
    /// The connection that checkpoints the WAL in the background ([`checkpoint_wal`]).
    checkpointer: SqlitePool,
    /// Dropped with the last handle to the store; the checkpoint task then stops.
    _alive: Arc<()>,
}

impl SqliteStore {
    /// The database file's name inside a data directory.
    pub const FILE_NAME: &'static str = "custos.db";

    /// Opens (creating if missing) the database [`Self::FILE_NAME`] inside `dir`, which must
    /// exist.
    pub async fn open_in_dir(dir: &Path) -> Result<Self, StoreError> {
        Self::open(&dir.join(Self::FILE_NAME)).await
    }

    /// Opens (creating if missing) the database file at `path` and brings its schema up to
    /// date.
    ///
    /// A new file is created readable by its owner only: it holds token hashes and the audit
    /// log. (SQLite gives the `-wal` and `-shm` files the same permissions.)
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        create_owner_only(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        // A local SQLite connection does not go stale, so no ping before each use (sqlx's
        // default): on the hot path a ping is one more round trip to the connection's thread.
        // The writer never checkpoints the WAL itself (SQLite's default is to do it inside
        // the commit that crosses 1000 pages, stalling every queued writer for the copy and
        // the database file's sync); a background connection does it instead.
        let writer = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
            .await
            .map_err(db_err)?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|e| StoreError::Database(format!("migrating the schema: {e}")))?;
        wal::preallocate(&writer, path).await;
        let reader = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .min_connections(READ_CONNECTIONS)
            .idle_timeout(None)
            .max_lifetime(None)
            .max_connections(READ_CONNECTIONS)
            .connect_with(options.clone().create_if_missing(false))
            .await
            .map_err(db_err)?;
        let checkpointer = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.create_if_missing(false))
            .await
            .map_err(db_err)?;
        let direct = Arc::new(DirectReads::open(path)?);
        let kick = Arc::new(tokio::sync::Notify::new());
        let audit = Arc::new(AuditWriter::open(path, kick.clone())?);
        let alive = Arc::new(());
        let write_gate = Arc::new(tokio::sync::Mutex::new(()));
        tokio::spawn(wal::checkpoint_in_background(
            checkpointer.clone(),
            Arc::downgrade(&alive),
            write_gate.clone(),
            kick,
        ));
        Ok(Self {
            writer,
            reader,
            direct,
            checkpointer,
            audit,
            write_gate,
            _alive: alive,
        })
    }

    /// Closes every connection (checkpointing the WAL); later calls fail.
    pub async fn close(&self) {
        self.direct.close();
        self.audit.close();
        self.checkpointer.close().await;
        self.reader.close().await;
        self.writer.close().await;
    }
}

impl SqliteStore {
    /// The sqlx writer, once this process's write gate is held: no other write of this
    /// process runs until the returned value is dropped. A transaction keeps it for its whole
    /// life (`let gate = self.write().await; let tx = gate.begin_with(…)`); a single statement
    /// borrows it for that statement (`.execute(&*self.write().await)`).
    async fn write(&self) -> Gated<'_> {
        Gated {
            _gate: self.write_gate.lock().await,
            pool: &self.writer,
        }
    }
}

/// The sqlx writer pool, borrowed under the write gate ([`SqliteStore::write`]).
struct Gated<'a> {
    _gate: tokio::sync::MutexGuard<'a, ()>,
    pool: &'a SqlitePool,
}

impl std::ops::Deref for Gated<'_> {
    type Target = SqlitePool;

    fn deref(&self) -> &SqlitePool {
        self.pool
    }
}

/// Whether the current tokio runtime has another worker to run tasks while this one blocks (a
/// multi-thread runtime with two or more workers).
fn other_workers_can_run() -> bool {
    tokio::runtime::Handle::try_current().is_ok_and(|h| {
        h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
            && h.metrics().num_workers() > 1
    })
}

/// Creates an empty file at `path` with mode 0600 unless something already exists there.
fn create_owner_only(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Database(format!(
            "creating {}: {e}",
            path.display()
        ))),
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn create_agent(&self, new: NewAgent) -> Result<Agent, StoreError> {
        let addresses = json_text(&new.addresses)?;
        sqlx::query(
            "INSERT INTO agents (id, email, created_at_ms, addresses) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(new.id.to_string())
        .bind(&new.email)
        .bind(new.created_at_ms)
        .bind(addresses)
        .execute(&*self.write().await)
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
        sqlx::query_as::<_, AgentRow>("SELECT * FROM agents WHERE email = ?1")
            .bind(email)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?
            .map(AgentRow::into_agent)
            .transpose()
    }

    async fn agent(&self, id: AgentId) -> Result<Option<Agent>, StoreError> {
        self.direct
            .optional_row(
                "SELECT * FROM agents WHERE id = ?1",
                [id.to_string()],
                AgentRow::from_sqlite,
            )?
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
                    "SELECT * FROM agents ORDER BY created_at_ms, seq LIMIT ?1",
                )
                .bind(i64::from(limit))
                .fetch_all(&self.reader)
                .await
            }
            Some(after) => {
                sqlx::query_as::<_, AgentRow>(
                    "SELECT * FROM agents \
                     WHERE (created_at_ms, seq) > \
                           (SELECT created_at_ms, seq FROM agents WHERE id = ?1) \
                     ORDER BY created_at_ms, seq LIMIT ?2",
                )
                .bind(after.to_string())
                .bind(i64::from(limit))
                .fetch_all(&self.reader)
                .await
            }
        }
        .map_err(db_err)?;
        rows.into_iter().map(AgentRow::into_agent).collect()
    }

    async fn set_frozen(&self, id: AgentId, frozen: bool) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE agents SET frozen = ?1 WHERE id = ?2")
            .bind(frozen)
            .bind(id.to_string())
            .execute(&*self.write().await)
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
        let done = sqlx::query("UPDATE agents SET addresses = ?1 WHERE id = ?2")
            .bind(text)
            .bind(id.to_string())
            .execute(&*self.write().await)
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
            "UPDATE agents SET policy = ?1, policy_version = policy_version + 1 \
             WHERE id = ?2 RETURNING policy_version",
        )
        .bind(json_text(&policy)?)
        .bind(id.to_string())
        .fetch_optional(&*self.write().await)
        .await
        .map_err(db_err)?;
        version
            .map(|v| u64::try_from(v).map_err(|_| StoreError::Corrupt("policy version".into())))
            .transpose()
    }

    async fn put_otp(&self, rec: OtpRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO otps (email, code_hash, expires_at_ms, attempts) \
             VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (email) DO UPDATE SET code_hash = excluded.code_hash, \
             expires_at_ms = excluded.expires_at_ms, attempts = excluded.attempts",
        )
        .bind(&rec.email)
        .bind(&rec.code_hash[..])
        .bind(rec.expires_at_ms)
        .bind(i64::from(rec.attempts))
        .execute(&*self.write().await)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn otp(&self, email: &str) -> Result<Option<OtpRecord>, StoreError> {
        sqlx::query_as::<_, OtpRow>("SELECT * FROM otps WHERE email = ?1")
            .bind(email)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?
            .map(OtpRow::into_record)
            .transpose()
    }

    async fn record_otp_failure(&self, email: &str) -> Result<u32, StoreError> {
        let attempts: Option<i64> = sqlx::query_scalar(
            "UPDATE otps SET attempts = attempts + 1 WHERE email = ?1 RETURNING attempts",
        )
        .bind(email)
        .fetch_optional(&*self.write().await)
        .await
        .map_err(db_err)?;
        attempts.map_or(Ok(0), to_u32)
    }

    async fn consume_otp(&self, email: &str, code_hash: &[u8; 32]) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM otps WHERE email = ?1 AND code_hash = ?2")
            .bind(email)
            .bind(&code_hash[..])
            .execute(&*self.write().await)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_otp(&self, email: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM otps WHERE email = ?1")
            .bind(email)
            .execute(&*self.write().await)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn purge_expired_otps(&self, now_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM otps WHERE expires_at_ms < ?1")
            .bind(now_ms)
            .execute(&*self.write().await)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn replace_session(&self, rec: SessionRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (agent_id, session_id, expires_at_ms) VALUES (?1, ?2, ?3) \
             ON CONFLICT (agent_id) DO UPDATE SET session_id = excluded.session_id, \
             expires_at_ms = excluded.expires_at_ms",
        )
        .bind(rec.agent_id.to_string())
        .bind(&rec.session_id)
        .bind(rec.expires_at_ms)
        .execute(&*self.write().await)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn session(&self, agent: AgentId) -> Result<Option<SessionRecord>, StoreError> {
        sqlx::query_as::<_, SessionRow>("SELECT * FROM sessions WHERE agent_id = ?1")
            .bind(agent.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?
            .map(SessionRow::into_record)
            .transpose()
    }

    async fn session_and_agent(
        &self,
        agent: AgentId,
    ) -> Result<Option<(SessionRecord, Agent)>, StoreError> {
        self.direct
            .optional_row(
                "SELECT a.id, a.email, a.created_at_ms, a.frozen, a.policy, a.policy_version, \
                 a.addresses, s.session_id, s.expires_at_ms \
                 FROM sessions s JOIN agents a ON a.id = s.agent_id WHERE s.agent_id = ?1",
                [agent.to_string()],
                SessionAgentRow::from_sqlite,
            )?
            .map(SessionAgentRow::into_pair)
            .transpose()
    }

    async fn create_api_key(&self, rec: ApiKeyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys \
             (key_id, agent_id, key_hash, created_at_ms, revoked_at_ms, scopes) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&rec.key_id)
        .bind(rec.agent_id.to_string())
        .bind(&rec.key_hash[..])
        .bind(rec.created_at_ms)
        .bind(rec.revoked_at_ms)
        .bind(rec.scopes.as_ref().map(custos_core::Scopes::to_text))
        .execute(&*self.write().await)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn api_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.direct
            .optional_row(
                "SELECT * FROM api_keys WHERE key_hash = ?1 AND revoked_at_ms IS NULL",
                [&hash[..]],
                ApiKeyRow::from_sqlite,
            )?
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
            "UPDATE api_keys SET revoked_at_ms = ?1 \
             WHERE agent_id = ?2 AND key_id = ?3 AND revoked_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(agent.to_string())
        .bind(key_id)
        .execute(&*self.write().await)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_api_keys(&self, agent: AgentId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        sqlx::query_as::<_, ApiKeyRow>(
            "SELECT * FROM api_keys WHERE agent_id = ?1 ORDER BY created_at_ms, key_id",
        )
        .bind(agent.to_string())
        .fetch_all(&self.reader)
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
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(&rec.token_id)
        .bind(&rec.token_hash[..])
        .bind(rec.role.as_str())
        .bind(rec.created_at_ms)
        .bind(rec.revoked_at_ms)
        .execute(&*self.write().await)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn operator_token_by_hash(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<OperatorTokenRecord>, StoreError> {
        self.direct
            .optional_row(
                "SELECT * FROM operator_tokens WHERE token_hash = ?1 AND revoked_at_ms IS NULL",
                [&hash[..]],
                OperatorTokenRow::from_sqlite,
            )?
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
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (scope, idem_key) DO NOTHING",
            )
            .bind(scope)
            .bind(key)
            .bind(&request_hash[..])
            .bind(now_ms)
            .bind(owner)
            .execute(&*self.write().await)
            .await
            .map_err(db_err)?;
            if claimed.rows_affected() == 1 {
                return Ok(IdempotencyBegin::Started);
            }
            let existing = sqlx::query_as::<_, IdempotencyRow>(
                "SELECT request_hash, status, body FROM idempotency \
                 WHERE scope = ?1 AND idem_key = ?2",
            )
            .bind(scope)
            .bind(key)
            .fetch_optional(&self.reader)
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
            "UPDATE idempotency SET status = ?1, body = ?2 \
             WHERE scope = ?3 AND idem_key = ?4 AND status IS NULL",
        )
        .bind(i64::from(status))
        .bind(body)
        .bind(scope)
        .bind(key)
        .execute(&*self.write().await)
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
            "DELETE FROM idempotency WHERE scope = ?1 AND idem_key = ?2 AND status IS NULL",
        )
        .bind(scope)
        .bind(key)
        .execute(&*self.write().await)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn purge_idempotency(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM idempotency WHERE created_at_ms < ?1 AND status IS NOT NULL")
                .bind(before_ms)
                .execute(&*self.write().await)
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
        // The commit runs here, on this thread (see `audit_writer`), while no other write of
        // this process holds SQLite's write lock — unless this thread is the runtime's only
        // worker: blocking it for the sync would stall every other request (and a
        // current-thread runtime entirely), so the commit goes to the blocking pool instead.
        let _gate = self.write_gate.lock().await;
        if other_workers_can_run() {
            return self.audit.append(entries);
        }
        let (audit, entries) = (self.audit.clone(), entries.to_vec());
        tokio::task::spawn_blocking(move || audit.append(&entries))
            .await
            .map_err(|e| StoreError::Database(format!("audit append task: {e}")))?
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
                    "SELECT * FROM audit WHERE id > ?1 ORDER BY id LIMIT ?2",
                )
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.reader)
                .await
            }
            Some(agent) => {
                sqlx::query_as::<_, AuditRow>(
                    "SELECT * FROM audit WHERE agent_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                )
                .bind(agent.to_string())
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.reader)
                .await
            }
        }
        .map_err(db_err)?;
        rows.into_iter().map(AuditRow::into_stored).collect()
    }

    async fn audit_head(&self) -> Result<Option<(u64, [u8; 32])>, StoreError> {
        let head: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1")
                .fetch_optional(&self.reader)
                .await
                .map_err(db_err)?;
        head.map(parse_head).transpose()
    }

    async fn put_audit_checkpoint(
        &self,
        seq: u64,
        checkpoint: serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO audit_checkpoints (seq, checkpoint) VALUES (?1, ?2)")
            .bind(to_i64(seq, "checkpoint seq")?)
            .bind(json_text(&checkpoint)?)
            .execute(&*self.write().await)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn audit_checkpoints(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT checkpoint FROM audit_checkpoints ORDER BY seq")
                .fetch_all(&self.reader)
                .await
                .map_err(db_err)?;
        rows.iter()
            .map(|s| serde_json::from_str(s).map_err(|_| StoreError::Corrupt("checkpoint".into())))
            .collect()
    }

    async fn budget_reserve(&self, r: Reservation) -> Result<ReserveOutcome, StoreError> {
        self.reserve_budget(r).await
    }

    async fn budget_commit(&self, id: &str, tx: &str, now_ms: i64) -> Result<bool, StoreError> {
        self.commit_budget(id, tx, now_ms).await
    }

    async fn budget_release(&self, id: &str) -> Result<bool, StoreError> {
        self.release_budget(id).await
    }

    async fn budget_settle(
        &self,
        agent: AgentId,
        tx: &str,
        usd: custos_core::Decimal,
    ) -> Result<bool, StoreError> {
        self.settle_budget(agent, tx, usd).await
    }

    async fn budget_usage(&self, agent: AgentId, now_ms: i64) -> Result<Usage24h, StoreError> {
        self.usage_24h(agent, now_ms).await
    }

    async fn create_approval(&self, rec: ApprovalRecord) -> Result<(), StoreError> {
        self.insert_approval(rec).await
    }

    async fn approval(&self, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        self.approval_by_id(id).await
    }

    async fn list_approvals(
        &self,
        status: Option<ApprovalStatus>,
        limit: u32,
    ) -> Result<Vec<ApprovalRecord>, StoreError> {
        self.approvals_page(status, limit).await
    }

    async fn vote_approval(
        &self,
        id: &str,
        operator: &str,
        approve: bool,
        now_ms: i64,
    ) -> Result<VoteOutcome, StoreError> {
        self.vote_on_approval(id, operator, approve, now_ms).await
    }

    async fn claim_approval(
        &self,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<ApprovalRecord>, StoreError> {
        self.claim_approved(id, now_ms).await
    }

    async fn expire_approvals(&self, now_ms: i64) -> Result<u64, StoreError> {
        self.expire_pending_approvals(now_ms).await
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
            .execute(&self.reader)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use custos_core::audit::AuditOutcome;

    /// A small audit record numbered `n`, for this backend's unit tests.
    pub(in crate::sqlite) fn entry(n: i64) -> AuditEntry {
        AuditEntry {
            time_ms: n,
            agent_id: None,
            operator: Some("test".into()),
            endpoint: "TEST".into(),
            action: "test".into(),
            params: serde_json::json!({"n": n}),
            usd_amount: None,
            token_amounts: serde_json::json!([]),
            tx: None,
            outcome: AuditOutcome::Success,
            status: 200,
            reason: None,
            request_id: format!("r{n}"),
        }
    }

    /// On a runtime with one worker the commit runs on the blocking pool: a second task keeps
    /// running while appends are in progress, and the chain is the same.
    #[tokio::test(flavor = "current_thread")]
    async fn a_single_worker_runtime_commits_on_the_blocking_pool() {
        assert!(!other_workers_can_run());
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in_dir(dir.path()).await.unwrap();
        let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let ticker = {
            let ticks = ticks.clone();
            tokio::spawn(async move {
                loop {
                    ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
            })
        };
        let mut last = None;
        for n in 1..=20 {
            let stored = store.audit_append(&[entry(n)]).await.unwrap();
            assert_eq!(stored[0].id, n as u64);
            if let Some(prev) = last {
                assert_eq!(stored[0].prev_hash, prev);
            }
            last = Some(stored[0].hash.clone());
        }
        // The other task ran while the commits were on the blocking pool.
        assert!(ticks.load(std::sync::atomic::Ordering::Relaxed) > 20);
        ticker.abort();
        store.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_multi_worker_runtime_commits_in_place() {
        assert!(other_workers_can_run());
    }
}
