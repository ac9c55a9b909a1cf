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

/// A handler that panics (a fault injected after the budget reservation) is answered `500
/// internal` instead of a dropped connection, leaves an audit record, and does not leak its
/// reservation: the next transfer fits the daily cap the panicked one would have used up.
#[tokio::test]
async fn a_panic_is_answered_audited_and_releases_its_reservation() {
    let srv = Server::builder()
        .env("FAULT_INJECT", "after_reserve=panic")
        .start()
        .await;
    let s = srv.funded_solana_agent("panic@example.com", "20").await;
    // 0.1 SOL = 15 USD: one fits the 20 USD daily cap, two do not.
    let transfer = json!({"chain": "solana", "to": "8opHzTAnfzRpPEx21XtnrVTX28YQuCpAjcn1PczScKh", "asset": "SOL", "amount": "0.1"});
    let r = srv
        .post("/v1/wallets/me/actions/transfer", Some(&s.token), &transfer)
        .await;
    assert_error(&r, &[500], "internal");
    let audit = srv
        .get("/v1/wallets/me/audit?limit=50", Some(&s.token))
        .await;
    audit.expect_status(200);
    let records = audit.json()["records"].as_array().unwrap().clone();
    assert!(
        records
            .iter()
            .any(|x| x["status"] == 500 && x["endpoint"].as_str().unwrap_or("").contains("actions")),
        "no audit record of the panicked request: {}",
        audit.text
    );
    // The reservation is released by the unwound guard (asynchronously): the same transfer
    // is allowed within a few seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = srv
            .post("/v1/wallets/me/actions/transfer", Some(&s.token), &transfer)
            .await;
        if r.status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the panicked request's reservation still counts: {} {}",
            r.status,
            r.text
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let m = srv.get("/metrics", None).await;
    assert!(
        m.text.contains("custos_handler_panics_total 1"),
        "{}",
        m.text
    );
}

/// A paging cursor past what the store can hold is the caller's mistake (`422`), not a
/// storage failure (`503`), which schemathesis found.
#[tokio::test]
async fn an_out_of_range_cursor_is_a_422() {
    let srv = Server::start().await;
    let s = srv.login("cursor@example.com").await;
    let op = srv.operator_token("viewer");
    for (path, token) in [
        ("/v1/wallets/me/audit?after=18446744073709551614", &s.token),
        ("/v1/admin/audit?after=9223372036854775808", &op),
    ] {
        let r = srv.get(path, Some(token)).await;
        assert_invalid(&r, Some("after"), path);
    }
    let r = srv
        .get(
            "/v1/wallets/me/audit?after=9223372036854775807",
            Some(&s.token),
        )
        .await;
    r.expect_status(200);
}

/// Slow and oversized clients: headers that never finish are cut off after
/// `header_read_timeout_seconds`; a `Content-Length` over the limit is refused with `413` at
/// once, before any body is sent; a body that stalls is answered `408`; connections beyond
/// `max_connections_per_ip` are closed on accept.
#[tokio::test]
async fn slow_and_oversized_clients_are_cut_off() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    let srv = Server::builder()
        .env("CUSTOS_SERVER_HEADER_READ_TIMEOUT_SECONDS", "2")
        .env("CUSTOS_SERVER_BODY_READ_TIMEOUT_SECONDS", "2")
        .env("CUSTOS_SERVER_MAX_CONNECTIONS_PER_IP", "8")
        .start()
        .await;
    let addr = srv.addr();
    // Reads until the server closes the connection or `limit` passes; returns what came back.
    async fn read_until_closed(c: &mut TcpStream, limit: Duration) -> (String, bool) {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, c.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into(), true),
                Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
                Err(_) => return (String::from_utf8_lossy(&out).into(), false),
            }
        }
    }

    // Incomplete headers: closed after ~2 s, well before the 70 s the probe saw.
    let started = Instant::now();
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let (_, closed) = read_until_closed(&mut c, Duration::from_secs(10)).await;
    assert!(
        closed,
        "a connection with unfinished headers stayed open 10 s"
    );
    assert!(started.elapsed() >= Duration::from_millis(1500));

    // Content-Length over the limit: 413 without sending a byte of body.
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"POST /v1/auth/otp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 999999999999\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let (resp, _) = read_until_closed(&mut c, Duration::from_secs(5)).await;
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    assert!(resp.contains("invalid_request"), "{resp}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // A body that stops halfway: 408 after the 2 s deadline.
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"POST /v1/auth/otp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"email\":")
        .await
        .unwrap();
    let (resp, _) = read_until_closed(&mut c, Duration::from_secs(10)).await;
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");

    // Eight connections are held, each proven accepted by a request served on it; the ninth
    // from the same address is closed at once, and a new one is accepted once one of the eight
    // goes away. The connections above are closed first and given a second to be reaped: the
    // server counts a connection until its task ends, a moment after the client sees it close.
    drop(c);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut held = Vec::new();
    for i in 0..8 {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
            .await
            .expect("healthz answered")
            .unwrap();
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(
            head.starts_with("HTTP/1.1 200"),
            "held connection {i}: {head}"
        );
        held.push(c);
    }
    let mut ninth = TcpStream::connect(addr).await.unwrap();
    let (_, closed) = read_until_closed(&mut ninth, Duration::from_secs(1)).await;
    assert!(closed, "a ninth connection from one address was kept open");
    held.pop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (resp, _) = read_until_closed(&mut c, Duration::from_secs(5)).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
}
