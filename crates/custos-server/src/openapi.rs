//! The OpenAPI document, generated from the handlers' annotations.
use crate::actions::{evm_message, sign, trade, transfer};
use crate::routes::{
    admin, agent, alerts, auth, dev, keys, policy, prediction, system, tighten, transactions,
    wallet, webhook,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Custos", description = "Wallet and signing service for autonomous agents. Errors: `{\"error\":{\"code\",\"message\",\"field\"?,\"details\"?}}`."),
    paths(
        auth::request_otp, auth::verify_otp, auth::jwks,
        wallet::me, agent::credential, agent::approval, wallet::my_policy, tighten::tighten, wallet::my_audit, wallet::balances, wallet::action, prediction::key, prediction::balance, prediction::positions, prediction::orders, transactions::list, transactions::status, transactions::speed_up, transactions::cancel, webhook::put, webhook::get, webhook::delete, webhook::deliveries,
        dev::airdrop, dev::create_mint, dev::slots,
        admin::list_approvals, admin::get_approval, admin::approve, admin::reject, keys::list, keys::rotate,
        admin::list_agents, admin::get_agent, policy::get_policy, policy::put_policy, policy::get_policy_envelope, policy::dry_run, admin::freeze, admin::unfreeze, admin::kill_switch, admin::set_kill_switch, alerts::list_alerts, alerts::test_alert,
        admin::list_api_keys, admin::create_api_key, admin::revoke_api_key, admin::audit, admin::audit_verify, admin::audit_checkpoints,
        system::healthz, system::metrics, system::attestation, system::skill,
    ),
    components(schemas(ErrorBody, ErrorDetail, AuditRecord, AuditPage, Confirmed, SignedTransaction, EvmSignature, DryRun, PendingApproval, Paid, crate::actions::pay::PayBody, crate::actions::liquidity::LiquidityBody, crate::actions::prediction::PredictionBody, crate::actions::replace::ReplaceBody, webhook::WebhookBody, auth::OtpRequest, auth::VerifyRequest, auth::VerifyResponse, wallet::WalletView, wallet::SignMessageBody, wallet::SignedMessage, transfer::TransferBody, sign::SignTxBody, trade::TradeBody, evm_message::EvmMessageBody, dev::AirdropBody, dev::MintBody, dev::SlotsBody, admin::NewApiKey, admin::KillSwitchBody)),
    modifiers(&Bearer, &StandardErrors),
)]
struct ApiDoc;

/// The body of every non-2xx answer.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Describes the JSON `ApiError` writes; never constructed.
struct ErrorBody {
    error: ErrorDetail,
}

/// `error` of [`ErrorBody`].
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct ErrorDetail {
    /// `invalid_request`, `unauthorized`, `forbidden`, `scope_missing`, `policy_denied`,
    /// `not_found`, `idempotency_conflict`, `rate_limited`, `upstream_error` (`pay`: the seller
    /// failed), `unavailable`, `internal`; the console's API (`/console/api`) also answers
    /// `csrf` and `totp_required`.
    code: String,
    /// What went wrong, for people.
    message: String,
    /// The request field at fault, when there is one.
    field: Option<String>,
    /// `policy_denied`: `{"reasons": [{"rule", "message"}]}`.
    #[schema(value_type = Option<Object>)]
    details: Option<serde_json::Value>,
}

/// `200` of `pay`: the resource, and — when it cost something — the payment and the seller's
/// settlement receipt.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct Paid {
    /// `paid`, or `free` when the resource asked for no payment.
    status: String,
    /// The seller's HTTP status for the resource.
    http_status: u16,
    /// The resource: JSON as served, anything else as text.
    #[schema(value_type = Object)]
    body: serde_json::Value,
    /// The seller's `PAYMENT-RESPONSE` (`{success, transaction, network, payer}`), decoded.
    #[schema(value_type = Option<Object>)]
    receipt: Option<serde_json::Value>,
    /// What was paid: `{network, asset, amount, pay_to, usd_value, valid_before}`.
    #[schema(value_type = Option<Object>)]
    payment: Option<serde_json::Value>,
    /// The audit record of the authorization's signature.
    signature_audit_id: Option<u64>,
}

/// `200` of `transfer`, `trade` and broadcast `sign`: the transaction landed.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct Confirmed {
    /// `confirmed`.
    status: String,
    /// Solana signature or EVM transaction hash.
    tx: String,
    /// What it was valued at, USD.
    usd_value: String,
    /// Its audit record.
    audit_id: u64,
    /// Solana: the slot it landed in.
    slot: Option<u64>,
    /// EVM: the block it landed in.
    block: Option<u64>,
    /// Answered by crash recovery rather than by the request itself.
    recovered: Option<bool>,
}

