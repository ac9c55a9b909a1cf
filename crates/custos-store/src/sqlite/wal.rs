//! Upkeep of the write-ahead log, so that a durable commit costs as little as the disk allows:
//! the WAL file is written full of zeros up front ([`preallocate`]) and checkpointed in the
//! background ([`checkpoint_in_background`]), never inside a commit.
//!
//! Why zeros: every commit ends with an `fdatasync` of the WAL. When the commit's frames extend
//! the file, that sync must also commit the new size and block allocation to the file system's
//! journal; when they overwrite blocks that already hold data, it is a data write and a cache
//! flush. On this project's ext4 test machine an appending 12 KiB write + `fdatasync` took p50
//! 335 µs, the same write into `fallocate`d space 298 µs (unwritten extents still need the
//! journal), and into zero-filled space 177 µs (docs/benchmarks.md). SQLite's own size hint
//! uses `fallocate`, so the zeros are written here.
//!
//! Why it is safe: SQLite reads a WAL frame only if its salt and running checksum match the WAL
//! header, so zero bytes after the last valid frame are never taken for a commit (SQLite itself
//! leaves old, invalid frames in the file after a restart). The zeros are only ever appended past
//! the file's current end, never over existing bytes, and while this connection holds the
//! database's write lock (`BEGIN IMMEDIATE`), so no other connection — in this process or
//! another — is writing frames at the same time.
use sqlx::sqlite::SqlitePool;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often the background connection checkpoints the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// Audit commits between two kicks of the background checkpoint (see
/// [`checkpoint_in_background`]): about 1,000–1,500 WAL frames.
pub(super) const KICK_EVERY_COMMITS: u32 = 500;
/// WAL size, in frames (a page each), at which the background checkpoint restarts the WAL.
pub(super) const RESTART_WAL_AT_FRAMES: i64 = 4000;
/// Frames of WAL written with zeros at open: the restart size plus what a busy writer adds
/// between two checkpoint ticks.
pub(super) const PREALLOCATED_FRAMES: i64 = RESTART_WAL_AT_FRAMES + RESTART_WAL_AT_FRAMES / 4;
/// A WAL frame's header, before the page.
const FRAME_HEADER_BYTES: i64 = 24;
/// A WAL file's header.
const WAL_HEADER_BYTES: i64 = 32;

/// The WAL file SQLite keeps beside the database at `db`.
pub(super) fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Extends the WAL beside `db` with zeros to [`PREALLOCATED_FRAMES`] frames, under the write
/// lock taken on `writer`. Only an optimisation: if anything fails (a full disk, a lock held
/// elsewhere), it logs and the store works as before.
pub(super) async fn preallocate(writer: &SqlitePool, db: &Path) {
    if let Err(e) = try_preallocate(writer, db).await {
        tracing::warn!(error = %e, "could not preallocate the SQLite WAL; commits may sync slower");
    }
}

async fn try_preallocate(writer: &SqlitePool, db: &Path) -> Result<(), String> {
    let mut conn = writer.acquire().await.map_err(|e| e.to_string())?;
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| e.to_string())?;
    let target = WAL_HEADER_BYTES + PREALLOCATED_FRAMES * (page_size + FRAME_HEADER_BYTES);
    let target = u64::try_from(target).map_err(|_| "WAL size out of range".to_owned())?;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *conn)
        .await
        .map_err(|e| e.to_string())?;
    let wal = wal_path(db);
    let filled = tokio::task::spawn_blocking(move || extend_with_zeros(&wal, target))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    let ended = sqlx::query("ROLLBACK")
        .execute(&mut *conn)
        .await
        .map_err(|e| e.to_string());
    filled.and(ended.map(|_| ()))
}

/// Appends zeros to the file at `path` (which SQLite has created) until it is `target` bytes
/// long, then syncs it. Never writes below the current end.
fn extend_with_zeros(path: &Path, target: u64) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let mut file = std::fs::OpenOptions::new().append(true).open(path)?;
    let mut len = file.seek(SeekFrom::End(0))?;
    if len >= target {
        return Ok(());
    }
    let zeros = vec![0u8; 1 << 20];
    while len < target {
        let n = usize::try_from((target - len).min(zeros.len() as u64)).unwrap_or(zeros.len());
        file.write_all(&zeros[..n])?;
        len += n as u64;
    }
    file.sync_all()
}

/// Copies committed WAL frames into the database file every [`CHECKPOINT_EVERY`], on its own
/// connection, until the store is dropped or closed. `PASSIVE` never blocks the writer or the
/// readers: it copies what it can. Under steady writes the WAL is never fully copied at the
/// moment a commit could start it over, so once it holds [`RESTART_WAL_AT_FRAMES`] frames a
/// `RESTART` checkpoint (which holds writers back briefly; little is left to copy after the
/// passive pass) makes the next commit write from the start of the file again — over the
/// same, already allocated blocks. Commits stay durable throughout: each is synced in the WAL
/// before it returns.
///
/// The `RESTART` takes the store's write gate first (`gate`, the in-process lock every write
/// holds): it needs SQLite's write lock, and a writer committing back to back — the audit writer
/// under load — would otherwise win every race against SQLite's millisecond busy sleeps, and
/// the WAL would only grow. Besides the timer, `kick` wakes it: the audit writer kicks every
/// [`KICK_EVERY_COMMITS`] commits, so a fast run of commits cannot outrun the timer by much.
pub(super) async fn checkpoint_in_background(
    pool: SqlitePool,
    alive: std::sync::Weak<()>,
    gate: std::sync::Arc<tokio::sync::Mutex<()>>,
    kick: std::sync::Arc<tokio::sync::Notify>,
) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = kick.notified() => {}
        }
        if alive.strong_count() == 0 || pool.is_closed() {
            break;
        }
        let mut result = checkpoint(&pool, "PASSIVE").await;
        if let Ok((_, wal_frames, _)) = result {
            if wal_frames >= RESTART_WAL_AT_FRAMES {
                let _gate = gate.lock().await;
                result = checkpoint(&pool, "RESTART").await;
            }
        }
        if let Err(e) = result {
            if pool.is_closed() {
                break;
            }
            tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
        }
    }
    pool.close().await;
}

/// `PRAGMA wal_checkpoint(mode)`: (busy, frames in the WAL, frames checkpointed).
async fn checkpoint(pool: &SqlitePool, mode: &str) -> Result<(i64, i64, i64), sqlx::Error> {
    sqlx::query_as(&format!("PRAGMA wal_checkpoint({mode})"))
        .fetch_one(pool)
        .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn zeros_only_go_past_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x-wal");
        std::fs::write(&path, b"frames").unwrap();
        extend_with_zeros(&path, 3 << 20).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 3 << 20);
        assert_eq!(&bytes[..6], b"frames");
        assert!(bytes[6..].iter().all(|b| *b == 0));
        // Already long enough: untouched.
        std::fs::write(&path, b"longer than the target").unwrap();
        extend_with_zeros(&path, 4).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"longer than the target");
    }

    #[test]
    fn the_wal_sits_beside_the_database() {
        assert_eq!(
            wal_path(Path::new("/data/custos.db")),
            PathBuf::from("/data/custos.db-wal")
        );
    }
}
