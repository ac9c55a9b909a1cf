//! `trade` on Solana through a Jupiter Swap API: Custos against scripts/jupiter_rfq.py — a local
//! stand-in speaking Jupiter's v1 quote/swap JSON whose swaps are real two-leg RFQ fills the
//! maker co-signs, executed on a `custos devnet` Custos uses over its JSON-RPC back end (Jupiter
//! itself cannot be reached from here). What is checked: SOL → USDC (by its configured symbol)
//! and back confirm on chain, the wallet's balances move by exactly the quoted legs and the fee;
//! a slippage above `trading.max_slippage_bps` is refused before any quote is asked for; every
//! lying swap — draining another token, paying a third party, approving a delegate, delivering
//! less than the minimum, delivering another token — is refused by its simulated effects, with
//! nothing signed and nothing moved; the Knot-compatible `trade` reaches the same path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::devnet::Devnet;
use common::evm::{action, assert_denied_by, policy, set_policy};
use common::{repo_root, Server};
use serde_json::{json, Value};
use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WRAPPED_SOL: &str = "So11111111111111111111111111111111111111112";

/// scripts/jupiter_rfq.py, killed on drop; `seen` collects its request log.
struct Rfq {
    child: Child,
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Rfq {
    fn start(cfg: Value) -> Rfq {
        let mut child = Command::new("python3")
            .arg(repo_root().join("scripts/jupiter_rfq.py"))
            .arg(cfg.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 scripts/jupiter_rfq.py (scripts/test-deps.sh installs solders)");
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let ready: Value = serde_json::from_str(&first).expect("the stand-in did not start");
        let seen = Arc::new(Mutex::new(vec![]));
        let log = seen.clone();
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    log.lock()
                        .unwrap()
                        .push(v["seen"].as_str().unwrap_or_default().to_owned());
                }
            }
        });
        Rfq {
            child,
            url: ready["url"].as_str().unwrap().to_owned(),
            seen,
        }
    }

    async fn variant(&self, name: &str) {
        common::x402::set_variant(&self.url, name).await;
    }

    fn quotes(&self) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.as_str() == "GET /swap/v1/quote")
            .count()
    }
}

