//! Chain actions, in SPEC order: cheap policy checks, build, simulate, value in USD, decide on
//! the declared intent *and* the simulated effects, reserve the budget, sign in the custody
//! boundary (which re-checks), audit, broadcast, confirm, commit the budget.
//!
//! [`plan`] stops at the decision (it is also the dry run); [`execute`] takes only an
//! [`Approved`] allowance, which only the policy crate can make, so nothing reaches the signer
//! without a policy decision.
pub mod budget;
pub mod durable;
pub mod evm_message;
mod execute;
pub mod liquidity;
pub mod pay;
pub mod prediction;
mod refresh;
pub mod replace;
pub mod sign;
pub mod trade;
pub mod transfer;

use crate::audit_info::AuditInfo;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use axum::response::{IntoResponse, Response};
use axum::Json;
use custos_core::{
    Agent, AssetId, ChainAdapter, ChainError, Decimal, Effects, Intent, SimulatedEffects,
    UnsignedTx, Usage, UsdValue,
};
use custos_policy::{Allowance, Approved, Decision, PolicyDocument};
use serde_json::json;
use std::sync::Arc;

pub use execute::{confirmation_settings, execute};
use execute::{token_amounts, Sent, TxRecord};

/// Who asked, for the audit record.
pub struct Actor<'a> {
    /// The principal (agent, or the operator executing an approval).
    pub principal: &'a Principal,
    /// Request id.
    pub request_id: &'a str,
    /// `METHOD route`.
    pub endpoint: &'a str,
}

/// Everything decided about one action before anything is signed.
pub struct Plan {
    /// The agent.
    pub agent: Agent,
    /// Its effective policy.
    pub policy: std::sync::Arc<crate::state::EffectivePolicy>,
    /// The declared intent.
    pub intent: Intent,
    /// The unsigned transaction.
    pub tx: UnsignedTx,
    /// What simulation says it does.
    pub simulated: SimulatedEffects,
    /// Effects valued in USD.
    pub effects: Effects,
    /// Budget usage now.
    pub usage: Usage,
    /// Action-specific fields added to the final response (a trade's quote and minimum).
    pub extra: Option<serde_json::Value>,
    /// A share of the budget the action also counts against (an x402 payment's site).
    pub bucket: Option<custos_core::Bucket>,
}

/// Maps chain failures: the caller's mistakes are `422`, the chain's are `503`.
pub fn chain_error(field: &str, e: ChainError) -> ApiError {
    match e {
        ChainError::InvalidInput(m) => ApiError::invalid(field, m),
        ChainError::Rejected(m) => ApiError::policy_denied(vec![(
            "simulation.failed".into(),
            format!("the chain rejected the transaction: {m}"),
        )]),
        ChainError::Timeout(m) => ApiError::unavailable(format!("not confirmed in time: {m:?}")),
        ChainError::Unavailable(m) => {
            tracing::error!(error = %m, "chain unavailable");
            ApiError::unavailable("the chain is unavailable")
        }
        other => ApiError::internal(other),
    }
}

/// `403 policy_denied` under `amount.out_of_range`: an amount Custos cannot value exactly.
pub fn out_of_range(e: &custos_core::AmountError) -> ApiError {
    ApiError::policy_denied(vec![(
        custos_policy::rules::AMOUNT_OUT_OF_RANGE.into(),
        format!("{e}; refusing rather than clamping"),
    )])
}

/// USD price of `asset` from the oracle (missing or stale stays so: it fails closed in policy).
pub async fn price(state: &AppState, asset: &AssetId) -> UsdValue {
    UsdValue::from_quote(&state.oracle.price(asset.as_str()).await)
}

/// Simulates `tx` and values its effects.
pub async fn simulate(
    state: &AppState,
    adapter: &Arc<dyn ChainAdapter>,
    tx: &UnsignedTx,
    agent_address: &str,
) -> Result<(SimulatedEffects, Effects), ApiError> {
    let sim = adapter
        .simulate(&tx.tx_bytes, agent_address)
        .await
        .map_err(|e| chain_error("transaction", e))?;
    if !sim.success {
        let why = sim.error.clone().unwrap_or_else(|| "failed".into());
        return Err(ApiError::policy_denied(vec![(
            "simulation.failed".into(),
            format!("simulation failed: {why}"),
        )]));
    }
    let mut effects = sim
        .to_policy_effects(adapter.native_symbol())
        .map_err(|e| out_of_range(&e))?;
    // An allowance of an asset the transaction does not move still needs its decimals to be
    // valued; the chain is asked. One it cannot answer stays unknown, which the policy refuses.
    let native = adapter.native_symbol().to_owned();
    for d in &mut effects.delegations {
        let Some(id) = d.asset.as_ref().filter(|_| d.decimals.is_none()) else {
            continue;
        };
        let asset = if id.as_str() == native {
            custos_core::AssetRef::Native
        } else {
            custos_core::AssetRef::Token(id.to_string())
        };
        d.decimals = adapter.asset_decimals(&asset).await.ok();
    }
    for a in effects.assets_to_price() {
        let p = price(state, &a).await;
        effects.prices.insert(a, p);
    }
    Ok((sim, effects))
}

