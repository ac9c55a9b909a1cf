//! Idempotency-Key: replay of the stored response, conflict on a different body, and concurrent
//! duplicates that never run the action twice (counted in the agent's audit log).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{assert_error, Resp, Server};
use reqwest::Method;
use serde_json::{json, Value};

const SIGN: &str = "/v1/wallets/me/actions/sign";

async fn sign_with_key(srv: &Server, token: &str, key: &str, body: &Value) -> Resp {
    let rb = srv
        .request(Method::POST, SIGN)
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body);
    srv.send(rb).await
}

fn replayed(r: &Resp) -> bool {
    r.header("idempotent-replayed").as_deref() == Some("true")
}

/// Successful `sign` records in the agent's audit log.
async fn sign_successes(srv: &Server, token: &str) -> Vec<Value> {
    srv.my_audit(token)
        .await
        .into_iter()
        .filter(|r| r["action"] == "sign" && r["outcome"] == "success")
        .collect()
}

#[tokio::test]
async fn sign_message_verifies_under_solana_address() {
    let srv = Server::start().await;
    let s = srv.login("signer@example.com").await;
    let me = srv.get("/v1/wallets/me", Some(&s.token)).await.json();
    let sol = me["addresses"]["solana"].as_str().unwrap();
    let msg = "hello";
    let r = srv.sign(&s.token, msg).await;
    r.expect_status(200);
    let v = r.json();
    assert_eq!(v["status"], "signed", "{v}");
    assert_eq!(v["scheme"], "ed25519", "{v}");
    let pk_bytes: [u8; 32] = hex::decode(v["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(
        bs58::encode(pk_bytes).into_string(),
        sol,
        "signing key is the agent's Solana key"
    );
    let sig: [u8; 64] = hex::decode(v["signature"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let pk = ed25519_dalek::VerifyingKey::from_bytes(&pk_bytes).unwrap();
    // The contract signs the UTF-8 message bytes. A server may instead sign a domain-separated
    // envelope that it returns as `signed_bytes` (so a message can never be a transaction); then
    // the envelope must end with the message and be what the signature covers.
    let signed: Vec<u8> = match v.get("signed_bytes").and_then(|b| b.as_str()) {
        Some(h) => {
            let b = hex::decode(h).unwrap();
            assert!(
                b.ends_with(msg.as_bytes()),
                "signed_bytes must carry the message: {h}"
            );
            b
        }
        None => msg.as_bytes().to_vec(),
    };
    let sig = ed25519_dalek::Signature::from_bytes(&sig);
    pk.verify_strict(&signed, &sig)
        .expect("signature verifies with ed25519-dalek");
    let mut other = signed.clone();
    *other.last_mut().unwrap() ^= 0x20;
    assert!(
        pk.verify_strict(&other, &sig).is_err(),
        "and only over the message signed"
    );
    assert!(v["audit_id"].as_u64().is_some(), "{v}");
}

#[tokio::test]
async fn same_key_same_body_replays_stored_response() {
    let srv = Server::start().await;
    let s = srv.login("replay@example.com").await;
    let body = json!({"chain": "message", "message": "pay once"});
    let first = sign_with_key(&srv, &s.token, "key-1", &body).await;
    first.expect_status(200);
    assert!(!replayed(&first), "the first response is not a replay");

    let second = sign_with_key(&srv, &s.token, "key-1", &body).await;
    assert_eq!(second.status, first.status, "{}", second.text);
    assert_eq!(
        second.json(),
        first.json(),
        "replay returns the stored body"
    );
    assert!(
        replayed(&second),
        "replay carries idempotent-replayed: true; headers {:?}",
        second.headers
    );
    // Same JSON with different whitespace and key order is the same request.
    let raw = r#"{ "message" : "pay once",   "chain":"message" }"#;
    let rb = srv
        .request(Method::POST, SIGN)
        .bearer_auth(&s.token)
        .header("idempotency-key", "key-1")
        .header("content-type", "application/json")
        .body(raw);
    let third = srv.send(rb).await;
    // Either equal-as-JSON bodies are treated as the same request (replay), or byte-exact
    // hashing treats them as different (conflict); never a second execution.
    if third.status == 200 {
        assert!(replayed(&third), "{:?}", third.headers);
        assert_eq!(third.json(), first.json());
    } else {
        assert_error(&third, &[409, 422], "idempotency_conflict");
    }

    assert_eq!(
        sign_successes(&srv, &s.token).await.len(),
        1,
        "the action ran exactly once"
    );
    // The same body without a key is a new, separate execution.
    srv.post(SIGN, Some(&s.token), &body)
        .await
        .expect_status(200);
    assert_eq!(sign_successes(&srv, &s.token).await.len(), 2);
}

#[tokio::test]
async fn same_key_different_body_is_a_conflict() {
    let srv = Server::start().await;
    let s = srv.login("conflict@example.com").await;
    let a = json!({"chain": "message", "message": "a"});
    let b = json!({"chain": "message", "message": "b"});
    sign_with_key(&srv, &s.token, "k", &a)
        .await
        .expect_status(200);
    let r = sign_with_key(&srv, &s.token, "k", &b).await;
    assert_error(&r, &[422], "idempotency_conflict");
    assert_eq!(sign_successes(&srv, &s.token).await.len(), 1);
    // The original still replays.
    let again = sign_with_key(&srv, &s.token, "k", &a).await;
    again.expect_status(200);
    assert!(replayed(&again));
}

#[tokio::test]
async fn keys_are_scoped_to_the_agent() {
    let srv = Server::start().await;
    let alice = srv.login("alice@example.com").await;
    let bob = srv.login("bob@example.com").await;
    let body = json!({"chain": "message", "message": "same"});
    let ra = sign_with_key(&srv, &alice.token, "shared-key", &body).await;
    ra.expect_status(200);
    let rb = sign_with_key(&srv, &bob.token, "shared-key", &body).await;
    rb.expect_status(200);
    assert!(
        !replayed(&rb),
        "Bob must never receive Alice's stored response"
    );
    assert_ne!(
        ra.json()["public_key"],
        rb.json()["public_key"],
        "Bob's request is signed with Bob's key"
    );
    assert_eq!(sign_successes(&srv, &bob.token).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_execute_once() {
    let srv = Server::start().await;
    let s = srv.login("racer@example.com").await;
    for round in 0..3 {
        let key = format!("race-{round}");
        let body = json!({"chain": "message", "message": format!("once-{round}")});
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let rb = srv
                .request(Method::POST, SIGN)
                .bearer_auth(&s.token)
                .header("idempotency-key", &key)
                .json(&body);
            tasks.push(tokio::spawn(async move {
                let resp = rb.send().await.unwrap();
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let text = resp.text().await.unwrap();
                Resp {
                    status,
                    headers,
                    text,
                }
            }));
        }
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        let originals: Vec<&Resp> = results
            .iter()
            .filter(|r| r.status == 200 && !replayed(r))
            .collect();
        assert_eq!(
            originals.len(),
            1,
            "round {round}: exactly one response is the original execution: {:?}",
            results
                .iter()
                .map(|r| (r.status, r.header("idempotent-replayed")))
                .collect::<Vec<_>>()
        );
        let original = originals[0].json();
        for r in &results {
            match r.status {
                200 => assert_eq!(r.json(), original, "a replay returns the stored body"),
                _ => {
                    assert_error(r, &[409], "idempotency_conflict");
                }
            }
        }
        let successes = sign_successes(&srv, &s.token).await;
        assert_eq!(
            successes.len(),
            round + 1,
            "round {round}: exactly one more success record, got {successes:?}"
        );
        assert!(
            successes.iter().any(|r| r["id"] == original["audit_id"]),
            "the original response's audit_id {} is a success record",
            original["audit_id"]
        );
    }
    assert_eq!(
        sign_successes(&srv, &s.token).await.len(),
        3,
        "3 rounds, 3 executions"
    );
}

/// The crash matrix: the server is killed (`abort`, no cleanup) at each step of a transfer's
/// signing pipeline while the request holds an Idempotency-Key, then restarted on the same
/// data directory. Whatever the step, the retry with the same key ends in exactly one
/// transfer on chain, answered with that transaction (again on every later retry), one
/// successful audit record for it, one budget debit and no leaked reservation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_any_step_pays_once_and_the_retry_learns_the_transaction() {
    for point in [
        "after_reserve",
        "after_sign",
        "after_signed_record",
        "after_broadcast",
    ] {
        crash_cell(point).await;
    }
}

async fn crash_cell(point: &str) {
    let mut srv = Server::builder()
        .env("FAULT_INJECT", &format!("{point}=abort"))
        .start()
        .await;
    // 0.1 SOL is 15 USD: two fit the 40 USD daily cap, a third does not.
    let s = srv
        .funded_solana_agent(&format!("crash-{point}@example.com"), "40")
        .await;
    let to = "8opHzTAnfzRpPEx21XtnrVTX28YQuCpAjcn1PczScKh";
    let transfer = json!({"chain": "solana", "to": to, "asset": "SOL", "amount": "0.1"});
    let send = |srv: &Server, key: &str| {
        srv.request(Method::POST, "/v1/wallets/me/actions/transfer")
            .bearer_auth(&s.token)
            .header("idempotency-key", key)
            .json(&transfer)
    };
    // The request dies with the server.
    let _ = send(&srv, "crash-key").send().await;
    assert!(
        srv.wait_exit(std::time::Duration::from_secs(20)).is_some(),
        "{point}: the server did not abort"
    );
    srv.restart_with(None, &[("CUSTOS_SERVER_RECOVERY_INTERVAL_SECONDS", "1")])
        .await;

    // Retry until the key is answered (a broadcast transaction is settled by recovery).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let first = loop {
        let r = srv.send(send(&srv, "crash-key")).await;
        if r.status != 409 && r.status != 503 {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{point}: still {} after 30 s: {}\n{}",
            r.status,
            r.text,
            srv.stderr()
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    assert_eq!(first.status, 200, "{point}: {}", first.text);
    let tx = first.json()["tx"].as_str().unwrap().to_owned();
    assert_eq!(
        first.json()["status"],
        "confirmed",
        "{point}: {}",
        first.text
    );
    let again = srv.send(send(&srv, "crash-key")).await;
    assert_eq!(again.status, 200, "{point}: {}", again.text);
    assert_eq!(
        again.json()["tx"],
        tx.as_str(),
        "{point}: a retry got another transaction"
    );

    // Exactly one transfer left the wallet: 1 SOL − 0.1 − one 5000-lamport fee.
    let b = srv.get("/v1/wallets/me/balances", Some(&s.token)).await;
    b.expect_status(200);
    let sol = b.json()["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["asset"] == "SOL")
        .map(|x| x["amount"].as_str().unwrap().to_owned());
    assert_eq!(sol.as_deref(), Some("0.899995"), "{point}: {}", b.text);

    // One successful audit record for the transaction.
    let records = srv.my_audit(&s.token).await;
    let successes: Vec<&Value> = records
        .iter()
        .filter(|r| r["action"] == "transfer" && r["outcome"] == "success")
        .collect();
    assert_eq!(successes.len(), 1, "{point}: {records:#?}");
    assert_eq!(successes[0]["tx"], tx.as_str());

    // One debit of 15 USD and no leaked reservation: one more fits the 40 USD cap, a third not.
    let r = srv.send(send(&srv, "second")).await;
    assert_eq!(r.status, 200, "{point}: {}", r.text);
    let r = srv.send(send(&srv, "third")).await;
    let e = assert_error(&r, &[403], "policy_denied");
    assert!(
        e.to_string().contains("limits.daily_usd"),
        "{point}: {}",
        r.text
    );
    srv.stop();
}
