//! Email OTP login through the outbox mailer: provisioning, wrong, reused, expired and
//! exhausted codes, and credentials outside the Authorization header.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{assert_error, Server};
use serde_json::json;
use std::time::Duration;

/// A 6-digit code that is certainly not `code`.
fn other_code(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

#[tokio::test]
async fn outbox_login_provisions_agent_with_addresses() {
    let srv = Server::start().await;
    let email = "alice@example.com";
    let code = srv.request_otp(email).await;
    let mail = srv.outbox(email).pop().unwrap();
    assert!(
        mail["subject"].as_str().is_some_and(|s| !s.is_empty()),
        "{mail}"
    );
    assert!(
        mail["body"].as_str().is_some_and(|b| b.contains(&code)),
        "the mail body must carry the code: {mail}"
    );

    let r = srv.verify(email, &code).await;
    r.expect_status(200);
    let v = r.json();
    let token = v["token"].as_str().unwrap();
    let agent_id = v["agent_id"].as_str().unwrap();
    assert!(!agent_id.is_empty());
    assert!(!v["expires_at"].is_null());

    let me = srv.get("/v1/wallets/me", Some(token)).await;
    me.expect_status(200);
    let me = me.json();
    assert_eq!(me["agent_id"], agent_id);
    assert_eq!(me["email"], email);
    assert_eq!(me["frozen"], false);
    let sol = me["addresses"]["solana"].as_str().expect("solana address");
    let sol_bytes = bs58::decode(sol)
        .into_vec()
        .expect("solana address is base58");
    assert_eq!(sol_bytes.len(), 32, "solana address is a 32-byte key");
    ed25519_dalek::VerifyingKey::from_bytes(&sol_bytes.try_into().unwrap())
        .expect("solana address is an Ed25519 point");
    let evm = me["addresses"]["evm"].as_str().expect("evm address");
    assert!(
        evm.len() == 42 && evm.starts_with("0x") && evm[2..].bytes().all(|b| b.is_ascii_hexdigit()),
        "bad EVM address {evm}"
    );

    // A second login with the same email is the same agent, with the same keys.
    let again = srv.login(email).await;
    assert_eq!(again.agent_id, agent_id);
    let me2 = srv.get("/v1/wallets/me", Some(&again.token)).await.json();
    assert_eq!(me2["addresses"], me["addresses"]);

    // A different email is a different agent with different keys.
    let bob = srv.login("bob@example.com").await;
    assert_ne!(bob.agent_id, agent_id);
    let me3 = srv.get("/v1/wallets/me", Some(&bob.token)).await.json();
    assert_ne!(me3["addresses"]["solana"], me["addresses"]["solana"]);
    assert_ne!(me3["addresses"]["evm"], me["addresses"]["evm"]);
}

#[tokio::test]
async fn wrong_code_is_refused_and_right_code_still_works() {
    let srv = Server::start().await;
    let email = "wrong@example.com";
    let code = srv.request_otp(email).await;
    let r = srv.verify(email, &other_code(&code)).await;
    assert_error(&r, &[401], "unauthorized");
    assert!(r.json().get("token").is_none());
    // A code for another email does not open this one.
    let r = srv.verify("someone-else@example.com", &code).await;
    assert_error(&r, &[401], "unauthorized");
    // Below the attempt limit the right code still works.
    srv.verify(email, &code).await.expect_status(200);
}

#[tokio::test]
async fn reused_code_is_refused() {
    let srv = Server::start().await;
    let email = "reuse@example.com";
    let code = srv.request_otp(email).await;
    srv.verify(email, &code).await.expect_status(200);
    let r = srv.verify(email, &code).await;
    assert_error(&r, &[401], "unauthorized");
}

#[tokio::test]
async fn verify_without_any_otp_is_refused() {
    let srv = Server::start().await;
    let r = srv.verify("nobody@example.com", "123456").await;
    assert_error(&r, &[401], "unauthorized");
}

#[tokio::test]
async fn expired_code_is_refused() {
    let srv = Server::builder()
        .env("CUSTOS_AUTH_OTP_TTL_SECONDS", "1")
        .start()
        .await;
    let email = "late@example.com";
    let code = srv.request_otp(email).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = srv.verify(email, &code).await;
    assert_error(&r, &[401], "unauthorized");
}

#[tokio::test]
async fn code_is_dead_after_max_wrong_guesses() {
    let srv = Server::start().await;
    let email = "guesser@example.com";
    let code = srv.request_otp(email).await;
    let wrong = other_code(&code);
    // Default otp_max_attempts = 5.
    for _ in 0..5 {
        assert_error(&srv.verify(email, &wrong).await, &[401], "unauthorized");
    }
    let r = srv.verify(email, &code).await;
    assert_error(&r, &[401], "unauthorized");

    // A fresh code works again afterwards.
    let code2 = srv.request_otp(email).await;
    srv.verify(email, &code2).await.expect_status(200);
}

#[tokio::test]
async fn max_attempts_is_configurable_and_exact() {
    let srv = Server::builder()
        .env("CUSTOS_AUTH_OTP_MAX_ATTEMPTS", "2")
        .start()
        .await;
    // One wrong guess below the limit: the right code still works.
    let code = srv.request_otp("a@example.com").await;
    assert_error(
        &srv.verify("a@example.com", &other_code(&code)).await,
        &[401],
        "unauthorized",
    );
    srv.verify("a@example.com", &code).await.expect_status(200);
    // Two wrong guesses reach the limit: the right code is dead.
    let code = srv.request_otp("b@example.com").await;
    for _ in 0..2 {
        assert_error(
            &srv.verify("b@example.com", &other_code(&code)).await,
            &[401],
            "unauthorized",
        );
    }
    assert_error(
        &srv.verify("b@example.com", &code).await,
        &[401],
        "unauthorized",
    );
}

#[tokio::test]
async fn bearer_header_is_required() {
    let srv = Server::start().await;
    let s = srv.login("hdr@example.com").await;
    srv.get("/v1/wallets/me", Some(&s.token))
        .await
        .expect_status(200);

    assert_error(
        &srv.get("/v1/wallets/me", None).await,
        &[401],
        "unauthorized",
    );
    for q in ["access_token", "token", "api_key", "jwt"] {
        let r = srv
            .get(&format!("/v1/wallets/me?{q}={}", s.token), None)
            .await;
        assert_error(&r, &[401], "unauthorized");
    }
    // Not as a cookie, not as a non-Bearer scheme, not bare.
    let rb = srv.request(reqwest::Method::GET, "/v1/wallets/me").header(
        "cookie",
        format!("token={}; access_token={}", s.token, s.token),
    );
    assert_error(&srv.send(rb).await, &[401], "unauthorized");
    for value in [
        format!("Basic {}", s.token),
        format!("Token {}", s.token),
        s.token.clone(),
        "Bearer ".to_string(),
        "Bearer not-a-token".to_string(),
    ] {
        let rb = srv
            .request(reqwest::Method::GET, "/v1/wallets/me")
            .header("authorization", value.clone());
        let r = srv.send(rb).await;
        assert_error(&r, &[401], "unauthorized");
    }
    // Credentials in the body of an agent action are not accepted either.
    let r = srv
        .post(
            "/v1/wallets/me/actions/sign",
            None,
            &json!({"chain": "message", "message": "x"}),
        )
        .await;
    assert_error(&r, &[401], "unauthorized");
}