/// The agent's usage in the rolling windows.
pub async fn usage(state: &AppState, agent: &Agent) -> Result<Usage, ApiError> {
    let u = state
        .store
        .budget_usage(agent.id, state.clock.now_ms())
        .await?;
    Ok(Usage {
        frozen: agent.frozen,
        spent_usd_24h: u.spent_usd,
        tx_last_hour: u.tx_last_hour,
    })
}

/// The checks that need no chain access: a frozen agent, then the policy's precheck (action,
/// chain, declared recipient). A request that fails them never touches the chain.
pub fn precheck(policy: &PolicyDocument, intent: &Intent, usage: &Usage) -> Result<(), ApiError> {
    if usage.frozen {
        return Err(frozen());
    }
    custos_policy::precheck(policy, intent).map_err(|r| denied(&r))
}

pub use budget::reserve;

/// `403 policy_denied` naming `frozen`: the agent is frozen by an operator.
pub fn frozen() -> ApiError {
    ApiError::policy_denied(vec![(
        "frozen".into(),
        "this agent is frozen by an operator".into(),
    )])
}

/// Puts `entry` on record before what it records leaves Custos (a signature, a broadcast, an
/// order): nothing is released without an audit record. If the audit log refuses it, the
/// request fails closed with `503`; `withheld` says in the log what was not released. (With a
/// reservation held, [`budget::Reserved::record`] also releases it.)
pub async fn on_record(
    state: &AppState,
    entry: custos_core::AuditEntry,
    withheld: &str,
) -> Result<custos_core::StoredAudit, ApiError> {
    state.audit.append(entry).await.map_err(|e| {
        tracing::error!(error = %e, withheld, "audit write failed; failing closed");
        ApiError::unavailable("audit log unavailable; the request was not completed")
    })
}

/// `403 policy_denied` from policy reasons.
pub fn denied(reasons: &[custos_policy::Reason]) -> ApiError {
    ApiError::policy_denied(
        reasons
            .iter()
            .map(|r| (r.rule.clone(), r.message.clone()))
            .collect(),
    )
}

/// What a parked transaction does, for the approver: amounts in whole units, as strings (an
/// EVM amount in wei does not fit a JSON number).
fn effects_view(e: &custos_core::Effects) -> serde_json::Value {
    let whole = |atoms: i128, decimals: u8| match custos_core::from_base_units(
        atoms.unsigned_abs(),
        decimals,
    ) {
        Ok(d) if atoms < 0 => format!("-{d}"),
        Ok(d) => d.to_string(),
        Err(_) => format!("{atoms} base units"),
    };
    let changes: Vec<_> = e
        .changes
        .iter()
        .map(|c| json!({"asset": c.asset.to_string(), "delta": whole(c.delta_atoms, c.decimals), "usd_price": e.price_of(&c.asset).known().map(|p| p.to_string())}))
        .collect();
    let delegations: Vec<_> = e
        .delegations
        .iter()
        .map(|d| serde_json::to_value(d).unwrap_or_else(|_| json!(format!("{d:?}"))))
        .collect();
    let methods: Vec<_> = e
        .methods
        .iter()
        .map(|m| json!({"contract": m.contract, "selector": m.selector}))
        .collect();
    json!({
        "changes": changes,
        "recipients": e.recipients,
        "programs": e.programs,
        "methods": methods,
        "delegations": delegations,
        "network_cost": e.network_cost.as_ref().map(|n| json!({"asset": n.asset.to_string(), "base_units": n.atoms.to_string()})),
    })
}

