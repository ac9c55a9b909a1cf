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
