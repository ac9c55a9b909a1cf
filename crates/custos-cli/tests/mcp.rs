//! The MCP server, driven by a real MCP client (the official Python `mcp` SDK, through
//! scripts/mcp_client.py) over both transports: `custos mcp` on stdio and `/mcp` on the server.
//! What is checked: `tools/list` follows the API key's scopes; a transfer through MCP is
//! confirmed, idempotent and audited exactly like one through REST; an out-of-scope call, a
//! policy denial and a bad argument come back as structured tool errors; `/mcp` itself refuses
//! a missing or operator credential.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use common::*;
use serde_json::{json, Value};
use std::process::Command;

/// Runs scripts/mcp_client.py in `mode` (`stdio` or `http`) with `token` and `plan`.
fn mcp(srv: &Server, mode: &str, token: &str, plan: &Value) -> Value {
    let script = repo_root().join("scripts/mcp_client.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script).arg(mode);
    match mode {
        "stdio" => cmd.arg(CUSTOS).arg(srv.base()),
        _ => cmd.arg(format!("{}/mcp", srv.base())),
    };
    let out = cmd
        .arg(plan.to_string())
        .env("MCP_AGENT_TOKEN", token)
        .output()
        .expect("python3 (run scripts/test-deps.sh for the `mcp` SDK)");
    assert!(
        out.status.success(),
        "mcp_client.py {mode}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn api_key(srv: &Server, agent_id: &str, scopes: Option<&[&str]>) -> String {
    let op = srv.operator_token("operator");
    let body = match scopes {
        Some(s) => json!({ "scopes": s }),
        None => json!({}),
    };
    let r = srv
        .post(
            &format!("/v1/admin/agents/{agent_id}/api-keys"),
            Some(&op),
            &body,
        )
        .await;
    r.expect_status(201);
    r.json()["api_key"].as_str().unwrap().to_owned()
}

fn tool_names(step: &Value) -> Vec<&str> {
    step["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect()
}

/// A tool error's `error` object, after checking it is one.
fn tool_error<'a>(step: &'a Value, code: &str) -> &'a Value {
    assert_eq!(step["is_error"], true, "{step}");
    let e = &step["structured"]["error"];
    assert_eq!(e["code"], code, "{step}");
    assert_eq!(step["structured"]["retryable"], false, "{step}");
    e
}

/// The audit records of transaction `tx`, reduced to what must not depend on the interface.
fn audit_shape(records: &[Value], tx: &str) -> Vec<Value> {
    records
        .iter()
        .map(|r| r.get("entry").unwrap_or(r))
        .filter(|e| e["tx"] == tx)
        .map(|e| {
            let mut keys: Vec<&String> = e["params"]
                .as_object()
                .map(|m| m.keys().collect())
                .unwrap_or_default();
            keys.sort();
            json!({"endpoint": e["endpoint"], "action": e["action"], "outcome": e["outcome"],
                   "status": e["status"], "usd_amount": e["usd_amount"], "params": keys})
        })
        .collect()
}

const RECIPIENT: &str = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM";

#[tokio::test]
async fn mcp_tools_follow_scopes_and_go_through_the_rest_pipeline_on_stdio_and_http() {
    let srv = Server::start().await;
    let s = srv.funded_solana_agent("mcp@example.com", "100").await;
    let reader = api_key(&srv, &s.agent_id, Some(&["wallet:read"])).await;
    let payer = api_key(&srv, &s.agent_id, Some(&["transfer", "wallet:read"])).await;
    let everything = api_key(&srv, &s.agent_id, None).await;
    let transfer = |amount: &str, key: &str| {
        json!({"op": "call", "tool": "transfer", "arguments": {
            "chain": "solana", "to": RECIPIENT, "asset": "SOL", "amount": amount, "idempotency_key": key}})
    };

    let mut mcp_txs = vec![];
    for mode in ["stdio", "http"] {
        // A read-only key: only the read tools are listed, and an action is refused by scope.
        let out = mcp(
            &srv,
            mode,
            &reader,
            &json!([{"op": "list"}, transfer("0.1", &format!("{mode}-r")),
                    {"op": "call", "tool": "wallet"}]),
        );
        assert_eq!(out["server"], "custos", "{out}");
        assert!(
            out["protocol_version"].as_str().unwrap().starts_with("20"),
            "{out}"
        );
        let steps = out["steps"].as_array().unwrap();
        assert_eq!(
            tool_names(&steps[0]),
            [
                "wallet",
                "balances",
                "transactions",
                "transaction_status",
                "approval_status"
            ],
            "{mode}"
        );
        let e = tool_error(&steps[1], "scope_missing");
        assert!(e["message"].as_str().unwrap().contains("`transfer`"), "{e}");
        assert_eq!(steps[2]["is_error"], false, "{}", steps[2]);
        assert_eq!(steps[2]["structured"]["agent_id"], s.agent_id.as_str());

        // A paying key: a transfer confirms, its retry returns the same transaction, one over
        // the per-transaction limit is denied naming the rule, a bad argument names the field.
        let key = format!("{mode}-pay-1");
        let out = mcp(
            &srv,
            mode,
            &payer,
            &json!([{"op": "list"}, transfer("0.1", &key), transfer("0.1", &key),
                    transfer("0.5", &format!("{mode}-pay-2")),
                    {"op": "call", "tool": "transfer", "arguments": {
                        "chain": "solana", "to": RECIPIENT, "asset": "SOL", "amount": 5}},
                    {"op": "call", "tool": "policy"},
                    {"op": "call", "tool": "dry_run", "arguments": {"action": "transfer", "request": {
                        "chain": "solana", "to": RECIPIENT, "asset": "SOL", "amount": "0.5"}}}]),
        );
        let steps = out["steps"].as_array().unwrap();
        let names = tool_names(&steps[0]);
        assert!(
            names.contains(&"transfer") && names.contains(&"dry_run"),
            "{names:?}"
        );
        assert!(
            !names.contains(&"policy") && !names.contains(&"sign_transaction"),
            "{names:?}"
        );
        assert_eq!(steps[1]["is_error"], false, "{}", steps[1]);
        assert_eq!(
            steps[1]["structured"]["status"], "confirmed",
            "{}",
            steps[1]
        );
        let tx = steps[1]["structured"]["tx"].as_str().unwrap().to_owned();
        assert_eq!(
            steps[2]["structured"]["tx"],
            tx.as_str(),
            "a retry acts once"
        );
        let e = tool_error(&steps[3], "policy_denied");
        let rules: Vec<&str> = e["details"]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["rule"].as_str().unwrap())
            .collect();
        assert!(rules.contains(&"limits.per_tx_usd"), "{e}");
        assert_eq!(tool_error(&steps[4], "invalid_request")["field"], "amount");
        tool_error(&steps[5], "scope_missing");
        // A dry run of the denied transfer explains and signs nothing.
        assert_eq!(steps[6]["is_error"], false, "{}", steps[6]);
        assert_eq!(steps[6]["structured"]["dry_run"], true, "{}", steps[6]);
        let explained = steps[6]["structured"]["explanation"].to_string();
        assert!(explained.contains("limits.per_tx_usd"), "{explained}");
        mcp_txs.push(tx);
    }
    assert_ne!(mcp_txs[0], mcp_txs[1]);

    // A key without a scope list sees every tool.
    let out = mcp(&srv, "http", &everything, &json!([{"op": "list"}]));
    assert_eq!(tool_names(&out["steps"][0]).len(), 18, "{out}");

    // The same transfer through REST leaves the same audit trail as through MCP.
    let r = srv
        .send(
            srv.request(reqwest::Method::POST, "/v1/wallets/me/actions/transfer")
                .bearer_auth(&payer)
                .header("idempotency-key", "rest-pay-1")
                .json(
                    &json!({"chain": "solana", "to": RECIPIENT, "asset": "SOL", "amount": "0.1"}),
                ),
        )
        .await;
    r.expect_status(200);
    let rest_tx = r.json()["tx"].as_str().unwrap().to_owned();
    let records = srv.my_audit(&s.token).await;
    let rest_shape = audit_shape(&records, &rest_tx);
    assert!(!rest_shape.is_empty(), "no audit record of {rest_tx}");
    for tx in &mcp_txs {
        assert_eq!(audit_shape(&records, tx), rest_shape, "{tx}");
    }
    // Each confirmed transfer is debited once: three of 15 USD.
    let spent: Vec<_> = records
        .iter()
        .map(|r| r.get("entry").unwrap_or(r))
        .filter(|e| e["outcome"] == "success" && e["tx"].is_string() && e["action"] == "transfer")
        .collect();
    assert_eq!(spent.len(), 3, "{spent:?}");
}

