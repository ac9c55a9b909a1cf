//! Who is calling. The authentication middleware resolves the bearer credential — session
//! JWT, agent API key or operator token — into a [`Principal`] before any handler runs, and
//! applies the per-agent rate limit. Credentials are only ever read from the `Authorization`
//! header, never from a URL.
use crate::auth::{jwt, tokens};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use custos_core::{Agent, ApiScope, OperatorRole, Scopes};

/// How an agent authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A session JWT.
    Session,
    /// An API key: its id and what it may do (`None`: every scope).
    ApiKey {
        /// The key's public id.
        key_id: String,
        /// Its scopes.
        scopes: Option<Scopes>,
    },
}

impl Credential {
    /// Whether this credential may ask for what `scope` covers: a session may ask for anything
    /// (the policy decides), an API key only within its scopes.
    pub fn allows(&self, scope: ApiScope) -> bool {
        match self {
            Credential::Session | Credential::ApiKey { scopes: None, .. } => true,
            Credential::ApiKey {
                scopes: Some(s), ..
            } => s.allows(scope),
        }
    }
}

/// The authenticated caller.
#[derive(Clone, Debug)]
pub enum Principal {
    /// An agent.
    Agent {
        /// The agent as loaded for this request.
        agent: Box<Agent>,
        /// How it authenticated.
        via: Credential,
    },
    /// An operator.
    Operator {
        /// Public id of the token.
        token_id: String,
        /// Role.
        role: OperatorRole,
    },
}

/// An operator the console authenticated (session cookie, passkey, TOTP as needed), attached
/// by code to the request it forwards in process (`console::forward`). Only code can set an
/// extension; a client cannot.
#[derive(Clone, Debug)]
pub struct ConsolePrincipal {
    /// How the audit log names them (`console:<account id>`).
    pub label: String,
    /// Their role.
    pub role: OperatorRole,
}

/// Resolves the bearer credential (or takes the console's operator); refuses the request with
/// `401` if there is none or it is not valid, `429` if the agent is over its limit.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let resolved = match req.extensions().get::<ConsolePrincipal>() {
        Some(p) => Ok(Principal::Operator {
            token_id: p.label.clone(),
            role: p.role,
        }),
        None => resolve(&state, req.headers()).await,
    };
    match resolved {
        Ok(p) => {
            if let Principal::Agent { agent, .. } = &p {
                if let Err(refusal) = state
                    .limits
                    .admit_agent(&agent.id.to_string(), state.clock.now_ms())
                    .await
                {
                    state
                        .metrics
                        .rate_limited
                        .with_label_values(&[refusal.metric_label()])
                        .inc();
                    return refusal.into_error().into_response();
                }
            }
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Err(e) => bearer_refused(&state, e),
    }
}

/// The answer to a request whose bearer credential was refused, counted in
/// the bearer failures metric.
pub(crate) fn bearer_refused(state: &AppState, e: ApiError) -> Response {
    state
        .metrics
        .auth_failures
        .with_label_values(&["bearer"])
        .inc();
    e.into_response()
}

/// The principal a request's `Authorization` header names, without admitting it to any rate
/// limit.
pub(crate) async fn resolve(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<Principal, ApiError> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer credential"))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthorized("malformed Authorization header"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.len() > 4096 {
        return Err(ApiError::unauthorized(
            "Authorization must be `Bearer <token>`",
        ));
    }
    let token = token.trim();
    let invalid = || ApiError::unauthorized("invalid or expired credential");
    if token.starts_with(tokens::API_KEY_PREFIX) {
        let rec = state
            .store
            .api_key_by_hash(&tokens::hash(token))
            .await?
            .ok_or_else(invalid)?;
        let agent = state.store.agent(rec.agent_id).await?.ok_or_else(invalid)?;
        return Ok(Principal::Agent {
            agent: Box::new(agent),
            via: Credential::ApiKey {
                key_id: rec.key_id,
                scopes: rec.scopes,
            },
        });
    }
    if token.starts_with(tokens::OPERATOR_TOKEN_PREFIX) {
        let rec = state
            .store
            .operator_token_by_hash(&tokens::hash(token))
            .await?
            .ok_or_else(invalid)?;
        return Ok(Principal::Operator {
            token_id: rec.token_id,
            role: rec.role,
        });
    }
    let now_ms = state.clock.now_ms();
    let (agent_id, claims) =
        state
            .jwt
            .verify(token, now_ms / 1000)
            .map_err(|e: jwt::JwtError| {
                tracing::debug!(reason = %e, "token refused");
                invalid()
            })?;
    // One query for both: the session must still be this token's, and the agent (frozen flag,
    // policy) is read in the same snapshot.
    let (session, agent) = state
        .store
        .session_and_agent(agent_id)
        .await?
        .ok_or_else(invalid)?;
    let current =
        subtle::ConstantTimeEq::ct_eq(session.session_id.as_bytes(), claims.jti.as_bytes());
    if !bool::from(current) || session.expires_at_ms <= now_ms {
        return Err(ApiError::unauthorized("session superseded or expired"));
    }
    Ok(Principal::Agent {
        agent: Box::new(agent),
        via: Credential::Session,
    })
}

/// Extractor for agent routes: refuses operators with `403`.
pub struct AgentCtx {
    /// The agent.
    pub agent: Agent,
    /// How it authenticated.
    pub via: Credential,
}

impl AgentCtx {
    /// `403 scope_missing` unless the credential may ask for what `scope` covers.
    pub fn require(&self, scope: ApiScope) -> Result<(), ApiError> {
        if self.via.allows(scope) {
            Ok(())
        } else {
            Err(ApiError::scope_missing(scope))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AgentCtx {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<Principal>() {
            Some(Principal::Agent { agent, via }) => Ok(Self {
                agent: (**agent).clone(),
                via: via.clone(),
            }),
            Some(Principal::Operator { .. }) => Err(ApiError::forbidden(
                "this endpoint is for agent credentials",
            )),
            None => Err(ApiError::unauthorized(
                "missing Authorization: Bearer credential",
            )),
        }
    }
}

/// Extractor for operator routes: refuses agents with `403`.
pub struct OperatorCtx {
    /// Token id.
    pub token_id: String,
    /// Role.
    pub role: OperatorRole,
}

impl OperatorCtx {
    /// Refuses with `403` unless the role is at least `min`.
    pub fn require(&self, min: OperatorRole) -> Result<(), ApiError> {
        if self.role >= min {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "requires the {} role",
                min.as_str()
            )))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for OperatorCtx {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<Principal>() {
            Some(Principal::Operator { token_id, role }) => Ok(Self {
                token_id: token_id.clone(),
                role: *role,
            }),
            Some(Principal::Agent { .. }) => Err(ApiError::forbidden(
                "this endpoint requires an operator token",
            )),
            None => Err(ApiError::unauthorized(
                "missing Authorization: Bearer credential",
            )),
        }
    }
}
