//! Console sessions and request forgery: the session cookie, the anti-forgery (CSRF) cookie and
//! header, and the [`Operator`] extractor that turns a session cookie into the logged-in account.
use super::Console;
use crate::error::ApiError;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{COOKIE, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use custos_core::{ConsoleSession, OperatorAccount};
use sha2::{Digest, Sha256};

/// The session cookie (HTTP-only).
pub const SESSION_COOKIE: &str = "custos_console";
/// The anti-forgery cookie, readable by the console's script, which echoes it in
/// [`CSRF_HEADER`] on every change.
pub const CSRF_COOKIE: &str = "custos_csrf";
/// The anti-forgery header.
pub const CSRF_HEADER: &str = "x-custos-csrf";

/// 32 random bytes, base64url.
pub fn random_token() -> String {
    use rand::RngCore as _;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// SHA-256 of a cookie value: what the store keys a session by.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` for a cookie under `/console`; `http_only` for the session, `max_age` seconds
/// (0 removes it).
pub fn set_cookie(name: &str, value: &str, http_only: bool, max_age: i64) -> HeaderValue {
    let http_only = if http_only { "; HttpOnly" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/console; Secure; SameSite=Strict; Max-Age={max_age}{http_only}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("custos_invalid=1"))
}

/// Starts a session for `account`: stores it and answers `resp` with its cookie.
pub async fn start(
    c: &Console,
    account: &OperatorAccount,
    mut resp: Response,
) -> Result<Response, ApiError> {
    let token = random_token();
    let now = c.app.clock.now_ms();
    let hours = i64::from(c.app.cfg.console.session_hours);
    c.app
        .store
        .console_session_put(&ConsoleSession {
            id_hash: hash(&token),
            operator_id: account.id.clone(),
            created_at_ms: now,
            expires_at_ms: now + hours * 3_600_000,
            totp_fresh_until_ms: None,
        })
        .await?;
    resp.headers_mut().append(
        SET_COOKIE,
        set_cookie(SESSION_COOKIE, &token, true, hours * 3600),
    );
    Ok(resp)
}

/// Refuses a change (any method but `GET`/`HEAD`) to `/console/api` that another site could
/// have sent: `Sec-Fetch-Site: cross-site`, an `Origin` other than the console's, or a
/// [`CSRF_HEADER`] that is not the [`CSRF_COOKIE`]'s value — `403 csrf` before anything runs.
pub async fn csrf_guard(State(c): State<Console>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.run(req).await;
    }
    let h = req.headers();
    if h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
        return ApiError::csrf("a request from another site").into_response();
    }
    if let Some(origin) = h.get(ORIGIN).and_then(|v| v.to_str().ok()) {
        if !same_origin(&c, origin) {
            return ApiError::csrf("a request from another origin").into_response();
        }
    }
    let (Some(cookie), Some(header)) = (
        cookie(h, CSRF_COOKIE),
        h.get(CSRF_HEADER).and_then(|v| v.to_str().ok()),
    ) else {
        return ApiError::csrf(format!("missing the {CSRF_HEADER} header or its cookie"))
            .into_response();
    };
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        cookie.as_bytes(),
        header.as_bytes(),
    )) {
        return ApiError::csrf(format!("{CSRF_HEADER} does not match its cookie")).into_response();
    }
    next.run(req).await
}

/// Whether an `Origin` header is the console's (any port when the configured origin has none).
fn same_origin(c: &Console, origin: &str) -> bool {
    let (Ok(want), Ok(got)) = (c.app.cfg.console.origin_url(), reqwest::Url::parse(origin)) else {
        return false;
    };
    want.scheme() == got.scheme()
        && want.host_str() == got.host_str()
        && (want.port().is_none() || want.port() == got.port())
}

/// The logged-in operator: a live session and an enabled account.
pub struct Operator {
    /// The account.
    pub account: OperatorAccount,
    /// The session.
    pub session: ConsoleSession,
}

impl Operator {
    /// Whether a TOTP code was entered recently enough for a change.
    pub fn fresh(&self, now_ms: i64) -> bool {
        self.session.totp_fresh_until_ms.is_some_and(|u| u > now_ms)
    }
}

impl FromRequestParts<Console> for Operator {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, c: &Console) -> Result<Self, ApiError> {
        let out = || ApiError::unauthorized("not logged in to the console");
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(out)?;
        let session = c
            .app
            .store
            .console_session(&hash(token))
            .await?
            .ok_or_else(out)?;
        if session.expires_at_ms <= c.app.clock.now_ms() {
            c.app.store.console_session_delete(&session.id_hash).await?;
            return Err(out());
        }
        let account = c
            .app
            .store
            .operator_account(&session.operator_id)
            .await?
            .filter(|a| !a.disabled)
            .ok_or_else(out)?;
        Ok(Self { account, session })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cookies_are_read_by_exact_name_and_set_strictly() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; custos_csrf=xyz"));
        h.append(
            COOKIE,
            HeaderValue::from_static("custos_console=s3; custos_csrfx=no"),
        );
        assert_eq!(cookie(&h, CSRF_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("s3"));
        assert_eq!(cookie(&h, "missing"), None);
        let set = set_cookie(SESSION_COOKIE, "v", true, 60);
        let set = set.to_str().unwrap();
        for part in [
            "Secure",
            "SameSite=Strict",
            "HttpOnly",
            "Path=/console",
            "Max-Age=60",
        ] {
            assert!(set.contains(part), "{set}");
        }
        assert!(!set_cookie(CSRF_COOKIE, "v", false, 60)
            .to_str()
            .unwrap()
            .contains("HttpOnly"));
        assert_ne!(random_token(), random_token());
        assert_eq!(random_token().len(), 43);
    }
}
