//! The agent's transaction status webhook: register, read, remove, and its delivery log (see
//! [`crate::webhooks`]). Every route needs `wallet:read`: a webhook only ever carries what the
//! agent could read itself.
use crate::audit_info::AuditInfo;
use crate::auth::AgentCtx;
use crate::error::ApiError;
use crate::extract::StrictJson;
use crate::routes::{Page, StrictQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use custos_core::{ApiScope, Webhook};
use rand::RngCore as _;
use serde::Deserialize;
use serde_json::json;

/// The body of `PUT /v1/wallets/me/webhook`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    /// Where events are posted: https (http only to a loopback address), on a host this
    /// server's `webhooks.allow_hosts` lists.
    #[schema(example = "https://hooks.example.com/custos")]
    pub url: String,
}

/// Registers (or replaces) the caller's webhook. The answer carries the signing secret, once:
/// registering again rotates it.
#[utoipa::path(put, path = "/v1/wallets/me/webhook", tag = "wallet", security(("bearer" = [])),
    request_body = WebhookBody,
    responses((status = 200, description = "`{url, secret, created_at_ms}`: `secret` (`whsec_…`) signs every delivery (`Custos-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>`) and is not shown again"), (status = 422, description = "`url` refused: not https, host not allowed, or webhooks off")))]
pub async fn put(
    State(state): State<AppState>,
    ctx: AgentCtx,
    StrictJson(body): StrictJson<WebhookBody>,
) -> Result<Response, ApiError> {
    ctx.require(ApiScope::WalletRead)?;
    let url = crate::webhooks::check_url(&state, &body.url)?;
    let mut id = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut id);
    let hook = Webhook {
        agent: ctx.agent.id,
        url: url.to_string(),
        key_id: hex::encode(id),
        created_at_ms: state.clock.now_ms(),
    };
    state.store.webhook_put(&hook).await?;
    let secret = crate::webhooks::secret(&state.webhook_root, hook.agent, &hook.key_id);
    let mut r = Json(
        json!({"url": hook.url, "secret": secret.expose(), "created_at_ms": hook.created_at_ms}),
    )
    .into_response();
    r.extensions_mut().insert(AuditInfo::with(
        "webhook.set",
        json!({"host": url.host_str()}),
    ));
    Ok(r)
}

/// The caller's webhook (without its secret).
#[utoipa::path(get, path = "/v1/wallets/me/webhook", tag = "wallet", security(("bearer" = [])),
    responses((status = 200, description = "`{url, created_at_ms}`"), (status = 404, description = "No webhook")))]
pub async fn get(State(state): State<AppState>, ctx: AgentCtx) -> Result<Response, ApiError> {
    ctx.require(ApiScope::WalletRead)?;
    let hook = state
        .store
        .webhook(ctx.agent.id)
        .await?
        .ok_or_else(|| ApiError::not_found("no webhook"))?;
    let mut r = Json(json!({"url": hook.url, "created_at_ms": hook.created_at_ms})).into_response();
    r.extensions_mut().insert(AuditInfo::action("webhook.get"));
    Ok(r)
}

/// Removes the caller's webhook; deliveries not yet made are dropped.
#[utoipa::path(delete, path = "/v1/wallets/me/webhook", tag = "wallet", security(("bearer" = [])),
    responses((status = 204, description = "Removed"), (status = 404, description = "No webhook")))]
pub async fn delete(State(state): State<AppState>, ctx: AgentCtx) -> Result<Response, ApiError> {
    ctx.require(ApiScope::WalletRead)?;
    if !state.store.webhook_delete(ctx.agent.id).await? {
        return Err(ApiError::not_found("no webhook"));
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.extensions_mut()
        .insert(AuditInfo::action("webhook.delete"));
    Ok(r)
}

/// The caller's deliveries, oldest first, after `after` (a delivery id): each with its event,
/// status (`pending`, `delivered`, `failed`), attempts, the last HTTP status or error, and when
/// the next attempt is due.
#[utoipa::path(get, path = "/v1/wallets/me/webhook/deliveries", tag = "wallet", security(("bearer" = [])),
    params(("limit" = Option<u32>, Query, description = "1-1000 (default 100)"), ("after" = Option<u64>, Query, description = "delivery id to continue after")),
    responses((status = 200, description = "`{deliveries: [{id, event_id, type, status, attempts, last_http_status, last_error, next_at_ms, created_at_ms, updated_at_ms}], next_after}`")))]
pub async fn deliveries(
    State(state): State<AppState>,
    ctx: AgentCtx,
    StrictQuery(page): StrictQuery<Page>,
) -> Result<Response, ApiError> {
    ctx.require(ApiScope::WalletRead)?;
    let limit = page.limit()?;
    let list = state
        .store
        .webhook_deliveries(ctx.agent.id, page.after()?, limit)
        .await?;
    let next = (list.len() == limit as usize)
        .then(|| list.last().map(|d| d.id))
        .flatten();
    let rows: Vec<_> = list
        .iter()
        .map(|d| {
            let kind = serde_json::from_str::<serde_json::Value>(&d.body)
                .ok()
                .and_then(|b| b.get("type").cloned());
            json!({"id": d.id, "event_id": format!("evt_{}", d.event_id), "type": kind,
                   "status": d.status, "attempts": d.attempts,
                   "last_http_status": d.last_http_status, "last_error": d.last_error,
                   "next_at_ms": (d.status == custos_core::DeliveryStatus::Pending).then_some(d.next_at_ms),
                   "created_at_ms": d.created_at_ms, "updated_at_ms": d.updated_at_ms})
        })
        .collect();
    let mut r = Json(json!({"deliveries": rows, "next_after": next})).into_response();
    r.extensions_mut()
        .insert(AuditInfo::action("webhook.deliveries"));
    Ok(r)
}
