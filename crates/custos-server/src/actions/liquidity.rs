//! `liquidity` on Solana: Meteora DLMM — add liquidity to a position the wallet has, remove a
//! share of it, or claim its swap fees, on a pool given by address
//! ([`custos_chains::solana::meteora`] builds the instructions from Meteora's IDL).
//!
//! Custos reads the pool from the chain (its `LbPair` account, owned by the DLMM program), and
//! before anything is built checks the policy's `liquidity` rules: the pool on
//! `liquidity.pools`, a deposit's value (both tokens at the oracle's prices) at most
//! `liquidity.max_usd_per_tx`, the `actions.liquidity` toggle and the wallet's caps; a deposit
//! also counts against `liquidity.daily_usd`, in the same reservation as the wallet's budget.
//! Where the DLMM program is deployed the transaction is then simulated and judged by its
//! effects like any other; where it is not (the embedded devnet cannot run it: its binary ships
//! on no package registry), a dry run explains the decision from the decoded instruction and a
//! real request is refused, naming `pool`, since nothing could execute it.
use super::{agent_address, chain_error, conclude, precheck, price, usage, Actor, Plan};
use crate::error::ApiError;
use crate::state::AppState;
use axum::response::{IntoResponse, Response};
use axum::Json;
use custos_core::{Action, Agent, AssetId, Chain, Decimal, Intent, UsdValue};
use serde::Deserialize;
use serde_json::json;

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LiquidityBody {
    /// `solana`.
    #[schema(example = "solana")]
    pub chain: String,
    /// The pool: a Meteora DLMM `LbPair` address.
    pub pool: String,
    /// `add`, `remove` or `claim`.
    #[schema(example = "add")]
    pub operation: String,
    /// The wallet's position in the pool (a `PositionV2` account it owns).
    pub position: String,
    /// The lowest bin of the range.
    pub min_bin_id: i32,
    /// The highest bin of the range (at most 69 above `min_bin_id`).
    pub max_bin_id: i32,
    /// `add`: the most of token X deposited, whole units.
    #[serde(default)]
    pub amount_x: Option<String>,
    /// `add`: the most of token Y deposited, whole units.
    #[serde(default)]
    pub amount_y: Option<String>,
    /// `add`: `spot` (default), `curve` or `bid_ask`.
    #[serde(default)]
    pub strategy: Option<String>,
    /// `add`: how many bins the active bin may move before the deposit is refused (default 3).
    #[serde(default)]
    pub max_active_bin_slippage: Option<u32>,
    /// `remove`: basis points of the range's liquidity removed (1–10000).
    #[serde(default)]
    pub bps: Option<u16>,
}

/// What the body asks for, checked.
#[derive(Debug)]
pub enum Operation {
    /// A deposit of at most these whole amounts.
    Add {
        /// Token X.
        x: Decimal,
        /// Token Y.
        y: Decimal,
        /// The spread.
        strategy: custos_chains::solana::meteora::Strategy,
        /// Bins the active bin may move.
        slippage: u32,
    },
    /// A share of the range's liquidity back to the wallet.
    Remove {
        /// Basis points.
        bps: u16,
    },
    /// The range's swap fees to the wallet.
    Claim,
}

fn address(field: &str, raw: &str) -> Result<(), ApiError> {
    if bs58::decode(raw).into_vec().map(|v| v.len()) == Ok(32) {
        Ok(())
    } else {
        Err(ApiError::invalid(field, "not a base58 Solana address"))
    }
}

