//! The console's static files, embedded in the binary (no CDN, no build step), served with a
//! strict Content Security Policy; the page also gets the anti-forgery cookie here.
use super::session::{cookie, random_token, set_cookie, CSRF_COOKIE};
use super::Console;
use crate::error::ApiError;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};

/// Scripts and styles from this origin only; nothing inline, no frames, no other connections.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `(name, content type, bytes)` of every file.
const FILES: [(&str, &str, &str); 4] = [
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../../console/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/app.js"),
    ),
    (
        "webauthn.js",
        "text/javascript; charset=utf-8",
        include_str!("../../console/webauthn.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../console/style.css"),
    ),
];

fn serve(name: &str) -> Result<Response, ApiError> {
    let (_, kind, body) = FILES
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| ApiError::not_found("no such console file"))?;
    let mut r = (*body).into_response();
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(r)
}

/// The page (`/console`, `/console/`), with an anti-forgery cookie if the browser has none.
pub async fn index(State(c): State<Console>, headers: HeaderMap) -> Result<Response, ApiError> {
    let mut r = serve("index.html")?;
    if cookie(&headers, CSRF_COOKIE).is_none() {
        let hours = i64::from(c.app.cfg.console.session_hours);
        r.headers_mut().append(
            SET_COOKIE,
            set_cookie(CSRF_COOKIE, &random_token(), false, hours * 3600 * 2),
        );
    }
    Ok(r)
}

/// A script or style sheet.
pub async fn file(Path(name): Path<String>) -> Result<Response, ApiError> {
    if name == "index.html" {
        return Err(ApiError::not_found("no such console file"));
    }
    serve(&name)
}
