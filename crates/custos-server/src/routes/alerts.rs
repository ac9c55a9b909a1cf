//! Operator alerts (`crate::alerts`): the delivery log of every alert raised, with each one's
//! attempts, and a test alert that checks the receiver and its signature end to end.
use crate::auth::OperatorCtx;
use crate::error::ApiError;
use crate::routes::admin::audited;
use crate::routes::{Page, StrictQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use custos_core::OperatorRole;
use serde_json::json;

/// The alert log: every alert raised with id > `after`, oldest first, with its delivery state
/// (`pending`, `delivered`, `failed`), attempts, last HTTP status and error. Viewers and up.
#[utoipa::path(get, path = "/v1/admin/alerts", tag = "admin", security(("bearer" = [])),
    params(("limit" = Option<u64>, Query, description = "1..=1000, default 100"), ("after" = Option<u64>, Query, description = "After this alert id")),
    responses((status = 200, description = "`{enabled, alerts: [{id, rule, key, body, status, attempts, next_at_ms, last_http_status, last_error, created_at_ms, updated_at_ms}]}`"), (status = 422, description = "Invalid `limit` or `after`")))]
pub async fn list_alerts(
    State(state): State<AppState>,
    op: OperatorCtx,
    StrictQuery(q): StrictQuery<Page>,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Viewer)?;
    let alerts = state.store.alert_deliveries(q.after()?, q.limit()?).await?;
    // The receiver's URL is configuration (it may carry a token): not repeated here.
    let alerts: Vec<serde_json::Value> = alerts
        .into_iter()
        .map(|a| {
            json!({"id": a.id, "rule": a.rule, "key": a.key, "body": a.body, "status": a.status,
                   "attempts": a.attempts, "next_at_ms": a.next_at_ms, "last_http_status": a.last_http_status,
                   "last_error": a.last_error, "created_at_ms": a.created_at_ms, "updated_at_ms": a.updated_at_ms})
        })
        .collect();
    Ok(audited(
        Json(json!({"enabled": state.cfg.alerts.enabled(), "alerts": alerts})).into_response(),
        "admin.alerts.list",
        None,
        json!({}),
    ))
}

/// Raises a test alert (rule `test`), delivered like any other within one poll interval.
/// Admins only; `422` when no receiver is configured.
#[utoipa::path(post, path = "/v1/admin/alerts/test", tag = "admin", security(("bearer" = [])),
    responses((status = 202, description = "`{key}`: queued; follow it in `GET /v1/admin/alerts`"), (status = 403, description = "Not an admin"), (status = 422, description = "Alerts are off (`alerts.url` is empty)")))]
pub async fn test_alert(
    State(state): State<AppState>,
    op: OperatorCtx,
) -> Result<Response, ApiError> {
    op.require(OperatorRole::Admin)?;
    if !state.cfg.alerts.enabled() {
        return Err(ApiError::invalid(
            "alerts.url",
            "alerts are off on this server: set [alerts] url to the receiver",
        ));
    }
    let now = state.clock.now_ms();
    let key = format!("test:{}", uuid::Uuid::new_v4());
    state
        .alerts
        .raise(
            &state.cfg.alerts,
            crate::alerts::Raised {
                rule: "test",
                key: key.clone(),
                summary: "a test alert, raised by an operator".into(),
                data: json!({"operator": op.token_id}),
                at_ms: now,
            },
        )
        .await;
    Ok(audited(
        (axum::http::StatusCode::ACCEPTED, Json(json!({"key": key}))).into_response(),
        "admin.alerts.test",
        None,
        json!({"key": key}),
    ))
}
