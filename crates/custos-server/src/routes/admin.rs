//! Operator endpoints: agents, policies, freezes, API keys and the audit log. Viewers read;
//! operators also freeze and manage API keys; admins also set policies.
use crate::audit_info::AuditInfo;
use crate::auth::tokens;
use crate::auth::OperatorCtx;
use crate::error::ApiError;
use crate::routes::{Page, StrictQuery};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use custos_core::{Agent, AgentId, ApiKeyRecord, OperatorRole, Scopes};
use serde::Deserialize;
use serde_json::json;

pub(crate) fn agent_id(raw: &str) -> Result<AgentId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::invalid("agent_id", "not a valid agent id (UUID)"))
}

pub(crate) async fn load(state: &AppState, id: AgentId) -> Result<Agent, ApiError> {
    state
        .store
        .agent(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such agent"))
}

fn view(a: &Agent) -> serde_json::Value {
    json!({"agent_id": a.id, "email": a.email, "addresses": a.addresses, "frozen": a.frozen, "policy_version": a.policy_version, "created_at_ms": a.created_at_ms})
}

pub(crate) fn audited(
    mut r: Response,
    action: &str,
    subject: Option<AgentId>,
    params: serde_json::Value,
) -> Response {
    r.extensions_mut().insert(AuditInfo {
        action: action.into(),
        params: Some(params),
        subject,
        ..AuditInfo::default()
    });
    r
}

/// `GET /v1/admin/agents` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentsQuery {
    /// At most this many.
    #[serde(default, deserialize_with = "crate::routes::num::opt_u64")]
    pub limit: Option<u64>,
    /// After this agent id.
    #[serde(default)]
    pub after: Option<String>,
}

/// Lists agents.
#[utoipa::path(get, path = "/v1/admin/agents", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "Agents")))]
pub async fn list_agents(
    State(state): State<AppState>,
    op: OperatorCtx,
    StrictQuery(q): StrictQuery<AgentsQuery>,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Viewer)?;
    let limit = Page {
        limit: q.limit,
        after: None,
    }
    .limit()?;
    let after = q
        .after
        .as_deref()
        .map(agent_id)
        .transpose()
        .map_err(|e| e.with_field("after"))?;
    let agents = state.store.list_agents(limit, after).await?;
    Ok(audited(
        Json(json!({"agents": agents.iter().map(view).collect::<Vec<_>>()})).into_response(),
        "admin.agents.list",
        None,
        json!({}),
    ))
}

/// One agent.
#[utoipa::path(get, path = "/v1/admin/agents/{id}", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "Agent"), (status = 404, description = "No such agent")))]
pub async fn get_agent(
    State(state): State<AppState>,
    op: OperatorCtx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Viewer)?;
    let a = load(&state, agent_id(&id)?).await?;
    let keys = state.store.list_api_keys(a.id).await?;
    let mut v = view(&a);
    v["api_keys"] = api_keys_view(&keys);
    Ok(audited(
        Json(v).into_response(),
        "admin.agents.get",
        Some(a.id),
        json!({}),
    ))
}

async fn set_frozen(
    state: AppState,
    op: OperatorCtx,
    id: String,
    frozen: bool,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Operator)?;
    let id = agent_id(&id)?;
    if state.store.agent(id).await?.is_none() {
        return Err(ApiError::not_found("no such agent"));
    }
    // The boundary first: a freeze there holds even if the database write below fails, and an
    // unfreeze there alone still leaves the server refusing (safe either way).
    state
        .custody
        .set_frozen(custos_core::FreezeTarget::Agent(id), frozen)
        .await?;
    if !state.store.set_frozen(id, frozen).await? {
        return Err(ApiError::not_found("no such agent"));
    }
    let action = if frozen {
        "admin.agent.freeze"
    } else {
        "admin.agent.unfreeze"
    };
    tracing::warn!(agent = %id, frozen, "agent freeze state changed");
    Ok(audited(
        Json(json!({"agent_id": id, "frozen": frozen})).into_response(),
        action,
        Some(id),
        json!({}),
    ))
}

