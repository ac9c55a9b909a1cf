//! The Prometheus alerting rules in `docs/prometheus-alerts.yml`: `promtool` (Prometheus' own
//! checker, from Debian's `prometheus` package) accepts them and passes their unit tests
//! (`docs/prometheus-alerts.test.yml`), and a live server exposes every metric they name, each
//! moved by the event it stands for — a refused request, a failed login, an action's USD value,
//! a freeze, and the supervised enclave killed and restarted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{repo_root, Server};
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

fn promtool(args: &[&str]) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(repo_root().join("docs"))
        .output()
        .expect("promtool (scripts/test-deps.sh installs Debian's prometheus package)");
    assert!(
        out.status.success(),
        "promtool {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of the sample `name{labels}` in a scrape (labels as written, `""` for none).
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn promtool_accepts_the_rules_and_their_unit_tests_pass() {
    promtool(&["check", "rules", "prometheus-alerts.yml"]);
    promtool(&["test", "rules", "prometheus-alerts.test.yml"]);
}

#[tokio::test]
async fn every_metric_the_rules_name_is_served_and_moves() {
    let srv = Server::start().await;
    let scrape = || async { srv.get("/metrics", None).await.text };

    // A failed login, a refused action, a transfer with a USD value, a freeze.
    let r = srv
        .post(
            "/v1/auth/verify",
            None,
            &json!({"email": "nobody@example.com", "code": "000000"}),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    let s = srv.funded_solana_agent("alerts@example.com", "100").await;
    let r = srv
        .post(
            "/v1/wallets/me/actions/prediction",
            Some(&s.token),
            &json!({"operation": "buy", "ticker": "KXFED-X", "side": "yes", "count": 1, "limit_price": "0.5"}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let to = bs58::encode(rand::random::<[u8; 32]>()).into_string();
    let r = srv
        .post(
            "/v1/wallets/me/actions/transfer",
            Some(&s.token),
            &json!({"chain": "solana", "to": to, "asset": "SOL", "amount": "0.01"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    srv.freeze(&s.agent_id, &srv.operator_token("admin")).await;

    // The enclave killed: the supervisor restarts it and counts it.
    let children = srv.children();
    assert_eq!(children.len(), 1, "{children:?}");
    let killed = Command::new("kill")
        .args(["-9", &children[0].to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let text = loop {
        let text = scrape().await;
        if sample(&text, "custos_enclave_restarts_total") == Some(1.0) {
            break text;
        }
        assert!(Instant::now() < deadline, "no restart counted:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    assert_eq!(
        sample(&text, r#"custos_auth_failures_total{kind="otp"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"custos_denials_total{action="prediction"}"#),
        Some(1.0),
        "{text}"
    );
    // 0.01 SOL at the static 150 USD: one transfer in the bucket at 10 USD and below 1 USD's.
    assert_eq!(
        sample(&text, r#"custos_action_usd_count{action="transfer"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"custos_action_usd_bucket{action="transfer",le="1"}"#
        ),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"custos_action_usd_bucket{action="transfer",le="10"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(sample(&text, "custos_agent_freezes_total"), Some(1.0));
    assert_eq!(
        sample(&text, "custos_audit_checkpoint_failures_total"),
        Some(0.0)
    );
    assert_eq!(sample(&text, "custos_handler_panics_total"), Some(0.0));
    assert_eq!(
        sample(&text, "custos_keys_rotation_due"),
        Some(0.0),
        "fresh keys"
    );

    // Every metric an alert names is in the scrape (so the rules cannot drift from the code).
    let rules = std::fs::read_to_string(repo_root().join("docs/prometheus-alerts.yml")).unwrap();
    let mut named: Vec<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("custos_"))
        .collect();
    named.sort_unstable();
    named.dedup();
    assert!(named.len() >= 7, "{named:?}");
    for name in named {
        assert!(
            text.lines().any(|l| l.starts_with(name)),
            "{name} is named by an alert but not served:\n{text}"
        );
    }
}
