//! Session tokens: JWS compact serialization signed with Ed25519 (`alg: EdDSA`, RFC 8037).
//!
//! Verification accepts exactly one algorithm, so `alg: none` and algorithm-confusion tokens
//! (HS256 keyed with our public key) are refused before any signature math; header and claims
//! are parsed with unknown fields refused; `iss`, `aud` and `exp` are always checked. The
//! server's signing key lives in `<data-dir>/jwt-signing-key.json` (mode 0600).
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use custos_core::AgentId;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::path::Path;
use zeroize::Zeroizing;

/// Allowed clock skew for `iat`, seconds.
const LEEWAY_SECS: i64 = 60;
/// Longest token accepted, bytes (refused before decoding).
const MAX_TOKEN_LEN: usize = 4096;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
}

/// The claims Custos issues.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The agent.
    pub sub: String,
    /// Issued at (seconds).
    pub iat: i64,
    /// Expiry (seconds).
    pub exp: i64,
    /// Session id; only the agent's current session is accepted.
    pub jti: String,
}

/// Why a token was refused (all map to `401`; the reason is for logs and messages).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtError {
    /// Not three base64url parts of sane length.
    #[error("malformed token")]
    Malformed,
    /// Anything but EdDSA with our key id.
    #[error("unsupported token algorithm or key")]
    Algorithm,
    /// Signature does not verify.
    #[error("bad token signature")]
    Signature,
    /// Wrong issuer or audience.
    #[error("token not issued for this service")]
    Audience,
    /// Past `exp` (or issued in the future).
    #[error("token expired")]
    Expired,
}

/// The signing key and the issuer/audience it signs for.
pub struct JwtKeys {
    signing: SigningKey,
    verifying: VerifyingKey,
    kid: String,
    issuer: String,
    audience: String,
    /// Tokens whose signature, header, issuer and audience already verified, by SHA-256 of the
    /// token: an Ed25519 verification costs about two signatures, and an agent presents the
    /// same session token on every request. Expiry is still checked on every use, and the
    /// caller still checks the session is current; a token only gets here by verifying once.
    verified: std::sync::Mutex<std::collections::HashMap<[u8; 32], (AgentId, Claims)>>,
}

/// Most verified tokens remembered; the cache is emptied when it would grow past this.
const VERIFIED_CACHE_MAX: usize = 8192;

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("kid", &self.kid)
            .field("signing", &"<redacted>")
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    version: u32,
    alg: String,
    kid: String,
    seed: String,
}

