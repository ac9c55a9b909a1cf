//! Requests this server makes to its own REST API, in process: an MCP tool call (`/mcp`) and a
//! translated Knot-compatible request (`/knot/…`). Each is an ordinary request through the API
//! router — authentication, the per-agent rate limit, scopes, idempotency, policy and audit —
//! that skips only the front door's global and per-IP limits, which the outer request carrying
//! it already passed. There is no second path to a signature.
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use axum::Router;
use std::net::SocketAddr;
use tower::ServiceExt;

/// Marks a request made in process for an outer request that already passed the front door.
/// Only code can set an extension; a client cannot.
#[derive(Clone, Copy, Debug)]
pub struct AdmittedAtFrontDoor;

/// The largest answer an in-process request reads (an audit page of 1,000 records is well
/// under).
pub const MAX_REPLY_BYTES: usize = 4 * 1024 * 1024;

/// What the API answered.
#[derive(Debug)]
pub struct Reply {
    /// Its status.
    pub status: StatusCode,
    /// Its headers (`Retry-After`, `x-policy-version`, …).
    pub headers: HeaderMap,
    /// Its body as JSON (`Null` when it is empty or not JSON).
    pub body: serde_json::Value,
}

/// A request to the API: `method path_and_query` with the caller's bearer credential (marked
/// sensitive, so it is never logged), its `Idempotency-Key` and a JSON body, each when given.
pub fn request(
    method: &str,
    path_and_query: &str,
    bearer: Option<HeaderValue>,
    idempotency_key: Option<HeaderValue>,
    body: Option<&serde_json::Value>,
) -> Result<Request<Body>, String> {
    let mut b = Request::builder().method(method).uri(path_and_query);
    if let Some(mut v) = bearer {
        v.set_sensitive(true);
        b = b.header(header::AUTHORIZATION, v);
    }
    if let Some(k) = idempotency_key {
        b = b.header("idempotency-key", k);
    }
    let body = match body {
        Some(v) => {
            b = b.header(header::CONTENT_TYPE, "application/json");
            Body::from(serde_json::to_vec(v).unwrap_or_default())
        }
        None => Body::empty(),
    };
    b.body(body)
        .map_err(|e| format!("the request could not be built: {e}"))
}

/// Sends `req` through `router` as if from `peer` (the outer request's client; loopback when
/// unknown), reading at most `max_reply_bytes` of the answer.
pub async fn dispatch(
    router: &Router,
    mut req: Request<Body>,
    peer: Option<ConnectInfo<SocketAddr>>,
    max_reply_bytes: usize,
) -> Result<Reply, String> {
    let peer = peer.unwrap_or(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 0))));
    req.extensions_mut().insert(peer);
    req.extensions_mut().insert(AdmittedAtFrontDoor);
    let resp = match router.clone().oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, max_reply_bytes)
        .await
        .map_err(|e| format!("the answer could not be read: {e}"))?;
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    })
}
