//! A Rust client for the Custos agent API: log in, read the wallet, act, read the audit.
//!
//! [`Client`] sends typed bodies ([`types`], checked against the server's OpenAPI document by
//! `custos-cli`'s tests) and retries safely ([`retry`]): `429` after `Retry-After`,
//! `409 idempotency_conflict`, and — only for `GET` or a request with an `Idempotency-Key` —
//! `502/503/504` and connection errors, each time resending the same request, so the same key:
//! a retried action cannot act twice. The bearer token is a [`SecretString`]: it is in no
//! `Debug` output or error.
//!
//! This crate is a client of the HTTP API only: it depends on `custos-core` for the secret
//! wrapper and on nothing of the server.
pub mod retry;
pub mod types;

use custos_core::SecretString;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use types::*;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error.
    #[error("{code} ({status}): {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// `error.code`, e.g. `policy_denied`.
        code: String,
        /// `error.message`.
        message: String,
        /// The request field at fault.
        field: Option<String>,
        /// For `policy_denied`: the rules that refused.
        rules: Vec<String>,
    },
    /// The server could not be reached (after the retries that were safe).
    #[error("the server could not be reached: {0}")]
    Unreachable(String),
    /// An answer this client could not read.
    #[error("unexpected answer: {0}")]
    Decode(String),
    /// A bad argument to the client itself.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    fn from_answer(status: u16, body: &Value) -> Self {
        let e = &body["error"];
        let text = |k: &str| e[k].as_str().map(str::to_owned);
        Error::Api {
            status,
            code: text("code").unwrap_or_else(|| "unknown".into()),
            message: text("message").unwrap_or_default(),
            field: text("field"),
            rules: e["details"]["reasons"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["rule"].as_str().map(str::to_owned))
                .collect(),
        }
    }
}

/// A fresh key for one intended action (reuse it only to retry that action).
pub fn new_idempotency_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A connection to one Custos server, as one agent once logged in.
#[derive(Clone, Debug)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    token: Option<SecretString>,
    policy: retry::Policy,
}

