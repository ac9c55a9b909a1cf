//! The audit append, committed on the calling thread: one read-write SQLite connection
//! (`rusqlite`) that does nothing but extend the hash-chained `audit` table, with
//! `synchronous=FULL` like every other write.
//!
//! Why not through sqlx like the other writes: sqlx runs its SQLite connection on a thread of its
//! own, so a durable commit was two cross-thread hand-offs — the caller to that thread, then an
//! `eventfd` wake of the parked tokio worker back — on top of the `fdatasync` itself. On this
//! project's 2-vCPU test machine those hand-offs and the park/unpark around the wait cost about
//! as much as the sync (docs/benchmarks.md, "The durable path at c = 1"). Here the caller's
//! thread runs the `INSERT`, the WAL writes and the `fdatasync`, and returns.
//!
//! It blocks that thread for one commit (a few hundred microseconds). The server calls it from
//! its one audit writer task, which group-commits whatever queued while the previous commit ran,
//! so at most one runtime worker is ever blocked here — and never the only one:
//! `SqliteStore::audit_append` hands the commit to the blocking pool when the runtime has a
//! single worker (`TOKIO_WORKER_THREADS=1`, or a current-thread runtime).
//!
//! Within the process, [`super::SqliteStore`] holds its write gate around every call, so this
//! connection and the sqlx writer never contend for SQLite's write lock. Another process on the
//! same file (`custos admin token` while the server runs) or the background WAL checkpoint can
//! still hold it for a moment: the busy handler then retries every [`BUSY_SLEEP`], where
//! SQLite's default handler would sleep a whole millisecond first.
use super::direct::message;
use crate::rows::{prepare_chain, PreparedAudit, AUDIT_COLUMNS, AUDIT_INSERT_CHUNK};
use custos_core::{AuditEntry, StoreError, StoredAudit};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Statement, TransactionBehavior};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// What the schema's `audit_extends_chain` trigger raises for a record that does not continue
/// the chain (`migrations/sqlite/0001_init.sql`).
const CHAIN_TRIGGER_MESSAGE: &str = "audit records must extend the chain";
/// Largest batch whose multi-row `INSERT` is kept prepared on the connection: group commits are
/// mostly small, so their few statement shapes (one per row count) are parsed once.
const PREPARED_AUDIT_ROWS: usize = 32;
/// How long the busy handler sleeps between two tries for a lock another connection holds.
const BUSY_SLEEP: Duration = Duration::from_micros(50);
/// Tries before giving up: with [`BUSY_SLEEP`] at least ten seconds, like the sqlx connections'
/// busy timeout.
const BUSY_TRIES: i32 = 200_000;

/// The audit chain's last record: id and hash.
type AuditHead = (i64, Vec<u8>);

/// The connection and what this process last appended.
struct Inner {
    conn: Connection,
    /// Commits since the background WAL checkpoint was last kicked.
    commits: u32,
    /// The chain's head `(id, hash)` as of this connection's last append; `None` until known.
    /// Only a hint: see [`AuditWriter::append`].
    head: Option<AuditHead>,
}

/// One read-write connection for audit appends; `None` once closed.
pub(crate) struct AuditWriter {
    inner: Mutex<Option<Inner>>,
    /// Wakes the background WAL checkpoint every [`super::wal::KICK_EVERY_COMMITS`] commits.
    kick: std::sync::Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditWriter").finish_non_exhaustive()
    }
}

