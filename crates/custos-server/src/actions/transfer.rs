//! `transfer`: `{"chain","to","asset","amount"}` — SOL or an SPL / Token-2022 mint on Solana.
use super::{amount, chain_error, conclude, price, simulate, usage, Actor, Plan};
use crate::error::ApiError;
use crate::state::AppState;
use axum::response::Response;
use custos_core::{Action, Agent, AssetId, AssetRef, Chain, Intent, TransferIntent};
use serde::Deserialize;
use serde_json::json;

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// `solana`.
    pub chain: String,
    /// Recipient address.
    pub to: String,
    /// `SOL` or a token mint address.
    pub asset: String,
    /// Decimal string in whole units, e.g. `"1.25"`.
    pub amount: String,
}

fn solana_address(field: &str, s: &str) -> Result<(), ApiError> {
    match bs58::decode(s).into_vec() {
        Ok(b) if b.len() == 32 && s.len() <= 44 => Ok(()),
        _ => Err(ApiError::invalid(
            field,
            "not a Solana address (base58 of 32 bytes)",
        )),
    }
}

/// Validates the body (before any side effect).
pub fn validate(body: &TransferBody) -> Result<(Chain, AssetRef, custos_core::Decimal), ApiError> {
    let chain: Chain = body
        .chain
        .parse()
        .map_err(|e: custos_core::ChainParseError| ApiError::invalid("chain", e.to_string()))?;
    if chain != Chain::Solana {
        return Err(ApiError::invalid(
            "chain",
            format!("`{chain}` transfers are not available on this server yet"),
        ));
    }
    solana_address("to", &body.to)?;
    let asset = if body.asset == "SOL" {
        AssetRef::Native
    } else {
        solana_address("asset", &body.asset)?;
        AssetRef::Token(body.asset.clone())
    };
    Ok((chain, asset, amount("amount", &body.amount)?))
}

/// Builds, simulates and values the transfer: everything up to the decision.
pub async fn plan(state: &AppState, agent: Agent, body: &TransferBody) -> Result<Plan, ApiError> {
    let (chain, asset, amount) = validate(body)?;
    let adapter = state.chains.adapter(chain).ok_or_else(|| {
        ApiError::invalid("chain", format!("`{chain}` is not enabled on this server"))
    })?;
    let policy = state.policy_of(&agent)?;
    let asset_id = AssetId::new(body.asset.clone());
    let intent = Intent {
        action: Action::Transfer,
        chain,
        recipient: Some(body.to.clone()),
        asset: Some(asset_id.clone()),
        amount,
        declared_usd: price(state, &asset_id).await.times(amount),
    };
    let usage = usage(state, &agent).await?;
    // Cheap checks first: a disabled action, chain or denied recipient never touches the chain.
    if usage.frozen {
        return Err(ApiError::policy_denied(vec![(
            "frozen".into(),
            "this agent is frozen by an operator".into(),
        )]));
    }
    if let Err(reasons) = custos_policy::precheck(&policy, &intent) {
        return Err(super::denied(&reasons));
    }
    let from = agent
        .addresses
        .get("solana")
        .and_then(|v| v.as_str())
        .ok_or_else(|| ApiError::internal("agent has no solana address"))?
        .to_owned();
    let tx = adapter
        .build_transfer(&TransferIntent {
            from: from.clone(),
            to: body.to.clone(),
            asset,
            amount,
        })
        .await
        .map_err(|e| chain_error("amount", e))?;
    let (simulated, effects) = simulate(state, adapter, &tx, &from).await?;
    Ok(Plan {
        agent,
        policy,
        intent,
        tx,
        simulated,
        effects,
        usage,
    })
}

/// Runs a transfer for the agent: dry run, denial, parking for approval, or execution.
pub async fn run(
    state: &AppState,
    actor: &Actor<'_>,
    agent: Agent,
    body: TransferBody,
    dry_run: bool,
) -> Result<Response, ApiError> {
    let plan = plan(state, agent, &body).await?;
    let parked =
        json!({"chain": body.chain, "to": body.to, "asset": body.asset, "amount": body.amount});
    conclude(state, actor, plan, dry_run, true, parked).await
}
