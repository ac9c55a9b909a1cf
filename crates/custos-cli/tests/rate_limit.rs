//! Each rate limit trips at exactly its number: N requests pass, request N+1 is `429
//! rate_limited` with `Retry-After`. Defaults are tested where a minute's worth of requests is
//! cheap; the window arithmetic itself is the server's unit tests' business (injected clock).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{assert_error, assert_rate_limited, Resp, Server};
use reqwest::Method;
use serde_json::json;

const TRUST_LOCALHOST: &str = "[server]\ntrusted_proxies = [\"127.0.0.1\"]\n";

async fn get_from(srv: &Server, path: &str, xff: Option<&str>) -> Resp {
    let mut rb = srv.request(Method::GET, path);
    if let Some(ip) = xff {
        rb = rb.header("x-forwarded-for", ip);
    }
    srv.send(rb).await
}

#[track_caller]
fn assert_not_limited(r: &Resp, i: usize) {
    assert_ne!(
        r.status, 429,
        "request #{i} was rate limited too early: {}",
        r.text
    );
    assert!(r.status < 500, "request #{i}: {} {}", r.status, r.text);
}

#[tokio::test]
async fn per_agent_default_is_60_per_minute() {
    let srv = Server::start().await;
    let alice = srv.login("alice@example.com").await;
    for i in 1..=60 {
        let r = srv.get("/v1/wallets/me", Some(&alice.token)).await;
        assert_not_limited(&r, i);
        assert_eq!(r.status, 200, "#{i}: {}", r.text);
    }
    let r = srv.get("/v1/wallets/me", Some(&alice.token)).await;
    assert_rate_limited(&r, 60);
    // Other routes count for the same agent.
    assert_rate_limited(
        &srv.get("/v1/wallets/me/audit", Some(&alice.token)).await,
        60,
    );

    // Another agent from the same address is not affected: the limit is per agent.
    let bob = srv.login("bob@example.com").await;
    srv.get("/v1/wallets/me", Some(&bob.token))
        .await
        .expect_status(200);
}

#[tokio::test]
async fn per_agent_limit_counts_api_key_and_jwt_together() {
    let srv = Server::builder()
        .env("CUSTOS_RATE_LIMIT_PER_AGENT_PER_MINUTE", "6")
        .start()
        .await;
    let s = srv.login("keys@example.com").await;
    let op = srv.operator_token("operator");
    let r = srv
        .post(
            &format!("/v1/admin/agents/{}/api-keys", s.agent_id),
            Some(&op),
            &json!({}),
        )
        .await;
    r.expect_status(201);
    let key = r.json()["api_key"].as_str().unwrap().to_string();
    for i in 1..=3 {
        assert_not_limited(&srv.get("/v1/wallets/me", Some(&s.token)).await, i);
        assert_not_limited(&srv.get("/v1/wallets/me", Some(&key)).await, i);
    }
    assert_rate_limited(&srv.get("/v1/wallets/me", Some(&key)).await, 60);
    assert_rate_limited(&srv.get("/v1/wallets/me", Some(&s.token)).await, 60);
}

