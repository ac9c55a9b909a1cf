//! x402 payments on Solana (`POST /v1/wallets/me/actions/pay`, x402 v2, `exact` on
//! `solana:<genesis>`) against the real seller and facilitator from the reference npm packages
//! (scripts/x402/seller.mjs with @x402/svm 2.27), which co-signs as fee payer and sends to a
//! `custos devnet` that Custos uses through its JSON-RPC back end. What is checked: a paid
//! resource is fetched and the facilitator settles on chain (the receipt's signature is
//! confirmed, the payee holds the price, the wallet paid no fee); the same payment sent to the
//! seller again is refused and moves nothing; a payment above `payments.max_per_payment_usd`,
//! on another cluster, or whose requirements changed since the agent's quote (amount, payee,
//! mint, network) is refused with nothing signed and nothing moved; 20 concurrent payments
//! against a site's daily cap settle exactly the cap's worth.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::devnet::Devnet;
use common::evm::{action, assert_denied_by, policy, set_policy};
use common::x402::{burst, quote, Seller};
use common::{Server, Session};
use serde_json::{json, Value};

/// 0.01 of a 6-decimal token priced at 1 USD.
const PRICE: u64 = 10_000;

async fn pay(srv: &Server, s: &Session, body: Value) -> common::Resp {
    action(srv, s, "pay", body).await
}

