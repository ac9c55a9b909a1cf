//! `/mcp`: the MCP server (`custos_mcp`) over streamable HTTP, answering each tool call through
//! this server's own router, in process ([`crate::inprocess`]). A tool call is an ordinary REST
//! request — same authentication, per-agent rate limit, scopes, idempotency, policy and audit —
//! that skips only the front door's global and per-IP limits, which the `/mcp` request carrying
//! it already passed. The `/mcp` request itself must carry an agent's bearer credential (checked
//! here, before the MCP layer parses anything), and its body is read like every other body — at
//! most `server.max_body_bytes`, within `server.body_read_timeout_seconds` — before the MCP
//! layer sees it; every tool call re-checks the credential.
use crate::auth::principal::{bearer_refused, resolve, Principal};
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use custos_mcp::{Caller, Rest, RestCall, RestReply, Unreachable};
use std::net::SocketAddr;

/// Answers tool calls with the router.
pub struct InProcess {
    router: Router,
    max_reply_bytes: usize,
}

impl InProcess {
    /// Tool calls answered by `router` (the API without `/mcp`).
    pub fn new(router: Router, max_reply_bytes: usize) -> Self {
        Self {
            router,
            max_reply_bytes,
        }
    }
}

#[async_trait::async_trait]
impl Rest for InProcess {
    async fn send(&self, call: RestCall, caller: &Caller<'_>) -> Result<RestReply, Unreachable> {
        let auth = HeaderValue::from_str(&format!("Bearer {}", caller.bearer.expose()))
            .map_err(|_| Unreachable("the bearer credential is not a valid header value".into()))?;
        let key = match &call.idempotency_key {
            Some(k) => Some(HeaderValue::from_str(k).map_err(|_| {
                Unreachable("the idempotency key is not a valid header value".into())
            })?),
            None => None,
        };
        let req = crate::inprocess::request(
            call.method.as_str(),
            &call.path_and_query,
            Some(auth),
            key,
            call.body.as_ref(),
        )
        .map_err(Unreachable)?;
        let peer = caller
            .origin
            .and_then(|p| p.extensions.get::<ConnectInfo<SocketAddr>>().cloned());
        let reply = crate::inprocess::dispatch(&self.router, req, peer, self.max_reply_bytes)
            .await
            .map_err(Unreachable)?;
        Ok(RestReply {
            status: reply.status.as_u16(),
            body: reply.body,
        })
    }
}

/// In front of `/mcp`: an agent's valid bearer credential, or `401` / `403` before the MCP
/// layer reads the body. (The per-agent rate limit is counted per tool call, not here.)
pub async fn agent_bearer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match resolve(&state, req.headers()).await {
        Ok(Principal::Agent { .. }) => next.run(req).await,
        Ok(Principal::Operator { .. }) => {
            ApiError::forbidden("/mcp is for agent credentials (a session token or an API key)")
                .into_response()
        }
        Err(e) => bearer_refused(&state, e),
    }
}

/// In front of `/mcp` (after [`agent_bearer`]) and of `/knot/…`: the body read by `extract::read_body` (`413` past
/// `server.max_body_bytes`, `408` past `server.body_read_timeout_seconds`), so a slow or huge
/// body is refused as on every other route instead of being read by the MCP layer unbounded in
/// time.
pub async fn bounded_body(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let mut reading = Request::new(body);
    *reading.headers_mut() = parts.headers.clone();
    reading
        .extensions_mut()
        .insert(crate::extract::MaxBody(state.cfg.server.max_body_bytes));
    reading
        .extensions_mut()
        .insert(crate::extract::BodyTimeout(std::time::Duration::from_secs(
            state.cfg.server.body_read_timeout_seconds,
        )));
    match crate::extract::read_body(reading).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(e) => e.into_response(),
    }
}
