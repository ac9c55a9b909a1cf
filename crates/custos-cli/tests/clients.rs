//! The client libraries (Python, TypeScript): each one's generated API is what its pinned
//! generator makes of today's OpenAPI document (so it cannot drift), its retry logic passes its
//! unit tests, and its example — log in, transfer, read the audit — runs green against a fresh
//! server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use common::*;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn python_dir() -> std::path::PathBuf {
    repo_root().join("clients/python")
}

/// Every file under `dir` (except caches) by relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().is_some_and(|n| n == "__pycache__") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn the_python_client_is_generated_from_the_current_openapi_document() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = custos_command().arg("openapi").output().unwrap();
    assert!(
        doc.status.success(),
        "{}",
        String::from_utf8_lossy(&doc.stderr)
    );
    let spec = tmp.path().join("openapi.json");
    std::fs::write(&spec, &doc.stdout).unwrap();
    let out = tmp.path().join("generated");
    let gen = Command::new("openapi-python-client")
        .args(["generate", "--meta", "none", "--path"])
        .arg(&spec)
        .arg("--config")
        .arg(python_dir().join("generator.yaml"))
        .arg("--output-path")
        .arg(&out)
        .output()
        .expect("openapi-python-client (run scripts/test-deps.sh)");
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let fresh = tree(&out);
    let committed = tree(&python_dir().join("custos_client/generated"));
    let differ: Vec<_> = fresh
        .keys()
        .chain(committed.keys())
        .filter(|k| fresh.get(*k) != committed.get(*k))
        .collect();
    assert!(
        differ.is_empty(),
        "clients/python/custos_client/generated is stale: run scripts/gen-clients.sh ({differ:?})"
    );
    assert!(committed.contains_key("api/wallet/action_transfer.py"));
}

#[test]
fn the_python_client_retry_transport_passes_its_tests() {
    let out = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests", "-v"])
        .current_dir(python_dir())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("Ran 5 tests"), "{log}");
}

/// Runs a client example (`cmd`, given the server URL, a recipient and an amount) as agent
/// `email` — funded first, the login code piped to it from the outbox as a person would type
/// it — and checks its summary against the server's own audit.
async fn run_example(mut cmd: Command, email: &str) {
    let srv = Server::start().await;
    srv.funded_solana_agent(email, "100").await;
    let before = srv.outbox(email).len();
    let mut child = cmd
        .args([
            srv.base().as_str(),
            "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM",
            "0.1",
        ])
        .env("AGENT_EMAIL", email)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = next_code(&srv, email, before);
    writeln!(child.stdin.take().unwrap(), "{code}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "example failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["status"], "confirmed", "{summary}");
    assert_eq!(summary["same_tx_on_retry"], true, "{summary}");
    let actions = summary["audit_actions"].as_array().unwrap();
    assert!(!actions.is_empty(), "{summary}");
    let op = srv.operator_token("viewer");
    let audit = srv.get("/v1/admin/audit?limit=1000", Some(&op)).await;
    audit.expect_status(200);
    assert!(audit.text.contains(summary["tx"].as_str().unwrap()));
}

#[tokio::test]
async fn the_python_client_example_logs_in_transfers_and_reads_the_audit() {
    let mut cmd = Command::new("python3");
    cmd.arg(python_dir().join("examples/login_transfer_audit.py"));
    run_example(cmd, "python-client@example.com").await;
}

/// Runs `program args` in `dir`, asserting success; returns stdout and stderr.
fn run_in(dir: &Path, program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{} (run scripts/test-deps.sh): {e}", program.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{} {args:?}: {text}",
        program.display()
    );
    text
}

#[tokio::test]
async fn the_typescript_client_is_current_builds_passes_its_tests_and_its_example_runs() {
    let dir = repo_root().join("clients/typescript");
    let bin = dir.join("node_modules/.bin");
    // Its types are what the pinned generator makes of today's document.
    let tmp = tempfile::tempdir().unwrap();
    let doc = custos_command().arg("openapi").output().unwrap();
    let spec = tmp.path().join("openapi.json");
    std::fs::write(&spec, &doc.stdout).unwrap();
    let fresh = tmp.path().join("schema.d.ts");
    run_in(
        &dir,
        &bin.join("openapi-typescript"),
        &[spec.to_str().unwrap(), "-o", fresh.to_str().unwrap()],
    );
    assert!(
        std::fs::read(&fresh).unwrap() == std::fs::read(dir.join("src/schema.d.ts")).unwrap(),
        "clients/typescript/src/schema.d.ts is stale: run scripts/gen-clients.sh"
    );
    // It type-checks (the example's bodies against the generated types too) and its retry
    // tests pass.
    run_in(&dir, &bin.join("tsc"), &["-p", "tsconfig.json"]);
    let log = run_in(&dir, Path::new("node"), &["--test", "dist/tests/"]);
    assert!(
        log.contains("# pass 5") && log.contains("# fail 0"),
        "{log}"
    );
    let mut cmd = Command::new("node");
    cmd.arg(dir.join("dist/examples/login_transfer_audit.js"));
    run_example(cmd, "ts-client@example.com").await;
}

/// The Rust client's example, compiled into this test so it runs against a fresh server.
#[allow(dead_code)]
#[path = "../../custos-client/examples/login_transfer_audit.rs"]
mod rust_example;

/// The login code of the first mail to `email` after the `before`th (waits for it).
fn next_code(srv: &Server, email: &str, before: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mails = srv.outbox(email);
        if mails.len() > before {
            return mails.last().unwrap()["code"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no login code was sent");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_rust_client_types_match_the_openapi_document() {
    let doc = custos_command().arg("openapi").output().unwrap();
    let api: serde_json::Value = serde_json::from_slice(&doc.stdout).unwrap();
    for (name, sample) in custos_client::types::samples() {
        let schema = &api["components"]["schemas"][name];
        let mut documented: Vec<&String> = schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{name} is not in the document"))
            .keys()
            .collect();
        let mut ours: Vec<&String> = sample.as_object().unwrap().keys().collect();
        documented.sort();
        ours.sort();
        assert_eq!(ours, documented, "custos_client::types::{name}");
    }
}

#[tokio::test]
async fn the_rust_client_example_logs_in_transfers_and_reads_the_audit() {
    let srv = Server::start().await;
    let email = "rust-client@example.com";
    srv.funded_solana_agent(email, "100").await;
    let before = srv.outbox(email).len();
    let read_code = || next_code(&srv, email, before);
    let summary = rust_example::run(
        &srv.base(),
        email,
        "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM",
        "0.1",
        read_code,
    )
    .await
    .unwrap();
    assert_eq!(summary["status"], "confirmed", "{summary}");
    assert_eq!(summary["same_tx_on_retry"], true, "{summary}");
    assert!(!summary["audit_actions"].as_array().unwrap().is_empty());
    // A denial comes back as a typed error naming the rule, and is not retried into a payment.
    let client = custos_client::Client::new(&srv.base()).unwrap();
    let before = srv.outbox(email).len();
    client.request_login_code(email).await.unwrap();
    let code = next_code(&srv, email, before);
    let (client, _) = client.login(email, &code).await.unwrap();
    let big = custos_client::types::TransferBody {
        chain: "solana".into(),
        to: "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM".into(),
        asset: "SOL".into(),
        amount: "0.5".into(),
    };
    match client.transfer(&big, "rust-denied").await {
        Err(custos_client::Error::Api { code, rules, .. }) => {
            assert_eq!(code, "policy_denied");
            assert!(rules.contains(&"limits.per_tx_usd".to_owned()), "{rules:?}");
        }
        other => panic!("{other:?}"),
    }
}
