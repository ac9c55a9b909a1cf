//! Custos for agents that speak the Model Context Protocol.
//!
//! The server ([`handler::CustosMcp`]) offers the agent's wallet as MCP tools ([`tools`]):
//! reads (wallet, balances, transactions, approvals, policy, audit), actions (transfer, trade,
//! sign a transaction, sign a message) and a dry run. Every tool call is one request to the
//! REST API ([`rest`]) carrying the caller's own credential, so authentication, rate limits,
//! capability scopes, idempotency, the policy and the audit log apply exactly as they do to
//! REST. This crate holds no key, no policy and no store: it is a client of the pipeline.
//!
//! Two transports: [`serve_stdio`] (`custos mcp`, for local agent hosts) and
//! [`http_service`] (streamable HTTP, mounted by `custos serve` at `/mcp`).
pub mod handler;
pub mod rest;
pub mod tools;

pub use handler::CustosMcp;
pub use rest::{Caller, Method, Rest, RestCall, RestReply, Unreachable};

use custos_core::SecretString;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::sync::Arc;

/// Serves MCP on stdin/stdout until the client closes it; every call carries `token`.
pub async fn serve_stdio(rest: Arc<dyn Rest>, token: SecretString) -> Result<(), String> {
    use rmcp::ServiceExt;
    let running = CustosMcp::with_token(rest, token)
        .serve(rmcp::transport::io::stdio())
        .await
        .map_err(|e| format!("MCP session could not start: {e}"))?;
    running
        .waiting()
        .await
        .map(|_| ())
        .map_err(|e| format!("MCP session ended abnormally: {e}"))
}

/// The streamable-HTTP MCP endpoint as a tower service. It is stateless (no MCP session id):
/// each request carries its own `Authorization: Bearer` credential, which every tool call
/// forwards. `Host` is not restricted to loopback names: the endpoint needs a bearer credential,
/// which a DNS-rebound browser page does not have.
pub fn http_service(
    rest: Arc<dyn Rest>,
    max_body_bytes: usize,
) -> StreamableHttpService<CustosMcp, LocalSessionManager> {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(max_body_bytes)
        .disable_allowed_hosts();
    let handler = CustosMcp::per_http_request(rest);
    StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    )
}
