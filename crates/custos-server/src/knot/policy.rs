//! Knot's policy: `GET /knot/wallets/me/policy` → `data.policy {maxSingleTransactionInUsd,
//! dailyLimitInUsd, allowedRecipients, allowTrading, allowLiquidityProvision,
//! allowPredictionMarkets, sessionExpirationHours}`, a view of the agent's Custos policy
//! document; and `PATCH` of the same fields, which becomes `PATCH /v1/wallets/me/policy` — in
//! Custos an agent may only **tighten** its own policy: a loosening answers `403` and names the
//! rules it would loosen, and the owners make it (owner-signed envelopes).
//!
//! Mapping: `maxSingleTransactionInUsd` ↔ `limits.per_tx_usd`, `dailyLimitInUsd` ↔
//! `limits.daily_usd`, `allowedRecipients` ↔ `recipients` (`[]` is Knot's "anyone": mode `any`;
//! a list is mode `allowlist` with it; the deny list is kept), `allowTrading` ↔
//! `actions.trade`, `allowLiquidityProvision` ↔ `actions.liquidity`, `allowPredictionMarkets` ↔
//! `actions.prediction`, `sessionExpirationHours` ↔ `session_expiration_hours`. The view adds
//! `recipientsMode` (`any` | `allowlist`), since an allowlist with nobody on it would otherwise
//! look like Knot's "anyone".
use super::{body, decimal, number, Call, Envelope, Knot};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;

/// A Custos policy document (JSON) as Knot's policy object.
pub fn knot_view(doc: &Value) -> Value {
    let mode = doc["recipients"]["mode"].as_str().unwrap_or("any");
    let allowed = if mode == "allowlist" {
        doc["recipients"]["allow"].clone()
    } else {
        json!([])
    };
    json!({
        "maxSingleTransactionInUsd": number(&doc["limits"]["per_tx_usd"]),
        "dailyLimitInUsd": number(&doc["limits"]["daily_usd"]),
        "allowedRecipients": allowed,
        "recipientsMode": mode,
        "allowTrading": doc["actions"]["trade"],
        "allowLiquidityProvision": doc["actions"]["liquidity"],
        "allowPredictionMarkets": doc["actions"]["prediction"],
        "sessionExpirationHours": doc["session_expiration_hours"],
    })
}

/// `PATCH /knot/wallets/me/policy` body: any of Knot's policy fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Update {
    max_single_transaction_in_usd: Option<Value>,
    daily_limit_in_usd: Option<Value>,
    allowed_recipients: Option<Vec<String>>,
    allow_trading: Option<bool>,
    allow_liquidity_provision: Option<bool>,
    allow_prediction_markets: Option<bool>,
    session_expiration_hours: Option<u32>,
}

impl Update {
    /// The Custos sections this update rewrites, built over `doc` (the policy in force) so
    /// that every field Knot does not name keeps its value.
    fn sections(&self, doc: &Value) -> Result<Value, crate::error::ApiError> {
        let mut out = serde_json::Map::new();
        if self.max_single_transaction_in_usd.is_some() || self.daily_limit_in_usd.is_some() {
            let mut limits = doc["limits"].clone();
            if let Some(v) = &self.max_single_transaction_in_usd {
                limits["per_tx_usd"] = json!(decimal("maxSingleTransactionInUsd", v)?);
            }
            if let Some(v) = &self.daily_limit_in_usd {
                limits["daily_usd"] = json!(decimal("dailyLimitInUsd", v)?);
            }
            out.insert("limits".into(), limits);
        }
        if let Some(list) = &self.allowed_recipients {
            let mode = if list.is_empty() { "any" } else { "allowlist" };
            out.insert(
                "recipients".into(),
                json!({"mode": mode, "allow": list, "deny": doc["recipients"]["deny"]}),
            );
        }
        if self.allow_trading.is_some()
            || self.allow_liquidity_provision.is_some()
            || self.allow_prediction_markets.is_some()
        {
            let mut actions = doc["actions"].clone();
            for (k, v) in [
                ("trade", self.allow_trading),
                ("liquidity", self.allow_liquidity_provision),
                ("prediction", self.allow_prediction_markets),
            ] {
                if let Some(v) = v {
                    actions[k] = json!(v);
                }
            }
            out.insert("actions".into(), actions);
        }
        if let Some(h) = self.session_expiration_hours {
            out.insert("session_expiration_hours".into(), json!(h));
        }
        Ok(Value::Object(out))
    }
}

