//! The Knot-compatible API (`[compat] knot = true`), driven by a client written only from that
//! wallet's public documentation: the envelope `{status, statusCode, message, data}`, the
//! email-OTP login (`/connect/start`, `/connect/complete`), the policy view and `PATCH`, SOL and
//! SPL transfers (`{to, amount, mint?}`), balances, history, health and capabilities. Custos-only
//! steps (funding on the devnet, a second wallet to pay) use Custos' own API and are marked.
//! What is checked: login provisions a wallet; the agent reads and tightens its policy and the
//! tightening is enforced; it cannot loosen it (403, naming the rules, nothing changed); SOL and
//! an SPL token move on chain; a transfer above its cap is denied in the envelope format; every
//! Knot request leaves the same audit trail as the Custos request it became.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// A Knot client: base URL and token, nothing Custos-specific.
struct Knot<'a> {
    srv: &'a Server,
    token: Option<String>,
}

impl Knot<'_> {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Resp {
        let mut rb = self.srv.request(method, &format!("/knot{path}"));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        if let Some(k) = key {
            rb = rb.header("Idempotency-Key", k);
        }
        let r = self.srv.send(rb).await;
        let v = r.json();
        // Every answer is the envelope, whatever the outcome.
        assert_eq!(
            v["status"],
            json!((200..300).contains(&r.status)),
            "{}",
            r.text
        );
        assert_eq!(v["statusCode"], json!(r.status), "{}", r.text);
        assert!(
            v["message"].is_string() && v.get("data").is_some(),
            "{}",
            r.text
        );
        r
    }

    async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(body), None).await
    }

    /// `/connect/start` then `/connect/complete` with the emailed code; keeps the token.
    async fn login(&mut self, email: &str) -> Value {
        let r = self.post("/connect/start", json!({"email": email})).await;
        r.expect_status(200);
        let otp_id = r.json()["data"]["otpId"].as_str().unwrap().to_owned();
        let code = mailed_code(self.srv, email).await;
        let r = self
            .post(
                "/connect/complete",
                json!({"email": email, "otpId": otp_id, "otpCode": code}),
            )
            .await;
        r.expect_status(200);
        let data = r.json()["data"].clone();
        self.token = Some(data["apiToken"].as_str().unwrap().to_owned());
        data
    }
}

