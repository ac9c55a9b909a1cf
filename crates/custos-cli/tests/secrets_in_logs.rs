//! No secret appears in the logs at any level: with `CUSTOS_LOG=trace`, a full session (OTP
//! login, API key, operator token, signing, failed attempts) leaves no OTP, JWT, API key,
//! operator token or key material in what the server and its enclave print.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{b64url, Server};
use serde_json::json;

/// Whether `code` occurs in `text` as a standalone token (not inside a longer run of letters or
/// digits, so a hex hash that happens to contain the six digits does not count).
fn contains_standalone(text: &str, code: &str) -> bool {
    text.match_indices(code).any(|(i, m)| {
        let before = text[..i].chars().next_back();
        let after = text[i + m.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

#[tokio::test]
async fn no_secret_in_trace_logs() {
    let mut srv = Server::builder().env("CUSTOS_LOG", "trace").start().await;
    let email = "secretive@example.com";

    // A failed guess first (the guessed code is not a secret, the real one is).
    let code = srv.request_otp(email).await;
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    assert_eq!(srv.verify(email, &wrong).await.status, 401);
    let r = srv.verify(email, &code).await;
    r.expect_status(200);
    let jwt = r.json()["token"].as_str().unwrap().to_string();
    let agent_id = r.json()["agent_id"].as_str().unwrap().to_string();

    let op = srv.operator_token("admin");
    let r = srv
        .post(
            &format!("/v1/admin/agents/{agent_id}/api-keys"),
            Some(&op),
            &json!({}),
        )
        .await;
    r.expect_status(201);
    let api_key = r.json()["api_key"].as_str().unwrap().to_string();

    srv.get("/v1/wallets/me", Some(&jwt))
        .await
        .expect_status(200);
    srv.get("/v1/wallets/me", Some(&api_key))
        .await
        .expect_status(200);
    srv.sign(&jwt, "trace me").await.expect_status(200);
    srv.sign(&api_key, "trace me too").await.expect_status(200);
    srv.get("/v1/admin/agents", Some(&op))
        .await
        .expect_status(200);
    // Credentials where they do not belong must not be echoed either.
    srv.get(&format!("/v1/wallets/me?access_token={jwt}"), None)
        .await;
    srv.get("/v1/wallets/me", Some(&format!("{api_key}x")))
        .await;
    srv.get("/v1/admin/agents", Some(&format!("{op}x"))).await;
    // A second OTP login, so an OTP is also in flight when the logs end.
    let code2 = srv.request_otp(email).await;
    let jwt2 = srv.login(email).await.token;

    let key = srv.jwt_key();
    let seed = key.seed_hex.clone();
    let seed_b64 = b64url(key.signing.to_bytes().as_slice());

    // Graceful stop flushes whatever is buffered.
    srv.stop();
    let logs = format!("{}\n{}", srv.stderr(), srv.stdout());
    assert!(
        logs.to_lowercase().contains("trace"),
        "CUSTOS_LOG=trace should produce trace-level output; got {} bytes",
        logs.len()
    );

    let jwt_sig = jwt.rsplit('.').next().unwrap().to_string();
    let api_key_body = api_key.trim_start_matches("cka_").to_string();
    let checks: Vec<(&str, &str)> = vec![
        ("JWT", &jwt),
        ("JWT signature", &jwt_sig),
        ("second JWT", &jwt2),
        ("API key", &api_key),
        ("API key without prefix", &api_key_body),
        ("operator token", &op),
        ("JWT signing seed (hex)", &seed),
        ("JWT signing seed (base64url)", &seed_b64),
    ];
    for (what, secret) in checks {
        assert!(
            secret.len() >= 16,
            "{what} is suspiciously short: {secret:?}"
        );
        assert!(!logs.contains(secret), "{what} appears in the logs");
        let upper = secret.to_uppercase();
        if upper != *secret && secret.bytes().all(|b| b.is_ascii_hexdigit()) {
            assert!(
                !logs.contains(&upper),
                "{what} (upper-case) appears in the logs"
            );
        }
    }
    for (what, c) in [("OTP", &code), ("second OTP", &code2)] {
        assert!(
            !contains_standalone(&logs, c),
            "{what} {c} appears in the logs: {:?}",
            logs.match_indices(c.as_str())
                .map(|(i, _)| &logs[i.saturating_sub(80)..(i + 86).min(logs.len())])
                .collect::<Vec<_>>()
        );
    }

    // Nor in the data directory outside the development outbox (codes stored hashed; tokens and
    // keys stored as hashes).
    for (what, secret) in [
        ("JWT", jwt.as_str()),
        ("API key", api_key.as_str()),
        ("operator token", op.as_str()),
    ] {
        let leaks = common::files_containing(&srv.data_dir, secret.as_bytes());
        assert!(leaks.is_empty(), "{what} stored in the clear in {leaks:?}");
    }
}

#[test]
fn standalone_match_ignores_codes_inside_hex() {
    assert!(contains_standalone("code=123456 sent", "123456"));
    assert!(contains_standalone("\"123456\"", "123456"));
    assert!(!contains_standalone("hash a1234567 b", "123456"));
    assert!(!contains_standalone("deadbeef123456ff", "123456"));
}