/// Freezes an agent: every action is refused until unfrozen.
#[utoipa::path(post, path = "/v1/admin/agents/{id}/freeze", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "Frozen")))]
pub async fn freeze(
    State(state): State<AppState>,
    op: OperatorCtx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    set_frozen(state, op, id, true).await
}

/// Unfreezes an agent.
#[utoipa::path(post, path = "/v1/admin/agents/{id}/unfreeze", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "Unfrozen")))]
pub async fn unfreeze(
    State(state): State<AppState>,
    op: OperatorCtx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    set_frozen(state, op, id, false).await
}

/// Body of `POST /v1/admin/kill-switch`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KillSwitchBody {
    /// `true` freezes every agent, present and future, in the custody boundary itself; `false`
    /// lifts that (agents frozen one by one stay frozen).
    pub engaged: bool,
}

/// The kill switch: every agent frozen at once, in the custody boundary itself (it then signs
/// nothing for any agent, whatever the server asks), until lifted. Admin only.
#[utoipa::path(post, path = "/v1/admin/kill-switch", tag = "admin", security(("bearer" = [])), request_body = KillSwitchBody,
    responses((status = 200, description = "`{engaged, frozen_agents}`: what the boundary now holds"), (status = 403, description = "Not an admin"), (status = 422, description = "Invalid body"), (status = 503, description = "The custody boundary is unavailable: nothing changed")))]
pub async fn set_kill_switch(
    State(state): State<AppState>,
    op: OperatorCtx,
    crate::extract::JsonBytes(body): crate::extract::JsonBytes,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Admin)?;
    let req: KillSwitchBody = crate::extract::parse_json(&body)?;
    let held = state
        .custody
        .set_frozen(custos_core::FreezeTarget::All, req.engaged)
        .await?;
    tracing::warn!(engaged = req.engaged, "kill switch changed");
    Ok(audited(
        Json(kill_switch_view(&held)).into_response(),
        if req.engaged {
            "admin.kill_switch.engage"
        } else {
            "admin.kill_switch.release"
        },
        None,
        json!({"engaged": req.engaged}),
    ))
}

/// What the custody boundary holds frozen: the kill switch and the agents frozen one by one.
#[utoipa::path(get, path = "/v1/admin/kill-switch", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "`{engaged, frozen_agents}`"), (status = 503, description = "The custody boundary is unavailable")))]
pub async fn kill_switch(
    State(state): State<AppState>,
    op: OperatorCtx,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Viewer)?;
    let held = state.custody.frozen().await?;
    Ok(audited(
        Json(kill_switch_view(&held)).into_response(),
        "admin.kill_switch.get",
        None,
        json!({}),
    ))
}

fn kill_switch_view(held: &custos_core::FreezeState) -> serde_json::Value {
    json!({"engaged": held.all, "frozen_agents": held.agents})
}

/// Body of `POST /v1/admin/agents/{id}/api-keys` (optional: no body, a key with every scope).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// What the key may do (`wallet:read`, `policy:read`, `audit:read`, `transfer`, `trade`,
    /// `sign`, `sign:message`, `liquidity`, `prediction`); absent: every scope.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub scopes: Option<Vec<String>>,
}

