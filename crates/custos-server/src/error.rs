//! The one error type at the HTTP edge. Domain errors become documented codes and statuses;
//! only 5xx are logged, and never with request data.
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A documented API error.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code (`invalid_request`, `unauthorized`, …).
    pub code: &'static str,
    /// Human-readable message (never contains secrets).
    pub message: String,
    /// The offending field, for `invalid_request`.
    pub field: Option<String>,
    /// Extra structured detail (`policy_denied` reasons).
    pub details: Option<serde_json::Value>,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

/// What the audit layer learns about an error response.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    /// The code.
    pub code: &'static str,
    /// The field, if any.
    pub field: Option<String>,
    /// The message.
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            details: None,
            retry_after: None,
        }
    }
    /// 422 naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
        }
    }
    /// 400 for a body that is not parseable at all.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }
    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    /// 403 `csrf`: a console request without the anti-forgery header its cookie names, or from
    /// another site.
    pub fn csrf(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "csrf", message)
    }
    /// 403 `totp_required`: a console change needs a TOTP code entered in the last minutes.
    pub fn totp_required(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "totp_required", message)
    }
    /// 403 `scope_missing`: the API key may not ask for this at all (its scopes), whatever the
    /// policy would say.
    pub fn scope_missing(scope: custos_core::ApiScope) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "scope_missing",
            format!("this API key does not have the `{scope}` scope"),
        )
    }
    /// 403 `policy_denied` with `{rule, message}` reasons.
    pub fn policy_denied(reasons: Vec<(String, String)>) -> Self {
        let list: Vec<_> = reasons
            .iter()
            .map(|(r, m)| json!({"rule": r, "message": m}))
            .collect();
        let summary = reasons
            .iter()
            .map(|(r, _)| r.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        Self {
            details: Some(json!({ "reasons": list })),
            ..Self::new(
                StatusCode::FORBIDDEN,
                "policy_denied",
                format!("denied by policy: {summary}"),
            )
        }
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    /// 409/422 `idempotency_conflict`.
    pub fn idempotency_conflict(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, "idempotency_conflict", message)
    }
    /// 429 with `Retry-After`.
    pub fn rate_limited(scope: &str, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("{scope} rate limit exceeded"),
            )
        }
    }
    /// 503.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
    /// 502 `upstream_error`: a remote service this server relies on (a swap API, Kalshi) failed
    /// or answered something unusable.
    pub fn upstream(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "upstream_error", message)
    }
    /// 500: our own failure. The detail goes to the log, not the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
    /// With a field name.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(code = self.code, status = self.status.as_u16(), message = %self.message, "request failed");
        }
        let mut err = json!({"code": self.code, "message": self.message});
        if let Some(f) = &self.field {
            err["field"] = json!(f);
        }
        if let Some(d) = &self.details {
            err["details"] = d.clone();
        }
        let mut resp = (self.status, axum::Json(json!({ "error": err }))).into_response();
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                resp.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        resp.extensions_mut().insert(ErrorInfo {
            code: self.code,
            field: self.field,
            message: self.message,
        });
        resp
    }
}

impl From<custos_core::StoreError> for ApiError {
    fn from(e: custos_core::StoreError) -> Self {
        match e {
            custos_core::StoreError::Database(_) => {
                tracing::error!(error = %e, "store failure");
                Self::unavailable("storage unavailable")
            }
            other => Self::internal(other),
        }
    }
}

impl From<custos_core::CustodyError> for ApiError {
    fn from(e: custos_core::CustodyError) -> Self {
        use custos_core::CustodyError as C;
        match e {
            C::PolicyRefused(m) => Self::policy_denied(vec![("custody_boundary".into(), m)]),
            C::EnvelopeRefused(m) => {
                Self::policy_denied(vec![("custody_boundary.policy".into(), m)])
            }
            C::InvalidPayload(m) => Self::invalid("message", m),
            C::Unavailable(m) => {
                tracing::error!(error = %m, "custody boundary unavailable");
                Self::unavailable("custody boundary unavailable")
            }
            other => Self::internal(other),
        }
    }
}
