//! The audit sink: every audited request hands its record to one writer task, which commits
//! whatever has queued up as one transaction (group commit) and only then releases the callers.
//! A caller that gets an error must not complete its action: the log fails closed.
//!
//! Every `checkpoint_every` records the writer asks the custody boundary to sign the chain
//! head, so truncating or rewriting the log is detectable with the boundary's key alone. The
//! signing runs beside the writer (one at a time), so commits do not wait for it.
use crate::config::{AuditConfig, AuditSinkKind};
use crate::metrics::Metrics;
use custos_core::audit::ChainVerifier;
use custos_core::{AuditCheckpoint, AuditEntry, Custody, Store, StoredAudit};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

type Reply = oneshot::Sender<Result<StoredAudit, AuditError>>;

/// The audit log could not take the record.
#[derive(Debug, Clone, thiserror::Error)]
#[error("audit log unavailable: {0}")]
pub struct AuditError(pub String);

/// Handle to the writer task.
#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<(AuditEntry, Reply)>,
}

impl AuditSink {
    /// Starts the writer. It stops when every handle is dropped, after draining the queue.
    pub fn start(
        store: Arc<dyn Store>,
        custody: Arc<dyn Custody>,
        cfg: AuditConfig,
        metrics: Arc<Metrics>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(cfg.batch_max * 4);
        let task = tokio::spawn(writer(rx, store, custody, cfg, metrics));
        (Self { tx }, task)
    }

    /// Appends `entry` and waits until it is durable.
    pub async fn append(&self, entry: AuditEntry) -> Result<StoredAudit, AuditError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((entry, reply))
            .await
            .map_err(|_| AuditError("writer stopped".into()))?;
        rx.await.map_err(|_| AuditError("writer stopped".into()))?
    }
}

async fn writer(
    mut rx: mpsc::Receiver<(AuditEntry, Reply)>,
    store: Arc<dyn Store>,
    custody: Arc<dyn Custody>,
    cfg: AuditConfig,
    metrics: Arc<Metrics>,
) {
    let mut memory = MemoryChain::default();
    let mut last_checkpoint = 0u64;
    // At most one checkpoint at a time, off the commit path: records keep flowing while the
    // boundary signs the head.
    let mut in_flight: Option<tokio::task::JoinHandle<Result<u64, String>>> = None;
    let mut batch = Vec::with_capacity(cfg.batch_max);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < cfg.batch_max {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (entries, replies): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        let result = match cfg.sink {
            AuditSinkKind::Store => store
                .audit_append(&entries)
                .await
                .map_err(|e| AuditError(e.to_string())),
            AuditSinkKind::Memory => Ok(memory.append(entries)),
        };
        match result {
            Ok(stored) => {
                metrics.audit_records.inc_by(stored.len() as u64);
                metrics.audit_batch.observe(stored.len() as f64);
                let head = stored.last().map(|r| (r.id, r.hash.clone()));
                for (reply, rec) in replies.into_iter().zip(stored) {
                    let _ = reply.send(Ok(rec));
                }
                if in_flight.as_ref().is_some_and(|t| t.is_finished()) {
                    if let Some(id) = finish_checkpoint(in_flight.take()).await {
                        last_checkpoint = id;
                    }
                }
                if let (Some((id, hash)), AuditSinkKind::Store, None) = (head, cfg.sink, &in_flight)
                {
                    if cfg.checkpoint_every > 0 && id >= last_checkpoint + cfg.checkpoint_every {
                        let (store, custody) = (store.clone(), custody.clone());
                        in_flight = Some(tokio::spawn(async move {
                            checkpoint(&*store, &*custody, id, &hash).await.map(|()| id)
                        }));
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "audit append failed; refusing the requests");
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
    if let Some(id) = finish_checkpoint(in_flight.take()).await {
        last_checkpoint = id;
    }
    if cfg.sink == AuditSinkKind::Store {
        if let Ok(Some((id, hash))) = store.audit_head().await {
            if id > last_checkpoint {
                if let Err(e) = checkpoint(&*store, &*custody, id, &hex::encode(hash)).await {
                    tracing::warn!(error = %e, "final audit checkpoint failed");
                }
            }
        }
    }
}

/// Waits for a checkpoint task; the record id it covered, or `None` (logged) if it failed and
/// the next batch should try again.
async fn finish_checkpoint(
    task: Option<tokio::task::JoinHandle<Result<u64, String>>>,
) -> Option<u64> {
    match task?.await {
        Ok(Ok(id)) => Some(id),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "audit checkpoint failed; will retry");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "audit checkpoint task failed; will retry");
            None
        }
    }
}

/// Has the boundary sign the head `(seq, hash)` and stores the checkpoint.
pub async fn checkpoint(
    store: &dyn Store,
    custody: &dyn Custody,
    seq: u64,
    hash_hex: &str,
) -> Result<(), String> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(hash_hex, &mut hash).map_err(|e| e.to_string())?;
    let cp = custody
        .sign_audit_checkpoint(seq, hash)
        .await
        .map_err(|e| e.to_string())?;
    let v = serde_json::to_value(&cp).map_err(|e| e.to_string())?;
    store
        .put_audit_checkpoint(seq, v)
        .await
        .map_err(|e| e.to_string())
}

/// The chain kept in memory only (benchmark baseline for the cost of durability).
#[derive(Default)]
struct MemoryChain {
    head: u64,
    prev: [u8; 32],
}

impl MemoryChain {
    fn append(&mut self, entries: Vec<AuditEntry>) -> Vec<StoredAudit> {
        entries
            .into_iter()
            .map(|entry| {
                self.head += 1;
                let h = entry.chain_hash(self.head, &self.prev);
                let rec = StoredAudit {
                    id: self.head,
                    entry,
                    prev_hash: hex::encode(self.prev),
                    hash: hex::encode(h),
                };
                self.prev = h;
                rec
            })
            .collect()
    }
}