/// `200` of `sign` with `broadcast: false`: the signed transaction, returned.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct SignedTransaction {
    /// `signed`.
    status: String,
    /// Its id.
    tx: String,
    /// Base64 (Solana) or `0x` hex (EVM).
    signed_transaction: String,
    /// What it was valued at, USD.
    usd_value: String,
    /// Its audit record.
    audit_id: u64,
}

/// `200` of `sign-message` on an EVM chain.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct EvmSignature {
    /// `signed`.
    status: String,
    /// `secp256k1_ecdsa`.
    scheme: String,
    /// `eip191`, `eip712` or `raw_hash`.
    kind: String,
    /// `0x` r‖s‖v, v = 27/28.
    signature: String,
    /// The agent's EVM address.
    address: String,
    /// Value of the permits it grants, USD.
    usd_value: String,
    /// Its audit record.
    audit_id: u64,
}

/// One record of the agent's audit trail.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct AuditRecord {
    /// Sequence number in the whole log, from 1, without gaps.
    id: u64,
    /// Milliseconds since the Unix epoch.
    time_ms: i64,
    /// The agent acted for or by.
    agent_id: Option<String>,
    /// The operator token that acted, if an operator did.
    operator: Option<String>,
    /// Method and route template.
    endpoint: String,
    /// What was done (`transfer`, `transfer.signed`, `wallet.get`, …).
    action: String,
    /// The request's parameters, secrets removed.
    params: serde_json::Value,
    /// Its USD value, when it moved value.
    usd_amount: Option<String>,
    /// Token amounts moved.
    token_amounts: serde_json::Value,
    /// Transaction signature or hash.
    tx: Option<String>,
    /// `success`, `denied`, `invalid`, `error` or `pending`.
    outcome: String,
    /// The HTTP status answered.
    status: u16,
    /// Error code or denial reasons.
    reason: Option<String>,
    /// The request's `x-request-id`.
    request_id: String,
    /// Hash of the previous record.
    prev_hash: String,
    /// Hash of this record (the chain `custos audit verify` checks).
    hash: String,
}

/// `200` of `GET /v1/wallets/me/audit`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct AuditPage {
    /// Oldest first.
    records: Vec<AuditRecord>,
}

/// `200` of any action with `?dry_run=true`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct DryRun {
    /// `true`.
    dry_run: bool,
    /// Every rule evaluated and the decision.
    #[schema(value_type = Object)]
    explanation: serde_json::Value,
    /// What simulation says the transaction does (chain transactions; absent for messages).
    #[schema(value_type = Option<Object>)]
    simulated: Option<serde_json::Value>,
}

/// `202`: parked for human approval.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct PendingApproval {
    /// `pending_approval`.
    status: String,
    /// The approval to vote on.
    approval_id: String,
    /// Approvals needed.
    quorum: u32,
}

/// The `200` answers of each action.
const ANSWERS: [(&str, &[&str]); 6] = [
    ("transfer", &["Confirmed", "DryRun"]),
    ("trade", &["Confirmed", "DryRun"]),
    (
        "sign",
        &["Confirmed", "SignedTransaction", "SignedMessage", "DryRun"],
    ),
    ("sign-message", &["SignedMessage", "EvmSignature", "DryRun"]),
    ("pay", &["Paid", "DryRun"]),
    ("liquidity", &["Confirmed", "DryRun"]),
];

/// The actions `POST /v1/wallets/me/actions/{action}` serves, each documented as its own
/// path with its own body (an OpenAPI body cannot depend on a path parameter): the request
/// schemas each accepts. `prediction` is not served yet (always `422`).
const ACTIONS: [(&str, &[&str]); 6] = [
    ("transfer", &["TransferBody"]),
    ("trade", &["TradeBody"]),
    ("sign", &["SignTxBody", "SignMessageBody"]),
    ("sign-message", &["EvmMessageBody", "SignMessageBody"]),
    ("pay", &["PayBody"]),
    ("liquidity", &["LiquidityBody"]),
];

/// The templated action path, replaced by one path per action.
const ACTION_PATH: &str = "/v1/wallets/me/actions/{action}";