/// The caller's policy, in Knot's shape.
pub async fn view(
    State(k): State<Knot>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    match k
        .expect_ok(
            peer,
            Call::new(Method::GET, "/v1/wallets/me/policy", &headers),
        )
        .await
    {
        Ok(r) => Envelope::ok(
            StatusCode::OK,
            "Policy retrieved.",
            json!({"policy": knot_view(&r.body)}),
        ),
        Err(e) => e,
    }
}

/// Changes the caller's policy — tightening only.
pub async fn update(
    State(k): State<Knot>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let upd: Update = match body(&raw) {
        Ok(u) => u,
        Err(e) => return Envelope::from_api_error(e),
    };
    let current = match k
        .expect_ok(
            peer,
            Call::new(Method::GET, "/v1/wallets/me/policy", &headers),
        )
        .await
    {
        Ok(r) => r.body,
        Err(e) => return e,
    };
    let sections = match upd.sections(&current) {
        Ok(s) => s,
        Err(e) => return Envelope::from_api_error(e),
    };
    let call = Call::new(Method::PATCH, "/v1/wallets/me/policy", &headers).json(sections);
    match k.expect_ok(peer, call).await {
        Ok(r) => Envelope::ok(
            StatusCode::OK,
            "Policy updated.",
            json!({"policy": knot_view(&r.body)}),
        ),
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn doc() -> Value {
        serde_json::to_value(custos_policy::PolicyDocument::default()).unwrap()
    }

    #[test]
    fn the_view_reads_every_knot_field_from_the_document() {
        let mut d = doc();
        d["limits"]["per_tx_usd"] = json!("12.5");
        d["recipients"] = json!({"mode": "allowlist", "allow": ["A"], "deny": []});
        d["actions"]["trade"] = json!(true);
        let v = knot_view(&d);
        assert_eq!(v["maxSingleTransactionInUsd"], json!(12.5));
        assert_eq!(v["allowedRecipients"], json!(["A"]));
        assert_eq!(v["recipientsMode"], "allowlist");
        assert_eq!(v["allowTrading"], true);
        assert_eq!(v["sessionExpirationHours"], d["session_expiration_hours"]);
    }

    #[test]
    fn an_update_rewrites_only_the_sections_it_names_and_keeps_their_other_fields() {
        let mut d = doc();
        d["recipients"]["deny"] = json!(["D"]);
        let u: Update = serde_json::from_value(
            json!({"maxSingleTransactionInUsd": 0.25, "allowedRecipients": ["R"]}),
        )
        .unwrap();
        let s = u.sections(&d).ok().unwrap();
        assert_eq!(s["limits"]["per_tx_usd"], "0.25");
        assert_eq!(s["limits"]["daily_usd"], d["limits"]["daily_usd"]);
        assert_eq!(
            s["limits"]["max_tx_per_hour"],
            d["limits"]["max_tx_per_hour"]
        );
        assert_eq!(
            s["recipients"],
            json!({"mode": "allowlist", "allow": ["R"], "deny": ["D"]})
        );
        assert!(s.get("actions").is_none() && s.get("session_expiration_hours").is_none());
        let any: Update = serde_json::from_value(json!({"allowedRecipients": []})).unwrap();
        assert_eq!(any.sections(&d).ok().unwrap()["recipients"]["mode"], "any");
    }
}