impl JwtKeys {
    /// Loads the key from `data_dir`, creating it on first start.
    pub fn load_or_create(data_dir: &Path, issuer: &str, audience: &str) -> std::io::Result<Self> {
        let path = data_dir.join("jwt-signing-key.json");
        let seed = match std::fs::read(&path) {
            Ok(bytes) => {
                let f: KeyFile = serde_json::from_slice(&bytes)
                    .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))?;
                if f.version != 1 || f.alg != "EdDSA" {
                    return Err(std::io::Error::other(format!(
                        "{}: unsupported version or alg",
                        path.display()
                    )));
                }
                let raw = Zeroizing::new(
                    hex::decode(&f.seed).map_err(|_| std::io::Error::other("bad seed"))?,
                );
                let mut seed = Zeroizing::new([0u8; 32]);
                if raw.len() != 32 {
                    return Err(std::io::Error::other(format!(
                        "{}: seed must be 32 bytes",
                        path.display()
                    )));
                }
                seed.copy_from_slice(&raw);
                seed
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut seed = Zeroizing::new([0u8; 32]);
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, seed.as_mut());
                let vk = SigningKey::from_bytes(&seed).verifying_key();
                let f = KeyFile {
                    version: 1,
                    alg: "EdDSA".into(),
                    kid: kid_of(&vk),
                    seed: hex::encode(seed.as_ref()),
                };
                let text =
                    Zeroizing::new(serde_json::to_vec_pretty(&f).map_err(std::io::Error::other)?);
                crate::files::write_private(&path, &text)?;
                seed
            }
            Err(e) => return Err(e),
        };
        Ok(Self::from_seed(&seed, issuer, audience))
    }

    /// From a raw seed (tests).
    pub fn from_seed(seed: &[u8; 32], issuer: &str, audience: &str) -> Self {
        let signing = SigningKey::from_bytes(seed);
        let verifying = signing.verifying_key();
        Self {
            kid: kid_of(&verifying),
            signing,
            verifying,
            issuer: issuer.into(),
            audience: audience.into(),
            verified: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Issues a token for `agent` with session id `jti`, valid for `ttl_secs` from `now`.
    pub fn issue(&self, agent: AgentId, jti: &str, now_secs: i64, ttl_secs: i64) -> String {
        let header = Header {
            alg: "EdDSA".into(),
            typ: Some("JWT".into()),
            kid: Some(self.kid.clone()),
        };
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: agent.to_string(),
            iat: now_secs,
            exp: now_secs + ttl_secs,
            jti: jti.into(),
        };
        let h = B64.encode(serde_json::to_vec(&header).unwrap_or_default());
        let c = B64.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let signing_input = format!("{h}.{c}");
        let sig = self.signing.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", B64.encode(sig.to_bytes()))
    }

    /// Verifies a token's form, algorithm, signature, issuer, audience and time; the session
    /// (`jti`) check is the caller's.
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<(AgentId, Claims), JwtError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Malformed);
        }
        let digest = custos_core::sha256(token.as_bytes());
        let cached = self
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&digest)
            .cloned();
        if let Some((agent, claims)) = cached {
            if claims.exp <= now_secs || claims.iat > now_secs + LEEWAY_SECS {
                return Err(JwtError::Expired);
            }
            return Ok((agent, claims));
        }
        let (agent, claims) = self.verify_uncached(token, now_secs)?;
        let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= VERIFIED_CACHE_MAX {
            cache.clear();
        }
        cache.insert(digest, (agent, claims.clone()));
        Ok((agent, claims))
    }

    /// The full check: shape, algorithm and key id, signature, issuer and audience, time.
    fn verify_uncached(&self, token: &str, now_secs: i64) -> Result<(AgentId, Claims), JwtError> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let header: Header = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(JwtError::Malformed)?;
        if header.alg != "EdDSA"
            || header.kid.as_deref().is_some_and(|k| k != self.kid)
            || header.typ.as_deref().is_some_and(|t| t != "JWT")
        {
            return Err(JwtError::Algorithm);
        }
        let sig_bytes: [u8; 64] = B64
            .decode(s)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(JwtError::Malformed)?;
        let sig = ed25519_dalek::Signature::from_bytes(&sig_bytes);
        let signing_input_len = h.len() + 1 + c.len();
        self.verifying
            .verify_strict(&token.as_bytes()[..signing_input_len], &sig)
            .map_err(|_| JwtError::Signature)?;
        let claims: Claims = B64
            .decode(c)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(JwtError::Malformed)?;
        if claims.iss != self.issuer || claims.aud != self.audience {
            return Err(JwtError::Audience);
        }
        if claims.exp <= now_secs || claims.iat > now_secs + LEEWAY_SECS {
            return Err(JwtError::Expired);
        }
        let agent = claims.sub.parse().map_err(|_| JwtError::Malformed)?;
        Ok((agent, claims))
    }

    /// The public key as a JWK set (`GET /v1/auth/jwks`).
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "x": B64.encode(self.verifying.as_bytes()),
            "kid": self.kid, "alg": "EdDSA", "use": "sig"
        }]})
    }
}

