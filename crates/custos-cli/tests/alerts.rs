//! Alerts, both ways an operator gets them.
//!
//! - The Prometheus alerting rules in `docs/prometheus-alerts.yml`: `promtool` (Prometheus' own
//!   checker, from Debian's `prometheus` package) accepts them and passes their unit tests
//!   (`docs/prometheus-alerts.test.yml`), and a live server exposes every metric they name, each
//!   moved by the event it stands for — a refused request, a failed login, an action's USD value,
//!   a freeze, and the supervised enclave killed and restarted.
//! - Alert webhooks (`[alerts] url`): a local receiver gets each condition once — a burst of
//!   refusals, a transaction above the threshold, repeated failed logins, a frozen agent, the
//!   kill switch, an enclave restart, a failed audit checkpoint (fault injected), keys due for
//!   rotation (the server restarted under libfaketime, 100 days on), a test alert — each signed
//!   with the secret `custos admin alert-secret` prints (checked with the harness's own
//!   HMAC-SHA256); the receiver fails the first deliveries, they are retried, and the alert log
//!   shows every attempt.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::receiver::{verifies, Got, Receiver};
use common::{repo_root, Server};
use serde_json::{json, Value};
use std::collections::BTreeMap;
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

/// A prediction order the agent's policy refuses (it allows none); asserts the `403`.
async fn refused_prediction(srv: &Server, token: &str) {
    let r = srv
        .post(
            "/v1/wallets/me/actions/prediction",
            Some(token),
            &json!({"operation": "buy", "ticker": "KXFED-X", "side": "yes", "count": 1, "limit_price": "0.5"}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
}

/// A fresh Solana address.
fn random_address() -> String {
    bs58::encode(rand::random::<[u8; 32]>()).into_string()
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
    srv.refused_login("nobody@example.com").await;
    let s = srv.funded_solana_agent("alerts@example.com", "100").await;
    refused_prediction(&srv, &s.token).await;
    let r = srv.transfer_sol(&s.token, &random_address(), "0.01").await;
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

/// The alert bodies the receiver got, by alert id (`key`), with what it answered each time.
fn by_key(got: &[Got]) -> BTreeMap<String, Vec<(Value, u16)>> {
    let mut out: BTreeMap<String, Vec<(Value, u16)>> = BTreeMap::new();
    for g in got {
        let body: Value = serde_json::from_str(&g.body).unwrap();
        let id = body["id"].as_str().unwrap().to_owned();
        assert_eq!(g.header("custos-event-id"), Some(id.as_str()), "{g:?}");
        out.entry(id).or_default().push((body, g.answered));
    }
    out
}

/// Waits until the receiver has answered 2xx to an alert of each rule in `rules`.
async fn wait_delivered(rx: &Receiver, rules: &[&str]) -> BTreeMap<String, Vec<(Value, u16)>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let keys = by_key(&rx.got());
        let delivered = |rule: &str| {
            keys.values()
                .any(|v| v.iter().any(|(b, a)| b["rule"] == rule && *a < 300))
        };
        if rules.iter().all(|r| delivered(r)) {
            return keys;
        }
        assert!(
            Instant::now() < deadline,
            "alerts delivered: {:#?}",
            keys.keys().collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// libfaketime's preload library, which `scripts/test-deps.sh` installs.
fn libfaketime() -> String {
    let found = std::fs::read_dir("/usr/lib")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.exists())
        .expect("libfaketime (scripts/test-deps.sh installs Debian's libfaketime)");
    found.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_alert_is_posted_once_signed_retried_and_logged() {
    // The first two deliveries fail: they must be retried.
    let rx = Receiver::start(vec![500, 503]).await;
    let config = format!(
        "[alerts]\nurl = \"{}\"\ndenial_burst_count = 3\ndenial_burst_seconds = 60\n\
         failed_login_count = 2\nlarge_transaction_usd = 1.0\n\
         [webhooks]\npoll_interval_ms = 100\n[audit]\ncheckpoint_every = 1\n",
        rx.url
    );
    let mut srv = Server::builder()
        .config(&config)
        .env("FAULT_INJECT", "audit_checkpoint=fail")
        .start()
        .await;
    let admin = srv.operator_token("admin");

    // Two refused login codes for one address.
    for _ in 0..2 {
        srv.refused_login("mallory@example.com").await;
    }
    // A transfer of 0.01 SOL (1.5 USD at the static price) above the 1 USD threshold.
    let s = srv.funded_solana_agent("alerted@example.com", "100").await;
    let r = srv.transfer_sol(&s.token, &random_address(), "0.01").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let tx = r.json()["tx"].as_str().unwrap().to_owned();
    // Three refusals (the policy allows no prediction orders), then a freeze.
    for _ in 0..3 {
        refused_prediction(&srv, &s.token).await;
    }
    srv.freeze(&s.agent_id, &admin).await;
    let r = srv
        .post(
            "/v1/admin/kill-switch",
            Some(&admin),
            &json!({"engaged": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The enclave killed: the supervisor restarts it.
    let killed = Command::new("kill")
        .args(["-9", &srv.children()[0].to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // A test alert: admins only.
    let viewer = srv.operator_token("viewer");
    let r = srv
        .post("/v1/admin/alerts/test", Some(&viewer), &json!({}))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = srv
        .post("/v1/admin/alerts/test", Some(&admin), &json!({}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let test_key = r.json()["key"].as_str().unwrap().to_owned();

    let rules = [
        "failed_logins",
        "large_transaction",
        "denial_burst",
        "agent_frozen",
        "enclave_restart",
        "checkpoint_failure",
        "test",
    ];
    let keys = wait_delivered(&rx, &rules).await;
    assert!(
        keys.contains_key(&format!("large_transaction:{tx}")),
        "{keys:#?}"
    );
    assert!(keys.contains_key(&test_key));
    let frozen: Vec<&Value> = keys
        .values()
        .map(|v| &v[0].0)
        .filter(|b| b["rule"] == "agent_frozen")
        .collect();
    assert_eq!(frozen.len(), 2, "the agent, then everyone: {frozen:?}");
    assert!(frozen
        .iter()
        .any(|b| b["data"]["agent_id"] == s.agent_id.as_str()));
    assert!(frozen.iter().any(|b| b["data"]["agent_id"] == "all"));
    let burst = keys
        .values()
        .map(|v| &v[0].0)
        .find(|b| b["rule"] == "denial_burst")
        .unwrap();
    assert_eq!(burst["data"]["agent_id"], s.agent_id.as_str());
    assert_eq!(burst["data"]["count"], 3);
    assert_eq!(burst["severity"], "warning");

    // Signed with the operators' secret; each alert answered 2xx exactly once; the two failed
    // answers were retried.
    let out = srv.cli(&["admin", "alert-secret"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(secret.starts_with("whsec_"));
    // Let any duplicate arrive before counting.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = rx.got();
    for g in &got {
        let sig = g.header("custos-signature").unwrap();
        assert!(verifies(&secret, sig, &g.body), "bad signature: {g:?}");
        assert!(!verifies("whsec_00", sig, &g.body));
    }
    let keys = by_key(&got);
    for (key, answers) in &keys {
        let ok = answers.iter().filter(|(_, a)| *a < 300).count();
        assert_eq!(ok, 1, "{key}: {answers:?}");
        assert!(
            answers.iter().all(|(b, _)| b == &answers[0].0),
            "same body each attempt"
        );
    }
    let retried: Vec<&String> = keys
        .iter()
        .filter(|(_, a)| a.len() > 1)
        .map(|(k, _)| k)
        .collect();
    assert!(!retried.is_empty(), "{keys:#?}");

    // The log: every alert delivered, the retried ones with their attempts.
    let r = srv.get("/v1/admin/alerts?limit=1000", Some(&viewer)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let log = r.json();
    assert_eq!(log["enabled"], true);
    let entries = log["alerts"].as_array().unwrap();
    assert_eq!(entries.len(), keys.len(), "{log:#}");
    for e in entries {
        let key = e["key"].as_str().unwrap();
        assert_eq!(e["status"], "delivered", "{e}");
        assert_eq!(
            e["attempts"].as_u64().unwrap() as usize,
            keys[key].len(),
            "{e}"
        );
        assert_eq!(e["last_http_status"], 200);
        assert!(e.get("url").is_none(), "the receiver URL is not repeated");
    }
    let r = srv.get("/v1/admin/alerts?limit=0", Some(&viewer)).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.json()["error"]["field"], "limit");

    // 100 days on: every key is due for rotation; one alert per key, and nothing delivered
    // before is delivered again.
    let first = keys;
    srv.restart_with(
        Some(&config),
        &[
            ("LD_PRELOAD", &libfaketime()),
            ("FAKETIME", "+100d"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    )
    .await;
    wait_delivered(&rx, &["rotation_due"]).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let all = by_key(&rx.got());
    for (key, answers) in &all {
        let ok = answers.iter().filter(|(_, a)| *a < 300).count();
        assert_eq!(ok, 1, "{key}: {answers:?}");
    }
    let new: Vec<&Value> = all
        .iter()
        .filter(|(k, _)| !first.contains_key(*k))
        .map(|(_, v)| &v[0].0)
        .collect();
    let due: Vec<&&Value> = new.iter().filter(|b| b["rule"] == "rotation_due").collect();
    assert_eq!(due.len(), 2, "the agent's Solana and EVM keys: {new:#?}");
    assert!(due
        .iter()
        .all(|b| b["data"]["agent_id"] == s.agent_id.as_str()
            && b["data"]["age_days"].as_i64().unwrap() >= 99));
    // Anything else new is the first server's own checkpoint failure, queued before it stopped.
    assert!(
        new.iter()
            .all(|b| b["rule"] == "rotation_due" || b["rule"] == "checkpoint_failure"),
        "{new:#?}"
    );
}
