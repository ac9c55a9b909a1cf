//! The agent's own wallet: identity, policy, balances on every enabled chain, audit trail and
//! actions.
//!
//! Actions: `transfer`, `sign` (a chain transaction), `trade` (Solana through Jupiter, EVM through Uniswap V2) and `sign-message`, which go
//! through the chain pipeline in [`crate::actions`]; and `sign` with `{"chain":"message"}` (alias
//! `sign-message`), which signs an off-chain message with the agent's Ed25519 key. That message is
//! wrapped in the Solana off-chain message envelope (`\xffsolana offchain`, header version 0,
//! format, length), whose leading `0xff` byte can never begin a Solana transaction message, so an
//! agent cannot use "sign a message" to get a transaction signed. On an EVM chain `sign-message`
//! signs EIP-191 / EIP-712 (see [`crate::actions::evm_message`]).
use crate::actions::sign::{self, SignTxBody};
use crate::actions::transfer::{self, TransferBody};
use crate::actions::Actor;
use crate::audit_info::{AuditInfo, Audited, RequestId};
use crate::auth::AgentCtx;
use crate::error::ApiError;
use crate::extract::{parse_json, IdempotencyKey, JsonBytes};
use crate::idempotency;
use crate::pipeline::entry_for;
use crate::routes::{Page, StrictQuery};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use custos_core::{Agent, ApiScope, AuditOutcome, KeyScheme, SignPayload};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub use custos_core::custody::SOLANA_OFFCHAIN_DOMAIN as OFFCHAIN_DOMAIN;
/// Longest message accepted, bytes (the off-chain format's single-packet limit).
pub const MAX_MESSAGE_BYTES: usize = 1212;

/// The agent as it sees itself.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WalletView {
    /// Id.
    pub agent_id: String,
    /// Login email.
    pub email: String,
    /// Addresses by chain family.
    #[schema(value_type = Object)]
    pub addresses: serde_json::Value,
    /// Whether actions are refused.
    pub frozen: bool,
}

impl From<&Agent> for WalletView {
    fn from(a: &Agent) -> Self {
        Self {
            agent_id: a.id.to_string(),
            email: a.email.clone(),
            addresses: a.addresses.clone(),
            frozen: a.frozen,
        }
    }
}

/// The caller's wallet.
#[utoipa::path(get, path = "/v1/wallets/me", tag = "wallet", security(("bearer" = [])), responses((status = 200, body = WalletView)))]
pub async fn me(ctx: AgentCtx) -> Result<Response, ApiError> {
    ctx.require(ApiScope::WalletRead)?;
    let mut r = Json(WalletView::from(&ctx.agent)).into_response();
    r.extensions_mut().insert(AuditInfo::action("wallet.get"));
    Ok(r)
}

/// The caller's effective policy document.
#[utoipa::path(get, path = "/v1/wallets/me/policy", tag = "wallet", security(("bearer" = [])), responses((status = 200, description = "Policy document")))]
pub async fn my_policy(State(state): State<AppState>, ctx: AgentCtx) -> Result<Response, ApiError> {
    ctx.require(ApiScope::PolicyRead)?;
    let p = state.policy_of(&ctx.agent)?;
    let mut r = Json(&**p).into_response();
    r.extensions_mut().insert(AuditInfo::action("policy.get"));
    Ok(r)
}

/// The caller's own audit records.
#[utoipa::path(get, path = "/v1/wallets/me/audit", tag = "wallet", security(("bearer" = [])), params(("limit" = Option<u32>, Query,), ("after" = Option<u64>, Query,)), responses((status = 200, description = "Audit records, oldest first", body = crate::openapi::AuditPage)))]
pub async fn my_audit(
    State(state): State<AppState>,
    ctx: AgentCtx,
    StrictQuery(page): StrictQuery<Page>,
) -> Result<Response, ApiError> {
    ctx.require(ApiScope::AuditRead)?;
    let recs = state
        .store
        .audit_page(Some(ctx.agent.id), page.after()?, page.limit()?)
        .await?;
    let mut r = Json(json!({ "records": recs })).into_response();
    r.extensions_mut().insert(AuditInfo::action("audit.list"));
    Ok(r)
}

/// Query of `POST /v1/wallets/me/actions/{action}`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ActionQuery {
    /// `true`: evaluate and explain, sign nothing.
    #[serde(default)]
    pub dry_run: Option<String>,
}

