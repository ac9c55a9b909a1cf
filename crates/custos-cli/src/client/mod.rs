//! `custos` as a client of a running server: every operator and agent operation from the
//! terminal. This module resolves which server and token to use (flags, `CUSTOSCLI_*`
//! variables, the profiles file), sends the requests, and turns the API's error bodies into a
//! message naming the code, field and rules, and a distinct exit code ([`exit`]).
//!
//! The client's variables are `CUSTOSCLI_URL`, `CUSTOSCLI_TOKEN`, `CUSTOSCLI_PROFILE` and
//! `CUSTOSCLI_PROFILES`: never `CUSTOS_…`, which the server reads as its own configuration
//! (and refuses when it does not know one).
pub mod agent;
pub mod args;
pub mod login;
pub mod mcp;
pub mod operator;
pub mod profile;
pub mod render;

use anyhow::{Context as _, Result};
use custos_core::SecretString;
use render::{outln, Output};
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// Exit codes of client commands, besides 0 (done) and 1 (anything else, e.g. a bad flag).
pub mod exit {
    /// Refused by policy (`policy_denied`) or by role (`forbidden`).
    pub const DENIED: u8 = 3;
    /// The request was invalid (`invalid_request`, `not_found`, `idempotency_conflict`).
    pub const INVALID: u8 = 4;
    /// The server or a dependency is unavailable, rate limiting, or unreachable.
    pub const UNAVAILABLE: u8 = 5;
    /// The token is missing, expired or revoked (`unauthorized`).
    pub const UNAUTHORIZED: u8 = 6;
}

/// Environment variable: the server's base URL.
pub const URL_ENV: &str = "CUSTOSCLI_URL";
/// Environment variable: the bearer token (wins over the profile's).
pub const TOKEN_ENV: &str = "CUSTOSCLI_TOKEN";
/// Environment variable: the profile to use.
pub const PROFILE_ENV: &str = "CUSTOSCLI_PROFILE";

/// Which server, as whom, and how to print: on every client command.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Target {
    /// The server's base URL (also `CUSTOSCLI_URL`; default: the profile's).
    #[arg(long, global = true, env = URL_ENV, value_name = "URL")]
    pub url: Option<String>,
    /// The profile to use (also `CUSTOSCLI_PROFILE`; default: the file's `current`).
    #[arg(long, global = true, env = PROFILE_ENV, value_name = "NAME")]
    pub profile: Option<String>,
    /// `table` for people, `json` for scripts.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// An error answer from the API: its status and the `{"error": …}` body.
#[derive(Debug)]
pub struct ApiFailure {
    /// HTTP status.
    pub status: u16,
    /// The whole body (`{"error": {"code","message","field"?,"details"?}}`), or `null`.
    pub body: Value,
}

impl ApiFailure {
    fn code(&self) -> &str {
        self.body
            .pointer("/error/code")
            .and_then(|c| c.as_str())
            .unwrap_or("unknown")
    }

    /// The exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self.code() {
            "policy_denied" | "forbidden" => exit::DENIED,
            "invalid_request" | "not_found" | "idempotency_conflict" => exit::INVALID,
            "unavailable" | "rate_limited" => exit::UNAVAILABLE,
            "unauthorized" => exit::UNAUTHORIZED,
            _ if self.status == 503 || self.status == 429 => exit::UNAVAILABLE,
            _ => 1,
        }
    }
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.body.get("error").unwrap_or(&Value::Null);
        let message = e
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or("(no message)");
        write!(f, "{} ({}): {message}", self.code(), self.status)?;
        if let Some(field) = e.get("field").and_then(|m| m.as_str()) {
            write!(f, "\n  field: {field}")?;
        }
        if let Some(reasons) = e.pointer("/details/reasons").and_then(|r| r.as_array()) {
            for r in reasons {
                write!(
                    f,
                    "\n  rule {}: {}",
                    r.get("rule").and_then(|x| x.as_str()).unwrap_or("?"),
                    r.get("message").and_then(|x| x.as_str()).unwrap_or("")
                )?;
            }
        }
        if let Some(retry) = e.get("retry_after").and_then(|r| r.as_u64()) {
            write!(f, "\n  retry after {retry} s")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiFailure {}

/// The server could not be reached at all.
#[derive(Debug)]
pub struct Unreachable(pub String);

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot reach the server: {}", self.0)
    }
}

impl std::error::Error for Unreachable {}

