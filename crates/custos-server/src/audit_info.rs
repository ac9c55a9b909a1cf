//! What a handler tells the audit layer about its request: the action name, redacted
//! parameters, amounts and transaction — or that it already wrote the record itself.
use serde_json::Value;

/// Audit details attached to a response by its handler.
#[derive(Clone, Debug, Default)]
pub struct AuditInfo {
    /// Action name; the route name is used when empty.
    pub action: String,
    /// Parameters with secrets removed.
    pub params: Option<Value>,
    /// Agent the request concerned (operator actions on an agent).
    pub subject: Option<custos_core::AgentId>,
    /// Transaction signature or hash.
    pub tx: Option<String>,
    /// USD value.
    pub usd: Option<String>,
    /// Token amounts moved.
    pub token_amounts: Option<Value>,
}

impl AuditInfo {
    /// Just an action name.
    pub fn action(name: &str) -> Self {
        Self {
            action: name.into(),
            ..Self::default()
        }
    }
    /// Name and parameters.
    pub fn with(name: &str, params: Value) -> Self {
        Self {
            action: name.into(),
            params: Some(params),
            ..Self::default()
        }
    }
}

/// Marks a response whose audit record the handler already committed (before releasing a
/// signature), so the middleware does not write a second one.
#[derive(Clone, Copy, Debug)]
pub struct Audited(pub u64);

/// The request id, set first thing for every request and echoed as `x-request-id`.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);