fn kid_of(vk: &VerifyingKey) -> String {
    hex::encode(&custos_core::sha256(vk.as_bytes())[..8])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use hmac::Mac;

    fn keys() -> JwtKeys {
        JwtKeys::from_seed(&[7u8; 32], "custos", "custos-api")
    }

    fn forge(header: &str, claims: &serde_json::Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
        let input = format!("{}.{}", B64.encode(header), B64.encode(claims.to_string()));
        let sig = sign(input.as_bytes());
        format!("{input}.{}", B64.encode(sig))
    }

    #[test]
    fn issued_token_verifies_and_expires() {
        let k = keys();
        let a = AgentId::new_random();
        let t = k.issue(a, "s1", 1000, 3600);
        let (agent, claims) = k.verify(&t, 1001).unwrap();
        assert_eq!(agent, a);
        assert_eq!(claims.jti, "s1");
        assert_eq!(k.verify(&t, 4600), Err(JwtError::Expired));
    }

    #[test]
    fn the_cache_serves_only_the_exact_token_that_verified_and_still_checks_time() {
        let k = keys();
        let t = k.issue(AgentId::new_random(), "s1", 1000, 3600);
        assert!(k.verify(&t, 1001).is_ok());
        assert!(k.verify(&t, 1002).is_ok(), "served from the cache");
        // One character of the signature changed: not the cached token, verified in full.
        let mut bad = t.clone().into_bytes();
        let i = bad.len() - 2;
        bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bad).unwrap();
        assert!(matches!(
            k.verify(&bad, 1001),
            Err(JwtError::Signature | JwtError::Malformed)
        ));
        // Cached, but checked against the clock every time.
        assert_eq!(k.verify(&t, 1000 - LEEWAY_SECS - 1), Err(JwtError::Expired));
        assert_eq!(k.verify(&t, 4600), Err(JwtError::Expired));
    }

    #[test]
    fn refuses_none_confusion_tampering_and_foreign_tokens() {
        let k = keys();
        let a = AgentId::new_random();
        let claims = serde_json::json!({"iss":"custos","aud":"custos-api","sub":a.to_string(),"iat":1000,"exp":9999,"jti":"s"});
        let none = forge(r#"{"alg":"none","typ":"JWT"}"#, &claims, |_| vec![]);
        assert!(k.verify(&none, 1001).is_err());
        let pk = *k.verifying.as_bytes();
        let hs = forge(r#"{"alg":"HS256","typ":"JWT"}"#, &claims, |m| {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&pk).unwrap();
            mac.update(m);
            mac.finalize().into_bytes().to_vec()
        });
        assert_eq!(k.verify(&hs, 1001), Err(JwtError::Algorithm));
        let signing = SigningKey::from_bytes(&[7u8; 32]);
        let good = forge(r#"{"alg":"EdDSA","typ":"JWT"}"#, &claims, |m| {
            signing.sign(m).to_bytes().to_vec()
        });
        assert!(k.verify(&good, 1001).is_ok());
        let wrong_aud = serde_json::json!({"iss":"custos","aud":"other","sub":a.to_string(),"iat":1000,"exp":9999,"jti":"s"});
        let t = forge(r#"{"alg":"EdDSA"}"#, &wrong_aud, |m| {
            signing.sign(m).to_bytes().to_vec()
        });
        assert_eq!(k.verify(&t, 1001), Err(JwtError::Audience));
        let extra = serde_json::json!({"iss":"custos","aud":"custos-api","sub":a.to_string(),"iat":1000,"exp":9999,"jti":"s","admin":true});
        let t = forge(r#"{"alg":"EdDSA"}"#, &extra, |m| {
            signing.sign(m).to_bytes().to_vec()
        });
        assert_eq!(k.verify(&t, 1001), Err(JwtError::Malformed));
        // Flip one character of the payload.
        let t = k.issue(a, "s1", 1000, 3600);
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        let mut claims_json: serde_json::Value =
            serde_json::from_slice(&B64.decode(&parts[1]).unwrap()).unwrap();
        claims_json["exp"] = serde_json::json!(99_999_999);
        parts[1] = B64.encode(claims_json.to_string());
        assert_eq!(k.verify(&parts.join("."), 1001), Err(JwtError::Signature));
        let other = JwtKeys::from_seed(&[8u8; 32], "custos", "custos-api");
        assert!(k.verify(&other.issue(a, "s", 1000, 100), 1001).is_err());
        for junk in ["", "a.b", "a.b.c.d", "....", &"x".repeat(5000)] {
            assert!(k.verify(junk, 1001).is_err());
        }
    }
}
