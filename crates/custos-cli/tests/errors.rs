//! Bad input is answered with the documented error body and a 4xx, never a 5xx: unknown fields
//! (named), bad values, wrong types, missing fields, malformed JSON, huge bodies, unknown routes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{assert_error, Resp, Server};
use reqwest::Method;
use serde_json::{json, Value};

const SIGN: &str = "/v1/wallets/me/actions/sign";

#[track_caller]
fn assert_invalid(r: &Resp, field: Option<&str>, what: &str) {
    assert!(r.status < 500, "{what}: got {} {}", r.status, r.text);
    let err = assert_error(r, &[400, 422], "invalid_request");
    if let Some(f) = field {
        assert!(
            err["field"]
                .as_str()
                .is_some_and(|got| got == f || got.ends_with(&format!(".{f}"))),
            "{what}: error.field should name {f:?}: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn unknown_fields_are_rejected_and_named() {
    let srv = Server::start().await;
    let s = srv.login("strict@example.com").await;

    let r = srv
        .post(
            "/v1/auth/otp",
            None,
            &json!({"email": "a@example.com", "admin": true}),
        )
        .await;
    assert_invalid(&r, Some("admin"), "otp with unknown field");
    assert!(
        srv.outbox("a@example.com").is_empty(),
        "a rejected request sends no mail"
    );

    let code = srv.request_otp("b@example.com").await;
    let r = srv
        .post(
            "/v1/auth/verify",
            None,
            &json!({"email": "b@example.com", "code": code, "remember_me": true}),
        )
        .await;
    assert_invalid(&r, Some("remember_me"), "verify with unknown field");
    // The code was not consumed by the rejected request.
    srv.verify("b@example.com", &code).await.expect_status(200);

    let r = srv
        .post(
            SIGN,
            Some(&s.token),
            &json!({"chain": "message", "message": "m", "sudo": 1}),
        )
        .await;
    assert_invalid(&r, Some("sudo"), "sign with unknown field");
}

#[tokio::test]
async fn bad_values_wrong_types_and_missing_fields() {
    let srv = Server::start().await;
    let s = srv.login("values@example.com").await;

    for (body, field) in [
        (json!({"email": "not-an-email"}), "email"),
        (json!({"email": ""}), "email"),
        (json!({"email": "a@"}), "email"),
        (json!({"email": "@example.com"}), "email"),
        (json!({"email": "two@@example.com"}), "email"),
        (json!({"email": "a b@example.com"}), "email"),
        (json!({"email": "x".repeat(400) + "@example.com"}), "email"),
        (json!({"email": 5}), "email"),
        (json!({"email": null}), "email"),
        (json!({"email": ["a@example.com"]}), "email"),
        (json!({}), "email"),
    ] {
        let r = srv.post("/v1/auth/otp", None, &body).await;
        assert_invalid(&r, Some(field), &format!("otp {body}"));
    }

    for (body, field) in [
        (json!({"email": "values@example.com"}), "code"),
        (json!({"code": "123456"}), "email"),
        (
            json!({"email": "values@example.com", "code": 123456}),
            "code",
        ),
        (json!({"email": "bad", "code": "123456"}), "email"),
    ] {
        let r = srv.post("/v1/auth/verify", None, &body).await;
        assert_invalid(&r, Some(field), &format!("verify {body}"));
    }
    // A code that is not 6 digits is either invalid or simply wrong, never a 5xx.
    for code in ["12345", "1234567", "abcdef", ""] {
        let r = srv
            .post(
                "/v1/auth/verify",
                None,
                &json!({"email": "values@example.com", "code": code}),
            )
            .await;
        assert!(
            r.status == 401 || r.status == 400 || r.status == 422,
            "code {code:?}: {} {}",
            r.status,
            r.text
        );
        assert_error(
            &r,
            &[r.status],
            if r.status == 401 {
                "unauthorized"
            } else {
                "invalid_request"
            },
        );
    }

    for (body, field) in [
        (json!({"chain": "message"}), "message"),
        (json!({"message": "m"}), "chain"),
        (json!({"chain": "message", "message": 5}), "message"),
        (json!({"chain": 7, "message": "m"}), "chain"),
        (json!({"chain": "dogecoin", "message": "m"}), "chain"),
    ] {
        let r = srv.post(SIGN, Some(&s.token), &body).await;
        assert_invalid(&r, Some(field), &format!("sign {body}"));
    }
    // Shapes that are not an object at all.
    for raw in ["[]", "null", "\"text\"", "42", "[{\"chain\":\"message\"}]"] {
        let r = srv.post_raw(SIGN, Some(&s.token), raw).await;
        assert_invalid(&r, None, &format!("sign body {raw}"));
        let r = srv.post_raw("/v1/auth/otp", None, raw).await;
        assert_invalid(&r, None, &format!("otp body {raw}"));
    }
}

#[tokio::test]
async fn malformed_json_is_invalid_request() {
    let srv = Server::start().await;
    let s = srv.login("malformed@example.com").await;
    // Each malformed shape, built from fields the endpoint knows, so that only the syntax is wrong.
    let malformed = |k: &str, v: &str| -> Vec<String> {
        vec![
            "{not json".to_string(),
            String::new(),
            format!("{{\"{k}\": \"{v}\""),
            format!("{{\"{k}\": \"{v}\"}}}}"),
            format!("{{\"{k}\": '{v}'}}"),
            format!("{{\"{k}\" \"{v}\"}}"),
            "\u{0}\u{1}\u{2}".to_string(),
        ]
    };
    // Collect every miss before failing, so one run shows them all.
    let mut misses = Vec::new();
    let cases = malformed("email", "a@example.com")
        .into_iter()
        .map(|b| ("/v1/auth/otp", None, b))
        .chain(
            malformed("chain", "message")
                .into_iter()
                .map(|b| (SIGN, Some(s.token.as_str()), b)),
        )
        .collect::<Vec<_>>();
    for (path, token, raw) in cases {
        let r = srv.post_raw(path, token, raw.clone()).await;
        let ok = r.status == 400 && r.json()["error"]["code"] == "invalid_request";
        if !ok {
            misses.push(format!("{path} {raw:?} -> {} {}", r.status, r.text));
        }
    }
    assert!(
        misses.is_empty(),
        "malformed JSON not answered 400 invalid_request:\n{}",
        misses.join("\n")
    );
    // Invalid UTF-8.
    let r = srv
        .post_raw(
            "/v1/auth/otp",
            None,
            vec![b'{', b'"', 0xff, 0xfe, b'"', b'}'],
        )
        .await;
    assert_error(&r, &[400], "invalid_request");
    // Duplicate keys are not a way to smuggle a second value.
    let r = srv
        .post_raw(
            "/v1/auth/otp",
            None,
            r#"{"email":"a@example.com","email":"b@example.com"}"#,
        )
        .await;
    assert!(
        r.status == 202 || r.status == 400 || r.status == 422,
        "{} {}",
        r.status,
        r.text
    );
    if r.status != 202 {
        assert_error(&r, &[400, 422], "invalid_request");
    }
}

#[tokio::test]
async fn wrong_content_type_is_a_documented_4xx() {
    let srv = Server::start().await;
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut rb = srv
            .request(Method::POST, "/v1/auth/otp")
            .body(r#"{"email":"ct@example.com"}"#);
        if let Some(ct) = ct {
            rb = rb.header("content-type", ct);
        }
        let r = srv.send(rb).await;
        assert!(
            (400..500).contains(&r.status),
            "content-type {ct:?}: {} {}",
            r.status,
            r.text
        );
        let v = r.json();
        assert!(
            v["error"]["code"].is_string() && v["error"]["message"].is_string(),
            "content-type {ct:?}: the error body is the documented one: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn huge_bodies_are_refused_without_5xx() {
    let srv = Server::start().await;
    let s = srv.login("huge@example.com").await;
    let big = "a".repeat(8 * 1024 * 1024);
    let body = json!({"chain": "message", "message": big});
    let r = srv.post(SIGN, Some(&s.token), &body).await;
    assert!(
        (400..500).contains(&r.status),
        "an 8 MiB body must be a 4xx: {} {}",
        r.status,
        &r.text[..r.text.len().min(300)]
    );
    let v = r.json();
    assert!(
        v["error"]["code"].is_string() && v["error"]["message"].is_string(),
        "documented error body for a huge request: {}",
        &r.text[..r.text.len().min(300)]
    );
    let r = srv
        .post(
            "/v1/auth/otp",
            None,
            &json!({"email": format!("{}@example.com", "x".repeat(2 * 1024 * 1024))}),
        )
        .await;
    assert!((400..500).contains(&r.status), "{}", r.status);
    assert!(
        r.json()["error"]["code"].is_string(),
        "{}",
        &r.text[..r.text.len().min(300)]
    );

    // Deeply nested JSON must not crash a parser.
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let r = srv.post_raw(SIGN, Some(&s.token), nested).await;
    assert!((400..500).contains(&r.status), "deep nesting: {}", r.status);
    assert!(r.json()["error"]["code"].is_string());

    // The server is still up and serving.
    srv.get("/healthz", None).await.expect_status(200);
    srv.get("/v1/wallets/me", Some(&s.token))
        .await
        .expect_status(200);
}

#[tokio::test]
async fn unknown_routes_methods_and_ids_use_the_error_body() {
    let srv = Server::start().await;
    let s = srv.login("routes@example.com").await;
    let op = srv.operator_token("admin");

    let r = srv.get("/v1/does-not-exist", None).await;
    assert_error(&r, &[404], "not_found");
    let r = srv.get("/v1/wallets/me/nothing-here", Some(&s.token)).await;
    assert_error(&r, &[404], "not_found");
    let r = srv
        .post(
            "/v1/wallets/me/actions/teleport",
            Some(&s.token),
            &json!({"chain": "message", "message": "m"}),
        )
        .await;
    assert!(
        r.status == 400 || r.status == 404 || r.status == 422,
        "{} {}",
        r.status,
        r.text
    );
    assert!(r.json()["error"]["code"].is_string(), "{}", r.text);

    let r = srv.call(Method::DELETE, "/v1/auth/otp", None, None).await;
    assert!((400..500).contains(&r.status), "{}", r.status);
    let v: Value = r.json();
    assert!(
        v["error"]["code"].is_string(),
        "wrong method: documented body: {}",
        r.text
    );

    // Ids that are not ids.
    for id in ["not-a-uuid", "..", "%00", "1%20OR%201=1"] {
        let r = srv.get(&format!("/v1/admin/agents/{id}"), Some(&op)).await;
        assert!(
            r.status == 400 || r.status == 404 || r.status == 422,
            "agent id {id:?}: {} {}",
            r.status,
            r.text
        );
        assert!(r.json()["error"]["code"].is_string(), "{}", r.text);
    }
    for q in [
        "limit=-1",
        "limit=abc",
        "after=xyz",
        "limit=99999999999999999999",
    ] {
        let r = srv
            .get(&format!("/v1/wallets/me/audit?{q}"), Some(&s.token))
            .await;
        assert!(r.status < 500, "audit?{q}: {} {}", r.status, r.text);
        if r.status >= 400 {
            assert_error(&r, &[400, 422], "invalid_request");
        }
    }
}