/// The caller's balances on every enabled chain, valued in USD where a price is known.
#[utoipa::path(get, path = "/v1/wallets/me/balances", tag = "wallet", security(("bearer" = [])), responses((status = 200, description = "`{balances: [{chain, asset, amount, usd_value}]}`")))]
pub async fn balances(State(state): State<AppState>, ctx: AgentCtx) -> Result<Response, ApiError> {
    ctx.require(ApiScope::WalletRead)?;
    let mut out = vec![];
    for adapter in state.chains.all() {
        let Some(addr) = ctx
            .agent
            .addresses
            .get(adapter.address_family())
            .and_then(|v| v.as_str())
        else {
            continue;
        };
        let chain = adapter.chain().to_string();
        let list = adapter
            .balances(addr)
            .await
            .map_err(|e| crate::actions::chain_error("address", e))?;
        for b in list {
            let asset = match &b.asset {
                custos_core::AssetRef::Native => adapter.native_symbol().to_owned(),
                custos_core::AssetRef::Token(a) => a.clone(),
            };
            let amount = custos_core::from_base_units(b.amount, b.decimals)
                .map_err(|e| crate::actions::chain_error("amount", e))?;
            let usd = crate::actions::price(&state, &custos_core::AssetId::new(asset.clone()))
                .await
                .times(amount)
                .known()
                .map(|d| d.to_string());
            out.push(json!({"chain": chain, "asset": asset, "amount": amount.to_string(), "usd_value": usd}));
        }
    }
    let mut r = Json(json!({"balances": out})).into_response();
    r.extensions_mut()
        .insert(AuditInfo::action("wallet.balances"));
    Ok(r)
}

/// `sign` body for off-chain messages.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignMessageBody {
    /// `message` (chain transactions arrive with the chain adapters).
    #[schema(example = "message")]
    pub chain: String,
    /// UTF-8 text to sign.
    #[schema(example = "I control this wallet")]
    pub message: String,
}

/// A message signature.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignedMessage {
    /// `signed`.
    pub status: String,
    /// `ed25519`.
    pub scheme: String,
    /// Hex signature (64 bytes).
    pub signature: String,
    /// Hex public key (32 bytes).
    pub public_key: String,
    /// Hex of the exact bytes signed (the off-chain envelope).
    pub signed_bytes: String,
    /// The audit record of this signature.
    pub audit_id: u64,
}

/// The off-chain envelope of `message`: domain, header version 0, format (0 = printable ASCII,
/// 1 = UTF-8), little-endian u16 length, message.
pub fn offchain_envelope(message: &str) -> Vec<u8> {
    let ascii = message.bytes().all(|b| (0x20..=0x7e).contains(&b));
    let mut out = Vec::with_capacity(OFFCHAIN_DOMAIN.len() + 4 + message.len());
    out.extend_from_slice(OFFCHAIN_DOMAIN);
    out.push(0);
    out.push(if ascii { 0 } else { 1 });
    out.extend_from_slice(&(message.len() as u16).to_le_bytes());
    out.extend_from_slice(message.as_bytes());
    out
}

/// A pipeline action's parsed body (chain actions, and Kalshi orders).
enum ChainJob {
    Transfer(TransferBody),
    Sign(SignTxBody),
    Trade(crate::actions::trade::TradeBody),
    EvmMessage(crate::actions::evm_message::EvmMessageBody),
    Pay(crate::actions::pay::PayBody),
    Liquidity(crate::actions::liquidity::LiquidityBody),
    Prediction(crate::actions::prediction::PredictionBody),
}

