//! Enrolment and login: an invited operator proves their email with a code, registers a
//! passkey (once: an enrolled account cannot be enrolled again by email), and logs in with it;
//! logout; who is logged in. Every refusal is audited and counted; too many refused logins or
//! TOTP codes in a row lock the account for `console.lockout_minutes` and end its sessions.
use super::session::{self, Operator, SESSION_COOKIE};
use super::{Ceremony, Console, CEREMONY_MS};
use crate::audit_info::RequestId;
use crate::error::ApiError;
use crate::extract::StrictJson;
use crate::routes::auth::{audit_event, normalize_email};
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use custos_core::{OperatorAccount, StoredPasskey};
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::{Passkey, PublicKeyCredential, RegisterPublicKeyCredential, Uuid};

/// `{email}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailBody {
    email: String,
}

/// `{email, code}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    email: String,
    code: String,
}

/// `{ticket, credential}`: the browser's answer to a ceremony.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinishBody {
    ticket: String,
    credential: serde_json::Value,
}

/// The OTP store's key for an operator's enrolment code (apart from agents' login codes).
fn otp_key(email: &str) -> String {
    format!("operator:{email}")
}

/// The principal id of a console operator (`console:<account id>`).
pub fn principal_id(a: &OperatorAccount) -> String {
    format!("console:{}", a.id)
}

/// How the audit log names a console operator: its principal id and role, like a token's.
pub fn label(a: &OperatorAccount) -> String {
    format!("{} ({})", principal_id(a), a.role.as_str())
}

/// What the console shows of an account.
pub fn view(a: &OperatorAccount, fresh_until_ms: Option<i64>) -> serde_json::Value {
    json!({"email": a.email, "role": a.role.as_str(),
           "totp_enrolled": a.totp.as_ref().is_some_and(|t| t.confirmed),
           "totp_fresh_until_ms": fresh_until_ms, "passkeys": a.passkeys.len()})
}

/// Audits a console event about `account` (or about an email with no account).
#[allow(clippy::too_many_arguments)]
pub(super) async fn audit(
    c: &Console,
    rid: &RequestId,
    endpoint: &str,
    action: &str,
    account: Option<&OperatorAccount>,
    status: u16,
    params: serde_json::Value,
    reason: Option<&str>,
) -> Result<(), ApiError> {
    audit_event(
        &c.app,
        rid,
        endpoint,
        action,
        None,
        account.map(label),
        status,
        params,
        reason,
    )
    .await
}

/// Reads, changes with `f` and stores the account, again if another writer got there first.
pub async fn update_account(
    c: &Console,
    id: &str,
    f: impl Fn(&mut OperatorAccount) -> Result<(), ApiError>,
) -> Result<OperatorAccount, ApiError> {
    for _ in 0..8 {
        let mut a = c
            .app
            .store
            .operator_account(id)
            .await?
            .ok_or_else(|| ApiError::unauthorized("no such operator"))?;
        f(&mut a)?;
        if c.app.store.operator_account_update(&a).await? {
            a.version += 1;
            return Ok(a);
        }
    }
    Err(ApiError::unavailable(
        "the account changed too often meanwhile; try again",
    ))
}

/// Counts a refused login or TOTP code against the account; at `console.max_failed_logins` in
/// a row it is locked for `console.lockout_minutes` and its sessions end.
pub async fn count_failure(c: &Console, id: &str) -> Result<OperatorAccount, ApiError> {
    let now = c.app.clock.now_ms();
    let (max, lock_ms) = (
        c.app.cfg.console.max_failed_logins,
        i64::from(c.app.cfg.console.lockout_minutes) * 60_000,
    );
    let a = update_account(c, id, |a| {
        a.failed_logins = a.failed_logins.saturating_add(1);
        if a.failed_logins >= max {
            a.locked_until_ms = now + lock_ms;
            a.failed_logins = 0;
        }
        Ok(())
    })
    .await?;
    if a.locked_until_ms > now {
        c.app.store.console_sessions_end(&a.id).await?;
    }
    Ok(a)
}

/// The account with `email`, if it may log in or enrol.
async fn enabled(c: &Console, email: &str) -> Result<Option<OperatorAccount>, ApiError> {
    Ok(c.app
        .store
        .operator_account_by_email(email)
        .await?
        .filter(|a| !a.disabled))
}

