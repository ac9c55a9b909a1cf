//! The devnet's JSON-RPC and PubSub at the wire: account encodings (`binary`, `base58`,
//! `base64`, `dataSlice`, `jsonParsed` for token accounts and mints), the history methods
//! (`getTransaction`, `getSignaturesForAddress`, `getBlock`, `getBlockTime`), `getProgramAccounts`
//! filters, `skipPreflight`, `custos_advanceSlots`, and the WebSocket subscriptions, each checked
//! against the shapes Agave answers with.
#![cfg(feature = "solana")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use base64::Engine as _;
use custos_chains::solana::token::token_program;
use custos_chains::solana::{spawn_server, EmbeddedDevnet, RpcServerHandle};
use ed25519_dalek::{Signer as _, SigningKey};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use solana_address::Address;
use solana_hash::Hash;
use solana_message::{v0, Message, VersionedMessage};
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const SOL: u64 = 1_000_000_000;

struct Env {
    devnet: Arc<EmbeddedDevnet>,
    server: RpcServerHandle,
    _dir: tempfile::TempDir,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Arc::new(EmbeddedDevnet::open(dir.path()).unwrap());
    let server = spawn_server("127.0.0.1:0".parse().unwrap(), devnet.clone())
        .await
        .unwrap();
    Env {
        devnet,
        server,
        _dir: dir,
    }
}

