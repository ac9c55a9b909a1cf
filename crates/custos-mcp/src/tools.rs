//! The tool catalogue: each tool's name, description, input schema, the scopes that let a key
//! see it, and the REST request a call becomes. Nothing here signs, checks a policy or
//! decides anything: a tool is a typed spelling of one REST request, and the server's pipeline
//! answers it. No tool can change a policy (there is no REST endpoint an agent could use to).
use crate::rest::{encode_component, Method, RestCall};
use custos_core::ApiScope;
use serde_json::{json, Map, Value};

/// A tool argument that cannot become a request: which argument, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError {
    /// The argument's name.
    pub field: String,
    /// Why it is refused.
    pub message: String,
}

impl ArgError {
    fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// What a call to a tool becomes.
type Build = fn(Map<String, Value>) -> Result<RestCall, ArgError>;

/// One tool.
pub struct ToolSpec {
    /// Its name in `tools/list` and `tools/call`.
    pub name: &'static str,
    /// A short human title.
    pub title: &'static str,
    /// What it does, for the agent's model to read.
    pub description: &'static str,
    /// The key sees the tool when it has any of these scopes.
    pub scopes: &'static [ApiScope],
    /// It only reads.
    pub read_only: bool,
    /// Its input schema (a JSON Schema object).
    schema: fn() -> Value,
    build: Build,
}

impl ToolSpec {
    /// The input schema.
    pub fn input_schema(&self) -> Map<String, Value> {
        match (self.schema)() {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// The REST request a call with `args` becomes, or the argument that prevents it.
    pub fn request(&self, args: Map<String, Value>) -> Result<RestCall, ArgError> {
        (self.build)(args)
    }

    /// Whether a credential with `allows` may see this tool.
    pub fn visible(&self, allows: impl Fn(ApiScope) -> bool) -> bool {
        self.scopes.iter().any(|s| allows(*s))
    }
}

/// Every tool, in `tools/list` order.
pub static TOOLS: &[ToolSpec] = &[
    ToolSpec {
        name: "wallet",
        title: "Wallet",
        description: "The agent's wallet: id, addresses per chain family, and whether it is frozen.",
        scopes: &[ApiScope::WalletRead],
        read_only: true,
        schema: no_arguments,
        build: |a| get(a, "/v1/wallets/me", &[]),
    },
    ToolSpec {
        name: "balances",
        title: "Balances",
        description: "Balances on every enabled chain, with their USD value where a price is known.",
        scopes: &[ApiScope::WalletRead],
        read_only: true,
        schema: no_arguments,
        build: |a| get(a, "/v1/wallets/me/balances", &[]),
    },
    ToolSpec {
        name: "transactions",
        title: "Transactions",
        description: "The agent's transactions, newest first, with their status.",
        scopes: &[ApiScope::WalletRead],
        read_only: true,
        schema: paged,
        build: |a| get(a, "/v1/wallets/me/transactions", &["limit", "after"]),
    },
    ToolSpec {
        name: "transaction_status",
        title: "Transaction status",
        description: "One transaction's status (pending, confirmed, failed) and its audit records.",
        scopes: &[ApiScope::WalletRead],
        read_only: true,
        schema: || {
            object(
                json!({"tx": {"type": "string", "description": "Solana signature or EVM transaction hash"}}),
                &["tx"],
            )
        },
        build: |mut a| {
            let tx = take_segment(&mut a, "tx")?;
            get(a, &format!("/v1/wallets/me/transactions/{tx}"), &[])
        },
    },
    ToolSpec {
        name: "approval_status",
        title: "Approval status",
        description: "Where an action that needed human approval stands (pending, executed, rejected, expired).",
        scopes: &[ApiScope::WalletRead],
        read_only: true,
        schema: || {
            object(
                json!({"approval_id": {"type": "string", "description": "The approval_id a 202 pending_approval answer gave"}}),
                &["approval_id"],
            )
        },
        build: |mut a| {
            let id = take_segment(&mut a, "approval_id")?;
            get(a, &format!("/v1/wallets/me/approvals/{id}"), &[])
        },
    },
    ToolSpec {
        name: "policy",
        title: "Policy",
        description: "The agent's effective policy (read only: only the owner or an operator changes it).",
        scopes: &[ApiScope::PolicyRead],
        read_only: true,
        schema: no_arguments,
        build: |a| get(a, "/v1/wallets/me/policy", &[]),
    },
    ToolSpec {
        name: "audit",
        title: "Audit trail",
        description: "The agent's own audit records, oldest first; page with `after`.",
        scopes: &[ApiScope::AuditRead],
        read_only: true,
        schema: paged,
        build: |a| get(a, "/v1/wallets/me/audit", &["limit", "after"]),
    },
    ToolSpec {
        name: "transfer",
        title: "Transfer",
        description: "Send a native coin or token. The owner's policy decides; a denial names the rules (do not retry it), a 202 answer means a human must approve (see approval_status).",
        scopes: &[ApiScope::Transfer],
        read_only: false,
        schema: transfer_schema,
        build: |a| action("transfer", a, false),
    },
    ToolSpec {
        name: "trade",
        title: "Trade",
        description: "Swap one asset for another (Solana through Jupiter, EVM through the configured Uniswap V2 router), within the slippage given; the swap is held to its quote by its simulated effects.",
        scopes: &[ApiScope::Trade],
        read_only: false,
        schema: trade_schema,
        build: |a| action("trade", a, false),
    },
    ToolSpec {
        name: "liquidity",
        title: "Provide liquidity (Meteora DLMM)",
        description: "Add to the wallet's position in a Meteora DLMM pool on Solana, remove a share of it, or claim its fees, within the policy's liquidity rules (pools allowlist, USD per deposit and per day). Where the cluster does not run the DLMM program, only a dry run is answered.",
        scopes: &[ApiScope::Liquidity],
        read_only: false,
        schema: liquidity_schema,
        build: |a| action("liquidity", a, false),
    },
    ToolSpec {
        name: "prediction",
        title: "Prediction market order (Kalshi)",
        description: "Buy contracts of one outcome of a Kalshi market with a limit order (operation: buy), or cancel a resting order (operation: cancel), within the policy's prediction rules (markets allowlist, contracts and USD per order, USD per day). The request is signed by the agent's Kalshi key inside the custody boundary.",
        scopes: &[ApiScope::Prediction],
        read_only: false,
        schema: prediction_schema,
        build: |a| action("prediction", a, false),
    },
    ToolSpec {
        name: "prediction_account",
        title: "Kalshi account",
        description: "The agent's Kalshi balance (cents), positions or orders, read with a request signed inside the custody boundary.",
        scopes: &[ApiScope::Prediction],
        read_only: true,
        schema: prediction_account_schema,
        build: prediction_account,
    },
    ToolSpec {
        name: "sign_transaction",
        title: "Sign a transaction",
        description: "Sign (and with broadcast: true, send) a transaction the agent built; the policy is checked against what it would really do.",
        scopes: &[ApiScope::Sign],
        read_only: false,
        schema: sign_schema,
        build: |a| action("sign", a, false),
    },
    ToolSpec {
        name: "sign_message",
        title: "Sign a message",
        description: "Sign an off-chain message (chain: message, Ed25519 in the Solana off-chain envelope) or, on evm:<id>, an EIP-191 message or EIP-712 typed data.",
        scopes: &[ApiScope::SignMessage],
        read_only: false,
        schema: message_schema,
        build: |a| action("sign-message", a, false),
    },
    ToolSpec {
        name: "pay",
        title: "Pay for an HTTP resource (x402)",
        description: "Fetch a URL and, if it answers 402 Payment Required (x402 v2), pay it from the wallet within the policy's payments rules and return the resource and the settlement receipt. Pass the quote you were shown to pay only that.",
        scopes: &[ApiScope::Pay],
        read_only: false,
        schema: pay_schema,
        build: |a| action("pay", a, false),
    },
    ToolSpec {
        name: "speed_up_transaction",
        title: "Speed up a pending transaction",
        description: "Replace a pending EVM transaction (still in the node's pool, e.g. stuck under a fee cap the base fee has passed) with the same transaction paying higher fees under the same nonce. Judged under the current policy like the original; whichever of the two lands settles it.",
        scopes: REPLACE_SCOPES,
        read_only: false,
        schema: replace_schema,
        build: |a| replace("speed-up", a),
    },
    ToolSpec {
        name: "cancel_transaction",
        title: "Cancel a pending transaction",
        description: "Replace a pending EVM transaction with one sending nothing to the wallet itself under the same nonce with higher fees: if it lands, the original never does and only the fee is spent.",
        scopes: REPLACE_SCOPES,
        read_only: false,
        schema: replace_schema,
        build: |a| replace("cancel", a),
    },
    ToolSpec {
        name: "dry_run",
        title: "What would the policy say",
        description: "Evaluate an action against the policy and explain the decision, signing nothing.",
        scopes: &[
            ApiScope::Transfer,
            ApiScope::Trade,
            ApiScope::Liquidity,
            ApiScope::Sign,
            ApiScope::SignMessage,
            ApiScope::Pay,
        ],
        read_only: true,
        schema: dry_run_schema,
        build: dry_run,
    },
];

/// A key sees the replacement tools when it may send transactions at all; the server checks the
/// scope of the transaction being replaced.
const REPLACE_SCOPES: &[ApiScope] = &[ApiScope::Transfer, ApiScope::Trade, ApiScope::Sign];

/// The tool named `name`.
pub fn find(name: &str) -> Option<&'static ToolSpec> {
    TOOLS.iter().find(|t| t.name == name)
}

fn no_arguments() -> Value {
    object(json!({}), &[])
}

fn paged() -> Value {
    object(
        json!({
            "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "At most this many (default 100)"},
            "after": {"type": "integer", "minimum": 0, "description": "Continue after this record id"}
        }),
        &[],
    )
}

fn idempotency_property() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 255,
           "description": "Idempotency-Key: a retry with the same key returns the first answer instead of acting twice. Use one per intended action."})
}