impl Client {
    /// A client for `base_url` (`http://host:port`), not logged in.
    pub fn new(base_url: &str) -> Result<Self, Error> {
        let base = base_url.trim_end_matches('/').to_owned();
        reqwest::Url::parse(&base).map_err(|e| Error::Usage(format!("base URL: {e}")))?;
        // Idle connections are dropped before the server's idle limit (10 s by default) can
        // close one under a request.
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .pool_idle_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(120))
            .build()
            .map_err(|e| Error::Usage(format!("HTTP client: {e}")))?;
        Ok(Self {
            base,
            http,
            token: None,
            policy: retry::Policy::default(),
        })
    }

    /// This client with `token` (a session or an API key) as its bearer credential.
    pub fn with_token(mut self, token: SecretString) -> Self {
        self.token = Some(token);
        self
    }

    /// This client with other retry limits.
    pub fn with_retry(mut self, policy: retry::Policy) -> Self {
        self.policy = policy;
        self
    }

    /// `POST /v1/auth/otp`: a login code is sent to `email`.
    pub async fn request_login_code(&self, email: &str) -> Result<(), Error> {
        let body = OtpRequest {
            email: email.into(),
        };
        self.call::<Value>(Method::POST, "/v1/auth/otp", Some(&body), None)
            .await
            .map(|_| ())
    }

    /// `POST /v1/auth/verify`: a client logged in with the session, and the session.
    pub async fn login(&self, email: &str, code: &str) -> Result<(Client, Session), Error> {
        let body = VerifyRequest {
            email: email.into(),
            code: code.into(),
        };
        let (_, v) = self
            .call::<Value>(Method::POST, "/v1/auth/verify", Some(&body), None)
            .await?;
        let token = v["token"]
            .as_str()
            .ok_or_else(|| Error::Decode("no token in the login answer".into()))?;
        let session: Session = decode(v.clone())?;
        Ok((
            self.clone().with_token(SecretString::new(token.to_owned())),
            session,
        ))
    }

    /// `GET /v1/wallets/me`.
    pub async fn wallet(&self) -> Result<WalletView, Error> {
        self.get("/v1/wallets/me").await
    }

    /// `GET /v1/wallets/me/balances`.
    pub async fn balances(&self) -> Result<Value, Error> {
        self.get("/v1/wallets/me/balances").await
    }

    /// `GET /v1/wallets/me/credential`: this credential's scopes.
    pub async fn credential(&self) -> Result<Value, Error> {
        self.get("/v1/wallets/me/credential").await
    }

    /// `GET /v1/wallets/me/audit`: the agent's audit records after `after`, at most `limit`.
    pub async fn audit(&self, limit: u32, after: u64) -> Result<Vec<Value>, Error> {
        let v: Value = self
            .get(&format!("/v1/wallets/me/audit?limit={limit}&after={after}"))
            .await?;
        match v.get("records") {
            Some(Value::Array(list)) => Ok(list.clone()),
            _ => Err(Error::Decode("no records in the audit answer".into())),
        }
    }

    /// `GET /v1/wallets/me/transactions/{tx}`.
    pub async fn transaction(&self, tx: &str) -> Result<Value, Error> {
        self.get(&format!("/v1/wallets/me/transactions/{}", segment(tx)?))
            .await
    }

    /// `GET /v1/wallets/me/approvals/{id}`.
    pub async fn approval(&self, id: &str) -> Result<Value, Error> {
        self.get(&format!("/v1/wallets/me/approvals/{}", segment(id)?))
            .await
    }

    /// `POST /v1/wallets/me/actions/transfer` with `idempotency_key`.
    pub async fn transfer(
        &self,
        body: &TransferBody,
        idempotency_key: &str,
    ) -> Result<Outcome<Confirmed>, Error> {
        self.action("transfer", body, idempotency_key).await
    }

    /// `POST /v1/wallets/me/actions/sign-message` (`chain: "message"`) with `idempotency_key`.
    pub async fn sign_message(
        &self,
        message: &str,
        idempotency_key: &str,
    ) -> Result<SignedMessage, Error> {
        let body = SignMessageBody {
            chain: "message".into(),
            message: message.into(),
        };
        match self.action("sign-message", &body, idempotency_key).await? {
            Outcome::Done(m) => Ok(m),
            Outcome::PendingApproval(p) => Err(Error::Decode(format!(
                "a message signature parked for approval {}",
                p.approval_id
            ))),
        }
    }

    async fn action<B: Serialize, T: DeserializeOwned>(
        &self,
        name: &str,
        body: &B,
        idempotency_key: &str,
    ) -> Result<Outcome<T>, Error> {
        if idempotency_key.is_empty() {
            return Err(Error::Usage("an action needs an idempotency key".into()));
        }
        let path = format!("/v1/wallets/me/actions/{name}");
        let (status, v) = self
            .call::<Value>(Method::POST, &path, Some(body), Some(idempotency_key))
            .await?;
        if status == 202 {
            Ok(Outcome::PendingApproval(decode(v)?))
        } else {
            Ok(Outcome::Done(decode(v)?))
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let (_, v) = self
            .call::<Value>(Method::GET, path, None::<&()>, None)
            .await?;
        decode(v)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
        idempotency_key: Option<&str>,
    ) -> Result<(u16, T), Error> {
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t.expose());
        }
        if let Some(k) = idempotency_key {
            rb = rb.header("idempotency-key", k);
        }
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let request = rb.build().map_err(|e| Error::Usage(without_url(&e)))?;
        let (status, bytes) = retry::send(&self.http, request, &self.policy).await?;
        let v: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| Error::Decode(e.to_string()))?
        };
        if !(200..300).contains(&status) {
            return Err(Error::from_answer(status, &v));
        }
        Ok((status, decode(v)?))
    }
}

fn decode<T: DeserializeOwned>(v: Value) -> Result<T, Error> {
    serde_json::from_value(v).map_err(|e| Error::Decode(e.to_string()))
}

/// One path segment from an id: refused when it could leave its segment.
fn segment(id: &str) -> Result<&str, Error> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(id)
    } else {
        Err(Error::Usage(format!(
            "`{}` is not an id",
            id.chars().take(40).collect::<String>()
        )))
    }
}

/// A reqwest error's text without the URL.
pub(crate) fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "<url>");
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn an_api_error_names_code_field_and_rules() {
        let e = Error::from_answer(
            403,
            &serde_json::json!({"error": {"code": "policy_denied", "message": "denied",
                "details": {"reasons": [{"rule": "limits.per_tx_usd", "message": "over"}]}}}),
        );
        match e {
            Error::Api { code, rules, .. } => {
                assert_eq!(code, "policy_denied");
                assert_eq!(rules, ["limits.per_tx_usd"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_client_prints_no_token_and_ids_stay_in_their_segment() {
        let c = Client::new("http://127.0.0.1:1")
            .unwrap()
            .with_token(SecretString::new("cka_supersecret".into()));
        assert!(!format!("{c:?}").contains("supersecret"));
        assert!(segment("../admin").is_err());
        assert!(segment("").is_err());
        assert_eq!(segment("5f2c-ab").unwrap(), "5f2c-ab");
    }
}
