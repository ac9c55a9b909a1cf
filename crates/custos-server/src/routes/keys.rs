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

/// Schemes an agent has, and the `addresses` entry each one backs (none for the Kalshi key,
/// which exists once the agent asked for it: `POST /v1/wallets/me/prediction/key`).
const SCHEMES: [(KeyScheme, Option<&str>); 3] = [
    (KeyScheme::Ed25519, Some("solana")),
    (KeyScheme::Secp256k1Ecdsa, Some("evm")),
    (KeyScheme::RsaPssSha256, None),
];

const DAY_MS: i64 = 86_400_000;

/// A key's age in whole days at `now_ms`.
fn age_days(k: &PublicKeyInfo, now_ms: i64) -> i64 {
    (now_ms - k.created_at_ms).max(0) / DAY_MS
}

/// Whether `k` is due for rotation at `now_ms` (`custody.rotation_due_days`).
fn due(k: &PublicKeyInfo, now_ms: i64, due_days: u32) -> bool {
    age_days(k, now_ms) >= i64::from(due_days)
}

fn key_view(state: &AppState, k: &PublicKeyInfo) -> serde_json::Value {
    let now = state.clock.now_ms();
    json!({"key_id": k.key_id, "scheme": k.scheme.as_str(), "address": k.address, "public_key": hex::encode(&k.public_key),
           "created_at_ms": k.created_at_ms, "status": k.status, "age_days": age_days(k, now),
           "rotation_due": due(k, now, state.cfg.custody.rotation_due_days)})
}

/// Counts the agents' active keys due for rotation into `custos_keys_rotation_due` (what
/// `docs/prometheus-alerts.yml` alerts on) and raises a `rotation_due` alert for each (once per
/// key: `crate::alerts`), a page of agents at a time. Run at start and hourly.
pub async fn measure_rotation_due(state: &AppState) -> Result<u64, ApiError> {
    const PAGE: u32 = 200;
    let (now, days) = (state.clock.now_ms(), state.cfg.custody.rotation_due_days);
    let (mut count, mut after) = (0u64, None);
    loop {
        let page = state.store.list_agents(PAGE, after).await?;
        for a in &page {
            for (scheme, _) in SCHEMES {
                let Some(k) = state.custody.public_key(a.id, scheme).await? else {
                    continue;
                };
                if due(&k, now, days) {
                    count += 1;
                    state
                        .alerts
                        .raise(
                            &state.cfg.alerts,
                            crate::alerts::Raised {
                                rule: "rotation_due",
                                key: format!("rotation_due:{}:{}", a.id, k.key_id),
                                summary: format!(
                                    "agent {}'s {} key is {} days old: rotation is due",
                                    a.id,
                                    scheme.as_str(),
                                    age_days(&k, now)
                                ),
                                data: json!({"agent_id": a.id, "scheme": scheme.as_str(), "key_id": k.key_id,
                                             "address": k.address, "age_days": age_days(&k, now), "due_days": days}),
                                at_ms: now,
                            },
                        )
                        .await;
                }
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => after = Some(last.id),
            _ => break,
        }
    }
    state
        .metrics
        .keys_rotation_due
        .set(i64::try_from(count).unwrap_or(i64::MAX));
    Ok(count)
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
    params(("scheme" = String, Path, description = "`ed25519`, `secp256k1_ecdsa` or `rsa_pss_sha256` (the Kalshi key: register the new public key with Kalshi and update `prediction.kalshi_key_id`)")),
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
        .ok_or_else(|| {
            ApiError::invalid(
                "scheme",
                "must be `ed25519`, `secp256k1_ecdsa` or `rsa_pss_sha256`",
            )
        })?;
    let previous = match family {
        Some(f) => agent.addresses.get(f).cloned(),
        None => state
            .custody
            .public_key(agent.id, scheme)
            .await?
            .map(|k| json!(k.address)),
    }
    .unwrap_or(serde_json::Value::Null);
    let key = state.custody.rotate(agent.id, scheme).await?;
    if let Some(family) = family {
        let mut addresses = agent.addresses.clone();
        if let Some(m) = addresses.as_object_mut() {
            m.insert(family.into(), json!(key.address));
        }
        if !state.store.set_addresses(agent.id, addresses).await? {
            return Err(ApiError::not_found("no such agent"));
        }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_key_is_due_from_its_due_day_on() {
        let k = PublicKeyInfo {
            key_id: "k".into(),
            scheme: KeyScheme::Ed25519,
            public_key: vec![],
            address: String::new(),
            created_at_ms: 1_000,
            status: custos_core::KeyStatus::Active,
        };
        assert!(!due(&k, 1_000 + 90 * DAY_MS - 1, 90));
        assert!(due(&k, 1_000 + 90 * DAY_MS, 90));
        assert_eq!(
            age_days(&k, 0),
            0,
            "a clock behind the key's birth is age 0"
        );
        assert!(due(&k, 1_000 + DAY_MS, 1));
    }
}
