//! The operator console in a real browser: Debian's headless Chromium driven through
//! playwright-core (`scripts/console_browser/drive.mjs`), passkeys on the Chrome DevTools
//! Protocol's virtual authenticator, against the real `custos serve`.
//!
//! - An invited operator enrols with the code mailed to them and a passkey, logs out and in; an
//!   unknown credential, the right credential id signed by another key, and a clone (its
//!   signature counter behind the server's) are refused.
//! - Roles and TOTP: a viewer can neither approve nor freeze; an admin without a fresh TOTP code
//!   cannot engage the kill switch; after setting up an authenticator (codes computed by the
//!   driver from the QR's secret, its RFC 6238 implementation checked against the RFC's
//!   vectors first) it can, and the code it used is refused a second time; guessing codes
//!   locks the account and ends its session.
//! - An enrolled operator cannot be enrolled again by email code (none is sent; an old one is
//!   refused); the console's API refuses a change without its anti-forgery header.
//! - Approvals: a parked transfer shows its recipient and USD value, and approving it in the
//!   browser executes that transfer; one parked before the policy was tightened is refused by
//!   the policy in force; an operator (not an admin) cannot change a policy from the console.
//! - Policies: an admin edits an agent's policy in the browser, sees the dry run (what changes,
//!   whether it loosens, whether it would be in force) and saves it; it is in force at once.
//! - CSRF: a cross-site form and fetch carrying the session cookie change nothing; a same-origin
//!   request without the header is `403 csrf`.
//! - Accessibility and speed: every page passes axe-core with no serious or critical violation;
//!   each page's load time over 1,000 agents and 100,000 audit records is printed (a figure, not
//!   a threshold; `CONSOLE_SCREENSHOTS=DIR` also saves each page as a PNG).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{repo_root, Server, Session};
use serde_json::{json, Value};
use std::process::Command;

/// Runs a driver scenario; its steps, by name (the last of each name), and all of them.
fn drive(scenario: &str, args: Value) -> (Vec<Value>, String) {
    let out = Command::new("node")
        .arg(repo_root().join("scripts/console_browser/drive.mjs"))
        .arg(scenario)
        .arg(args.to_string())
        .output()
        .expect("node (scripts/test-deps.sh installs it, Chromium and scripts/console_browser)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let steps: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        out.status.success(),
        "drive.mjs {scenario} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (steps, stdout)
}

/// The step named `name`.
fn step<'a>(steps: &'a [Value], name: &str) -> &'a Value {
    steps
        .iter()
        .rev()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {steps:#?}"))
}

