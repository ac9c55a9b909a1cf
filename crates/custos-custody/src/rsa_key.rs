//! The agent's RSA key for Kalshi's API: RSA-2048, signing RSA-PSS with SHA-256, MGF1-SHA-256
//! and a 32-byte salt (what Kalshi verifies). OpenSSL does the arithmetic (the `rsa` crate's
//! private-key operations are not constant-time: RUSTSEC-2023-0071); OpenSSL clears a private
//! key's numbers when it is freed.
//!
//! The sealed form is the PKCS#8 DER of the private key, held only in [`Zeroizing`] buffers.
use custos_core::CustodyError;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::{Padding, Rsa};
use openssl::sign::{RsaPssSaltlen, Signer};
use zeroize::Zeroizing;

/// Modulus size of every key generated here.
pub const BITS: u32 = 2048;

/// An RSA private key.
pub(crate) struct RsaKey(PKey<Private>);

fn internal(what: &str) -> impl Fn(openssl::error::ErrorStack) -> CustodyError + '_ {
    move |_| CustodyError::Internal(format!("rsa: {what} failed"))
}

impl RsaKey {
    /// A fresh 2048-bit key (e = 65537) from OpenSSL's CSPRNG.
    pub(crate) fn generate() -> Result<Self, CustodyError> {
        let rsa = Rsa::generate(BITS).map_err(internal("key generation"))?;
        PKey::from_rsa(rsa)
            .map(Self)
            .map_err(internal("key wrapping"))
    }

    /// From its PKCS#8 DER (as unsealed): refused unless it is a 2048-bit RSA key.
    pub(crate) fn from_pkcs8(der: &[u8]) -> Result<Self, CustodyError> {
        let bad = || CustodyError::Internal("unsealed key has the wrong form".into());
        let key = PKey::private_key_from_pkcs8(der).map_err(|_| bad())?;
        let rsa = key.rsa().map_err(|_| bad())?;
        if rsa.size() * 8 != BITS || !rsa.check_key().unwrap_or(false) {
            return Err(bad());
        }
        Ok(Self(key))
    }

    /// The PKCS#8 DER, for sealing only.
    pub(crate) fn to_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, CustodyError> {
        self.0
            .private_key_to_pkcs8()
            .map(Zeroizing::new)
            .map_err(internal("pkcs8 encoding"))
    }

    /// The DER `SubjectPublicKeyInfo`.
    pub(crate) fn public_der(&self) -> Vec<u8> {
        self.0.public_key_to_der().unwrap_or_default()
    }

    /// RSA-PSS (SHA-256, MGF1-SHA-256, salt = digest length) over `msg`.
    pub(crate) fn sign_pss(&self, msg: &[u8]) -> Result<Vec<u8>, CustodyError> {
        let fail = internal("signing");
        let mut s = Signer::new(MessageDigest::sha256(), &self.0).map_err(&fail)?;
        s.set_rsa_padding(Padding::PKCS1_PSS).map_err(&fail)?;
        s.set_rsa_mgf1_md(MessageDigest::sha256()).map_err(&fail)?;
        s.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)
            .map_err(&fail)?;
        s.update(msg).map_err(&fail)?;
        s.sign_to_vec().map_err(&fail)
    }
}

/// The DER `SubjectPublicKeyInfo` of the RSA public key with modulus `n` and exponent `e`
/// (big-endian, as a PKCS#11 token reports `CKA_MODULUS` / `CKA_PUBLIC_EXPONENT`): refused
/// unless the modulus is [`BITS`] long.
pub fn spki_from_components(n: &[u8], e: &[u8]) -> Result<Vec<u8>, CustodyError> {
    use openssl::bn::BigNum;
    let bad = || CustodyError::Internal("the token returned an unusable RSA public key".into());
    let rsa = Rsa::from_public_components(
        BigNum::from_slice(n).map_err(|_| bad())?,
        BigNum::from_slice(e).map_err(|_| bad())?,
    )
    .map_err(|_| bad())?;
    if rsa.size() * 8 != BITS {
        return Err(bad());
    }
    PKey::from_rsa(rsa)
        .and_then(|k| k.public_key_to_der())
        .map_err(|_| bad())
}

/// The PEM (`-----BEGIN PUBLIC KEY-----`) of a DER `SubjectPublicKeyInfo`: what an owner uploads
/// to Kalshi.
pub fn public_pem(der: &[u8]) -> Result<String, CustodyError> {
    PKey::public_key_from_der(der)
        .and_then(|k| k.public_key_to_pem())
        .map_err(|_| CustodyError::InvalidPayload("not an RSA public key".into()))
        .and_then(|pem| {
            String::from_utf8(pem).map_err(|_| CustodyError::Internal("pem is not utf-8".into()))
        })
}

/// Verifies an RSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt) signature with a DER public key.
pub fn verify_pss(public_der: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let Ok(key) = PKey::public_key_from_der(public_der) else {
        return false;
    };
    let Ok(mut v) = openssl::sign::Verifier::new(MessageDigest::sha256(), &key) else {
        return false;
    };
    v.set_rsa_padding(Padding::PKCS1_PSS).is_ok()
        && v.set_rsa_mgf1_md(MessageDigest::sha256()).is_ok()
        && v.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH).is_ok()
        && v.update(msg).is_ok()
        && v.verify(sig).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn signs_pss_that_verifies_and_survives_pkcs8() {
        let k = RsaKey::generate().unwrap();
        let der = k.to_pkcs8().unwrap();
        let back = RsaKey::from_pkcs8(&der).unwrap();
        assert_eq!(back.public_der(), k.public_der());
        let sig = back
            .sign_pss(b"1700000000000GET/trade-api/v2/portfolio/balance")
            .unwrap();
        assert_eq!(sig.len(), 256);
        let pk = k.public_der();
        assert!(verify_pss(
            &pk,
            b"1700000000000GET/trade-api/v2/portfolio/balance",
            &sig
        ));
        assert!(!verify_pss(
            &pk,
            b"1700000000001GET/trade-api/v2/portfolio/balance",
            &sig
        ));
        let mut tampered = sig.clone();
        tampered[10] ^= 1;
        assert!(!verify_pss(
            &pk,
            b"1700000000000GET/trade-api/v2/portfolio/balance",
            &tampered
        ));
        // PSS is randomised: two signatures of one message differ and both verify.
        let again = k.sign_pss(b"m").unwrap();
        assert_ne!(again, k.sign_pss(b"m").unwrap());
        assert!(public_pem(&pk)
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----"));
        let rsa = k.0.rsa().unwrap();
        let rebuilt = spki_from_components(&rsa.n().to_vec(), &rsa.e().to_vec()).unwrap();
        assert_eq!(rebuilt, pk);
        assert!(spki_from_components(&rsa.n().to_vec()[1..], &rsa.e().to_vec()).is_err());
    }

    #[test]
    fn other_keys_are_refused_on_unseal() {
        let small = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
        assert!(RsaKey::from_pkcs8(&small.private_key_to_pkcs8().unwrap()).is_err());
        let ec = PKey::from_ec_key(
            openssl::ec::EcKey::generate(
                &openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)
                    .unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        assert!(RsaKey::from_pkcs8(&ec.private_key_to_pkcs8().unwrap()).is_err());
        assert!(RsaKey::from_pkcs8(b"junk").is_err());
    }
}