/// Performs an action for the caller.
#[utoipa::path(post, path = "/v1/wallets/me/actions/{action}", tag = "wallet", security(("bearer" = [])),
    params(("action" = String, Path, description = "`transfer`, `sign` (a Solana or EVM transaction, or `chain: message`), `trade` (Solana through Jupiter, EVM through Uniswap V2), `sign-message` (`chain: message`, or `evm:<id>` with `message`, `typed_data` or `hash`) `pay` (an x402 payment for a URL), `liquidity` (Meteora DLMM on Solana) or `prediction` (Kalshi: buy contracts, cancel an order)"), ("Idempotency-Key" = Option<String>, Header,), ("dry_run" = Option<bool>, Query, description = "Explain the policy decision without signing")),
    request_body(content((TransferBody), (SignTxBody), (crate::actions::trade::TradeBody), (crate::actions::evm_message::EvmMessageBody), (SignMessageBody), (crate::actions::pay::PayBody), (crate::actions::liquidity::LiquidityBody), (crate::actions::prediction::PredictionBody)), description = "`TransferBody` for `transfer`; `SignTxBody` for `sign` on a chain; `TradeBody` for `trade`; `EvmMessageBody` for `sign-message` on an EVM chain; `SignMessageBody` for off-chain messages; `PayBody` for `pay`; `LiquidityBody` for `liquidity`; `PredictionBody` for `prediction`"),
    responses((status = 200, description = "Confirmed transfer `{status, tx, usd_value, audit_id, slot}`, signed transaction `{status: signed, tx, signed_transaction, usd_value, audit_id}`, `SignedMessage`, or a Kalshi order `{status: executed|resting|canceled, order_id, max_cost_usd, order}`"), (status = 202, description = "`{status: pending_approval, approval_id, quorum}`"), (status = 403, description = "policy_denied"), (status = 409, description = "Idempotency key in use"), (status = 422, description = "Invalid request"), (status = 502, description = "upstream_error: a remote service (a swap API, Kalshi) failed or answered something unusable")))]
