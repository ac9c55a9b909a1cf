//! Agent login: an emailed one-time code exchanged for a session JWT. The first successful
//! verification of an email provisions the agent: its keys are created in the custody boundary.
use crate::audit_info::{AuditInfo, RequestId};
use crate::auth::otp;
use crate::error::ApiError;
use crate::extract::StrictJson;
use crate::pipeline::entry_for;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use custos_core::{Agent, AgentId, KeyScheme, NewAgent, SessionRecord};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// `POST /v1/auth/otp` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OtpRequest {
    /// The agent's email.
    #[schema(
        min_length = 3,
        max_length = 254,
        example = "agent@example.com",
        pattern = r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$"
    )]
    pub email: String,
}

/// `POST /v1/auth/verify` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The agent's email.
    #[schema(
        min_length = 3,
        max_length = 254,
        example = "agent@example.com",
        pattern = r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$"
    )]
    pub email: String,
    /// The 6-digit code.
    #[schema(pattern = "^[0-9]{6}$", example = "123456")]
    pub code: String,
}

/// A new session.
#[derive(Serialize, utoipa::ToSchema)]
pub struct VerifyResponse {
    /// Bearer token (EdDSA JWT).
    pub token: String,
    /// RFC 3339 expiry.
    pub expires_at: String,
    /// The agent.
    pub agent_id: String,
    /// Whether this login provisioned the agent (its wallet was created just now).
    pub new_agent: bool,
}

/// Lower-cases and checks an email address; refuses anything that is not plainly one.
pub fn normalize_email(raw: &str) -> Result<String, ApiError> {
    let e = raw.trim_matches(' ').to_ascii_lowercase();
    let bad = |m: &str| ApiError::invalid("email", m.to_owned());
    if e.len() < 3 || e.len() > 254 {
        return Err(bad("must be 3 to 254 characters"));
    }
    let (local, domain) = e.split_once('@').ok_or_else(|| bad("must contain @"))?;
    let ok_local = !local.is_empty()
        && local.len() <= 64
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b));
    let ok_domain = domain.contains('.')
        && !domain.starts_with(['.', '-'])
        && !domain.ends_with(['.', '-'])
        && !domain.contains("..")
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if !ok_local || !ok_domain {
        return Err(bad("is not a valid email address"));
    }
    Ok(e)
}

/// Sends a login code.
#[utoipa::path(post, path = "/v1/auth/otp", request_body = OtpRequest, tag = "auth",
    responses((status = 202, description = "Code sent"), (status = 422, description = "Invalid email"), (status = 429, description = "Too many codes requested")))]
pub async fn request_otp(
    State(state): State<AppState>,
    Extension(rid): Extension<RequestId>,
    StrictJson(body): StrictJson<OtpRequest>,
) -> Result<Response, ApiError> {
    let email = normalize_email(&body.email)?;
    let now = state.clock.now_ms();
    if let Err(refusal) = state.limits.admit_otp(&email, now).await {
        state
            .metrics
            .rate_limited
            .with_label_values(&[refusal.metric_label()])
            .inc();
        return Err(refusal.into_error());
    }
    otp::issue(&state, &email, &email).await?;
    audit_auth(
        &state,
        &rid,
        "POST /v1/auth/otp",
        "auth.otp",
        None,
        202,
        json!({"email": email}),
        None,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"sent": true}))).into_response())
}

/// Exchanges a code for a session token, provisioning the agent on first login.
#[utoipa::path(post, path = "/v1/auth/verify", request_body = VerifyRequest, tag = "auth",
    responses((status = 200, body = VerifyResponse), (status = 401, description = "Wrong, reused or expired code")))]
pub async fn verify_otp(
    State(state): State<AppState>,
    Extension(rid): Extension<RequestId>,
    StrictJson(body): StrictJson<VerifyRequest>,
) -> Result<Response, ApiError> {
    let email = normalize_email(&body.email)?;
    if !otp::well_formed(&body.code) {
        return Err(ApiError::invalid("code", "must be 6 digits"));
    }
    if let Err(reason) = otp::check(&state, &email, &body.code).await? {
        return Err(refuse(&state, &rid, &email, reason).await);
    }
    let now = state.clock.now_ms();
    let (agent, new_agent) = match state.store.agent_by_email(&email).await? {
        Some(a) => (a, false),
        None => provision(&state, &email).await?,
    };
    let policy = state.policy_of(&agent)?;
    let ttl_secs = i64::from(policy.session_expiration_hours) * 3600;
    let jti = uuid::Uuid::new_v4().to_string();
    state
        .store
        .replace_session(SessionRecord {
            agent_id: agent.id,
            session_id: jti.clone(),
            expires_at_ms: now + ttl_secs * 1000,
        })
        .await?;
    let token = state.jwt.issue(agent.id, &jti, now / 1000, ttl_secs);
    audit_auth(
        &state,
        &rid,
        "POST /v1/auth/verify",
        "auth.verify",
        Some(agent.id),
        200,
        json!({"email": email}),
        None,
    )
    .await?;
    let expires_at = rfc3339(now / 1000 + ttl_secs);
    Ok(Json(VerifyResponse {
        token,
        expires_at,
        agent_id: agent.id.to_string(),
        new_agent,
    })
    .into_response())
}

