//! OpenBao / HashiCorp Vault as the enclave's KMS and, optionally, its key storage
//! (feature `openbao`).
//!
//! - [`OpenBaoKms`] wraps data keys with the Transit engine: `datakey/plaintext` makes a fresh
//!   256-bit data key and its Transit ciphertext (`vault:v1:…`, the bytes stored beside a sealed
//!   key); `decrypt` unwraps it. The Transit key never leaves OpenBao.
//! - with `kv_mount` set, the sealed key documents live in that KV v2 mount instead of the
//!   enclave's disk, under `{mount}/data/custos/keys/{agent}/{scheme}/{key_id}` (and
//!   `custos/identity/…` for the enclave's identity key).
//!
//! Authentication is a token (`X-Vault-Token`) read once from an environment variable whose
//! *name* is configured; the token is held in a zeroizing, redacted type, never logged and never
//! part of an error message. [`OpenBaoKms::destroy`](crate::kms::KmsProvider::destroy) wipes
//! it, after which every call fails with `Unavailable`.
//!
//! The HTTP client is blocking (`ureq`): the [`KmsProvider`](crate::kms::KmsProvider) trait is
//! synchronous and the enclave calls it only from the blocking pool (`spawn_blocking`). HTTPS
//! uses the system's OpenSSL through `native-tls` and its root store, plus an optional extra CA
//! certificate for a private Vault CA; plain `http://` is accepted only for loopback addresses,
//! so a token never crosses a network in the clear. Redirects are not followed (a standby node's
//! redirect would otherwise carry the token to another address).
pub(crate) mod kv;
mod transit;

pub use transit::OpenBaoKms;

use crate::keyfiles::{KeyFiles, KmsAndFiles};
use custos_core::{CustodyError, SecretString};
use serde::Deserialize;
use std::io::Read as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zeroize::Zeroizing;

/// Longest response body read from OpenBao (a datakey or KV answer is a few hundred bytes).
const MAX_BODY: u64 = 1024 * 1024;

/// How to reach OpenBao. Holds no secret: the token is read from the environment variable
/// named by `token_env`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenBaoConfig {
    /// Base address, e.g. `https://bao.internal:8200` (`http://` only for loopback).
    pub addr: String,
    /// Name of the environment variable holding the token.
    pub token_env: String,
    /// Transit key name that wraps data keys; created (`aes256-gcm96`) if missing.
    pub transit_key: String,
    /// Mount path of the Transit engine. Default `transit`.
    pub transit_mount: String,
    /// KV v2 mount for sealed key documents (e.g. `secret`); `None` keeps them on disk.
    pub kv_mount: Option<String>,
    /// Extra PEM CA certificate trusted for `https://` (beside the system roots).
    pub ca_cert: Option<PathBuf>,
    /// Timeout for connecting and for a whole request. Default 10 s.
    pub timeout: Duration,
}

