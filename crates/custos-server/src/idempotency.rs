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

tokio::task_local! {
    /// The claim the current request runs under, for code deep in the action that must link
    /// a transaction to it (`actions::execute` writes it into the in-flight journal).
    static CLAIM: custos_core::IdempotencyRef;
}

/// The idempotency claim the current request runs under, if it has one.
pub fn current_claim() -> Option<custos_core::IdempotencyRef> {
    CLAIM.try_with(Clone::clone).ok()
}

/// Marks a response whose transaction was broadcast but whose outcome is unknown: the claim is
/// neither answered nor released (a retry must not pay again); recovery answers it once the
/// chain does.
#[derive(Clone, Copy, Debug)]
pub struct Unresolved;

/// Marks a server-side error answer that is nonetheless final: something irreversible happened
/// before it (an x402 payment authorization was signed and handed to the seller), so a retry
/// with the same key must get this answer again, not run the action a second time. Other 5xx
/// answers release the key.
#[derive(Clone, Copy, Debug)]
pub struct Final;

/// Settles a broadcast transaction's journal entry (see `actions::execute`) once the claim it
/// answers is stored.
#[derive(Clone, Debug)]
pub struct Settle {
    /// The transaction.
    pub tx_id: String,
    /// Landed (commit the reservation) or not (release it).
    pub landed: bool,
}

impl Settle {
    /// Settles now.
    pub async fn run(&self, state: &AppState) {
        if let Err(e) = state
            .store
            .in_flight_settle(&self.tx_id, self.landed, state.clock.now_ms())
            .await
        {
            tracing::error!(error = %e, tx = %self.tx_id, "in-flight transaction not settled (recovery will)");
        }
    }
}

/// A claim being worked on. If the request dies without answering it (a panic unwinds through
/// it), the claim is disowned so the recovery pass can settle it.
struct Held<'a> {
    state: &'a AppState,
    claim: Option<custos_core::IdempotencyRef>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let Some(c) = self.claim.take() else { return };
        let store = self.state.store.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = store.idempotency_disown(&c.scope, &c.key).await {
                    tracing::error!(error = %e, "idempotency claim not disowned");
                }
            });
        }
    }
}

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
    match state
        .store
        .idempotency_begin(scope, key, &hash, now, &state.instance)
        .await
    {
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
            let claim = custos_core::IdempotencyRef {
                scope: scope.to_owned(),
                key: key.to_owned(),
            };
            let mut held = Held {
                state,
                claim: Some(claim.clone()),
            };
            let resp = CLAIM.scope(claim, action()).await;
            if resp.extensions().get::<Unresolved>().is_some() {
                // Held's drop disowns the claim: the recovery pass answers it.
                return resp;
            }
            held.claim = None;
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
            let stored =
                if parts.status.is_server_error() && parts.extensions.get::<Final>().is_none() {
                    state.store.idempotency_abandon(scope, key).await
                } else {
                    state
                        .store
                        .idempotency_complete(scope, key, parts.status.as_u16(), &bytes)
                        .await
                };
            match stored {
                Ok(()) => {
                    if let Some(settle) = parts.extensions.get::<Settle>() {
                        settle.run(state).await;
                    }
                }
                // The journal entry stays, so recovery answers the key from the chain.
                Err(e) => tracing::error!(error = %e, "idempotency record not stored"),
            }
            Response::from_parts(parts, Body::from(bytes))
        }
    }
}
