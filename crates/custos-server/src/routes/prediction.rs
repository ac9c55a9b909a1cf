//! The agent's Kalshi account: its RSA API key (generated inside the custody boundary; the
//! owner registers the public half with Kalshi) and signed reads of its balance, positions and
//! orders. Orders themselves are the `prediction` action (`POST /v1/wallets/me/actions/prediction`).
use super::StrictQuery;
use crate::actions::prediction::read;
use crate::auth::AgentCtx;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use custos_core::{ApiScope, KeyScheme};
use serde::Deserialize;
use serde_json::json;

/// The agent's Kalshi API key, created on first call inside the custody boundary (RSA-2048,
/// RSA-PSS-SHA256): the PEM public key for the owner to register with Kalshi ("create API key
/// with your own public key"), its fingerprint, and the Kalshi key id the policy names.
#[utoipa::path(post, path = "/v1/wallets/me/prediction/key", tag = "prediction", security(("bearer" = [])),
    responses((status = 200, description = "`{scheme, key_id, public_key_pem, fingerprint, kalshi_key_id}`"), (status = 403, description = "Frozen, or scope_missing"), (status = 422, description = "The custody back end holds no RSA keys (PKCS#11)")))]
pub async fn key(State(state): State<AppState>, ctx: AgentCtx) -> Result<Response, ApiError> {
    ctx.require(ApiScope::Prediction)?;
    if ctx.agent.frozen {
        return Err(crate::actions::frozen());
    }
    let info = state
        .custody
        .create_key(ctx.agent.id, KeyScheme::RsaPssSha256)
        .await?;
    let pem = custos_custody::rsa_key::public_pem(&info.public_key)?;
    let policy = state.policy_of(&ctx.agent)?;
    Ok(Json(json!({
        "scheme": KeyScheme::RsaPssSha256.as_str(),
        "key_id": info.key_id,
        "public_key_pem": pem,
        "fingerprint": info.address,
        "kalshi_key_id": policy.prediction.kalshi_key_id,
    }))
    .into_response())
}

/// The agent's Kalshi balance (cents, as Kalshi answers).
#[utoipa::path(get, path = "/v1/wallets/me/prediction/balance", tag = "prediction", security(("bearer" = [])),
    responses((status = 200, description = "Kalshi's `GetBalance` answer: `{balance, portfolio_value, updated_ts}`"), (status = 403, description = "policy_denied (`actions.prediction` off, frozen) or scope_missing"), (status = 422, description = "No Kalshi key yet, or `prediction.kalshi_key_id` unset; a bad query parameter"), (status = 502, description = "Kalshi refused the credentials or failed")))]
pub async fn balance(State(state): State<AppState>, ctx: AgentCtx) -> Result<Response, ApiError> {
    ctx.require(ApiScope::Prediction)?;
    Ok(Json(read(&state, &ctx.agent, "balance", &[]).await?).into_response())
}

/// Filters for positions and orders.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortfolioQuery {
    /// One market.
    #[serde(default)]
    pub ticker: Option<String>,
    /// One event.
    #[serde(default)]
    pub event_ticker: Option<String>,
    /// Orders only: `resting`, `canceled` or `executed`.
    #[serde(default)]
    pub status: Option<String>,
}

impl PortfolioQuery {
    fn pairs(&self, orders: bool) -> Result<Vec<(&'static str, String)>, ApiError> {
        let mut out = Vec::new();
        for (k, v) in [
            ("ticker", &self.ticker),
            ("event_ticker", &self.event_ticker),
        ] {
            if let Some(v) = v {
                let ok = !v.is_empty()
                    && v.len() <= 100
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
                if !ok {
                    return Err(ApiError::invalid(k, "a Kalshi ticker"));
                }
                out.push((k, v.clone()));
            }
        }
        match (&self.status, orders) {
            (None, _) => {}
            (Some(s), true) if matches!(s.as_str(), "resting" | "canceled" | "executed") => {
                out.push(("status", s.clone()));
            }
            (Some(_), true) => {
                return Err(ApiError::invalid("status", "resting, canceled or executed"))
            }
            (Some(_), false) => return Err(ApiError::invalid("status", "filters orders only")),
        }
        Ok(out)
    }
}

/// The agent's Kalshi positions.
#[utoipa::path(get, path = "/v1/wallets/me/prediction/positions", tag = "prediction", security(("bearer" = [])),
    params(("ticker" = Option<String>, Query,), ("event_ticker" = Option<String>, Query,)),
    responses((status = 200, description = "Kalshi's `GetPositions` answer: `{market_positions, event_positions, cursor}`"), (status = 403, description = "policy_denied (`actions.prediction` off, frozen) or scope_missing"), (status = 422, description = "No Kalshi key yet, or `prediction.kalshi_key_id` unset; a bad query parameter"), (status = 502, description = "Kalshi refused the credentials or failed")))]
pub async fn positions(
    State(state): State<AppState>,
    ctx: AgentCtx,
    StrictQuery(q): StrictQuery<PortfolioQuery>,
) -> Result<Response, ApiError> {
    ctx.require(ApiScope::Prediction)?;
    let pairs = q.pairs(false)?;
    Ok(Json(read(&state, &ctx.agent, "positions", &pairs).await?).into_response())
}

/// The agent's Kalshi orders.
#[utoipa::path(get, path = "/v1/wallets/me/prediction/orders", tag = "prediction", security(("bearer" = [])),
    params(("ticker" = Option<String>, Query,), ("event_ticker" = Option<String>, Query,), ("status" = Option<String>, Query,)),
    responses((status = 200, description = "Kalshi's `GetOrders` answer: `{orders, cursor}`"), (status = 403, description = "policy_denied (`actions.prediction` off, frozen) or scope_missing"), (status = 422, description = "No Kalshi key yet, or `prediction.kalshi_key_id` unset; a bad query parameter"), (status = 502, description = "Kalshi refused the credentials or failed")))]
pub async fn orders(
    State(state): State<AppState>,
    ctx: AgentCtx,
    StrictQuery(q): StrictQuery<PortfolioQuery>,
) -> Result<Response, ApiError> {
    ctx.require(ApiScope::Prediction)?;
    let pairs = q.pairs(true)?;
    Ok(Json(read(&state, &ctx.agent, "orders", &pairs).await?).into_response())
}
