//! Policy authority over HTTP and the CLI, against the real binaries: the custody boundary signs
//! under the owner-signed policy it holds, not under what the server's database says, and it
//! refuses every envelope its owners did not put in force.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use common::{custos_command, Server};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection as _;
use std::path::{Path, PathBuf};

const BOB: &str = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin";
const EVE: &str = "HN7cABqLq46Es1jh92dQQisAq662SmxELLLsHHe4YWrH";

async fn transfer(srv: &Server, token: &str, to: &str) -> common::Resp {
    transfer_amount(srv, token, to, "0.01").await
}

async fn transfer_amount(srv: &Server, token: &str, to: &str, amount: &str) -> common::Resp {
    srv.post(
        "/v1/wallets/me/actions/transfer",
        Some(token),
        &json!({"chain": "solana", "to": to, "asset": "SOL", "amount": amount}),
    )
    .await
}

async fn put_policy(srv: &Server, op: &str, agent: &str, body: &Value) -> common::Resp {
    srv.call(
        Method::PUT,
        &format!("/v1/admin/agents/{agent}/policy"),
        Some(op),
        Some(body),
    )
    .await
}

/// A server edited behind its back: the policy row loosened directly in its database (recipient
/// allowlist dropped, per-transaction caps raised 100× and the per-asset cap in lamports
/// removed). The server's own checks follow the row; the enclave still holds the owner-signed
/// policy and refuses, naming the rule. An honest request still signs.
#[tokio::test]
async fn a_database_edit_does_not_move_the_boundary() {
    let srv = Server::start().await;
    let s = srv.funded_solana_agent("dbedit@example.com", "100").await;
    let op = srv.operator_token("admin");
    let strict = json!({
        "actions": {"transfer": true},
        "chains": ["solana"],
        "limits": {"per_tx_usd": "20", "daily_usd": "100", "max_tx_per_hour": 100,
            "per_tx_atoms": {"solana:native": "20000000"}},
        "recipients": {"mode": "allowlist", "allow": [BOB], "deny": []}
    });
    put_policy(&srv, &op, &s.agent_id, &strict)
        .await
        .expect_status(200);
    transfer(&srv, &s.token, BOB).await.expect_status(200);
    let r = transfer(&srv, &s.token, EVE).await;
    assert_eq!(r.status, 403, "{}", r.text);

    // Loosen the row itself, bumping its version so the server re-reads it.
    let url = format!("sqlite://{}", srv.data_dir.join("custos.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let (text,): (String,) = sqlx::query_as("SELECT policy FROM agents WHERE id = ?1")
        .bind(&s.agent_id)
        .fetch_one(&mut db)
        .await
        .unwrap();
    let mut loose: Value = serde_json::from_str(&text).unwrap();
    loose["recipients"] = json!({"mode": "any", "allow": [], "deny": []});
    loose["limits"]["per_tx_usd"] = json!("2000");
    loose["limits"]["daily_usd"] = json!("10000");
    loose["limits"]
        .as_object_mut()
        .unwrap()
        .remove("per_tx_atoms");
    sqlx::query("UPDATE agents SET policy = ?1, policy_version = policy_version + 1 WHERE id = ?2")
        .bind(loose.to_string())
        .bind(&s.agent_id)
        .execute(&mut db)
        .await
        .unwrap();
    drop(db);
    let r = srv
        .get(
            &format!("/v1/admin/agents/{}/policy", s.agent_id),
            Some(&op),
        )
        .await;
    assert_eq!(
        r.json()["recipients"]["mode"],
        "any",
        "the server reads the edited row"
    );

    let r = transfer(&srv, &s.token, EVE).await;
    assert_eq!(r.status, 403, "the boundary must refuse: {}", r.text);
    assert!(r.text.contains("custody_boundary"), "{}", r.text);
    assert!(
        r.text.contains("recipients.allow"),
        "names the rule: {}",
        r.text
    );
    // 0.05 SOL (7.5 USD) to an allowed recipient: within the edited row, over the owners' cap
    // of 0.02 SOL in lamports, which the enclave enforces without a price.
    let r = transfer_amount(&srv, &s.token, BOB, "0.05").await;
    assert_eq!(r.status, 403, "the boundary must refuse: {}", r.text);
    assert!(
        r.text.contains("limits.per_tx_atoms"),
        "names the rule: {}",
        r.text
    );
    // An honest request still signs.
    transfer(&srv, &s.token, BOB).await.expect_status(200);

    // The enclave's own decision log holds the refusal, signed with its identity key, and
    // verifies against that key only; an edit to it is named.
    let identity = srv.get("/v1/attestation?nonce=00", None).await.json()["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let log = srv.data_dir.join("enclave").join("decisions.log");
    let text = std::fs::read_to_string(&log).unwrap();
    let refusal = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["outcome"] == "refused" && r["event"] == "sign")
        .expect("a refused signature is recorded");
    assert!(
        refusal["reason"]
            .as_str()
            .unwrap()
            .contains("recipients.allow"),
        "{refusal}"
    );
    assert_eq!(refusal["wallet"], json!(s.agent_id));
    let log_arg = log.to_str().unwrap();
    let ok = custos(&[
        "audit",
        "verify-signer",
        "--log",
        log_arg,
        "--trust-key",
        &identity,
    ]);
    assert!(ok.starts_with("ok: "), "{ok}");
    let stranger = hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&[3; 32])
            .verifying_key()
            .to_bytes(),
    );
    let out = verify_signer(log_arg, &stranger);
    assert_eq!(out.status.code(), Some(2), "{out:?}");

    // On restart the server follows the owner-signed policy the boundary holds: the edited row
    // is replaced, and the replacement audited.
    let mut srv = srv;
    srv.restart(None).await;
    let policy_path = format!("/v1/admin/agents/{}/policy", s.agent_id);
    let mut healed = Value::Null;
    for _ in 0..100 {
        healed = srv.get(&policy_path, Some(&op)).await.json();
        if healed["recipients"]["mode"] == "allowlist" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(healed["recipients"]["allow"], json!([BOB]), "{healed}");
    assert_eq!(healed["limits"]["per_tx_usd"], "20", "{healed}");
    assert_eq!(adoptions(&srv, &op, &s.agent_id).await, 1);
    let r = transfer(&srv, &s.token, EVE).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(
        !r.text.contains("custody_boundary"),
        "the server's own check refuses again: {}",
        r.text
    );
    srv.stop();
    std::fs::write(&log, text.replacen("\"refused\"", "\"signed\"", 1)).unwrap();
    let out = verify_signer(log_arg, &identity);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("does not match its hash"));
}

