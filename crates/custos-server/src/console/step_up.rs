//! TOTP for the console: set up an authenticator (a new secret, its `otpauth://` URI and QR
//! code), confirm it with a first code, and step up — a code entered allows changes for
//! `console.totp_fresh_minutes`. Each 30-second step is accepted once per operator (the step
//! is recorded by compare-and-set on the account). Secrets are sealed at rest: AES-256-GCM
//! under a key derived from the server's webhook root key, bound to the account id.
use super::passkeys::{count_failure, update_account, view};
use super::session::Operator;
use super::{totp, Console};
use crate::audit_info::RequestId;
use crate::error::ApiError;
use crate::extract::StrictJson;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use custos_core::{OperatorAccount, TotpState};
use serde::Deserialize;
use serde_json::json;

/// `{code}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    code: String,
}

/// The sealing key: HMAC-SHA256 of a label under the webhook root key.
fn sealing_key(c: &Console) -> zeroize::Zeroizing<[u8; 32]> {
    zeroize::Zeroizing::new(crate::keyed::hmac_sha256(
        c.app.webhook_root.as_ref(),
        &[b"custos-console-totp-seal/v1"],
    ))
}

/// `nonce ‖ ciphertext` in hex, bound to the account id.
fn seal(c: &Console, account: &str, secret: &[u8]) -> Result<String, ApiError> {
    use rand::RngCore as _;
    let key = sealing_key(c);
    let cipher = Aes256Gcm::new_from_slice(key.as_ref()).map_err(ApiError::internal)?;
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: secret,
                aad: account.as_bytes(),
            },
        )
        .map_err(|_| ApiError::internal("sealing the TOTP secret failed"))?;
    Ok(hex::encode([nonce.as_slice(), &ct].concat()))
}

/// Opens a sealed secret.
fn open(c: &Console, account: &str, sealed: &str) -> Result<zeroize::Zeroizing<Vec<u8>>, ApiError> {
    let bytes = hex::decode(sealed).map_err(|_| ApiError::internal("sealed TOTP secret"))?;
    if bytes.len() < 12 + 16 {
        return Err(ApiError::internal("sealed TOTP secret"));
    }
    let (nonce, ct) = bytes.split_at(12);
    let key = sealing_key(c);
    let cipher = Aes256Gcm::new_from_slice(key.as_ref()).map_err(ApiError::internal)?;
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ct,
                aad: account.as_bytes(),
            },
        )
        .map(zeroize::Zeroizing::new)
        .map_err(|_| ApiError::internal("the TOTP secret does not open under this server's key"))
}

/// Audits a TOTP event: a success, or a refusal (`401`) with its reason.
async fn audit(
    c: &Console,
    rid: &RequestId,
    endpoint: &str,
    action: &str,
    a: &OperatorAccount,
    reason: Option<&str>,
) -> Result<(), ApiError> {
    let status = if reason.is_some() { 401 } else { 200 };
    let params = json!({"email": a.email});
    super::passkeys::audit(c, rid, endpoint, action, Some(a), status, params, reason).await
}

/// A new secret (replacing one not yet confirmed; replacing a confirmed one needs a fresh
/// code): `{otpauth_uri, secret, qr_svg}` — shown once.
pub async fn enrol(
    State(c): State<Console>,
    Extension(rid): Extension<RequestId>,
    op: Operator,
) -> Result<Response, ApiError> {
    let now = c.app.clock.now_ms();
    if op.account.totp.as_ref().is_some_and(|t| t.confirmed) && !op.fresh(now) {
        return Err(ApiError::totp_required(
            "replacing your authenticator needs a code from the current one first",
        ));
    }
    let secret = totp::new_secret();
    let sealed = seal(&c, &op.account.id, &secret)?;
    let account = update_account(&c, &op.account.id, |a| {
        a.totp = Some(TotpState {
            sealed_secret: sealed.clone(),
            confirmed: false,
            last_step: None,
        });
        Ok(())
    })
    .await?;
    audit(
        &c,
        &rid,
        "POST /console/api/totp/enrol",
        "console.totp.enrol",
        &account,
        None,
    )
    .await?;
    let uri = totp::otpauth_uri("Custos", &account.email, &secret);
    let qr = qrcode::QrCode::new(uri.expose().as_bytes())
        .map_err(|e| ApiError::internal(format!("QR code: {e}")))?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    Ok(Json(json!({"otpauth_uri": uri.expose(), "secret": totp::base32(&secret).expose(), "qr_svg": qr})).into_response())
}

/// Checks `code` against the account's secret (confirmed or not, as `confirmed` asks), records
/// its step as used, and marks the session fresh. The account as stored after.
async fn accept(
    c: &Console,
    rid: &RequestId,
    op: &Operator,
    code: &str,
    action: &str,
) -> Result<(OperatorAccount, i64), ApiError> {
    let endpoint = format!(
        "POST /console/api/totp/{}",
        action.trim_start_matches("console.totp.")
    );
    let now = c.app.clock.now_ms();
    let Some(state) = op.account.totp.clone() else {
        return Err(ApiError::invalid(
            "code",
            "no authenticator is set up: enrol one first",
        ));
    };
    let secret = open(c, &op.account.id, &state.sealed_secret)?;
    let Some(step) = totp::verify(&secret, code, now / 1000, state.last_step) else {
        // Counted like a refused login: guessing codes locks the account and ends its sessions.
        let a = count_failure(c, &op.account.id).await?;
        audit(
            c,
            rid,
            &endpoint,
            action,
            &a,
            Some("wrong or already used TOTP code"),
        )
        .await?;
        return Err(ApiError::unauthorized("wrong or already used code"));
    };
    // The step is used only if no one recorded it (or a later one) meanwhile.
    let account = update_account(c, &op.account.id, |a| {
        let t = a
            .totp
            .as_mut()
            .ok_or_else(|| ApiError::unauthorized("the authenticator was removed"))?;
        if t.sealed_secret != state.sealed_secret || t.last_step.is_some_and(|l| l >= step) {
            return Err(ApiError::unauthorized("wrong or already used code"));
        }
        t.last_step = Some(step);
        t.confirmed = true;
        a.failed_logins = 0;
        Ok(())
    })
    .await?;
    let until = now + i64::from(c.app.cfg.console.totp_fresh_minutes) * 60_000;
    c.app
        .store
        .console_session_fresh(&op.session.id_hash, until)
        .await?;
    audit(c, rid, &endpoint, action, &account, None).await?;
    Ok((account, until))
}

/// Confirms a new authenticator with its first code.
pub async fn confirm(
    State(c): State<Console>,
    Extension(rid): Extension<RequestId>,
    op: Operator,
    StrictJson(body): StrictJson<CodeBody>,
) -> Result<Response, ApiError> {
    let (account, until) = accept(&c, &rid, &op, &body.code, "console.totp.confirm").await?;
    Ok(
        Json(json!({"totp_enrolled": true, "operator": view(&account, Some(until))}))
            .into_response(),
    )
}

/// Steps up: a code from the confirmed authenticator allows changes for a few minutes.
pub async fn verify(
    State(c): State<Console>,
    Extension(rid): Extension<RequestId>,
    op: Operator,
    StrictJson(body): StrictJson<CodeBody>,
) -> Result<Response, ApiError> {
    if !op.account.totp.as_ref().is_some_and(|t| t.confirmed) {
        return Err(ApiError::invalid(
            "code",
            "no authenticator is set up: enrol one first",
        ));
    }
    let (_, until) = accept(&c, &rid, &op, &body.code, "console.totp.verify").await?;
    Ok(Json(json!({"fresh_until_ms": until})).into_response())
}