/// Creates an API key for an agent, optionally limited to some scopes; the key is shown once.
#[utoipa::path(post, path = "/v1/admin/agents/{id}/api-keys", tag = "admin", security(("bearer" = [])), request_body(content = Option<NewApiKey>, description = "Optional: `{scopes: [...]}`"), responses((status = 201, description = "`{api_key, key_id, scopes}` (`scopes` null: every scope)"), (status = 422, description = "An unknown or empty scope list")))]
pub async fn create_api_key(
    State(state): State<AppState>,
    op: OperatorCtx,
    Path(id): Path<String>,
    req: axum::extract::Request,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Operator)?;
    let body = crate::extract::read_body(req).await?;
    let new: NewApiKey = if body.iter().all(u8::is_ascii_whitespace) {
        NewApiKey::default()
    } else {
        crate::extract::parse_json(&body)?
    };
    let scopes = new
        .scopes
        .as_deref()
        .map(Scopes::parse)
        .transpose()
        .map_err(|e| ApiError::invalid("scopes", e.to_string()))?;
    let a = load(&state, agent_id(&id)?).await?;
    let minted = tokens::mint(tokens::API_KEY_PREFIX);
    state
        .store
        .create_api_key(ApiKeyRecord {
            key_id: minted.id.clone(),
            agent_id: a.id,
            key_hash: minted.hash,
            created_at_ms: state.clock.now_ms(),
            revoked_at_ms: None,
            scopes: scopes.clone(),
        })
        .await?;
    let names = scopes.as_ref().map(Scopes::names);
    let r = (
        StatusCode::CREATED,
        Json(json!({"api_key": minted.secret.expose(), "key_id": minted.id, "scopes": names})),
    )
        .into_response();
    Ok(audited(
        r,
        "admin.api_key.create",
        Some(a.id),
        json!({"key_id": minted.id, "scopes": names}),
    ))
}

/// An agent's API keys (ids and dates; the keys themselves are never shown again).
#[utoipa::path(get, path = "/v1/admin/agents/{id}/api-keys", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "`{api_keys: [{key_id, created_at_ms, revoked_at_ms, scopes}]}`"), (status = 404, description = "No such agent")))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    op: OperatorCtx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Viewer)?;
    let a = load(&state, agent_id(&id)?).await?;
    let keys = state.store.list_api_keys(a.id).await?;
    Ok(audited(
        Json(json!({"api_keys": api_keys_view(&keys)})).into_response(),
        "admin.api_key.list",
        Some(a.id),
        json!({}),
    ))
}

fn api_keys_view(keys: &[ApiKeyRecord]) -> serde_json::Value {
    json!(keys
        .iter()
        .map(|k| json!({"key_id": k.key_id, "created_at_ms": k.created_at_ms, "revoked_at_ms": k.revoked_at_ms, "scopes": k.scopes.as_ref().map(Scopes::names)}))
        .collect::<Vec<_>>())
}

/// Revokes an API key.
#[utoipa::path(delete, path = "/v1/admin/agents/{id}/api-keys/{key_id}", tag = "admin", security(("bearer" = [])), responses((status = 204, description = "Revoked"), (status = 404, description = "No such live key")))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    op: OperatorCtx,
    Path((id, key_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Operator)?;
    let id = agent_id(&id)?;
    if key_id.is_empty() || key_id.len() > 64 || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::invalid("key_id", "not a key id"));
    }
    if !state
        .store
        .revoke_api_key(id, &key_id, state.clock.now_ms())
        .await?
    {
        return Err(ApiError::not_found("no such live API key"));
    }
    Ok(audited(
        StatusCode::NO_CONTENT.into_response(),
        "admin.api_key.revoke",
        Some(id),
        json!({"key_id": key_id}),
    ))
}

/// `GET /v1/admin/audit` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only this agent.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// At most this many.
    #[serde(default, deserialize_with = "crate::routes::num::opt_u64")]
    pub limit: Option<u64>,
    /// After this record id.
    #[serde(default, deserialize_with = "crate::routes::num::opt_u64")]
    pub after: Option<u64>,
}

/// Audit records.
#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "Records")))]
pub async fn audit(
    State(state): State<AppState>,
    op: OperatorCtx,
    StrictQuery(q): StrictQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Viewer)?;
    let agent = q
        .agent_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(agent_id)
        .transpose()?;
    let page = Page {
        limit: q.limit,
        after: q.after,
    };
    let recs = state
        .store
        .audit_page(agent, page.after()?, page.limit()?)
        .await?;
    Ok(audited(
        Json(json!({"records": recs})).into_response(),
        "admin.audit.list",
        agent,
        json!({}),
    ))
}

