//! `prediction` (Kalshi) through the API, against scripts/kalshi_fake.py: a local stand-in
//! speaking the Trade API v2's documented JSON that verifies every request's RSA-PSS-SHA256
//! signature (pyca/cryptography, an implementation independent of the OpenSSL one the boundary
//! signs with) against the public key enrolled for it.
//!
//! What is checked: the agent's RSA key is generated inside the custody boundary and only its
//! public half leaves; an order inside the policy is signed there and accepted by the stand-in
//! (and fills); the balance, positions and orders are signed reads; a resting order is
//! cancelled; the budget keeps what orders cost (a fill below the limit, a cancellation before
//! any fill), not their limits; an order above the per-order cap, above the contract cap, on a market off the
//! allowlist, over the daily prediction budget, or with the toggle off is refused before any
//! signature — the stand-in sees no request and the audit has no `prediction.signed` record —
//! the Kalshi key is listed and rotated with the agent's keys (the new one works once registered);
//! and the boundary itself, asked directly over its socket, refuses to sign such an order
//! whatever the server would say; a signature the boundary made verifies at the stand-in, and
//! the same signature tampered with, or over another path, is rejected with a 401.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::evm::{action, assert_denied_by, policy, set_policy};
use common::kalshi::Kalshi;
use common::{assert_error, Server};
use custos_core::prediction::{KalshiMethod, KalshiOrder, OutcomeSide};
use custos_core::{Custody as _, CustodyError, KalshiRequest, KeyScheme, SignPayload, SignRequest};
use serde_json::{json, Value};

const KEY_ID: &str = "custos-agent-key-1";
/// Where the owner registers the agent's key after it is rotated.
const ROTATED_KEY_ID: &str = "custos-agent-key-2";
const FED: &str = "KXFED-26DEC-T4.00";
const BTC: &str = "KXBTC-26DEC-B100";

fn markets() -> Value {
    json!({"markets": [
        {"ticker": FED, "event_ticker": "KXFED-26DEC", "series_ticker": "KXFED",
         "yes_ask": 40, "no_ask": 62, "status": "open"},
        {"ticker": BTC, "event_ticker": "KXBTC-26DEC", "series_ticker": "KXBTC",
         "yes_ask": 30, "no_ask": 72, "status": "open"}],
        "balance": 100000})
}

fn buy(ticker: &str, side: &str, count: u32, price: &str) -> Value {
    json!({"operation": "buy", "ticker": ticker, "side": side, "count": count, "limit_price": price})
}

