//! Stuck EVM transactions, end to end on a real anvil node: a transfer sent with a fee cap
//! below the base fee the chain then moved to (`anvil_setNextBlockBaseFeePerGas`) sits in the
//! pool; `POST /v1/wallets/me/transactions/{tx}/speed-up` replaces it (same nonce, higher fees),
//! judged under the current policy, and it mines; `…/cancel` replaces another with nothing sent
//! to the wallet itself. What is checked: both replacements land under the original's nonce and
//! the original never does; the original request's Idempotency-Key answers with the
//! replacement (no second payment); the transaction list says which replaced which; a speed-up
//! the current policy refuses is refused and nothing is sent; fee bumps out of range or above
//! the chain's caps are refused naming `fee_bump_percent`; a cancel releases the budget the
//! original held; settled, unknown and other wallets' transactions cannot be replaced; and no
//! nonce is left behind a gap.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::evm::*;
use common::{assert_error, Resp, Server, Session};
use serde_json::{json, Value};

const E18: u128 = 1_000_000_000_000_000_000;

/// A transfer under `key` that the node takes into its pool but does not mine: mining is off
/// while it is sent (the request gives up after the 2 s confirmation wait), then the next
/// block's base fee is set above its fee cap — stuck: the node would not include it. (Anvil
/// evicts such a transaction as soon as it mines, so mining stays off until it is replaced.)
/// Returns its hash.
async fn stuck_transfer(a: &Anvil, srv: &Server, s: &Session, to: &str, key: &str) -> String {
    a.rpc("evm_setAutomine", json!([false])).await;
    let rb = srv
        .request(reqwest::Method::POST, "/v1/wallets/me/actions/transfer")
        .bearer_auth(&s.token)
        .header("Idempotency-Key", key)
        .json(&json!({"chain": "evm:31337", "to": to, "asset": "ETH", "amount": "0.01"}));
    let r = srv.send(rb).await;
    assert_eq!(r.status, 503, "{}", r.text);
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    let hash = message
        .split_whitespace()
        .find(|w| w.starts_with("0x") && w.len() == 66)
        .unwrap_or_else(|| panic!("no transaction hash in {message:?}"))
        .to_owned();
    let sent = a.rpc("eth_getTransactionByHash", json!([hash])).await;
    let cap = hex_u128(&sent["maxFeePerGas"]);
    a.rpc(
        "anvil_setNextBlockBaseFeePerGas",
        json!([format!("0x{:x}", cap * 3)]),
    )
    .await;
    assert!(
        a.rpc("eth_getTransactionReceipt", json!([hash]))
            .await
            .is_null(),
        "not mined"
    );
    hash
}

/// Runs `work` while the node mines a block every 100 ms (mining is off), so a replacement the
/// request sends is included while the request waits for it.
async fn mining<T>(a: &Anvil, work: impl std::future::Future<Output = T>) -> T {
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            () = tokio::time::sleep(std::time::Duration::from_millis(100)) => {
                a.rpc("evm_mine", json!([])).await;
            }
        }
    }
}

async fn replace(srv: &Server, s: &Session, tx: &str, kind: &str, body: Option<Value>) -> Resp {
    let path = format!("/v1/wallets/me/transactions/{tx}/{kind}");
    match body {
        Some(b) => srv.post(&path, Some(&s.token), &b).await,
        None => {
            let rb = srv
                .request(reqwest::Method::POST, &path)
                .bearer_auth(&s.token);
            srv.send(rb).await
        }
    }
}

