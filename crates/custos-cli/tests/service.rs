//! The service endpoints: health, Prometheus metrics, the OpenAPI document and attestation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{assert_error, Server};

#[tokio::test]
async fn healthz() {
    let srv = Server::start().await;
    let r = srv.get("/healthz", None).await;
    r.expect_status(200);
    assert_eq!(r.json(), serde_json::json!({"status": "ok"}));
}

#[tokio::test]
async fn metrics_are_prometheus_text_and_count_requests() {
    let srv = Server::start().await;
    let s = srv.login("metrics@example.com").await;
    srv.get("/v1/wallets/me", Some(&s.token))
        .await
        .expect_status(200);
    let r = srv.get("/metrics", None).await;
    r.expect_status(200);
    let ct = r.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("text/plain"), "content-type {ct}");
    assert!(r.text.contains("# TYPE"), "{}", r.text);
    // Every sample line is `name{labels} value`.
    for line in r
        .text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let value = line.rsplit(' ').next().unwrap();
        assert!(
            value.parse::<f64>().is_ok() || ["NaN", "+Inf", "-Inf"].contains(&value),
            "bad sample line {line:?}"
        );
    }
    // No token in metrics labels.
    assert!(!r.text.contains(&s.token));
}

#[tokio::test]
async fn openapi_document() {
    let srv = Server::start().await;
    let r = srv.get("/openapi.json", None).await;
    r.expect_status(200);
    let v = r.json();
    assert!(
        v["openapi"].as_str().is_some_and(|s| s.starts_with("3.")),
        "openapi version: {}",
        v["openapi"]
    );
    assert!(v["info"]["title"].is_string());
    let paths = v["paths"].as_object().expect("paths");
    for p in ["/v1/auth/otp", "/v1/auth/verify", "/v1/wallets/me"] {
        assert!(
            paths.contains_key(p),
            "openapi paths lack {p}: {:?}",
            paths.keys().collect::<Vec<_>>()
        );
    }
    // Each action is its own path with its own body; the template is gone.
    assert!(!paths.contains_key("/v1/wallets/me/actions/{action}"));
    let transfer = &paths["/v1/wallets/me/actions/transfer"]["post"];
    assert_eq!(
        transfer["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/TransferBody"
    );
    for action in ["trade", "sign", "sign-message", "pay"] {
        assert!(paths.contains_key(&format!("/v1/wallets/me/actions/{action}")));
    }
    // Every status the pipeline can give is documented, with the error body.
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let codes = op["responses"].as_object().unwrap();
            let has = |c: &str| codes.contains_key(c);
            assert!(has("500") && has("503"), "{method} {path}: {codes:?}");
            if path.starts_with("/v1/") {
                assert!(has("429"), "{method} {path} lacks 429");
            }
            if op
                .get("security")
                .is_some_and(|s| !s.as_array().unwrap().is_empty())
            {
                assert!(has("401") && has("403"), "{method} {path} lacks 401/403");
            }
            if op.get("requestBody").is_some() {
                assert!(has("400") && has("413") && has("422"), "{method} {path}");
            }
        }
    }
    assert_eq!(
        v["components"]["schemas"]["ErrorBody"]["required"],
        serde_json::json!(["error"])
    );
    // Constraints the server enforces are in the schema.
    let limit = paths["/v1/wallets/me/audit"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .cloned()
        .unwrap();
    assert_eq!(limit["schema"]["minimum"], 1);
    assert_eq!(limit["schema"]["maximum"], 1000);
}

#[tokio::test]
async fn attestation_echoes_nonce_and_says_it_is_not_hardware() {
    let srv = Server::start().await;
    let nonce = hex::encode(uuid::Uuid::new_v4().as_bytes());
    let r = srv
        .get(&format!("/v1/attestation?nonce={nonce}"), None)
        .await;
    r.expect_status(200);
    let v = r.json();
    assert_eq!(v["format"], "dev", "{v}");
    assert_eq!(v["hardware_backed"], false, "{v}");
    assert_eq!(v["nonce"], nonce.as_str(), "{v}");
    let r = srv.get("/v1/attestation?nonce=not-hex!", None).await;
    assert_error(&r, &[400, 422], "invalid_request");
}

#[tokio::test]
async fn responses_carry_a_request_id() {
    let srv = Server::start().await;
    let a = srv.get("/v1/auth/jwks", None).await;
    let b = srv.get("/v1/auth/jwks", None).await;
    let (ra, rb) = (a.header("x-request-id"), b.header("x-request-id"));
    assert!(
        ra.is_some() && rb.is_some(),
        "x-request-id header: {:?}",
        a.headers
    );
    assert_ne!(ra, rb);
}

/// `custos demo`, the README's first command: runs end to end on embedded defaults and exits 0
/// having shown a confirmed transfer, a policy denial with its rule and a verified audit chain.
#[tokio::test]
async fn demo_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::custos_command()
        .arg("demo")
        .arg("--data-dir")
        .arg(dir.path().join("demo"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "custos demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("\"status\": \"confirmed\""), "{stdout}");
    assert!(stdout.contains("limits.per_tx_usd"), "{stdout}");
    assert!(stdout.contains("ok: "), "{stdout}");
}