/// Sends an enrolment code to an invited operator. Always `202 {sent: true}`: the answer does
/// not tell whether the address is invited.
pub async fn enrol_start(
    State(c): State<Console>,
    Extension(rid): Extension<RequestId>,
    StrictJson(body): StrictJson<EmailBody>,
) -> Result<Response, ApiError> {
    let email = normalize_email(&body.email)?;
    if let Err(refusal) = c.app.limits.admit_otp(&email, c.app.clock.now_ms()).await {
        return Err(refusal.into_error());
    }
    // Only an invitation not yet used: once an operator has a passkey, an email code alone
    // must not be enough to add another (that would make the mailbox the key).
    let account = enabled(&c, &email).await?;
    let open = account.as_ref().is_some_and(|a| a.passkeys.is_empty());
    if open {
        crate::auth::otp::issue(&c.app, &otp_key(&email), &email).await?;
    }
    audit(
        &c,
        &rid,
        "POST /console/api/enrol/start",
        "console.enrol.code",
        account.as_ref(),
        202,
        json!({"email": email, "invited": account.is_some(), "sent": open}),
        None,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"sent": true}))).into_response())
}

/// Checks the emailed code and begins registering a passkey: `{ticket, options}` for
/// `navigator.credentials.create`.
pub async fn enrol_verify(
    State(c): State<Console>,
    Extension(rid): Extension<RequestId>,
    StrictJson(body): StrictJson<CodeBody>,
) -> Result<Response, ApiError> {
    let email = normalize_email(&body.email)?;
    if !crate::auth::otp::well_formed(&body.code) {
        return Err(ApiError::invalid("code", "must be 6 digits"));
    }
    let (c, rid, email) = (&c, &rid, &email);
    let refused = |reason: &'static str| async move {
        c.app
            .metrics
            .auth_failures
            .with_label_values(&["console"])
            .inc();
        let params = json!({"email": email});
        match audit(
            c,
            rid,
            "POST /console/api/enrol/verify",
            "console.login",
            None,
            401,
            params,
            Some(reason),
        )
        .await
        {
            Err(e) => e,
            Ok(()) => ApiError::unauthorized("wrong, used or expired code"),
        }
    };
    if let Err(reason) = crate::auth::otp::check(&c.app, &otp_key(email), &body.code).await? {
        return Err(refused(reason).await);
    }
    let Some(account) = enabled(c, email).await? else {
        return Err(refused("no invitation").await);
    };
    if !account.passkeys.is_empty() {
        return Err(refused("already enrolled").await);
    }
    let user = account_uuid(&account)?;
    let exclude: Vec<_> = account
        .passkeys
        .iter()
        .filter_map(|p| serde_json::from_str::<Passkey>(&p.record).ok())
        .map(|p| p.cred_id().clone())
        .collect();
    let (options, state) = c
        .webauthn
        .start_passkey_registration(user, email, email, Some(exclude))
        .map_err(|e| ApiError::internal(format!("passkey registration: {e}")))?;
    let ticket = c.begin(Ceremony::Register {
        account: account.id.clone(),
        state: Box::new(state),
        expires_ms: c.app.clock.now_ms() + CEREMONY_MS,
    });
    Ok(Json(json!({"ticket": ticket, "options": options})).into_response())
}

/// The WebAuthn user handle of an account (its id's UUID).
fn account_uuid(a: &OperatorAccount) -> Result<Uuid, ApiError> {
    a.id.strip_prefix("opr_")
        .and_then(|h| Uuid::parse_str(h).ok())
        .ok_or_else(|| ApiError::internal("operator account id is not opr_<uuid>"))
}

/// Finishes registering the passkey and logs the operator in.
pub async fn enrol_finish(
    State(c): State<Console>,
    Extension(rid): Extension<RequestId>,
    StrictJson(body): StrictJson<FinishBody>,
) -> Result<Response, ApiError> {
    let credential: RegisterPublicKeyCredential = serde_json::from_value(body.credential)
        .map_err(|e| ApiError::invalid("credential", format!("not a registration: {e}")))?;
    let Some(Ceremony::Register { account, state, .. }) = c.take(&body.ticket) else {
        return Err(ApiError::invalid(
            "ticket",
            "unknown or expired: start again",
        ));
    };
    let passkey = match c.webauthn.finish_passkey_registration(&credential, &state) {
        Ok(p) => p,
        Err(e) => {
            let a = c.app.store.operator_account(&account).await?;
            audit(
                &c,
                &rid,
                "POST /console/api/enrol/finish",
                "console.enrol",
                a.as_ref(),
                401,
                json!({}),
                Some(&e.to_string()),
            )
            .await?;
            return Err(ApiError::unauthorized(format!("passkey refused: {e}")));
        }
    };
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode::<&[u8]>(passkey.cred_id().as_ref());
    let record = serde_json::to_string(&passkey).map_err(ApiError::internal)?;
    let now = c.app.clock.now_ms();
    let account = update_account(&c, &account, |a| {
        if a.disabled {
            return Err(ApiError::unauthorized("this operator is disabled"));
        }
        a.passkeys.retain(|p| p.credential_id != id);
        a.passkeys.push(StoredPasskey {
            credential_id: id.clone(),
            record: record.clone(),
            created_at_ms: now,
            last_used_ms: Some(now),
        });
        Ok(())
    })
    .await?;
    audit(
        &c,
        &rid,
        "POST /console/api/enrol/finish",
        "console.enrol",
        Some(&account),
        200,
        json!({"credential_id": id}),
        None,
    )
    .await?;
    let resp = Json(json!({"operator": view(&account, None)})).into_response();
    session::start(&c, &account, resp).await
}

