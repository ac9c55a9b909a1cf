//! `trade` on an EVM chain through the configured Uniswap V2 router: quoted with the router's
//! `getAmountsOut` and sent with a minimum output `slippage_bps` below the quote. Selling a token
//! needs the router's allowance first (an `approve` through `sign`, with the router on
//! `spenders.allow`).
use super::TradeBody;
use crate::actions::Plan;
use crate::error::ApiError;
use crate::state::AppState;
use custos_core::{Agent, Decimal};

/// Quotes, builds, simulates and values the swap on `evm:<id>`.
#[cfg(feature = "evm")]
pub(super) async fn plan(
    state: &AppState,
    agent: Agent,
    body: &TradeBody,
    id: u64,
    amount: Decimal,
    slippage: u32,
) -> Result<Plan, ApiError> {
    use crate::actions::{agent_address, chain_error, price, simulate, usage};
    use custos_chains::evm::wire::{checksum, parse_address, U256};
    use custos_chains::evm::{uniswap, NATIVE_DECIMALS};
    use custos_core::{Action, AssetId, Chain, Intent};
    use serde_json::json;
    let adapter = state.chains.evm_adapters.get(&id).cloned().ok_or_else(|| {
        ApiError::invalid("chain", format!("`evm:{id}` is not enabled on this server"))
    })?;
    let dyn_adapter = state
        .chains
        .adapter(Chain::Evm(id))
        .cloned()
        .ok_or_else(|| ApiError::invalid("chain", "not enabled"))?;
    let router = state
        .cfg
        .evm
        .chain(id)
        .and_then(|c| c.uniswap_v2_router.clone())
        .ok_or_else(|| {
            ApiError::invalid("chain", format!("no router is configured for `evm:{id}`"))
        })?;
    let router =
        parse_address(&router, "uniswap_v2_router").map_err(|e| chain_error("chain", e))?;
    let native = adapter.config().native_symbol.clone();
    let is_native = |a: &str| a == native;
    for (field, a) in [
        ("from_asset", &body.from_asset),
        ("to_asset", &body.to_asset),
    ] {
        if !a.starts_with("0x") && !is_native(a) {
            return Err(ApiError::invalid(
                field,
                format!("`{a}` is neither {native} nor a token address"),
            ));
        }
    }
    let weth = {
        let ret = adapter
            .rpc()
            .eth_call(None, router, &uniswap::weth_call())
            .await
            .map_err(|e| chain_error("chain", e))?;
        if ret.len() < 32 {
            return Err(ApiError::unavailable("the router has no WETH()"));
        }
        custos_chains::evm::wire::parse_address(&format!("0x{}", hex::encode(&ret[12..32])), "WETH")
            .map_err(|e| chain_error("chain", e))?
    };
    let token_of = |a: &str, field: &str| -> Result<_, ApiError> {
        if is_native(a) {
            Ok(weth)
        } else {
            parse_address(a, field).map_err(|e| chain_error(field, e))
        }
    };
    let path = vec![
        token_of(&body.from_asset, "from_asset")?,
        token_of(&body.to_asset, "to_asset")?,
    ];
    let (eth_in, eth_out) = (is_native(&body.from_asset), is_native(&body.to_asset));
    let in_decimals = if eth_in {
        NATIVE_DECIMALS
    } else {
        adapter
            .token_decimals(path[0])
            .await
            .map_err(|e| chain_error("from_asset", e))?
    };
    let out_decimals = if eth_out {
        NATIVE_DECIMALS
    } else {
        adapter
            .token_decimals(path[1])
            .await
            .map_err(|e| chain_error("to_asset", e))?
    };
    let amount_in =
        custos_core::to_base_units(amount, in_decimals).map_err(|e| chain_error("amount", e))?;
    let quote_ret = adapter
        .rpc()
        .eth_call(
            None,
            router,
            &uniswap::amounts_out_call(U256::from(amount_in), &path),
        )
        .await
        .map_err(|e| match e {
            custos_core::ChainError::Rejected(m) => ApiError::invalid(
                "to_asset",
                format!("the router cannot quote this pair: {m}"),
            ),
            other => chain_error("chain", other),
        })?;
    let quote = uniswap::decode_amount_out(&quote_ret)
        .ok_or_else(|| ApiError::unavailable("the router returned a malformed quote"))?;
    if quote.is_zero() {
        return Err(ApiError::invalid(
            "amount",
            "the quote is zero: too small for this pool",
        ));
    }
    let min_out = uniswap::min_out(quote, slippage);
    let from_id = if eth_in {
        AssetId::new(native.clone())
    } else {
        AssetId::new(checksum(&path[0]))
    };
    let policy = state.policy_of(&agent)?;
    let intent = Intent {
        action: Action::Trade,
        chain: Chain::Evm(id),
        recipient: None,
        asset: Some(from_id.clone()),
        amount,
        declared_usd: price(state, &from_id).await.times(amount),
    };
    let usage = usage(state, &agent).await?;
    crate::actions::precheck(&policy, &intent, &usage)?;
    let from = agent_address(&agent, &dyn_adapter)?;
    let from_addr = parse_address(&from, "from").map_err(|e| chain_error("from", e))?;
    let deadline = U256::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            + 1200,
    );
    let swap = uniswap::swap_exact_in(
        U256::from(amount_in),
        min_out,
        &path,
        from_addr,
        deadline,
        eth_in,
        eth_out,
    );
    let built = adapter
        .build_call(from_addr, router, swap.value, swap.data)
        .await
        .map_err(|e| chain_error("amount", e))?;
    let tx = adapter.unsigned(&built, from_addr, amount_in, in_decimals);
    let (simulated, effects) = simulate(state, &dyn_adapter, &tx, &from).await?;
    let whole = |v: custos_chains::evm::wire::U256| {
        custos_core::Atoms::from_u256(v)
            .to_whole(out_decimals)
            .ok()
            .map(|d| d.to_string())
    };
    Ok(Plan {
        agent,
        policy,
        intent,
        tx,
        simulated,
        effects,
        usage,
        extra: Some(json!({
            "router": checksum(&router),
            "quote_out": whole(quote),
            "min_out": whole(min_out),
            "slippage_bps": slippage,
        })),
        bucket: None,
    })
}

/// Without the `evm` feature there is nothing to trade on.
#[cfg(not(feature = "evm"))]
pub(super) async fn plan(
    _: &AppState,
    _: Agent,
    _: &TradeBody,
    _: u64,
    _: Decimal,
    _: u32,
) -> Result<Plan, ApiError> {
    Err(ApiError::invalid("chain", "this build has no EVM support"))
}
