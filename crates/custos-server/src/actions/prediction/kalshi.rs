//! The Kalshi Trade API v2 client (`[kalshi] url`): every request is signed by the agent's RSA
//! key inside the custody boundary, for a request the policy's prediction rules approved, and
//! sent with Kalshi's `KALSHI-ACCESS-KEY` / `-TIMESTAMP` / `-SIGNATURE` headers.
//!
//! Kalshi's signature covers `timestamp + METHOD + path`, not the body: what binds an order's
//! body to what the policy judged is that this server builds the body from the very
//! [`KalshiOrder`] the boundary judged, sends it at once (the boundary refuses a timestamp more
//! than [`custos_core::prediction::KALSHI_MAX_SKEW_MS`] from its clock) and never hands the
//! signature out. `docs/THREAT_MODEL.md` says what that does not cover.
use crate::error::ApiError;
use crate::state::AppState;
use custos_core::prediction::{KalshiMethod, KalshiOrder, OutcomeSide, KALSHI_API_PREFIX};
use custos_core::{Agent, CustodyError, KalshiRequest, KeyScheme};
use custos_policy::PolicyDocument;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;

/// Kalshi's production Trade API v2.
pub const KALSHI_URL: &str = "https://api.elections.kalshi.com/trade-api/v2";
/// The largest answer read from Kalshi.
const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// `[kalshi]`: where the Trade API v2 is.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KalshiSettings {
    /// The API's base URL, ending in `/trade-api/v2` (default: Kalshi's production API; the
    /// demo environment is `https://demo-api.kalshi.co/trade-api/v2`).
    pub url: String,
    /// Seconds one request may take.
    pub timeout_seconds: u64,
}

impl Default for KalshiSettings {
    fn default() -> Self {
        Self {
            url: KALSHI_URL.into(),
            timeout_seconds: 10,
        }
    }
}

impl KalshiSettings {
    /// Checks the URL and timeout: `(key, reason)` of the first problem.
    pub fn validate(&self) -> Result<(), (String, String)> {
        match reqwest::Url::parse(&self.url) {
            Ok(u)
                if matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some()
                    && u.query().is_none()
                    && u.path().trim_end_matches('/').ends_with(KALSHI_API_PREFIX) => {}
            _ => {
                return Err((
                    "kalshi.url".into(),
                    format!(
                        "{:?} is not an http(s) URL ending in {KALSHI_API_PREFIX}",
                        self.url
                    ),
                ))
            }
        }
        if !(1..=120).contains(&self.timeout_seconds) {
            return Err((
                "kalshi.timeout_seconds".into(),
                "must be between 1 and 120".into(),
            ));
        }
        Ok(())
    }
}

/// What Kalshi answered to a request that reached it.
pub struct Answer {
    /// The HTTP status.
    pub status: reqwest::StatusCode,
    /// The JSON body.
    pub body: Value,
}

/// Why a request got no usable answer.
pub enum Failure {
    /// Refused before anything was sent (policy, boundary, configuration): nothing reached
    /// Kalshi.
    NotSent(ApiError),
    /// Sent, but the outcome is unknown (timeout, connection dropped, unreadable answer).
    Unknown(ApiError),
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::NotSent(e) | Failure::Unknown(e) => e,
        }
    }
}

