//! Solana end to end over HTTP (issue 4): transfers of SOL, SPL Token and Token-2022 on the
//! embedded devnet with balances checked, each policy rule denying with its name, 50 concurrent
//! transfers against a daily cap, approvals (approve, reject, expire), freeze, a stale price,
//! and the `sign` action judged by simulated effects, verified by an independent Solana library.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::devnet::{rpc, Devnet};
use common::{assert_error, repo_root, Server, Session};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

/// A fresh random Solana address (no one holds its key; fine as a recipient).
fn random_address() -> String {
    let b: [u8; 32] = rand_bytes();
    bs58::encode(b).into_string()
}

fn rand_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    let u1 = uuid::Uuid::new_v4();
    let u2 = uuid::Uuid::new_v4();
    b[..16].copy_from_slice(u1.as_bytes());
    b[16..].copy_from_slice(u2.as_bytes());
    b
}

fn solana_address(srv_me: &Value) -> String {
    srv_me["addresses"]["solana"]
        .as_str()
        .expect("solana address")
        .to_string()
}

async fn address_of(srv: &Server, s: &Session) -> String {
    let r = srv.get("/v1/wallets/me", Some(&s.token)).await;
    r.expect_status(200);
    solana_address(&r.json())
}

async fn airdrop(srv: &Server, s: &Session, asset: &str, amount: &str) {
    let r = srv
        .post(
            "/v1/dev/airdrop",
            Some(&s.token),
            &json!({"chain": "solana", "asset": asset, "amount": amount}),
        )
        .await;
    assert_eq!(r.status, 200, "airdrop: {}", r.text);
}