/// A token account's balance in base units.
async fn balance(devnet: &Devnet, account: &str) -> u64 {
    devnet.rpc("getTokenAccountBalance", json!([account])).await["value"]["amount"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// How many payments Custos has signed for the agent (its successful `transfer` records: a
/// payment is judged and signed as the transfer it is).
async fn signatures(srv: &Server, s: &Session) -> usize {
    srv.my_audit(&s.token)
        .await
        .iter()
        .map(|r| r.get("entry").unwrap_or(r))
        .filter(|e| e["action"] == "transfer" && e["outcome"] == "success")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn x402_solana_payments_settle_under_the_policy_and_nothing_else_does() {
    let devnet = Devnet::start();
    let mint = devnet.rpc("custos_createMint", json!([6, "token"])).await;
    let mint = mint.as_str().unwrap().to_owned();
    let merchant = bs58::encode(rand::random::<[u8; 32]>()).into_string();
    // The payer never creates the payee's token account (the scheme forbids it): the merchant
    // has one.
    let merchant_ata = devnet
        .rpc("custos_mintTo", json!([mint, merchant, 1]))
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let key = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let fee_payer = bs58::encode(key.verifying_key().as_bytes()).into_string();
    devnet
        .rpc("requestAirdrop", json!([fee_payer, 1_000_000_000u64]))
        .await;
    let genesis = devnet.rpc("getGenesisHash", json!([])).await;
    let network = format!("solana:{}", &genesis.as_str().unwrap()[..32]);
    let seller = Seller::start(json!({
        "solana": true, "rpc": devnet.url, "network": network, "token": mint,
        "payTo": merchant, "amount": PRICE.to_string(),
        "facilitatorKey": key.to_keypair_bytes().to_vec(),
    }));
    assert_eq!(seller.fee_payer, fee_payer);
    let weather = format!("{}/weather", seller.url);
    let srv = Server::builder()
        .config(&format!(
            "{}[oracle.static_prices]\nSOL = \"150\"\n\"{mint}\" = \"1\"\n",
            devnet.serve_config()
        ))
        .start()
        .await;
    let s = srv.login("x402-sol@example.com").await;
    let me = srv.get("/v1/wallets/me", Some(&s.token)).await.json()["addresses"]["solana"]
        .as_str()
        .unwrap()
        .to_owned();
    let fund = |who: String| {
        let (devnet, mint) = (&devnet, mint.clone());
        async move {
            devnet
                .rpc("custos_mintTo", json!([mint, who, 1_000_000]))
                .await
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let my_ata = fund(me.clone()).await;
    let payments = |max: &str| json!({"payments": {"domains": ["127.0.0.1"], "max_per_payment_usd": max, "max_validity_seconds": 60}});
    let mut p = policy(&["solana"], payments("0.05"));
    p["limits"]["per_tx_usd"] = json!("1");
    p["limits"]["daily_usd"] = json!("1");
    set_policy(&srv, &s.agent_id, p.clone()).await;

    // The paid resource: fetched, paid, settled on chain by the facilitator.
    let r = pay(&srv, &s, json!({"url": weather})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["status"], "paid", "{v}");
    assert_eq!(v["body"]["report"]["weather"], "sunny", "{v}");
    assert_eq!(v["receipt"]["success"], true, "{v}");
    assert_eq!(v["receipt"]["network"], network.as_str(), "{v}");
    assert_eq!(v["payment"]["usd_value"], "0.01", "{v}");
    assert_eq!(v["payment"]["fee_payer"], fee_payer.as_str(), "{v}");
    let sig = v["receipt"]["transaction"].as_str().unwrap().to_owned();
    let status = devnet.rpc("getSignatureStatuses", json!([[sig]])).await;
    assert!(status["value"][0]["err"].is_null(), "{status}");
    assert_eq!(balance(&devnet, &merchant_ata).await, 1 + PRICE);
    assert_eq!(balance(&devnet, &my_ata).await, 1_000_000 - PRICE);
    // The facilitator paid the fee: the wallet has no SOL and needed none.
    let lamports = devnet.rpc("getBalance", json!([me])).await;
    assert_eq!(lamports["value"], 0, "{lamports}");
    // The payment and its receipt are in the audit log, after the signed transfer.
    let audit = srv.my_audit(&s.token).await;
    let rec = audit
        .iter()
        .map(|r| r.get("entry").unwrap_or(r))
        .rfind(|e| e["action"] == "pay")
        .unwrap()
        .clone();
    assert_eq!(
        rec["params"]["receipt"]["transaction"],
        sig.as_str(),
        "{rec}"
    );
    assert_eq!(signatures(&srv, &s).await, 1);

    // The payment the seller received, sent to it again: refused, nothing moves.
    let header = seller.last_payment();
    let again = common::client()
        .get(&weather)
        .header("PAYMENT-SIGNATURE", header)
        .send()
        .await
        .unwrap();
    assert_ne!(
        again.status().as_u16(),
        200,
        "a replayed payment was served"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(balance(&devnet, &merchant_ata).await, 1 + PRICE);

    // Above the most one payment may cost: refused, nothing signed.
    let mut tight = p.clone();
    tight["payments"] = payments("0.005")["payments"].clone();
    set_policy(&srv, &s.agent_id, tight).await;
    assert_denied_by(
        &pay(&srv, &s, json!({"url": weather})).await,
        "payments.max_per_payment_usd",
    );
    set_policy(&srv, &s.agent_id, p.clone()).await;

    // Asked to pay on another cluster (mainnet, by its genesis hash): refused.
    seller.variant("network").await;
    assert_denied_by(&pay(&srv, &s, json!({"url": weather})).await, "chains");

    // Quoted, then the seller changes what it asks: refused, nothing signed, nothing moved.
    seller.variant("honest").await;
    let quoted = quote(&weather).await;
    assert_eq!(quoted["extra"]["feePayer"], fee_payer.as_str(), "{quoted}");
    seller
        .changed_quotes_are_refused(&srv, &s.token, &weather, &quoted)
        .await;
    assert_eq!(signatures(&srv, &s).await, 1);
    assert_eq!(balance(&devnet, &merchant_ata).await, 1 + PRICE);
    // The quote still holds once the seller asks it again.
    let r = pay(&srv, &s, json!({"url": weather, "quote": quoted})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(balance(&devnet, &merchant_ata).await, 1 + 2 * PRICE);

    // 20 concurrent payments against a 0.10 USD daily cap for this site (the wallet's own daily
    // budget is 1 USD): exactly ten settle.
    let c = srv.login("x402-sol-burst@example.com").await;
    let c_addr = srv.get("/v1/wallets/me", Some(&c.token)).await.json()["addresses"]["solana"]
        .as_str()
        .unwrap()
        .to_owned();
    let c_ata = fund(c_addr).await;
    let mut cp = policy(&["solana"], payments("0.05"));
    cp["payments"]["daily_usd_per_domain"] = json!("0.1");
    cp["limits"]["per_tx_usd"] = json!("1");
    cp["limits"]["daily_usd"] = json!("1");
    set_policy(&srv, &c.agent_id, cp).await;
    let before = balance(&devnet, &merchant_ata).await;
    let paid = burst(&srv.base(), &c.token, &weather, 20, "sol-burst").await;
    assert_eq!(paid, 10, "exactly the cap's worth is paid");
    assert_eq!(balance(&devnet, &merchant_ata).await, before + 10 * PRICE);
    assert_eq!(balance(&devnet, &c_ata).await, 1_000_000 - 10 * PRICE);
}