/// Verifies the whole audit chain and its signed checkpoints.
#[utoipa::path(get, path = "/v1/admin/audit/verify", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "`{ok, records}` or `{ok:false, broken_at, reason}`")))]
pub async fn audit_verify(
    State(state): State<AppState>,
    op: OperatorCtx,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Viewer)?;
    // The running boundary's own identity key is the one every checkpoint must carry: a log
    // re-signed with any other key is broken, whatever the database says.
    let identity = state.custody.attestation(b"audit-verify").await?.public_key;
    let out =
        crate::audit::verify_with_trust(&*state.store, crate::audit::Trust::Key(&identity), |cp| {
            custos_custody::verify_checkpoint(cp).is_ok()
        })
        .await?;
    let body = match out {
        Ok(rep) => json!({"ok": true, "records": rep.records, "checkpoints": rep.checkpoints}),
        Err(b) => json!({"ok": false, "broken_at": b.id, "reason": b.reason}),
    };
    Ok(audited(
        Json(body).into_response(),
        "admin.audit.verify",
        None,
        json!({}),
    ))
}

/// The signed audit checkpoints (the boundary's signatures over chain heads), so a client can
/// verify an exported log on its own.
#[utoipa::path(get, path = "/v1/admin/audit/checkpoints", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "`{checkpoints: [{seq, head_hash, public_key, signature, ...}]}`")))]
pub async fn audit_checkpoints(
    State(state): State<AppState>,
    op: OperatorCtx,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Viewer)?;
    let checkpoints = state.store.audit_checkpoints().await?;
    Ok(audited(
        Json(json!({"checkpoints": checkpoints})).into_response(),
        "admin.audit.checkpoints",
        None,
        json!({}),
    ))
}

/// `GET /v1/admin/approvals` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsQuery {
    /// `pending` (default), `approved`, `rejected`, `expired`, `executed` or `all`.
    #[serde(default)]
    pub status: Option<String>,
    /// At most this many.
    #[serde(default, deserialize_with = "crate::routes::num::opt_u64")]
    pub limit: Option<u64>,
}

pub(crate) fn approval_view(a: &custos_core::ApprovalRecord) -> serde_json::Value {
    let mut request = a.request.clone();
    // The exact unsigned transaction (base64) approving it would sign, beside its hash.
    let transaction = request.as_object_mut().and_then(|m| m.remove("tx"));
    json!({"approval_id": a.id, "agent_id": a.agent, "action": a.action, "request": request, "transaction": transaction, "tx_hash": a.tx_hash,
           "policy_version": a.policy_version, "usd_value": a.usd.map(|u| u.to_string()), "quorum": a.quorum,
           "approvers": a.approvers, "rejected_by": a.rejected_by, "status": a.status.as_str(),
           "created_at_ms": a.created_at_ms, "expires_at_ms": a.expires_at_ms})
}

/// Actions waiting for (or past) human approval.
#[utoipa::path(get, path = "/v1/admin/approvals", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "`{approvals: [...]}`")))]
pub async fn list_approvals(
    State(state): State<AppState>,
    op: OperatorCtx,
    StrictQuery(q): StrictQuery<ApprovalsQuery>,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Viewer)?;
    let status = match q.status.as_deref() {
        None => Some(custos_core::ApprovalStatus::Pending),
        Some("all") => None,
        Some(s) => Some(
            custos_core::ApprovalStatus::parse(s)
                .ok_or_else(|| ApiError::invalid("status", "unknown status"))?,
        ),
    };
    let limit = Page {
        limit: q.limit,
        after: None,
    }
    .limit()?;
    let list = state.store.list_approvals(status, limit).await?;
    Ok(audited(
        Json(json!({"approvals": list.iter().map(approval_view).collect::<Vec<_>>()}))
            .into_response(),
        "admin.approvals.list",
        None,
        json!({}),
    ))
}

