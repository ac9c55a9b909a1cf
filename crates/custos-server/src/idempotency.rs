//! `Idempotency-Key` handling: the key is claimed in the store before the action runs, so a
//! concurrent duplicate sees `in progress` instead of running it twice; the final response is
//! stored and replayed for the same request, and a different request under the same key is
//! refused.
use crate::audit_info::AuditInfo;
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use custos_core::IdempotencyBegin;
use std::future::Future;

/// Responses larger than this are not stored (and the key is released).
const MAX_STORED_BODY: usize = 1024 * 1024;

/// The request hash: method, path and body.
pub fn request_hash(method: &str, path: &str, body: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(body);
    h.finalize().into()
}

/// Runs `action` at most once per `(scope, key)`.
pub async fn once<F, Fut>(
    state: &AppState,
    scope: &str,
    key: Option<&str>,
    hash: [u8; 32],
    action: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Response>,
{
    let Some(key) = key else {
        return action().await;
    };
    let now = state.clock.now_ms();
    match state.store.idempotency_begin(scope, key, &hash, now).await {
        Err(e) => ApiError::from(e).into_response(),
        Ok(IdempotencyBegin::InProgress) => ApiError::idempotency_conflict(
            StatusCode::CONFLICT,
            "a request with this Idempotency-Key is still in progress",
        )
        .into_response(),
        Ok(IdempotencyBegin::Mismatch) => ApiError::idempotency_conflict(
            StatusCode::UNPROCESSABLE_ENTITY,
            "this Idempotency-Key was used with a different request",
        )
        .with_field("Idempotency-Key")
        .into_response(),
        Ok(IdempotencyBegin::Replay { status, body }) => {
            let mut resp = Response::new(Body::from(body));
            *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            resp.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            resp.extensions_mut()
                .insert(AuditInfo::action("idempotent_replay"));
            resp
        }
        Ok(IdempotencyBegin::Started) => {
            let resp = action().await;
            let (parts, body) = resp.into_parts();
            let bytes = match axum::body::to_bytes(body, MAX_STORED_BODY).await {
                Ok(b) => b,
                Err(e) => {
                    let _ = state.store.idempotency_abandon(scope, key).await;
                    return ApiError::internal(format!("response too large to store: {e}"))
                        .into_response();
                }
            };
            // Our own failures may be retried with the same key; everything else is final.
            let stored = if parts.status.is_server_error() {
                state.store.idempotency_abandon(scope, key).await
            } else {
                state
                    .store
                    .idempotency_complete(scope, key, parts.status.as_u16(), &bytes)
                    .await
            };
            if let Err(e) = stored {
                tracing::error!(error = %e, "idempotency record not stored");
            }
            Response::from_parts(parts, Body::from(bytes))
        }
    }
}
