//! Unauthenticated system endpoints: health, metrics, the OpenAPI document, attestation.
use crate::error::ApiError;
use crate::routes::StrictQuery;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

/// Liveness: the store and the custody boundary answer.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, description = "`{\"status\":\"ok\"}`, or `degraded` with `rate_limit` saying the shared limiter is down and requests are admitted unlimited (`rate_limit.redis_fail_open`)"), (status = 503, description = "A dependency is down (the message names it)")))]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    state.store.health().await?;
    state.custody.health().await?;
    match state.limits.health().await {
        None | Some(Ok(())) => Ok(Json(serde_json::json!({"status": "ok"}))),
        Some(Err(down)) if state.limits.fails_open() => Ok(Json(serde_json::json!({
            "status": "degraded",
            "rate_limit": format!("redis unreachable ({}): requests are admitted without rate limits", down.0),
        }))),
        Some(Err(down)) => Err(ApiError::unavailable(format!(
            "rate limiter (redis) unreachable ({}): requests are refused until it is back",
            down.0
        ))),
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "system", responses((status = 200, description = "Prometheus text format")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// This API's OpenAPI document.
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::document())
}

/// This API described for an agent's model to read (Markdown), generated from the OpenAPI
/// document and the MCP tool catalogue.
#[utoipa::path(get, path = "/skill.md", tag = "system", responses((status = 200, description = "Markdown", content_type = "text/markdown")))]
pub async fn skill(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
        state
            .skill_md
            .get_or_init(|| crate::skill::render(&state.cfg))
            .clone(),
    )
        .into_response()
}

/// `GET /v1/attestation` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationQuery {
    /// Hex nonce, 1–64 bytes, echoed in the signed document.
    pub nonce: String,
}

/// The custody boundary's attestation document bound to the caller's nonce.
#[utoipa::path(get, path = "/v1/attestation", tag = "system", params(("nonce" = String, Query, description = "hex, 1-64 bytes")), responses((status = 200, description = "Attestation document")))]
pub async fn attestation(
    State(state): State<AppState>,
    StrictQuery(q): StrictQuery<AttestationQuery>,
) -> Result<Response, ApiError> {
    let nonce = hex::decode(&q.nonce).map_err(|_| ApiError::invalid("nonce", "must be hex"))?;
    if nonce.is_empty() || nonce.len() > 64 {
        return Err(ApiError::invalid("nonce", "must be 1 to 64 bytes"));
    }
    Ok(Json(state.custody.attestation(&nonce).await?).into_response())
}