/// Validates the body (before any side effect).
pub fn validate(body: &LiquidityBody) -> Result<Operation, ApiError> {
    use custos_chains::solana::meteora::{Strategy, MAX_POSITION_WIDTH};
    if body.chain != "solana" {
        return Err(ApiError::invalid(
            "chain",
            "liquidity is offered on `solana` (Meteora DLMM)",
        ));
    }
    address("pool", &body.pool)?;
    address("position", &body.position)?;
    if body.max_bin_id < body.min_bin_id
        || i64::from(body.max_bin_id) - i64::from(body.min_bin_id) >= i64::from(MAX_POSITION_WIDTH)
    {
        return Err(ApiError::invalid(
            "max_bin_id",
            format!(
                "must be min_bin_id to min_bin_id + {}",
                MAX_POSITION_WIDTH - 1
            ),
        ));
    }
    let only = |fields: &[(&str, bool)], op: &str| -> Result<(), ApiError> {
        match fields.iter().find(|(_, set)| *set) {
            Some((f, _)) => Err(ApiError::invalid(*f, format!("not used by `{op}`"))),
            None => Ok(()),
        }
    };
    let add_only = [
        ("amount_x", body.amount_x.is_some()),
        ("amount_y", body.amount_y.is_some()),
        ("strategy", body.strategy.is_some()),
        (
            "max_active_bin_slippage",
            body.max_active_bin_slippage.is_some(),
        ),
    ];
    match body.operation.as_str() {
        "add" => {
            only(&[("bps", body.bps.is_some())], "add")?;
            let amount = |f: &str, v: &Option<String>| match v {
                Some(a) => super::amount(f, a).or_else(|e| {
                    // Zero is a valid side of a one-sided deposit.
                    if a.trim() == "0" {
                        Ok(Decimal::ZERO)
                    } else {
                        Err(e)
                    }
                }),
                None => Ok(Decimal::ZERO),
            };
            let (x, y) = (
                amount("amount_x", &body.amount_x)?,
                amount("amount_y", &body.amount_y)?,
            );
            if x == Decimal::ZERO && y == Decimal::ZERO {
                return Err(ApiError::invalid(
                    "amount_x",
                    "deposit something: amount_x, amount_y or both",
                ));
            }
            let strategy = match body.strategy.as_deref().unwrap_or("spot") {
                "spot" => Strategy::Spot,
                "curve" => Strategy::Curve,
                "bid_ask" => Strategy::BidAsk,
                _ => return Err(ApiError::invalid("strategy", "spot, curve or bid_ask")),
            };
            let slippage = body.max_active_bin_slippage.unwrap_or(3);
            if slippage > 1_000 {
                return Err(ApiError::invalid(
                    "max_active_bin_slippage",
                    "at most 1000 bins",
                ));
            }
            Ok(Operation::Add {
                x,
                y,
                strategy,
                slippage,
            })
        }
        "remove" => {
            only(&add_only, "remove")?;
            match body.bps {
                Some(b) if (1..=10_000).contains(&b) => Ok(Operation::Remove { bps: b }),
                _ => Err(ApiError::invalid("bps", "1 to 10000 basis points")),
            }
        }
        "claim" => {
            only(&add_only, "claim")?;
            only(&[("bps", body.bps.is_some())], "claim")?;
            Ok(Operation::Claim)
        }
        _ => Err(ApiError::invalid("operation", "add, remove or claim")),
    }
}

/// A policy refusal naming one rule.
fn deny(rule: &str, message: String) -> ApiError {
    ApiError::policy_denied(vec![(rule.into(), message)])
}

