//! Email one-time codes: 6 uniformly random digits, stored as a keyed hash (HMAC-SHA-256 under
//! a server pepper, so a database dump does not let anyone brute-force the million codes
//! offline), compared in constant time.
use custos_core::SecretString;
use rand::Rng;
use subtle::ConstantTimeEq;

/// A new 6-digit code.
pub fn generate() -> SecretString {
    let n: u32 = rand::rngs::OsRng.gen_range(0..1_000_000);
    SecretString::new(format!("{n:06}"))
}

/// The stored hash of `code` for `email`.
pub fn hash(pepper: &[u8], email: &str, code: &str) -> [u8; 32] {
    crate::keyed::hmac_sha256(pepper, &[email.as_bytes(), &[0], code.as_bytes()])
}

/// Constant-time equality of two hashes.
pub fn matches(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

/// Whether `code` has the shape of a code at all (so garbage is refused without a lookup).
pub fn well_formed(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

/// Stores a new code for `key` (an agent's email, or `operator:<email>` for an operator's
/// enrolment) and mails it to `to`. The rate limit is the caller's.
pub async fn issue(
    state: &crate::state::AppState,
    key: &str,
    to: &str,
) -> Result<(), crate::error::ApiError> {
    let code = generate();
    let ttl = state.cfg.auth.otp_ttl_seconds;
    let now = state.clock.now_ms();
    state
        .store
        .put_otp(custos_core::OtpRecord {
            email: key.to_owned(),
            code_hash: hash(state.otp_pepper.as_ref(), key, code.expose()),
            expires_at_ms: now + i64::try_from(ttl).unwrap_or(i64::MAX / 2_000) * 1000,
            attempts: 0,
        })
        .await?;
    let mail = crate::mailer::LoginMail {
        to,
        code: &code,
        ttl_minutes: ttl.div_ceil(60),
    };
    if let Err(e) = state.mailer.send(mail).await {
        tracing::error!(error = %e, "login mail not delivered");
        state.store.delete_otp(key).await?;
        return Err(crate::error::ApiError::unavailable(
            "the login code could not be delivered",
        ));
    }
    Ok(())
}

/// Checks `code` for `key` and uses it up: `Ok(Err(reason))` when it is refused (no pending
/// code, expired, wrong — too many wrong ones discard it —, already used).
pub async fn check(
    state: &crate::state::AppState,
    key: &str,
    code: &str,
) -> Result<Result<(), &'static str>, crate::error::ApiError> {
    let now = state.clock.now_ms();
    let presented = hash(state.otp_pepper.as_ref(), key, code);
    let Some(rec) = state.store.otp(key).await? else {
        return Ok(Err("no pending code"));
    };
    if rec.expires_at_ms <= now {
        state.store.delete_otp(key).await?;
        return Ok(Err("code expired"));
    }
    if !matches(&rec.code_hash, &presented) {
        let attempts = state.store.record_otp_failure(key).await?;
        if attempts >= state.cfg.auth.otp_max_attempts {
            state.store.delete_otp(key).await?;
        }
        return Ok(Err("wrong code"));
    }
    if !state.store.consume_otp(key, &presented).await? {
        return Ok(Err("code already used"));
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> =
            (0..200).map(|_| generate().expose().to_owned()).collect();
        assert!(codes.iter().all(|c| well_formed(c)));
        assert!(codes.len() > 190, "codes repeat too often: {}", codes.len());
    }

    #[test]
    fn hash_binds_pepper_email_and_code() {
        let h = hash(b"pepper", "a@x.io", "123456");
        assert!(matches(&h, &hash(b"pepper", "a@x.io", "123456")));
        assert!(!matches(&h, &hash(b"pepper", "a@x.io", "123457")));
        assert!(!matches(&h, &hash(b"pepper", "b@x.io", "123456")));
        assert!(!matches(&h, &hash(b"other", "a@x.io", "123456")));
    }
}