fn chain_property() -> Value {
    json!({"type": "string", "description": "`solana` or `evm:<chain id>`"})
}

fn transfer_schema() -> Value {
    object(
        json!({
            "chain": chain_property(),
            "to": {"type": "string", "description": "Recipient address"},
            "asset": {"type": "string", "description": "`SOL` or a token mint on Solana; the native symbol or an ERC-20 address on EVM"},
            "amount": {"type": "string", "description": "Whole units as a decimal string, e.g. \"1.25\""},
            "idempotency_key": idempotency_property()
        }),
        &["chain", "to", "asset", "amount"],
    )
}

fn trade_schema() -> Value {
    object(
        json!({
            "chain": {"type": "string", "description": "`solana` (through Jupiter) or `evm:<chain id>` with a configured DEX router"},
            "from_asset": {"type": "string", "description": "What is sold: the native symbol, a token symbol (Solana), a mint or an ERC-20 address"},
            "to_asset": {"type": "string", "description": "What is bought"},
            "amount": {"type": "string", "description": "How much is sold, whole units"},
            "slippage_bps": {"type": "integer", "minimum": 0, "description": "Largest shortfall below the quote, basis points (default 50)"},
            "idempotency_key": idempotency_property()
        }),
        &["chain", "from_asset", "to_asset", "amount"],
    )
}

