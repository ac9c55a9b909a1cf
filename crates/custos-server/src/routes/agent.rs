//! What an agent may learn about its own standing: the credential it is using (and so which
//! scopes it has — an MCP client lists tools from it) and the approvals its actions wait on.
use crate::audit_info::AuditInfo;
use crate::auth::principal::Credential;
use crate::auth::AgentCtx;
use crate::error::ApiError;
use crate::routes::admin::{approval_id, approval_view};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use custos_core::ApiScope;
use serde_json::json;

/// The credential of this request: `{agent_id, credential: "session" | "api_key", key_id,
/// scopes}` (`scopes` null: every scope). Needs no scope: a key may always learn what it may do.
#[utoipa::path(get, path = "/v1/wallets/me/credential", tag = "wallet", security(("bearer" = [])), responses((status = 200, description = "`{agent_id, credential, key_id, scopes}`")))]
pub async fn credential(ctx: AgentCtx) -> Result<Response, ApiError> {
    let body = match &ctx.via {
        Credential::Session => json!({
            "agent_id": ctx.agent.id.to_string(), "credential": "session", "key_id": null, "scopes": null
        }),
        Credential::ApiKey { key_id, scopes } => json!({
            "agent_id": ctx.agent.id.to_string(), "credential": "api_key", "key_id": key_id,
            "scopes": scopes.as_ref().map(|s| s.names())
        }),
    };
    let mut r = Json(body).into_response();
    r.extensions_mut()
        .insert(AuditInfo::action("wallet.credential"));
    Ok(r)
}

/// One of the caller's own approvals (another agent's answers 404, as a missing one does);
/// `approvers` is a count.
#[utoipa::path(get, path = "/v1/wallets/me/approvals/{id}", tag = "wallet", security(("bearer" = [])), params(("id" = String, Path, description = "The `approval_id` of a `202 pending_approval` answer")), responses((status = 200, description = "`{approval_id, action, status, quorum, approvers, expires_at_ms, …}`"), (status = 404, description = "Not one of the caller's approvals")))]
pub async fn approval(
    State(state): State<AppState>,
    ctx: AgentCtx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    ctx.require(ApiScope::WalletRead)?;
    let id = approval_id(&id)?;
    let rec = state
        .store
        .approval(&id)
        .await?
        .filter(|a| a.agent == ctx.agent.id)
        .ok_or_else(|| ApiError::not_found("no such approval"))?;
    // Who approved is the operators' business: the agent sees how many, not who.
    let mut view = approval_view(&rec);
    view["approvers"] = json!(rec.approvers.len());
    view["rejected_by"] = json!(rec.rejected_by.as_ref().map(|_| "an operator"));
    view.as_object_mut().map(|m| m.remove("agent_id"));
    let mut r = Json(view).into_response();
    r.extensions_mut()
        .insert(AuditInfo::action("wallet.approval.get"));
    Ok(r)
}