#[tokio::test]
async fn otp_default_is_5_per_email() {
    let srv = Server::start().await;
    let email = "otp@example.com";
    for i in 1..=5 {
        let r = srv
            .post("/v1/auth/otp", None, &json!({"email": email}))
            .await;
        assert_not_limited(&r, i);
        assert_eq!(r.status, 202, "#{i}: {}", r.text);
    }
    let r = srv
        .post("/v1/auth/otp", None, &json!({"email": email}))
        .await;
    assert_rate_limited(&r, 15 * 60);
    // The refused request sent no mail.
    assert_eq!(
        srv.outbox(email).len(),
        5,
        "the 6th request must not send a mail"
    );
    // Another email is not limited.
    let r = srv
        .post("/v1/auth/otp", None, &json!({"email": "other@example.com"}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    // The last code sent before the limit still logs in: the limit is on sending, not verifying.
    let code = srv.outbox(email).last().unwrap()["code"]
        .as_str()
        .unwrap()
        .to_string();
    srv.verify(email, &code).await.expect_status(200);
}

#[tokio::test]
async fn otp_limit_is_configurable() {
    let srv = Server::builder()
        .env("CUSTOS_RATE_LIMIT_OTP_PER_EMAIL", "2")
        .start()
        .await;
    for i in 1..=2 {
        let r = srv
            .post("/v1/auth/otp", None, &json!({"email": "c@example.com"}))
            .await;
        assert_eq!(r.status, 202, "#{i}: {}", r.text);
    }
    assert_rate_limited(
        &srv.post("/v1/auth/otp", None, &json!({"email": "c@example.com"}))
            .await,
        15 * 60,
    );
}

#[tokio::test]
async fn per_ip_default_is_100_and_ignores_untrusted_forwarded_for() {
    // No trusted proxies: X-Forwarded-For from 127.0.0.1 must not split the count.
    let srv = Server::builder()
        .config("[server]\ntrusted_proxies = []\n")
        .start()
        .await;
    // /healthz and /metrics are not counted.
    for _ in 0..120 {
        srv.get("/healthz", None).await.expect_status(200);
    }
    srv.get("/metrics", None).await.expect_status(200);
    for i in 1..=100 {
        let ip = format!("10.1.{}.{}", i / 256, i % 256);
        let r = get_from(&srv, "/v1/auth/jwks", Some(&ip)).await;
        assert_not_limited(&r, i);
    }
    let r = get_from(&srv, "/v1/auth/jwks", Some("10.9.9.9")).await;
    assert_rate_limited(&r, 60);
    // Rate limiting runs before authentication: no 401 for a missing token.
    assert_rate_limited(&srv.get("/v1/wallets/me", None).await, 60);
    assert_rate_limited(
        &srv.post("/v1/auth/otp", None, &json!({"email": "x@example.com"}))
            .await,
        60,
    );
    // Still healthy.
    srv.get("/healthz", None).await.expect_status(200);
}

#[tokio::test]
async fn per_ip_uses_forwarded_for_from_trusted_proxy() {
    let srv = Server::builder().config(TRUST_LOCALHOST).start().await;
    for i in 1..=100 {
        let r = get_from(&srv, "/v1/auth/jwks", Some("203.0.113.7")).await;
        assert_not_limited(&r, i);
    }
    assert_rate_limited(
        &get_from(&srv, "/v1/auth/jwks", Some("203.0.113.7")).await,
        60,
    );
    // Another client behind the proxy, and the proxy itself, are separate.
    assert_not_limited(
        &get_from(&srv, "/v1/auth/jwks", Some("203.0.113.8")).await,
        101,
    );
    assert_not_limited(&get_from(&srv, "/v1/auth/jwks", None).await, 102);
}

#[tokio::test]
async fn per_ip_limit_is_configurable_by_file() {
    let srv = Server::builder()
        .config("[rate_limit]\nper_ip_per_minute = 3\n")
        .start()
        .await;
    for i in 1..=3 {
        assert_not_limited(&srv.get("/v1/auth/jwks", None).await, i);
    }
    assert_rate_limited(&srv.get("/v1/auth/jwks", None).await, 60);
}

#[tokio::test]
async fn global_default_is_1000_per_minute() {
    let srv = Server::builder().config(TRUST_LOCALHOST).start().await;
    // Spread over 1000 addresses so the per-IP limit (100) never trips first.
    for i in 1..=1000 {
        let ip = format!("10.2.{}.{}", i / 250, i % 250 + 1);
        let r = get_from(&srv, "/v1/auth/jwks", Some(&ip)).await;
        assert_not_limited(&r, i);
    }
    let r = get_from(&srv, "/v1/auth/jwks", Some("10.3.0.1")).await;
    assert_rate_limited(&r, 60);
    let r = get_from(&srv, "/v1/auth/jwks", None).await;
    assert_rate_limited(&r, 60);
    // Not counted, so not refused.
    srv.get("/healthz", None).await.expect_status(200);
}

#[tokio::test]
async fn global_limit_is_configurable_by_env() {
    let srv = Server::builder()
        .config(TRUST_LOCALHOST)
        .env("CUSTOS_RATE_LIMIT_GLOBAL_PER_MINUTE", "20")
        .start()
        .await;
    for i in 1..=20 {
        let ip = format!("192.0.2.{i}");
        assert_not_limited(&get_from(&srv, "/v1/auth/jwks", Some(&ip)).await, i);
    }
    let r = get_from(&srv, "/v1/auth/jwks", Some("192.0.2.200")).await;
    assert_rate_limited(&r, 60);
}

#[tokio::test]
async fn rate_limited_body_is_documented_error() {
    let srv = Server::builder()
        .env("CUSTOS_RATE_LIMIT_PER_IP_PER_MINUTE", "1")
        .start()
        .await;
    srv.get("/v1/auth/jwks", None).await.expect_status(200);
    let r = srv.get("/v1/auth/jwks", None).await;
    let err = assert_error(&r, &[429], "rate_limited");
    assert!(err["message"].as_str().unwrap().len() > 3);
}
