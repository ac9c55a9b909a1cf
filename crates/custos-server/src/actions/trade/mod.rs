//! `trade`: an exact-input swap of `amount` of `from_asset` for `to_asset`, at most
//! `slippage_bps` below the quote (and never more than the policy's
//! `trading.max_slippage_bps`) — on an EVM chain through the configured Uniswap V2 router
//! ([`evm`]), on Solana through a Jupiter Swap API ([`jupiter`]). Either way the swap transaction
//! is simulated and judged like any other — its USD value (the larger of the input's value and
//! the simulated outflow), its effects, the programs it runs — and on Solana, where a third party
//! builds it, also against the quote: nothing but the input leaves the wallet, and at least the
//! minimum output arrives.
mod evm;
mod jupiter;

use super::{conclude, Actor, Plan};
use crate::error::ApiError;
use crate::state::AppState;
use axum::response::Response;
use custos_core::{Agent, AssetId, Chain, Decimal};
use serde::Deserialize;
use serde_json::json;

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TradeBody {
    /// `solana` (through the configured Jupiter Swap API) or `evm:<chain id>` (with a configured
    /// `uniswap_v2_router`).
    #[schema(example = "solana")]
    pub chain: String,
    /// What is sold: the native symbol (`SOL`, `ETH`), a token symbol from `[solana.tokens]`
    /// (Solana), a mint (Solana) or an ERC-20 address (EVM).
    #[schema(example = "SOL")]
    pub from_asset: String,
    /// What is bought, named the same way.
    #[schema(example = "USDC")]
    pub to_asset: String,
    /// How much is sold, whole units.
    #[schema(example = "0.01")]
    pub amount: String,
    /// Largest acceptable shortfall below the quote, basis points (default 50 = 0.5 %; at most
    /// the policy's `trading.max_slippage_bps`).
    #[serde(default, deserialize_with = "crate::extract::optional_whole_number")]
    #[schema(example = 50)]
    pub slippage_bps: Option<u32>,
}

/// Validates the body (before any side effect): the chain, the amount, the slippage.
pub fn validate(body: &TradeBody) -> Result<(Chain, Decimal, u32), ApiError> {
    let chain: Chain = body
        .chain
        .parse()
        .map_err(|e: custos_core::ChainParseError| ApiError::invalid("chain", e.to_string()))?;
    for (field, a) in [
        ("from_asset", &body.from_asset),
        ("to_asset", &body.to_asset),
    ] {
        let symbol = !a.is_empty() && a.len() <= 12 && a.bytes().all(|b| b.is_ascii_alphanumeric());
        match chain {
            Chain::Evm(_) if a.starts_with("0x") => {
                super::transfer::evm_address(field, a)?;
            }
            Chain::Solana if !symbol => {
                if bs58::decode(a).into_vec().map(|v| v.len()) != Ok(32) {
                    return Err(ApiError::invalid(
                        field,
                        "SOL, a token symbol, or a base58 mint address",
                    ));
                }
            }
            Chain::Evm(_) | Chain::Solana if symbol => {}
            Chain::Evm(_) => {
                return Err(ApiError::invalid(
                    field,
                    "the native coin's symbol or an ERC-20 contract address",
                ))
            }
            _ => {
                return Err(ApiError::invalid(
                    "chain",
                    "trades are available on `solana` and on EVM chains (`evm:<chain id>`)",
                ))
            }
        }
    }
    if body.from_asset.eq_ignore_ascii_case(&body.to_asset) {
        return Err(ApiError::invalid("to_asset", "must differ from from_asset"));
    }
    let slippage = body.slippage_bps.unwrap_or(50);
    if slippage > 5_000 {
        return Err(ApiError::invalid(
            "slippage_bps",
            "must be between 0 and 5000 (50 %)",
        ));
    }
    Ok((chain, super::amount("amount", &body.amount)?, slippage))
}

/// The asset sold, as the pipeline names it (prices, caps): the native symbol, an EVM token by
/// its EIP-55 address, a Solana token by its mint (a symbol resolved through `[solana.tokens]`).
pub fn sold_asset(state: &AppState, chain: Chain, body: &TradeBody) -> Result<AssetId, ApiError> {
    match chain {
        Chain::Evm(_) if body.from_asset.starts_with("0x") => Ok(AssetId::new(
            super::transfer::evm_address("from_asset", &body.from_asset)?,
        )),
        Chain::Solana => jupiter::asset_id(state, "from_asset", &body.from_asset),
        _ => Ok(AssetId::new(body.from_asset.clone())),
    }
}

/// The policy's slippage bound.
fn check_slippage(policy: &custos_policy::PolicyDocument, slippage: u32) -> Result<(), ApiError> {
    let max = policy.trading.max_slippage_bps;
    if slippage > max {
        return Err(ApiError::policy_denied(vec![(
            "trading.max_slippage_bps".into(),
            format!(
                "a slippage of {slippage} bps is more than the {max} bps this wallet may accept"
            ),
        )]));
    }
    Ok(())
}

/// Quotes, builds, simulates and values the swap: everything up to the decision.
pub async fn plan(state: &AppState, agent: Agent, body: &TradeBody) -> Result<Plan, ApiError> {
    let (chain, amount, slippage) = validate(body)?;
    let policy = state.policy_of(&agent)?;
    check_slippage(&policy, slippage)?;
    match chain {
        Chain::Solana => jupiter::plan(state, agent, body, amount, slippage).await,
        Chain::Evm(id) => evm::plan(state, agent, body, id, amount, slippage).await,
        _ => Err(ApiError::invalid("chain", "not a chain trades run on")),
    }
}

/// Runs a trade: dry run, denial, parking for approval, or execution.
pub async fn run(
    state: &AppState,
    actor: &Actor<'_>,
    agent: Agent,
    body: TradeBody,
    dry_run: bool,
) -> Result<Response, ApiError> {
    let plan = plan(state, agent, &body).await?;
    // A Solana swap is a quote the service built for about a minute (its blockhash, often a
    // market maker's signature): it cannot wait for a human, so one that would need approval is
    // refused rather than parked to fail later.
    if plan.intent.chain == Chain::Solana && !dry_run {
        if let Some(adapter) = state.chains.adapter(Chain::Solana) {
            if let Err(Ok(_)) = super::decide(&plan, adapter.as_ref(), 0) {
                return Err(ApiError::policy_denied(vec![(
                    custos_policy::rules::APPROVALS_ABOVE_USD.into(),
                    "this swap needs a human approval, and a Solana swap's quote (its blockhash, a market maker's signature) does not last long enough to wait for one: trade less at a time".into(),
                )]));
            }
        }
    }
    let parked = json!({"chain": body.chain, "from_asset": body.from_asset, "to_asset": body.to_asset, "amount": body.amount, "slippage_bps": body.slippage_bps});
    conclude(state, actor, plan, dry_run, true, parked).await
}
