//! `liquidity` (Meteora DLMM) through the API, on a `custos devnet` holding a DLMM pool written
//! as a fixture account (`custos_setAccount`: the DLMM program itself ships on no package
//! registry, so the devnet cannot run it — crates/custos-chains/tests/meteora_sdk.rs proves the
//! instructions equal the SDK's). What is checked: a deposit, a removal and a fee claim are
//! explained from the decoded instruction (the pool read from the chain, the bin arrays it
//! covers, the deposit valued at the oracle's prices); a real request is refused naming `pool`
//! because nothing could execute it, and nothing is signed; a pool off `liquidity.pools`, a
//! deposit above `liquidity.max_usd_per_tx`, the `actions.liquidity` toggle off and an account
//! that is not a pool are refused; bad bodies name the field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine as _;
use common::devnet::Devnet;
use common::evm::{action, assert_denied_by, policy, set_policy};
use common::{assert_error, Server};
use serde_json::{json, Value};

const DLMM: &str = "LBUZKhRxPF3XUpBCjp4YzTKgLccjZhTSDM9YuVaPwxo";

fn random_address() -> String {
    bs58::encode(rand::random::<[u8; 32]>()).into_string()
}

/// An `LbPair` account of X/Y with active bin `active` and a 10 bp bin step (the IDL 0.12.0
/// layout: discriminator, then active_id at 76, bin_step at 80, the mints at 88 and 120, the
/// reserves at 152 and 184; 904 bytes).
fn lb_pair(x: &str, y: &str, active: i32) -> Vec<u8> {
    let mut d = vec![0u8; 904];
    d[..8].copy_from_slice(&[0x21, 0x0b, 0x31, 0x62, 0xb5, 0x65, 0xb1, 0x0d]);
    d[76..80].copy_from_slice(&active.to_le_bytes());
    d[80..82].copy_from_slice(&10u16.to_le_bytes());
    for (at, k) in [
        (88, x.to_owned()),
        (120, y.to_owned()),
        (152, random_address()),
        (184, random_address()),
    ] {
        d[at..at + 32].copy_from_slice(&bs58::decode(k).into_vec().unwrap());
    }
    d
}