/// One approval, with what the parked transaction does as simulated when it was parked
/// (`request.effects`: balance changes, programs and methods, approvals granted, recipients).
#[utoipa::path(get, path = "/v1/admin/approvals/{id}", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "The approval"), (status = 404, description = "No such approval")))]
pub async fn get_approval(
    State(state): State<AppState>,
    op: OperatorCtx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Viewer)?;
    let id = approval_id(&id)?;
    let rec = state
        .store
        .approval(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such approval"))?;
    Ok(audited(
        Json(approval_view(&rec)).into_response(),
        "admin.approval.get",
        Some(rec.agent),
        json!({"approval_id": id}),
    ))
}

pub(crate) fn approval_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| ApiError::invalid("approval_id", "not an approval id"))
}

/// Approves; when the quorum is reached the action executes now, after the policy is checked
/// again against the agent's current policy and state.
#[utoipa::path(post, path = "/v1/admin/approvals/{id}/approve", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "Executed (transfer result) or `{status: pending_approval, approvals, quorum}`")))]
pub async fn approve(
    State(state): State<AppState>,
    op: OperatorCtx,
    axum::Extension(principal): axum::Extension<crate::auth::Principal>,
    axum::Extension(rid): axum::Extension<crate::audit_info::RequestId>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Operator)?;
    let id = approval_id(&id)?;
    let now = state.clock.now_ms();
    use custos_core::VoteOutcome as V;
    match state
        .store
        .vote_approval(&id, &op.token_id, true, now)
        .await?
    {
        V::Counted { approvals, quorum } => {
            return Ok(audited(Json(json!({"status": "pending_approval", "approval_id": id, "approvals": approvals, "quorum": quorum})).into_response(), "admin.approval.vote", None, json!({"approval_id": id})));
        }
        V::AlreadyVoted => {
            return Err(ApiError::idempotency_conflict(
                StatusCode::CONFLICT,
                "this operator already approved",
            )
            .with_field("approval_id"))
        }
        V::Expired => return Err(ApiError::invalid("approval_id", "the approval expired")),
        V::NotPending { status } => {
            return Err(ApiError::invalid(
                "approval_id",
                format!("the approval is {}", status.as_str()),
            ))
        }
        V::NotFound => return Err(ApiError::not_found("no such approval")),
        V::Rejected => {
            return Err(ApiError::invalid(
                "approval_id",
                "the approval was rejected",
            ))
        }
        V::Approved => {}
    }
    let rec = state
        .store
        .claim_approval(&id, now)
        .await?
        .ok_or_else(|| ApiError::invalid("approval_id", "already executed or expired"))?;
    let endpoint = "POST /v1/admin/approvals/{id}/approve";
    let actor = crate::actions::Actor {
        principal: &principal,
        request_id: &rid.0,
        endpoint,
    };
    let r = crate::actions::execute_approved(&state, &actor, rec).await?;
    Ok(r)
}

/// Rejects: the parked action never executes.
#[utoipa::path(post, path = "/v1/admin/approvals/{id}/reject", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "`{status: rejected}`")))]
pub async fn reject(
    State(state): State<AppState>,
    op: OperatorCtx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Operator)?;
    let id = approval_id(&id)?;
    use custos_core::VoteOutcome as V;
    match state
        .store
        .vote_approval(&id, &op.token_id, false, state.clock.now_ms())
        .await?
    {
        V::Rejected => Ok(audited(
            Json(json!({"status": "rejected", "approval_id": id})).into_response(),
            "admin.approval.reject",
            None,
            json!({"approval_id": id}),
        )),
        V::NotFound => Err(ApiError::not_found("no such approval")),
        V::Expired => Err(ApiError::invalid("approval_id", "the approval expired")),
        V::NotPending { status } => Err(ApiError::invalid(
            "approval_id",
            format!("the approval is {}", status.as_str()),
        )),
        other => Err(ApiError::invalid(
            "approval_id",
            format!("not rejected: {other:?}"),
        )),
    }
}