/// Counts and audits a refused code; every refusal looks the same to the caller.
async fn refuse(state: &AppState, rid: &RequestId, email: &str, reason: &'static str) -> ApiError {
    state
        .metrics
        .auth_failures
        .with_label_values(&["otp"])
        .inc();
    if let Err(e) = audit_auth(
        state,
        rid,
        "POST /v1/auth/verify",
        "auth.verify",
        None,
        401,
        json!({"email": email}),
        Some(reason),
    )
    .await
    {
        return e;
    }
    ApiError::unauthorized("wrong, used or expired code")
}

/// Creates the agent: keys first (inside the boundary), then the record. `true` with it when
/// this call created it (`false`: a concurrent login for the same email did).
async fn provision(state: &AppState, email: &str) -> Result<(Agent, bool), ApiError> {
    let id = AgentId::new_random();
    let sol = state.custody.create_key(id, KeyScheme::Ed25519).await?;
    let evm = state
        .custody
        .create_key(id, KeyScheme::Secp256k1Ecdsa)
        .await?;
    // The boundary signs nothing for an agent without an owner-signed policy: enrol the
    // server default as version 1 before the agent exists anywhere else.
    state
        .owners
        .enrol(
            &state.custody,
            id,
            &state.default_policy,
            state.clock.now_ms(),
        )
        .await?;
    let new = NewAgent {
        id,
        email: email.to_owned(),
        created_at_ms: state.clock.now_ms(),
        addresses: json!({"solana": sol.address, "evm": evm.address}),
    };
    match state.store.create_agent(new).await {
        Ok(a) => {
            tracing::info!(agent = %a.id, "agent provisioned");
            Ok((a, true))
        }
        // Another login for the same email won the race; use its agent.
        Err(custos_core::StoreError::Conflict(_)) => state
            .store
            .agent_by_email(email)
            .await?
            .map(|a| (a, false))
            .ok_or_else(|| ApiError::internal("agent vanished after conflict")),
        Err(e) => Err(e.into()),
    }
}

#[allow(clippy::too_many_arguments)]
async fn audit_auth(
    state: &AppState,
    rid: &RequestId,
    endpoint: &str,
    action: &str,
    agent: Option<AgentId>,
    status: u16,
    params: serde_json::Value,
    reason: Option<&str>,
) -> Result<(), ApiError> {
    audit_event(
        state, rid, endpoint, action, agent, None, status, params, reason,
    )
    .await
}

/// Audits an authentication event (an agent's login, an operator's console login or
/// enrolment): a success, or a refusal with its `reason`. `operator` names the operator it is
/// about, if any. `503` if the audit log cannot take it.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn audit_event(
    state: &AppState,
    rid: &RequestId,
    endpoint: &str,
    action: &str,
    agent: Option<AgentId>,
    operator: Option<String>,
    status: u16,
    params: serde_json::Value,
    reason: Option<&str>,
) -> Result<(), ApiError> {
    let mut entry = entry_for(
        state,
        None,
        endpoint,
        &rid.0,
        status,
        AuditInfo {
            action: action.into(),
            params: Some(params),
            subject: agent,
            ..AuditInfo::default()
        },
        None,
    );
    entry.operator = operator;
    if let Some(r) = reason {
        entry.outcome = custos_core::AuditOutcome::Denied;
        entry.reason = Some(format!("unauthorized: {r}"));
    } else {
        entry.outcome = custos_core::AuditOutcome::Success;
    }
    state.audit.append(entry).await.map(|_| ()).map_err(|e| {
        tracing::error!(error = %e, "audit write failed");
        ApiError::unavailable("audit log unavailable; the request was not completed")
    })
}

/// The session-token verification key as a JWK set.
#[utoipa::path(get, path = "/v1/auth/jwks", tag = "auth", responses((status = 200, description = "JWK set")))]
pub async fn jwks(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.jwt.jwks())
}

/// Unix seconds → RFC 3339 UTC.
pub use custos_core::clock::rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email(" Alice@Example.COM ").ok().as_deref(),
            Some("alice@example.com")
        );
        for bad in [
            "", "a", "a@b", "@x.io", "a@.io", "a@x..io", "a b@x.io", "a@x.io\n", "a@x_y.io",
            "a@@x.io",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }
}