fn prediction_schema() -> Value {
    object(
        json!({
            "operation": {"type": "string", "enum": ["buy", "cancel"]},
            "ticker": {"type": "string", "description": "buy: the market ticker, e.g. KXFED-26DEC-T4.00"},
            "side": {"type": "string", "enum": ["yes", "no"], "description": "buy: the outcome bought"},
            "count": {"type": "integer", "minimum": 1, "description": "buy: contracts"},
            "limit_price": {"type": "string", "description": "buy: the most paid per contract, USD, 0.01 to 0.99"},
            "order_id": {"type": "string", "description": "cancel: Kalshi's order id"},
            "idempotency_key": idempotency_property()
        }),
        &["operation"],
    )
}

fn prediction_account_schema() -> Value {
    object(
        json!({"what": {"type": "string", "enum": ["balance", "positions", "orders"]}}),
        &["what"],
    )
}

fn prediction_account(mut args: Map<String, Value>) -> Result<RestCall, ArgError> {
    let what = match args.remove("what") {
        Some(Value::String(s)) if matches!(s.as_str(), "balance" | "positions" | "orders") => s,
        _ => {
            return Err(ArgError::new(
                "what",
                "must be balance, positions or orders",
            ))
        }
    };
    get(args, &format!("/v1/wallets/me/prediction/{what}"), &[])
}

