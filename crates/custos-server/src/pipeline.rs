//! The front of the request pipeline, as middleware in SPEC order: request id and metrics,
//! then the global and per-IP rate limits (before anything else runs), then — on authenticated
//! routes — authentication (`auth::principal`) and the audit record written after the handler.
use crate::audit_info::{AuditInfo, Audited, RequestId};
use crate::auth::Principal;
use crate::error::{ApiError, ErrorInfo};
use crate::state::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use custos_core::{AuditEntry, AuditOutcome};
use std::net::{IpAddr, SocketAddr};

/// The route template a response was produced by, copied out for the outer layers.
#[derive(Clone, Debug)]
struct RouteName(String);

/// Outermost: assigns the request id, records metrics.
pub async fn request_context(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = std::time::Instant::now();
    let id = uuid::Uuid::new_v4().to_string();
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().as_str().to_owned();
    let mut resp = contained(&state, next.run(req)).await;
    let route = resp
        .extensions()
        .get::<RouteName>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| "unmatched".into());
    let status = resp.status().as_u16().to_string();
    state
        .metrics
        .requests
        .with_label_values(&[&method, &route, &status])
        .inc();
    state
        .metrics
        .latency
        .with_label_values(&[&route])
        .observe(started.elapsed().as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// Runs the rest of the pipeline, answering `500 internal` if it panics instead of dropping the
/// connection: the audit layer still writes its record, budget reservations held by the
/// unwound handler are released by their `Drop` (see `actions::budget`), and the panic is
/// counted. The panic's message is not logged here (it could quote input); its location is in
/// the panic hook's output.
async fn contained(state: &AppState, run: impl std::future::Future<Output = Response>) -> Response {
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(run).catch_unwind().await {
        Ok(resp) => resp,
        Err(_) => {
            state.metrics.panics.inc();
            tracing::error!("request handler panicked; answered 500");
            ApiError::internal("the request failed inside the server").into_response()
        }
    }
}

/// Innermost on every route: remembers the matched route template.
pub async fn tag_route(matched: Option<MatchedPath>, req: Request, next: Next) -> Response {
    let name = matched.map(|m| m.as_str().to_owned());
    let mut resp = next.run(req).await;
    if let Some(n) = name {
        resp.extensions_mut().insert(RouteName(n));
    }
    resp
}

/// The client's address: the socket peer, or the nearest untrusted hop of `X-Forwarded-For`
/// when the peer is a configured trusted proxy.
pub fn client_ip(state: &AppState, peer: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
    let trusted = &state.cfg.server.trusted_proxies;
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map_while(|s| s.trim().parse().ok())
        .collect();
    hops.into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

/// Global and per-IP limits for `/v1`, `/mcp` and `/knot` requests; over the limit nothing else
/// runs. An in-process request ([`crate::inprocess`]) was admitted with the outer request that
/// carries it and is not counted again.
pub async fn front_door(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let limited = path.starts_with("/v1/") || path == "/mcp" || path.starts_with("/knot/");
    if !limited
        || req
            .extensions()
            .get::<crate::inprocess::AdmittedAtFrontDoor>()
            .is_some()
    {
        return next.run(req).await;
    }
    let ip = client_ip(&state, peer.ip(), req.headers());
    match state
        .limits
        .admit_front_door(&ip.to_string(), state.clock.now_ms())
        .await
    {
        Ok(()) => next.run(req).await,
        Err(refusal) => {
            state
                .metrics
                .rate_limited
                .with_label_values(&[refusal.metric_label()])
                .inc();
            refusal.into_error().into_response()
        }
    }
}

/// After authentication: writes one audit record per request unless the handler already did;
/// if the record cannot be written, the response is replaced by `503`.
pub async fn audit_layer(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    let principal = req.extensions().get::<Principal>().cloned();
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let endpoint = format!(
        "{} {}",
        req.method(),
        matched.as_ref().map(|m| m.as_str()).unwrap_or("?")
    );
    let resp = contained(&state, next.run(req)).await;
    if resp.extensions().get::<Audited>().is_some() {
        return resp;
    }
    let info = resp
        .extensions()
        .get::<AuditInfo>()
        .cloned()
        .unwrap_or_default();
    let err = resp.extensions().get::<ErrorInfo>().cloned();
    let mut entry = entry_for(
        &state,
        principal.as_ref(),
        &endpoint,
        &request_id,
        resp.status().as_u16(),
        info,
        err.as_ref(),
    );
    if entry.action.is_empty() {
        entry.action = endpoint.clone();
    }
    match state.audit.append(entry).await {
        Ok(_) => resp,
        Err(e) => {
            tracing::error!(error = %e, "audit write failed; failing closed");
            ApiError::unavailable("audit log unavailable; the request was not completed")
                .into_response()
        }
    }
}

/// Builds an audit entry for a finished request.
pub fn entry_for(
    state: &AppState,
    principal: Option<&Principal>,
    endpoint: &str,
    request_id: &str,
    status: u16,
    info: AuditInfo,
    err: Option<&ErrorInfo>,
) -> AuditEntry {
    let (agent_id, operator) = match principal {
        Some(Principal::Agent { agent, .. }) => (Some(agent.id), None),
        Some(Principal::Operator { token_id, role }) => (
            info.subject,
            Some(format!("{token_id} ({})", role.as_str())),
        ),
        None => (info.subject, None),
    };
    let outcome = outcome_of(status, err.map(|e| e.code));
    AuditEntry {
        time_ms: state.clock.now_ms(),
        agent_id,
        operator,
        endpoint: endpoint.to_owned(),
        action: info.action,
        params: info.params.unwrap_or_else(|| serde_json::json!({})),
        usd_amount: info.usd,
        token_amounts: info.token_amounts.unwrap_or_else(|| serde_json::json!([])),
        tx: info.tx,
        outcome,
        status,
        reason: err.map(|e| match &e.field {
            Some(f) => format!("{}: {} ({})", e.code, e.message, f),
            None => format!("{}: {}", e.code, e.message),
        }),
        request_id: request_id.to_owned(),
    }
}

/// Outcome from status and error code.
pub fn outcome_of(status: u16, code: Option<&str>) -> AuditOutcome {
    match (status, code) {
        (200..=299, _) if status == 202 => AuditOutcome::Pending,
        (200..=299, _) => AuditOutcome::Success,
        (_, Some("policy_denied" | "forbidden")) => AuditOutcome::Denied,
        (500..=599, _) => AuditOutcome::Error,
        _ => AuditOutcome::Invalid,
    }
}