#[tokio::test]
async fn mcp_over_http_needs_an_agent_credential() {
    let srv = Server::start().await;
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}}});
    let post = |token: Option<String>| {
        let mut rb = srv
            .request(reqwest::Method::POST, "/mcp")
            .header("accept", "application/json, text/event-stream")
            .json(&init);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        srv.send(rb)
    };
    assert_error(&post(None).await, &[401], "unauthorized");
    assert_error(
        &post(Some("cus_not_a_real_key".into())).await,
        &[401],
        "unauthorized",
    );
    let op = srv.operator_token("admin");
    assert_error(&post(Some(op)).await, &[403], "forbidden");
    let s = srv.login("mcp-http@example.com").await;
    // Its body is bounded like every other: past server.max_body_bytes, 413 before MCP reads it.
    let huge = srv
        .send(
            srv.request(reqwest::Method::POST, "/mcp")
                .bearer_auth(&s.token)
                .header("content-type", "application/json")
                .body(vec![b' '; 2 * 1024 * 1024]),
        )
        .await;
    assert_eq!(huge.status, 413, "{}", huge.text);
    let r = post(Some(s.token.clone())).await;
    r.expect_status(200);
    assert_eq!(
        r.json()["result"]["serverInfo"]["name"],
        "custos",
        "{}",
        r.text
    );
    // The agent's own approval lookup: another agent's (or a missing) id is 404, a malformed
    // one names the field.
    assert_error(
        &srv.get(
            "/v1/wallets/me/approvals/00000000-0000-4000-8000-000000000000",
            Some(&s.token),
        )
        .await,
        &[404],
        "not_found",
    );
    let e = assert_error(
        &srv.get("/v1/wallets/me/approvals/x", Some(&s.token)).await,
        &[422],
        "invalid_request",
    );
    assert_eq!(e["field"], "approval_id");
    // What an agent's model reads: served as Markdown, naming the MCP tools and the endpoint.
    let skill = srv.get("/skill.md", None).await;
    skill.expect_status(200);
    assert!(skill
        .header("content-type")
        .unwrap()
        .starts_with("text/markdown"));
    assert!(
        skill.text.contains("| `transfer` | transfer |"),
        "{}",
        skill.text
    );
    assert!(skill.text.contains("### `GET /v1/wallets/me/credential`"));
    assert_eq!(srv.get("/skill.md", None).await.text, skill.text);
    let who = srv.get("/v1/wallets/me/credential", Some(&s.token)).await;
    who.expect_status(200);
    assert_eq!(
        who.json(),
        json!({"agent_id": s.agent_id, "credential": "session", "key_id": null, "scopes": null})
    );
}