#[allow(clippy::too_many_arguments)]
pub async fn action(
    State(state): State<AppState>,
    ctx: AgentCtx,
    Extension(rid): Extension<RequestId>,
    Path(action): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    StrictQuery(query): StrictQuery<ActionQuery>,
    method: Method,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    let dry_run = match query.dry_run.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::invalid("dry_run", "must be true or false")),
    };
    let endpoint = format!("{method} /v1/wallets/me/actions/{{action}}");
    let peek = serde_json::from_slice::<serde_json::Value>(&body).ok();
    let chain_named = peek
        .as_ref()
        .and_then(|v| v.get("chain"))
        .and_then(|c| c.as_str())
        .and_then(|c| c.parse::<custos_core::Chain>().ok());
    let chain_action = match action.as_str() {
        "transfer" | "trade" | "pay" | "liquidity" | "prediction" => true,
        // A chain `sign` names a chain this build knows and carries a transaction; anything else
        // (`message`, or a bad value the message path reports against `chain`) is a message.
        "sign" => {
            let has = |k: &str| peek.as_ref().is_some_and(|v| v.get(k).is_some());
            chain_named.is_some() && (has("transaction") || !has("message"))
        }
        // Messages on an EVM chain: EIP-191, EIP-712 or a raw hash, under the policy.
        "sign-message" => matches!(chain_named, Some(custos_core::Chain::Evm(_))),
        _ => false,
    };
    // What the credential may ask for, before anything is parsed further: a `sign` of a message
    // needs `sign:message`, not `sign`.
    let scope = match action.as_str() {
        "sign" if !chain_action => Some(ApiScope::SignMessage),
        other => ApiScope::for_action(other),
    };
    if let Some(scope) = scope {
        ctx.require(scope)?;
    }
    if chain_action {
        let principal = crate::auth::Principal::Agent {
            agent: Box::new(ctx.agent.clone()),
            via: ctx.via.clone(),
        };
        let (job, params) = match action.as_str() {
            "transfer" => {
                let req: TransferBody = parse_json(&body)?;
                transfer::validate(&req)?;
                let params = json!({"chain": req.chain, "to": req.to, "asset": req.asset, "amount": req.amount, "dry_run": dry_run});
                (ChainJob::Transfer(req), params)
            }
            "trade" => {
                let req: crate::actions::trade::TradeBody = parse_json(&body)?;
                crate::actions::trade::validate(&req)?;
                let params = json!({"chain": req.chain, "from_asset": req.from_asset, "to_asset": req.to_asset, "amount": req.amount, "slippage_bps": req.slippage_bps, "dry_run": dry_run});
                (ChainJob::Trade(req), params)
            }
            "pay" => {
                let req: crate::actions::pay::PayBody = parse_json(&body)?;
                let url = crate::actions::pay::validate(&req)?;
                let params =
                    json!({"url": url.as_str(), "quoted": req.quote.is_some(), "dry_run": dry_run});
                (ChainJob::Pay(req), params)
            }
            "liquidity" => {
                let req: crate::actions::liquidity::LiquidityBody = parse_json(&body)?;
                crate::actions::liquidity::validate(&req)?;
                let params = json!({"chain": req.chain, "pool": req.pool, "operation": req.operation, "position": req.position, "min_bin_id": req.min_bin_id, "max_bin_id": req.max_bin_id, "amount_x": req.amount_x, "amount_y": req.amount_y, "bps": req.bps, "dry_run": dry_run});
                (ChainJob::Liquidity(req), params)
            }
            "prediction" => {
                let req: crate::actions::prediction::PredictionBody = parse_json(&body)?;
                crate::actions::prediction::validate(&req)?;
                let params = json!({"operation": req.operation, "ticker": req.ticker, "side": req.side, "count": req.count, "limit_price": req.limit_price, "order_id": req.order_id, "dry_run": dry_run});
                (ChainJob::Prediction(req), params)
            }
            "sign-message" => {
                let req: crate::actions::evm_message::EvmMessageBody = parse_json(&body)?;
                let params = json!({"chain": req.chain, "kind": if req.typed_data.is_some() { "eip712" } else if req.hash.is_some() { "raw_hash" } else { "eip191" }});
                (ChainJob::EvmMessage(req), params)
            }
            _ => {
                let req: SignTxBody = parse_json(&body)?;
                let (_, bytes) = sign::validate(&req)?;
                let params = json!({"chain": req.chain, "tx_sha256": hex::encode(custos_core::sha256(&bytes)), "broadcast": req.broadcast, "to": req.to, "asset": req.asset, "amount": req.amount, "dry_run": dry_run});
                (ChainJob::Sign(req), params)
            }
        };
        // Loaded by authentication for this very request: as fresh as a second read.
        let agent = ctx.agent.clone();
        let info = AuditInfo::with(&action, params);
        let run = |st: AppState| async move {
            let actor = Actor {
                principal: &principal,
                request_id: &rid.0,
                endpoint: &endpoint,
            };
            let result = match job {
                ChainJob::Transfer(req) => transfer::run(&st, &actor, agent, req, dry_run).await,
                ChainJob::Sign(req) => sign::run(&st, &actor, agent, req, dry_run).await,
                ChainJob::Trade(req) => {
                    crate::actions::trade::run(&st, &actor, agent, req, dry_run).await
                }
                ChainJob::EvmMessage(req) => {
                    crate::actions::evm_message::run(&st, &actor, agent, req, dry_run).await
                }
                ChainJob::Pay(req) => {
                    crate::actions::pay::run(&st, &actor, agent, req, dry_run).await
                }
                ChainJob::Liquidity(req) => {
                    crate::actions::liquidity::run(&st, &actor, agent, req, dry_run).await
                }
                ChainJob::Prediction(req) => {
                    crate::actions::prediction::run(&st, &actor, agent, req, dry_run).await
                }
            };
            let mut r = result.unwrap_or_else(|e| e.into_response());
            if r.extensions().get::<Audited>().is_none()
                && r.extensions().get::<AuditInfo>().is_none()
            {
                r.extensions_mut().insert(info);
            }
            r
        };
        if dry_run {
            return Ok(run(state.clone()).await);
        }
        let hash = idempotency::request_hash(
            method.as_str(),
            &format!("/v1/wallets/me/actions/{action}"),
            &body,
        );
        let scope = format!("agent:{}", ctx.agent.id);
        let st = state.clone();
        return Ok(idempotency::once(&state, &scope, key.as_deref(), hash, || run(st)).await);
    }
    let name = match action.as_str() {
        "sign" | "sign-message" => "sign",
        _ => {
            return Err(ApiError::not_found(format!(
                "unknown action `{}`",
                action.chars().take(40).collect::<String>()
            )))
        }
    };
    let req: SignMessageBody = parse_json(&body)?;
    if req.chain != "message" {
        return Err(ApiError::invalid(
            "chain",
            "`sign-message` takes `message`; transactions go to `sign`",
        ));
    }
    if req.message.is_empty() || req.message.len() > MAX_MESSAGE_BYTES {
        return Err(ApiError::invalid(
            "message",
            format!("must be 1 to {MAX_MESSAGE_BYTES} bytes"),
        ));
    }
    if req.message.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::invalid(
            "message",
            "must not contain control characters other than newline",
        ));
    }
    if dry_run {
        return explain_message(&state, &ctx);
    }
    let path = format!("/v1/wallets/me/actions/{name}");
    let hash = idempotency::request_hash(method.as_str(), &path, &body);
    let scope = format!("agent:{}", ctx.agent.id);
    let st = state.clone();
    Ok(
        idempotency::once(&state, &scope, key.as_deref(), hash, || async move {
            match sign_message(&st, &ctx, &rid, &endpoint, &req.message).await {
                Ok(r) => r,
                Err(e) => {
                    let mut r = e.into_response();
                    r.extensions_mut().insert(AuditInfo::with(
                        "sign",
                        json!({"chain": "message", "message_len": req.message.len()}),
                    ));
                    r
                }
            }
        })
        .await,
    )
}