impl OpenBaoConfig {
    /// A configuration with the default Transit mount, no KV storage and a 10 s timeout.
    pub fn new(
        addr: impl Into<String>,
        token_env: impl Into<String>,
        transit_key: impl Into<String>,
    ) -> Self {
        Self {
            addr: addr.into(),
            token_env: token_env.into(),
            transit_key: transit_key.into(),
            transit_mount: "transit".into(),
            kv_mount: None,
            ca_cert: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Connects to OpenBao for the enclave: the Transit provider, and the KV key store when
/// `kv_mount` is set (`None`: keys stay on disk).
pub(crate) fn open(cfg: &OpenBaoConfig) -> Result<KmsAndFiles, CustodyError> {
    let kms = OpenBaoKms::connect(cfg)?;
    let files: Option<Box<dyn KeyFiles>> = match &cfg.kv_mount {
        Some(mount) => Some(Box::new(kv::KvFiles::new(kms.client(), mount)?)),
        None => None,
    };
    Ok((Arc::new(kms), files))
}

/// How one HTTP exchange with OpenBao went wrong, before it is mapped to a [`CustodyError`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum BaoFailure {
    /// No answer: connection refused, timeout, TLS failure.
    #[error("OpenBao at {addr} is unreachable: {reason}")]
    Unreachable { addr: String, reason: String },
    /// An answer with a non-2xx status and OpenBao's `errors` list.
    #[error("OpenBao answered {status}: {errors}")]
    Status { status: u16, errors: String },
    /// An answer that is not what the API documents.
    #[error("unexpected answer from OpenBao: {0}")]
    BadResponse(String),
    /// [`BaoClient::wipe`] ran: the token is gone.
    #[error("OpenBao client destroyed")]
    Destroyed,
}

impl BaoFailure {
    /// The error the enclave reports for a failed call doing `what`. Status codes that mean
    /// "fix the configuration" (403, 404 on a mount) say so; none of them carries the token.
    pub(crate) fn into_custody(self, what: &str, token_env: &str) -> CustodyError {
        match self {
            Self::Status { status: 403, .. } => CustodyError::Unavailable(format!(
                "OpenBao refused the token from ${token_env} for {what} (403 permission denied)"
            )),
            Self::Status { status: 503, .. } => {
                CustodyError::Unavailable(format!("OpenBao is sealed or in standby ({what})"))
            }
            Self::Destroyed => CustodyError::Unavailable("OpenBao KMS destroyed".into()),
            e @ Self::Unreachable { .. } => CustodyError::Unavailable(format!("{what}: {e}")),
            e => CustodyError::Internal(format!("{what}: {e}")),
        }
    }
}

/// OpenBao's error body: `{"errors": ["..."]}`.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<String>,
}

/// A blocking client for one OpenBao address and token, shared by the Transit provider and
/// the KV store.
pub(crate) struct BaoClient {
    base: String,
    agent: ureq::Agent,
    token: Mutex<Option<SecretString>>,
    token_env: String,
}

impl std::fmt::Debug for BaoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BaoClient")
            .field("addr", &self.base)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl BaoClient {
    /// Reads the token from the environment and builds the HTTP agent. Does no I/O to OpenBao.
    pub(crate) fn from_config(cfg: &OpenBaoConfig) -> Result<Arc<Self>, CustodyError> {
        let token = std::env::var(&cfg.token_env).map_err(|_| {
            CustodyError::Unavailable(format!(
                "environment variable {} (the OpenBao token) is not set",
                cfg.token_env
            ))
        })?;
        let token = SecretString::new(token);
        if token.expose().trim().is_empty() {
            return Err(CustodyError::Unavailable(format!(
                "environment variable {} (the OpenBao token) is empty",
                cfg.token_env
            )));
        }
        Self::new(cfg, token)
    }

    fn new(cfg: &OpenBaoConfig, token: SecretString) -> Result<Arc<Self>, CustodyError> {
        let base = cfg.addr.trim_end_matches('/').to_string();
        check_addr(&base)?;
        let mut tls = ureq::native_tls::TlsConnector::builder();
        if let Some(path) = &cfg.ca_cert {
            let pem = std::fs::read(path).map_err(|e| {
                CustodyError::Internal(format!("read OpenBao CA {}: {e}", path.display()))
            })?;
            let cert = ureq::native_tls::Certificate::from_pem(&pem).map_err(|e| {
                CustodyError::Internal(format!("OpenBao CA {}: {e}", path.display()))
            })?;
            tls.add_root_certificate(cert);
        }
        let tls = tls
            .build()
            .map_err(|e| CustodyError::Internal(format!("TLS setup for OpenBao: {e}")))?;
        let agent = ureq::AgentBuilder::new()
            .tls_connector(Arc::new(tls))
            .timeout_connect(cfg.timeout)
            .timeout(cfg.timeout)
            .redirects(0)
            .build();
        Ok(Arc::new(Self {
            base,
            agent,
            token: Mutex::new(Some(token)),
            token_env: cfg.token_env.clone(),
        }))
    }

    /// The environment variable the token came from (named in error messages).
    pub(crate) fn token_env(&self) -> &str {
        &self.token_env
    }

    /// Forgets the token; every later call fails with [`BaoFailure::Destroyed`].
    pub(crate) fn wipe(&self) {
        // Dropping the SecretString zeroizes it.
        self.token.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// `GET /v1/sys/health`: 200 means initialised, unsealed and active. Needs no token.
    pub(crate) fn sys_health(&self) -> Result<(), BaoFailure> {
        if self
            .token
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
        {
            return Err(BaoFailure::Destroyed);
        }
        let url = format!("{}/v1/sys/health", self.base);
        match self.agent.get(&url).call() {
            Ok(_) => Ok(()),
            Err(e) => Err(self.failure(e)),
        }
    }

    /// Sends one authenticated request under `/v1/` and returns the response body, kept in a
    /// zeroizing buffer because some answers (Transit datakey, decrypt) carry a plaintext key.
    pub(crate) fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Zeroizing<String>, BaoFailure> {
        let url = format!("{}/v1/{}", self.base, path);
        let request = {
            let guard = self.token.lock().unwrap_or_else(|e| e.into_inner());
            let token = guard.as_ref().ok_or(BaoFailure::Destroyed)?;
            self.agent
                .request(method, &url)
                .set("X-Vault-Token", token.expose())
        };
        let sent = match body {
            Some(b) => request
                .set("Content-Type", "application/json")
                .send_string(&b.to_string()),
            None => request.call(),
        };
        match sent {
            Ok(resp) => read_body(resp).map_err(|e| BaoFailure::BadResponse(format!("body: {e}"))),
            Err(e) => Err(self.failure(e)),
        }
    }

    fn failure(&self, e: ureq::Error) -> BaoFailure {
        match e {
            ureq::Error::Status(status, resp) => {
                let errors = read_body(resp)
                    .ok()
                    .and_then(|b| serde_json::from_str::<ErrorBody>(&b).ok())
                    .map(|b| b.errors.join("; "))
                    .unwrap_or_default();
                BaoFailure::Status {
                    status,
                    errors: self.scrub(truncate(errors, 300)),
                }
            }
            ureq::Error::Transport(t) => BaoFailure::Unreachable {
                addr: self.base.clone(),
                reason: self.scrub(truncate(t.to_string(), 300)),
            },
        }
    }

    /// Removes the token from text that came from outside, should a server ever echo it.
    fn scrub(&self, text: String) -> String {
        let guard = self.token.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(t) if !t.expose().is_empty() && text.contains(t.expose()) => {
                text.replace(t.expose(), "<redacted>")
            }
            _ => text,
        }
    }
}

fn read_body(resp: ureq::Response) -> std::io::Result<Zeroizing<String>> {
    let mut body = Zeroizing::new(String::new());
    resp.into_reader()
        .take(MAX_BODY)
        .read_to_string(&mut body)?;
    Ok(body)
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// Accepts `https://…`, or `http://` to a loopback host only.
fn check_addr(base: &str) -> Result<(), CustodyError> {
    if base.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = base.strip_prefix("http://") else {
        return Err(CustodyError::Internal(format!(
            "OpenBao address {base:?} must start with https:// (or http:// for loopback)"
        )));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(CustodyError::Internal(format!(
            "OpenBao address {base:?} is plain http to a non-loopback host; use https://"
        )))
    }
}

/// Checks a configured name (Transit key, mount path) is made only of `[A-Za-z0-9_-]`
/// segments joined by `/` where `allow_slash`, so it cannot step out of its place in a URL.
pub(crate) fn check_name(what: &str, name: &str, allow_slash: bool) -> Result<(), CustodyError> {
    let ok = !name.is_empty()
        && (allow_slash || !name.contains('/'))
        && name.split('/').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(CustodyError::Internal(format!(
            "OpenBao {what} {name:?} must be letters, digits, '-' or '_'{}",
            if allow_slash {
                " (segments joined by '/')"
            } else {
                ""
            }
        )))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "https://bao.example:8200",
            "http://127.0.0.1:8200",
            "http://localhost:8200",
            "http://[::1]:8200",
            "http://127.0.0.1",
        ] {
            check_addr(ok).unwrap();
        }
        for bad in [
            "http://bao.example:8200",
            "http://10.0.0.1:8200",
            "ftp://127.0.0.1",
            "127.0.0.1:8200",
            "http://127.0.0.1.evil.example:8200",
        ] {
            assert!(check_addr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_hides_token() {
        let cfg = OpenBaoConfig::new("http://127.0.0.1:1", "UNUSED", "k");
        let c = BaoClient::new(&cfg, SecretString::new("s.supersecret".into())).unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("supersecret"), "{dbg}");
        assert_eq!(c.scrub("echo s.supersecret".into()), "echo <redacted>");
    }

    #[test]
    fn names_cannot_leave_their_url_segment() {
        check_name("key", "custos-data_keys", false).unwrap();
        check_name("mount", "kv/custos", true).unwrap();
        for bad in ["", "..", "a/b", "a b", "a?x=1", "a%2F"] {
            assert!(check_name("key", bad, false).is_err(), "{bad}");
        }
        for bad in ["/kv", "kv/", "kv//x", "kv/../x"] {
            assert!(check_name("mount", bad, true).is_err(), "{bad}");
        }
    }
}