async fn tx_status(srv: &Server, s: &Session, tx: &str) -> Value {
    let r = srv
        .get(&format!("/v1/wallets/me/transactions/{tx}"), Some(&s.token))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stuck_transactions_are_sped_up_or_cancelled_under_policy() {
    let a = Anvil::start(31337).await;
    let cfg = config_waiting(&a, 2);
    let srv = Server::builder().config(&cfg).start().await;
    let s = srv.login("evm-replace@example.com").await;
    // 0.01 ETH is 30 USD: one stuck transfer fits the 50 USD day, two would not — so a speed-up
    // judged with its own original still counted would be refused.
    let tight = |deny: &[&str], daily: &str| {
        policy(
            &["evm:31337"],
            json!({"limits": {"per_tx_usd": daily, "daily_usd": daily, "max_tx_per_hour": 1000},
                   "recipients": {"mode": "any", "allow": [], "deny": deny}}),
        )
    };
    set_policy(&srv, &s.agent_id, tight(&[], "50")).await;
    let me = evm_address(&srv, &s).await;
    a.set_balance(&me, 10 * E18).await;
    let to = random_evm();
    let count = |tag: &'static str| {
        let (a, me) = (&a, me.clone());
        async move { hex_u128(&a.rpc("eth_getTransactionCount", json!([me, tag])).await) }
    };

    // --- Speed-up ------------------------------------------------------------------------------
    let h1 = stuck_transfer(&a, &srv, &s, &to, "replace-k1").await;
    let original = a.rpc("eth_getTransactionByHash", json!([h1])).await;
    let st = tx_status(&srv, &s, &h1).await;
    assert_eq!(st["chain_status"], "pending", "{st}");
    assert!(
        st["stuck"]
            .as_str()
            .unwrap_or_default()
            .contains("below the next block's base fee"),
        "stuck detected: {st}"
    );

    // Bad bumps: named, nothing sent.
    for bad in [
        json!({"fee_bump_percent": 5}),
        json!({"fee_bump_percent": 501}),
    ] {
        let r = replace(&srv, &s, &h1, "speed-up", Some(bad)).await;
        let e = assert_error(&r, &[422], "invalid_request");
        assert_eq!(e["field"], "fee_bump_percent", "{}", r.text);
    }
    let r = replace(&srv, &s, &h1, "speed-up", Some(json!({"gas": 1}))).await;
    assert_error(&r, &[422, 400], "invalid_request");
    // The current policy is what judges the replacement: with the recipient denied now, the
    // speed-up is refused and nothing reaches the node.
    set_policy(&srv, &s.agent_id, tight(&[&to], "50")).await;
    let r = replace(&srv, &s, &h1, "speed-up", None).await;
    assert_denied_by(&r, "recipients.deny");
    assert_eq!(count("pending").await, 1, "only the stuck original");
    set_policy(&srv, &s.agent_id, tight(&[], "50")).await;

    let r = mining(&a, replace(&srv, &s, &h1, "speed-up", Some(json!({})))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let sped = r.json();
    assert_eq!(sped["status"], "confirmed");
    assert_eq!(sped["replaces"], h1.as_str());
    assert_eq!(sped["kind"], "speed_up");
    let h2 = sped["tx"].as_str().unwrap().to_owned();
    assert_ne!(h2, h1);
    let mined = a.rpc("eth_getTransactionByHash", json!([h2])).await;
    assert_eq!(mined["nonce"], original["nonce"], "the same nonce");
    assert_eq!(mined["to"], original["to"]);
    assert_eq!(mined["value"], original["value"]);
    assert!(
        hex_u128(&mined["maxFeePerGas"]) * 100 >= hex_u128(&original["maxFeePerGas"]) * 125,
        "fee cap raised by at least 25 %"
    );
    assert!(
        hex_u128(&mined["maxPriorityFeePerGas"]) * 100
            >= hex_u128(&original["maxPriorityFeePerGas"]) * 125
    );
    assert!(a
        .rpc("eth_getTransactionByHash", json!([h1]))
        .await
        .is_null());
    assert_eq!(a.balance(&to).await, E18 / 100);

    // The books: the original is replaced by the speed-up, which is confirmed.
    let st = tx_status(&srv, &s, &h1).await;
    assert_eq!(st["chain_status"], "replaced", "{st}");
    assert_eq!(st["status"], "replaced", "{st}");
    assert_eq!(st["replaced_by"], h2.as_str());
    let st = tx_status(&srv, &s, &h2).await;
    assert_eq!(st["chain_status"], "confirmed", "{st}");
    assert_eq!(st["status"], "confirmed", "{st}");
    assert_eq!(st["replaces"], h1.as_str());
    let list = srv
        .get("/v1/wallets/me/transactions", Some(&s.token))
        .await
        .json();
    let rows = list["transactions"].as_array().unwrap();
    let row = |h: &str| rows.iter().find(|t| t["tx"] == h).cloned().unwrap();
    assert_eq!(row(&h1)["status"], "replaced");
    assert_eq!(row(&h1)["replaced_by"], h2.as_str());
    assert_eq!(row(&h2)["replaces"], h1.as_str());

    // The original request, retried under its key, answers with the transaction that landed;
    // nothing is paid twice.
    let rb = srv
        .request(reqwest::Method::POST, "/v1/wallets/me/actions/transfer")
        .bearer_auth(&s.token)
        .header("Idempotency-Key", "replace-k1")
        .json(&json!({"chain": "evm:31337", "to": to, "asset": "ETH", "amount": "0.01"}));
    let again = srv.send(rb).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json()["tx"], h2.as_str());
    assert_eq!(again.json()["replaces"], h1.as_str());
    assert_eq!(a.balance(&to).await, E18 / 100);

    // Nothing left to replace: settled, unknown, or another wallet's.
    for h in [&h1, &h2] {
        let r = replace(&srv, &s, h, "speed-up", None).await;
        let e = assert_error(&r, &[422], "invalid_request");
        assert_eq!(e["field"], "tx", "{}", r.text);
    }
    let unknown = format!("0x{}", "ab".repeat(32));
    let r = replace(&srv, &s, &unknown, "cancel", None).await;
    assert_error(&r, &[404], "not_found");
    let r = replace(&srv, &s, "not-a-hash!", "cancel", None).await;
    assert_error(
        &r,
        &[404, 422],
        if r.status == 404 {
            "not_found"
        } else {
            "invalid_request"
        },
    );

    // --- Cancel --------------------------------------------------------------------------------
    // A 100 USD day: 30 spent, 30 held by the next stuck transfer. Once its cancel lands the
    // hold is released, so 60 more fit; were it still counted, they would not.
    set_policy(&srv, &s.agent_id, tight(&[], "100")).await;
    let to2 = random_evm();
    let h3 = stuck_transfer(&a, &srv, &s, &to2, "replace-k3").await;
    let stuck = a.rpc("eth_getTransactionByHash", json!([h3])).await;
    let other = srv.login("evm-replace-other@example.com").await;
    let r = replace(&srv, &other, &h3, "cancel", None).await;
    assert_error(&r, &[404], "not_found");

    let r = mining(
        &a,
        replace(
            &srv,
            &s,
            &h3,
            "cancel",
            Some(json!({"fee_bump_percent": 50})),
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    a.rpc("evm_setAutomine", json!([true])).await;
    let cancelled = r.json();
    assert_eq!(cancelled["kind"], "cancel");
    assert_eq!(cancelled["replaces"], h3.as_str());
    let h4 = cancelled["tx"].as_str().unwrap().to_owned();
    let c = a.rpc("eth_getTransactionByHash", json!([h4])).await;
    assert_eq!(c["nonce"], stuck["nonce"]);
    assert_eq!(
        c["to"].as_str().unwrap().to_lowercase(),
        me.to_lowercase(),
        "to the wallet itself"
    );
    assert_eq!(hex_u128(&c["value"]), 0);
    assert_eq!(hex_u128(&c["gas"]), 21_000);
    assert_eq!(
        a.balance(&to2).await,
        0,
        "the cancelled transfer never paid"
    );
    let st = tx_status(&srv, &s, &h3).await;
    assert_eq!(st["chain_status"], "replaced", "{st}");
    assert_eq!(st["replaced_by"], h4.as_str());

    let r = action(
        &srv,
        &s,
        "transfer",
        json!({"chain": "evm:31337", "to": to2, "asset": "ETH", "amount": "0.02"}),
    )
    .await;
    assert_eq!(r.status, 200, "the cancel released its budget: {}", r.text);
    assert_eq!(a.balance(&to2).await, 2 * E18 / 100);
    let r = action(
        &srv,
        &s,
        "transfer",
        json!({"chain": "evm:31337", "to": to2, "asset": "ETH", "amount": "0.01"}),
    )
    .await;
    assert_denied_by(&r, "limits.daily_usd");

    // Every nonce used once, none behind a gap.
    assert_eq!(count("latest").await, 3);
    assert_eq!(count("pending").await, 3);
}

/// A replacement needs a pending EVM transaction and the credential's scope for what the
/// transaction does; a Solana transaction lands or expires and is never replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replacement_needs_the_scope_of_what_it_replaces() {
    let a = Anvil::start(31337).await;
    let cfg = config_waiting(&a, 2);
    let srv = Server::builder().config(&cfg).start().await;
    let s = srv.login("evm-replace-scope@example.com").await;
    set_policy(&srv, &s.agent_id, policy(&["evm:31337"], json!({}))).await;
    let me = evm_address(&srv, &s).await;
    a.set_balance(&me, 10 * E18).await;
    let h = stuck_transfer(&a, &srv, &s, &random_evm(), "scope-k1").await;

    // A key that may only read cannot replace a transfer.
    let op = srv.operator_token("admin");
    let r = srv
        .post(
            &format!("/v1/admin/agents/{}/api-keys", s.agent_id),
            Some(&op),
            &json!({"scopes": ["wallet:read"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let reader = Session {
        token: r.json()["api_key"].as_str().unwrap().to_owned(),
        ..s.clone()
    };
    let r = replace(&srv, &reader, &h, "cancel", None).await;
    assert_error(&r, &[403], "scope_missing");
    assert_eq!(tx_status(&srv, &s, &h).await["chain_status"], "pending");

    // The agent's own session may: from the CLI, `custos tx cancel TX`.
    let home = tempfile::tempdir().unwrap();
    let mut cli = common::custos_command();
    cli.args(["tx", "cancel", &h, "--url", &srv.base(), "-o", "json"])
        .args([
            "--fee-bump-percent",
            "30",
            "--idempotency-key",
            "cli-cancel-1",
        ])
        .env("CUSTOSCLI_TOKEN", &s.token)
        .env("HOME", home.path());
    let out = mining(&a, tokio::task::spawn_blocking(move || cli.output()))
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "confirmed", "{v}");
    assert_eq!(v["kind"], "cancel");
    assert_eq!(v["replaces"], h.as_str());
    let st = tx_status(&srv, &s, &h).await;
    assert_eq!(st["chain_status"], "replaced", "{st}");

    // A Solana transaction id is never pending in the journal of an EVM-only server: not found.
    let sig = bs58::encode([7u8; 64]).into_string();
    let r = replace(&srv, &s, &sig, "speed-up", None).await;
    assert_error(&r, &[404], "not_found");
}

/// A replacement that was sent but not yet mined when the server stopped is finished by crash
/// recovery at the next start: it finds that the replacement (not the original) landed, records
/// the original as replaced, and answers the original request's Idempotency-Key with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recovery_settles_an_entry_by_the_replacement_that_landed() {
    let a = Anvil::start(31337).await;
    let cfg = config_waiting(&a, 2);
    let mut srv = Server::builder().config(&cfg).start().await;
    let s = srv.login("evm-replace-recovery@example.com").await;
    set_policy(&srv, &s.agent_id, policy(&["evm:31337"], json!({}))).await;
    let me = evm_address(&srv, &s).await;
    a.set_balance(&me, 10 * E18).await;
    let to = random_evm();
    let h1 = stuck_transfer(&a, &srv, &s, &to, "recovery-k1").await;

    // Nothing mines while the speed-up waits: it is sent, and answered as pending.
    let r = replace(&srv, &s, &h1, "speed-up", None).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json()["status"], "pending");
    let h2 = r.json()["tx"].as_str().unwrap().to_owned();
    srv.stop();
    a.rpc("evm_mine", json!([])).await;
    assert!(!a
        .rpc("eth_getTransactionReceipt", json!([h2]))
        .await
        .is_null());

    srv.restart(Some(&cfg)).await;
    let rb = srv
        .request(reqwest::Method::POST, "/v1/wallets/me/actions/transfer")
        .bearer_auth(&s.token)
        .header("Idempotency-Key", "recovery-k1")
        .json(&json!({"chain": "evm:31337", "to": to, "asset": "ETH", "amount": "0.01"}));
    let again = srv.send(rb).await;
    assert_eq!(again.status, 200, "{}", again.text);
    let v = again.json();
    assert_eq!(v["tx"], h2.as_str(), "{v}");
    assert_eq!(v["replaces"], h1.as_str());
    assert_eq!(v["kind"], "speed_up");
    assert_eq!(v["recovered"], true);
    let st = tx_status(&srv, &s, &h1).await;
    assert_eq!(st["status"], "replaced", "{st}");
    assert_eq!(st["replaced_by"], h2.as_str());
    assert_eq!(a.balance(&to).await, E18 / 100, "paid once");
}