/// `?dry_run=true` of an off-chain message: the policy's decision on signing one, nothing
/// signed.
fn explain_message(state: &AppState, ctx: &AgentCtx) -> Result<Response, ApiError> {
    let policy = state.policy_of(&ctx.agent)?;
    let (intent, usage) = message_intent(&ctx.agent);
    let e = custos_policy::explain(&policy, &intent, &custos_core::Effects::default(), &usage);
    let mut r = Json(json!({"dry_run": true, "explanation": e})).into_response();
    r.extensions_mut().insert(AuditInfo::with(
        "sign",
        json!({"chain": "message", "dry_run": true}),
    ));
    Ok(r)
}

/// What signing an off-chain message is, for the policy: it moves nothing and is not a
/// transaction, so the freeze is the only usage it depends on.
fn message_intent(agent: &Agent) -> (custos_core::Intent, custos_core::Usage) {
    let intent = custos_core::Intent {
        action: custos_core::Action::SignMessage,
        chain: custos_core::Chain::Solana,
        recipient: None,
        asset: None,
        amount: custos_core::Decimal::ZERO,
        declared_usd: custos_core::UsdValue::Known(custos_core::Decimal::ZERO),
    };
    let usage = custos_core::Usage {
        frozen: agent.frozen,
        ..Default::default()
    };
    (intent, usage)
}

async fn sign_message(
    state: &AppState,
    ctx: &AgentCtx,
    rid: &RequestId,
    endpoint: &str,
    message: &str,
) -> Result<Response, ApiError> {
    // Loaded by authentication for this very request: as fresh as a second read.
    let agent = ctx.agent.clone();
    let policy = state.policy_of(&agent)?;
    // The same decision as every other signature.
    let (intent, usage) = message_intent(&agent);
    let envelope = offchain_envelope(message);
    let payload = SignPayload::Message {
        bytes: envelope.clone(),
    };
    let approved = match custos_policy::evaluate_payload(
        &policy,
        &intent,
        &custos_core::Effects::default(),
        &usage,
        0,
        payload.digest(),
    ) {
        custos_policy::Decision::Allow(a) => *a,
        d => {
            return Err(ApiError::policy_denied(
                d.reasons()
                    .iter()
                    .map(|r| (r.rule.clone(), r.message.clone()))
                    .collect(),
            ))
        }
    };
    let sig = state
        .custody
        .sign(&approved, agent.id, KeyScheme::Ed25519, payload)
        .await?;
    state
        .metrics
        .signatures
        .with_label_values(&["ed25519"])
        .inc();
    // The signature leaves only after its audit record is durable.
    let params = json!({"chain": "message", "message_len": message.len(), "message_sha256": hex::encode(custos_core::sha256(message.as_bytes()))});
    let mut entry = entry_for(
        state,
        Some(&crate::auth::Principal::Agent {
            agent: Box::new(agent),
            via: ctx.via.clone(),
        }),
        endpoint,
        &rid.0,
        200,
        AuditInfo::with("sign", params),
        None,
    );
    entry.outcome = AuditOutcome::Success;
    entry.tx = Some(hex::encode(&sig.bytes));
    let stored = crate::actions::on_record(state, entry, "withholding the signature").await?;
    let body = SignedMessage {
        status: "signed".into(),
        scheme: "ed25519".into(),
        signature: hex::encode(&sig.bytes),
        public_key: hex::encode(&sig.public_key),
        signed_bytes: hex::encode(&envelope),
        audit_id: stored.id,
    };
    let mut r = Json(body).into_response();
    r.extensions_mut().insert(Audited(stored.id));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_layout() {
        let e = offchain_envelope("hi");
        assert_eq!(&e[..16], OFFCHAIN_DOMAIN);
        assert_eq!(&e[16..], &[0, 0, 2, 0, b'h', b'i']);
        assert_eq!(offchain_envelope("é")[17], 1);
        // A Solana message begins with its header (or 0x80 for v0); 0xff is neither.
        assert_eq!(e[0], 0xff);
    }
}
