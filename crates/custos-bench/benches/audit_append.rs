//! Criterion: `SqliteStore::audit_append` (hash chain + one durable transaction) at batch sizes
//! 1, 16 and 256, on a temporary directory — the cost the audit writer's group commit amortises.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use custos_core::{AgentId, AuditEntry, AuditOutcome, Store};
use custos_store::SqliteStore;
use std::time::Duration;

fn entry(i: usize, agent: AgentId) -> AuditEntry {
    AuditEntry {
        time_ms: 1_700_000_000_000 + i as i64,
        agent_id: Some(agent),
        operator: None,
        endpoint: "POST /v1/wallets/me/actions/{action}".into(),
        action: "sign".into(),
        params: serde_json::json!({"chain": "message", "message_len": 35,
            "message_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}),
        usd_amount: None,
        token_amounts: serde_json::json!([]),
        tx: Some("ab".repeat(64)),
        outcome: AuditOutcome::Success,
        status: 200,
        reason: None,
        request_id: format!("{i:032x}"),
    }
}

fn audit_append(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = rt.block_on(SqliteStore::open_in_dir(dir.path())).unwrap();
    let agent = AgentId(uuid::Uuid::new_v4());
    let mut group = c.benchmark_group("sqlite_audit_append");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(4));
    for n in [1usize, 16, 256] {
        let batch: Vec<AuditEntry> = (0..n).map(|i| entry(i, agent)).collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &batch, |b, batch| {
            b.iter(|| rt.block_on(store.audit_append(batch)).unwrap());
        });
    }
    group.finish();
    rt.block_on(store.close());
}

criterion_group!(benches, audit_append);
criterion_main!(benches);
