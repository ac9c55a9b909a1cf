//! The console's window on the REST admin API: `/console/api/v1/<rest>` is sent in process to
//! `/v1/admin/<rest>` (same method, query and body) as the logged-in operator, so the console
//! runs exactly the handlers, role checks and audit an operator token does. A change (any
//! method but `GET`, a policy dry run aside) needs more than the role: a viewer may change
//! nothing, and anyone else needs a TOTP code entered in the last `console.totp_fresh_minutes`
//! (`403 totp_required`).
use super::passkeys::principal_id;
use super::session::Operator;
use super::Console;
use crate::auth::ConsolePrincipal;
use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, Method, Request, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use custos_core::OperatorRole;
use std::net::SocketAddr;

/// Forwards one request.
pub async fn forward(
    State(c): State<Console>,
    op: Operator,
    Path(rest): Path<String>,
    method: Method,
    uri: Uri,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    // A dry run changes nothing: it is read like a GET.
    let reads = method == Method::GET
        || method == Method::HEAD
        || (method == Method::POST && rest.ends_with("/policy/dry-run"));
    if !reads {
        if op.account.role == OperatorRole::Viewer {
            return Err(ApiError::forbidden("a viewer cannot change anything"));
        }
        if !op.fresh(c.app.clock.now_ms()) {
            return Err(ApiError::totp_required(
                "enter a code from your authenticator to make changes",
            ));
        }
    }
    if rest.split('/').any(|s| s == ".." || s.is_empty()) {
        return Err(ApiError::not_found("no such endpoint"));
    }
    let target = match uri.query() {
        Some(q) => format!("/v1/admin/{rest}?{q}"),
        None => format!("/v1/admin/{rest}"),
    };
    let mut b = Request::builder().method(method).uri(&target);
    if !body.is_empty() {
        b = b.header(header::CONTENT_TYPE, "application/json");
    }
    let mut req = b
        .body(Body::from(body))
        .map_err(|e| ApiError::invalid("path", format!("cannot be forwarded: {e}")))?;
    req.extensions_mut().insert(ConsolePrincipal {
        label: principal_id(&op.account),
        role: op.account.role,
    });
    let reply = crate::inprocess::dispatch(
        &c.api,
        req,
        peer.map(|Extension(p)| p),
        crate::inprocess::MAX_REPLY_BYTES,
    )
    .await
    .map_err(ApiError::internal)?;
    let mut resp = (reply.status, Json(reply.body)).into_response();
    for (name, value) in &reply.headers {
        if name == header::RETRY_AFTER || name.as_str().starts_with("x-policy-") {
            resp.headers_mut().insert(name.clone(), value.clone());
        }
    }
    Ok(resp)
}