/// Outcome of verifying the whole log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// Records verified.
    pub records: u64,
    /// Signed checkpoints verified.
    pub checkpoints: u64,
}

/// A broken log: the first bad record and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit record {id} is broken: {reason}")]
pub struct Broken {
    /// First broken record id.
    pub id: u64,
    /// Why.
    pub reason: String,
}

/// Walks the whole chain, then checks every signed checkpoint against it: each must verify
/// under the boundary key that signed the first checkpoint and match the record it names, and
/// no checkpoint may name a record that no longer exists (truncation).
pub async fn verify(
    store: &dyn Store,
    verify_checkpoint: impl Fn(&AuditCheckpoint) -> bool,
) -> Result<Result<VerifyReport, Broken>, custos_core::StoreError> {
    let mut v = ChainVerifier::default();
    let mut hashes = std::collections::HashMap::new();
    let checkpoints = store.audit_checkpoints().await?;
    let wanted: std::collections::HashSet<u64> = checkpoints
        .iter()
        .filter_map(|c| c.get("seq").and_then(|s| s.as_u64()))
        .collect();
    let mut after = 0;
    loop {
        let page = store.audit_page(None, after, 1000).await?;
        if page.is_empty() {
            break;
        }
        for r in &page {
            if let Err(b) = v.push(r) {
                return Ok(Err(Broken {
                    id: b.id,
                    reason: b.reason,
                }));
            }
            if wanted.contains(&r.id) {
                hashes.insert(r.id, r.hash.clone());
            }
            after = r.id;
        }
    }
    let mut key: Option<String> = None;
    for c in &checkpoints {
        let Ok(cp) = serde_json::from_value::<AuditCheckpoint>(c.clone()) else {
            return Ok(Err(Broken {
                id: v.count() + 1,
                reason: "a stored checkpoint is unreadable".into(),
            }));
        };
        let pinned = key.get_or_insert_with(|| cp.public_key.clone());
        if *pinned != cp.public_key || !verify_checkpoint(&cp) {
            return Ok(Err(Broken {
                id: cp.seq,
                reason: "checkpoint signature does not verify under the boundary key".into(),
            }));
        }
        match hashes.get(&cp.seq) {
            Some(h) if *h == cp.head_hash => {}
            Some(_) => {
                return Ok(Err(Broken {
                    id: cp.seq,
                    reason: "record differs from the signed checkpoint".into(),
                }))
            }
            None => {
                return Ok(Err(Broken {
                    id: v.count() + 1,
                    reason: format!(
                        "log truncated: a signed checkpoint covers record {}",
                        cp.seq
                    ),
                }))
            }
        }
    }
    Ok(Ok(VerifyReport {
        records: v.count(),
        checkpoints: checkpoints.len() as u64,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use custos_core::AuditOutcome;
    use custos_custody::{EnclaveClient, EnclaveConfig};
    use std::time::Duration;

    fn record(n: u64) -> AuditEntry {
        AuditEntry {
            time_ms: 1_700_000_000_000 + n as i64,
            agent_id: None,
            operator: None,
            endpoint: "POST /test".into(),
            action: format!("test.{n}"),
            params: serde_json::json!({"n": n}),
            usd_amount: None,
            token_amounts: serde_json::json!([]),
            tx: None,
            outcome: AuditOutcome::Success,
            status: 200,
            reason: None,
            request_id: format!("req-{n}"),
        }
    }

    /// The writer commits every record durably, signs checkpoints beside the commit path while
    /// records keep arriving, and on shutdown waits for the one in flight and signs the final
    /// head: the whole log then verifies under the boundary's key.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checkpoints_are_signed_beside_the_writer_and_the_log_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("enclave.sock");
        let mut ecfg = EnclaveConfig::new(&socket, dir.path().join("enclave"));
        ecfg.harden = false;
        let enclave = tokio::spawn(custos_custody::enclave::run(ecfg));
        let client = EnclaveClient::new(&socket).with_timeout(Duration::from_secs(5));
        for _ in 0..200 {
            if client.health().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let store: Arc<dyn Store> = Arc::new(
            custos_store::SqliteStore::open_in_dir(dir.path())
                .await
                .unwrap(),
        );
        let cfg = AuditConfig {
            sink: AuditSinkKind::Store,
            batch_max: 512,
            checkpoint_every: 5,
        };
        let (sink, task) = AuditSink::start(
            store.clone(),
            Arc::new(client),
            cfg,
            Arc::new(Metrics::new().unwrap()),
        );
        let mut ids = Vec::new();
        for n in 1..=23 {
            ids.push(sink.append(record(n)).await.unwrap().id);
        }
        assert_eq!(ids, (1..=23).collect::<Vec<u64>>());
        drop(sink);
        task.await.unwrap();
        let checkpoints = store.audit_checkpoints().await.unwrap();
        let seqs: Vec<u64> = checkpoints
            .iter()
            .filter_map(|c| c.get("seq").and_then(|s| s.as_u64()))
            .collect();
        // Periodic ones (at least every 5 records, unless one was still being signed) and the
        // final head.
        assert!(seqs.len() >= 3, "{seqs:?}");
        assert_eq!(seqs.iter().max(), Some(&23), "{seqs:?}");
        let report = verify(&*store, |cp| custos_custody::verify_checkpoint(cp).is_ok())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.records, 23);
        assert_eq!(report.checkpoints, seqs.len() as u64);
        enclave.abort();
    }
}