#[tokio::test]
async fn an_action_parked_for_approval_is_followed_through_mcp() {
    let srv = Server::start().await;
    let s = srv
        .funded_solana_agent("mcp-approval@example.com", "100")
        .await;
    let admin = srv.operator_token("admin");
    let policy = json!({
        "actions": {"transfer": true},
        "chains": ["solana"],
        "limits": {"per_tx_usd": "20", "daily_usd": "100", "max_tx_per_hour": 100},
        "recipients": {"mode": "any", "allow": [], "deny": []},
        "approvals": {"above_usd": "10", "quorum": 1}
    });
    srv.call(
        reqwest::Method::PUT,
        &format!("/v1/admin/agents/{}/policy", s.agent_id),
        Some(&admin),
        Some(&policy),
    )
    .await
    .expect_status(200);

    // 0.1 SOL is 15 USD, above the approval threshold: parked, which is not an error.
    let out = mcp(
        &srv,
        "http",
        &s.token,
        &json!([{"op": "call", "tool": "transfer", "arguments": {
            "chain": "solana", "to": RECIPIENT, "asset": "SOL", "amount": "0.1",
            "idempotency_key": "parked-1"}}]),
    );
    let parked = &out["steps"][0];
    assert_eq!(parked["is_error"], false, "{parked}");
    assert_eq!(
        parked["structured"]["status"], "pending_approval",
        "{parked}"
    );
    let id = parked["structured"]["approval_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let status = |token: &str| {
        mcp(
            &srv,
            "stdio",
            token,
            &json!([{"op": "call", "tool": "approval_status", "arguments": {"approval_id": id}}]),
        )["steps"][0]
            .clone()
    };
    let before = status(&s.token);
    assert_eq!(before["structured"]["status"], "pending", "{before}");
    assert_eq!(before["structured"]["approvers"], 0, "{before}");
    assert!(before["structured"].get("agent_id").is_none(), "{before}");

    // Another agent cannot read it.
    let other = srv.login("mcp-approval-other@example.com").await;
    let e = tool_error(&status(&other.token), "not_found").clone();
    assert!(e["message"].as_str().unwrap().contains("approval"), "{e}");

    // An operator approves; the agent sees it executed.
    let op = srv.operator_token("operator");
    srv.post(
        &format!("/v1/admin/approvals/{id}/approve"),
        Some(&op),
        &json!({}),
    )
    .await
    .expect_status(200);
    let after = status(&s.token);
    assert_eq!(after["structured"]["status"], "executed", "{after}");
    assert_eq!(after["structured"]["approvers"], 1, "{after}");
}
