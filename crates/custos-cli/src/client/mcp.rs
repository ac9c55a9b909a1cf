//! `custos mcp`: the MCP server (`custos_mcp`) on stdin/stdout, for agent hosts that start
//! their tools as child processes. Each tool call is sent to the running server over HTTP with
//! the agent's token (from `CUSTOSCLI_TOKEN` or the agent profile); stdout carries only MCP
//! messages.
use super::{ApiFailure, Remote};
use anyhow::Result;
use custos_mcp::{Caller, Method, Rest, RestCall, RestReply, Unreachable};
use std::sync::Arc;

/// Sends tool calls to the server `remote` points at.
struct Http(Remote);

#[async_trait::async_trait]
impl Rest for Http {
    async fn send(&self, call: RestCall, caller: &Caller<'_>) -> Result<RestReply, Unreachable> {
        let method = match call.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let pair;
        let headers: &[(&str, &str)] = match &call.idempotency_key {
            Some(k) => {
                pair = [("idempotency-key", k.as_str())];
                &pair
            }
            None => &[],
        };
        let sent = self
            .0
            .send_as(
                Some(caller.bearer),
                method,
                &call.path_and_query,
                call.body.as_ref(),
                headers,
            )
            .await;
        match sent {
            Ok(r) => Ok(RestReply {
                status: r.status,
                body: r.body,
            }),
            Err(e) => match e.downcast::<ApiFailure>() {
                Ok(f) => Ok(RestReply {
                    status: f.status,
                    body: f.body,
                }),
                Err(other) => Err(Unreachable(format!("{other:#}"))),
            },
        }
    }
}

/// Serves MCP on stdio until the host closes it.
pub async fn serve(mut remote: Remote) -> Result<std::process::ExitCode> {
    let Some(token) = remote.token().cloned() else {
        anyhow::bail!(
            "no agent token: set {} or log in with `custos login agent` first",
            super::TOKEN_ENV
        );
    };
    // Nothing but MCP may reach stdout.
    remote.output = super::render::Output::Table;
    tracing::info!(server = remote.base(), "serving MCP on stdio");
    custos_mcp::serve_stdio(Arc::new(Http(remote)), token)
        .await
        .map_err(anyhow::Error::msg)?;
    Ok(std::process::ExitCode::SUCCESS)
}