/// Parks a plan for human approval: bound to the exact transaction bytes, the policy version
/// and an expiry.
pub async fn park(
    state: &AppState,
    plan: &Plan,
    quorum: u32,
    request: serde_json::Value,
) -> Result<Response, ApiError> {
    let action = plan.intent.action.as_str();
    use base64::Engine;
    let now = state.clock.now_ms();
    let id = uuid::Uuid::new_v4().to_string();
    let usd = plan.intent.declared_usd.known();
    let mut req = request;
    req["tx"] = json!(base64::engine::general_purpose::STANDARD.encode(&plan.tx.tx_bytes));
    // What the approver is agreeing to, as simulated now (shown by `GET …/approvals/{id}`).
    req["effects"] = effects_view(&plan.effects);
    state
        .store
        .create_approval(custos_core::ApprovalRecord {
            id: id.clone(),
            agent: plan.agent.id,
            action: action.into(),
            request: req,
            tx_hash: hex::encode(custos_core::sha256(&plan.tx.tx_bytes)),
            policy_version: plan.agent.policy_version,
            usd,
            quorum,
            created_at_ms: now,
            expires_at_ms: now + (state.cfg.approvals.ttl_seconds as i64) * 1000,
            status: custos_core::ApprovalStatus::Pending,
            approvers: vec![],
            rejected_by: None,
        })
        .await?;
    tracing::info!(agent = %plan.agent.id, approval = %id, "action parked for approval");
    let mut r = (
        axum::http::StatusCode::ACCEPTED,
        Json(json!({"status": "pending_approval", "approval_id": id, "quorum": quorum})),
    )
        .into_response();
    r.extensions_mut().insert(AuditInfo {
        action: action.into(),
        params: Some(json!({"approval_id": id})),
        usd: usd.map(|u| u.to_string()),
        ..AuditInfo::default()
    });
    Ok(r)
}

/// Decides: `Allow` hands back the proof; `Deny` and `RequireApproval` come back as errors or
/// a parked response.
pub fn decide(
    plan: &Plan,
    adapter: &dyn ChainAdapter,
    human_approvals: u32,
) -> Result<Approved<Allowance>, Result<u32, ApiError>> {
    let judged = adapter
        .judged_digest(&plan.tx.tx_bytes)
        .map_err(|e| Err(chain_error("transaction", e)))?;
    match custos_policy::evaluate_payload(
        &plan.policy,
        &plan.intent,
        &plan.effects,
        &plan.usage,
        human_approvals,
        judged,
    ) {
        Decision::Allow(a) => Ok(*a),
        Decision::Deny { reasons } => Err(Err(denied(&reasons))),
        Decision::RequireApproval { quorum, .. } => Err(Ok(quorum)),
    }
}

/// Ends an agent's action once it is planned: the dry run's explanation, a denial, parking for
/// approval (with `parked`, the request as it will be re-read at approval), or execution.
pub async fn conclude(
    state: &AppState,
    actor: &Actor<'_>,
    plan: Plan,
    dry_run: bool,
    broadcast: bool,
    parked: serde_json::Value,
) -> Result<Response, ApiError> {
    if dry_run {
        let e = custos_policy::explain(&plan.policy, &plan.intent, &plan.effects, &plan.usage);
        return Ok(
            Json(json!({"dry_run": true, "explanation": e, "simulated": plan.simulated}))
                .into_response(),
        );
    }
    let adapter = state
        .chains
        .adapter(plan.intent.chain)
        .cloned()
        .ok_or_else(|| ApiError::invalid("chain", "not enabled"))?;
    match decide(&plan, adapter.as_ref(), 0) {
        Ok(approved) => execute(state, actor, plan, approved, &adapter, broadcast).await,
        Err(Ok(quorum)) => {
            // It will wait: on a durable nonce where the chain has them.
            let plan = durable::prepare(state, actor, plan).await;
            park(state, &plan, quorum, parked).await
        }
        Err(Err(e)) => Err(e),
    }
}

/// The agent's address on the adapter's chain.
pub fn agent_address(agent: &Agent, adapter: &Arc<dyn ChainAdapter>) -> Result<String, ApiError> {
    let family = adapter.address_family();
    agent
        .addresses
        .get(family)
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::internal(format!("agent has no {family} address")))
}

/// Parses a decimal amount field: positive, at most 18 decimals (the asset's own precision is
/// checked when the transaction is built).
pub fn amount(field: &str, raw: &str) -> Result<Decimal, ApiError> {
    let d: Decimal = raw
        .parse()
        .map_err(|e: custos_core::DecimalError| ApiError::invalid(field, format!("amount {e}")))?;
    if d == Decimal::ZERO {
        return Err(ApiError::invalid(field, "must be greater than zero"));
    }
    Ok(d)
}

