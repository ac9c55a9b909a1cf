//! Transaction status webhooks, end to end: an agent registers a local HTTP receiver (allowed by
//! `webhooks.allow_hosts`), moves SOL on the embedded devnet, and the receiver gets the
//! transaction's events — broadcast, then confirmed — each signed with the secret the
//! registration returned (checked here with an HMAC-SHA256 written from RFC 2104 over `sha2`,
//! independent of the server's `hmac` crate). The receiver fails the first delivery: it is
//! retried and the delivery log shows both attempts. URLs off the allowlist, not https, or with
//! credentials are refused naming `url`; another agent's transactions are not delivered; after
//! the webhook is removed nothing more is sent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::receiver::{verifies, Got, Receiver};
use common::{assert_error, Server, Session};
use serde_json::{json, Value};
use std::time::Duration;

fn random_address() -> String {
    bs58::encode(uuid::Uuid::new_v4().as_bytes().repeat(2)).into_string()
}

async fn airdrop_and_transfer(srv: &Server, s: &Session, to: &str) -> String {
    let r = srv
        .post(
            "/v1/dev/airdrop",
            Some(&s.token),
            &json!({"chain": "solana", "asset": "SOL", "amount": "1"}),
        )
        .await;
    assert_eq!(r.status, 200, "airdrop: {}", r.text);
    transfer(srv, s, to).await
}

async fn transfer(srv: &Server, s: &Session, to: &str) -> String {
    let r = srv.transfer_sol(&s.token, to, "0.01").await;
    assert_eq!(r.status, 200, "transfer: {}", r.text);
    r.json()["tx"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transaction_statuses_are_posted_signed_retried_and_logged() {
    // The first delivery attempt is answered 500; everything after, 200.
    let rx = Receiver::start(vec![500]).await;
    let srv = Server::builder()
        .config("[webhooks]\nallow_hosts = [\"127.0.0.1\"]\npoll_interval_ms = 50\n")
        .start()
        .await;
    let s = srv.login("hooks@example.com").await;
    let other = srv.login("hooks-other@example.com").await;
    let to = random_address();
    // Funded before the webhook exists: the airdrop is not an event for it.
    let r = srv
        .post(
            "/v1/dev/airdrop",
            Some(&s.token),
            &json!({"chain": "solana", "asset": "SOL", "amount": "1"}),
        )
        .await;
    assert_eq!(r.status, 200, "airdrop: {}", r.text);

    let put = |url: &str| {
        let (srv, token, body) = (&srv, s.token.clone(), json!({"url": url}));
        async move {
            srv.call(
                reqwest::Method::PUT,
                "/v1/wallets/me/webhook",
                Some(&token),
                Some(&body),
            )
            .await
        }
    };
    for bad in [
        "https://example.com/hook",
        "ftp://127.0.0.1/hook",
        "http://user:pw@127.0.0.1/hook",
        "not a url",
    ] {
        let r = put(bad).await;
        let e = assert_error(&r, &[422], "invalid_request");
        assert_eq!(e["field"], "url", "{bad}: {}", r.text);
    }
    let r = srv.get("/v1/wallets/me/webhook", Some(&s.token)).await;
    assert_error(&r, &[404], "not_found");
    let r = put(&rx.url).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let secret = r.json()["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let r = srv.get("/v1/wallets/me/webhook", Some(&s.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["url"], rx.url.as_str());
    assert!(!r.text.contains(&secret), "the secret is shown once");

    let tx = transfer(&srv, &s, &to).await;
    // Another agent's transaction is not this webhook's business.
    airdrop_and_transfer(&srv, &other, &to).await;

    // broadcast (refused once, then delivered) and confirmed: three requests.
    let got = rx.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let got_now = rx.got();
    assert_eq!(got_now.len(), 3, "{got_now:?}");
    let events: Vec<Value> = got
        .iter()
        .map(|g| serde_json::from_str(&g.body).unwrap())
        .collect();
    for (g, e) in got.iter().zip(&events) {
        let sig = g.header("custos-signature").unwrap_or_default();
        assert!(verifies(&secret, sig, &g.body), "{sig} {}", g.body);
        // Anything else in the body, and the signature no longer holds.
        let tampered = g.body.replace("0.01", "9.99");
        assert!(!verifies(&secret, sig, &tampered));
        assert!(!verifies("whsec_other", sig, &g.body));
        assert_eq!(g.header("custos-event-id"), e["id"].as_str());
        assert_eq!(e["agent_id"], s.agent_id.as_str());
        assert_eq!(e["data"]["tx"], tx.as_str());
        assert_eq!(e["data"]["to"], to.as_str());
        assert_eq!(e["data"]["action"], "transfer");
    }
    // Two events; the one whose first attempt was refused came again (deliveries run
    // concurrently, so either may have been first).
    let mut types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    types.sort_unstable();
    types.dedup();
    assert_eq!(types, ["transaction.broadcast", "transaction.confirmed"]);
    assert_eq!(got[0].answered, 500);
    let refused = &events[0]["id"];
    let again: Vec<&Got> = got
        .iter()
        .zip(&events)
        .filter(|(_, e)| &e["id"] == refused)
        .map(|(g, _)| g)
        .collect();
    assert_eq!(again.len(), 2, "retried once");
    assert_eq!(again[1].answered, 200);
    assert_eq!(again[0].body, again[1].body, "the same event");

    // The delivery log: both delivered, the refused one after two attempts.
    let r = srv
        .get("/v1/wallets/me/webhook/deliveries", Some(&s.token))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let log = r.json()["deliveries"].as_array().unwrap().clone();
    assert_eq!(log.len(), 2, "{log:?}");
    for d in &log {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["last_http_status"], 200, "{d}");
        let tries = if &d["event_id"] == refused { 2 } else { 1 };
        assert_eq!(d["attempts"], tries, "{d}");
    }
    let r = srv
        .get("/v1/wallets/me/webhook/deliveries", Some(&other.token))
        .await;
    assert_eq!(r.json()["deliveries"], json!([]));

    // Removed: nothing more is sent.
    let r = srv
        .call(
            reqwest::Method::DELETE,
            "/v1/wallets/me/webhook",
            Some(&s.token),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    transfer(&srv, &s, &to).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(rx.got().len(), 3);
}

/// Without `webhooks.allow_hosts` (the default) no agent can register one.
#[tokio::test]
async fn webhooks_are_off_unless_hosts_are_allowed() {
    let srv = Server::builder().start().await;
    let s = srv.login("hooks-off@example.com").await;
    let r = srv
        .call(
            reqwest::Method::PUT,
            "/v1/wallets/me/webhook",
            Some(&s.token),
            Some(&json!({"url": "http://127.0.0.1:9/hook"})),
        )
        .await;
    let e = assert_error(&r, &[422], "invalid_request");
    assert!(
        e["message"].as_str().unwrap().contains("not enabled"),
        "{e}"
    );
}
