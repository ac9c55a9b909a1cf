//! Operator endpoints for an agent's policy: read it, replace it (an owner-signed envelope or,
//! in development, a plain document the server signs), see the envelope the custody boundary
//! holds, and a dry run that shows what a proposed change would change and require before
//! anyone signs or submits it. Viewers read; admins set.
use crate::auth::OperatorCtx;
use crate::error::ApiError;
use crate::extract::StrictJson;
use crate::routes::admin::{agent_id, audited, load};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use custos_core::OperatorRole;
use custos_policy::PolicyDocument;
use serde_json::json;

/// What `PUT …/policy` and its dry run take: an owner-signed envelope for this agent, or a
/// plain document over the server default.
enum Proposal {
    Envelope(custos_signer::PolicyEnvelope),
    Document(PolicyDocument),
}

impl Proposal {
    fn parse(
        state: &AppState,
        id: custos_core::AgentId,
        body: serde_json::Value,
    ) -> Result<Self, ApiError> {
        if body.get("format").and_then(|f| f.as_str()) != Some(custos_signer::ENVELOPE_FORMAT) {
            return PolicyDocument::from_json_over(&body, &state.default_policy)
                .map(Self::Document)
                .map_err(|e| ApiError::invalid(e.field, e.message));
        }
        let env = custos_signer::PolicyEnvelope::from_json(&custos_core::PolicyJson::from(body))
            .map_err(|e| ApiError::invalid("envelope", e.to_string()))?;
        if env.wallet != id {
            return Err(ApiError::invalid(
                "envelope.wallet",
                format!("the envelope is for agent {}, not {id}", env.wallet),
            ));
        }
        Ok(Self::Envelope(env))
    }
}

/// An agent's effective policy.
#[utoipa::path(get, path = "/v1/admin/agents/{id}/policy", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "Policy document")))]
pub async fn get_policy(
    State(state): State<AppState>,
    op: OperatorCtx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Viewer)?;
    let a = load(&state, agent_id(&id)?).await?;
    let p = state.policy_of(&a)?;
    let mut r = Json(&**p).into_response();
    if let Ok(v) = a.policy_version.to_string().parse() {
        r.headers_mut().insert("x-policy-version", v);
    }
    Ok(audited(r, "admin.policy.get", Some(a.id), json!({})))
}

/// Replaces an agent's policy (admin). The body is either an owner-signed policy envelope
/// (`custos policy sign`), or a plain document whose missing sections take the server default
/// — which the server can put in force only while its bootstrap owner key is one of the
/// agent's owners. Either way the custody boundary verifies the envelope against the owners it
/// enrolled and keeps its own copy; the server stores the document only once the boundary has
/// it in force. A loosening under a delay answers `202` with when it takes force; the server
/// adopts it by itself once the boundary has (see [`crate::policy_sync`]).
#[utoipa::path(put, path = "/v1/admin/agents/{id}/policy", tag = "admin", security(("bearer" = [])), request_body(content = Object, content_type = "application/json", description = "An owner-signed policy envelope, or a policy document (API.md) whose missing sections take the server default"), responses((status = 200, description = "Stored policy"), (status = 202, description = "A verified loosening, pending until its delay has passed"), (status = 422, description = "Invalid document or envelope refused by the custody boundary, naming the reason")))]
pub async fn put_policy(
    State(state): State<AppState>,
    op: OperatorCtx,
    Path(id): Path<String>,
    StrictJson(doc): StrictJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Admin)?;
    let id = agent_id(&id)?;
    load(&state, id).await?;
    let now = state.clock.now_ms();
    let (policy, applied) = match Proposal::parse(&state, id, doc)? {
        Proposal::Envelope(env) => {
            let applied = crate::owners::submit(&state.custody, &env).await?;
            (env.document, applied)
        }
        Proposal::Document(policy) => {
            let applied = state
                .owners
                .change(&state.custody, id, &policy, now)
                .await?;
            (policy, applied)
        }
    };
    let stored = serde_json::to_value(&policy).map_err(ApiError::internal)?;
    if let custos_core::PolicyApplied::Pending {
        version,
        effective_from_ms,
        loosens,
        ..
    } = &applied
    {
        state.owners.pending.note(id, *effective_from_ms);
        let body = json!({
            "status": "pending",
            "envelope_version": version,
            "effective_from_ms": effective_from_ms,
            "loosens": loosens,
            "message": "the custody boundary holds this loosening until its delay has passed; the server adopts it once the boundary has put it in force",
        });
        return Ok(audited(
            (axum::http::StatusCode::ACCEPTED, Json(body)).into_response(),
            "admin.policy.put",
            Some(id),
            json!({"policy": stored, "envelope": applied}),
        ));
    }
    let version = state
        .store
        .set_policy(id, stored.clone())
        .await?
        .ok_or_else(|| ApiError::not_found("no such agent"))?;
    let mut r = Json(&policy).into_response();
    if let Ok(v) = version.to_string().parse() {
        r.headers_mut().insert("x-policy-version", v);
    }
    if let custos_core::PolicyApplied::Current { version: ev, .. }
    | custos_core::PolicyApplied::Unchanged { version: ev, .. } = &applied
    {
        if let Ok(v) = ev.to_string().parse() {
            r.headers_mut().insert("x-policy-envelope-version", v);
        }
    }
    Ok(audited(
        r,
        "admin.policy.put",
        Some(id),
        json!({"policy": stored, "version": version, "envelope": applied}),
    ))
}