/// `custos admin operator invite`.
fn invite(srv: &Server, email: &str, role: &str) {
    let out = srv.cli(&[
        "admin", "operator", "invite", "--email", email, "--role", role,
    ]);
    assert!(
        out.status.success(),
        "invite: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A console API call from a client that fetched the page first (so it holds the anti-forgery
/// cookie and echoes it), without a session.
async fn console_post(srv: &Server, path: &str, body: &Value) -> common::Resp {
    let page = common::client()
        .get(format!("{}/console/", srv.base()))
        .send()
        .await
        .unwrap();
    let csrf = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("custos_csrf="))
        .and_then(|c| c.split(';').next())
        .expect("the page sets the anti-forgery cookie")
        .to_owned();
    srv.send(
        srv.request(reqwest::Method::POST, &format!("/console/api/{path}"))
            .header("cookie", format!("custos_csrf={csrf}"))
            .header("x-custos-csrf", &csrf)
            .json(body),
    )
    .await
}

/// The driver's common arguments for `srv`.
fn args(srv: &Server, extra: Value) -> Value {
    let mut a = json!({
        "base": format!("http://localhost:{}/console/", srv.addr().port()),
        "outbox": srv.data_dir.join("outbox.jsonl"),
    });
    // CONSOLE_SCREENSHOTS=DIR: the driver saves each page it shows as a PNG there.
    if let Some(dir) = std::env::var_os("CONSOLE_SCREENSHOTS") {
        a["screenshots"] = json!(dir.to_string_lossy());
    }
    for (k, v) in extra.as_object().unwrap() {
        a[k] = v.clone();
    }
    a
}

/// The agent's policy: transfers on Solana up to `per_tx_usd`, approval above 1 USD.
fn parking_policy(per_tx_usd: &str) -> Value {
    json!({
        "actions": {"transfer": true},
        "chains": ["solana"],
        "limits": {"per_tx_usd": per_tx_usd, "daily_usd": "100", "max_tx_per_hour": 100},
        "recipients": {"mode": "any", "allow": [], "deny": []},
        "approvals": {"above_usd": "1", "quorum": 1}
    })
}

/// Sets the agent's policy as an admin token.
async fn set_policy(srv: &Server, agent: &str, policy: &Value) {
    let admin = srv.operator_token("admin");
    let r = srv
        .call(
            reqwest::Method::PUT,
            &format!("/v1/admin/agents/{agent}/policy"),
            Some(&admin),
            Some(policy),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Parks a transfer of `sol` SOL for approval; its approval id and recipient.
async fn park(srv: &Server, s: &Session, sol: &str) -> (String, String) {
    let to = bs58::encode(rand::random::<[u8; 32]>()).into_string();
    let r = srv.transfer_sol(&s.token, &to, sol).await;
    assert_eq!(r.status, 202, "{}", r.text);
    (r.json()["approval_id"].as_str().unwrap().to_owned(), to)
}

/// An agent with a transfer parked for approval (above 1 USD); its approval id, the recipient.
async fn parked_transfer(srv: &Server) -> (Session, String, String) {
    let s = srv.funded_solana_agent("parked@example.com", "100").await;
    set_policy(srv, &s.agent_id, &parking_policy("20")).await;
    let (id, to) = park(srv, &s, "0.02").await;
    (s, id, to)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkeys_enrol_log_in_and_refuse_wrong_and_cloned_credentials() {
    let srv = Server::start().await;
    invite(&srv, "ops@example.com", "operator");
    let (steps, log) = drive(
        "enrol_login",
        args(&srv, json!({"email": "ops@example.com"})),
    );
    for s in ["enrolled", "logged_out", "logged_in", "restored_login"] {
        assert_eq!(step(&steps, s)["ok"], true, "{log}");
    }
    assert_eq!(step(&steps, "logged_in")["signed_in"], true, "{log}");
    assert!(step(&steps, "credential")["sign_count"].as_u64().unwrap() > 0);
    for s in ["wrong_credential", "wrong_key_refused", "cloned_refused"] {
        assert_eq!(step(&steps, s)["refused"], true, "{s}: {log}");
    }
    assert_eq!(step(&steps, "restored_login")["signed_in"], true, "{log}");

    // Audited: the enrolment, the logins, the refusals (the clone by its counter).
    let admin = srv.operator_token("admin");
    let r = srv.get("/v1/admin/audit?limit=1000", Some(&admin)).await;
    let records = r.json()["records"].as_array().unwrap().clone();
    let of = |action: &str, status: u64| {
        records
            .iter()
            .filter(|r| r["action"] == action && r["status"] == status)
            .count()
    };
    assert_eq!(of("console.enrol", 200), 1, "{records:#?}");
    assert!(of("console.login", 200) >= 2, "{records:#?}");
    assert!(of("console.login", 401) >= 2, "{records:#?}");
    assert!(
        records.iter().any(|r| r["action"] == "console.login"
            && r["reason"].as_str().unwrap_or("").contains("compromised")),
        "the clone's refusal says why (its counter went back): {records:#?}"
    );
    let out = srv.cli(&["admin", "operator", "list"]);
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        list.contains("ops@example.com\toperator\tpasskeys=1"),
        "{list}"
    );

    // Enrolled: an email code no longer adds a passkey (no code is even sent), whatever the
    // answer says.
    let mails = srv.outbox("ops@example.com").len();
    let r = console_post(&srv, "enrol/start", &json!({"email": "ops@example.com"})).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let r = console_post(&srv, "enrol/start", &json!({"email": "nobody@example.com"})).await;
    assert_eq!(
        r.status, 202,
        "the same answer for an address never invited: {}",
        r.text
    );
    assert_eq!(srv.outbox("ops@example.com").len(), mails);
    let old = srv.outbox("ops@example.com").last().unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = console_post(
        &srv,
        "enrol/verify",
        &json!({"email": "ops@example.com", "code": old}),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text);
    // Without the anti-forgery header: refused before anything runs.
    let r = srv
        .send(
            srv.request(reqwest::Method::POST, "/console/api/enrol/start")
                .json(&json!({"email": "ops@example.com"})),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.json()["error"]["code"], "csrf");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_totp_step_up_and_the_kill_switch() {
    let srv = Server::start().await;
    let (s, approval, _) = parked_transfer(&srv).await;
    invite(&srv, "viewer@example.com", "viewer");
    invite(&srv, "admin@example.com", "admin");
    let (steps, log) = drive(
        "roles",
        args(
            &srv,
            json!({"viewer_email": "viewer@example.com", "admin_email": "admin@example.com",
                   "approval_id": approval, "agent_id": s.agent_id}),
        ),
    );
    assert_eq!(step(&steps, "totp_selftest")["ok"], true, "{log}");
    for s in ["viewer_approve", "viewer_freeze"] {
        assert_eq!(step(&steps, s)["http_status"], 403, "{s}: {log}");
        assert_eq!(step(&steps, s)["code"], "forbidden", "{s}: {log}");
    }
    let no_totp = step(&steps, "kill_switch_without_totp");
    assert_eq!(no_totp["code"], "totp_required", "{log}");
    assert_eq!(
        step(&steps, "kill_switch_engaged")["engaged"],
        true,
        "{log}"
    );
    assert_eq!(
        step(&steps, "kill_switch_engaged")["http_status"],
        200,
        "{log}"
    );
    assert_eq!(step(&steps, "totp_replay")["http_status"], 401, "{log}");
    assert_eq!(
        step(&steps, "kill_switch_released")["engaged"],
        false,
        "{log}"
    );
    // Guessing codes locked the account and ended its session; logging in is refused for now.
    let guessing = step(&steps, "totp_guessing");
    assert_eq!(guessing["me_status"], 401, "{log}");
    let r = console_post(&srv, "login/start", &json!({"email": "admin@example.com"})).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.text.contains("locked"), "{}", r.text);

    // The approval was not touched; the kill switch moved twice, by the admin's console account.
    let admin = srv.operator_token("admin");
    let r = srv
        .get(&format!("/v1/admin/approvals/{approval}"), Some(&admin))
        .await;
    assert_eq!(r.json()["status"], "pending", "{}", r.text);
    let r = srv.get("/v1/admin/audit?limit=1000", Some(&admin)).await;
    let records = r.json()["records"].as_array().unwrap().clone();
    let switch: Vec<&Value> = records
        .iter()
        .filter(|r| {
            r["action"]
                .as_str()
                .unwrap_or("")
                .starts_with("admin.kill_switch.e")
                || r["action"] == "admin.kill_switch.release"
        })
        .collect();
    assert_eq!(switch.len(), 2, "{switch:#?}");
    assert!(switch
        .iter()
        .all(|r| r["operator"].as_str().unwrap().starts_with("console:opr_")));
    assert!(records
        .iter()
        .any(|r| r["action"] == "console.totp.verify" && r["status"] == 401));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_is_shown_decoded_and_approved_in_the_browser() {
    let srv = Server::start().await;
    let (s, approval, to) = parked_transfer(&srv).await;
    // Parked at 15 USD, then the per-transaction limit falls to 10 USD: stale.
    let (stale, stale_to) = park(&srv, &s, "0.1").await;
    set_policy(&srv, &s.agent_id, &parking_policy("10")).await;
    invite(&srv, "approver@example.com", "operator");
    let (steps, log) = drive(
        "approvals",
        args(
            &srv,
            json!({"admin_email": "approver@example.com", "approval_id": approval,
                   "recipient": to, "usd": "3", "stale_approval_id": stale,
                   "policy_agent_id": s.agent_id, "policy": parking_policy("1000")}),
        ),
    );
    let row = step(&steps, "approval_row");
    assert_eq!(row["has_recipient"], true, "{log}");
    assert_eq!(row["has_usd"], true, "{log}");
    assert_eq!(step(&steps, "approved")["http_status"], 200, "{log}");
    // Executed: that transfer, to that recipient, on record.
    let admin = srv.operator_token("admin");
    let view = srv
        .get(&format!("/v1/admin/approvals/{approval}"), Some(&admin))
        .await;
    assert_eq!(view.json()["status"], "executed", "{}", view.text);
    let audit = srv.my_audit(&s.token).await;
    assert!(
        audit.iter().any(|r| r["action"] == "transfer"
            && r["status"] == 200
            && r["params"]["to"] == to.as_str()),
        "{audit:#?}"
    );
    // The stale one is refused by the policy in force, and not executed.
    let refused = step(&steps, "stale_approved");
    assert_eq!(refused["http_status"], 403, "{log}");
    assert_eq!(refused["code"], "policy_denied", "{log}");
    // Nothing was sent to its recipient (the approval is used up all the same: it reads
    // `executed`, meaning claimed, and cannot be approved again).
    let audit = srv.my_audit(&s.token).await;
    let to_stale: Vec<&Value> = audit
        .iter()
        .filter(|r| r["params"]["to"] == stale_to.as_str() && r["tx"].is_string())
        .filter(|r| r["outcome"] == "success" && r["action"] == "transfer")
        .collect();
    assert!(to_stale.is_empty(), "{to_stale:#?}");
    let all = srv
        .get("/v1/admin/audit?limit=1000", Some(&admin))
        .await
        .json();
    let denied: Vec<&Value> = all["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["outcome"] == "denied" && r["endpoint"] == "POST /v1/admin/approvals/{id}/approve"
        })
        .collect();
    assert_eq!(denied.len(), 1, "{all:#}");
    assert!(
        denied[0]["reason"].as_str().unwrap().contains("per_tx_usd"),
        "{denied:#?}"
    );
    assert!(denied[0]["operator"]
        .as_str()
        .unwrap()
        .starts_with("console:opr_"));
    // An operator cannot change (loosen) a policy, even with a fresh TOTP code.
    let put = step(&steps, "policy_put");
    assert_eq!(put["http_status"], 403, "{log}");
    assert_eq!(put["code"], "forbidden", "{log}");
    let r = srv
        .get(
            &format!("/v1/admin/agents/{}/policy", s.agent_id),
            Some(&admin),
        )
        .await;
    assert!(
        r.text.contains("\"10\""),
        "the policy is still the tightened one: {}",
        r.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_edits_a_policy_after_a_dry_run() {
    let srv = Server::start().await;
    let s = srv.funded_solana_agent("edited@example.com", "100").await;
    invite(&srv, "editor@example.com", "admin");
    let (steps, log) = drive(
        "policy_edit",
        args(
            &srv,
            json!({"email": "editor@example.com", "agent_id": s.agent_id, "per_tx_usd": "7"}),
        ),
    );
    assert_eq!(step(&steps, "loaded")["per_tx_usd"], "20", "{log}");
    let dry = step(&steps, "dry_run");
    assert_eq!(dry["http_status"], 200, "{log}");
    assert_eq!(dry["would"], "in_force", "{log}");
    assert_eq!(dry["loosens"], false, "a tightening: {log}");
    assert!(
        dry["changes"].to_string().contains("per_tx_usd"),
        "the change is named: {log}"
    );
    assert_eq!(dry["totp_dialog"], false, "a dry run needs no code: {log}");
    let saved = step(&steps, "saved");
    assert_eq!(saved["http_status"], 200, "{log}");
    assert_eq!(saved["per_tx_usd"], "7", "{log}");
    assert_eq!(step(&steps, "policy_axe")["ok"], true, "{log}");
    // In force: a transfer above 7 USD is refused now.
    let to = bs58::encode(rand::random::<[u8; 32]>()).into_string();
    let r = srv.transfer_sol(&s.token, &to, "0.1").await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("per_tx_usd"), "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_requests_change_nothing() {
    let srv = Server::start().await;
    invite(&srv, "csrf@example.com", "admin");
    let (steps, log) = drive(
        "csrf",
        args(
            &srv,
            json!({"email": "csrf@example.com", "other_origin": "http://127.0.0.1:0/"}),
        ),
    );
    assert_ne!(step(&steps, "cross_site_form")["http_status"], 200, "{log}");
    for s in ["same_origin_no_header", "same_origin_wrong_header"] {
        assert_eq!(step(&steps, s)["http_status"], 403, "{s}: {log}");
        assert_eq!(step(&steps, s)["code"], "csrf", "{s}: {log}");
    }
    let after = step(&steps, "kill_switch_after");
    assert_eq!(after["unchanged"], true, "{log}");
    assert_eq!(after["engaged"], false, "{log}");
}

/// Agents and audit records the page timings are measured over.
const SEED_AGENTS: usize = 1_000;
const SEED_AUDIT: usize = 100_000;

/// Writes [`SEED_AGENTS`] agents and [`SEED_AUDIT`] audit records into the data dir's store
/// before the server starts (through the store itself, so the audit chain is a real one).
fn seed(dir: &std::path::Path) {
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            use custos_core::{AgentId, AuditEntry, AuditOutcome, NewAgent, Store};
            let store = custos_store::SqliteStore::open_in_dir(&dir).await.unwrap();
            let mut agents = Vec::with_capacity(SEED_AGENTS);
            for i in 0..SEED_AGENTS {
                let id = AgentId::new_random();
                store
                    .create_agent(NewAgent {
                        id,
                        email: format!("seeded-{i}@example.com"),
                        created_at_ms: 1_700_000_000_000 + i as i64,
                        addresses: json!({"solana": bs58::encode([i as u8; 32]).into_string(),
                                          "evm": format!("0x{:040x}", i)}),
                    })
                    .await
                    .unwrap();
                agents.push(id);
            }
            for chunk in 0..SEED_AUDIT / 1000 {
                let batch: Vec<AuditEntry> = (0..1000)
                    .map(|j| {
                        let n = chunk * 1000 + j;
                        AuditEntry {
                            time_ms: 1_700_000_000_000 + n as i64,
                            agent_id: Some(agents[n % SEED_AGENTS]),
                            operator: None,
                            endpoint: "POST /v1/wallets/me/actions/{action}".into(),
                            action: "transfer".into(),
                            params: json!({"chain": "solana", "amount": "0.01"}),
                            usd_amount: Some("1.5".into()),
                            token_amounts: json!([]),
                            tx: None,
                            outcome: if n % 7 == 0 {
                                AuditOutcome::Denied
                            } else {
                                AuditOutcome::Success
                            },
                            status: if n % 7 == 0 { 403 } else { 200 },
                            reason: None,
                            request_id: format!("seed-{n}"),
                        }
                    })
                    .collect();
                store.audit_append(&batch).await.unwrap();
            }
        });
    })
    .join()
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_passes_axe_and_its_load_time_is_measured() {
    let srv = Server::builder().prepare(seed).start().await;
    invite(&srv, "a11y@example.com", "viewer");
    let (steps, log) = drive(
        "a11y_perf",
        args(&srv, json!({"email": "a11y@example.com"})),
    );
    let pages: Vec<&Value> = steps.iter().filter(|s| s["step"] == "page").collect();
    assert_eq!(pages.len(), 7, "{log}");
    for p in &pages {
        assert_eq!(p["ok"], true, "{p}");
        assert_eq!(p["violations"].as_array().map(Vec::len), Some(0), "{p}");
        if !p["ms"].is_null() {
            println!(
                "console page {} ({SEED_AGENTS} agents, {SEED_AUDIT} audit records): {} ms \
                 (API {} ms, render {} ms), {} rows",
                p["page"], p["ms"], p["fetch_ms"], p["render_ms"], p["table_rows"]
            );
        }
    }
    assert_eq!(step(&steps, "page_errors")["errors"], json!([]), "{log}");
}
