//! The client libraries: the Python client's generated API is what the pinned generator makes of
//! today's OpenAPI document (so it cannot drift), its retry transport passes its unit tests, and
//! its example — log in, transfer, read the audit — runs green against a fresh server.
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

#[tokio::test]
async fn the_python_client_example_logs_in_transfers_and_reads_the_audit() {
    let srv = Server::start().await;
    let email = "python-client@example.com";
    srv.funded_solana_agent(email, "100").await;
    let before = srv.outbox(email).len();
    let mut child = Command::new("python3")
        .arg(python_dir().join("examples/login_transfer_audit.py"))
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
    // The example asks for a code; a person would read it from the mail.
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        let mails = srv.outbox(email);
        if mails.len() > before {
            break mails.last().unwrap()["code"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "the example sent no login code");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
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
    // The server's own audit agrees.
    let op = srv.operator_token("viewer");
    let audit = srv.get("/v1/admin/audit?limit=1000", Some(&op)).await;
    audit.expect_status(200);
    assert!(audit.text.contains(summary["tx"].as_str().unwrap()));
}