/// The owner-signed policy envelope the custody boundary holds for an agent (and a verified
/// loosening waiting for its delay): what the next envelope chains on.
#[utoipa::path(get, path = "/v1/admin/agents/{id}/policy/envelope", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "`{current, pending}` as the boundary holds them"), (status = 404, description = "No such agent, or no envelope enrolled")))]
pub async fn get_policy_envelope(
    State(state): State<AppState>,
    op: OperatorCtx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Viewer)?;
    let a = load(&state, agent_id(&id)?).await?;
    let held =
        state.custody.held_policy(a.id).await?.ok_or_else(|| {
            ApiError::not_found("no owner-signed policy is enrolled for this agent")
        })?;
    let current = held.current.to_value().map_err(ApiError::internal)?;
    let pending = match &held.pending {
        Some((p, from)) => {
            json!({"envelope": p.to_value().map_err(ApiError::internal)?, "effective_from_ms": from})
        }
        None => serde_json::Value::Null,
    };
    Ok(audited(
        Json(json!({"current": current, "pending": pending})).into_response(),
        "admin.policy.envelope.get",
        Some(a.id),
        json!({}),
    ))
}

/// What a proposed policy would change and require, before anyone signs or submits it. The body
/// is what `PUT …/policy` takes: an envelope (signed, partly signed or not yet signed) or a plain
/// document (which the server would sign only while its bootstrap key is an owner). Nothing is
/// kept and the boundary is not asked to change anything: the answer comes from the same
/// verification the boundary runs ([`custos_signer::judge`]) against the envelope it holds.
#[utoipa::path(post, path = "/v1/admin/agents/{id}/policy/dry-run", tag = "admin", security(("bearer" = [])), request_body(content = Object, content_type = "application/json", description = "An owner-signed policy envelope (signatures optional), or a policy document whose missing sections take the server default"), responses((status = 200, description = "`{current_version, next_version, changes, loosens, signatures, needs_signatures, would, effective_from_ms, reason}`: `would` is `in_force`, `pending`, `unchanged` or `refused` (with `reason`)"), (status = 404, description = "No such agent, or no envelope enrolled")))]
pub async fn dry_run(
    State(state): State<AppState>,
    op: OperatorCtx,
    Path(id): Path<String>,
    StrictJson(body): StrictJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Viewer)?;
    let id = agent_id(&id)?;
    load(&state, id).await?;
    let now = state.clock.now_ms();
    let held = crate::owners::held(&state.custody, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no owner-signed policy is enrolled for this agent"))?;
    // The envelope as it would reach the boundary; `None`: a document the server cannot sign.
    let (proposed, document) = match Proposal::parse(&state, id, body)? {
        Proposal::Envelope(env) => {
            let doc = env.document.clone();
            (Some(env), doc)
        }
        Proposal::Document(doc) => (state.owners.draft(&held, &doc, now), doc),
    };
    let changes = custos_policy::changes(&held.document, &document);
    let held_hash = held.hash();
    let answer = match &proposed {
        Some(env) => {
            let verdict = custos_signer::Verdict::of(&held, env);
            let signatures = env.signers(&held.authority).map(|s| s.len()).ok();
            let (would, effective_from_ms, reason) = if env.hash() == held_hash {
                ("unchanged", None, None)
            } else {
                match custos_signer::judge(&held, held_hash, env, now) {
                    Ok(v) => match v.effective_from_ms(now) {
                        Some(from) => ("pending", Some(from), None),
                        None => ("in_force", None, None),
                    },
                    Err(e) => ("refused", None, Some(e.to_string())),
                }
            };
            json!({
                "current_version": held.version,
                "next_version": env.version,
                "changes": changes,
                "loosens": verdict.loosens,
                "signatures": signatures,
                "needs_signatures": verdict.needs,
                "would": would,
                "effective_from_ms": effective_from_ms,
                "reason": reason,
            })
        }
        None => {
            // Judged as the unsigned envelope the owners would have to sign.
            let unsigned = custos_signer::PolicyEnvelope::new(
                id,
                held.version + 1,
                held_hash,
                now,
                held.authority.clone(),
                document,
            );
            let verdict = custos_signer::Verdict::of(&held, &unsigned);
            json!({
                "current_version": held.version,
                "next_version": unsigned.version,
                "changes": changes,
                "loosens": verdict.loosens,
                "signatures": 0,
                "needs_signatures": verdict.needs,
                "would": if changes.is_empty() { "unchanged" } else { "refused" },
                "effective_from_ms": null,
                "reason": (!changes.is_empty()).then_some("the server holds no owner key of this agent: the owners sign it with `custos policy sign`"),
            })
        }
    };
    Ok(audited(
        Json(answer).into_response(),
        "admin.policy.dry_run",
        Some(id),
        json!({}),
    ))
}
