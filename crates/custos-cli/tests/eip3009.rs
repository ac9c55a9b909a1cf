//! EIP-3009 authorizations (`TransferWithAuthorization`: USDC's, and what x402 payments sign),
//! end to end against a real token on anvil (scripts/contracts/TestUSDC.sol, compiled with solc
//! from npm). Such a signature moves tokens as soon as anyone submits it, so `sign-message`
//! judges it as the transfer it is: its value against the per-transaction and daily caps, its
//! payee against the recipient rules, the `transfer` toggle — in the server and in the custody
//! boundary. What is checked: a signed authorization is recovered by eth-account and accepted by
//! the token (the tokens move; a replay reverts); one above the cap, one over the daily budget,
//! one to a payee off the allowlist, one while transfers are off and one for another wallet's
//! tokens are refused, and nothing moves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::evm::*;
use common::{assert_error, Server};
use serde_json::{json, Value};

/// The token's EIP-712 document for an authorization of `value` base units.
fn authorization(token: &str, from: &str, to: &str, value: u128, nonce: u8) -> Value {
    json!({
        "types": {
            "EIP712Domain": [{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],
            "TransferWithAuthorization": [{"name":"from","type":"address"},{"name":"to","type":"address"},{"name":"value","type":"uint256"},{"name":"validAfter","type":"uint256"},{"name":"validBefore","type":"uint256"},{"name":"nonce","type":"bytes32"}]
        },
        "primaryType": "TransferWithAuthorization",
        "domain": {"name": "USD Coin", "version": "2", "chainId": 31337, "verifyingContract": token},
        "message": {"from": from, "to": to, "value": value.to_string(), "validAfter": "0",
            "validBefore": "99999999999", "nonce": format!("0x{}", hex::encode([nonce; 32]))}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eip3009_authorizations_are_judged_and_counted_as_transfers() {
    let a = Anvil::start(31337).await;
    let d = deploy(&a);
    let usdc = deploy_usdc(&a);
    // USDC at 1 USD.
    let srv = Server::builder()
        .config(&config_pricing(&a, &d, &usdc, "1"))
        .start()
        .await;
    let s = srv.login("eip3009@example.com").await;
    let me = evm_address(&srv, &s).await;
    let payee = random_evm();
    let stranger = random_evm();
    // 100 USDC for the agent.
    mint_usdc(&a, &usdc, &me, 100_000_000).await;
    // Messages and transfers on; 10 USD per transaction, 12 a day; only `payee`.
    let mut p = policy(
        &["evm:31337"],
        json!({"recipients": {"mode": "allowlist", "allow": [payee], "deny": []}}),
    );
    p["limits"]["per_tx_usd"] = json!("10");
    p["limits"]["daily_usd"] = json!("12");
    set_policy(&srv, &s.agent_id, p.clone()).await;
    let sign = |typed: Value| sign_typed(&srv, &s, typed);

    // 5 USDC to the payee: signed, valued, recovered by eth-account, accepted by the token.
    let five = authorization(&usdc, &me, &payee, 5_000_000, 1);
    let r = sign(five.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["usd_value"], "5", "{}", r.text);
    let signature = r.json()["signature"].as_str().unwrap().to_owned();
    let rec = recover(json!([{"kind": "typed", "typed_data": five, "signature": signature}]));
    assert_eq!(rec[0]["from"].as_str(), Some(me.as_str()), "{rec:?}");
    let submit = |doc: &Value, sig: &str| {
        evm_chain(
            &["authorize", &a.url],
            Some(&json!({"token": usdc, "authorization": doc["message"], "signature": sig})),
        )
    };
    assert_eq!(submit(&five, &signature)["status"], "0x1");
    assert_eq!(a.token_balance(&usdc, &payee).await, 5_000_000);
    assert_eq!(a.token_balance(&usdc, &me).await, 95_000_000);
    // The token refuses the same authorization twice.
    assert_eq!(submit(&five, &signature)["status"], "0x0");
    assert_eq!(a.token_balance(&usdc, &payee).await, 5_000_000);
    // The audit record names what it moves.
    let audit = srv.my_audit(&s.token).await;
    let last = audit
        .iter()
        .map(|r| r.get("entry").unwrap_or(r))
        .rfind(|e| e["action"] == "sign_message")
        .unwrap();
    assert!(
        last["params"]["to"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case(&payee),
        "{last}"
    );
    assert_eq!(last["params"]["amount"], "5", "{last}");

    // Above the per-transaction cap (11 USD > 10): refused, however it is labelled.
    assert_denied_by(
        &sign(authorization(&usdc, &me, &payee, 11_000_000, 2)).await,
        "limits.per_tx_usd",
    );
    // Within the cap but over what is left of the day (5 + 8 > 12): refused.
    assert_denied_by(
        &sign(authorization(&usdc, &me, &payee, 8_000_000, 3)).await,
        "limits.daily_usd",
    );
    // To a payee off the allowlist: refused.
    let r = sign(authorization(&usdc, &me, &stranger, 1_000_000, 4)).await;
    assert!(
        reasons(&r).iter().any(|x| x.starts_with("recipients")),
        "{}",
        r.text
    );
    // Transfers off, messages on: an authorization is not a message.
    let mut off = p.clone();
    off["actions"]["transfer"] = json!(false);
    set_policy(&srv, &s.agent_id, off).await;
    assert_denied_by(
        &sign(authorization(&usdc, &me, &payee, 1_000_000, 5)).await,
        "actions.transfer",
    );
    set_policy(&srv, &s.agent_id, p).await;
    // Another wallet's tokens: the signature would be void on chain, so it is not made.
    let r = sign(authorization(&usdc, &stranger, &payee, 1_000_000, 6)).await;
    let e = assert_error(&r, &[422], "invalid_request");
    assert_eq!(e["field"], "typed_data", "{}", r.text);
    // An ordinary typed message still signs as one (nothing moves).
    let r = sign(json!({
        "types": {"EIP712Domain": [{"name":"name","type":"string"},{"name":"chainId","type":"uint256"}],
                  "Hello": [{"name":"text","type":"string"}]},
        "primaryType": "Hello",
        "domain": {"name": "Example", "chainId": 31337},
        "message": {"text": "hi"}
    }))
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["usd_value"], "0", "{}", r.text);
    // Nothing but the first authorization moved anything.
    assert_eq!(a.token_balance(&usdc, &payee).await, 5_000_000);
    assert_eq!(a.token_balance(&usdc, &stranger).await, 0);
}
