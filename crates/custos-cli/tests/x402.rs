//! x402 payments (`POST /v1/wallets/me/actions/pay`, x402 v2, `exact` on EVM) against a real
//! seller and facilitator from the reference npm packages (scripts/x402/seller.mjs:
//! @x402/express, @x402/core, @x402/evm 2.27) settling on anvil in an EIP-3009 token compiled
//! from scripts/contracts. What is checked: a paid resource is fetched and the facilitator
//! settles on chain (the receipt's transaction is mined, the payee holds the price); a payment
//! above `payments.max_per_payment_usd`, to a site off `payments.domains` (never contacted),
//! or whose requirements changed since the agent's quote (amount, payee, asset, network) is
//! refused with nothing signed and nothing moved; the authorization the seller got cannot be
//! replayed (the token refuses it); 20 concurrent payments against a site's daily cap settle
//! exactly the cap's worth.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine as _;
use common::evm::*;
use common::x402::{burst, quote, Seller};
use common::{assert_error, Server, Session};
use serde_json::{json, Value};

/// anvil's second dev key: the facilitator pays the gas of settlements.
const FACILITATOR_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
/// 0.01 USDC.
const PRICE: u128 = 10_000;

async fn pay(srv: &Server, s: &Session, body: Value) -> common::Resp {
    action(srv, s, "pay", body).await
}

