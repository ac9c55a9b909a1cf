//! Schemathesis (PyPI), an independent property-based API tester, against the server's own
//! `/openapi.json`, as an agent, an operator and anonymously, with every check in
//! `schemathesis.toml`: no 5xx, every status and response shape documented, schema-violating
//! requests refused, schema-valid ones accepted (except where validity depends on chain state;
//! see the file). Bounded by examples per operation and a fixed seed, so CI is repeatable; run
//! it by hand with another `--seed` or more `-n` to explore further.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{repo_root, Server};
use std::process::Command;

/// Examples per operation and phase.
const EXAMPLES: &str = "25";
/// Fixed so a CI failure reproduces.
const SEED: &str = "20261206";

fn schemathesis(srv: &Server, bearer: Option<&str>, role: &str) {
    let mut cmd = Command::new("schemathesis");
    cmd.arg("--config-file")
        .arg(repo_root().join("schemathesis.toml"))
        .arg("run")
        .arg(format!("{}/openapi.json", srv.base()))
        .args(["-n", EXAMPLES, "--seed", SEED, "--workers", "1"])
        .args(["--request-timeout", "20", "--suppress-health-check", "all"])
        .args(["--no-color"]);
    if let Some(token) = bearer {
        cmd.arg("-H").arg(format!("Authorization: Bearer {token}"));
    }
    let out = cmd
        .output()
        .expect("schemathesis (scripts/test-deps.sh installs it from PyPI)");
    let text = String::from_utf8_lossy(&out.stdout);
    let summary: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("generated") || l.contains("passed") || l.contains("failures"))
        .collect();
    eprintln!("schemathesis as {role}: {}", summary.join(" | "));
    assert!(
        out.status.success(),
        "schemathesis as {role} found problems:\n{text}\n{}\n--- server stderr ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        srv.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_as_agent_operator_or_anonymous() {
    // Rate limits high enough that the fuzzer tests the operations, not the limiter.
    let srv = Server::builder()
        .env("CUSTOS_RATE_LIMIT_GLOBAL_PER_MINUTE", "10000000")
        .env("CUSTOS_RATE_LIMIT_PER_IP_PER_MINUTE", "10000000")
        .env("CUSTOS_RATE_LIMIT_PER_AGENT_PER_MINUTE", "10000000")
        .env("CUSTOS_RATE_LIMIT_OTP_PER_EMAIL", "10000000")
        .start()
        .await;
    let agent = srv.login("schemathesis@example.com").await;
    let operator = srv.operator_token("admin");
    schemathesis(&srv, Some(&agent.token), "agent");
    schemathesis(&srv, Some(&operator), "operator");
    schemathesis(&srv, None, "anonymous");
}