/// Splits the action route into one documented path per action.
fn split_actions(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::request_body::RequestBodyBuilder;
    use utoipa::openapi::schema::OneOfBuilder;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder};
    let one_of = |names: &[&str]| -> RefOr<utoipa::openapi::schema::Schema> {
        match names {
            [one] => Ref::from_schema_name(*one).into(),
            many => many
                .iter()
                .fold(OneOfBuilder::new(), |b, n| {
                    b.item(Ref::from_schema_name(*n))
                })
                .into(),
        }
    };
    let json = |schema: RefOr<utoipa::openapi::schema::Schema>| {
        ContentBuilder::new().schema(Some(schema)).build()
    };
    let Some(template) = api.paths.paths.remove(ACTION_PATH) else {
        return;
    };
    for (action, bodies) in ACTIONS {
        let mut item = template.clone();
        if let Some(op) = item.post.as_mut() {
            op.operation_id = Some(format!("action_{}", action.replace('-', "_")));
            if let Some(ps) = op.parameters.as_mut() {
                ps.retain(|p| p.name != "action");
            }
            op.request_body = Some(
                RequestBodyBuilder::new()
                    .content("application/json", json(one_of(bodies)))
                    .required(Some(Required::True))
                    .build(),
            );
            let answers = ANSWERS
                .iter()
                .find(|(a, _)| *a == action)
                .map_or(&[][..], |(_, names)| *names);
            op.responses.responses.insert(
                "200".into(),
                ResponseBuilder::new()
                    .description("Done")
                    .content("application/json", json(one_of(answers)))
                    .build()
                    .into(),
            );
            if action == "pay" {
                op.responses.responses.insert(
                    "502".into(),
                    ResponseBuilder::new()
                        .description("`upstream_error`: the seller could not be reached, answered something unreadable, or refused the payment (`details` says whether it was signed)")
                        .content("application/json", json(one_of(&["ErrorBody"])))
                        .build()
                        .into(),
                );
            } else if action != "sign-message" {
                op.responses.responses.insert(
                    "202".into(),
                    ResponseBuilder::new()
                        .description("Parked for human approval")
                        .content("application/json", json(one_of(&["PendingApproval"])))
                        .build()
                        .into(),
                );
            }
        }
        api.paths
            .paths
            .insert(format!("/v1/wallets/me/actions/{action}"), item);
    }
}

/// Constraints the server enforces on parameters, by name.
fn constrain(p: &mut utoipa::openapi::path::Parameter) {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, SchemaType, Type};
    let schema = match p.name.as_str() {
        "key_id" => ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .pattern(Some("^[0-9a-fA-F]{1,64}$")),
        "id" => ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .format(Some(SchemaFormat::Custom("uuid".into())))
            .pattern(Some(
                "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
            )),
        "limit" => ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Integer))
            .minimum(Some(1))
            .maximum(Some(1000)),
        "after" => ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Integer))
            .minimum(Some(0))
            .maximum(Some(i64::MAX)),
        "nonce" => ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .pattern(Some("^([0-9a-fA-F]{2}){1,64}$")),
        _ => return,
    };
    p.schema = Some(schema.into());
}

/// Adds to every operation the error answers the pipeline can give it, so that the document
/// lists every status a route returns: `429` on `/v1` (rate limits), `401`/`403` where a bearer
/// is required, `400`/`408`/`413`/`422` where a body is read, `404` where the path names a
/// resource, `409`/`202` on actions, and `500`/`503` everywhere.
struct StandardErrors;

impl Modify for StandardErrors {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{Operation, ParameterIn};
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        let add = |op: &mut Operation, code: &str, description: &str| {
            op.responses
                .responses
                .entry(code.to_owned())
                .or_insert_with(|| error(description).into());
        };
        split_actions(api);
        for (path, item) in api.paths.paths.iter_mut() {
            let ops = [
                item.get.as_mut(),
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
            ];
            for op in ops.into_iter().flatten() {
                if path.starts_with("/v1/") {
                    add(op, "429", "Rate limited (`Retry-After` says when to retry)");
                }
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    add(op, "401", "Missing, invalid or expired credentials");
                    add(op, "403", "Not allowed for this role, or denied by policy");
                }
                if op.request_body.is_some() {
                    add(op, "400", "Malformed body");
                    add(op, "408", "The body did not arrive in time");
                    add(op, "413", "The body is larger than the server accepts");
                    add(op, "422", "Invalid field (named in `field`)");
                }
                for p in op.parameters.iter_mut().flatten() {
                    constrain(p);
                }
                let params = op.parameters.as_deref().unwrap_or_default();
                let in_path = params.iter().any(|p| p.parameter_in == ParameterIn::Path);
                let in_query = params.iter().any(|p| p.parameter_in == ParameterIn::Query);
                if in_path {
                    add(op, "404", "No such resource");
                    add(op, "422", "A malformed id in the path (named in `field`)");
                }
                if in_query {
                    add(op, "400", "Malformed query");
                    add(op, "422", "Invalid query parameter (named in `field`)");
                }
                if path.starts_with("/v1/wallets/me/actions/") {
                    add(op, "409", "The Idempotency-Key is still in progress");
                }
                add(op, "500", "Internal failure (never for bad input)");
                add(
                    op,
                    "503",
                    "A dependency (store, audit log, boundary, chain) is unavailable",
                );
            }
        }
    }
}

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = api.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(
                            "Session JWT, agent API key (cka_…) or operator token (cko_…)",
                        ))
                        .build(),
                ),
            );
        }
    }
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