/// asset → amount (decimal string) of the agent's balances.
async fn balances(srv: &Server, s: &Session) -> BTreeMap<String, String> {
    let r = srv.get("/v1/wallets/me/balances", Some(&s.token)).await;
    r.expect_status(200);
    r.json()["balances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            assert_eq!(b["chain"], "solana");
            (
                b["asset"].as_str().unwrap().to_string(),
                b["amount"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn dec(s: &str) -> f64 {
    s.parse().unwrap()
}

async fn transfer(srv: &Server, s: &Session, to: &str, asset: &str, amount: &str) -> common::Resp {
    srv.post(
        "/v1/wallets/me/actions/transfer",
        Some(&s.token),
        &json!({"chain": "solana", "to": to, "asset": asset, "amount": amount}),
    )
    .await
}

async fn set_policy(srv: &Server, op: &str, agent: &str, policy: Value) {
    let r = srv
        .call(
            reqwest::Method::PUT,
            &format!("/v1/admin/agents/{agent}/policy"),
            Some(op),
            Some(&policy),
        )
        .await;
    assert_eq!(r.status, 200, "PUT policy: {}", r.text);
}

/// A policy document over the defaults: Solana, transfers on, with these limits.
fn policy(per_tx: &str, daily: &str, per_hour: u32) -> Value {
    json!({
        "version": 1,
        "actions": {"transfer": true, "sign": true, "sign_message": true},
        "chains": ["solana"],
        "limits": {"per_tx_usd": per_tx, "daily_usd": daily, "max_tx_per_hour": per_hour},
        "recipients": {"mode": "any", "allow": [], "deny": []}
    })
}

/// The rule names of a `403 policy_denied`.
#[track_caller]
fn denied_rules(r: &common::Resp) -> Vec<String> {
    let e = assert_error(r, &[403], "policy_denied");
    let reasons = e["details"]["reasons"]
        .as_array()
        .or_else(|| e["details"].as_array())
        .unwrap_or_else(|| panic!("no reasons in {e}"));
    reasons
        .iter()
        .map(|x| x["rule"].as_str().unwrap().to_string())
        .collect()
}

#[track_caller]
fn assert_denied_by(r: &common::Resp, rule: &str) {
    let rules = denied_rules(r);
    assert!(
        rules.iter().any(|x| x == rule),
        "expected a denial by {rule}, got {rules:?}: {}",
        r.text
    );
}

/// `POST /v1/dev/slots` lets empty slots pass on the embedded devnet (151 expire every
/// blockhash handed out before — the devnet's own test of that is in custos-chains'
/// `devnet_rpc`); the server's transfers, built on the newest blockhash, still go. Out-of-range
/// values are named.
#[tokio::test]
async fn dev_slots_pass_and_blockhashes_expire() {
    let srv = Server::start().await;
    let a = srv.login("sol-slots@example.com").await;
    for bad in [
        json!({"advance": 0}),
        json!({"advance": 100_001}),
        json!({"advance": "x"}),
    ] {
        let r = srv.post("/v1/dev/slots", Some(&a.token), &bad).await;
        let e = common::assert_error(&r, &[422, 400], "invalid_request");
        assert_eq!(e["field"], "advance", "{}", r.text);
    }
    let r = srv
        .post("/v1/dev/slots", Some(&a.token), &json!({"advance": 1}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let before = r.json()["slot"].as_u64().unwrap();
    let r = srv
        .post("/v1/dev/slots", Some(&a.token), &json!({"advance": 151}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["slot"].as_u64().unwrap(), before + 151);
    // The server builds with the newest blockhash, so its own transfers still go.
    airdrop(&srv, &a, "SOL", "1").await;
    let r = transfer(&srv, &a, &random_address(), "SOL", "0.1").await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn sol_transfer_confirms_and_moves_both_balances() {
    let srv = Server::start().await;
    let a = srv.login("sol-a@example.com").await;
    let b = srv.login("sol-b@example.com").await;
    let b_addr = address_of(&srv, &b).await;
    airdrop(&srv, &a, "SOL", "2").await;
    assert_eq!(dec(&balances(&srv, &a).await["SOL"]), 2.0);

    let r = transfer(&srv, &a, &b_addr, "SOL", "0.1").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["status"], "confirmed");
    // 0.1 SOL and the 5000-lamport fee at the static 150 USD: the budget counts what leaves.
    assert_eq!(dec(v["usd_value"].as_str().unwrap()), 15.00075);
    let sig = bs58::decode(v["tx"].as_str().unwrap()).into_vec().unwrap();
    assert_eq!(sig.len(), 64, "tx is a base58 Solana signature");
    assert!(v["audit_id"].as_u64().is_some());

    assert_eq!(dec(&balances(&srv, &b).await["SOL"]), 0.1);
    let a_sol = dec(&balances(&srv, &a).await["SOL"]);
    // 2 - 0.1 - the network fee (5000 lamports per signature, no priority fee by default).
    assert!(
        (a_sol - (1.9 - 0.000005)).abs() < 1e-9,
        "sender has {a_sol}"
    );

    // The audit trail has the signature before broadcast and the confirmation after.
    let audit = srv.my_audit(&a.token).await;
    let actions: Vec<&str> = audit.iter().filter_map(|r| r["action"].as_str()).collect();
    assert!(actions.contains(&"transfer.signed"), "{actions:?}");
    let done = audit
        .iter()
        .find(|r| r["action"] == "transfer" && r["outcome"] == "success")
        .expect("a successful transfer record");
    assert_eq!(done["tx"], v["tx"]);

    // A tiny amount to an account that does not exist yet would leave it below rent exemption:
    // the caller's mistake, a 422 naming `amount`, before anything is simulated or signed.
    let fresh = bs58::encode([7u8; 32]).into_string();
    let r = transfer(&srv, &a, &fresh, "SOL", "0.0001").await;
    assert_eq!(r.status, 422, "{}", r.text);
    let e = r.json();
    assert_eq!(e["error"]["field"], "amount", "{e}");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("rent-exempt minimum of 0.00089088 SOL"),
        "{message}"
    );
    // The same amount to an account that exists goes through.
    let r = transfer(&srv, &a, &b_addr, "SOL", "0.0001").await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn spl_and_token_2022_transfers_create_the_recipient_account() {
    let mut srv = Server::start().await;
    let a = srv.login("spl-a@example.com").await;
    let b = srv.login("spl-b@example.com").await;
    let b_addr = address_of(&srv, &b).await;
    airdrop(&srv, &a, "SOL", "1").await;
    let mut mints = vec![];
    for program in ["token", "token-2022"] {
        let r = srv
            .post(
                "/v1/dev/mints",
                Some(&a.token),
                &json!({"decimals": 6, "program": program}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let mint = r.json()["mint"].as_str().unwrap().to_string();
        airdrop(&srv, &a, &mint, "100").await;
        mints.push(mint);
    }
    // A mint without a price is refused (never valued at zero)...
    let r = transfer(&srv, &a, &b_addr, &mints[0], "10").await;
    assert_denied_by(&r, "price.unavailable");
    // ...so give both mints a price and restart: the devnet's state survives the restart.
    let config = format!(
        "[oracle.static_prices]\nSOL = \"150\"\n\"{}\" = \"1\"\n\"{}\" = \"2\"\n",
        mints[0], mints[1]
    );
    srv.restart(Some(&config)).await;
    let a = srv.login("spl-a@example.com").await;
    let b = srv.login("spl-b@example.com").await;
    assert_eq!(dec(&balances(&srv, &a).await[&mints[0]]), 100.0);

    for (mint, usd) in mints.iter().zip([10.0, 20.0]) {
        let r = transfer(&srv, &a, &b_addr, mint, "10").await;
        assert_eq!(r.status, 200, "{}", r.text);
        // The tokens, plus the fee and the rent of the recipient's new token account in SOL.
        let value = dec(r.json()["usd_value"].as_str().unwrap());
        assert!(
            value > usd && value < usd + 1.0,
            "usd_value {value} for {usd} USD of tokens"
        );
        assert_eq!(dec(&balances(&srv, &a).await[mint]), 90.0);
        assert_eq!(dec(&balances(&srv, &b).await[mint]), 10.0);
    }
    // More than the balance: the simulation fails and nothing is signed.
    let r = transfer(&srv, &a, &b_addr, &mints[0], "91").await;
    assert!(
        r.status == 403 || r.status == 422,
        "overdraft must be refused: {} {}",
        r.status,
        r.text
    );
    assert_eq!(dec(&balances(&srv, &a).await[&mints[0]]), 90.0);
}

#[tokio::test]
async fn every_rule_denies_naming_itself() {
    let srv = Server::start().await;
    let op = srv.operator_token("admin");
    let a = srv.login("rules@example.com").await;
    airdrop(&srv, &a, "SOL", "5").await;
    let to = random_address();

    // Per-transaction cap (default policy: 25 USD; 1 SOL = 150 USD).
    assert_denied_by(
        &transfer(&srv, &a, &to, "SOL", "1").await,
        "limits.per_tx_usd",
    );

    // Recipient deny list and allow list.
    let mut p = policy("100", "1000", 60);
    p["recipients"] = json!({"mode": "any", "allow": [], "deny": [to]});
    set_policy(&srv, &op, &a.agent_id, p).await;
    assert_denied_by(
        &transfer(&srv, &a, &to, "SOL", "0.01").await,
        "recipients.deny",
    );
    let mut p = policy("100", "1000", 60);
    p["recipients"] = json!({"mode": "allowlist", "allow": [random_address()], "deny": []});
    set_policy(&srv, &op, &a.agent_id, p).await;
    assert_denied_by(
        &transfer(&srv, &a, &to, "SOL", "0.01").await,
        "recipients.allow",
    );

    // Chain and action toggles.
    let mut p = policy("100", "1000", 60);
    p["chains"] = json!(["evm:1"]);
    set_policy(&srv, &op, &a.agent_id, p).await;
    assert_denied_by(&transfer(&srv, &a, &to, "SOL", "0.01").await, "chains");
    let mut p = policy("100", "1000", 60);
    p["actions"]["transfer"] = json!(false);
    set_policy(&srv, &op, &a.agent_id, p).await;
    assert_denied_by(
        &transfer(&srv, &a, &to, "SOL", "0.01").await,
        "actions.transfer",
    );

    // Hourly velocity: two fit, the third is refused.
    set_policy(&srv, &op, &a.agent_id, policy("100", "1000", 2)).await;
    for _ in 0..2 {
        transfer(&srv, &a, &random_address(), "SOL", "0.01")
            .await
            .expect_status(200);
    }
    assert_denied_by(
        &transfer(&srv, &a, &to, "SOL", "0.01").await,
        "limits.max_tx_per_hour",
    );

    // Daily cap: about 3 USD already spent above; 15 + 3 ≤ 20 fits, another 15 does not.
    set_policy(&srv, &op, &a.agent_id, policy("16", "20", 60)).await;
    transfer(&srv, &a, &random_address(), "SOL", "0.1")
        .await
        .expect_status(200);
    assert_denied_by(
        &transfer(&srv, &a, &to, "SOL", "0.1").await,
        "limits.daily_usd",
    );

    // A dry run explains without signing anything.
    let before = balances(&srv, &a).await["SOL"].clone();
    let r = srv
        .post(
            "/v1/wallets/me/actions/transfer?dry_run=true",
            Some(&a.token),
            &json!({"chain": "solana", "to": to, "asset": "SOL", "amount": "0.1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["dry_run"], true);
    let text = v["explanation"].to_string();
    assert!(text.contains("limits.daily_usd"), "{text}");
    assert_eq!(balances(&srv, &a).await["SOL"], before);

    // Freeze: every action is denied, and the denial is audited.
    srv.post(
        &format!("/v1/admin/agents/{}/freeze", a.agent_id),
        Some(&op),
        &json!({}),
    )
    .await
    .expect_status(200);
    assert_denied_by(&transfer(&srv, &a, &to, "SOL", "0.01").await, "frozen");
    let audit = srv.my_audit(&a.token).await;
    let last = audit
        .iter()
        .rev()
        .find(|r| r["action"] == "transfer")
        .unwrap();
    assert_eq!(last["outcome"], "denied", "{last}");
}

#[tokio::test]
async fn fifty_concurrent_transfers_never_overrun_the_daily_cap() {
    let srv = Server::builder()
        .config("[rate_limit]\nper_agent_per_minute = 1000\nper_ip_per_minute = 1000\n")
        .start()
        .await;
    let op = srv.operator_token("admin");
    let a = srv.login("burst@example.com").await;
    airdrop(&srv, &a, "SOL", "10").await;
    // 0.05 SOL + fee = 7.50075 USD each; 100 USD a day fits exactly 13 (97.51).
    set_policy(&srv, &op, &a.agent_id, policy("10", "100", 1000)).await;
    let mut tasks = vec![];
    for _ in 0..50 {
        let base = srv.base();
        let token = a.token.clone();
        let to = random_address();
        tasks.push(tokio::spawn(async move {
            let r = common::client()
                .post(format!("{base}/v1/wallets/me/actions/transfer"))
                .bearer_auth(token)
                .json(&json!({"chain": "solana", "to": to, "asset": "SOL", "amount": "0.05"}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }));
    }
    let mut ok = 0;
    let mut daily = 0;
    for t in tasks {
        let (status, text) = t.await.unwrap();
        match status {
            200 => ok += 1,
            403 if text.contains("limits.daily_usd") => daily += 1,
            _ => panic!("unexpected {status}: {text}"),
        }
    }
    assert_eq!(ok, 13, "exactly as many as fit under the cap");
    assert_eq!(daily, 37);
    let sol = dec(&balances(&srv, &a).await["SOL"]);
    assert!(
        (sol - (10.0 - 13.0 * 0.05 - 13.0 * 0.000005)).abs() < 1e-9,
        "balance {sol}"
    );
}

#[tokio::test]
async fn approvals_approve_reject_and_expire() {
    let srv = Server::builder()
        .config("[approvals]\nttl_seconds = 4\n")
        .start()
        .await;
    let op = srv.operator_token("operator");
    let admin = srv.operator_token("admin");
    let viewer = srv.operator_token("viewer");
    let a = srv.login("approvals@example.com").await;
    let b = srv.login("approvals-b@example.com").await;
    let b_addr = address_of(&srv, &b).await;
    airdrop(&srv, &a, "SOL", "2").await;
    let mut p = policy("100", "1000", 60);
    p["approvals"] = json!({"above_usd": "10", "quorum": 1});
    set_policy(&srv, &admin, &a.agent_id, p).await;

    // Below the threshold: executes at once.
    transfer(&srv, &a, &b_addr, "SOL", "0.05")
        .await
        .expect_status(200);

    // Above: parked, nothing moves.
    let r = transfer(&srv, &a, &b_addr, "SOL", "0.1").await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json()["status"], "pending_approval");
    let id = r.json()["approval_id"].as_str().unwrap().to_string();
    assert_eq!(dec(&balances(&srv, &b).await["SOL"]), 0.05);
    let list = srv.get("/v1/admin/approvals", Some(&op)).await;
    list.expect_status(200);
    let pending = list.json()["approvals"].as_array().unwrap().clone();
    assert!(pending
        .iter()
        .any(|x| x["approval_id"] == id.as_str() && x["status"] == "pending"));
    // A viewer cannot approve.
    let r = vote(&srv, &viewer, &id, "approve").await;
    assert_eq!(r.status, 403, "{}", r.text);

    // Approved: executes the exact parked transaction, after the policy is checked again.
    let r = vote(&srv, &op, &id, "approve").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["status"], "confirmed");
    assert_eq!(dec(&balances(&srv, &b).await["SOL"]), 0.15);
    // Single use.
    let r = vote(&srv, &admin, &id, "approve").await;
    assert!(
        r.status == 409 || r.status == 422,
        "{} {}",
        r.status,
        r.text
    );
    assert_eq!(dec(&balances(&srv, &b).await["SOL"]), 0.15);

    // Rejected: never executes.
    let r = transfer(&srv, &a, &b_addr, "SOL", "0.1").await;
    let id2 = r.json()["approval_id"].as_str().unwrap().to_string();
    let r = vote(&srv, &op, &id2, "reject").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = vote(&srv, &admin, &id2, "approve").await;
    assert_eq!(r.status, 422, "{}", r.text);

    // Expired: approving too late is refused.
    let r = transfer(&srv, &a, &b_addr, "SOL", "0.1").await;
    let id3 = r.json()["approval_id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let r = vote(&srv, &op, &id3, "approve").await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.text.contains("expired"), "{}", r.text);
    assert_eq!(dec(&balances(&srv, &b).await["SOL"]), 0.15);

    // A policy change between parking and approval is honoured: re-checked at execution.
    let r = transfer(&srv, &a, &b_addr, "SOL", "0.1").await;
    let id4 = r.json()["approval_id"].as_str().unwrap().to_string();
    let mut p = policy("10", "1000", 60);
    p["approvals"] = json!({"above_usd": "5", "quorum": 1});
    set_policy(&srv, &admin, &a.agent_id, p).await;
    let r = vote(&srv, &op, &id4, "approve").await;
    assert_denied_by(&r, "limits.per_tx_usd");
    assert_eq!(dec(&balances(&srv, &b).await["SOL"]), 0.15);
}

/// A transfer parked for approval is built on a durable nonce: approved after every blockhash
/// handed out before has expired (the devnet's slots let pass), it still lands — exactly the
/// bytes that were parked. Two parked at once hold two nonce accounts (the agent's own,
/// created once, audited as `nonce.create`, allowed under a recipient allowlist that lists
/// neither); each nonce is used once.
#[tokio::test]
async fn parked_transfers_wait_on_durable_nonces() {
    use base64::Engine as _;
    let srv = Server::start().await;
    let op = srv.operator_token("operator");
    let admin = srv.operator_token("admin");
    let a = srv.login("durable@example.com").await;
    let b = srv.login("durable-b@example.com").await;
    let to = address_of(&srv, &b).await;
    let a_addr = address_of(&srv, &a).await;
    airdrop(&srv, &a, "SOL", "2").await;
    let mut p = policy("100", "1000", 60);
    p["approvals"] = json!({"above_usd": "10", "quorum": 1});
    // Only `to` may be paid: the nonce accounts are the agent's own, not recipients (the
    // server's simulation and the boundary's decoder both say so).
    p["recipients"] = json!({"mode": "allowlist", "allow": [to], "deny": []});
    set_policy(&srv, &admin, &a.agent_id, p).await;

    let mut ids = vec![];
    for amount in ["0.1", "0.2"] {
        let r = transfer(&srv, &a, &to, "SOL", amount).await;
        assert_eq!(r.status, 202, "{}", r.text);
        ids.push(r.json()["approval_id"].as_str().unwrap().to_owned());
    }
    // The parked transactions: each advances its own nonce account first.
    let mut held = vec![];
    for id in &ids {
        let r = srv
            .get(&format!("/v1/admin/approvals/{id}"), Some(&op))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let tx = base64::engine::general_purpose::STANDARD
            .decode(r.json()["transaction"].as_str().unwrap())
            .unwrap();
        // Decoded by solders, independently of the Rust crates that built it.
        let b64 = base64::engine::general_purpose::STANDARD.encode(&tx);
        let decoded: Value = serde_json::from_str(&build_tx(&["decode", &b64])).unwrap();
        let first = &decoded["instructions"][0];
        assert_eq!(
            first["program"], "11111111111111111111111111111111",
            "{decoded}"
        );
        assert_eq!(first["data"], "04000000", "AdvanceNonceAccount: {decoded}");
        let account = first["accounts"][0].as_str().unwrap().to_owned();
        assert_eq!(
            first["accounts"][2],
            a_addr.as_str(),
            "the agent is the authority"
        );
        held.push(account);
    }
    assert_ne!(held[0], held[1], "one nonce account each");
    let audit = srv.get("/v1/wallets/me/audit", Some(&a.token)).await.json();
    let created = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "nonce.create" && r["outcome"] == "success")
        .count();
    assert_eq!(created, 2, "{audit}");

    // Hours later, as far as blockhashes go.
    let r = srv
        .post("/v1/dev/slots", Some(&a.token), &json!({"advance": 300}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for id in &ids {
        let r = vote(&srv, &op, id, "approve").await;
        assert_eq!(
            r.status, 200,
            "approved after the blockhash expired: {}",
            r.text
        );
        assert_eq!(r.json()["status"], "confirmed", "{}", r.text);
    }
    assert_eq!(
        dec(&balances(&srv, &b).await["SOL"]),
        0.3,
        "both landed, once each"
    );

    // The nonce accounts are reused by the next parked transfer (no third is created).
    let r = transfer(&srv, &a, &to, "SOL", "0.1").await;
    assert_eq!(r.status, 202, "{}", r.text);
    let audit = srv.get("/v1/wallets/me/audit", Some(&a.token)).await.json();
    let created = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "nonce.create")
        .count();
    assert_eq!(created, 2);
}

/// An operator's `approve` or `reject` of a parked action.
async fn vote(srv: &Server, token: &str, id: &str, verb: &str) -> common::Resp {
    srv.post(
        &format!("/v1/admin/approvals/{id}/{verb}"),
        Some(token),
        &json!({}),
    )
    .await
}

/// A local server speaking Pyth Hermes' `/v2/updates/price/latest` JSON with a fixed
/// `publish_time`.
async fn fake_hermes(publish_time: i64) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = vec![0u8; 8192];
                let _ = sock.read(&mut buf).await;
                let body = json!({
                    "binary": {"encoding": "hex", "data": []},
                    "parsed": [{
                        "id": "ef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d",
                        "price": {"price": "15000000000", "conf": "1000000", "expo": -8, "publish_time": publish_time},
                        "ema_price": {"price": "15000000000", "conf": "1000000", "expo": -8, "publish_time": publish_time},
                        "metadata": {"slot": 1, "proof_available_time": publish_time, "prev_publish_time": publish_time - 1}
                    }]
                })
                .to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_stale_price_denies_and_a_fresh_one_allows() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for (age, allowed) in [(600, false), (0, true)] {
        let hermes = fake_hermes(now - age).await;
        let config = format!(
            "[oracle]\nsource = \"pyth_hermes\"\nhermes_url = \"{hermes}\"\nmax_age_secs = 60\ncache_ttl_ms = 0\n\
             [oracle.feeds]\nSOL = \"ef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d\"\n"
        );
        let srv = Server::builder().config(&config).start().await;
        let a = srv.login("stale@example.com").await;
        airdrop(&srv, &a, "SOL", "1").await;
        let r = transfer(&srv, &a, &random_address(), "SOL", "0.1").await;
        if allowed {
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(dec(r.json()["usd_value"].as_str().unwrap()), 15.00075);
        } else {
            assert_denied_by(&r, "price.unavailable");
            assert!(
                r.text.contains("stale") || r.text.contains("old"),
                "{}",
                r.text
            );
        }
    }
}

// --- `sign`, over the JSON-RPC back end against `custos devnet` ---------------------------------

fn solana_tx(args: &[&str]) -> std::process::Output {
    Command::new("python3")
        .arg(repo_root().join("scripts/solana_tx.py"))
        .args(args)
        .output()
        .expect("python3 scripts/solana_tx.py (scripts/test-deps.sh installs solders)")
}

fn build_tx(args: &[&str]) -> String {
    let out = solana_tx(args);
    assert!(
        out.status.success(),
        "solana_tx.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

async fn sign(srv: &Server, s: &Session, body: Value) -> common::Resp {
    srv.post("/v1/wallets/me/actions/sign", Some(&s.token), &body)
        .await
}

#[tokio::test]
async fn sign_is_judged_by_simulated_effects_and_verifies_independently() {
    let devnet = Devnet::start();
    let srv = Server::builder()
        .config(&devnet.serve_config())
        .start()
        .await;
    let op = srv.operator_token("admin");
    let a = srv.login("signer@example.com").await;
    let me = address_of(&srv, &a).await;
    rpc(&devnet.url, "requestAirdrop", json!([me, 3_000_000_000u64])).await;
    // The dev faucet endpoints exist only on the embedded devnet.
    let r = srv
        .post(
            "/v1/dev/airdrop",
            Some(&a.token),
            &json!({"chain": "solana", "asset": "SOL", "amount": "1"}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);

    let blockhash = rpc(&devnet.url, "getLatestBlockhash", json!([])).await["value"]["blockhash"]
        .as_str()
        .unwrap()
        .to_string();
    let to = random_address();
    let big = build_tx(&[
        "transfer",
        "--from",
        &me,
        "--to",
        &to,
        "--lamports",
        "1000000000",
        "--blockhash",
        &blockhash,
    ]);

    // `sign` is off in the default policy.
    assert_denied_by(
        &sign(&srv, &a, json!({"chain": "solana", "transaction": big})).await,
        "actions.sign",
    );
    set_policy(&srv, &op, &a.agent_id, policy("25", "1000", 60)).await;

    // It moves 1 SOL (150 USD) though the agent declares 0.01 SOL: denied on the effects.
    let r = sign(
        &srv,
        &a,
        json!({"chain": "solana", "transaction": big, "asset": "SOL", "amount": "0.01", "to": to}),
    )
    .await;
    let rules = denied_rules(&r);
    assert!(rules.iter().any(|x| x == "limits.per_tx_usd"), "{rules:?}");
    assert!(
        rules.iter().any(|x| x == "simulation.outflow_mismatch"),
        "{rules:?}"
    );
    // Declaring nothing does not help either.
    assert_denied_by(
        &sign(&srv, &a, json!({"chain": "solana", "transaction": big})).await,
        "limits.per_tx_usd",
    );

    // A program outside the allowlist is denied.
    let foreign = build_tx(&[
        "memo",
        "--from",
        &me,
        "--blockhash",
        &blockhash,
        "--program",
        &random_address(),
    ]);
    assert_denied_by(
        &sign(&srv, &a, json!({"chain": "solana", "transaction": foreign})).await,
        "programs.allow",
    );

    // Not the agent's transaction: refused before anything else.
    let other = build_tx(&[
        "transfer",
        "--from",
        &random_address(),
        "--to",
        &to,
        "--lamports",
        "1000",
        "--blockhash",
        &blockhash,
    ]);
    let r = sign(&srv, &a, json!({"chain": "solana", "transaction": other})).await;
    let e = assert_error(&r, &[422], "invalid_request");
    assert_eq!(e["field"], "transaction");
    let r = sign(
        &srv,
        &a,
        json!({"chain": "solana", "transaction": "not base64!"}),
    )
    .await;
    assert_eq!(
        assert_error(&r, &[422], "invalid_request")["field"],
        "transaction"
    );

    // Small and honest (legacy and v0 messages): signed and handed back, not broadcast...
    for v0 in [false, true] {
        let mut args = vec![
            "transfer",
            "--from",
            &me,
            "--to",
            &to,
            "--lamports",
            "50000000",
            "--blockhash",
            &blockhash,
        ];
        if v0 {
            args.push("--v0");
        }
        let small = build_tx(&args);
        let r = sign(&srv, &a, json!({"chain": "solana", "transaction": small})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let v = r.json();
        assert_eq!(v["status"], "signed");
        assert_eq!(dec(v["usd_value"].as_str().unwrap()), 7.50075);
        let signed = v["signed_transaction"].as_str().unwrap();
        // ...and the signature verifies under solders, an independent Solana library.
        let out = solana_tx(&["verify", signed]);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(json!({}));
        assert!(
            out.status.success(),
            "verify: {report} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(report["ok"], true);
        assert_eq!(report["signers"], json!([me]));
        assert_eq!(report["signature"], v["tx"]);
        // Tampering with one byte of the message breaks it.
        use base64::Engine;
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(signed)
            .unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let out = solana_tx(&[
            "verify",
            &base64::engine::general_purpose::STANDARD.encode(&bytes),
        ]);
        assert!(
            !out.status.success(),
            "a tampered transaction must not verify"
        );
    }
    assert_eq!(
        rpc(&devnet.url, "getBalance", json!([to])).await["value"],
        0,
        "nothing was broadcast"
    );

    // With broadcast: sent through the RPC back end and confirmed.
    let blockhash = rpc(&devnet.url, "getLatestBlockhash", json!([])).await["value"]["blockhash"]
        .as_str()
        .unwrap()
        .to_string();
    let tx = build_tx(&[
        "transfer",
        "--from",
        &me,
        "--to",
        &to,
        "--lamports",
        "20000000",
        "--blockhash",
        &blockhash,
    ]);
    let r = sign(
        &srv,
        &a,
        json!({"chain": "solana", "transaction": tx, "broadcast": true}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["status"], "confirmed");
    assert_eq!(
        rpc(&devnet.url, "getBalance", json!([to])).await["value"],
        20_000_000
    );
    // The balances endpoint reads through the RPC back end too.
    let sol = dec(&balances(&srv, &a).await["SOL"]);
    assert!(sol < 3.0 && sol > 2.9, "{sol}");
    // Spend of signed-but-not-broadcast transactions counts: 7.5 + 7.5 + 3 USD.
    let r = srv
        .get("/v1/wallets/me/audit?limit=1000", Some(&a.token))
        .await;
    let signed: Vec<Value> = r.json()["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["action"] == "sign" && x["outcome"] == "success")
        .cloned()
        .collect();
    assert_eq!(signed.len(), 3, "{signed:?}");
}

#[tokio::test]
async fn key_rotation_changes_the_address_and_new_transfers_sign_with_the_new_key() {
    let srv = Server::start().await;
    let admin = srv.operator_token("admin");
    let viewer = srv.operator_token("viewer");
    let a = srv.login("rotate@example.com").await;
    let old = address_of(&srv, &a).await;

    let r = srv
        .get(
            &format!("/v1/admin/agents/{}/keys", a.agent_id),
            Some(&viewer),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let keys = r.json()["keys"].as_array().unwrap().clone();
    let ed = keys.iter().find(|k| k["scheme"] == "ed25519").unwrap();
    assert_eq!(ed["address"], old.as_str());
    assert_eq!(ed["age_days"], 0);
    assert_eq!(ed["rotation_due"], false);
    assert_eq!(ed["status"], "active");

    let path = format!("/v1/admin/agents/{}/keys/ed25519/rotate", a.agent_id);
    let r = srv.post(&path, Some(&viewer), &json!({})).await;
    assert_eq!(r.status, 403, "a viewer cannot rotate: {}", r.text);
    let r = srv
        .post(
            &format!("/v1/admin/agents/{}/keys/rsa/rotate", a.agent_id),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(
        assert_error(&r, &[422], "invalid_request")["field"],
        "scheme"
    );

    let r = srv.post(&path, Some(&admin), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["previous_address"], old.as_str());
    let new = v["key"]["address"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(
        address_of(&srv, &a).await,
        new,
        "the wallet shows the new address"
    );

    // The new key signs: fund the new address and transfer (the devnet verifies the signature
    // against the fee payer, which is the new address).
    airdrop(&srv, &a, "SOL", "1").await;
    let r = transfer(&srv, &a, &random_address(), "SOL", "0.01").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let sig = bs58::decode(r.json()["tx"].as_str().unwrap())
        .into_vec()
        .unwrap();
    let new_key = bs58::decode(&new).into_vec().unwrap();
    assert_eq!(sig.len(), 64);
    assert_eq!(new_key.len(), 32);
    // The EVM key is untouched.
    let r = srv
        .get(
            &format!("/v1/admin/agents/{}/keys", a.agent_id),
            Some(&viewer),
        )
        .await;
    let keys = r.json()["keys"].as_array().unwrap().clone();
    assert_eq!(
        keys.iter().find(|k| k["scheme"] == "ed25519").unwrap()["address"],
        new.as_str()
    );
    let audit = srv.get("/v1/admin/audit?limit=1000", Some(&admin)).await;
    assert!(
        audit.text.contains("admin.keys.rotate"),
        "rotation is audited"
    );
}

/// A transfer whose blockhash expired before the cluster took it (`FAULT_INJECT=
/// before_broadcast=expire` lets 151 slots pass just before it is sent, so the devnet refuses it
/// with `BlockhashNotFound`) is re-signed once on a fresh blockhash — on record before it is
/// sent, naming the expired one — and confirms: one payment, one fee, one debit of the budget,
/// and a retry of its key answers the re-signed transaction.
#[tokio::test]
async fn an_expired_blockhash_is_re_signed_once_and_pays_once() {
    let srv = Server::builder()
        .env("FAULT_INJECT", "before_broadcast=expire")
        .start()
        .await;
    // 0.1 SOL is ~15 USD: two fit the 40 USD daily cap, a third does not.
    let s = srv.funded_solana_agent("expired@example.com", "40").await;
    let b = srv.login("expired-b@example.com").await;
    let to = address_of(&srv, &b).await;
    let body = json!({"chain": "solana", "to": to, "asset": "SOL", "amount": "0.1"});
    let send = |key: &str| {
        srv.request(reqwest::Method::POST, "/v1/wallets/me/actions/transfer")
            .bearer_auth(&s.token)
            .header("Idempotency-Key", key)
            .json(&body)
    };
    let r = srv.send(send("expired-1")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["status"], "confirmed", "{v}");
    let tx = v["tx"].as_str().unwrap().to_owned();

    let audit = srv.my_audit(&s.token).await;
    let signed: Vec<&Value> = audit
        .iter()
        .filter(|r| r["action"] == "transfer.signed")
        .collect();
    assert_eq!(signed.len(), 2, "{audit:?}");
    let expired = signed.iter().find(|r| r["tx"] != tx.as_str()).unwrap()["tx"]
        .as_str()
        .unwrap()
        .to_owned();
    let resigned = signed.iter().find(|r| r["tx"] == tx.as_str()).unwrap();
    assert!(
        resigned["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("{expired} expired")),
        "{resigned}"
    );
    let done: Vec<&Value> = audit
        .iter()
        .filter(|r| r["action"] == "transfer" && r["outcome"] == "success")
        .collect();
    assert_eq!(done.len(), 1, "{audit:?}");
    assert_eq!(done[0]["tx"], tx.as_str());
    // One payment, one fee: the expired copy never landed.
    assert_eq!(dec(&balances(&srv, &b).await["SOL"]), 0.1);
    let left = dec(&balances(&srv, &s).await["SOL"]);
    assert!((left - (0.9 - 0.000005)).abs() < 1e-9, "sender has {left}");
    // The key answers the re-signed transaction.
    let again = srv.send(send("expired-1")).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json()["tx"], tx.as_str());
    // One debit: a second transfer fits the cap, a third does not.
    let r = srv.send(send("expired-2")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = srv.send(send("expired-3")).await;
    common::evm::assert_denied_by(&r, "limits.daily_usd");
}
