//! The audit sink: every audited request hands its record to one writer task, which commits
//! whatever has queued up as one transaction (group commit) and only then releases the callers.
//! A caller that gets an error must not complete its action: the log fails closed.
//!
//! On the embedded SQLite store the commit runs on the writer task's own thread (custos-store's
//! `audit_writer`), so a lone request's record costs its `fdatasync` and no thread hand-offs;
//! the worker it blocks is the one that would otherwise sit waiting, and only this one task
//! commits, so at most one worker is ever blocked.
//!
//! Every `checkpoint_every` records the writer asks the custody boundary to sign the chain
//! head, so truncating or rewriting the log is detectable by anyone who knows the boundary's
//! identity key ([`verify_with_trust`] with [`Trust::Key`]); the key found in the database
//! proves nothing, since whoever can write the database can re-sign with a key of their own.
//! The signing runs beside the writer (one at a time), so commits do not wait for it.
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
            AuditSinkKind::Store => {
                let r = store.audit_append(&entries).await;
                if r.is_ok() {
                    metrics.observe_audit(&entries);
                }
                r.map_err(|e| AuditError(e.to_string()))
            }
            AuditSinkKind::Memory => {
                metrics.observe_audit(&entries);
                Ok(memory.append(entries))
            }
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
                    match finish_checkpoint(in_flight.take()).await {
                        Some(id) => last_checkpoint = id,
                        None => metrics.checkpoint_failures.inc(),
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
                    metrics.checkpoint_failures.inc();
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
    if crate::faults::fired("audit_checkpoint", "fail") {
        return Err("fault injected: checkpoint not signed".into());
    }
    let mut hash = [0u8; 32];
    hex::decode_to_slice(hash_hex, &mut hash).map_err(|e| e.to_string())?;
    let cp = custody
        .sign_audit_checkpoint(seq, hash)
        .await
        .map_err(|e| e.to_string())?;
    let v = serde_json::to_value(&cp).map_err(|e| e.to_string())?;
    match store.put_audit_checkpoint(seq, v).await {
        // This record is checkpointed already (by an earlier process, or another replica).
        Ok(()) | Err(custos_core::StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
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
    /// The highest record a verified checkpoint covers (0 without checkpoints). Records after it
    /// are chained but not yet signed: whoever can write the database can still rewrite them.
    pub covered: u64,
    /// The hex key every checkpoint is signed by (`None` without checkpoints). With
    /// [`Trust::FirstFound`] it is only the key the database holds, not one anybody vouched for.
    pub key: Option<String>,
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

/// Which key the signed checkpoints must be signed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust<'a> {
    /// Whatever key signed the first checkpoint in the database (every later one must match it).
    /// Whoever can write the database chooses that key: a log re-chained and re-signed with a
    /// key of their own passes. It catches edits made without re-signing, nothing more.
    FirstFound,
    /// The boundary's identity key, obtained out of band (hex Ed25519, see
    /// [`parse_trusted_key`]): every checkpoint must be signed by exactly this key.
    Key(&'a str),
}

/// Checks a hex Ed25519 public key given as the trusted boundary key; returns it in lowercase
/// hex, or why it is not one.
pub fn parse_trusted_key(key: &str) -> Result<String, String> {
    let key = key.trim();
    if key.len() != 64 {
        return Err(format!(
            "expected 64 hex characters (an Ed25519 public key), got {}",
            key.chars().count()
        ));
    }
    let mut raw = [0u8; 32];
    hex::decode_to_slice(key, &mut raw).map_err(|_| "not hexadecimal".to_string())?;
    ed25519_dalek::VerifyingKey::from_bytes(&raw)
        .map_err(|_| "not a valid Ed25519 public key".to_string())?;
    Ok(hex::encode(raw))
}

/// A key read from the database, safe to show: hex of the right length, or a placeholder.
fn shown_key(key: &str) -> String {
    if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        key.to_ascii_lowercase()
    } else {
        "<malformed key>".into()
    }
}

/// [`verify_with_trust`] with [`Trust::FirstFound`]: the checkpoints are checked only against
/// the key of the first checkpoint in the database, which whoever can write the database
/// chooses. Callers that know the boundary's identity key should use [`verify_with_trust`].
pub async fn verify(
    store: &dyn Store,
    verify_checkpoint: impl Fn(&AuditCheckpoint) -> bool,
) -> Result<Result<VerifyReport, Broken>, custos_core::StoreError> {
    verify_with_trust(store, Trust::FirstFound, verify_checkpoint).await
}

/// Walks the whole chain, then checks every signed checkpoint against it: each must be signed
/// by the key `trust` names (the trusted key, or else the key of the first checkpoint), verify
/// under it (`verify_checkpoint`), and match the record it names; no checkpoint may name a
/// record that no longer exists (truncation).
///
/// Only [`Trust::Key`] makes a re-signed log fail: with [`Trust::FirstFound`] whoever can write
/// the database can re-chain the log and re-sign every checkpoint with a key of their own.
pub async fn verify_with_trust(
    store: &dyn Store,
    trust: Trust<'_>,
    verify_checkpoint: impl Fn(&AuditCheckpoint) -> bool,
) -> Result<Result<VerifyReport, Broken>, custos_core::StoreError> {
    let checkpoints = store.audit_checkpoints().await?;
    verify_pages(
        |after| store.audit_page(None, after, 1000),
        &checkpoints,
        trust,
        verify_checkpoint,
    )
    .await
}

/// [`verify_with_trust`] over any source of the log: `next_page(after)` returns the records
/// after id `after` in order (empty at the end), `checkpoints` the stored checkpoints. A client
/// verifies a log it fetched over the API with it, independently of the server's own verdict.
pub async fn verify_pages<E, F>(
    mut next_page: impl FnMut(u64) -> F,
    checkpoints: &[serde_json::Value],
    trust: Trust<'_>,
    verify_checkpoint: impl Fn(&AuditCheckpoint) -> bool,
) -> Result<Result<VerifyReport, Broken>, E>
where
    F: std::future::Future<Output = Result<Vec<StoredAudit>, E>>,
{
    let mut v = ChainVerifier::default();
    let mut hashes = std::collections::HashMap::new();
    let wanted: std::collections::HashSet<u64> = checkpoints
        .iter()
        .filter_map(|c| c.get("seq").and_then(|s| s.as_u64()))
        .collect();
    let mut after = 0;
    loop {
        let page = next_page(after).await?;
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
    let mut key: Option<String> = match trust {
        Trust::FirstFound => None,
        Trust::Key(k) => Some(k.to_ascii_lowercase()),
    };
    let mut covered = 0;
    for c in checkpoints {
        let Ok(cp) = serde_json::from_value::<AuditCheckpoint>(c.clone()) else {
            return Ok(Err(Broken {
                id: v.count() + 1,
                reason: "a stored checkpoint is unreadable".into(),
            }));
        };
        let pinned = key.get_or_insert_with(|| cp.public_key.to_ascii_lowercase());
        if !pinned.eq_ignore_ascii_case(&cp.public_key) {
            let whose = match trust {
                Trust::Key(_) => "the trusted key",
                Trust::FirstFound => "the key of the first checkpoint",
            };
            return Ok(Err(Broken {
                id: cp.seq,
                reason: format!(
                    "checkpoint signed by key {}, not {whose} {pinned}",
                    shown_key(&cp.public_key)
                ),
            }));
        }
        if !verify_checkpoint(&cp) {
            return Ok(Err(Broken {
                id: cp.seq,
                reason: "checkpoint signature does not verify under the boundary key".into(),
            }));
        }
        match hashes.get(&cp.seq) {
            Some(h) if *h == cp.head_hash => covered = covered.max(cp.seq),
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
        covered,
        key: if checkpoints.is_empty() { None } else { key },
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
        let check = |cp: &AuditCheckpoint| custos_custody::verify_checkpoint(cp).is_ok();
        let identity = EnclaveClient::new(&socket)
            .attestation(b"audit-test")
            .await
            .unwrap()
            .public_key;
        let trusted = parse_trusted_key(&identity).unwrap();
        let report = verify_with_trust(&*store, Trust::Key(&trusted), check)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.records, 23);
        assert_eq!(report.checkpoints, seqs.len() as u64);
        assert_eq!(report.covered, 23);
        assert_eq!(report.key.as_deref(), Some(trusted.as_str()));
        // Without a trusted key the key found in the database is pinned: the same key here.
        let first = verify(&*store, check).await.unwrap().unwrap();
        assert_eq!(first, report);
        // Another trusted key: the first checkpoint is named, with both keys.
        let other = hex::encode(
            ed25519_dalek::SigningKey::from_bytes(&[9u8; 32])
                .verifying_key()
                .to_bytes(),
        );
        let broken = verify_with_trust(&*store, Trust::Key(&other), check)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(broken.id, seqs[0], "{broken}");
        assert_eq!(
            broken.reason,
            format!("checkpoint signed by key {trusted}, not the trusted key {other}")
        );
        enclave.abort();
    }

    /// A log whose checkpoints are all signed by a key the database chose verifies when the
    /// first key found is pinned (the hole `Trust::Key` closes) and fails against the trusted
    /// key, naming the first checkpoint's record.
    #[tokio::test]
    async fn a_log_signed_by_another_key_fails_only_against_the_trusted_key() {
        use ed25519_dalek::Signer as _;
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            custos_store::SqliteStore::open_in_dir(dir.path())
                .await
                .unwrap(),
        );
        let stored = store
            .audit_append(&(1..=6).map(record).collect::<Vec<_>>())
            .await
            .unwrap();
        let forger = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]);
        let forger_hex = hex::encode(forger.verifying_key().to_bytes());
        for r in [&stored[2], &stored[5]] {
            let sig = forger.sign(&AuditCheckpoint::signed_bytes(r.id, &r.hash, 1000));
            let cp = AuditCheckpoint {
                seq: r.id,
                head_hash: r.hash.clone(),
                timestamp_ms: 1000,
                public_key: forger_hex.clone(),
                signature: hex::encode(sig.to_bytes()),
            };
            store
                .put_audit_checkpoint(r.id, serde_json::to_value(&cp).unwrap())
                .await
                .unwrap();
        }
        let check = |cp: &AuditCheckpoint| custos_custody::verify_checkpoint(cp).is_ok();
        let report = verify(&*store, check).await.unwrap().unwrap();
        assert_eq!(
            (report.records, report.checkpoints, report.covered),
            (6, 2, 6)
        );
        assert_eq!(report.key.as_deref(), Some(forger_hex.as_str()));

        let real = hex::encode(
            ed25519_dalek::SigningKey::from_bytes(&[4u8; 32])
                .verifying_key()
                .to_bytes(),
        );
        let broken = verify_with_trust(&*store, Trust::Key(&real.to_uppercase()), check)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(broken.id, 3, "{broken}");
        assert_eq!(
            broken.reason,
            format!("checkpoint signed by key {forger_hex}, not the trusted key {real}")
        );
        let ok = verify_with_trust(&*store, Trust::Key(&forger_hex), check)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ok, report);
    }

    #[test]
    fn trusted_keys_are_64_hex_characters_of_an_ed25519_point() {
        let k = hex::encode(
            ed25519_dalek::SigningKey::from_bytes(&[5u8; 32])
                .verifying_key()
                .to_bytes(),
        );
        assert_eq!(parse_trusted_key(&k.to_uppercase()), Ok(k.clone()));
        assert_eq!(parse_trusted_key(&format!(" {k}\n")), Ok(k.clone()));
        assert!(parse_trusted_key(&k[..62])
            .unwrap_err()
            .contains("expected 64 hex characters"));
        assert_eq!(
            parse_trusted_key(&"zz".repeat(32)),
            Err("not hexadecimal".into())
        );
        // y = 2 is not on the curve.
        let mut off = [0u8; 32];
        off[0] = 2;
        assert_eq!(
            parse_trusted_key(&hex::encode(off)),
            Err("not a valid Ed25519 public key".into())
        );
    }
}