/// The exit code for an error a client command returned (see [`exit`]).
pub fn exit_code_of(e: &anyhow::Error) -> u8 {
    if let Some(f) = e.downcast_ref::<ApiFailure>() {
        f.exit_code()
    } else if e.downcast_ref::<Unreachable>().is_some() {
        exit::UNAVAILABLE
    } else {
        1
    }
}

/// A successful answer.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status (2xx).
    pub status: u16,
    /// The body as JSON (`null` when empty).
    pub body: Value,
    /// The server's `x-request-id` for this request (what its audit record carries).
    pub request_id: Option<String>,
}

/// A connection to one server with one token.
pub struct Remote {
    base: String,
    token: Option<SecretString>,
    http: reqwest::Client,
    /// How to print.
    pub output: Output,
    /// The profile's kind, when a profile was used.
    pub kind: Option<profile::Kind>,
}

impl Remote {
    /// Resolves the server and token: `--url` / `CUSTOSCLI_URL`, `CUSTOSCLI_TOKEN`, then the
    /// profile (`--profile` / `CUSTOSCLI_PROFILE`, else the file's `current`).
    pub fn connect(t: &Target) -> Result<Self> {
        let file = profile::path()?;
        let profiles = profile::Profiles::load(&file)?;
        let chosen = profiles.pick(t.profile.as_deref(), &file)?;
        let url = t
            .url
            .clone()
            .or_else(|| chosen.map(|p| p.url.clone()))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no server: give --url (or {URL_ENV}), or run `custos login` to write a profile"
                )
            })?;
        // A token from the environment is whoever it is: the profile's kind no longer applies.
        let (token, kind) = match std::env::var(TOKEN_ENV) {
            Ok(t) if !t.is_empty() => (Some(SecretString::new(t)), None),
            _ => (chosen.map(|p| p.token.clone()), chosen.map(|p| p.kind)),
        };
        Self::new(&url, token, t.output, kind)
    }

    /// [`Remote::connect`] for a command of `kind`: a profile of the other kind is refused
    /// before anything is sent, naming the way out.
    pub fn connect_as(t: &Target, kind: profile::Kind) -> Result<Self> {
        let r = Self::connect(t)?;
        match r.kind {
            Some(k) if k != kind => anyhow::bail!(
                "this is {} command, but the profile{} holds {} token: choose another with \
                 --profile NAME (or {PROFILE_ENV})",
                if kind == profile::Kind::Operator {
                    "an operator"
                } else {
                    "an agent"
                },
                t.profile
                    .as_deref()
                    .map(|p| format!(" `{p}`"))
                    .unwrap_or_default(),
                if k == profile::Kind::Operator {
                    "an operator"
                } else {
                    "an agent"
                },
            ),
            _ => Ok(r),
        }
    }

    /// A connection to `url` with `token`.
    pub fn new(
        url: &str,
        token: Option<SecretString>,
        output: Output,
        kind: Option<profile::Kind>,
    ) -> Result<Self> {
        let base = url.trim_end_matches('/').to_owned();
        let parsed =
            reqwest::Url::parse(&base).with_context(|| format!("--url {base}: not a URL"))?;
        if parsed.scheme() != "http" {
            anyhow::bail!(
                "--url {base}: this build speaks plain http only (reach a remote server through \
                 a TLS-terminating proxy or an SSH tunnel on localhost)"
            );
        }
        // Idle connections are dropped before the server's own idle limit
        // (`server.header_read_timeout_seconds`, 10 s by default) closes them under a request —
        // which matters to the long-lived `custos mcp`.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            base,
            token,
            http,
            output,
            kind,
        })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends one request; a non-2xx answer is an [`ApiFailure`].
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Reply> {
        self.send_as(self.token.as_ref(), method, path, body, headers)
            .await
    }

    /// The token this connection sends.
    pub fn token(&self) -> Option<&SecretString> {
        self.token.as_ref()
    }

    /// [`Remote::send`] with `token` as the bearer credential.
    pub async fn send_as(
        &self,
        token: Option<&SecretString>,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Reply> {
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            rb = rb.bearer_auth(t.expose());
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let resp = rb
            .send()
            .await
            .map_err(|e| Unreachable(format!("{}: {}", self.base, without_url(&e))))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let request_id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| Unreachable(format!("reading the answer: {}", without_url(&e))))?;
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        if (200..300).contains(&status) {
            return Ok(Reply {
                status,
                body,
                request_id,
            });
        }
        let mut body = if body.get("error").is_some() {
            body
        } else {
            serde_json::json!({"error": {"code": "unknown", "message": body}})
        };
        if let (Some(s), Some(e)) = (retry_after, body.get_mut("error")) {
            e["retry_after"] = Value::from(s);
        }
        if self.output == Output::Json {
            // A script reading stdout gets the error as JSON too; people read stderr.
            outln!(
                "{}",
                serde_json::to_string_pretty(&body).unwrap_or_default()
            );
        }
        Err(ApiFailure { status, body }.into())
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Value> {
        Ok(self.send(reqwest::Method::GET, path, None, &[]).await?.body)
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Reply> {
        self.send(reqwest::Method::POST, path, Some(body), &[])
            .await
    }
}

/// A reqwest error's text without the URL (which may carry query parameters).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "<url>");
    }
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(&format!(": {inner}"));
        src = inner.source();
    }
    s
}

