//! Agent keys for operators: list the active key of each scheme with its age and whether
//! rotation is due (`custody.rotation_due_days`, default 90), and rotate one. Rotation happens
//! inside the boundary: a new key becomes active, the old one stays usable for receiving and
//! sweeping only for the boundary's grace period (30 days by default), and the agent's public
//! address for that chain family changes to the new key's.
use crate::auth::OperatorCtx;
use crate::error::ApiError;
use crate::routes::admin::{agent_id, audited, load};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use custos_core::{KeyScheme, OperatorRole, PublicKeyInfo};
use serde_json::json;

/// Schemes an agent has, and the `addresses` entry each one backs.
const SCHEMES: [(KeyScheme, &str); 2] = [
    (KeyScheme::Ed25519, "solana"),
    (KeyScheme::Secp256k1Ecdsa, "evm"),
];

const DAY_MS: i64 = 86_400_000;

fn key_view(state: &AppState, k: &PublicKeyInfo) -> serde_json::Value {
    let age_days = (state.clock.now_ms() - k.created_at_ms).max(0) / DAY_MS;
    json!({"key_id": k.key_id, "scheme": k.scheme.as_str(), "address": k.address, "public_key": hex::encode(&k.public_key),
           "created_at_ms": k.created_at_ms, "status": k.status, "age_days": age_days,
           "rotation_due": age_days >= i64::from(state.cfg.custody.rotation_due_days)})
}

/// The agent's active keys, with rotation due dates.
#[utoipa::path(get, path = "/v1/admin/agents/{id}/keys", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "`{keys: [{key_id, scheme, address, created_at_ms, age_days, rotation_due, status}]}`")))]
pub async fn list(
    State(state): State<AppState>,
    op: OperatorCtx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Viewer)?;
    let agent = load(&state, agent_id(&id)?).await?;
    let mut keys = vec![];
    for (scheme, _) in SCHEMES {
        if let Some(k) = state.custody.public_key(agent.id, scheme).await? {
            keys.push(key_view(&state, &k));
        }
    }
    Ok(audited(
        Json(json!({"keys": keys})).into_response(),
        "admin.keys.list",
        Some(agent.id),
        json!({}),
    ))
}

/// Rotates one of the agent's keys (admin).
#[utoipa::path(post, path = "/v1/admin/agents/{id}/keys/{scheme}/rotate", tag = "admin", security(("bearer" = [])),
    params(("scheme" = String, Path, description = "`ed25519` or `secp256k1_ecdsa`")),
    responses((status = 200, description = "`{key: {...}, previous_address}`"), (status = 422, description = "Unknown scheme")))]
pub async fn rotate(
    State(state): State<AppState>,
    op: OperatorCtx,
    Path((id, scheme)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Admin)?;
    let agent = load(&state, agent_id(&id)?).await?;
    let (scheme, family) = SCHEMES
        .into_iter()
        .find(|(s, _)| s.as_str() == scheme)
        .ok_or_else(|| ApiError::invalid("scheme", "must be `ed25519` or `secp256k1_ecdsa`"))?;
    let previous = agent
        .addresses
        .get(family)
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let key = state.custody.rotate(agent.id, scheme).await?;
    let mut addresses = agent.addresses.clone();
    if let Some(m) = addresses.as_object_mut() {
        m.insert(family.into(), json!(key.address));
    }
    if !state.store.set_addresses(agent.id, addresses).await? {
        return Err(ApiError::not_found("no such agent"));
    }
    tracing::info!(agent = %agent.id, scheme = scheme.as_str(), key_id = %key.key_id, "key rotated");
    let body = json!({"key": key_view(&state, &key), "previous_address": previous});
    Ok(audited(
        Json(body).into_response(),
        "admin.keys.rotate",
        Some(agent.id),
        json!({"scheme": scheme.as_str(), "key_id": key.key_id}),
    ))
}