impl Drop for Rfq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The wallet's balances: SOL in lamports and each mint in base units.
async fn holdings(devnet: &Devnet, owner: &str, mints: &[&str]) -> Vec<u64> {
    let mut out = vec![devnet.rpc("getBalance", json!([owner])).await["value"]
        .as_u64()
        .unwrap()];
    for m in mints {
        let v = devnet
            .rpc(
                "getTokenAccountsByOwner",
                json!([owner, {"mint": m}, {"encoding": "jsonParsed"}]),
            )
            .await;
        let n = v["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                a["account"]["data"]["parsed"]["info"]["tokenAmount"]["amount"]
                    .as_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
            })
            .sum();
        out.push(n);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn solana_trades_through_jupiter_are_held_to_their_quote() {
    let devnet = Devnet::start();
    let usdc = devnet.rpc("custos_createMint", json!([6, "token"])).await;
    let usdc = usdc.as_str().unwrap().to_owned();
    let bonk = devnet
        .rpc("custos_createMint", json!([5, "token-2022"]))
        .await;
    let bonk = bonk.as_str().unwrap().to_owned();
    let maker = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let maker_addr = bs58::encode(maker.verifying_key().as_bytes()).into_string();
    devnet
        .rpc("requestAirdrop", json!([maker_addr, 10_000_000_000u64]))
        .await;
    for mint in [&usdc, &bonk] {
        devnet
            .rpc(
                "custos_mintTo",
                json!([mint, maker_addr, 10_000_000_000u64]),
            )
            .await;
    }
    let rfq = Rfq::start(json!({
        "rpc": devnet.url,
        "makerKey": maker.to_keypair_bytes().to_vec(),
        "rates": {format!("{WRAPPED_SOL}/{usdc}"): "150", format!("{usdc}/{WRAPPED_SOL}"): "0.0066"},
        "drainMint": bonk,
    }));
    let config = format!(
        "{}jupiter_url = \"{}/swap/v1\"\n[solana.tokens]\nUSDC = \"{usdc}\"\n\
         [compat]\nknot = true\n[oracle.static_prices]\nSOL = \"150\"\n\"{usdc}\" = \"1\"\n\"{bonk}\" = \"0.00002\"\n",
        devnet.serve_config(),
        rfq.url
    );
    let srv = Server::builder().config(&config).start().await;
    let s = srv.login("jupiter@example.com").await;
    let me = srv.get("/v1/wallets/me", Some(&s.token)).await.json()["addresses"]["solana"]
        .as_str()
        .unwrap()
        .to_owned();
    devnet
        .rpc("requestAirdrop", json!([me, 2_000_000_000u64]))
        .await;
    devnet
        .rpc("custos_mintTo", json!([bonk, me, 123_456u64]))
        .await;
    let mut p = policy(&["solana"], json!({}));
    p["limits"]["per_tx_usd"] = json!("100");
    p["limits"]["daily_usd"] = json!("1000");
    set_policy(&srv, &s.agent_id, p.clone()).await;
    let mints = [usdc.as_str(), bonk.as_str()];
    let trade = |from: &str, to: &str, amount: &str, slippage: u32| json!({"chain": "solana", "from_asset": from, "to_asset": to, "amount": amount, "slippage_bps": slippage});

    // SOL → USDC by symbol: the quote's legs, exactly, and the fee.
    let before = holdings(&devnet, &me, &mints).await;
    let r = action(&srv, &s, "trade", trade("SOL", "USDC", "0.1", 50)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["status"], "confirmed", "{v}");
    assert_eq!(v["venue"], "jupiter", "{v}");
    assert_eq!(v["quote_out"], "15", "{v}");
    assert_eq!(v["min_out"], "14.925", "{v}");
    assert_eq!(v["output_amount"], "15", "{v}");
    assert_eq!(v["route"][0], "Custos RFQ (local stand-in)", "{v}");
    let sig = v["tx"].as_str().unwrap().to_owned();
    let st = devnet.rpc("getSignatureStatuses", json!([[sig]])).await;
    assert!(st["value"][0]["err"].is_null(), "{st}");
    let after = holdings(&devnet, &me, &mints).await;
    let fee = before[0] - 100_000_000 - after[0];
    assert!(fee > 0 && fee < 20_000, "fee {fee}: {before:?} → {after:?}");
    assert_eq!(after[1], before[1] + 15_000_000);
    assert_eq!(after[2], before[2]);

    // And back: USDC (by mint) → SOL.
    let r = action(&srv, &s, "trade", trade(&usdc, "SOL", "10", 50)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let back = holdings(&devnet, &me, &mints).await;
    assert_eq!(back[1], after[1] - 10_000_000);
    assert!(back[0] > after[0] + 60_000_000, "{after:?} → {back:?}");

    // A slippage above the policy's bound: refused before a quote is asked for.
    let quotes = rfq.quotes();
    let r = action(&srv, &s, "trade", trade("SOL", "USDC", "0.1", 500)).await;
    assert_denied_by(&r, "trading.max_slippage_bps");
    assert_eq!(rfq.quotes(), quotes, "the swap service was asked anyway");
    // A swap that would need a human approval is refused, not parked: its quote cannot wait.
    let mut needs_approval = p.clone();
    needs_approval["approvals"] = json!({"above_usd": "10", "quorum": 1});
    set_policy(&srv, &s.agent_id, needs_approval).await;
    let r = action(&srv, &s, "trade", trade("SOL", "USDC", "0.1", 50)).await;
    assert_denied_by(&r, "approvals.above_usd");
    set_policy(&srv, &s.agent_id, p.clone()).await;
    // A bad asset is named.
    let r = action(&srv, &s, "trade", trade("SOL", "NOPE", "0.1", 50)).await;
    let e = common::assert_error(&r, &[422], "invalid_request");
    assert_eq!(e["field"], "to_asset", "{}", r.text);

    // Lying swaps: refused by what they would do; nothing is signed, nothing moves.
    let signed_before = srv
        .my_audit(&s.token)
        .await
        .iter()
        .map(|r| r.get("entry").unwrap_or(r))
        .filter(|e| e["action"] == "trade.signed")
        .count();
    let held = holdings(&devnet, &me, &mints).await;
    for variant in ["drain", "third_party", "approve", "short", "swap_mints"] {
        rfq.variant(variant).await;
        let r = action(&srv, &s, "trade", trade("SOL", "USDC", "0.1", 50)).await;
        assert_eq!(r.status, 403, "{variant}: {}", r.text);
        assert!(
            r.text.contains("trade.effects") || r.text.contains("spenders.allow"),
            "{variant}: {}",
            r.text
        );
    }
    rfq.variant("honest").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(holdings(&devnet, &me, &mints).await, held);
    let signed_after = srv
        .my_audit(&s.token)
        .await
        .iter()
        .map(|r| r.get("entry").unwrap_or(r))
        .filter(|e| e["action"] == "trade.signed")
        .count();
    assert_eq!(signed_after, signed_before, "a lying swap was signed");

    // The honest stand-in trades again, this time through the Knot-compatible API.
    let r = srv
        .send(
            srv.request(reqwest::Method::POST, "/knot/wallets/me/actions/trade")
                .bearer_auth(&s.token)
                .json(&json!({"from": "SOL", "to": "USDC", "amount": 0.01})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["status"], true, "{v}");
    assert_eq!(v["data"]["outputAmount"], json!(1.5), "{v}");
    assert_eq!(v["data"]["route"][0], "Custos RFQ (local stand-in)", "{v}");
    assert!(v["data"]["signature"].as_str().unwrap().len() > 60, "{v}");
}