/// Runs a client command (`Completions` and `Man` need the whole command tree: `main` runs
/// them).
pub async fn run(cmd: args::ClientCmd) -> Result<std::process::ExitCode> {
    use args::ClientCmd as C;
    match cmd {
        C::Login { target, name, who } => login::run(&target, &name, who).await,
        C::Agents { target, cmd } => {
            operator::agents(&Remote::connect_as(&target, profile::Kind::Operator)?, cmd).await
        }
        C::Freeze { target, which } => {
            operator::freeze(
                &Remote::connect_as(&target, profile::Kind::Operator)?,
                which,
                true,
            )
            .await
        }
        C::KillSwitch { target, action } => {
            operator::kill_switch(
                &Remote::connect_as(&target, profile::Kind::Operator)?,
                &action,
            )
            .await
        }
        C::Alerts {
            target,
            action,
            after,
        } => {
            operator::alerts(
                &Remote::connect_as(&target, profile::Kind::Operator)?,
                &action,
                after,
            )
            .await
        }
        C::Unfreeze { target, which } => {
            operator::freeze(
                &Remote::connect_as(&target, profile::Kind::Operator)?,
                which,
                false,
            )
            .await
        }
        C::Approvals { target, cmd } => {
            operator::approvals(&Remote::connect_as(&target, profile::Kind::Operator)?, cmd).await
        }
        C::ApiKeys { target, cmd } => {
            operator::api_keys(&Remote::connect_as(&target, profile::Kind::Operator)?, cmd).await
        }
        C::Keys { target, cmd } => {
            operator::keys(&Remote::connect_as(&target, profile::Kind::Operator)?, cmd).await
        }
        C::Attestation { target, cmd } => {
            operator::attestation(&Remote::connect(&target)?, cmd).await
        }
        C::Wallet { target, cmd } => {
            agent::wallet(&Remote::connect_as(&target, profile::Kind::Agent)?, cmd).await
        }
        C::Prediction { target, cmd } => {
            agent::prediction(&Remote::connect_as(&target, profile::Kind::Agent)?, cmd).await
        }
        C::Mcp { target } => mcp::serve(Remote::connect_as(&target, profile::Kind::Agent)?).await,
        C::Tx { target, cmd } => {
            agent::tx(&Remote::connect_as(&target, profile::Kind::Agent)?, cmd).await
        }
        C::Airdrop {
            target,
            chain,
            asset,
            amount,
        } => {
            let r = Remote::connect_as(&target, profile::Kind::Agent)?;
            let rep = r
                .post(
                    "/v1/dev/airdrop",
                    &serde_json::json!({"chain": chain, "asset": asset, "amount": amount}),
                )
                .await?;
            render::show(r.output, &rep.body, render::Table::fields);
            Ok(std::process::ExitCode::SUCCESS)
        }
        C::Transfer {
            target,
            chain,
            to,
            amount,
            asset,
            opts,
        } => {
            let body =
                serde_json::json!({"chain": chain, "to": to, "asset": asset, "amount": amount});
            agent::action(
                &Remote::connect_as(&target, profile::Kind::Agent)?,
                "transfer",
                body,
                opts,
            )
            .await
        }
        C::Sign {
            target,
            chain,
            transaction,
            broadcast,
            to,
            asset,
            amount,
            opts,
        } => {
            let mut body = serde_json::json!({"chain": chain, "transaction": agent::transaction_arg(&transaction)?, "broadcast": broadcast});
            for (k, v) in [("to", to), ("asset", asset), ("amount", amount)] {
                if let Some(v) = v {
                    body[k] = Value::String(v);
                }
            }
            agent::action(
                &Remote::connect_as(&target, profile::Kind::Agent)?,
                "sign",
                body,
                opts,
            )
            .await
        }
        C::SignMessage {
            target,
            chain,
            message,
            typed_data,
            hash,
            opts,
        } => {
            let body = agent::sign_message_body(chain, message, typed_data, hash)?;
            agent::action(
                &Remote::connect_as(&target, profile::Kind::Agent)?,
                "sign-message",
                body,
                opts,
            )
            .await
        }
        C::Trade {
            target,
            chain,
            from_asset,
            to_asset,
            amount,
            slippage_bps,
            opts,
        } => {
            let mut body = serde_json::json!({"chain": chain, "from_asset": from_asset, "to_asset": to_asset, "amount": amount});
            if let Some(s) = slippage_bps {
                body["slippage_bps"] = Value::from(s);
            }
            agent::action(
                &Remote::connect_as(&target, profile::Kind::Agent)?,
                "trade",
                body,
                opts,
            )
            .await
        }
        C::Liquidity {
            target,
            operation,
            pool,
            position,
            min_bin,
            max_bin,
            amount_x,
            amount_y,
            strategy,
            bps,
            opts,
        } => {
            let mut body = serde_json::json!({"chain": "solana", "operation": operation,
                "pool": pool, "position": position, "min_bin_id": min_bin, "max_bin_id": max_bin});
            for (k, v) in [
                ("amount_x", amount_x),
                ("amount_y", amount_y),
                ("strategy", strategy),
            ] {
                if let Some(v) = v {
                    body[k] = Value::from(v);
                }
            }
            if let Some(b) = bps {
                body["bps"] = Value::from(b);
            }
            agent::action(
                &Remote::connect_as(&target, profile::Kind::Agent)?,
                "liquidity",
                body,
                opts,
            )
            .await
        }
        C::Pay {
            target,
            resource,
            quote,
            opts,
        } => {
            let mut body = serde_json::json!({ "url": resource });
            if let Some(q) = quote {
                body["quote"] = read_document(&q)?;
            }
            agent::action(
                &Remote::connect_as(&target, profile::Kind::Agent)?,
                "pay",
                body,
                opts,
            )
            .await
        }
        C::Completions { .. } | C::Man { .. } | C::Openapi => {
            anyhow::bail!("completions, man pages and the OpenAPI document are written by `main`")
        }
    }
}