/// The newest code mailed to `email` (the agent reads its inbox).
async fn mailed_code(srv: &Server, email: &str) -> String {
    for _ in 0..200 {
        if let Some(m) = srv.outbox(email).last() {
            return m["code"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no code mailed to {email}");
}

fn data(r: &Resp) -> Value {
    r.json()["data"].clone()
}

fn rules(r: &Resp) -> Vec<String> {
    data(r)["details"]["reasons"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .map(|x| x["rule"].as_str().unwrap().to_owned())
        .collect()
}

/// A Custos agent's balance of `asset` on Solana (Custos API: the recipient is not a Knot
/// client).
async fn custos_balance(srv: &Server, token: &str, asset: &str) -> f64 {
    let r = srv.get("/v1/wallets/me/balances", Some(token)).await;
    r.expect_status(200);
    r.json()["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["chain"] == "solana" && b["asset"] == asset)
        .map(|b| b["amount"].as_str().unwrap().parse().unwrap())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_knot_client_logs_in_tightens_its_policy_transfers_and_cannot_loosen() {
    let mut srv = Server::builder()
        .config("[compat]\nknot = true\n")
        .start()
        .await;
    let mut knot = Knot {
        srv: &srv,
        token: None,
    };

    // --- Login -----------------------------------------------------------------------------------
    let email = "knot-agent@example.com";
    let r = knot.post("/connect/start", json!({"email": email})).await;
    r.expect_status(200);
    let otp_id = data(&r)["otpId"].as_str().unwrap().to_owned();
    let code = mailed_code(&srv, email).await;
    // Missing fields and an otpId of another login are 400; a wrong code is 401.
    knot.post(
        "/connect/complete",
        json!({"email": email, "otpCode": code}),
    )
    .await
    .expect_status(400);
    let r = knot
        .post(
            "/connect/complete",
            json!({"email": email, "otpId": "00000000-0000-0000-0000-000000000000", "otpCode": code}),
        )
        .await;
    r.expect_status(400);
    assert_eq!(data(&r)["field"], "otpId", "{}", r.text);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    knot.post(
        "/connect/complete",
        json!({"email": email, "otpId": otp_id, "otpCode": wrong}),
    )
    .await
    .expect_status(401);
    let r = knot
        .post(
            "/connect/complete",
            json!({"email": email, "otpId": otp_id, "otpCode": code}),
        )
        .await;
    r.expect_status(200);
    let first = data(&r);
    assert_eq!(first["isNewAgent"], true, "{first}");
    assert!(first["username"].as_str().unwrap().starts_with("agent_"));
    let address = first["solanaAddress"].as_str().unwrap().to_owned();
    assert_eq!(bs58::decode(&address).into_vec().unwrap().len(), 32);
    // A second login is the same wallet, not a new one.
    let again = knot.login(email).await;
    assert_eq!(again["isNewAgent"], false, "{again}");
    assert_eq!(again["solanaAddress"], address.as_str());
    let r = knot
        .call(Method::POST, "/connect/validate", None, None)
        .await;
    r.expect_status(200);
    assert_eq!(data(&r)["valid"], true);
    assert_eq!(data(&r)["email"], email);
    assert!(data(&r)["expiresAt"].is_string(), "{}", r.text);
    let token = knot.token.clone().unwrap();
    let no_token = Knot {
        srv: &srv,
        token: None,
    };
    no_token.get("/wallets/me/policy").await.expect_status(401);

    // --- Custos-only setup: SOL and a priced SPL token on the devnet, and a second wallet -----
    let b = srv.login("knot-recipient@example.com").await;
    let c = srv.login("knot-stranger@example.com").await;
    let addr_of = |s: &Session| {
        let srv = &srv;
        let t = s.token.clone();
        async move {
            srv.get("/v1/wallets/me", Some(&t)).await.json()["addresses"]["solana"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let b_addr = addr_of(&b).await;
    let c_addr = addr_of(&c).await;
    srv.post(
        "/v1/dev/airdrop",
        Some(&token),
        &json!({"chain": "solana", "asset": "SOL", "amount": "1"}),
    )
    .await
    .expect_status(200);
    let r = srv
        .post(
            "/v1/dev/mints",
            Some(&token),
            &json!({"decimals": 6, "program": "token"}),
        )
        .await;
    r.expect_status(201);
    let mint = r.json()["mint"].as_str().unwrap().to_owned();
    srv.post(
        "/v1/dev/airdrop",
        Some(&token),
        &json!({"chain": "solana", "asset": mint, "amount": "100"}),
    )
    .await
    .expect_status(200);
    srv.restart(Some(&format!(
        "[compat]\nknot = true\n[oracle.static_prices]\nSOL = \"150\"\n\"{mint}\" = \"1\"\n"
    )))
    .await;
    let mut knot = Knot {
        srv: &srv,
        token: Some(token.clone()),
    };

    // --- Policy: read, tighten, cannot loosen ---------------------------------------------------
    let r = knot.get("/wallets/me/policy").await;
    r.expect_status(200);
    let p = &data(&r)["policy"];
    assert_eq!(p["maxSingleTransactionInUsd"], json!(25.0), "{p}");
    assert_eq!(p["dailyLimitInUsd"], json!(100.0), "{p}");
    assert_eq!(p["allowedRecipients"], json!([]), "{p}");
    assert_eq!(p["allowTrading"], false, "{p}");
    assert_eq!(p["sessionExpirationHours"], 168, "{p}");
    let r = knot
        .call(
            Method::PATCH,
            "/wallets/me/policy",
            Some(json!({"maxSingleTransactionInUsd": 20, "allowedRecipients": [b_addr], "sessionExpirationHours": 24})),
            None,
        )
        .await;
    r.expect_status(200);
    let p = &data(&r)["policy"];
    assert_eq!(p["maxSingleTransactionInUsd"], json!(20.0), "{p}");
    assert_eq!(p["allowedRecipients"], json!([b_addr]), "{p}");
    assert_eq!(p["recipientsMode"], "allowlist", "{p}");
    assert_eq!(p["sessionExpirationHours"], 24, "{p}");
    for (loosen, rule) in [
        (json!({"dailyLimitInUsd": 1000}), "limits.daily_usd"),
        (
            json!({"maxSingleTransactionInUsd": 21}),
            "limits.per_tx_usd",
        ),
        (json!({"allowedRecipients": []}), "recipients"),
        (json!({"allowTrading": true}), "actions.trade"),
        (
            json!({"sessionExpirationHours": 48}),
            "session_expiration_hours",
        ),
        // One tightening does not carry a loosening through with it.
        (
            json!({"maxSingleTransactionInUsd": 1, "dailyLimitInUsd": 1000}),
            "limits.daily_usd",
        ),
    ] {
        let r = knot
            .call(
                Method::PATCH,
                "/wallets/me/policy",
                Some(loosen.clone()),
                None,
            )
            .await;
        r.expect_status(403);
        let loosens = data(&r)["details"]["loosens"].clone();
        assert!(
            loosens
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l.as_str().unwrap().starts_with(rule)),
            "{loosen} should name {rule}: {}",
            r.text
        );
        assert!(
            r.json()["message"].as_str().unwrap().contains("owners"),
            "{}",
            r.text
        );
    }
    // Bad fields are Knot's 400, naming the field.
    let r = knot
        .call(
            Method::PATCH,
            "/wallets/me/policy",
            Some(json!({"maxSingleTransactionInUSD": 1})),
            None,
        )
        .await;
    r.expect_status(400);
    // Nothing the refusals touched changed.
    let p = data(&knot.get("/wallets/me/policy").await)["policy"].clone();
    assert_eq!(p["maxSingleTransactionInUsd"], json!(20.0), "{p}");
    assert_eq!(p["dailyLimitInUsd"], json!(100.0), "{p}");
    assert_eq!(p["allowedRecipients"], json!([b_addr]), "{p}");
    assert_eq!(p["allowTrading"], false, "{p}");
    // The operators see the tightened policy too: it is the one in force.
    let op = srv.operator_token("viewer");
    let who = srv.get("/v1/wallets/me", Some(&token)).await.json()["agent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = srv
        .get(&format!("/v1/admin/agents/{who}/policy"), Some(&op))
        .await;
    assert_eq!(r.json()["limits"]["per_tx_usd"], "20", "{}", r.text);

    // --- Transfers ------------------------------------------------------------------------------
    let r = knot
        .call(
            Method::POST,
            "/wallets/me/actions/transfer",
            Some(json!({"to": b_addr, "amount": 0.1})),
            Some("knot-sol-1"),
        )
        .await;
    r.expect_status(200);
    let d = data(&r);
    let sig = d["signature"].as_str().unwrap().to_owned();
    assert_eq!(d["amount"], "0.1 SOL", "{d}");
    assert_eq!(d["amountSent"], json!(0.1), "{d}");
    assert_eq!(d["recipient"], b_addr.as_str(), "{d}");
    assert!(d["explorerUrl"].as_str().unwrap().contains(&sig), "{d}");
    assert!((custos_balance(&srv, &b.token, "SOL").await - 0.1).abs() < 1e-9);
    // The same Idempotency-Key answers the same transfer, and moves nothing again.
    let r = knot
        .call(
            Method::POST,
            "/wallets/me/actions/transfer",
            Some(json!({"to": b_addr, "amount": 0.1})),
            Some("knot-sol-1"),
        )
        .await;
    r.expect_status(200);
    assert_eq!(data(&r)["signature"], sig.as_str());
    assert!((custos_balance(&srv, &b.token, "SOL").await - 0.1).abs() < 1e-9);
    // An SPL token, by mint.
    let r = knot
        .call(
            Method::POST,
            "/wallets/me/actions/transfer",
            Some(json!({"to": b_addr, "amount": 5, "mint": mint})),
            Some("knot-spl-1"),
        )
        .await;
    r.expect_status(200);
    assert_eq!(data(&r)["amount"], format!("5 {mint}"));
    assert_eq!(custos_balance(&srv, &b.token, &mint).await, 5.0);
    // Above the tightened cap (0.15 SOL = 22.5 USD > 20, under the old 25): denied, in the
    // envelope, with the rule; nothing moves.
    let r = knot
        .post(
            "/wallets/me/actions/transfer",
            json!({"to": b_addr, "amount": 0.15}),
        )
        .await;
    r.expect_status(403);
    assert_eq!(data(&r)["code"], "policy_denied", "{}", r.text);
    assert!(
        rules(&r).contains(&"limits.per_tx_usd".to_owned()),
        "{}",
        r.text
    );
    // Off the allowlist the agent set itself: denied.
    let r = knot
        .post(
            "/wallets/me/actions/transfer",
            json!({"to": c_addr, "amount": 0.01}),
        )
        .await;
    r.expect_status(403);
    assert!(
        rules(&r).iter().any(|x| x.starts_with("recipients")),
        "{}",
        r.text
    );
    assert_eq!(custos_balance(&srv, &c.token, "SOL").await, 0.0);
    assert!((custos_balance(&srv, &b.token, "SOL").await - 0.1).abs() < 1e-9);
    // A bad amount is Knot's 400, naming the field.
    let r = knot
        .post(
            "/wallets/me/actions/transfer",
            json!({"to": b_addr, "amount": "lots"}),
        )
        .await;
    r.expect_status(400);
    assert_eq!(data(&r)["field"], "amount", "{}", r.text);
    // Trading is off in the policy (crates/custos-cli/tests/solana_trade.rs trades through it).
    let r = knot
        .post(
            "/wallets/me/actions/trade",
            json!({"from": "SOL", "to": "USDC", "amount": 0.01}),
        )
        .await;
    assert!(!r.json()["status"].as_bool().unwrap(), "{}", r.text);

    // --- Balances, history, utility ---------------------------------------------------------------
    let r = knot.get("/wallets/me/balances").await;
    r.expect_status(200);
    let d = data(&r);
    let sol = d["sol"]["balance"].as_f64().unwrap();
    assert!(sol < 0.9 && sol > 0.85, "{d}");
    let tok = d["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["mint"] == mint.as_str())
        .unwrap()
        .clone();
    assert_eq!(tok["balance"], json!(95.0), "{d}");
    let r = knot
        .get("/wallets/me/history?limit=1&action=transfer")
        .await;
    r.expect_status(200);
    let d = data(&r);
    assert_eq!(d["pagination"]["total"], 2, "{d}");
    assert_eq!(d["pagination"]["hasMore"], true, "{d}");
    assert_eq!(d["transactions"][0]["signature"], sig.as_str(), "{d}");
    assert_eq!(d["transactions"][0]["to"], b_addr.as_str(), "{d}");
    assert_eq!(d["transactions"][0]["asset"], "SOL", "{d}");
    assert_eq!(d["transactions"][0]["amount"], json!(0.1), "{d}");
    assert_eq!(d["transactions"][0]["status"], "confirmed", "{d}");
    let r = knot.get("/wallets/me/history?offset=1&limit=5").await;
    assert_eq!(
        data(&r)["transactions"][0]["asset"],
        mint.as_str(),
        "{}",
        r.text
    );
    assert_eq!(data(&r)["pagination"]["hasMore"], false, "{}", r.text);
    knot.get("/wallets/me/history?limit=101")
        .await
        .expect_status(400);
    knot.get("/health").await.expect_status(200);
    let r = knot.get("/capabilities").await;
    r.expect_status(200);
    assert_eq!(data(&r)["actions"]["transfer"]["allowedByPolicy"], true);
    assert!(data(&r)["tokens"]
        .as_array()
        .unwrap()
        .contains(&json!("USDC")));
    knot.get("/no/such/thing").await.expect_status(404);

    // --- The audit trail is Custos' own ----------------------------------------------------------
    let audit = srv.my_audit(&token).await;
    let entries: Vec<&Value> = audit.iter().map(|r| r.get("entry").unwrap_or(r)).collect();
    assert!(
        entries.iter().any(|e| e["action"] == "policy.tighten"),
        "the tightening is audited"
    );
    let denied = entries
        .iter()
        .filter(|e| e["action"] == "transfer" && e["outcome"] == "denied")
        .count();
    assert!(denied >= 2, "both denials are audited: {denied}");
    assert!(entries.iter().any(|e| e["tx"] == sig.as_str()));
    // A session whose token is replaced by a new login stops working, as on /v1.
    knot.login(email).await;
    let stale = Knot {
        srv: &srv,
        token: Some(token),
    };
    stale.get("/wallets/me/policy").await.expect_status(401);
    srv.stop();
}

#[tokio::test]
async fn knot_is_off_unless_configured_and_only_owners_sign_when_the_server_holds_no_owner_key() {
    // Off by default: the path is not there.
    let srv = Server::start().await;
    let r = srv.get("/knot/health", None).await;
    assert_eq!(r.status, 404, "{}", r.text);
    drop(srv);

    // On, but the owners keep their keys: a tightening must be signed by them.
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("owner.key");
    let out = custos_command()
        .args(["admin", "key", "generate", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|w| w.len() == 64 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .expect("the public key")
        .to_owned();
    let srv = Server::builder()
        .config(&format!(
            "[compat]\nknot = true\n[owners]\nbootstrap = false\nkeys = [\"{public}\"]\n"
        ))
        .start()
        .await;
    let mut knot = Knot {
        srv: &srv,
        token: None,
    };
    knot.login("owned@example.com").await;
    let r = knot
        .call(
            Method::PATCH,
            "/wallets/me/policy",
            Some(json!({"maxSingleTransactionInUsd": 1})),
            None,
        )
        .await;
    r.expect_status(403);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("custos policy sign"),
        "{}",
        r.text
    );
    let p = data(&knot.get("/wallets/me/policy").await)["policy"].clone();
    assert_eq!(p["maxSingleTransactionInUsd"], json!(25.0), "{p}");
    // An API key without `policy:tighten` may not even ask.
    let token = knot.token.clone().unwrap();
    let who = srv.get("/v1/wallets/me", Some(&token)).await.json()["agent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let op = srv.operator_token("operator");
    let r = srv
        .post(
            &format!("/v1/admin/agents/{who}/api-keys"),
            Some(&op),
            &json!({"scopes": ["policy:read"]}),
        )
        .await;
    r.expect_status(201);
    let reader = Knot {
        srv: &srv,
        token: Some(r.json()["api_key"].as_str().unwrap().to_owned()),
    };
    reader.get("/wallets/me/policy").await.expect_status(200);
    let r = reader
        .call(
            Method::PATCH,
            "/wallets/me/policy",
            Some(json!({"maxSingleTransactionInUsd": 1})),
            None,
        )
        .await;
    r.expect_status(403);
    assert_eq!(data(&r)["code"], "scope_missing", "{}", r.text);
}