/// The whole JSON-RPC answer.
async fn call(url: &str, method: &str, params: Value) -> Value {
    reqwest::Client::new()
        .post(url)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The result, asserting there is no error.
async fn result(url: &str, method: &str, params: Value) -> Value {
    let v = call(url, method, params).await;
    assert!(v.get("error").is_none(), "{method}: {v}");
    v["result"].clone()
}

async fn error_code(url: &str, method: &str, params: Value) -> i64 {
    let v = call(url, method, params).await;
    v["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("{method}: expected an error, got {v}"))
}

struct Wallet(SigningKey);

impl Wallet {
    fn new() -> Self {
        Self(SigningKey::generate(&mut rand::rngs::OsRng))
    }
    fn address(&self) -> Address {
        Address::new_from_array(self.0.verifying_key().to_bytes())
    }
    fn sign(&self, message: VersionedMessage) -> VersionedTransaction {
        let sig = self.0.sign(&message.serialize()).to_bytes();
        VersionedTransaction {
            signatures: vec![Signature::from(sig)],
            message,
        }
    }
    fn transfer(&self, to: &Address, lamports: u64, blockhash: &Hash) -> VersionedTransaction {
        let ix = solana_system_interface::instruction::transfer(&self.address(), to, lamports);
        let msg = Message::new_with_blockhash(&[ix], Some(&self.address()), blockhash);
        self.sign(VersionedMessage::Legacy(msg))
    }
}

fn b64(tx: &VersionedTransaction) -> String {
    base64::engine::general_purpose::STANDARD.encode(bincode::serialize(tx).unwrap())
}

async fn send(url: &str, tx: &VersionedTransaction, skip_preflight: bool) -> Value {
    call(
        url,
        "sendTransaction",
        json!([b64(tx), {"encoding": "base64", "skipPreflight": skip_preflight}]),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_come_in_every_encoding_a_node_offers() {
    let env = env().await;
    let url = env.server.url();
    let alice = Wallet::new();
    env.devnet.airdrop(&alice.address(), SOL).unwrap();
    let mint = env.devnet.create_mint(6, &token_program()).unwrap();
    let ata = env
        .devnet
        .mint_to(&mint, &alice.address(), 1_500_000, &token_program())
        .unwrap();

    // No encoding: the legacy `binary`, a bare base58 string (empty data here).
    let info = result(&url, "getAccountInfo", json!([alice.address().to_string()])).await;
    assert_eq!(info["value"]["data"], "", "{info}");
    assert_eq!(info["value"]["lamports"], SOL);
    assert!(info["value"]["rentEpoch"].is_u64());
    // ...which a node refuses for more than 128 bytes.
    assert_eq!(
        error_code(&url, "getAccountInfo", json!([ata.to_string()])).await,
        -32602
    );
    let mint_b58 = result(
        &url,
        "getAccountInfo",
        json!([mint.to_string(), {"encoding": "base58"}]),
    )
    .await;
    assert_eq!(mint_b58["value"]["data"][1], "base58", "{mint_b58}");
    let raw = env.devnet.get_account(&mint).unwrap().data;
    assert_eq!(
        mint_b58["value"]["data"][0],
        bs58::encode(&raw).into_string()
    );
    // dataSlice: the token account's first 32 bytes are its mint.
    let sliced = result(
        &url,
        "getAccountInfo",
        json!([ata.to_string(), {"encoding": "base64", "dataSlice": {"offset": 0, "length": 32}}]),
    )
    .await;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(sliced["value"]["data"][0].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes, mint.to_bytes());
    assert_eq!(sliced["value"]["space"], 165);

    // jsonParsed: token accounts and mints as Agave's account decoder writes them.
    let parsed = result(
        &url,
        "getAccountInfo",
        json!([ata.to_string(), {"encoding": "jsonParsed"}]),
    )
    .await;
    let data = &parsed["value"]["data"];
    assert_eq!(data["program"], "spl-token", "{parsed}");
    assert_eq!(data["space"], 165);
    assert_eq!(data["parsed"]["type"], "account");
    let info = &data["parsed"]["info"];
    assert_eq!(info["mint"], mint.to_string());
    assert_eq!(info["owner"], alice.address().to_string());
    assert_eq!(info["state"], "initialized");
    assert_eq!(info["isNative"], false);
    assert_eq!(
        info["tokenAmount"],
        json!({"amount": "1500000", "decimals": 6, "uiAmount": 1.5, "uiAmountString": "1.5"})
    );
    let parsed_mint = result(
        &url,
        "getAccountInfo",
        json!([mint.to_string(), {"encoding": "jsonParsed"}]),
    )
    .await;
    assert_eq!(
        parsed_mint["value"]["data"]["parsed"],
        json!({"type": "mint", "info": {
            "mintAuthority": env.devnet.faucet().to_string(), "supply": "1500000",
            "decimals": 6, "isInitialized": true, "freezeAuthority": null,
        }}),
        "{parsed_mint}"
    );
    // Anything else falls back to base64.
    let fallback = result(
        &url,
        "getAccountInfo",
        json!([alice.address().to_string(), {"encoding": "jsonParsed"}]),
    )
    .await;
    assert_eq!(fallback["value"]["data"], json!(["", "base64"]));
    for bad in [
        json!({"encoding": "hex"}),
        json!({"encoding": "base64+zstd"}),
    ] {
        assert_eq!(
            error_code(&url, "getAccountInfo", json!([ata.to_string(), bad])).await,
            -32602
        );
    }
    // getMultipleAccounts defaults to base64; getTokenAccountsByOwner parses on request.
    let many = result(&url, "getMultipleAccounts", json!([[ata.to_string()]])).await;
    assert_eq!(many["value"][0]["data"][1], "base64", "{many}");
    let owned = result(
        &url,
        "getTokenAccountsByOwner",
        json!([alice.address().to_string(), {"mint": mint.to_string()}, {"encoding": "jsonParsed"}]),
    )
    .await;
    assert_eq!(
        owned["value"][0]["account"]["data"]["parsed"]["info"]["tokenAmount"]["amount"],
        "1500000"
    );

    // getProgramAccounts with dataSize and memcmp (the owner at offset 32), as spl-token asks.
    let filters = json!([{"dataSize": 165}, {"memcmp": {"offset": 32, "bytes": alice.address().to_string()}}]);
    let found = result(
        &url,
        "getProgramAccounts",
        json!([token_program().to_string(), {"encoding": "base64", "filters": filters}]),
    )
    .await;
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["pubkey"], ata.to_string());
    let mints = result(
        &url,
        "getProgramAccounts",
        json!([token_program().to_string(), {"encoding": "base64", "withContext": true,
               "filters": [{"dataSize": 82}]}]),
    )
    .await;
    assert!(mints["context"]["slot"].is_u64(), "{mints}");
    assert_eq!(mints["value"][0]["pubkey"], mint.to_string());
    let b64_owner = base64::engine::general_purpose::STANDARD.encode(alice.address().to_bytes());
    let by_b64 = result(
        &url,
        "getProgramAccounts",
        json!([token_program().to_string(), {"encoding": "base64", "filters":
               [{"memcmp": {"offset": 32, "bytes": b64_owner, "encoding": "base64"}}]}]),
    )
    .await;
    assert_eq!(by_b64.as_array().unwrap().len(), 1);
    let five = json!([{"dataSize": 1}, {"dataSize": 1}, {"dataSize": 1}, {"dataSize": 1}, {"dataSize": 1}]);
    assert_eq!(
        error_code(
            &url,
            "getProgramAccounts",
            json!([token_program().to_string(), {"filters": five}])
        )
        .await,
        -32602
    );
    env.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landed_transactions_are_served_back_with_their_metadata() {
    let env = env().await;
    let url = env.server.url();
    let alice = Wallet::new();
    let bob = Address::new_unique();
    env.devnet.airdrop(&alice.address(), 2 * SOL).unwrap();
    let count = result(&url, "getTransactionCount", json!([])).await;
    let (blockhash, _) = env.devnet.latest_blockhash();
    let tx = alice.transfer(&bob, SOL / 4, &blockhash);
    let sent = send(&url, &tx, false).await;
    let sig = sent["result"].as_str().unwrap().to_string();

    let got = result(&url, "getTransaction", json!([sig])).await;
    assert!(got.get("version").is_none(), "{got}");
    let meta = &got["meta"];
    assert_eq!(meta["err"], Value::Null);
    assert_eq!(meta["status"], json!({"Ok": null}));
    assert_eq!(meta["fee"], 5000);
    assert_eq!(
        meta["preBalances"],
        json!([2 * SOL, 0, 1]),
        "payer, recipient, system program: {got}"
    );
    assert_eq!(
        meta["postBalances"],
        json!([2 * SOL - SOL / 4 - 5000, SOL / 4, 1])
    );
    assert!(!meta["logMessages"].as_array().unwrap().is_empty());
    assert_eq!(
        meta["loadedAddresses"],
        json!({"writable": [], "readonly": []})
    );
    assert!(meta["computeUnitsConsumed"].as_u64().unwrap() > 0);
    assert_eq!(meta["rewards"], json!([]));
    let message = &got["transaction"]["message"];
    assert_eq!(message["accountKeys"][1], bob.to_string());
    assert_eq!(message["header"]["numRequiredSignatures"], 1);
    assert_eq!(message["recentBlockhash"], blockhash.to_string());
    assert_eq!(message["instructions"][0]["programIdIndex"], 2);
    assert_eq!(got["transaction"]["signatures"][0], sig);
    let slot = got["slot"].as_u64().unwrap();
    assert!(got["blockTime"].is_i64());

    let versioned = result(
        &url,
        "getTransaction",
        json!([sig, {"maxSupportedTransactionVersion": 0, "encoding": "base64"}]),
    )
    .await;
    assert_eq!(versioned["version"], "legacy");
    assert_eq!(versioned["transaction"], json!([b64(&tx), "base64"]));
    let parsed = result(
        &url,
        "getTransaction",
        json!([sig, {"encoding": "jsonParsed"}]),
    )
    .await;
    let keys = &parsed["transaction"]["message"]["accountKeys"];
    assert_eq!(
        keys[0],
        json!({"pubkey": alice.address().to_string(), "writable": true, "signer": true, "source": "transaction"})
    );
    assert_eq!(
        parsed["transaction"]["message"]["instructions"][0]["programId"],
        "11111111111111111111111111111111"
    );
    assert_eq!(
        result(
            &url,
            "getTransaction",
            json!([Signature::from([9u8; 64]).to_string()])
        )
        .await,
        Value::Null
    );
    assert_eq!(
        error_code(
            &url,
            "getTransaction",
            json!([sig, {"commitment": "processed"}])
        )
        .await,
        -32602
    );
    assert_eq!(
        result(&url, "getTransactionCount", json!([])).await,
        json!(count.as_u64().unwrap() + 1)
    );

    // A v0 transaction needs maxSupportedTransactionVersion, as on a node.
    let ix = solana_system_interface::instruction::transfer(&alice.address(), &bob, 1);
    let (blockhash, _) = env.devnet.latest_blockhash();
    let v0 = v0::Message::try_compile(&alice.address(), &[ix], &[], blockhash).unwrap();
    let v0_tx = alice.sign(VersionedMessage::V0(v0));
    let v0_sig = send(&url, &v0_tx, false).await["result"].clone();
    assert_eq!(
        error_code(&url, "getTransaction", json!([v0_sig])).await,
        -32015
    );
    let v0_got = result(
        &url,
        "getTransaction",
        json!([v0_sig, {"maxSupportedTransactionVersion": 0}]),
    )
    .await;
    assert_eq!(v0_got["version"], 0);
    assert_eq!(
        v0_got["transaction"]["message"]["addressTableLookups"],
        json!([])
    );

    // getSignaturesForAddress: newest first, with limit, before and until.
    let sigs = result(
        &url,
        "getSignaturesForAddress",
        json!([alice.address().to_string()]),
    )
    .await;
    let listed: Vec<&str> = sigs
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["signature"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 3, "airdrop, transfer, v0 transfer: {sigs}");
    assert_eq!(listed[0], v0_sig.as_str().unwrap());
    assert_eq!(listed[1], sig);
    assert_eq!(sigs[1]["err"], Value::Null);
    assert_eq!(sigs[1]["memo"], Value::Null);
    assert_eq!(sigs[1]["slot"], slot);
    assert_eq!(sigs[1]["confirmationStatus"], "finalized");
    let page = result(
        &url,
        "getSignaturesForAddress",
        json!([alice.address().to_string(), {"limit": 1, "before": listed[0]}]),
    )
    .await;
    assert_eq!(page[0]["signature"], sig);
    assert_eq!(page.as_array().unwrap().len(), 1);
    let until = result(
        &url,
        "getSignaturesForAddress",
        json!([alice.address().to_string(), {"until": sig}]),
    )
    .await;
    assert_eq!(until.as_array().unwrap().len(), 1);
    assert_eq!(
        error_code(
            &url,
            "getSignaturesForAddress",
            json!([alice.address().to_string(), {"limit": 1001}])
        )
        .await,
        -32602
    );

    // getBlock and getBlockTime of the transfer's slot.
    let block = result(&url, "getBlock", json!([slot])).await;
    assert_eq!(block["parentSlot"], slot - 1);
    assert_eq!(block["blockHeight"], slot);
    assert_eq!(
        block["transactions"][0]["transaction"]["signatures"][0],
        sig
    );
    assert_eq!(block["transactions"][0]["meta"]["fee"], 5000);
    assert!(block["transactions"][0].get("slot").is_none());
    let parent = result(
        &url,
        "getBlock",
        json!([slot - 1, {"transactionDetails": "none"}]),
    )
    .await;
    assert_eq!(block["previousBlockhash"], parent["blockhash"]);
    assert!(parent.get("transactions").is_none());
    let sigs_only = result(
        &url,
        "getBlock",
        json!([slot, {"transactionDetails": "signatures", "rewards": false}]),
    )
    .await;
    assert_eq!(sigs_only["signatures"], json!([sig]));
    assert!(sigs_only.get("rewards").is_none());
    assert_eq!(
        error_code(&url, "getBlock", json!([slot + 1_000_000])).await,
        -32004
    );
    let time = result(&url, "getBlockTime", json!([slot])).await;
    assert_eq!(time, block["blockTime"]);
    assert_eq!(
        error_code(&url, "getBlockTime", json!([slot + 1_000_000])).await,
        -32004
    );
    env.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_preflight_lands_a_failure_and_charges_its_fee() {
    let env = env().await;
    let url = env.server.url();
    let alice = Wallet::new();
    env.devnet.airdrop(&alice.address(), SOL).unwrap();
    let (blockhash, _) = env.devnet.latest_blockhash();
    let too_much = alice.transfer(&Address::new_unique(), 5 * SOL, &blockhash);

    // With preflight: refused, and nothing charged.
    let refused = send(&url, &too_much, false).await;
    assert_eq!(refused["error"]["code"], -32002, "{refused}");
    assert_eq!(
        refused["error"]["data"]["err"],
        json!({"InstructionError": [0, {"Custom": 1}]})
    );
    assert_eq!(env.devnet.balance(&alice.address()), SOL);
    let sig = too_much.signatures[0].to_string();
    let none = result(&url, "getSignatureStatuses", json!([[sig]])).await;
    assert_eq!(none["value"][0], Value::Null);

    // Without: it lands with its error and pays the fee, as on a node.
    let sent = send(&url, &too_much, true).await;
    assert_eq!(sent["result"], sig, "{sent}");
    assert_eq!(env.devnet.balance(&alice.address()), SOL - 5000);
    let status = result(&url, "getSignatureStatuses", json!([[sig]])).await;
    let err = json!({"InstructionError": [0, {"Custom": 1}]});
    assert_eq!(status["value"][0]["err"], err, "{status}");
    assert_eq!(status["value"][0]["status"], json!({"Err": err}));
    let got = result(&url, "getTransaction", json!([sig])).await;
    assert_eq!(got["meta"]["err"], err);
    assert_eq!(got["meta"]["fee"], 5000);
    assert_eq!(got["meta"]["postBalances"][0], SOL - 5000);
    let listed = result(
        &url,
        "getSignaturesForAddress",
        json!([alice.address().to_string(), {"limit": 1}]),
    )
    .await;
    assert_eq!(listed[0]["err"], err);
    // Sent again without preflight: already landed, the same signature; with: refused.
    assert_eq!(send(&url, &too_much, true).await["result"], sig);
    assert_eq!(
        send(&url, &too_much, false).await["error"]["data"]["err"],
        "AlreadyProcessed"
    );
    assert_eq!(env.devnet.balance(&alice.address()), SOL - 5000);
    // The status (with its error) survives a restart.
    let dir = env._dir;
    env.server.shutdown().await;
    drop(env.devnet);
    let reopened = EmbeddedDevnet::open(dir.path()).unwrap();
    let (_, restored) = reopened
        .landed_error(&Signature::from_str(&sig).unwrap())
        .unwrap();
    assert_eq!(restored, Some(err));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advance_slots_expires_blockhashes_and_other_edges() {
    let env = env().await;
    let url = env.server.url();
    let latest = result(&url, "getLatestBlockhash", json!([])).await;
    let hash = latest["value"]["blockhash"].as_str().unwrap().to_string();
    let last_valid = latest["value"]["lastValidBlockHeight"].as_u64().unwrap();
    let height = result(&url, "getBlockHeight", json!([]))
        .await
        .as_u64()
        .unwrap();
    assert_eq!(last_valid, height + 150);
    // Valid through lastValidBlockHeight, invalid after it.
    let at = result(&url, "custos_advanceSlots", json!([150])).await;
    assert_eq!(at, json!(last_valid));
    assert_eq!(
        result(&url, "isBlockhashValid", json!([hash])).await["value"],
        true
    );
    result(&url, "custos_advanceSlots", json!([1])).await;
    assert_eq!(
        result(&url, "isBlockhashValid", json!([hash])).await["value"],
        false
    );
    for bad in [json!([]), json!([0]), json!(["x"]), json!([10_000_000])] {
        assert_eq!(error_code(&url, "custos_advanceSlots", bad).await, -32602);
    }
    assert_eq!(error_code(&url, "noSuchMethod", json!([])).await, -32601);
    let epoch = result(&url, "getEpochInfo", json!([])).await;
    assert!(epoch["transactionCount"].is_u64(), "{epoch}");
    assert_eq!(
        error_code(
            &url,
            "getBalance",
            json!([Address::new_unique().to_string(), {"minContextSlot": 1_000_000_000u64}])
        )
        .await,
        -32016
    );
    env.server.shutdown().await;
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_send(ws: &mut Ws, v: Value) {
    ws.send(WsMessage::Text(v.to_string().into()))
        .await
        .unwrap();
}

async fn ws_next(ws: &mut Ws) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a WebSocket message within 10 s")
            .unwrap()
            .unwrap();
        if let WsMessage::Text(t) = m {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

async fn subscribe(ws: &mut Ws, id: u64, method: &str, params: Value) -> u64 {
    ws_send(
        ws,
        json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
    )
    .await;
    let v = ws_next(ws).await;
    assert_eq!(v["id"], id, "{v}");
    v["result"]
        .as_u64()
        .unwrap_or_else(|| panic!("{method}: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_notifies_signatures_accounts_slots_and_logs() {
    let env = env().await;
    let url = env.server.url();
    assert_eq!(
        env.server.ws_addr().port(),
        env.server.local_addr().port() + 1
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(env.server.ws_url())
        .await
        .unwrap();
    let alice = Wallet::new();
    let bob = Address::new_unique();
    let airdrop = env.devnet.airdrop(&alice.address(), SOL).unwrap();

    // Already landed: the answer, then the notification at once.
    let sub = subscribe(
        &mut ws,
        1,
        "signatureSubscribe",
        json!([airdrop.to_string(), {"commitment": "finalized"}]),
    )
    .await;
    let n = ws_next(&mut ws).await;
    assert_eq!(n["method"], "signatureNotification", "{n}");
    assert_eq!(n["params"]["subscription"], sub);
    assert_eq!(n["params"]["result"]["value"], json!({"err": null}));
    assert!(n["params"]["result"]["context"]["slot"].is_u64());

    // web3.js's ping has no id and gets no answer; unsubscribing anything answers true.
    ws_send(&mut ws, json!({"jsonrpc": "2.0", "method": "ping"})).await;
    ws_send(
        &mut ws,
        json!({"jsonrpc": "2.0", "id": 2, "method": "signatureUnsubscribe", "params": [424242]}),
    )
    .await;
    assert_eq!(
        ws_next(&mut ws).await,
        json!({"jsonrpc": "2.0", "id": 2, "result": true})
    );
    ws_send(
        &mut ws,
        json!({"jsonrpc": "2.0", "id": 3, "method": "nopeSubscribe", "params": []}),
    )
    .await;
    assert_eq!(ws_next(&mut ws).await["error"]["code"], -32601);
    ws_send(
        &mut ws,
        json!({"jsonrpc": "2.0", "id": 4, "method": "signatureSubscribe", "params": ["x"]}),
    )
    .await;
    assert_eq!(ws_next(&mut ws).await["error"]["code"], -32602);

    // Not landed yet: notified when it lands.
    let (blockhash, _) = env.devnet.latest_blockhash();
    let tx = alice.transfer(&bob, SOL / 2, &blockhash);
    let sig_sub = subscribe(
        &mut ws,
        5,
        "signatureSubscribe",
        json!([tx.signatures[0].to_string()]),
    )
    .await;
    let acc_sub = subscribe(
        &mut ws,
        6,
        "accountSubscribe",
        json!([bob.to_string(), {"encoding": "base64"}]),
    )
    .await;
    let logs_sub = subscribe(
        &mut ws,
        7,
        "logsSubscribe",
        json!([{"mentions": [bob.to_string()]}]),
    )
    .await;
    assert!(send(&url, &tx, false).await["result"].is_string());
    let mut seen = std::collections::HashMap::new();
    for _ in 0..3 {
        let n = ws_next(&mut ws).await;
        seen.insert(n["method"].as_str().unwrap().to_string(), n);
    }
    let n = &seen["signatureNotification"];
    assert_eq!(n["params"]["subscription"], sig_sub);
    assert_eq!(n["params"]["result"]["value"]["err"], Value::Null);
    let n = &seen["accountNotification"];
    assert_eq!(n["params"]["subscription"], acc_sub);
    assert_eq!(n["params"]["result"]["value"]["lamports"], SOL / 2);
    assert_eq!(
        n["params"]["result"]["value"]["data"],
        json!(["", "base64"])
    );
    assert_eq!(
        n["params"]["result"]["value"]["owner"],
        "11111111111111111111111111111111"
    );
    let n = &seen["logsNotification"];
    assert_eq!(n["params"]["subscription"], logs_sub);
    assert_eq!(
        n["params"]["result"]["value"]["signature"],
        tx.signatures[0].to_string()
    );
    assert!(!n["params"]["result"]["value"]["logs"]
        .as_array()
        .unwrap()
        .is_empty());
    for (id, (method, sub)) in [
        (8, ("accountUnsubscribe", acc_sub)),
        (9, ("logsUnsubscribe", logs_sub)),
    ] {
        ws_send(
            &mut ws,
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": [sub]}),
        )
        .await;
        assert_eq!(ws_next(&mut ws).await["result"], true);
    }

    // Slots: {parent, slot, root} for each one that passes.
    let slot_sub = subscribe(&mut ws, 10, "slotSubscribe", json!([])).await;
    let now = result(&url, "custos_advanceSlots", json!([2]))
        .await
        .as_u64()
        .unwrap();
    let first = ws_next(&mut ws).await;
    assert_eq!(first["method"], "slotNotification", "{first}");
    assert_eq!(first["params"]["subscription"], slot_sub);
    assert_eq!(
        first["params"]["result"],
        json!({"parent": now - 2, "slot": now - 1, "root": now - 1})
    );
    assert_eq!(ws_next(&mut ws).await["params"]["result"]["slot"], now);

    // The WebSocket is served on the HTTP port as well.
    let same_port = url.replace("http://", "ws://");
    let (mut ws2, _) = tokio_tungstenite::connect_async(same_port).await.unwrap();
    let s = subscribe(&mut ws2, 1, "slotSubscribe", json!([])).await;
    result(&url, "custos_advanceSlots", json!([1])).await;
    assert_eq!(ws_next(&mut ws2).await["params"]["subscription"], s);

    // Shutting down closes open WebSockets instead of waiting for them.
    tokio::time::timeout(Duration::from_secs(10), env.server.shutdown())
        .await
        .expect("shutdown with open WebSockets");
}

/// Durable nonces, as a node handles them: a transfer built on a nonce account (its first
/// instruction `AdvanceNonceAccount`, the stored nonce as its blockhash) still lands after every
/// normal blockhash has expired and uses the nonce up — sent again it is "already processed",
/// another one on the old nonce is refused — and one that lands with an error (no preflight)
/// uses its nonce up too. The nonce account is created with a seed, so only its authority signs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_nonce_transactions_land_after_blockhashes_expire() {
    use sha2::Digest as _;
    use solana_system_interface::instruction as system;
    let env = env().await;
    let url = env.server.url();
    let alice = Wallet::new();
    let me = alice.address();
    env.devnet.airdrop(&me, 2 * SOL).unwrap();
    let seed = "custos-nonce-0";
    let system_program = Address::from_str("11111111111111111111111111111111").unwrap();
    let nonce = Address::new_from_array(
        sha2::Sha256::new()
            .chain_update(me.as_ref())
            .chain_update(seed)
            .chain_update(system_program.as_ref())
            .finalize()
            .into(),
    );
    let rent = env.devnet.minimum_balance_for_rent_exemption(80);
    let setup = system::create_nonce_account_with_seed(&me, &nonce, &me, seed, &me, rent);
    let (blockhash, _) = env.devnet.latest_blockhash();
    let msg = Message::new_with_blockhash(&setup, Some(&me), &blockhash);
    let created = send(&url, &alice.sign(VersionedMessage::Legacy(msg)), false).await;
    assert!(created.get("result").is_some(), "{created}");
    let stored = |d: &EmbeddedDevnet| {
        let data = d.get_account(&nonce).unwrap().data;
        Hash::new_from_array(data[40..72].try_into().unwrap())
    };
    let first = stored(&env.devnet);
    let bob = Address::new_unique();
    let pay = |lamports: u64, value: &Hash| {
        let ixs = [
            system::advance_nonce_account(&nonce, &me),
            system::transfer(&me, &bob, lamports),
        ];
        alice.sign(VersionedMessage::Legacy(Message::new_with_blockhash(
            &ixs,
            Some(&me),
            value,
        )))
    };
    let parked = pay(SOL / 10, &first);

    // Every normal blockhash expires; the durable one does not.
    result(&url, "custos_advanceSlots", json!([200])).await;
    let stale = send(&url, &alice.transfer(&bob, 1, &blockhash), false).await;
    assert_eq!(
        stale["error"]["data"]["err"], "BlockhashNotFound",
        "{stale}"
    );
    let sim = result(
        &url,
        "simulateTransaction",
        json!([b64(&parked), {"encoding": "base64", "sigVerify": true}]),
    )
    .await;
    assert_eq!(sim["value"]["err"], Value::Null, "{sim}");
    let sent = send(&url, &parked, false).await;
    assert_eq!(sent["result"], parked.signatures[0].to_string(), "{sent}");
    assert_eq!(env.devnet.balance(&bob), SOL / 10);
    let second = stored(&env.devnet);
    assert_ne!(second, first, "the nonce moved on");

    // Used up: again is a duplicate; another on the old nonce is refused.
    let again = send(&url, &parked, false).await;
    assert_eq!(again["error"]["data"]["err"], "AlreadyProcessed", "{again}");
    let replay = send(&url, &pay(SOL / 10 + 1, &first), false).await;
    assert_eq!(
        replay["error"]["data"]["err"], "BlockhashNotFound",
        "{replay}"
    );

    // A failing one without preflight lands with its error and still uses the nonce up.
    let failing = pay(100 * SOL, &second);
    let landed = send(&url, &failing, true).await;
    assert_eq!(
        landed["result"],
        failing.signatures[0].to_string(),
        "{landed}"
    );
    assert_ne!(stored(&env.devnet), second);
    let retry = send(&url, &pay(SOL / 10, &second), false).await;
    assert_eq!(
        retry["error"]["data"]["err"], "BlockhashNotFound",
        "{retry}"
    );
    assert_eq!(env.devnet.balance(&bob), SOL / 10);
    env.server.shutdown().await;
}