/// Executes a parked action whose approvals reached quorum: the exact transaction that was
/// approved (its hash is checked), simulated again and judged again under the agent's current
/// policy and usage, with the human approvals counted.
pub async fn execute_approved(
    state: &AppState,
    actor: &Actor<'_>,
    rec: custos_core::ApprovalRecord,
) -> Result<Response, ApiError> {
    use base64::Engine;
    let tx_bytes = rec
        .request
        .get("tx")
        .and_then(|v| v.as_str())
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .ok_or_else(|| ApiError::internal("parked approval has no transaction"))?;
    if hex::encode(custos_core::sha256(&tx_bytes)) != rec.tx_hash {
        return Err(ApiError::internal(
            "parked transaction does not match its approved hash",
        ));
    }
    let agent = state
        .store
        .agent(rec.agent)
        .await?
        .ok_or_else(|| ApiError::not_found("agent not found"))?;
    let policy = state.policy_of(&agent)?;
    let (intent, broadcast) = match rec.action.as_str() {
        "transfer" => {
            let body: transfer::TransferBody = serde_json::from_value(json!({
                "chain": rec.request.get("chain"), "to": rec.request.get("to"), "asset": rec.request.get("asset"), "amount": rec.request.get("amount")
            }))
            .map_err(|e| ApiError::internal(format!("parked request unreadable: {e}")))?;
            let v = transfer::validate(&body)?;
            (
                Intent {
                    action: custos_core::Action::Transfer,
                    chain: v.chain,
                    recipient: Some(v.to.clone()),
                    asset: Some(v.asset_id.clone()),
                    amount: v.amount,
                    declared_usd: price(state, &v.asset_id).await.times(v.amount),
                },
                true,
            )
        }
        "sign" => {
            let mut req = rec.request.clone();
            let evm = req
                .get("chain")
                .and_then(|c| c.as_str())
                .is_some_and(|c| c.starts_with("evm:"));
            let encoded = if evm {
                format!("0x{}", hex::encode(&tx_bytes))
            } else {
                base64::engine::general_purpose::STANDARD.encode(&tx_bytes)
            };
            if let Some(o) = req.as_object_mut() {
                o.remove("tx");
                o.remove("effects");
                o.insert("transaction".into(), json!(encoded));
            }
            let body: sign::SignTxBody = serde_json::from_value(req)
                .map_err(|e| ApiError::internal(format!("parked request unreadable: {e}")))?;
            (sign::intent(state, &body, &tx_bytes).await?, body.broadcast)
        }
        "trade" => {
            let body: trade::TradeBody = serde_json::from_value(json!({
                "chain": rec.request.get("chain"), "from_asset": rec.request.get("from_asset"), "to_asset": rec.request.get("to_asset"), "amount": rec.request.get("amount"), "slippage_bps": rec.request.get("slippage_bps")
            }))
            .map_err(|e| ApiError::internal(format!("parked request unreadable: {e}")))?;
            let (chain, amount, _) = trade::validate(&body)?;
            let from_id = trade::sold_asset(state, chain, &body)?;
            (
                Intent {
                    action: custos_core::Action::Trade,
                    chain,
                    recipient: None,
                    asset: Some(from_id.clone()),
                    amount,
                    declared_usd: price(state, &from_id).await.times(amount),
                },
                true,
            )
        }
        other => {
            return Err(ApiError::internal(format!(
                "parked action `{other}` cannot be executed"
            )))
        }
    };
    let adapter = state
        .chains
        .adapter(intent.chain)
        .cloned()
        .ok_or_else(|| ApiError::invalid("chain", "not enabled"))?;
    let from = agent_address(&agent, &adapter)?;
    let message = match intent.chain {
        custos_core::Chain::Solana => {
            custos_chains::solana_wire::split_transaction(&tx_bytes)
                .map_err(|e| ApiError::internal(format!("parked transaction: {e}")))?
                .message
        }
        _ => tx_bytes.clone(),
    };
    let tx = UnsignedTx {
        chain: intent.chain,
        tx_bytes,
        message,
        signer: from.clone(),
        amount_base_units: 0,
        decimals: 0,
        last_valid_block_height: None,
    };
    let (simulated, effects) = simulate(state, &adapter, &tx, &from).await?;
    let usage = usage(state, &agent).await?;
    let approvals = u32::try_from(rec.approvers.len()).unwrap_or(u32::MAX);
    let plan = Plan {
        agent,
        policy,
        intent,
        tx,
        simulated,
        effects,
        usage,
        extra: None,
        bucket: None,
    };
    match decide(&plan, adapter.as_ref(), approvals) {
        Ok(approved) => execute(state, actor, plan, approved, &adapter, broadcast).await,
        Err(Ok(quorum)) => Err(ApiError::policy_denied(vec![(
            "approvals.above_usd".into(),
            format!("still needs {quorum} approvals under the current policy"),
        )])),
        Err(Err(e)) => Err(e),
    }
}