/// Begins a login: `{ticket, options}` for `navigator.credentials.get`, naming the account's
/// passkeys.
pub async fn login_start(
    State(c): State<Console>,
    Extension(rid): Extension<RequestId>,
    StrictJson(body): StrictJson<EmailBody>,
) -> Result<Response, ApiError> {
    let email = normalize_email(&body.email)?;
    let account = enabled(&c, &email).await?;
    let now = c.app.clock.now_ms();
    let passkeys: Vec<Passkey> = account
        .iter()
        .flat_map(|a| &a.passkeys)
        .filter_map(|p| serde_json::from_str(&p.record).ok())
        .collect();
    let locked = account.as_ref().is_some_and(|a| a.locked_until_ms > now);
    let (Some(account), false, false) = (account, passkeys.is_empty(), locked) else {
        let reason = if locked {
            "account locked"
        } else {
            "no passkey for this email"
        };
        audit(
            &c,
            &rid,
            "POST /console/api/login/start",
            "console.login",
            None,
            401,
            json!({"email": email}),
            Some(reason),
        )
        .await?;
        return Err(ApiError::unauthorized(if locked {
            "too many refused logins: this account is locked for a while"
        } else {
            "no passkey is registered for this email (enrol first)"
        }));
    };
    let (options, state) = c
        .webauthn
        .start_passkey_authentication(&passkeys)
        .map_err(|e| ApiError::internal(format!("passkey login: {e}")))?;
    let ticket = c.begin(Ceremony::Login {
        account: account.id,
        state: Box::new(state),
        expires_ms: now + CEREMONY_MS,
    });
    Ok(Json(json!({"ticket": ticket, "options": options})).into_response())
}

/// Finishes a login: checks the assertion (signature, user verification, a counter that only
/// moves forward: a cloned authenticator is refused) and starts a session.
pub async fn login_finish(
    State(c): State<Console>,
    Extension(rid): Extension<RequestId>,
    StrictJson(body): StrictJson<FinishBody>,
) -> Result<Response, ApiError> {
    let credential: PublicKeyCredential = serde_json::from_value(body.credential)
        .map_err(|e| ApiError::invalid("credential", format!("not an assertion: {e}")))?;
    let Some(Ceremony::Login { account, state, .. }) = c.take(&body.ticket) else {
        return Err(ApiError::invalid(
            "ticket",
            "unknown or expired: start again",
        ));
    };
    let now = c.app.clock.now_ms();
    let result = match c
        .webauthn
        .finish_passkey_authentication(&credential, &state)
    {
        Ok(r) => r,
        Err(e) => {
            let a = count_failure(&c, &account).await?;
            c.app
                .metrics
                .auth_failures
                .with_label_values(&["console"])
                .inc();
            let reason = format!("passkey refused: {e}");
            audit(
                &c,
                &rid,
                "POST /console/api/login/finish",
                "console.login",
                Some(&a),
                401,
                json!({"email": a.email}),
                Some(&reason),
            )
            .await?;
            return Err(ApiError::unauthorized("the passkey was refused"));
        }
    };
    let used =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode::<&[u8]>(result.cred_id().as_ref());
    let account = update_account(&c, &account, |a| {
        a.failed_logins = 0;
        for p in &mut a.passkeys {
            if p.credential_id != used {
                continue;
            }
            let mut key: Passkey = serde_json::from_str(&p.record).map_err(ApiError::internal)?;
            key.update_credential(&result);
            p.record = serde_json::to_string(&key).map_err(ApiError::internal)?;
            p.last_used_ms = Some(now);
        }
        Ok(())
    })
    .await?;
    audit(
        &c,
        &rid,
        "POST /console/api/login/finish",
        "console.login",
        Some(&account),
        200,
        json!({"email": account.email, "credential_id": used}),
        None,
    )
    .await?;
    let resp = Json(json!({"operator": view(&account, None)})).into_response();
    session::start(&c, &account, resp).await
}

/// Ends the session.
pub async fn logout(State(c): State<Console>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = session::cookie(&headers, SESSION_COOKIE) {
        c.app
            .store
            .console_session_delete(&session::hash(token))
            .await?;
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut()
        .append(SET_COOKIE, session::set_cookie(SESSION_COOKIE, "", true, 0));
    Ok(r)
}

/// Who is logged in.
pub async fn me(op: Operator) -> Json<serde_json::Value> {
    Json(view(&op.account, op.session.totp_fresh_until_ms))
}