/// Signs `method path` (path after `/trade-api/v2`, e.g. `/portfolio/balance`) for `agent`
/// inside the boundary and sends it, with `query` and, for a new order, the order's body.
pub async fn send(
    state: &AppState,
    agent: &Agent,
    policy: &PolicyDocument,
    method: KalshiMethod,
    path: &str,
    query: &[(&str, String)],
    order: Option<KalshiOrder>,
) -> Result<Answer, Failure> {
    let key_id = policy.prediction.kalshi_key_id.clone().ok_or_else(|| {
        Failure::NotSent(ApiError::invalid(
            "prediction.kalshi_key_id",
            "no Kalshi API key is registered for this agent: its owner uploads the public key from POST /v1/wallets/me/prediction/key to Kalshi and sets prediction.kalshi_key_id in the policy",
        ))
    })?;
    let cfg = &state.cfg.kalshi;
    let base = reqwest::Url::parse(&cfg.url)
        .map_err(|e| Failure::NotSent(ApiError::internal(format!("kalshi.url: {e}"))))?;
    let signed_path = format!("{}{path}", base.path().trim_end_matches('/'));
    let body = order.as_ref().map(order_body);
    let request = KalshiRequest {
        timestamp_ms: state.clock.now_ms(),
        method,
        path: signed_path.clone(),
        order,
    };
    let approved = custos_policy::prediction::approve(policy, request)
        .map_err(|r| Failure::NotSent(crate::actions::denied(&r)))?;
    let signature = state
        .custody
        .sign_kalshi(&approved, agent.id)
        .await
        .map_err(|e| Failure::NotSent(custody_error(e)))?;
    use base64::Engine as _;
    let sig_b64 = base64::engine::general_purpose::STANDARD.encode(&signature.bytes);
    let mut url = base.clone();
    url.set_path(&signed_path);
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(cfg.timeout_seconds))
        .build()
        .map_err(|e| Failure::NotSent(ApiError::internal(e)))?;
    let http_method = match method {
        KalshiMethod::Get => reqwest::Method::GET,
        KalshiMethod::Post => reqwest::Method::POST,
        KalshiMethod::Delete => reqwest::Method::DELETE,
    };
    let mut req = client
        .request(http_method, url)
        .header("KALSHI-ACCESS-KEY", key_id)
        .header(
            "KALSHI-ACCESS-TIMESTAMP",
            approved.get().timestamp_ms.to_string(),
        )
        .header("KALSHI-ACCESS-SIGNATURE", sig_b64);
    if !query.is_empty() {
        req = req.query(query);
    }
    if let Some(b) = &body {
        req = req.json(b);
    }
    let unknown = |m: String| Failure::Unknown(ApiError::upstream(format!("Kalshi: {m}")));
    let r = req.send().await.map_err(|e| {
        if e.is_connect() {
            Failure::NotSent(ApiError::upstream(format!("Kalshi: unreachable: {e}")))
        } else {
            unknown(e.to_string())
        }
    })?;
    let status = r.status();
    let bytes = r.bytes().await.map_err(|e| unknown(e.to_string()))?;
    if bytes.len() > MAX_ANSWER {
        return Err(unknown(format!("answer over {MAX_ANSWER} bytes")));
    }
    let body: Value = serde_json::from_slice(&bytes)
        .map_err(|_| unknown(format!("answered HTTP {status} without JSON")))?;
    Ok(Answer { status, body })
}

/// The legacy `CreateOrder` body for `order`: a limit buy of one outcome at its price in cents.
fn order_body(order: &KalshiOrder) -> Value {
    let price_key = match order.side {
        OutcomeSide::Yes => "yes_price",
        OutcomeSide::No => "no_price",
    };
    let mut b = json!({
        "ticker": order.ticker,
        "side": order.side.as_str(),
        "action": "buy",
        "type": "limit",
        "count": order.count,
        "client_order_id": order.client_order_id,
    });
    b[price_key] = json!(order.price_cents);
    b
}

/// Kalshi's error message, from `{"error": {"code", "message", "details"}}`.
pub fn error_message(body: &Value) -> String {
    let e = &body["error"];
    let code = e["code"].as_str().unwrap_or("error");
    let msg = e["message"].as_str().unwrap_or("no reason given");
    match e["details"].as_str().filter(|d| !d.is_empty()) {
        Some(d) => format!("{code}: {msg} ({d})"),
        None => format!("{code}: {msg}"),
    }
}

/// A refusal by Kalshi as an API error: its 4xx about the request name `field`; a credential
/// refusal (401/403) and everything else are the upstream's.
pub fn refused(answer: &Answer, field: &str) -> ApiError {
    let why = error_message(&answer.body);
    match answer.status.as_u16() {
        401 | 403 => ApiError::upstream(format!(
            "Kalshi refused this agent's API credentials (is the public key registered under prediction.kalshi_key_id?): {why}"
        )),
        404 => ApiError::not_found(format!("Kalshi: {why}")),
        400..=499 => ApiError::invalid(field, format!("Kalshi refused it: {why}")),
        s => ApiError::upstream(format!("Kalshi: HTTP {s}: {why}")),
    }
}

/// A boundary error: no RSA key yet is the agent's to fix, not ours.
fn custody_error(e: CustodyError) -> ApiError {
    match e {
        CustodyError::NoKey {
            scheme: KeyScheme::RsaPssSha256,
            ..
        } => ApiError::invalid(
            "prediction.kalshi_key_id",
            "this agent has no Kalshi key yet: POST /v1/wallets/me/prediction/key creates it",
        ),
        other => other.into(),
    }
}
