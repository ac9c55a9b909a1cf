//! The one way a tool reaches Custos: a request to its REST API, carrying the caller's own
//! bearer credential. `custos serve` answers it in process (through the same router, so the same
//! authentication, rate limits, scopes, idempotency, policy and audit run); `custos mcp` sends it
//! over HTTP to a running server. Either way there is no second path to a signature.
use custos_core::SecretString;
use serde_json::Value;
use std::fmt;

/// The HTTP method of a [`RestCall`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One REST request a tool makes.
#[derive(Clone, Debug, PartialEq)]
pub struct RestCall {
    /// `GET` or `POST`.
    pub method: Method,
    /// Path and query, e.g. `/v1/wallets/me/actions/transfer?dry_run=true` (path segments that
    /// came from tool arguments are percent-encoded).
    pub path_and_query: String,
    /// JSON body (`POST`).
    pub body: Option<Value>,
    /// The `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
}

/// The server's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct RestReply {
    /// HTTP status.
    pub status: u16,
    /// The JSON body (`Null` when there was none or it was not JSON).
    pub body: Value,
}

/// The caller of a tool: the credential every REST request it makes carries, and, on
/// `/mcp`, the HTTP request the tool call arrived in (its peer address is the client's for the
/// per-IP limits).
pub struct Caller<'a> {
    /// The bearer token (session JWT or API key).
    pub bearer: &'a SecretString,
    /// The MCP HTTP request, when the tool call came over HTTP.
    pub origin: Option<&'a http::request::Parts>,
}

impl fmt::Debug for Caller<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller")
            .field("bearer", &self.bearer)
            .field("origin", &self.origin.map(|p| p.uri.path()))
            .finish()
    }
}

/// Custos could not be reached (not an error answer: those are [`RestReply`]s).
#[derive(Debug)]
pub struct Unreachable(pub String);

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the Custos server could not be reached: {}", self.0)
    }
}

/// Sends a [`RestCall`] as `caller`.
#[async_trait::async_trait]
pub trait Rest: Send + Sync + 'static {
    /// Sends `call` with `Authorization: Bearer <caller.bearer>` and returns the answer.
    async fn send(&self, call: RestCall, caller: &Caller<'_>) -> Result<RestReply, Unreachable>;
}

/// Percent-encodes `s` for use as one path segment or query value (RFC 3986 unreserved
/// characters pass).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn components_are_percent_encoded() {
        assert_eq!(encode_component("abc-1.2_~"), "abc-1.2_~");
        assert_eq!(encode_component("../admin"), "..%2Fadmin");
        assert_eq!(encode_component("a b?c=d&e"), "a%20b%3Fc%3Dd%26e");
        assert_eq!(encode_component("é"), "%C3%A9");
    }

    #[test]
    fn a_caller_prints_no_credential() {
        let token = SecretString::new("cus_live_supersecret".into());
        let c = Caller {
            bearer: &token,
            origin: None,
        };
        assert!(!format!("{c:?}").contains("supersecret"));
    }
}