fn liquidity_schema() -> Value {
    object(
        json!({
            "chain": {"type": "string", "enum": ["solana"]},
            "pool": {"type": "string", "description": "The pool's LbPair address"},
            "operation": {"type": "string", "enum": ["add", "remove", "claim"]},
            "position": {"type": "string", "description": "The wallet's position in the pool"},
            "min_bin_id": {"type": "integer", "description": "The lowest bin of the range"},
            "max_bin_id": {"type": "integer", "description": "The highest bin (at most 69 above min_bin_id)"},
            "amount_x": {"type": "string", "description": "add: the most of token X deposited, whole units"},
            "amount_y": {"type": "string", "description": "add: the most of token Y deposited, whole units"},
            "strategy": {"type": "string", "enum": ["spot", "curve", "bid_ask"]},
            "max_active_bin_slippage": {"type": "integer", "minimum": 0, "description": "add: bins the active bin may move (default 3)"},
            "bps": {"type": "integer", "minimum": 1, "maximum": 10000, "description": "remove: basis points of the range's liquidity"},
            "idempotency_key": idempotency_property()
        }),
        &[
            "chain",
            "pool",
            "operation",
            "position",
            "min_bin_id",
            "max_bin_id",
        ],
    )
}

fn sign_schema() -> Value {
    object(
        json!({
            "chain": chain_property(),
            "transaction": {"type": "string", "description": "Solana: the serialized transaction, base64. EVM: the unsigned EIP-1559 transaction, hex"},
            "broadcast": {"type": "boolean", "description": "Send and confirm it (default false: return it signed)"},
            "to": {"type": "string", "description": "Optional declared recipient"},
            "asset": {"type": "string", "description": "Optional declared asset (with amount)"},
            "amount": {"type": "string", "description": "Optional declared amount (with asset)"},
            "idempotency_key": idempotency_property()
        }),
        &["chain", "transaction"],
    )
}

fn message_schema() -> Value {
    object(
        json!({
            "chain": {"type": "string", "description": "`message` (off-chain Ed25519) or `evm:<chain id>`"},
            "message": {"type": "string", "description": "UTF-8 text"},
            "typed_data": {"type": "object", "description": "EIP-712 document (evm only)"},
            "hash": {"type": "string", "description": "0x + 64 hex digits (evm, when the policy allows raw hashes)"},
            "idempotency_key": idempotency_property()
        }),
        &["chain"],
    )
}

fn pay_schema() -> Value {
    object(
        json!({
            "url": {"type": "string", "description": "The resource (http:// or https://), fetched with GET"},
            "quote": {"type": "object", "description": "The payment requirements you were quoted (one entry of the 402's accepts): pay only if the seller still asks exactly this"},
            "idempotency_key": idempotency_property()
        }),
        &["url"],
    )
}

fn replace_schema() -> Value {
    object(
        json!({
            "tx": {"type": "string", "description": "The pending EVM transaction's hash (or an earlier replacement's)"},
            "fee_bump_percent": {"type": "integer", "minimum": 10, "maximum": 500, "description": "Raise both fees by at least this much, percent (default 25)"},
            "idempotency_key": idempotency_property()
        }),
        &["tx"],
    )
}

fn dry_run_schema() -> Value {
    object(
        json!({
            "action": {"type": "string", "enum": ["transfer", "trade", "liquidity", "prediction", "sign_transaction", "sign_message", "pay"]},
            "request": {"type": "object", "description": "The arguments that action's tool would take (without idempotency_key)"}
        }),
        &["action", "request"],
    )
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

/// A `GET` whose only arguments are the query parameters `query`.
fn get(mut args: Map<String, Value>, path: &str, query: &[&str]) -> Result<RestCall, ArgError> {
    let mut pairs = vec![];
    for name in query {
        match args.remove(*name) {
            None | Some(Value::Null) => {}
            Some(Value::Number(n)) if n.as_u64().is_some() => {
                pairs.push(format!("{name}={n}"));
            }
            Some(_) => return Err(ArgError::new(name, "must be a non-negative integer")),
        }
    }
    no_other_arguments(&args)?;
    let path_and_query = if pairs.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", pairs.join("&"))
    };
    Ok(RestCall {
        method: Method::Get,
        path_and_query,
        body: None,
        idempotency_key: None,
    })
}

fn no_other_arguments(args: &Map<String, Value>) -> Result<(), ArgError> {
    match args.keys().next() {
        Some(k) => Err(ArgError::new(k, "unknown argument for this tool")),
        None => Ok(()),
    }
}