impl AuditWriter {
    /// Opens a connection to the database at `path`, which must exist with its schema (the sqlx
    /// writer creates and migrates it).
    pub(crate) fn open(
        path: &Path,
        kick: std::sync::Arc<tokio::sync::Notify>,
    ) -> Result<Self, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| {
            StoreError::Database(format!("opening {}: {}", path.display(), message(&e)))
        })?;
        // The WAL is checkpointed by the store's background connection, never inside a commit
        // (see `wal.rs`); every commit is synced before it returns.
        conn.pragma_update(None, "synchronous", "FULL")
            .and_then(|()| conn.pragma_update(None, "wal_autocheckpoint", 0))
            .and_then(|()| conn.busy_handler(Some(retry_soon)))
            .map_err(write_err)?;
        conn.set_prepared_statement_cache_capacity(PREPARED_AUDIT_ROWS + 4);
        Ok(Self {
            inner: Mutex::new(Some(Inner {
                conn,
                commits: 0,
                head: None,
            })),
            kick,
        })
    }

    /// Chains `entries` onto the log and commits them durably, on this thread.
    ///
    /// First it tries one `INSERT` chained onto the head this connection last wrote (its own
    /// transaction: one WAL sync). If anyone appended since — another process on the same
    /// file — the schema's `audit_extends_chain` trigger (or the primary key on the id) refuses
    /// the first row and the statement fails as a whole; then it reads the head again inside
    /// `BEGIN IMMEDIATE` and appends onto that. A record can never be chained onto a stale head.
    pub(crate) fn append(&self, entries: &[AuditEntry]) -> Result<Vec<StoredAudit>, StoreError> {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let inner = guard
            .as_mut()
            .ok_or_else(|| StoreError::Database("the store is closed".into()))?;
        if let (Some(head), true) = (inner.head.clone(), entries.len() <= AUDIT_INSERT_CHUNK) {
            let prepared = prepare_chain(entries, Some(head))?;
            match insert(&inner.conn, &prepared) {
                Ok(()) => return Ok(self.appended(inner, prepared)),
                Err(e) if is_chain_conflict(&e) => {}
                Err(e) => return Err(write_err(e)),
            }
        }
        let tx = inner
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(write_err)?;
        let head: Option<AuditHead> = tx
            .query_row(
                "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(write_err)?;
        let prepared = prepare_chain(entries, head)?;
        for chunk in prepared.chunks(AUDIT_INSERT_CHUNK) {
            insert(&tx, chunk).map_err(write_err)?;
        }
        tx.commit().map_err(write_err)?;
        Ok(self.appended(inner, prepared))
    }

    /// Closes the connection; later appends fail.
    pub(crate) fn close(&self) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

impl AuditWriter {
    /// After a commit: remembers the new head, kicks the WAL checkpoint when it is due, and
    /// returns the stored records.
    fn appended(&self, inner: &mut Inner, prepared: Vec<PreparedAudit>) -> Vec<StoredAudit> {
        if let Some(last) = prepared.last() {
            inner.head = Some((last.id, last.hash.to_vec()));
        }
        inner.commits += 1;
        if inner.commits >= super::wal::KICK_EVERY_COMMITS {
            inner.commits = 0;
            self.kick.notify_one();
        }
        prepared.into_iter().map(|p| p.stored).collect()
    }
}

/// `INSERT INTO audit … VALUES (…), (…)` for `rows` (at most [`AUDIT_INSERT_CHUNK`]), run on
/// `conn` (a connection, or a transaction on one).
fn insert(conn: &Connection, rows: &[PreparedAudit]) -> rusqlite::Result<()> {
    let sql = insert_sql(rows.len());
    if rows.len() <= PREPARED_AUDIT_ROWS {
        bind_and_run(&mut *conn.prepare_cached(&sql)?, rows)
    } else {
        bind_and_run(&mut conn.prepare(&sql)?, rows)
    }
}

/// `INSERT INTO audit (columns) VALUES (?, …), …` with a row of placeholders per record.
fn insert_sql(rows: usize) -> String {
    let row = format!("({})", vec!["?"; AUDIT_FIELDS].join(", "));
    format!(
        "INSERT INTO audit ({AUDIT_COLUMNS}) VALUES {}",
        vec![row; rows].join(", ")
    )
}

/// Columns per record in [`AUDIT_COLUMNS`].
const AUDIT_FIELDS: usize = 16;

/// Binds every record's columns, in [`AUDIT_COLUMNS`]' order, and runs the statement.
fn bind_and_run(statement: &mut Statement<'_>, rows: &[PreparedAudit]) -> rusqlite::Result<()> {
    let mut at = 0;
    let mut bind = |statement: &mut Statement<'_>, value: &dyn rusqlite::ToSql| {
        at += 1;
        statement.raw_bind_parameter(at, value)
    };
    for p in rows {
        let e = &p.stored.entry;
        bind(statement, &p.id)?;
        bind(statement, &e.time_ms)?;
        bind(statement, &p.agent_id)?;
        bind(statement, &e.operator)?;
        bind(statement, &e.endpoint)?;
        bind(statement, &e.action)?;
        bind(statement, &p.params)?;
        bind(statement, &e.usd_amount)?;
        bind(statement, &p.token_amounts)?;
        bind(statement, &e.tx)?;
        bind(statement, &e.outcome.as_str())?;
        bind(statement, &p.status)?;
        bind(statement, &e.reason)?;
        bind(statement, &e.request_id)?;
        bind(statement, &&p.prev[..])?;
        bind(statement, &&p.hash[..])?;
    }
    statement.raw_execute().map(|_| ())
}

