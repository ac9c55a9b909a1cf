//! Reads on the calling thread: a small pool of plain SQLite connections (`rusqlite`) for the
//! lookups every authenticated request makes (session and agent, API key, operator token).
//!
//! sqlx runs each SQLite connection on a thread of its own and hands every statement to it
//! through a channel: two thread wake-ups per query, which on the signing hot path cost more
//! than the query itself (a primary-key lookup in pages SQLite already has cached takes a few
//! microseconds). These connections run the statement where the caller is. They are read-only,
//! in the same WAL database as the writer, so each statement sees every commit that finished
//! before it started.
//!
//! A statement here never waits for a lock in the normal course: WAL readers do not block on the
//! writer or on checkpoints. The busy timeout only covers the rare moments SQLite itself needs
//! one (recovering the WAL index after a crash), and is short because the caller is an async
//! task.
use custos_core::StoreError;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Params, Row};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// Idle connections kept for reuse; more are opened when more callers read at once.
const MAX_IDLE: usize = 16;
/// How long a read waits for a lock SQLite needs before it fails (see the module doc).
const BUSY_TIMEOUT: Duration = Duration::from_millis(250);

/// Read-only connections to one SQLite file, each used by one caller at a time.
#[derive(Debug)]
pub(crate) struct DirectReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl DirectReads {
    /// Connections to the database at `path`, which must exist (the writer creates it). One
    /// is opened now, so a file SQLite cannot read fails here rather than on first use.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let reads = Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        };
        let first = reads.connect()?;
        reads.give_back(first);
        Ok(reads)
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        // NO_MUTEX: a connection is only ever used by the one caller holding it.
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(|e| {
            StoreError::Database(format!("opening {}: {}", self.path.display(), message(&e)))
        })?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(read_err)?;
        Ok(conn)
    }

    fn take(&self) -> Result<Connection, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => self.connect(),
        }
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// Runs `sql` (kept prepared on the connection) with `params` and maps its first row, if
    /// any, with `map`.
    pub(crate) fn optional_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, StoreError> {
        let conn = self.take()?;
        let result = conn
            .prepare_cached(sql)
            .and_then(|mut statement| statement.query_row(params, map).optional());
        self.give_back(conn);
        result.map_err(read_err)
    }

    /// Closes every idle connection; later reads open new ones.
    pub(crate) fn close(&self) {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// SQLite's own message for a failed statement; never a bound value.
pub(super) fn message(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(code, Some(msg)) => format!("{msg} ({:?})", code.code),
        rusqlite::Error::SqliteFailure(code, None) => format!("{:?}", code.code),
        // Column conversions name the column and the type, not the value.
        rusqlite::Error::InvalidColumnType(_, column, kind) => {
            format!("column {column} holds {kind}")
        }
        other => other.to_string(),
    }
}

fn read_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(message(&e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn database() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL);",
        )
        .unwrap();
        (dir, path)
    }

    #[test]
    fn reads_what_another_connection_committed() {
        let (_dir, path) = database();
        let reads = DirectReads::open(&path).unwrap();
        let get = |k: i64| {
            reads
                .optional_row("SELECT v FROM t WHERE k = ?1", [k], |r| {
                    r.get::<_, String>(0)
                })
                .unwrap()
        };
        assert_eq!(get(1), None);
        let writer = Connection::open(&path).unwrap();
        writer
            .execute("INSERT INTO t (k, v) VALUES (1, 'one')", [])
            .unwrap();
        assert_eq!(get(1).as_deref(), Some("one"));
        writer
            .execute("UPDATE t SET v = 'uno' WHERE k = 1", [])
            .unwrap();
        assert_eq!(get(1).as_deref(), Some("uno"));
    }

    #[test]
    fn refuses_to_write_and_names_the_reason() {
        let (_dir, path) = database();
        let reads = DirectReads::open(&path).unwrap();
        let err = reads
            .optional_row(
                "INSERT INTO t (k, v) VALUES (2, 'x') RETURNING k",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap_err();
        assert!(err.to_string().contains("readonly"), "{err}");
        // The connection went back to the pool and still reads.
        let n = reads
            .optional_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))
            .unwrap();
        assert_eq!(n, Some(0));
    }

    #[test]
    fn a_missing_file_fails_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let err = DirectReads::open(&dir.path().join("absent.db")).unwrap_err();
        assert!(err.to_string().contains("absent.db"), "{err}");
    }

    #[test]
    fn a_column_of_the_wrong_type_is_an_error_without_its_value() {
        let (_dir, path) = database();
        Connection::open(&path)
            .unwrap()
            .execute("INSERT INTO t (k, v) VALUES (7, 'secret-looking')", [])
            .unwrap();
        let reads = DirectReads::open(&path).unwrap();
        let err = reads
            .optional_row("SELECT v FROM t WHERE k = 7", [], |r| r.get::<_, i64>(0))
            .unwrap_err()
            .to_string();
        assert!(err.contains("column v holds Text"), "{err}");
        assert!(!err.contains("secret-looking"), "{err}");
    }
}