/// A required string argument used as one path segment.
fn take_segment(args: &mut Map<String, Value>, name: &str) -> Result<String, ArgError> {
    match args.remove(name) {
        Some(Value::String(s)) if !s.is_empty() && s != "." && s != ".." && s.len() <= 256 => {
            Ok(encode_component(&s))
        }
        Some(Value::String(_)) => Err(ArgError::new(name, "must be a non-empty identifier")),
        Some(_) => Err(ArgError::new(name, "must be a string")),
        None => Err(ArgError::new(name, "is required")),
    }
}

/// `POST /v1/wallets/me/actions/{action}`: the arguments are the body, except the
/// idempotency key, which becomes the header.
fn action(name: &str, args: Map<String, Value>, dry_run: bool) -> Result<RestCall, ArgError> {
    let path = format!("/v1/wallets/me/actions/{name}");
    post(
        if dry_run {
            format!("{path}?dry_run=true")
        } else {
            path
        },
        args,
    )
}

/// `POST /v1/wallets/me/transactions/{tx}/{kind}`: `tx` is the path segment, the rest as
/// [`post`].
fn replace(kind: &str, mut args: Map<String, Value>) -> Result<RestCall, ArgError> {
    let tx = take_segment(&mut args, "tx")?;
    post(format!("/v1/wallets/me/transactions/{tx}/{kind}"), args)
}

/// A `POST` of `args` as the JSON body, except the idempotency key, which becomes the header.
fn post(path_and_query: String, mut args: Map<String, Value>) -> Result<RestCall, ArgError> {
    let idempotency_key = match args.remove("idempotency_key") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) if !k.is_empty() && k.len() <= 255 => Some(k),
        Some(_) => {
            return Err(ArgError::new(
                "idempotency_key",
                "must be a string of 1 to 255 characters",
            ))
        }
    };
    Ok(RestCall {
        method: Method::Post,
        path_and_query,
        body: Some(Value::Object(args)),
        idempotency_key,
    })
}

