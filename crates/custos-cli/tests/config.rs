//! Configuration is validated at start: an unknown key or a bad value, from the file or from a
//! `CUSTOS_*` variable, stops `custos serve` with a message naming the key; good values apply.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Server, ServerBuilder};
use serde_json::json;
use std::time::Duration;

/// Starts a server that must refuse its configuration; returns its stderr+stdout.
fn refused(builder: ServerBuilder, what: &str) -> String {
    let mut srv = builder.spawn();
    let status = srv.wait_exit(Duration::from_secs(30));
    let output = format!("{}{}", srv.stderr(), srv.stdout());
    let status =
        status.unwrap_or_else(|| panic!("{what}: custos serve kept running; output:\n{output}"));
    assert!(
        !status.success(),
        "{what}: exit status {status} must be non-zero"
    );
    assert!(
        !srv.data_dir.join("listen.addr").exists(),
        "{what}: a refused config must not start listening"
    );
    output
}

#[track_caller]
fn assert_names(output: &str, key: &str, what: &str) {
    assert!(
        output.contains(key),
        "{what}: the message must name {key:?}; got:\n{output}"
    );
}

#[test]
fn bad_env_value_is_refused_naming_the_key() {
    let out = refused(
        Server::builder().env("CUSTOS_RATE_LIMIT_PER_IP_PER_MINUTE", "abc"),
        "per_ip_per_minute=abc",
    );
    assert_names(&out, "rate_limit.per_ip_per_minute", "env abc");

    let out = refused(
        Server::builder().env("CUSTOS_AUTH_OTP_TTL_SECONDS", "-5"),
        "otp_ttl_seconds=-5",
    );
    assert_names(&out, "auth.otp_ttl_seconds", "env -5");

    let out = refused(
        Server::builder().env("CUSTOS_SERVER_DEV", "maybe"),
        "dev=maybe",
    );
    assert_names(&out, "server.dev", "env bool");

    let out = refused(
        Server::builder().env("CUSTOS_MAILER_KIND", "pigeon"),
        "mailer.kind=pigeon",
    );
    assert_names(&out, "mailer.kind", "env enum");
}

#[test]
fn unknown_key_in_file_is_refused_naming_it() {
    let out = refused(
        Server::builder().config("[server]\nbogus = 1\n"),
        "[server] bogus",
    );
    assert_names(&out, "server.bogus", "file unknown key");

    let out = refused(
        Server::builder().config("[nonsense]\nx = 1\n"),
        "[nonsense] section",
    );
    assert_names(&out, "nonsense", "file unknown section");
}

#[test]
fn bad_value_in_file_is_refused_naming_it() {
    let out = refused(
        Server::builder().config("[rate_limit]\nper_agent_per_minute = \"sixty\"\n"),
        "per_agent_per_minute string",
    );
    assert_names(&out, "rate_limit.per_agent_per_minute", "file bad type");

    let out = refused(
        Server::builder().config("[auth]\nsession_expiration_hours = -1\n"),
        "negative hours",
    );
    assert_names(&out, "auth.session_expiration_hours", "file negative");

    let out = refused(
        Server::builder().config("[mailer]\nkind = \"smtp\"\nsmtp_port = 99999\n"),
        "port out of range",
    );
    assert_names(&out, "mailer.smtp_port", "file port");

    let out = refused(
        Server::builder().config("this is not toml = = ["),
        "not TOML",
    );
    assert!(!out.trim().is_empty(), "a parse error says something");
}

#[test]
fn unknown_env_key_is_refused_naming_it() {
    let out = refused(
        Server::builder().env("CUSTOS_RATE_LIMIT_BOGUS", "1"),
        "env unknown key",
    );
    // Either spelling names it: the variable as set, or the key it would be.
    assert!(
        out.contains("CUSTOS_RATE_LIMIT_BOGUS") || out.contains("rate_limit.bogus"),
        "the message must name the unknown variable; got:\n{out}"
    );
}

#[tokio::test]
async fn file_and_env_values_take_effect() {
    // Issuer and audience from the file, session length from the environment.
    let srv = Server::builder()
        .config("[auth]\nissuer = \"custos-test\"\naudience = \"custos-test-api\"\n")
        .env("CUSTOS_AUTH_SESSION_EXPIRATION_HOURS", "2")
        .start()
        .await;
    let s = srv.login("config@example.com").await;
    let (_, claims) = common::decode_jwt(&s.token);
    assert_eq!(claims["iss"], "custos-test");
    assert_eq!(claims["aud"], "custos-test-api");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        2 * 3600
    );
    srv.get("/v1/wallets/me", Some(&s.token))
        .await
        .expect_status(200);
}

#[tokio::test]
async fn environment_overrides_file() {
    let srv = Server::builder()
        .config("[rate_limit]\notp_per_email = 1\n")
        .env("CUSTOS_RATE_LIMIT_OTP_PER_EMAIL", "3")
        .start()
        .await;
    for i in 1..=3 {
        let r = srv
            .post("/v1/auth/otp", None, &json!({"email": "o@example.com"}))
            .await;
        assert_eq!(
            r.status, 202,
            "#{i}: the env value 3 wins over the file's 1: {}",
            r.text
        );
    }
    let r = srv
        .post("/v1/auth/otp", None, &json!({"email": "o@example.com"}))
        .await;
    common::assert_rate_limited(&r, 15 * 60);
}

#[tokio::test]
async fn outbox_is_announced_as_development_only() {
    let srv = Server::start().await;
    srv.get("/healthz", None).await.expect_status(200);
    let out = format!("{}{}", srv.stderr(), srv.stdout()).to_lowercase();
    assert!(
        out.contains("outbox"),
        "serve says at start that the outbox mailer is in use:\n{out}"
    );
}