fn prediction_policy(extra: Value) -> Value {
    let mut p = policy(
        &["solana"],
        json!({"prediction": {"markets": ["KXFED"], "max_contracts": 100,
                              "max_usd_per_order": "20", "daily_usd": "25",
                              "kalshi_key_id": KEY_ID}}),
    );
    p["actions"]["prediction"] = json!(true);
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

fn signed_records(audit: &[Value]) -> usize {
    audit
        .iter()
        .filter(|r| r["action"] == "prediction.signed")
        .count()
}

#[tokio::test]
async fn orders_are_signed_in_the_boundary_and_out_of_policy_orders_never_are() {
    let k = Kalshi::start(markets());
    let srv = Server::builder()
        .config(&format!("[kalshi]\nurl = \"{}\"\n", k.url))
        .start()
        .await;
    let s = srv.login("kalshi@example.com").await;

    // No Kalshi key registered yet: a clear 422, and nothing reached Kalshi.
    let r = srv
        .get("/v1/wallets/me/prediction/balance", Some(&s.token))
        .await;
    let e = assert_error(&r, &[422], "invalid_request");
    assert_eq!(e["field"], "prediction.kalshi_key_id", "{}", r.text);

    // The key is made in the boundary; only its public half comes out, the same on each call.
    let r = srv
        .post("/v1/wallets/me/prediction/key", Some(&s.token), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let key = r.json();
    let pem = key["public_key_pem"].as_str().unwrap().to_owned();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{key}");
    assert_eq!(key["scheme"], "rsa_pss_sha256");
    assert!(!r.text.contains("PRIVATE"), "{}", r.text);
    let again = srv
        .post("/v1/wallets/me/prediction/key", Some(&s.token), &json!({}))
        .await;
    assert_eq!(again.json()["key_id"], key["key_id"]);
    k.enrol(KEY_ID, &pem).await;

    // With the toggle off, even a read is refused before signing.
    let mut off = prediction_policy(json!({}));
    off["actions"]["prediction"] = json!(false);
    set_policy(&srv, &s.agent_id, off).await;
    let enrolled = k.seen().len();
    let r = srv
        .get("/v1/wallets/me/prediction/balance", Some(&s.token))
        .await;
    assert_denied_by(&r, "actions.prediction");
    assert_eq!(k.seen().len(), enrolled, "{:?}", k.seen());

    set_policy(&srv, &s.agent_id, prediction_policy(json!({}))).await;

    // An order inside every cap: signed in the boundary, verified and filled by the stand-in.
    let r = action(&srv, &s, "prediction", buy(FED, "yes", 10, "0.45")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["status"], "executed", "{v}");
    assert_eq!(v["max_cost_usd"], "4.5", "{v}");
    let last = k.last().await;
    assert_eq!(
        last["seen"], "POST /trade-api/v2/portfolio/orders",
        "{last}"
    );
    assert_eq!(last["verified"], true, "{last}");
    assert_eq!(last["key"], KEY_ID, "{last}");
    assert_eq!(last["status"], 201, "{last}");

    // Signed reads: the fill at the ask (10 × 40 ¢) came off the balance.
    let r = srv
        .get("/v1/wallets/me/prediction/balance", Some(&s.token))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["balance"], 100000 - 400, "{}", r.text);
    let r = srv
        .get(
            &format!("/v1/wallets/me/prediction/positions?ticker={FED}"),
            Some(&s.token),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json()["market_positions"][0]["position_fp"],
        "10.00",
        "{}",
        r.text
    );

    // A resting order (limit under the ask) is cancelled, and its hold given back.
    let r = action(&srv, &s, "prediction", buy(FED, "no", 10, "0.30")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["status"], "resting", "{}", r.text);
    let order_id = r.json()["order_id"].as_str().unwrap().to_owned();
    let r = srv
        .get(
            "/v1/wallets/me/prediction/orders?status=resting",
            Some(&s.token),
        )
        .await;
    assert_eq!(
        r.json()["orders"].as_array().unwrap().len(),
        1,
        "{}",
        r.text
    );
    let r = action(
        &srv,
        &s,
        "prediction",
        json!({"operation": "cancel", "order_id": order_id}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["status"], "canceled", "{}", r.text);
    let r = srv
        .get("/v1/wallets/me/prediction/balance", Some(&s.token))
        .await;
    assert_eq!(r.json()["balance"], 100000 - 400, "{}", r.text);

    // A second fill: 10 at the 40 ¢ ask under a 45 ¢ limit.
    let r = action(&srv, &s, "prediction", buy(FED, "yes", 10, "0.45")).await;
    assert_eq!(r.json()["status"], "executed", "{}", r.text);

    // Out of policy: refused before anything is signed or sent.
    let before = k.seen().len();
    let audit = srv.my_audit(&s.token).await;
    let signed_before = signed_records(&audit);
    assert_eq!(signed_before, 3);
    // The records of the orders say what they cost: 4 USD for each fill at 40 ¢ (their limit
    // would have allowed 4.5), the most it could cost (3 USD) for the one that rested.
    let costs: Vec<&str> = audit
        .iter()
        .filter(|r| r["action"] == "prediction" && r["params"]["operation"] == "buy")
        .filter_map(|r| r["usd_amount"].as_str())
        .collect();
    assert_eq!(costs.len(), 3, "{audit:?}");
    for c in ["4", "3"] {
        assert!(costs.contains(&c), "{costs:?}");
    }
    for (body, rule) in [
        (buy(FED, "yes", 50, "0.45"), "prediction.max_usd_per_order"),
        (buy(FED, "yes", 101, "0.01"), "prediction.max_contracts"),
        (buy(BTC, "yes", 1, "0.30"), "prediction.markets"),
    ] {
        let r = action(&srv, &s, "prediction", body).await;
        assert_denied_by(&r, rule);
    }
    // The budget keeps what the orders cost, not their limits: the two fills at 40 ¢ (4 USD
    // each, not the 4.5 reserved) and nothing for the order cancelled before it filled (not 3).
    let r = srv
        .post(
            "/v1/wallets/me/actions/prediction?dry_run=true",
            Some(&s.token),
            &buy(FED, "yes", 1, "0.50"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["spent_usd_24h"], "8", "{}", r.text);
    assert_eq!(r.json()["explanation"]["decision"], "allow", "{}", r.text);
    // The daily prediction budget: 8 spent, so 18 more is over 25.
    let r = action(&srv, &s, "prediction", buy(FED, "yes", 40, "0.45")).await;
    assert_denied_by(&r, "prediction.daily_usd");
    assert_eq!(k.seen().len(), before, "{:?}", k.seen());
    assert_eq!(signed_records(&srv.my_audit(&s.token).await), signed_before);

    // Bad bodies name the field.
    for (body, field) in [
        (json!({"operation": "sell"}), "operation"),
        (buy(FED, "maybe", 1, "0.5"), "side"),
        (buy(FED, "yes", 0, "0.5"), "count"),
        (buy(FED, "yes", 1, "1.00"), "limit_price"),
        (buy(FED, "yes", 1, "0.455"), "limit_price"),
        (buy("KX FED", "yes", 1, "0.5"), "ticker"),
        (json!({"operation": "cancel"}), "order_id"),
        (
            json!({"operation": "cancel", "order_id": "a", "count": 1}),
            "count",
        ),
    ] {
        let r = action(&srv, &s, "prediction", body).await;
        let e = assert_error(&r, &[422], "invalid_request");
        assert_eq!(e["field"], field, "{}", r.text);
    }

    // The Kalshi key is listed with the agent's keys and rotates like them: the boundary then
    // signs with the new key, which Kalshi does not know until the owner registers it.
    let admin = srv.operator_token("admin");
    let keys = srv
        .get(
            &format!("/v1/admin/agents/{}/keys", s.agent_id),
            Some(&admin),
        )
        .await
        .json();
    assert!(
        keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["scheme"] == "rsa_pss_sha256" && k["key_id"] == key["key_id"]),
        "{keys}"
    );
    let r = srv
        .post(
            &format!("/v1/admin/agents/{}/keys/rsa_pss_sha256/rotate", s.agent_id),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json()["previous_address"],
        key["fingerprint"],
        "{}",
        r.text
    );
    let rotated = srv
        .post("/v1/wallets/me/prediction/key", Some(&s.token), &json!({}))
        .await
        .json();
    assert_ne!(rotated["public_key_pem"], key["public_key_pem"]);
    let r = srv
        .get("/v1/wallets/me/prediction/balance", Some(&s.token))
        .await;
    assert_error(&r, &[502], "upstream_error");
    k.enrol(
        "custos-agent-key-2",
        rotated["public_key_pem"].as_str().unwrap(),
    )
    .await;
    let mut p = prediction_policy(json!({}));
    p["prediction"]["kalshi_key_id"] = json!(ROTATED_KEY_ID);
    set_policy(&srv, &s.agent_id, p).await;
    let r = srv
        .get("/v1/wallets/me/prediction/balance", Some(&s.token))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // The boundary itself, asked over its socket with no server in between: it signs a read
    // the policy allows — a signature the stand-in accepts, and rejects once tampered with or
    // moved to another path — and refuses an order over the cap with no signature at all.
    let boundary = custos_custody::EnclaveClient::new(srv.data_dir.join("enclave.sock"));
    let agent: custos_core::AgentId = s.agent_id.parse().unwrap();
    let now = || custos_core::Clock::now_ms(&custos_core::SystemClock);
    let sign = |request: KalshiRequest| SignRequest {
        agent_id: agent,
        scheme: KeyScheme::RsaPssSha256,
        payload: SignPayload::KalshiRequest {
            request: Box::new(request),
        },
        action: Some(custos_core::Action::Prediction),
    };
    let ts = now();
    let read = KalshiRequest {
        timestamp_ms: ts,
        method: KalshiMethod::Get,
        path: "/trade-api/v2/portfolio/balance".into(),
        order: None,
    };
    let sig = boundary.sign(sign(read)).await.unwrap();
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let get = |path: &str, sig: String| {
        reqwest::Client::new()
            .get(format!(
                "{}{}",
                k.url,
                path.trim_start_matches("/trade-api/v2")
            ))
            .header("KALSHI-ACCESS-KEY", ROTATED_KEY_ID)
            .header("KALSHI-ACCESS-TIMESTAMP", ts.to_string())
            .header("KALSHI-ACCESS-SIGNATURE", sig)
            .send()
    };
    let r = get("/trade-api/v2/portfolio/balance", b64(&sig.bytes))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut tampered = sig.bytes.clone();
    tampered[100] ^= 0x01;
    let r = get("/trade-api/v2/portfolio/balance", b64(&tampered))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "authentication_error", "{body}");
    let r = get("/trade-api/v2/portfolio/positions", b64(&sig.bytes))
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a signature is for its own path only");

    let over = KalshiRequest {
        timestamp_ms: now(),
        method: KalshiMethod::Post,
        path: "/trade-api/v2/portfolio/orders".into(),
        order: Some(KalshiOrder {
            ticker: FED.into(),
            side: OutcomeSide::Yes,
            count: 50,
            price_cents: 45,
            client_order_id: "direct-1".into(),
        }),
    };
    match boundary.sign(sign(over.clone())).await {
        Err(CustodyError::PolicyRefused(m)) => {
            assert!(m.contains("prediction.max_usd_per_order"), "{m}")
        }
        other => panic!("the boundary signed an order over the cap: {other:?}"),
    }
    let mut elsewhere = over.clone();
    elsewhere.order.as_mut().unwrap().ticker = BTC.into();
    elsewhere.order.as_mut().unwrap().count = 1;
    assert!(matches!(
        boundary.sign(sign(elsewhere)).await,
        Err(CustodyError::PolicyRefused(_))
    ));
    // A request the boundary does not sign for at all, and a stale timestamp.
    let keys = KalshiRequest {
        timestamp_ms: now(),
        method: KalshiMethod::Post,
        path: "/trade-api/v2/api_keys".into(),
        order: None,
    };
    assert!(boundary.sign(sign(keys)).await.is_err());
    let stale = KalshiRequest {
        timestamp_ms: now() - 60_000,
        method: KalshiMethod::Get,
        path: "/trade-api/v2/portfolio/balance".into(),
        order: None,
    };
    assert!(matches!(
        boundary.sign(sign(stale)).await,
        Err(CustodyError::InvalidPayload(_))
    ));
    // The RSA key signs nothing but Kalshi requests.
    let msg = SignRequest {
        agent_id: agent,
        scheme: KeyScheme::RsaPssSha256,
        payload: SignPayload::Message {
            bytes: b"hello".to_vec(),
        },
        action: None,
    };
    assert!(boundary.sign(msg).await.is_err());
}
