//! The Knot-compatible API under `/knot/…` (`[compat] knot = true`; off by default), so an agent
//! written for that hosted Solana wallet works against Custos unchanged.
//!
//! Nothing here decides anything. Each Knot request is translated into one or more requests to
//! Custos' own REST API, sent in process ([`crate::inprocess`]) with the caller's own
//! `Authorization` and `Idempotency-Key` headers — so authentication, the per-agent limit,
//! scopes, idempotency, the policy, the custody boundary and the audit log run exactly as for
//! `/v1` — and the answer is translated back into Knot's envelope
//! `{status, statusCode, message, data}`. The `/knot` request itself passes the front door's
//! global and per-IP limits like any other.
//!
//! Modules: [`connect`] (the email-OTP login), [`policy`] (Knot's policy view and the agent's
//! tighten-only `PATCH`), [`wallet`] (transfer, trade, balances, history, health and
//! capabilities). Every difference from Knot's documented behaviour is listed in the README's
//! "Knot-compatible API" section.
pub mod connect;
pub mod policy;
pub mod wallet;

use crate::error::ApiError;
use crate::inprocess::{dispatch, Reply, MAX_REPLY_BYTES};
use crate::state::AppState;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::net::SocketAddr;

/// What every Knot handler holds: the API it translates onto, and the server's state.
#[derive(Clone)]
pub struct Knot {
    api: Router,
    app: AppState,
}

/// The `/knot/…` routes, answered by `api` (the REST API, without `/knot` and `/mcp`), with the
/// pipeline's outer layers: request context, front door, bounded body.
pub fn router(app: AppState, api: Router) -> Router {
    use crate::pipeline;
    use axum::middleware::{from_fn, from_fn_with_state};
    let knot = Knot {
        api,
        app: app.clone(),
    };
    let routes = Router::new()
        .route("/connect/start", post(connect::start))
        .route("/connect/complete", post(connect::complete))
        .route("/connect/validate", post(connect::validate))
        .route(
            "/wallets/me/policy",
            get(policy::view).patch(policy::update),
        )
        .route("/wallets/me/actions/transfer", post(wallet::transfer))
        .route("/wallets/me/actions/trade", post(wallet::trade))
        .route("/wallets/me/balances", get(wallet::balances))
        .route("/wallets/me/history", get(wallet::history))
        .route("/health", get(wallet::health))
        .route("/capabilities", get(wallet::capabilities))
        .route_layer(from_fn_with_state(app.clone(), crate::mcp::bounded_body))
        .route_layer(from_fn(pipeline::tag_route))
        .fallback(|| async {
            Envelope::error(StatusCode::NOT_FOUND, "No such endpoint.", json!({}))
        })
        .method_not_allowed_fallback(|| async {
            Envelope::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed for this endpoint.",
                json!({}),
            )
        })
        .with_state(knot);
    Router::new()
        .nest("/knot", routes)
        .layer(from_fn_with_state(app.clone(), pipeline::front_door))
        .layer(from_fn_with_state(app, pipeline::request_context))
}

/// Knot's response envelope.
pub struct Envelope;

impl Envelope {
    /// A success: `{status: true, statusCode, message, data}` with `status` as the HTTP status.
    pub fn ok(status: StatusCode, message: &str, data: Value) -> Response {
        Self::with(status, true, message, data)
    }

    /// A failure: `{status: false, statusCode, message, data}`.
    pub fn error(status: StatusCode, message: &str, data: Value) -> Response {
        Self::with(status, false, message, data)
    }

    fn with(status: StatusCode, ok: bool, message: &str, data: Value) -> Response {
        (
            status,
            Json(json!({
                "status": ok,
                "statusCode": status.as_u16(),
                "message": message,
                "data": data,
            })),
        )
            .into_response()
    }

    /// Custos' error answer in Knot's envelope: `422 invalid_request` becomes Knot's `400`
    /// ("missing or invalid request fields"); every other status stays. `data` keeps Custos'
    /// `code`, `field` and `details` (a policy denial's `reasons`), and `Retry-After` is kept.
    pub fn from_error(reply: &Reply) -> Response {
        let e = &reply.body["error"];
        let code = e["code"].as_str().unwrap_or("internal");
        let status =
            if reply.status == StatusCode::UNPROCESSABLE_ENTITY && code == "invalid_request" {
                StatusCode::BAD_REQUEST
            } else {
                reply.status
            };
        let mut data = json!({"code": code});
        for k in ["field", "details"] {
            if !e[k].is_null() {
                data[k] = e[k].clone();
            }
        }
        let message = e["message"].as_str().unwrap_or("The request failed.");
        let mut r = Self::error(status, message, data);
        if let Some(v) = reply.headers.get(header::RETRY_AFTER) {
            r.headers_mut().insert(header::RETRY_AFTER, v.clone());
        }
        r
    }

