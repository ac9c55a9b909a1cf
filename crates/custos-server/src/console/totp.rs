//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP: HMAC-SHA1, 30-second steps, six
//! digits) — what an operator's authenticator app shows, asked for before admin actions.
//!
//! A code is accepted for the step it names and one step either side (clock drift), and each
//! step at most once per operator: [`verify`] returns the step it matched, which the caller
//! must record (compare-and-set) so the same code cannot be used twice.
use custos_core::SecretString;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Seconds per step.
pub const STEP_SECONDS: i64 = 30;
/// Digits in a code.
pub const DIGITS: u32 = 6;
/// Bytes of a new secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;

/// HOTP (RFC 4226 §5.3): the `digits`-digit code for `counter` under `key`.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
        return 0; // HMAC takes keys of any length: unreachable.
    };
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[19] & 0x0f);
    let bin = (u32::from(h[offset] & 0x7f) << 24)
        | (u32::from(h[offset + 1]) << 16)
        | (u32::from(h[offset + 2]) << 8)
        | u32::from(h[offset + 3]);
    bin % 10u32.pow(digits)
}

/// The step a Unix time falls in.
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The six-digit code for `step`, zero-padded.
pub fn code_at(key: &[u8], step: i64) -> String {
    let counter = u64::try_from(step).unwrap_or(0);
    format!("{:06}", hotp(key, counter, DIGITS))
}

/// Checks `code` at `unix_seconds`: the step it matches (the current one or one either side),
/// if it matches one after `last_used` (a step already used is refused). Constant-time compare.
pub fn verify(key: &[u8], code: &str, unix_seconds: i64, last_used: Option<i64>) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_seconds);
    let mut matched = None;
    for step in [now - 1, now, now + 1] {
        let expected = code_at(key, step);
        let same = expected
            .bytes()
            .zip(code.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        if same && last_used.is_none_or(|l| step > l) && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// A new random secret.
pub fn new_secret() -> zeroize::Zeroizing<Vec<u8>> {
    use rand::RngCore as _;
    let mut s = zeroize::Zeroizing::new(vec![0u8; SECRET_BYTES]);
    rand::rngs::OsRng.fill_bytes(&mut s);
    s
}

/// The secret in base32 (RFC 4648, no padding), as authenticator apps take it.
pub fn base32(secret: &[u8]) -> SecretString {
    SecretString::new(data_encoding::BASE32_NOPAD.encode(secret))
}

/// The `otpauth://` URI an authenticator app scans (Google Authenticator's key-URI format).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> SecretString {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    SecretString::new(format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        enc(issuer),
        enc(account),
        base32(secret).expose(),
        enc(issuer)
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const RFC_SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc4226_appendix_d_hotp_vectors() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(
                hotp(RFC_SEED, counter as u64, 6),
                *want,
                "counter {counter}"
            );
        }
    }

    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        for (t, want) in [
            (59i64, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            let counter = u64::try_from(step_at(t)).unwrap();
            assert_eq!(hotp(RFC_SEED, counter, 8), want, "T = {t}");
        }
    }

    #[test]
    fn a_code_is_good_for_its_step_and_one_either_side_once() {
        let t = 1_111_111_111i64;
        let code = code_at(RFC_SEED, step_at(t));
        assert_eq!(verify(RFC_SEED, &code, t, None), Some(step_at(t)));
        assert_eq!(verify(RFC_SEED, &code, t + 30, None), Some(step_at(t)));
        assert_eq!(verify(RFC_SEED, &code, t - 30, None), Some(step_at(t)));
        assert_eq!(verify(RFC_SEED, &code, t + 90, None), None, "too late");
        // Used once: the same step again is refused, a later one is not.
        assert_eq!(verify(RFC_SEED, &code, t, Some(step_at(t))), None);
        let next = code_at(RFC_SEED, step_at(t) + 1);
        assert_eq!(
            verify(RFC_SEED, &next, t + 30, Some(step_at(t))),
            Some(step_at(t) + 1)
        );
        for bad in ["", "12345", "1234567", "abcdef", "94287O"] {
            assert_eq!(verify(RFC_SEED, bad, t, None), None, "{bad:?}");
        }
        assert_eq!(verify(b"another key", &code, t, None), None);
    }

    #[test]
    fn the_uri_carries_the_base32_secret() {
        let uri = otpauth_uri("Custos", "ops@example.com", RFC_SEED);
        assert_eq!(
            uri.expose(),
            "otpauth://totp/Custos:ops@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Custos&algorithm=SHA1&digits=6&period=30"
        );
        assert!(!format!("{uri:?}").contains("GEZD"), "redacted");
        assert_eq!(new_secret().len(), SECRET_BYTES);
    }
}
