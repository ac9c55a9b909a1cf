//! Criterion: the policy document — strict parsing of a partial document over the server
//! default with validation (what `PUT /v1/admin/agents/{id}/policy` and every action's
//! `policy_of` do), and serialising it for the enclave. `evaluate` joins here when the policy
//! engine lands.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use custos_policy::PolicyDocument;

fn policy_parse(c: &mut Criterion) {
    let base = PolicyDocument::default();
    let partial = serde_json::json!({
        "actions": {"transfer": true, "sign_message": true, "trade": true},
        "limits": {"per_tx_usd": "50", "daily_usd": "500", "max_tx_per_hour": 30},
        "recipients": {"mode": "allowlist", "allow": [
            "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin",
            "0x52908400098527886E0F7030069857D2E4169EE7"
        ], "deny": []}
    });
    let full = serde_json::to_value(&base).unwrap();
    let full_text = full.to_string();
    let mut group = c.benchmark_group("policy_document");
    group.throughput(Throughput::Elements(1));
    group.bench_function("from_json_over_partial", |b| {
        b.iter(|| PolicyDocument::from_json_over(black_box(&partial), &base).unwrap())
    });
    group.bench_function("from_json_over_full", |b| {
        b.iter(|| PolicyDocument::from_json_over(black_box(&full), &base).unwrap())
    });
    group.bench_function("parse_text_and_validate", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_str(black_box(&full_text)).unwrap();
            PolicyDocument::from_json_over(&v, &base).unwrap()
        })
    });
    group.bench_function("to_json_value", |b| {
        b.iter(|| serde_json::to_value(black_box(&base)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, policy_parse);
criterion_main!(benches);