/// Runs a `liquidity` request: dry run, denial, or execution where the program is deployed.
#[cfg(feature = "solana")]
pub async fn run(
    state: &AppState,
    actor: &Actor<'_>,
    agent: Agent,
    body: LiquidityBody,
    dry_run: bool,
) -> Result<Response, ApiError> {
    use custos_chains::solana::dlmm::DlmmOp;
    use custos_chains::solana::meteora;
    let op = validate(&body)?;
    let Some((adapter, chain)) = state.chains.solana_pair() else {
        return Err(ApiError::invalid(
            "chain",
            "`solana` is not enabled on this server",
        ));
    };
    let policy = state.policy_of(&agent)?;
    // The pool allowlist first: an unlisted pool is not even read.
    if !policy.liquidity.pools.iter().any(|p| p == &body.pool) {
        return Err(deny(
            "liquidity.pools",
            format!(
                "{} is not a pool this wallet may provide liquidity to (liquidity.pools)",
                body.pool
            ),
        ));
    }
    let view = adapter
        .dlmm_pool(&body.pool)
        .await
        .map_err(|e| chain_error("pool", e))?;
    let x_id = AssetId::new(view.pool.token_x_mint.to_string());
    let y_id = AssetId::new(view.pool.token_y_mint.to_string());
    let from = agent_address(&agent, &chain)?;
    // What the instruction does to the wallet, by its decoded meaning (where the program cannot
    // be simulated): a deposit's two outflows to the pool; nothing out for the rest.
    let (dlmm_op, intent, bucket, decoded_effects) = match op {
        Operation::Add {
            x,
            y,
            strategy,
            slippage,
        } => {
            let atoms = |d: Decimal, decimals: u8, f: &str| {
                custos_core::to_base_units(d, decimals)
                    .ok()
                    .and_then(|a| u64::try_from(a).ok())
                    .ok_or_else(|| {
                        ApiError::invalid(
                            f,
                            format!("at most {decimals} decimals, within a u64 of base units"),
                        )
                    })
            };
            let amount_x = atoms(x, view.x_decimals, "amount_x")?;
            let amount_y = atoms(y, view.y_decimals, "amount_y")?;
            let usd = value(state, &x_id, x)
                .await?
                .saturating_add(value(state, &y_id, y).await?);
            let max = policy.liquidity.max_usd_per_tx;
            if usd > max {
                return Err(deny(
                    "liquidity.max_usd_per_tx",
                    format!("{usd} USD is more than the {max} USD one deposit may be worth"),
                ));
            }
            // Two tokens leave at once: nothing single is declared, and the policy judges every
            // outflow (and the declared value, the larger of the two).
            let intent = Intent {
                action: Action::Liquidity,
                chain: Chain::Solana,
                recipient: Some(body.pool.clone()),
                asset: None,
                amount: Decimal::ZERO,
                declared_usd: UsdValue::Known(usd),
            };
            let mut decoded = custos_core::Effects {
                changes: vec![
                    custos_core::AssetDelta {
                        asset: x_id.clone(),
                        decimals: view.x_decimals,
                        delta_atoms: -i128::from(amount_x),
                    },
                    custos_core::AssetDelta {
                        asset: y_id.clone(),
                        decimals: view.y_decimals,
                        delta_atoms: -i128::from(amount_y),
                    },
                ],
                programs: vec![meteora::PROGRAM.to_string()],
                recipients: vec![body.pool.clone()],
                native: Some(AssetId::new("SOL")),
                ..custos_core::Effects::default()
            };
            decoded.changes.retain(|c| c.delta_atoms != 0);
            for id in [&x_id, &y_id] {
                decoded.prices.insert(id.clone(), price(state, id).await);
            }
            let bucket = policy
                .liquidity
                .daily_usd
                .map(|daily_cap| custos_core::Bucket {
                    key: "liquidity".into(),
                    daily_cap,
                });
            let op = DlmmOp::Add {
                amount_x,
                amount_y,
                strategy,
                max_active_bin_slippage: i32::try_from(slippage).unwrap_or(i32::MAX),
            };
            (op, intent, bucket, decoded)
        }
        Operation::Remove { bps } => (
            DlmmOp::Remove { bps },
            nothing_out(&body.pool),
            None,
            into_wallet(&body.pool),
        ),
        Operation::Claim => (
            DlmmOp::Claim,
            nothing_out(&body.pool),
            None,
            into_wallet(&body.pool),
        ),
    };
    let use_ = usage(state, &agent).await?;
    precheck(&policy, &intent, &use_)?;
    let ix = adapter
        .dlmm_instruction(
            &view,
            &from,
            &body.position,
            body.min_bin_id,
            body.max_bin_id,
            &dlmm_op,
        )
        .map_err(|e| chain_error("position", e))?;
    let decoded = json!({
        "program": meteora::PROGRAM.to_string(),
        "instruction": match meteora::Kind::of(&ix.data) {
            Some(meteora::Kind::Add) => "add_liquidity_by_strategy2",
            Some(meteora::Kind::Remove) => "remove_liquidity_by_range2",
            _ => "claim_fee2",
        },
        "pool": body.pool,
        "position": body.position,
        "active_id": view.pool.active_id,
        "bin_arrays": view.pool.bin_arrays(body.min_bin_id, body.max_bin_id).iter().map(ToString::to_string).collect::<Vec<_>>(),
        "data": hex::encode(&ix.data),
    });
    if !view.program_deployed {
        if dry_run {
            let e = custos_policy::explain(&policy, &intent, &decoded_effects, &use_);
            return Ok(Json(
                json!({"dry_run": true, "explanation": e, "decoded": decoded, "simulated": null}),
            )
            .into_response());
        }
        return Err(ApiError::invalid(
            "pool",
            "the Meteora DLMM program is not deployed on this cluster (the embedded devnet cannot run it): nothing was signed; use the JSON-RPC back end against a cluster that has it",
        ));
    }
    // Deployed: built, simulated and judged by its effects like any transaction.
    let tx = adapter
        .dlmm_transaction(&view, &from, ix)
        .await
        .map_err(|e| chain_error("pool", e))?;
    let (simulated, effects) = super::simulate(state, &chain, &tx, &from).await?;
    let plan = Plan {
        agent,
        policy,
        intent,
        tx,
        simulated,
        effects,
        usage: use_,
        extra: Some(json!({"decoded": decoded})),
        bucket,
    };
    let parked = json!({"chain": body.chain, "pool": body.pool, "operation": body.operation, "position": body.position});
    conclude(state, actor, plan, dry_run, true, parked).await
}

/// `d` whole units of `id` in USD (zero costs nothing; an unpriced token is refused).
async fn value(state: &AppState, id: &AssetId, d: Decimal) -> Result<Decimal, ApiError> {
    if d == Decimal::ZERO {
        return Ok(Decimal::ZERO);
    }
    price(state, id).await.times(d).known().ok_or_else(|| {
        deny(
            "price.unavailable",
            format!("no price for {id}: a deposit cannot be valued"),
        )
    })
}

/// A removal or a claim moves nothing out of the wallet: nothing is declared, and its effects
/// are judged.
fn nothing_out(pool: &str) -> Intent {
    Intent {
        action: Action::Liquidity,
        chain: Chain::Solana,
        recipient: Some(pool.to_owned()),
        asset: None,
        amount: Decimal::ZERO,
        declared_usd: UsdValue::Known(Decimal::ZERO),
    }
}

/// A removal's or a claim's decoded effects: tokens come back; only the program runs.
#[cfg(feature = "solana")]
fn into_wallet(_pool: &str) -> custos_core::Effects {
    custos_core::Effects {
        programs: vec![custos_chains::solana::meteora::PROGRAM.to_string()],
        native: Some(AssetId::new("SOL")),
        ..custos_core::Effects::default()
    }
}

/// Without the `solana` feature there is no liquidity to provide.
#[cfg(not(feature = "solana"))]
pub async fn run(
    _: &AppState,
    _: &Actor<'_>,
    _: Agent,
    body: LiquidityBody,
    _: bool,
) -> Result<Response, ApiError> {
    validate(&body)?;
    Err(ApiError::invalid(
        "chain",
        "this build has no Solana support",
    ))
}
