//! `PATCH /v1/wallets/me/policy`: an agent tightens its own policy. A tightening needs one owner
//! signature and applies at once (SIGNERS.md); the agent holds no owner key, so the server can
//! carry the change only while its bootstrap owner key is one of the agent's owners — otherwise
//! the answer is `403` and the owners sign it (`custos policy sign`). Anything that loosens is
//! refused with `403` naming every loosened rule, whatever keys the server holds: loosening is
//! the owners' alone, and goes through `PUT /v1/admin/agents/{id}/policy`.
use crate::audit_info::AuditInfo;
use crate::auth::AgentCtx;
use crate::error::ApiError;
use crate::extract::StrictJson;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use custos_core::{ApiScope, PolicyApplied};
use custos_policy::PolicyDocument;
use serde_json::json;

/// Applies the sections the body names over the policy in force, if that only tightens.
#[utoipa::path(patch, path = "/v1/wallets/me/policy", tag = "wallet", security(("bearer" = [])),
    request_body(content = Object, content_type = "application/json", description = "Policy sections (API.md) that replace the ones in force; sections left out stay as they are", example = json!({"limits": {"per_tx_usd": "5", "daily_usd": "20", "max_tx_per_hour": 10}})),
    responses((status = 200, description = "The policy now in force (`x-policy-version`)"), (status = 403, description = "`forbidden`: the change loosens (`details.loosens` names each rule), or only the agent's owners can sign it"), (status = 422, description = "An invalid section, naming the field")))]
pub async fn tighten(
    State(state): State<AppState>,
    ctx: AgentCtx,
    StrictJson(body): StrictJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    ctx.require(ApiScope::PolicyTighten)?;
    let id = ctx.agent.id;
    let now = state.clock.now_ms();
    // The boundary's copy is the policy in force; the server's copy only mirrors it.
    let held = crate::owners::held(&state.custody, id).await?;
    let current: PolicyDocument = match &held {
        Some(env) => env.document.clone(),
        None => {
            let in_force = state.policy_of(&ctx.agent)?;
            PolicyDocument::clone(&in_force)
        }
    };
    let proposed = PolicyDocument::from_json_over(&body, &current)
        .map_err(|e| ApiError::invalid(e.field, e.message))?;
    let loosens = custos_policy::loosenings(&current, &proposed);
    if !loosens.is_empty() {
        return Err(ApiError {
            details: Some(json!({ "loosens": loosens })),
            ..ApiError::forbidden(format!(
                "an agent may only tighten its own policy; this change loosens {}: ask the \
                 agent's owners (PUT /v1/admin/agents/{id}/policy with an envelope they sign)",
                loosens.join("; ")
            ))
        });
    }
    let changes = custos_policy::changes(&current, &proposed);
    if !changes.is_empty() {
        let applied = match &held {
            Some(env) => {
                let next = state.owners.draft(env, &proposed, now).ok_or_else(|| {
                    ApiError::forbidden(
                        "this agent's policy is signed by its owners only, and the server holds \
                         none of their keys: ask them to sign the tightening (`custos policy sign`)",
                    )
                })?;
                crate::owners::submit(&state.custody, &next).await?
            }
            None => {
                state
                    .owners
                    .change(&state.custody, id, &proposed, now)
                    .await?
            }
        };
        if let PolicyApplied::Pending { .. } = applied {
            // The boundary runs the same `loosenings`: a tightening it holds back is a bug.
            return Err(ApiError::internal(
                "the custody boundary held back a change the server judged a tightening",
            ));
        }
    }
    let stored = serde_json::to_value(&proposed).map_err(ApiError::internal)?;
    let version = if changes.is_empty() {
        ctx.agent.policy_version
    } else {
        state
            .store
            .set_policy(id, stored.clone())
            .await?
            .ok_or_else(|| ApiError::not_found("no such agent"))?
    };
    let mut r = Json(&proposed).into_response();
    if let Ok(v) = version.to_string().parse() {
        r.headers_mut().insert("x-policy-version", v);
    }
    r.extensions_mut().insert(AuditInfo::with(
        "policy.tighten",
        json!({"changes": changes, "version": version}),
    ));
    Ok(r)
}
