//! `GET /skill.md`: the API described for an agent's model to read — how to log in, every agent
//! endpoint with its fields and an example, the errors and what to do about them, this server's
//! limits, and the MCP tools. It is rendered from the same OpenAPI document `/openapi.json`
//! serves (walked as JSON) and from the MCP tool catalogue, so it cannot drift from either.
//! Operator endpoints are left out: an agent cannot use them.
use crate::config::Config;
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// Tags whose endpoints an agent uses.
const AGENT_TAGS: [&str; 4] = ["auth", "wallet", "dev", "system"];

/// The document for `cfg`'s server.
pub fn render(cfg: &Config) -> String {
    let api = serde_json::to_value(crate::openapi::document()).unwrap_or(Value::Null);
    let mut out = String::new();
    let version = api["info"]["version"].as_str().unwrap_or("?");
    let _ = write!(
        out,
        "# Custos — how an agent uses this wallet\n\n\
         Custos holds your wallet. You ask it to move funds or sign; it checks what the \
         transaction would really do against the policy your owner set, and signs inside a \
         custody boundary. Generated from this server's OpenAPI document (`/openapi.json`, \
         version {version}) and its MCP tool list.\n\n"
    );
    out.push_str(PREAMBLE);
    limits(&mut out, cfg);
    errors(&mut out, &api);
    endpoints(&mut out, &api);
    mcp_tools(&mut out);
    out
}

const PREAMBLE: &str = "## Logging in\n\n\
1. `POST /v1/auth/otp` with `{\"email\": \"you@example.com\"}`: a 6-digit code is sent to that address.\n\
2. `POST /v1/auth/verify` with `{\"email\", \"code\"}`: the answer's `token` is your session.\n\
3. Send `Authorization: Bearer <token>` with every other request.\n\n\
Your owner may instead give you an **API key** (`cka_…`), used the same way. A key may be limited \
to some **scopes** (`wallet:read`, `policy:read`, `audit:read`, `transfer`, `trade`, `sign`, \
`sign:message`, …); `GET /v1/wallets/me/credential` tells you which you have.\n\n\
## Rules that keep you out of trouble\n\n\
- Send an `Idempotency-Key` header (any unique string, one per intended action) with every \
action. A retry with the same key returns the first answer and never acts twice — even after a \
timeout or a server crash. A `409 idempotency_conflict` means the first attempt is still running: \
wait and retry with the same key.\n\
- `?dry_run=true` on an action returns the policy's decision rule by rule and signs nothing.\n\
- A `403 policy_denied` lists the rules that refused (`error.details.reasons[].rule`). Retrying \
will be refused again: change the request (a smaller amount, an allowed recipient) or stop.\n\
- A `202` with `status: pending_approval` means a human must approve. Poll \
`GET /v1/wallets/me/approvals/{approval_id}` until it is `executed`, `rejected` or `expired`.\n\
- Amounts are decimal strings in whole units (`\"0.25\"`), never numbers.\n\n";

fn limits(out: &mut String, cfg: &Config) {
    let r = &cfg.rate_limit;
    let _ = write!(
        out,
        "## Limits on this server\n\n\
         - {} requests per minute per agent, {} per client address, {} for the whole server; \
         over them: `429 rate_limited` with `Retry-After` (seconds).\n\
         - {} login codes per email per {} minutes.\n\
         - Request bodies up to {} bytes.\n\n",
        r.per_agent_per_minute,
        r.per_ip_per_minute,
        r.global_per_minute,
        r.otp_per_email,
        r.otp_window_minutes,
        cfg.server.max_body_bytes
    );
}

fn errors(out: &mut String, api: &Value) {
    out.push_str("## Errors\n\nEvery error is `{\"error\": {\"code\", \"message\", \"field\"?, \"details\"?}}`; `field` names the request field at fault.\n\n");
    let detail = &api["components"]["schemas"]["ErrorDetail"]["properties"];
    if let Some(codes) = detail["code"]["description"].as_str() {
        let _ = writeln!(out, "Codes: {}\n", codes.replace('\n', " "));
    }
}

fn endpoints(out: &mut String, api: &Value) {
    out.push_str("## Endpoints\n\n");
    let Some(paths) = api["paths"].as_object() else {
        return;
    };
    for (path, item) in paths {
        for method in ["get", "post", "put", "delete"] {
            let op = &item[method];
            if !op.is_object() || !is_for_agents(op) {
                continue;
            }
            let _ = writeln!(out, "### `{} {path}`\n", method.to_uppercase());
            for text in [&op["summary"], &op["description"]] {
                if let Some(t) = text.as_str() {
                    let _ = writeln!(out, "{}\n", one_line(t));
                }
            }
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                out.push_str("Needs `Authorization: Bearer`.\n\n");
            }
            parameters(out, op);
            body(out, api, op);
            answers(out, op);
        }
    }
}