fn dry_run(mut args: Map<String, Value>) -> Result<RestCall, ArgError> {
    let name = match args.remove("action") {
        Some(Value::String(s)) => match s.as_str() {
            "transfer" => "transfer",
            "trade" => "trade",
            "liquidity" => "liquidity",
            "prediction" => "prediction",
            "sign_transaction" => "sign",
            "sign_message" => "sign-message",
            "pay" => "pay",
            _ => {
                return Err(ArgError::new(
                    "action",
                    "must be transfer, trade, liquidity, prediction, sign_transaction, sign_message or pay",
                ))
            }
        },
        Some(_) => return Err(ArgError::new("action", "must be a string")),
        None => return Err(ArgError::new("action", "is required")),
    };
    let request = match args.remove("request") {
        Some(Value::Object(m)) => m,
        Some(_) => return Err(ArgError::new("request", "must be an object")),
        None => return Err(ArgError::new("request", "is required")),
    };
    no_other_arguments(&args)?;
    if request.contains_key("idempotency_key") {
        return Err(ArgError::new(
            "request.idempotency_key",
            "a dry run signs nothing; it takes no idempotency key",
        ));
    }
    action(name, request, true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn args(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn names_are_unique_and_schemas_are_objects() {
        let mut names: Vec<_> = TOOLS.iter().map(|t| t.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), TOOLS.len());
        for t in TOOLS {
            let s = t.input_schema();
            assert_eq!(s["type"], "object", "{}", t.name);
            for r in s["required"].as_array().into_iter().flatten() {
                let r = r.as_str().unwrap_or_default();
                assert!(s["properties"].get(r).is_some(), "{}: {r}", t.name);
            }
        }
    }

    #[test]
    fn a_transfer_becomes_the_rest_action_with_its_key_as_the_header() {
        let call = find("transfer")
            .map(|t| {
                t.request(args(json!({"chain": "solana", "to": "x", "asset": "SOL",
                                      "amount": "1", "idempotency_key": "k-1"})))
            })
            .and_then(Result::ok);
        assert_eq!(
            call,
            Some(RestCall {
                method: Method::Post,
                path_and_query: "/v1/wallets/me/actions/transfer".into(),
                body: Some(json!({"chain": "solana", "to": "x", "asset": "SOL", "amount": "1"})),
                idempotency_key: Some("k-1".into()),
            })
        );
    }

    #[test]
    fn a_replacement_puts_the_transaction_in_the_path_and_the_rest_in_the_body() {
        let call = find("speed_up_transaction")
            .map(|t| {
                t.request(args(
                    json!({"tx": "0xab", "fee_bump_percent": 40, "idempotency_key": "k-2"}),
                ))
            })
            .and_then(Result::ok);
        assert_eq!(
            call,
            Some(RestCall {
                method: Method::Post,
                path_and_query: "/v1/wallets/me/transactions/0xab/speed-up".into(),
                body: Some(json!({"fee_bump_percent": 40})),
                idempotency_key: Some("k-2".into()),
            })
        );
        let call = find("cancel_transaction")
            .map(|t| t.request(args(json!({"tx": "0xcd"}))))
            .and_then(Result::ok)
            .map(|c| (c.path_and_query, c.body));
        assert_eq!(
            call,
            Some((
                "/v1/wallets/me/transactions/0xcd/cancel".into(),
                Some(json!({}))
            ))
        );
        let missing = find("cancel_transaction").map(|t| t.request(args(json!({}))));
        assert!(matches!(missing, Some(Err(ArgError { ref field, .. })) if field == "tx"));
    }

    #[test]
    fn a_dry_run_names_the_action_and_signs_nothing() {
        let t = find("dry_run").map(|t| t.scopes.len());
        assert_eq!(t, Some(6));
        let call = find("dry_run").map(|t| {
            t.request(args(
                json!({"action": "sign_message", "request": {"chain": "message", "message": "hi"}}),
            ))
        });
        let Some(Ok(call)) = call else {
            panic!("dry run refused: {call:?}")
        };
        assert_eq!(
            call.path_and_query,
            "/v1/wallets/me/actions/sign-message?dry_run=true"
        );
        assert_eq!(call.idempotency_key, None);
        let bad = find("dry_run")
            .map(|t| t.request(args(json!({"action": "set_policy", "request": {}}))));
        assert!(matches!(bad, Some(Err(ArgError { ref field, .. })) if field == "action"));
    }

    #[test]
    fn bad_arguments_name_the_argument() {
        let cases = [
            ("audit", json!({"limit": "ten"}), "limit"),
            ("audit", json!({"limit": -1}), "limit"),
            ("wallet", json!({"verbose": true}), "verbose"),
            ("transaction_status", json!({}), "tx"),
            ("transaction_status", json!({"tx": ".."}), "tx"),
            ("approval_status", json!({"approval_id": 7}), "approval_id"),
            (
                "transfer",
                json!({"idempotency_key": ""}),
                "idempotency_key",
            ),
            ("dry_run", json!({"action": "transfer"}), "request"),
            (
                "dry_run",
                json!({"action": "transfer", "request": {"idempotency_key": "k"}}),
                "request.idempotency_key",
            ),
        ];
        for (tool, a, field) in cases {
            let r = find(tool).map(|t| t.request(args(a.clone())));
            match r {
                Some(Err(e)) => assert_eq!(e.field, field, "{tool} {a}"),
                other => panic!("{tool} {a}: {other:?}"),
            }
        }
    }

    #[test]
    fn path_arguments_cannot_leave_their_segment() {
        let call = find("transaction_status")
            .map(|t| t.request(args(json!({"tx": "../../admin/agents"}))));
        let Some(Ok(call)) = call else {
            panic!("{call:?}")
        };
        assert_eq!(
            call.path_and_query,
            "/v1/wallets/me/transactions/..%2F..%2Fadmin%2Fagents"
        );
        let call = find("audit").map(|t| t.request(args(json!({"limit": 5, "after": 9}))));
        assert_eq!(
            call.and_then(Result::ok).map(|c| c.path_and_query),
            Some("/v1/wallets/me/audit?limit=5&after=9".into())
        );
    }

    #[test]
    fn a_key_sees_only_the_tools_its_scopes_allow() {
        let reader = |s: ApiScope| s == ApiScope::WalletRead;
        let visible: Vec<_> = TOOLS
            .iter()
            .filter(|t| t.visible(reader))
            .map(|t| t.name)
            .collect();
        assert_eq!(
            visible,
            [
                "wallet",
                "balances",
                "transactions",
                "transaction_status",
                "approval_status"
            ]
        );
        let payer = |s: ApiScope| s == ApiScope::Transfer;
        let visible: Vec<_> = TOOLS
            .iter()
            .filter(|t| t.visible(payer))
            .map(|t| t.name)
            .collect();
        assert_eq!(
            visible,
            [
                "transfer",
                "speed_up_transaction",
                "cancel_transaction",
                "dry_run"
            ]
        );
    }
}