/// How many authorizations Custos has signed for the agent (its `sign_message` records).
async fn signatures(srv: &Server, s: &Session) -> usize {
    srv.my_audit(&s.token)
        .await
        .iter()
        .map(|r| r.get("entry").unwrap_or(r))
        .filter(|e| e["action"] == "sign_message" && e["outcome"] == "success")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn x402_payments_settle_under_the_policy_and_nothing_else_does() {
    let a = Anvil::start(31337).await;
    let d = deploy(&a);
    let usdc = deploy_usdc(&a);
    let merchant = random_evm();
    let seller = Seller::start(json!({"rpc": a.url, "chainId": 31337, "token": usdc,
        "payTo": merchant, "amount": PRICE.to_string(), "facilitatorKey": FACILITATOR_KEY}));
    let weather = format!("{}/weather", seller.url);
    let srv = Server::builder()
        .config(&config_pricing(&a, &d, &usdc, "1"))
        .start()
        .await;
    let fund = |who: String| {
        let (a, usdc) = (&a, usdc.clone());
        async move { mint_usdc(a, &usdc, &who, 1_000_000).await }
    };
    let s = srv.login("x402@example.com").await;
    let me = evm_address(&srv, &s).await;
    fund(me.clone()).await;
    let payments = |max: &str| json!({"payments": {"domains": ["127.0.0.1"], "max_per_payment_usd": max, "max_validity_seconds": 60}});
    let mut p = policy(&["evm:31337"], payments("0.05"));
    p["limits"]["per_tx_usd"] = json!("1");
    p["limits"]["daily_usd"] = json!("1");
    set_policy(&srv, &s.agent_id, p.clone()).await;

    // A site off the allowlist is refused before it is contacted.
    let other_host = weather.replace("127.0.0.1", "localhost");
    let r = pay(&srv, &s, json!({"url": other_host})).await;
    assert_denied_by(&r, "payments.domains");
    assert!(seller.seen().is_empty(), "{:?}", seller.seen());

    // The paid resource: fetched, paid, settled on chain.
    let r = pay(&srv, &s, json!({"url": weather})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["status"], "paid", "{v}");
    assert_eq!(v["body"]["report"]["weather"], "sunny", "{v}");
    assert_eq!(v["receipt"]["success"], true, "{v}");
    assert_eq!(v["payment"]["usd_value"], "0.01", "{v}");
    let tx = v["receipt"]["transaction"].as_str().unwrap().to_owned();
    let mined = a.rpc("eth_getTransactionReceipt", json!([tx])).await;
    assert_eq!(mined["status"], "0x1", "{mined}");
    assert_eq!(a.token_balance(&usdc, &merchant).await, PRICE);
    assert_eq!(a.token_balance(&usdc, &me).await, 1_000_000 - PRICE);
    // The payment and its receipt are in the audit log.
    let audit = srv.my_audit(&s.token).await;
    let rec = audit
        .iter()
        .map(|r| r.get("entry").unwrap_or(r))
        .rfind(|e| e["action"] == "pay")
        .unwrap()
        .clone();
    assert_eq!(
        rec["params"]["receipt"]["transaction"],
        tx.as_str(),
        "{rec}"
    );
    // The authorization the seller received cannot be used again: the token refuses it.
    let header = seller.last_payment();
    let sent: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(sent["x402Version"], 2);
    let replay = evm_chain(
        &["authorize", &a.url],
        Some(
            &json!({"token": usdc, "authorization": sent["payload"]["authorization"],
                     "signature": sent["payload"]["signature"]}),
        ),
    );
    assert_eq!(
        replay["status"], "0x0",
        "a replayed authorization must revert"
    );
    assert_eq!(a.token_balance(&usdc, &merchant).await, PRICE);

    // Above the most one payment may cost: refused, nothing signed.
    let before = signatures(&srv, &s).await;
    let mut tight = p.clone();
    tight["payments"] = payments("0.005")["payments"].clone();
    set_policy(&srv, &s.agent_id, tight).await;
    assert_denied_by(
        &pay(&srv, &s, json!({"url": weather})).await,
        "payments.max_per_payment_usd",
    );
    set_policy(&srv, &s.agent_id, p.clone()).await;

    // Quoted, then the seller changes what it asks: refused, nothing signed, nothing moved.
    let quoted = quote(&weather).await;
    seller
        .changed_quotes_are_refused(&srv, &s.token, &weather, &quoted)
        .await;
    assert_eq!(signatures(&srv, &s).await, before);
    assert_eq!(a.token_balance(&usdc, &merchant).await, PRICE);
    // The quote still holds once the seller asks it again.
    let r = pay(&srv, &s, json!({"url": weather, "quote": quoted})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(a.token_balance(&usdc, &merchant).await, 2 * PRICE);
    // The same from the CLI: `custos pay URL`.
    let home = tempfile::tempdir().unwrap();
    let out = common::custos_command()
        .args(["pay", &weather, "--url", &srv.base(), "-o", "json"])
        .args(["--idempotency-key", "cli-pay-1"])
        .env("CUSTOSCLI_TOKEN", &s.token)
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "paid", "{v}");
    assert_eq!(a.token_balance(&usdc, &merchant).await, 3 * PRICE);

    // A payment the seller refuses after it was signed (the wallet cannot cover it: the
    // facilitator's check fails): 502, final — the same key answers the same and signs nothing
    // more.
    let poor = srv.login("x402-poor@example.com").await;
    let poor_addr = evm_address(&srv, &poor).await;
    mint_usdc(&a, &usdc, &poor_addr, PRICE / 2).await;
    set_policy(&srv, &poor.agent_id, p.clone()).await;
    let held = a.token_balance(&usdc, &merchant).await;
    let mut answers = vec![];
    for _ in 0..2 {
        let r = srv
            .send(
                srv.request(reqwest::Method::POST, "/v1/wallets/me/actions/pay")
                    .bearer_auth(&poor.token)
                    .header("Idempotency-Key", "poor-1")
                    .json(&json!({"url": weather})),
            )
            .await;
        let e = assert_error(&r, &[502], "upstream_error");
        assert!(
            e["message"].as_str().unwrap().contains("refused"),
            "{}",
            r.text
        );
        answers.push(r.text);
    }
    assert_eq!(answers[0], answers[1], "the retry gets the first answer");
    assert_eq!(
        signatures(&srv, &poor).await,
        1,
        "signed once, not per retry"
    );
    assert_eq!(a.token_balance(&usdc, &merchant).await, held);

    // 20 concurrent payments against a 0.10 USD daily cap for this site (the wallet's own daily
    // budget is 1 USD): exactly ten settle.
    let c = srv.login("x402-burst@example.com").await;
    let c_addr = evm_address(&srv, &c).await;
    fund(c_addr.clone()).await;
    let mut cp = policy(&["evm:31337"], payments("0.05"));
    cp["payments"]["daily_usd_per_domain"] = json!("0.1");
    cp["limits"]["per_tx_usd"] = json!("1");
    cp["limits"]["daily_usd"] = json!("1");
    set_policy(&srv, &c.agent_id, cp).await;
    let before = a.token_balance(&usdc, &merchant).await;
    let paid = burst(&srv.base(), &c.token, &weather, 20, "burst").await;
    assert_eq!(paid, 10, "exactly the cap's worth is paid");
    assert_eq!(a.token_balance(&usdc, &merchant).await, before + 10 * PRICE);
    assert_eq!(
        a.token_balance(&usdc, &c_addr).await,
        1_000_000 - 10 * PRICE
    );
}
