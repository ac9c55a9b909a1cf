//! The MCP server: `tools/list` shows the tools the caller's credential may use, and
//! `tools/call` turns a call into its REST request (see [`crate::tools`]) sent as that caller,
//! and the REST answer into the tool's result. A REST error becomes a structured tool error
//! (`isError: true`, `structuredContent.error` with the same `code`, `field`, `message` and —
//! for a policy denial — the rules), with `retryable` telling the agent whether trying again
//! could help.
use crate::rest::{Caller, Method, Rest, RestCall, RestReply};
use crate::tools::{self, ArgError};
use custos_core::{ApiScope, SecretString};
use rmcp::model::{
    CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{json, Value};
use std::sync::Arc;

/// Where a tool call's credential comes from.
#[derive(Clone)]
enum Bearer {
    /// `custos mcp`: the token the process was started with.
    Fixed(SecretString),
    /// `/mcp`: the `Authorization: Bearer` header of the HTTP request carrying the call.
    FromHttpRequest,
}

/// Custos as an MCP server.
#[derive(Clone)]
pub struct CustosMcp {
    rest: Arc<dyn Rest>,
    bearer: Bearer,
}

impl CustosMcp {
    /// A server whose every call carries `token` (stdio: one agent per process).
    pub fn with_token(rest: Arc<dyn Rest>, token: SecretString) -> Self {
        Self {
            rest,
            bearer: Bearer::Fixed(token),
        }
    }

    /// A server whose calls carry the bearer credential of the HTTP request they arrive in.
    pub fn per_http_request(rest: Arc<dyn Rest>) -> Self {
        Self {
            rest,
            bearer: Bearer::FromHttpRequest,
        }
    }

    async fn send(
        &self,
        call: RestCall,
        context: &RequestContext<RoleServer>,
    ) -> Result<RestReply, McpError> {
        let origin = context.extensions.get::<http::request::Parts>();
        let token = match &self.bearer {
            Bearer::Fixed(t) => t.clone(),
            Bearer::FromHttpRequest => origin.and_then(bearer_of).ok_or_else(|| {
                McpError::invalid_request("missing Authorization: Bearer credential", None)
            })?,
        };
        let caller = Caller {
            bearer: &token,
            origin,
        };
        self.rest
            .send(call, &caller)
            .await
            .map_err(|e| McpError::internal_error(e.to_string(), None))
    }

    /// Which scopes the caller's credential has (`None`: every scope).
    async fn scopes(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> Result<Option<Vec<ApiScope>>, McpError> {
        let call = RestCall {
            method: Method::Get,
            path_and_query: "/v1/wallets/me/credential".into(),
            body: None,
            idempotency_key: None,
        };
        let reply = self.send(call, context).await?;
        if reply.status != 200 {
            let e = &reply.body["error"];
            return Err(McpError::invalid_request(
                format!(
                    "{}: {}",
                    e["code"].as_str().unwrap_or("error"),
                    e["message"]
                        .as_str()
                        .unwrap_or("the credential was refused")
                ),
                Some(json!({"http_status": reply.status, "error": e})),
            ));
        }
        Ok(match &reply.body["scopes"] {
            Value::Array(list) => Some(
                list.iter()
                    .filter_map(|s| s.as_str().and_then(ApiScope::parse))
                    .collect(),
            ),
            _ => None,
        })
    }
}

/// The token of an `Authorization: Bearer …` header.
fn bearer_of(parts: &http::request::Parts) -> Option<SecretString> {
    let v = parts
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| SecretString::new(token.trim().to_owned()))
}

fn tool_of(spec: &tools::ToolSpec) -> Tool {
    Tool::new(spec.name, spec.description, Arc::new(spec.input_schema()))
        .with_title(spec.title)
        .with_annotations(
            ToolAnnotations::with_title(spec.title)
                .read_only(spec.read_only)
                .destructive(false)
                .open_world(!spec.read_only),
        )
}

/// The tool result of a REST answer.
pub fn result_of(reply: RestReply) -> CallToolResult {
    if reply.status < 400 {
        let body = match reply.body {
            Value::Object(m) => Value::Object(m),
            other => json!({ "value": other }),
        };
        return CallToolResult::structured(body);
    }
    let error = match reply.body.get("error") {
        Some(e @ Value::Object(_)) => e.clone(),
        _ => json!({"code": "error", "message": format!("HTTP {}", reply.status)}),
    };
    // A refusal stays a refusal however often it is asked; a rate limit or an unavailable
    // dependency may pass later.
    let retryable = matches!(reply.status, 429 | 502 | 503 | 504)
        || (reply.status == 409 && error["code"] == "idempotency_conflict");
    CallToolResult::structured_error(
        json!({"http_status": reply.status, "retryable": retryable, "error": error}),
    )
}

fn argument_error(e: ArgError) -> CallToolResult {
    CallToolResult::structured_error(json!({
        "http_status": 422,
        "retryable": false,
        "error": {"code": "invalid_request", "field": e.field, "message": format!("{}: {}", e.field, e.message)}
    }))
}

impl ServerHandler for CustosMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("custos", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Custos holds this agent's wallet and signs only what its owner's policy allows. \
                 A tool error with retryable: false (policy_denied, scope_missing, invalid_request) \
                 will fail again: change the request or stop. Pass idempotency_key on actions so a \
                 retry cannot act twice.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let scopes = self.scopes(&context).await?;
        let allows = |s: ApiScope| scopes.as_ref().is_none_or(|list| list.contains(&s));
        let tools = tools::TOOLS
            .iter()
            .filter(|t| t.visible(allows))
            .map(tool_of)
            .collect();
        let mut result = ListToolsResult::with_all_items(tools);
        // The list depends on the credential: no one else's client may reuse it.
        result.cache_scope = Some(CacheScope::Private);
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let spec = tools::find(&request.name).ok_or_else(|| {
            McpError::invalid_params(format!("no tool named `{}`", request.name), None)
        })?;
        let call = match spec.request(request.arguments.unwrap_or_default()) {
            Ok(call) => call,
            Err(e) => return Ok(argument_error(e).into()),
        };
        let reply = self.send(call, &context).await?;
        Ok(result_of(reply).into())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn a_policy_denial_is_a_structured_error_that_says_not_to_retry() {
        let r = result_of(RestReply {
            status: 403,
            body: json!({"error": {"code": "policy_denied", "message": "denied by policy: max_per_tx",
                                   "details": {"reasons": [{"rule": "max_per_tx", "message": "over"}]}}}),
        });
        assert_eq!(r.is_error, Some(true));
        let s = r.structured_content.unwrap();
        assert_eq!(s["retryable"], false);
        assert_eq!(s["error"]["details"]["reasons"][0]["rule"], "max_per_tx");
        let limited = result_of(RestReply {
            status: 429,
            body: json!({"error": {"code": "rate_limited", "message": "slow down"}}),
        });
        assert_eq!(limited.structured_content.unwrap()["retryable"], true);
        let ok = result_of(RestReply {
            status: 200,
            body: json!({"status": "confirmed"}),
        });
        assert_eq!(ok.is_error, Some(false));
        assert_eq!(ok.structured_content.unwrap()["status"], "confirmed");
    }

    #[test]
    fn only_bearer_headers_give_a_token() {
        let parts = |v: &str| {
            http::Request::builder()
                .header("authorization", v)
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        assert_eq!(
            bearer_of(&parts("Bearer abc")).map(|s| s.expose().to_owned()),
            Some("abc".into())
        );
        assert!(bearer_of(&parts("Basic abc")).is_none());
        assert!(bearer_of(&parts("Bearer")).is_none());
    }
}
