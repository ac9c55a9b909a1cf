//! The disk's own floor for a durable commit: one idle `fdatasync` after a one-page write into
//! space that already holds data (as SQLite's write-ahead log, written full of zeros up front,
//! takes its commits), on the same file system as a server's data directory. The durable
//! pipeline is judged against it: at concurrency 1 a request cannot cost less than one such
//! commit above the same request with the audit log kept in memory.
use crate::BenchError;
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::time::Instant;

/// One page, as a WAL frame writes it.
const PAGE: usize = 4096;

/// p50 (µs) of `samples` idle `pwrite(4 KiB)` + `fdatasync` pairs in a file created in `dir`
/// and zero-filled (and synced) first; the file is removed afterwards. Blocking: run it off the
/// async threads.
pub fn idle_fdatasync_p50_us(dir: &Path, samples: usize) -> Result<f64, BenchError> {
    let io = |what: &str, e: std::io::Error| {
        BenchError::Invalid(format!("fdatasync probe: {what}: {e}"))
    };
    let samples = samples.max(1);
    let file = tempfile::Builder::new()
        .prefix("fdatasync-probe-")
        .tempfile_in(dir)
        .map_err(|e| io("creating the file", e))?;
    let f = file.as_file();
    let zeros = vec![0u8; PAGE * 64];
    let mut filled = 0;
    while filled < samples * PAGE {
        f.write_at(&zeros, filled as u64)
            .map_err(|e| io("zero-filling", e))?;
        filled += zeros.len();
    }
    f.sync_all().map_err(|e| io("syncing the zeros", e))?;
    let page = vec![0x5au8; PAGE];
    let mut us = Vec::with_capacity(samples);
    for i in 0..samples {
        // Idle: the previous sync has finished and nothing else of ours is queued.
        std::thread::sleep(std::time::Duration::from_micros(200));
        let t = Instant::now();
        f.write_at(&page, (i * PAGE) as u64)
            .map_err(|e| io("writing", e))?;
        f.sync_data().map_err(|e| io("fdatasync", e))?;
        us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    us.sort_by(f64::total_cmp);
    Ok(us[us.len() / 2])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_probe_measures_something_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p50 = idle_fdatasync_p50_us(dir.path(), 20).unwrap();
        assert!(p50 > 0.0 && p50 < 1e6, "{p50}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