    /// One of this layer's own refusals (a Knot field that does not parse) in the envelope.
    pub fn from_api_error(e: ApiError) -> Response {
        let body = json!({"error": {"code": e.code, "message": e.message, "field": e.field, "details": e.details}});
        Self::from_error(&Reply {
            status: e.status,
            headers: HeaderMap::new(),
            body,
        })
    }
}

/// A Custos request to make on the caller's behalf.
pub struct Call<'a> {
    method: Method,
    path: &'a str,
    body: Option<Value>,
    bearer: Option<&'a HeaderValue>,
    idempotency_key: Option<&'a HeaderValue>,
}

impl<'a> Call<'a> {
    /// `method path`, carrying the caller's `Authorization` and `Idempotency-Key` headers.
    pub fn new(method: Method, path: &'a str, headers: &'a HeaderMap) -> Self {
        Self {
            method,
            path,
            body: None,
            bearer: headers.get(header::AUTHORIZATION),
            idempotency_key: headers.get("idempotency-key"),
        }
    }

    /// With a JSON body.
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

impl Knot {
    /// Sends `call` through the API; a failure to get any answer is a Knot `500`.
    pub async fn send(
        &self,
        peer: ConnectInfo<SocketAddr>,
        call: Call<'_>,
        bearer: Option<HeaderValue>,
    ) -> Result<Reply, Response> {
        let req = crate::inprocess::request(
            call.method.as_str(),
            call.path,
            bearer.or_else(|| call.bearer.cloned()),
            call.idempotency_key.cloned(),
            call.body.as_ref(),
        )
        .map_err(|e| Envelope::from_api_error(ApiError::internal(e)))?;
        dispatch(&self.api, req, Some(peer), MAX_REPLY_BYTES)
            .await
            .map_err(|e| Envelope::from_api_error(ApiError::internal(e)))
    }

    /// [`Self::send`], with Custos' error answers already in Knot's envelope.
    pub async fn expect_ok(
        &self,
        peer: ConnectInfo<SocketAddr>,
        call: Call<'_>,
    ) -> Result<Reply, Response> {
        let reply = self.send(peer, call, None).await?;
        if reply.status.is_success() {
            Ok(reply)
        } else {
            Err(Envelope::from_error(&reply))
        }
    }
}

/// Parses a Knot request body strictly (unknown fields refused, errors naming the field);
/// [`Envelope::from_api_error`] makes the error Knot's `400`.
pub fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    crate::extract::parse_json(bytes)
}

/// A Knot amount (a JSON number; a decimal string is taken too) as Custos' decimal string.
/// Integers are kept exact; a fraction is written out in full (never in exponent form).
pub fn decimal(field: &str, v: &Value) -> Result<String, ApiError> {
    let bad = |m: &str| ApiError::invalid(field, m);
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(u) => Ok(u.to_string()),
            None => match n.as_f64() {
                Some(f) if f.is_finite() && f >= 0.0 => Ok(format!("{f}")),
                _ => Err(bad("must be a non-negative number")),
            },
        },
        Value::String(s) => Ok(s.clone()),
        _ => Err(bad("must be a number")),
    }
}

/// Custos' decimal string as a Knot number (`null` when there is none).
pub fn number(v: &Value) -> Value {
    v.as_str()
        .and_then(|s| s.parse::<f64>().ok())
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// An explorer link for a Solana signature on the configured cluster.
pub fn explorer_url(app: &AppState, signature: &str) -> String {
    let s = &app.cfg.solana;
    let cluster = match s.backend {
        crate::chains::SolanaBackendKind::Embedded => "?cluster=custom".to_owned(),
        _ if s.rpc_url.contains("devnet") => "?cluster=devnet".to_owned(),
        _ if s.rpc_url.contains("testnet") => "?cluster=testnet".to_owned(),
        _ if s.rpc_url.contains("mainnet") => String::new(),
        _ => format!(
            "?cluster=custom&customUrl={}",
            custos_mcp::rest::encode_component(&s.rpc_url)
        ),
    };
    format!("https://explorer.solana.com/tx/{signature}{cluster}")
}