/// Percent-encodes one path segment or query value (the REST helper the MCP tools use too).
pub use custos_mcp::rest::encode_component as enc;

/// Reads a JSON or TOML file into JSON (by extension; `-` is stdin, tried as JSON then TOML).
pub fn read_document(path: &std::path::Path) -> Result<Value> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read stdin")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    let toml_ext = path.extension().is_some_and(|e| e == "toml");
    if !toml_ext {
        match serde_json::from_str(&text) {
            Ok(v) => return Ok(v),
            Err(e) if path.extension().is_some_and(|e| e == "json") => {
                anyhow::bail!("{}: not valid JSON: {e}", path.display())
            }
            Err(_) => {}
        }
    }
    let v: toml::Value = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: not valid TOML or JSON: {e}", path.display()))?;
    serde_json::to_value(v).context("converting TOML to JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failures_name_code_field_and_rules_and_map_to_exit_codes() {
        let f = ApiFailure {
            status: 403,
            body: json!({"error": {"code": "policy_denied", "message": "denied", "details": {"reasons": [{"rule": "limits.per_tx_usd", "message": "over 10"}]}}}),
        };
        assert_eq!(f.exit_code(), exit::DENIED);
        let s = f.to_string();
        assert!(
            s.starts_with("policy_denied (403): denied")
                && s.contains("rule limits.per_tx_usd: over 10"),
            "{s}"
        );
        let f = ApiFailure {
            status: 422,
            body: json!({"error": {"code": "invalid_request", "message": "bad", "field": "amount"}}),
        };
        assert_eq!(f.exit_code(), exit::INVALID);
        assert!(f.to_string().contains("field: amount"));
        let f = ApiFailure {
            status: 503,
            body: json!({"error": {"code": "unavailable", "message": "x"}}),
        };
        assert_eq!(f.exit_code(), exit::UNAVAILABLE);
        let f = ApiFailure {
            status: 401,
            body: json!({"error": {"code": "unauthorized", "message": "x"}}),
        };
        assert_eq!(f.exit_code(), exit::UNAUTHORIZED);
        assert_eq!(
            exit_code_of(&anyhow::Error::new(Unreachable("x".into()))),
            exit::UNAVAILABLE
        );
        assert_eq!(exit_code_of(&anyhow::anyhow!("other")), 1);
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(enc("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(enc("Abc-1._~"), "Abc-1._~");
    }
}
