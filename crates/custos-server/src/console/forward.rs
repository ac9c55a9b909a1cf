//! The console's window on the REST admin API: `/console/api/v1/<rest>` is sent in process to
//! `/v1/admin/<rest>` (same method, query and body) as the logged-in operator, so the console
//! runs exactly the handlers, role checks and audit an operator token does. A change (any
//! method but `GET`) needs more than the role: a viewer may change nothing, and anyone else
//! needs a TOTP code entered in the last `console.totp_fresh_minutes` (`403 totp_required`).
use super::passkeys::label;
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
    if method != Method::GET && method != Method::HEAD {
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
    let who = label(&op.account);
    req.extensions_mut().insert(ConsolePrincipal {
        label: who
            .split_once(' ')
            .map_or(who.as_str(), |(l, _)| l)
            .to_owned(),
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
    if let Some(v) = reply.headers.get(header::RETRY_AFTER) {
        resp.headers_mut().insert(header::RETRY_AFTER, v.clone());
    }
    Ok(resp)
}