/// `POST …/policy/dry-run` with `body`: its answer (200 expected).
async fn dry_run(srv: &Server, op: &str, agent: &str, body: &Value) -> Value {
    let r = srv
        .post(
            &format!("/v1/admin/agents/{agent}/policy/dry-run"),
            Some(op),
            body,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

/// How many `policy.adopted` records the audit log holds for `agent`.
async fn adoptions(srv: &Server, op: &str, agent: &str) -> usize {
    let r = srv
        .get(
            &format!("/v1/admin/audit?agent_id={agent}&limit=1000"),
            Some(op),
        )
        .await;
    r.json()["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "policy.adopted")
        .count()
}

/// A loosening under a delay is held back by the boundary and answered `202`; once the delay
/// has passed the boundary puts it in force and the server adopts it by itself (audited) — no
/// second PUT. Until then the server still enforces the old policy.
#[tokio::test]
async fn a_delayed_loosening_is_adopted_once_in_force() {
    let srv = Server::builder()
        .env("CUSTOS_OWNERS_LOOSEN_DELAY_SECONDS", "3")
        .start()
        .await;
    // Funded by hand: the usual helper's policy loosens the default, which would wait here.
    let s = srv.login("delayed@example.com").await;
    srv.post(
        "/v1/dev/airdrop",
        Some(&s.token),
        &json!({"chain": "solana", "asset": "SOL", "amount": "1"}),
    )
    .await
    .expect_status(200);
    let op = srv.operator_token("admin");
    let strict = json!({
        "actions": {"transfer": true},
        "chains": ["solana"],
        "limits": {"per_tx_usd": "20", "daily_usd": "100", "max_tx_per_hour": 20},
        "recipients": {"mode": "allowlist", "allow": [BOB], "deny": []}
    });
    // A tightening is in force at once.
    put_policy(&srv, &op, &s.agent_id, &strict)
        .await
        .expect_status(200);
    let mut loose = strict.clone();
    loose["recipients"] = json!({"mode": "any", "allow": [], "deny": []});
    let r = put_policy(&srv, &op, &s.agent_id, &loose).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let from = r.json()["effective_from_ms"].as_i64().unwrap();
    let r = transfer(&srv, &s.token, EVE).await;
    assert_eq!(r.status, 403, "not yet in force: {}", r.text);
    assert!(r.text.contains("recipients.allow"), "{}", r.text);
    let policy_path = format!("/v1/admin/agents/{}/policy", s.agent_id);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let p = srv.get(&policy_path, Some(&op)).await.json();
        if p["recipients"]["mode"] == "any" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never adopted: {p}");
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(now >= from, "adopted before its time ({now} < {from})");
    assert_eq!(adoptions(&srv, &op, &s.agent_id).await, 1);
    transfer(&srv, &s.token, EVE).await.expect_status(200);
    let held = srv
        .get(&format!("{policy_path}/envelope"), Some(&op))
        .await
        .json();
    assert!(held["pending"].is_null(), "{held}");
    assert_eq!(held["current"]["document"]["recipients"]["mode"], "any");
}

/// `custos audit verify-signer --log LOG --trust-key KEY`.
fn verify_signer(log: &str, key: &str) -> std::process::Output {
    custos_command()
        .args(["audit", "verify-signer", "--log", log, "--trust-key", key])
        .output()
        .unwrap()
}

/// Runs `custos ARGS` (no data dir), returning stdout; panics with stderr on failure.
fn custos(args: &[&str]) -> String {
    let out = custos_command().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "custos {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Like [`custos`], for a run that must fail; returns stderr.
fn custos_fails(args: &[&str]) -> String {
    let out = custos_command().args(args).output().unwrap();
    assert!(!out.status.success(), "custos {args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

fn key(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let public = custos(&["admin", "key", "generate", "--out", path.to_str().unwrap()]);
    (path, public.trim().to_owned())
}

fn write(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, v.to_string()).unwrap();
    p
}

/// `custos policy sign --key KEY [ARGS] INPUT`, parsed.
fn sign(key: &Path, extra: &[&str], input: &Path) -> Value {
    let mut args = vec!["policy", "sign", "--key", key.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(input.to_str().unwrap());
    serde_json::from_str(&custos(&args)).unwrap()
}

/// Production owners: two operator keys, 2 of 2 to loosen, the bootstrap key not an owner.
/// Plain documents are refused; a tightening takes one owner signature; replays, foreign keys,
/// a loosening short of quorum and an envelope from the future are refused by the boundary and
/// change nothing; a loosening with both signatures waits out the delay once one is set.
#[tokio::test]
async fn owners_change_policies_and_the_boundary_refuses_everything_else() {
    let keys = tempfile::tempdir().unwrap();
    let (k1, p1) = key(keys.path(), "owner1.key");
    let (k2, p2) = key(keys.path(), "owner2.key");
    let (stranger, _) = key(keys.path(), "stranger.key");
    // A key file is never overwritten.
    let err = custos_fails(&["admin", "key", "generate", "--out", k1.to_str().unwrap()]);
    assert!(err.contains("must not exist"), "{err}");
    let srv = Server::builder()
        .env("CUSTOS_OWNERS_KEYS", &format!("{p1},{p2}"))
        .env("CUSTOS_OWNERS_BOOTSTRAP", "false")
        .env("CUSTOS_OWNERS_QUORUM", "2")
        .start()
        .await;
    let s = srv.login("owned@example.com").await;
    let op = srv.operator_token("admin");
    let agent = s.agent_id.clone();
    let envelope_path = format!("/v1/admin/agents/{agent}/policy/envelope");

    // Enrolled at provisioning, by the server's enrolment key, under the operators' authority.
    let held = srv.get(&envelope_path, Some(&op)).await;
    assert_eq!(held.status, 200, "{}", held.text);
    let v1 = held.json()["current"].clone();
    assert_eq!(v1["version"], 1);
    let mut owners: Vec<String> = vec![p1.clone(), p2.clone()];
    owners.sort();
    assert_eq!(v1["authority"]["owners"], json!(owners));
    assert_eq!(v1["authority"]["quorum"], 2);

    // The server cannot sign for these owners.
    let r = put_policy(
        &srv,
        &op,
        &agent,
        &json!({"actions": {"sign_message": false}}),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("custos policy sign"), "{}", r.text);

    // A tightening needs one owner's signature and is in force at once.
    let current = write(keys.path(), "v1.json", &held.json());
    let tight = write(
        keys.path(),
        "tight.json",
        &json!({"actions": {"sign_message": false}}),
    );
    let v2 = sign(&k1, &["--current", current.to_str().unwrap()], &tight);
    assert_eq!(v2["version"], 2);
    let r = put_policy(&srv, &op, &agent, &v2).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("x-policy-envelope-version").as_deref(), Some("2"));
    let r = srv.sign(&s.token, "hello").await;
    assert_eq!(r.status, 403, "message signing is now off: {}", r.text);

    // Each of these is refused by the boundary with its reason, and changes nothing.
    let refused = |r: &common::Resp, why: &str| {
        assert_eq!(r.status, 422, "{why}: {}", r.text);
        assert!(r.text.contains(why), "expected {why:?}: {}", r.text);
    };
    // The old version again (a replay / rollback).
    refused(&put_policy(&srv, &op, &agent, &v1).await, "stale envelope");
    // Signed by a key that is not enrolled.
    let v2_path = write(keys.path(), "v2.json", &json!({"current": v2}));
    let loosen = write(
        keys.path(),
        "loosen.json",
        &json!({"actions": {"sign_message": true}}),
    );
    let foreign = sign(
        &stranger,
        &["--current", v2_path.to_str().unwrap()],
        &loosen,
    );
    refused(
        &put_policy(&srv, &op, &agent, &foreign).await,
        "not enrolled",
    );
    // A loosening with one of the two signatures it needs.
    let half = sign(&k1, &["--current", v2_path.to_str().unwrap()], &loosen);
    // The dry run says so before anyone submits it: what changes, what loosens, 1 of 2.
    let dry = dry_run(&srv, &op, &agent, &half).await;
    assert_eq!(dry["would"], "refused", "{dry}");
    assert_eq!(dry["signatures"], 1, "{dry}");
    assert_eq!(dry["needs_signatures"], 2, "{dry}");
    assert_eq!(dry["next_version"], 3, "{dry}");
    assert_eq!(
        dry["changes"],
        json!(["actions.sign_message: false → true"]),
        "{dry}"
    );
    assert_eq!(dry["loosens"].as_array().unwrap().len(), 1, "{dry}");
    assert!(
        dry["reason"].as_str().unwrap().contains("2 needed"),
        "{dry}"
    );
    // A plain document: the server holds no owner key here, so the owners must sign it.
    let fewer = json!({
        "actions": {"sign_message": false},
        "limits": {"per_tx_usd": "25", "daily_usd": "100", "max_tx_per_hour": 5}
    });
    let dry = dry_run(&srv, &op, &agent, &fewer).await;
    assert_eq!(
        dry["changes"],
        json!(["limits.max_tx_per_hour: 20 → 5"]),
        "{dry}"
    );
    assert_eq!(dry["would"], "refused", "{dry}");
    assert_eq!(dry["needs_signatures"], 1, "a tightening: {dry}");
    assert!(
        dry["reason"]
            .as_str()
            .unwrap()
            .contains("custos policy sign"),
        "{dry}"
    );
    refused(&put_policy(&srv, &op, &agent, &half).await, "2 needed");
    // Not valid yet.
    let later = (common::now_secs() + 3600) * 1000;
    let future = sign(
        &k1,
        &[
            "--current",
            v2_path.to_str().unwrap(),
            "--not-before-ms",
            &later.to_string(),
        ],
        &tight,
    );
    refused(
        &put_policy(&srv, &op, &agent, &future).await,
        "not valid before",
    );
    // A document edited after signing.
    let mut edited = half.clone();
    edited["document"]["limits"]["daily_usd"] = json!("99999");
    refused(
        &put_policy(&srv, &op, &agent, &edited).await,
        "does not verify",
    );
    // An envelope for another agent.
    let mut other = half.clone();
    other["wallet"] = json!(uuid::Uuid::new_v4().to_string());
    let r = put_policy(&srv, &op, &agent, &other).await;
    assert_eq!(r.status, 422, "{}", r.text);
    // Still version 2, message signing still off.
    let held = srv.get(&envelope_path, Some(&op)).await.json();
    assert_eq!(held["current"]["version"], 2);
    assert_eq!(srv.sign(&s.token, "hello").await.status, 403);

    // The second owner co-signs: in force.
    let half_path = write(keys.path(), "half.json", &half);
    let both = sign(&k2, &[], &half_path);
    assert_eq!(both["signatures"].as_array().unwrap().len(), 2);
    let dry = dry_run(&srv, &op, &agent, &both).await;
    assert_eq!(dry["would"], "in_force", "{dry}");
    assert_eq!(dry["signatures"], 2, "{dry}");
    // A dry run keeps nothing.
    assert_eq!(
        srv.get(&envelope_path, Some(&op)).await.json()["current"]["version"],
        2
    );
    let r = put_policy(&srv, &op, &agent, &both).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(srv.sign(&s.token, "hello").await.status, 200);

    // Both owners set a one-hour loosening delay (an authority change, so both sign).
    let v3 = srv.get(&envelope_path, Some(&op)).await.json();
    let v3_path = write(keys.path(), "v3.json", &v3);
    let mut authority = v3["current"]["authority"].clone();
    authority["loosen_delay_seconds"] = json!(3600);
    let auth_path = write(keys.path(), "authority.json", &authority);
    let same = write(keys.path(), "same.json", &json!({}));
    let delayed = sign(
        &k1,
        &[
            "--current",
            v3_path.to_str().unwrap(),
            "--authority",
            auth_path.to_str().unwrap(),
        ],
        &same,
    );
    let delayed = sign(&k2, &[], &write(keys.path(), "delayed.json", &delayed));
    put_policy(&srv, &op, &agent, &delayed)
        .await
        .expect_status(200);
    // Now a loosening with both signatures is held, not applied.
    let v4 = srv.get(&envelope_path, Some(&op)).await.json();
    let v4_path = write(keys.path(), "v4.json", &v4);
    let raise = write(
        keys.path(),
        "raise.json",
        &json!({"limits": {"per_tx_usd": "2000", "daily_usd": "10000", "max_tx_per_hour": 20}}),
    );
    let raised = sign(&k1, &["--current", v4_path.to_str().unwrap()], &raise);
    let raised = sign(&k2, &[], &write(keys.path(), "raised.json", &raised));
    let dry = dry_run(&srv, &op, &agent, &raised).await;
    assert_eq!(dry["would"], "pending", "{dry}");
    let from = dry["effective_from_ms"].as_i64().unwrap();
    assert!(from >= (common::now_secs() + 3500) * 1000, "{dry}");
    let r = put_policy(&srv, &op, &agent, &raised).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json()["status"], "pending");
    assert!(r.text.contains("limits.per_tx_usd"), "{}", r.text);
    let held = srv.get(&envelope_path, Some(&op)).await.json();
    assert_eq!(held["current"]["version"], 4);
    assert_eq!(held["pending"]["envelope"]["version"], 5);
    let r = srv
        .get(&format!("/v1/admin/agents/{agent}/policy"), Some(&op))
        .await;
    assert_eq!(r.json()["limits"]["per_tx_usd"], "25", "{}", r.text);
}
