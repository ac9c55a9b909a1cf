//! Criterion: the policy engine's `evaluate` on the decision every Solana transfer needs — a
//! declared SOL transfer whose simulated effects (SOL out, fee) are valued in USD — once
//! allowed, once denied by the daily cap, and `explain` (the dry run). Throughput is
//! evaluations per second.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use custos_core::{
    Action, AssetDelta, AssetId, Chain, Decimal, Effects, Intent, NetworkCost, Usage, UsdValue,
};
use custos_policy::{evaluate, explain, Decision, PolicyDocument};

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn policy_eval(c: &mut Criterion) {
    let policy = PolicyDocument::from_json_over(
        &serde_json::json!({
            "limits": {"per_tx_usd": "50", "daily_usd": "500", "max_tx_per_hour": 30},
            "recipients": {"mode": "allowlist", "allow": [
                "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"
            ], "deny": ["4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T"]}
        }),
        &PolicyDocument::default(),
    )
    .unwrap();
    let sol = AssetId::new("SOL");
    let intent = Intent {
        action: Action::Transfer,
        chain: Chain::Solana,
        recipient: Some("9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin".into()),
        asset: Some(sol.clone()),
        amount: dec("0.1"),
        declared_usd: UsdValue::Known(dec("15")),
    };
    let mut effects = Effects {
        changes: vec![AssetDelta {
            asset: sol.clone(),
            decimals: 9,
            delta_atoms: -100_005_000,
        }],
        programs: vec!["11111111111111111111111111111111".into()],
        methods: vec![],
        recipients: vec!["9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin".into()],
        network_cost: Some(NetworkCost {
            asset: sol.clone(),
            atoms: 5_000,
        }),
        ..Effects::default()
    };
    effects.prices.insert(sol, UsdValue::Known(dec("150")));
    let fresh = Usage {
        frozen: false,
        spent_usd_24h: dec("20"),
        tx_last_hour: 3,
    };
    let spent = Usage {
        spent_usd_24h: dec("495"),
        ..fresh
    };
    assert!(matches!(
        evaluate(&policy, &intent, &effects, &fresh),
        Decision::Allow(_)
    ));
    assert!(matches!(
        evaluate(&policy, &intent, &effects, &spent),
        Decision::Deny { .. }
    ));
    let mut group = c.benchmark_group("policy_engine");
    group.throughput(Throughput::Elements(1));
    group.bench_function("evaluate_transfer_allow", |b| {
        b.iter(|| {
            evaluate(
                black_box(&policy),
                black_box(&intent),
                black_box(&effects),
                &fresh,
            )
        })
    });
    group.bench_function("evaluate_transfer_deny_daily", |b| {
        b.iter(|| {
            evaluate(
                black_box(&policy),
                black_box(&intent),
                black_box(&effects),
                &spent,
            )
        })
    });
    group.bench_function("explain_transfer", |b| {
        b.iter(|| {
            explain(
                black_box(&policy),
                black_box(&intent),
                black_box(&effects),
                &fresh,
            )
        })
    });
    group.finish();
}

criterion_group!(benches, policy_eval);
criterion_main!(benches);