fn is_for_agents(op: &Value) -> bool {
    op["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|t| AGENT_TAGS.contains(&t))
}

fn parameters(out: &mut String, op: &Value) {
    let Some(ps) = op["parameters"].as_array().filter(|p| !p.is_empty()) else {
        return;
    };
    out.push_str("Parameters:\n");
    for p in ps {
        let _ = writeln!(
            out,
            "- `{}` ({}{}){}",
            p["name"].as_str().unwrap_or("?"),
            p["in"].as_str().unwrap_or("?"),
            if p["required"] == true {
                ", required"
            } else {
                ""
            },
            p["description"]
                .as_str()
                .map(|d| format!(": {}", one_line(d)))
                .unwrap_or_default()
        );
    }
    out.push('\n');
}

/// The component schema names a body or answer refers to (one, or each of a `oneOf`).
fn schema_names(schema: &Value) -> Vec<&str> {
    fn one(v: &Value) -> Option<&str> {
        v["$ref"].as_str().and_then(|r| r.rsplit('/').next())
    }
    match schema["oneOf"].as_array() {
        Some(list) => list.iter().filter_map(one).collect(),
        None => one(schema).into_iter().collect(),
    }
}

fn body(out: &mut String, api: &Value, op: &Value) {
    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
    for name in schema_names(schema) {
        let s = &api["components"]["schemas"][name];
        let Some(props) = s["properties"].as_object() else {
            continue;
        };
        let required: Vec<&str> = s["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let _ = writeln!(out, "Body `{name}`:\n");
        out.push_str("| field | required | meaning |\n| --- | --- | --- |\n");
        for (field, p) in props {
            let _ = writeln!(
                out,
                "| `{field}` | {} | {} |",
                if required.contains(&field.as_str()) {
                    "yes"
                } else {
                    "no"
                },
                p["description"]
                    .as_str()
                    .map(one_line)
                    .unwrap_or_default()
                    .replace('|', "\\|")
            );
        }
        let example = example_of(props);
        if !example.is_empty() {
            let _ = writeln!(
                out,
                "\nExample:\n\n```json\n{}\n```",
                serde_json::to_string_pretty(&Value::Object(example)).unwrap_or_default()
            );
        }
        out.push('\n');
    }
}

/// An example body: each property's documented example.
fn example_of(props: &Map<String, Value>) -> Map<String, Value> {
    props
        .iter()
        .filter_map(|(k, p)| {
            let e = p
                .get("example")
                .or_else(|| p["examples"].as_array().and_then(|a| a.first()))?;
            Some((k.clone(), e.clone()))
        })
        .collect()
}

fn answers(out: &mut String, op: &Value) {
    let Some(rs) = op["responses"].as_object() else {
        return;
    };
    out.push_str("Answers:\n");
    for (status, r) in rs {
        let names = schema_names(&r["content"]["application/json"]["schema"]);
        let _ = writeln!(
            out,
            "- `{status}` {}{}",
            r["description"].as_str().map(one_line).unwrap_or_default(),
            if names.is_empty() {
                String::new()
            } else {
                format!(" ({})", names.join(", "))
            }
        );
    }
    out.push('\n');
}

fn mcp_tools(out: &mut String) {
    out.push_str(
        "## The same over MCP\n\n\
         Agent hosts that speak the Model Context Protocol can use these tools instead, over \
         streamable HTTP at `/mcp` (with the same `Authorization: Bearer`) or through \
         `custos mcp` on stdio. Each tool call is the REST request named in its description, \
         with the same checks; a refusal is a tool error whose `structuredContent` carries the \
         `error` above and `retryable`. You see only the tools your scopes allow.\n\n\
         | tool | scopes | what it does |\n| --- | --- | --- |\n",
    );
    for t in custos_mcp::tools::TOOLS {
        let scopes: Vec<&str> = t.scopes.iter().map(|s| s.as_str()).collect();
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            t.name,
            scopes.join(" or "),
            t.description.replace('|', "\\|")
        );
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_agent_endpoint_and_tool_is_described_and_no_operator_endpoint_is() {
        let cfg = Config::default();
        let md = render(&cfg);
        let api = serde_json::to_value(crate::openapi::document()).unwrap();
        let mut agent_ops = 0;
        for (path, item) in api["paths"].as_object().unwrap() {
            for m in ["get", "post", "put", "delete"] {
                if item[m].is_object() {
                    let heading = format!("### `{} {path}`", m.to_uppercase());
                    assert_eq!(md.contains(&heading), is_for_agents(&item[m]), "{heading}");
                    agent_ops += usize::from(is_for_agents(&item[m]));
                }
            }
        }
        assert!(agent_ops >= 15, "{agent_ops}");
        assert!(!md.contains("/v1/admin/"));
        for t in custos_mcp::tools::TOOLS {
            assert!(md.contains(&format!("| `{}` |", t.name)), "{}", t.name);
        }
        // Every action has an example body, and the configured limits are the ones shown.
        for action in ["transfer", "trade", "sign", "sign-message"] {
            let at = md
                .find(&format!("### `POST /v1/wallets/me/actions/{action}`"))
                .unwrap();
            let section = &md[at..];
            let section = &section[..section[4..].find("### ").map_or(section.len(), |e| e + 4)];
            assert!(section.contains("```json"), "{action}: no example");
        }
        assert!(md.contains(&format!(
            "{} requests per minute per agent",
            cfg.rate_limit.per_agent_per_minute
        )));
    }
}
