//! Knot's login: `POST /knot/connect/start {email}` → `data.otpId`, `POST /knot/connect/complete
//! {email, otpId, otpCode}` → `data {apiToken, solanaAddress, username, isNewAgent}`, and
//! `POST /knot/connect/validate` (the token's standing). They are `POST /v1/auth/otp`,
//! `POST /v1/auth/verify` and `GET /v1/wallets/me` underneath.
//!
//! Custos keeps one pending code per email, so Knot's `otpId` carries nothing of its own: it is
//! derived from the email under the server's OTP pepper (HMAC-SHA256, shown as a UUID) and
//! `complete` checks that it names that email — a client that mixes up two logins is told so
//! instead of having one code tried against the other.
use super::{body, Call, Envelope, Knot};
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;

/// `POST /knot/connect/start` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Start {
    email: String,
}

/// `POST /knot/connect/complete` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Complete {
    email: String,
    otp_id: String,
    otp_code: String,
}

/// The `otpId` of `email`'s pending code.
fn otp_id(pepper: &[u8], email: &str) -> String {
    let tag = crate::keyed::hmac_sha256(pepper, &[b"custos knot otpId\0", email.as_bytes()]);
    let mut id = [0u8; 16];
    id.copy_from_slice(&tag[..16]);
    uuid::Uuid::from_bytes(id).to_string()
}

/// Sends a login code to the email.
pub async fn start(
    State(k): State<Knot>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let req: Start = match body(&raw) {
        Ok(r) => r,
        Err(e) => return Envelope::from_api_error(e),
    };
    let email = match crate::routes::auth::normalize_email(&req.email) {
        Ok(e) => e,
        Err(e) => return Envelope::from_api_error(e),
    };
    let call = Call::new(Method::POST, "/v1/auth/otp", &headers).json(json!({"email": email}));
    match k.expect_ok(peer, call).await {
        Ok(_) => Envelope::ok(
            StatusCode::OK,
            "OTP sent successfully.",
            json!({"otpId": otp_id(k.app.otp_pepper.as_ref(), &email)}),
        ),
        Err(e) => e,
    }
}

/// Exchanges the code for a session token, provisioning the agent on its first login.
pub async fn complete(
    State(k): State<Knot>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let req: Complete = match body(&raw) {
        Ok(r) => r,
        Err(e) => return Envelope::from_api_error(e),
    };
    let email = match crate::routes::auth::normalize_email(&req.email) {
        Ok(e) => e,
        Err(e) => return Envelope::from_api_error(e),
    };
    if req.otp_id != otp_id(k.app.otp_pepper.as_ref(), &email) {
        return Envelope::from_api_error(ApiError::invalid(
            "otpId",
            "not the otpId /connect/start returned for this email",
        ));
    }
    let call = Call::new(Method::POST, "/v1/auth/verify", &headers)
        .json(json!({"email": email, "code": req.otp_code}));
    let session = match k.expect_ok(peer, call).await {
        Ok(r) => r.body,
        Err(e) => return e,
    };
    let Some(token) = session["token"].as_str() else {
        return Envelope::from_api_error(ApiError::internal("the session answer has no token"));
    };
    let Ok(mut bearer) = HeaderValue::from_str(&format!("Bearer {token}")) else {
        return Envelope::from_api_error(ApiError::internal("the token is not a header value"));
    };
    bearer.set_sensitive(true);
    let no_headers = HeaderMap::new();
    let me = match k
        .send(
            peer,
            Call::new(Method::GET, "/v1/wallets/me", &no_headers),
            Some(bearer),
        )
        .await
    {
        Ok(r) if r.status.is_success() => r.body,
        Ok(r) => return Envelope::from_error(&r),
        Err(e) => return e,
    };
    let new = session["new_agent"].as_bool().unwrap_or(false);
    let agent_id = session["agent_id"].as_str().unwrap_or_default();
    Envelope::ok(
        StatusCode::OK,
        if new {
            "Authentication successful. Wallet created."
        } else {
            "Authentication successful."
        },
        json!({
            "apiToken": token,
            "solanaAddress": me["addresses"]["solana"],
            "username": username(agent_id),
            "isNewAgent": new,
            "expiresAt": session["expires_at"],
        }),
    )
}

/// Knot's `username`: `agent_` and the first twelve hex digits of the agent id.
fn username(agent_id: &str) -> String {
    let hex: String = agent_id.chars().filter(|c| *c != '-').take(12).collect();
    format!("agent_{hex}")
}

/// Whether the caller's token is good, and whose it is.
pub async fn validate(
    State(k): State<Knot>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let me = match k
        .expect_ok(peer, Call::new(Method::GET, "/v1/wallets/me", &headers))
        .await
    {
        Ok(r) => r.body,
        Err(e) => return e,
    };
    Envelope::ok(
        StatusCode::OK,
        "Token is valid.",
        json!({
            "valid": true,
            "email": me["email"],
            "solanaAddress": me["addresses"]["solana"],
            "username": username(me["agent_id"].as_str().unwrap_or_default()),
            "expiresAt": session_expiry(&headers),
        }),
    )
}

/// The expiry (RFC 3339) of a session token the API has just accepted; `null` for an API key,
/// which does not expire.
fn session_expiry(headers: &HeaderMap) -> serde_json::Value {
    use base64::Engine;
    let exp = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| t.split('.').nth(1))
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|c| c["exp"].as_i64());
    match exp {
        Some(secs) => json!(custos_core::clock::rfc3339(secs)),
        None => serde_json::Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otp_id_names_one_email_under_one_pepper() {
        let a = otp_id(&[1; 32], "a@example.com");
        assert_eq!(a, otp_id(&[1; 32], "a@example.com"));
        assert_ne!(a, otp_id(&[1; 32], "b@example.com"));
        assert_ne!(a, otp_id(&[2; 32], "a@example.com"));
        assert!(uuid::Uuid::parse_str(&a).is_ok(), "{a}");
    }

    #[test]
    fn username_is_stable_and_short() {
        assert_eq!(
            username("0a1b2c3d-4e5f-6789-abcd-ef0123456789"),
            "agent_0a1b2c3d4e5f"
        );
    }
}