#[tokio::test]
async fn liquidity_is_judged_from_the_decoded_instruction_and_never_signed_unrunnable() {
    let devnet = Devnet::start();
    let x = devnet.rpc("custos_createMint", json!([9, "token"])).await;
    let y = devnet.rpc("custos_createMint", json!([6, "token"])).await;
    let (x, y) = (
        x.as_str().unwrap().to_owned(),
        y.as_str().unwrap().to_owned(),
    );
    let pool = random_address();
    let data = base64::engine::general_purpose::STANDARD.encode(lb_pair(&x, &y, 5));
    devnet
        .rpc(
            "custos_setAccount",
            json!([pool, {"lamports": 10_000_000u64, "owner": DLMM, "data": [data, "base64"]}]),
        )
        .await;
    let srv = Server::builder()
        .config(&format!(
            "{}[oracle.static_prices]\nSOL = \"150\"\n\"{x}\" = \"150\"\n\"{y}\" = \"1\"\n",
            devnet.serve_config()
        ))
        .start()
        .await;
    let s = srv.login("liquidity@example.com").await;
    let mut p = policy(
        &["solana"],
        json!({
            "programs": {"allow": [DLMM]},
            "liquidity": {"pools": [pool, x], "max_usd_per_tx": "100", "daily_usd": "150"},
        }),
    );
    p["actions"]["liquidity"] = json!(true);
    set_policy(&srv, &s.agent_id, p.clone()).await;
    let position = random_address();
    let add = |amount_x: &str, pool: &str| {
        json!({"chain": "solana", "pool": pool, "operation": "add", "position": position,
               "min_bin_id": 0, "max_bin_id": 9, "amount_x": amount_x, "amount_y": "10"})
    };
    let dry = |body: Value| {
        let srv = &srv;
        let token = s.token.clone();
        async move {
            srv.post(
                "/v1/wallets/me/actions/liquidity?dry_run=true",
                Some(&token),
                &body,
            )
            .await
        }
    };

    // A deposit of 0.1 X (15 USD) and 10 Y (10 USD): allowed, explained from the decoded
    // instruction.
    let r = dry(add("0.1", &pool)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["explanation"]["decision"], "allow", "{v}");
    assert_eq!(v["explanation"]["usd_value"], "25", "{v}");
    assert_eq!(
        v["decoded"]["instruction"], "add_liquidity_by_strategy2",
        "{v}"
    );
    assert_eq!(v["decoded"]["active_id"], 5, "{v}");
    assert_eq!(
        v["decoded"]["bin_arrays"].as_array().unwrap().len(),
        1,
        "{v}"
    );
    assert!(
        v["decoded"]["data"]
            .as_str()
            .unwrap()
            .starts_with("03dd95da6f8d76d5"),
        "{v}"
    );
    // For real: nothing could execute it here, so nothing is signed.
    let r = action(&srv, &s, "liquidity", add("0.1", &pool)).await;
    let e = assert_error(&r, &[422], "invalid_request");
    assert_eq!(e["field"], "pool", "{}", r.text);
    assert!(r.text.contains("not deployed"), "{}", r.text);

    // A removal and a claim.
    let mut remove = json!({"chain": "solana", "pool": pool, "operation": "remove", "position": position,
                            "min_bin_id": 60, "max_bin_id": 79, "bps": 5000});
    let r = dry(remove.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["explanation"]["decision"], "allow", "{v}");
    assert_eq!(
        v["decoded"]["instruction"], "remove_liquidity_by_range2",
        "{v}"
    );
    assert_eq!(
        v["decoded"]["bin_arrays"].as_array().unwrap().len(),
        2,
        "{v}"
    );
    // ... but a position holds at most 70 bins.
    remove["max_bin_id"] = json!(130);
    let r = dry(remove.clone()).await;
    assert_eq!(
        assert_error(&r, &[422], "invalid_request")["field"],
        "max_bin_id"
    );
    remove["max_bin_id"] = json!(79);
    remove["bps"] = json!(0);
    let r = dry(remove).await;
    assert_eq!(assert_error(&r, &[422], "invalid_request")["field"], "bps");
    let claim = json!({"chain": "solana", "pool": pool, "operation": "claim", "position": position,
                       "min_bin_id": 0, "max_bin_id": 9});
    let r = dry(claim).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["decoded"]["instruction"], "claim_fee2");

    // The same from the CLI: `custos liquidity add … --dry-run`.
    let home = tempfile::tempdir().unwrap();
    let out = common::custos_command()
        .args(["liquidity", "add", "--pool", &pool, "--position", &position])
        .args([
            "--min-bin",
            "-3",
            "--max-bin",
            "9",
            "--amount-x",
            "0.1",
            "--amount-y",
            "10",
        ])
        .args(["--dry-run", "--url", &srv.base(), "-o", "json"])
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
    assert_eq!(v["explanation"]["decision"], "allow", "{v}");
    // Bins -3..=9 span bin arrays -1 and 0.
    assert_eq!(
        v["decoded"]["bin_arrays"].as_array().unwrap().len(),
        2,
        "{v}"
    );

    // Refusals: a pool off the list (not even read), a deposit worth more than 100 USD, an
    // account that is not a pool, the toggle off.
    assert_denied_by(&dry(add("0.1", &random_address())).await, "liquidity.pools");
    assert_denied_by(&dry(add("1", &pool)).await, "liquidity.max_usd_per_tx");
    let r = dry(add("0.1", &x)).await;
    assert_eq!(assert_error(&r, &[422], "invalid_request")["field"], "pool");
    let r = dry(
        json!({"chain": "solana", "pool": pool, "operation": "swap", "position": position,
                       "min_bin_id": 0, "max_bin_id": 9}),
    )
    .await;
    assert_eq!(
        assert_error(&r, &[422], "invalid_request")["field"],
        "operation"
    );
    let mut off = p.clone();
    off["actions"]["liquidity"] = json!(false);
    set_policy(&srv, &s.agent_id, off).await;
    assert_denied_by(&dry(add("0.1", &pool)).await, "actions.liquidity");

    // Nothing was ever signed.
    let audit = srv.my_audit(&s.token).await;
    assert!(
        !audit.iter().any(|r| r["action"]
            .as_str()
            .unwrap_or_default()
            .ends_with(".signed")),
        "{audit:?}"
    );
}