/// Whether `e` is the chain refusing a record: someone else appended since this connection's
/// last look at the head.
fn is_chain_conflict(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(code, msg) => {
            code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                || msg
                    .as_deref()
                    .is_some_and(|m| m.contains(CHAIN_TRIGGER_MESSAGE))
        }
        _ => false,
    }
}

/// The busy handler: sleep briefly and try again, up to [`BUSY_TRIES`] times.
fn retry_soon(tries: i32) -> bool {
    std::thread::sleep(BUSY_SLEEP);
    tries < BUSY_TRIES
}

fn write_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(message(&e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::sqlite::tests::entry;
    use std::time::Instant;

    /// A migrated database in a temporary directory (the sqlx store creates the schema).
    fn database() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let store = crate::SqliteStore::open_in_dir(dir.path()).await.unwrap();
            store.close().await;
        });
        let path = dir.path().join(crate::SqliteStore::FILE_NAME);
        (dir, path)
    }

    #[test]
    fn commits_synchronously_and_never_checkpoints_inside_a_commit() {
        let (_dir, path) = database();
        let writer = AuditWriter::open(&path, Default::default()).unwrap();
        let guard = writer.inner.lock().unwrap();
        let conn = &guard.as_ref().unwrap().conn;
        let pragma =
            |name: &str| -> i64 { conn.pragma_query_value(None, name, |r| r.get(0)).unwrap() };
        assert_eq!(pragma("synchronous"), 2, "FULL");
        assert_eq!(pragma("wal_autocheckpoint"), 0);
    }

    /// Another connection (another process, or the WAL checkpoint) holding the write lock is
    /// waited for, and the append lands once it lets go, chained onto what that writer added.
    #[test]
    fn waits_for_a_lock_held_elsewhere_then_chains_onto_it() {
        let (_dir, path) = database();
        let writer = AuditWriter::open(&path, Default::default()).unwrap();
        let first = writer.append(&[entry(1)]).unwrap();
        let other = AuditWriter::open(&path, Default::default()).unwrap();
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN IMMEDIATE").unwrap();
        let started = Instant::now();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(60));
            holder.execute_batch("COMMIT").unwrap();
        });
        let theirs = other.append(&[entry(2), entry(3)]).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(50));
        release.join().unwrap();
        assert_eq!(theirs[0].prev_hash, first[0].hash);
        // `writer` still believes the head is record 1: its optimistic insert is refused and it
        // appends after record 3 instead.
        let ours = writer.append(&[entry(4)]).unwrap();
        assert_eq!((ours[0].id, &ours[0].prev_hash), (4, &theirs[1].hash));
    }

    #[test]
    fn a_closed_writer_refuses_and_says_so() {
        let (_dir, path) = database();
        let writer = AuditWriter::open(&path, Default::default()).unwrap();
        writer.close();
        let err = writer.append(&[entry(1)]).unwrap_err().to_string();
        assert!(err.contains("closed"), "{err}");
    }

    #[test]
    fn batches_above_the_prepared_size_use_a_fresh_statement() {
        let (_dir, path) = database();
        let writer = AuditWriter::open(&path, Default::default()).unwrap();
        let big: Vec<_> = (1..=(PREPARED_AUDIT_ROWS as i64 + 5)).map(entry).collect();
        let stored = writer.append(&big).unwrap();
        assert_eq!(stored.len(), big.len());
        let again = writer.append(&[entry(100)]).unwrap();
        assert_eq!(again[0].id, big.len() as u64 + 1);
        assert_eq!(again[0].prev_hash, stored[big.len() - 1].hash);
    }
}
