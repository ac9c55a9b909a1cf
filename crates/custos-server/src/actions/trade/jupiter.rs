//! `trade` on Solana through a Jupiter Swap API (`[solana] jupiter_url`, v1): Custos asks for
//! a quote (`GET /quote`, exact input), checks it is for what was asked — mints, amount, the
//! slippage bound — has the service build the swap (`POST /swap`, for the wallet's address), and
//! then trusts nothing it was told: the transaction is decoded (the wallet must be a signer, its
//! programs on the allowlist), simulated, and its effects on the wallet are held to the quote —
//! at most the amount sold leaves, at least the minimum output (the quote's output less
//! `slippage_bps`, computed here) arrives, nothing else leaves but the network fee and the rent
//! of token accounts it creates, no control over the wallet's accounts is granted — before the
//! policy judges it like any transaction. The swap transaction may carry another party's
//! signature (a market maker filling the quote, as RFQ fills do); the wallet's slot is the only
//! one Custos fills.
//!
//! Symbols resolve through `[solana.tokens]`; `SOL` is the native coin (Jupiter's wrapped-SOL
//! mint on the wire).
// Without the `solana` feature only the stubs that say so are used.
#![cfg_attr(not(feature = "solana"), allow(unused))]
use super::TradeBody;
use crate::actions::{agent_address, chain_error, precheck, price, simulate, usage, Plan};
use crate::error::ApiError;
use crate::state::AppState;
use custos_core::{Action, Agent, AssetId, AssetRef, Chain, Decimal, Intent, SimulatedEffects};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

/// Jupiter's name for native SOL: the wrapped-SOL mint.
pub const WRAPPED_SOL: &str = "So11111111111111111111111111111111111111112";
/// How long one request to the swap service may take.
const TIMEOUT: Duration = Duration::from_secs(15);
/// The largest answer read from it, bytes.
const MAX_ANSWER: usize = 64 * 1024;
/// The largest token account the swap may create for the wallet (Token-2022 with its
/// immutable-owner extension), bytes: its rent is the most one created account may cost.
const TOKEN_ACCOUNT_MAX_LEN: usize = 170;

/// The asset `raw` names (`field` for errors), as the pipeline names it: `SOL`, or a mint.
pub(super) fn asset_id(state: &AppState, field: &str, raw: &str) -> Result<AssetId, ApiError> {
    if raw.eq_ignore_ascii_case("SOL") || raw == WRAPPED_SOL {
        return Ok(AssetId::new("SOL"));
    }
    if bs58::decode(raw).into_vec().map(|v| v.len()) == Ok(32) {
        return Ok(AssetId::new(raw.to_owned()));
    }
    state
        .cfg
        .solana
        .mint_of(raw)
        .map(|m| AssetId::new(m.to_owned()))
        .ok_or_else(|| {
            let known: Vec<&str> = state.cfg.solana.tokens.keys().map(String::as_str).collect();
            ApiError::invalid(
                field,
                format!(
                    "`{raw}` is not a token this server knows (SOL, {}) nor a mint address",
                    known.join(", ")
                ),
            )
        })
}

/// The asset as the chain names it.
fn asset_ref(id: &AssetId) -> AssetRef {
    if id.as_str() == "SOL" {
        AssetRef::Native
    } else {
        AssetRef::Token(id.as_str().to_owned())
    }
}

/// The mint Jupiter names `id` by.
fn wire_mint(id: &AssetId) -> &str {
    if id.as_str() == "SOL" {
        WRAPPED_SOL
    } else {
        id.as_str()
    }
}

/// A quote, as read (amounts are decimal strings on the wire).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Quote {
    input_mint: String,
    in_amount: String,
    output_mint: String,
    out_amount: String,
    other_amount_threshold: String,
    #[serde(default)]
    swap_mode: Option<String>,
    #[serde(default)]
    price_impact_pct: Option<String>,
    #[serde(default)]
    route_plan: Vec<Value>,
}

/// The swap the service built.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Swap {
    swap_transaction: String,
    #[serde(default)]
    last_valid_block_height: Option<u64>,
}

fn upstream(message: String) -> ApiError {
    ApiError::upstream(format!("the swap service: {message}"))
}

/// A refusal of the swap transaction for what it would do.
fn refused(message: String) -> ApiError {
    ApiError::policy_denied(vec![("trade.effects".into(), message)])
}

/// Reads the service's JSON answer (its `error` on failure).
async fn answer<T: serde::de::DeserializeOwned>(
    sent: Result<reqwest::Response, reqwest::Error>,
    what: &str,
) -> Result<(T, Value), ApiError> {
    let r = sent.map_err(|e| upstream(format!("{what}: unreachable: {e}")))?;
    let status = r.status();
    let bytes = r
        .bytes()
        .await
        .map_err(|e| upstream(format!("{what}: {e}")))?;
    if bytes.len() > MAX_ANSWER {
        return Err(upstream(format!("{what}: answer over {MAX_ANSWER} bytes")));
    }
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|_| upstream(format!("{what}: answered HTTP {status} without JSON")))?;
    if !status.is_success() {
        let why = v["error"].as_str().unwrap_or("no reason given");
        return Err(if status.is_client_error() {
            ApiError::invalid(
                "to_asset",
                format!("the swap service cannot {what} this: {why}"),
            )
        } else {
            upstream(format!("{what}: HTTP {status}: {why}"))
        });
    }
    let t = serde_json::from_value(v.clone())
        .map_err(|e| upstream(format!("{what}: unreadable answer: {e}")))?;
    Ok((t, v))
}

fn base_units(field: &str, raw: &str) -> Result<u64, ApiError> {
    raw.parse().map_err(|_| {
        upstream(format!(
            "{field} {raw:?} is not a whole number of base units"
        ))
    })
}

/// Without the `solana` feature there is nothing to trade on.
#[cfg(not(feature = "solana"))]
pub(super) async fn plan(
    _: &AppState,
    _: Agent,
    _: &TradeBody,
    _: Decimal,
    _: u32,
) -> Result<Plan, ApiError> {
    Err(ApiError::invalid(
        "chain",
        "this build has no Solana support",
    ))
}

/// Quotes, builds, simulates, checks against the quote and values the swap.
#[cfg(feature = "solana")]
pub(super) async fn plan(
    state: &AppState,
    agent: Agent,
    body: &TradeBody,
    amount: Decimal,
    slippage: u32,
) -> Result<Plan, ApiError> {
    let Some((adapter, chain)) = state.chains.solana_pair() else {
        return Err(ApiError::invalid(
            "chain",
            "`solana` is not enabled on this server",
        ));
    };
    let sold = asset_id(state, "from_asset", &body.from_asset)?;
    let bought = asset_id(state, "to_asset", &body.to_asset)?;
    if sold == bought {
        return Err(ApiError::invalid("to_asset", "must differ from from_asset"));
    }
    let policy = state.policy_of(&agent)?;
    let intent = Intent {
        action: Action::Trade,
        chain: Chain::Solana,
        recipient: None,
        asset: Some(sold.clone()),
        amount,
        declared_usd: price(state, &sold).await.times(amount),
    };
    let usage = usage(state, &agent).await?;
    precheck(&policy, &intent, &usage)?;
    let decimals = |id: &AssetId, field: &'static str| {
        let adapter = adapter.clone();
        let id = id.clone();
        async move {
            if id.as_str() == "SOL" {
                Ok(custos_chains::solana::SOL_DECIMALS)
            } else {
                adapter
                    .mint_info(id.as_str())
                    .await
                    .map(|(_, d)| d)
                    .map_err(|e| chain_error(field, e))
            }
        }
    };
    let in_decimals = decimals(&sold, "from_asset").await?;
    let out_decimals = decimals(&bought, "to_asset").await?;
    let amount_in = custos_core::to_base_units(amount, in_decimals)
        .ok()
        .and_then(|a| u64::try_from(a).ok())
        .filter(|a| *a > 0)
        .ok_or_else(|| {
            ApiError::invalid(
                "amount",
                format!("must be a positive amount of at most {in_decimals} decimals that fits a u64 of base units"),
            )
        })?;
    let from = agent_address(&agent, &chain)?;

    // The quote, for exactly what was asked.
    let base = state.cfg.solana.jupiter_url.trim_end_matches('/');
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .build()
        .map_err(ApiError::internal)?;
    let (quote, raw_quote): (Quote, Value) = answer(
        client
            .get(format!("{base}/quote"))
            .query(&[
                ("inputMint", wire_mint(&sold)),
                ("outputMint", wire_mint(&bought)),
                ("amount", &amount_in.to_string()),
                ("slippageBps", &slippage.to_string()),
                ("swapMode", "ExactIn"),
            ])
            .send()
            .await,
        "quote",
    )
    .await?;
    let out_amount = base_units("outAmount", &quote.out_amount)?;
    let threshold = base_units("otherAmountThreshold", &quote.other_amount_threshold)?;
    if quote.input_mint != wire_mint(&sold)
        || quote.output_mint != wire_mint(&bought)
        || base_units("inAmount", &quote.in_amount)? != amount_in
        || quote.swap_mode.as_deref().is_some_and(|m| m != "ExactIn")
    {
        return Err(upstream(format!(
            "quoted {} {} → {} ({}), not the {amount_in} {} → {} asked for",
            quote.in_amount,
            quote.input_mint,
            quote.output_mint,
            quote.swap_mode.as_deref().unwrap_or("ExactIn"),
            wire_mint(&sold),
            wire_mint(&bought)
        )));
    }
    if out_amount == 0 {
        return Err(ApiError::invalid(
            "amount",
            "the quote is zero: too small to trade",
        ));
    }
    // The least the swap may deliver: the quote less the slippage asked for, computed here.
    let min_out =
        u64::try_from(u128::from(out_amount) * u128::from(10_000 - slippage) / 10_000).unwrap_or(0);
    if threshold < min_out {
        return Err(ApiError::policy_denied(vec![(
            "trading.max_slippage_bps".into(),
            format!("the quote's minimum output {threshold} is further below its output {out_amount} than the {slippage} bps asked for (at least {min_out})"),
        )]));
    }

    // The swap, built by the service for this wallet.
    let (swap, _): (Swap, Value) = answer(
        client
            .post(format!("{base}/swap"))
            .json(&json!({
                "quoteResponse": raw_quote,
                "userPublicKey": from,
                "wrapAndUnwrapSol": true,
                "dynamicComputeUnitLimit": true,
            }))
            .send()
            .await,
        "swap",
    )
    .await?;
    let tx_bytes = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(swap.swap_transaction.trim())
            .map_err(|_| upstream("swapTransaction is not base64".into()))?
    };
    let raw = custos_chains::solana_wire::split_transaction(&tx_bytes)
        .and_then(|raw| custos_chains::solana_wire::decode_for_boundary(&tx_bytes).map(|_| raw))
        .map_err(|e| upstream(format!("swapTransaction: {e}")))?;
    let decoded = chain
        .decode(&tx_bytes)
        .map_err(|e| upstream(format!("swapTransaction: {e}")))?;
    if !decoded.signers.iter().any(|s| s == &from) {
        return Err(upstream(format!(
            "the swap transaction does not need the wallet's ({from}) signature"
        )));
    }
    let outside = custos_policy::programs_outside_allowlist(&policy, &intent, &decoded.programs);
    if !outside.is_empty() {
        return Err(ApiError::policy_denied(vec![(
            custos_policy::rules::PROGRAMS_ALLOW.into(),
            format!(
                "the swap runs programs not on the allowlist: {}",
                outside.join(", ")
            ),
        )]));
    }
    let tx = custos_core::UnsignedTx {
        chain: Chain::Solana,
        tx_bytes,
        message: raw.message,
        signer: from.clone(),
        amount_base_units: u128::from(amount_in),
        decimals: in_decimals,
        last_valid_block_height: swap.last_valid_block_height,
    };
    let (simulated, effects) = simulate(state, &chain, &tx, &from).await?;
    let rent_each = adapter
        .backend()
        .minimum_balance_for_rent_exemption(TOKEN_ACCOUNT_MAX_LEN)
        .await
        .map_err(|e| chain_error("chain", e))?;
    let received = held_to_quote(
        &simulated,
        &Leg {
            sold: asset_ref(&sold),
            amount_in,
            bought: asset_ref(&bought),
            min_out,
            rent_each,
        },
    )?;
    let whole = |atoms: u64, d: u8| {
        custos_core::Atoms::from(atoms)
            .to_whole(d)
            .map(|x| x.to_string())
            .ok()
    };
    let route: Vec<Value> = quote
        .route_plan
        .iter()
        .map(|r| r["swapInfo"]["label"].clone())
        .collect();
    Ok(Plan {
        agent,
        policy,
        intent,
        tx,
        simulated,
        effects,
        usage,
        extra: Some(json!({
            "venue": "jupiter",
            "quote_out": whole(out_amount, out_decimals),
            "min_out": whole(min_out, out_decimals),
            "output_amount": whole(received, out_decimals),
            "slippage_bps": slippage,
            "price_impact": quote.price_impact_pct,
            "route": route,
        })),
        bucket: None,
    })
}

/// What a swap must do to the wallet.
#[derive(Debug)]
struct Leg {
    sold: AssetRef,
    amount_in: u64,
    bought: AssetRef,
    min_out: u64,
    /// The most one token account the swap creates may cost in rent, lamports.
    rent_each: u64,
}

/// How an amount of `a` in base units reads in a refusal.
fn units(a: &AssetRef) -> String {
    match a {
        AssetRef::Native => "lamports of SOL".into(),
        AssetRef::Token(m) => format!("base units of {m}"),
    }
}

/// Holds the simulated effects to the quote; the output received, in base units.
fn held_to_quote(sim: &SimulatedEffects, leg: &Leg) -> Result<u64, ApiError> {
    if let Some(a) = sim.approvals.first() {
        return Err(refused(format!(
            "the swap grants control over the wallet's account {} to {}",
            a.account,
            a.grantee.as_deref().unwrap_or("nobody")
        )));
    }
    let rent_cap = leg
        .rent_each
        .saturating_mul(sim.accounts_created.len() as u64);
    if sim.rent_deposits > rent_cap {
        return Err(refused(format!(
            "the swap deposits {} lamports into {} new accounts, more than their rent ({rent_cap})",
            sim.rent_deposits,
            sim.accounts_created.len()
        )));
    }
    // Native changes net of what the network takes (fee, and rent the wallet still owns).
    let network = i128::from(sim.fee) + i128::from(sim.rent_deposits);
    let change = |a: &AssetRef| -> Result<i128, ApiError> {
        let d = match sim.balance_changes.iter().find(|c| &c.asset == a) {
            Some(c) => c.delta().map_err(|e| refused(e.to_string()))?,
            None => 0,
        };
        Ok(if *a == AssetRef::Native {
            d + network
        } else {
            d
        })
    };
    let out = -change(&leg.sold)?;
    if out > i128::from(leg.amount_in) {
        return Err(refused(format!(
            "the swap takes {out} {} from the wallet, more than the {} it sells",
            units(&leg.sold),
            leg.amount_in
        )));
    }
    let received = change(&leg.bought)?;
    if received < i128::from(leg.min_out) {
        return Err(refused(format!(
            "the swap delivers {received} {}, less than the minimum {} (the quote less slippage)",
            units(&leg.bought),
            leg.min_out
        )));
    }
    let mut others: Vec<&AssetRef> = sim
        .balance_changes
        .iter()
        .map(|c| &c.asset)
        .filter(|a| **a != leg.sold && **a != leg.bought)
        .collect();
    if !others.contains(&&AssetRef::Native)
        && leg.sold != AssetRef::Native
        && leg.bought != AssetRef::Native
    {
        others.push(&AssetRef::Native);
    }
    for a in others {
        let d = change(a)?;
        if d < 0 {
            return Err(refused(format!(
                "the swap also takes {} {} from the wallet",
                -d,
                units(a)
            )));
        }
    }
    u64::try_from(received).map_err(|_| refused("the swap's output does not fit a u64".into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use custos_core::{Atoms, BalanceChange};

    const USDC: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";
    const BONK: &str = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263";

    fn change(asset: AssetRef, pre: u64, post: u64) -> BalanceChange {
        BalanceChange {
            asset,
            decimals: 6,
            pre: Atoms::from(pre),
            post: Atoms::from(post),
        }
    }

    fn sim(changes: Vec<BalanceChange>) -> SimulatedEffects {
        SimulatedEffects {
            chain: Chain::Solana,
            agent: "me".into(),
            success: true,
            error: None,
            balance_changes: changes,
            programs: vec![],
            methods: vec![],
            approvals: vec![],
            accounts_created: vec![],
            accounts_closed: vec![],
            recipients: vec![],
            fee: 5_000,
            rent_deposits: 0,
            units_consumed: 0,
            logs: vec![],
        }
    }

    /// SOL for USDC: 1 SOL out (plus the fee), at least 99 USDC in.
    fn leg() -> Leg {
        Leg {
            sold: AssetRef::Native,
            amount_in: 1_000_000_000,
            bought: AssetRef::Token(USDC.into()),
            min_out: 99_000_000,
            rent_each: 2_074_080,
        }
    }

    #[test]
    fn an_honest_swap_passes_with_its_fee() {
        let s = sim(vec![
            change(AssetRef::Native, 2_000_005_000, 1_000_000_000),
            change(AssetRef::Token(USDC.into()), 0, 100_000_000),
        ]);
        assert_eq!(held_to_quote(&s, &leg()).unwrap(), 100_000_000);
    }

    #[test]
    fn lies_are_refused_by_what_they_do() {
        let sol = |post| change(AssetRef::Native, 2_000_005_000, post);
        let usdc = |post| change(AssetRef::Token(USDC.into()), 0, post);
        // Takes more SOL than sold (a third party paid from the wallet).
        let s = sim(vec![sol(990_000_000), usdc(100_000_000)]);
        assert!(held_to_quote(&s, &leg()).is_err());
        // Delivers less than the minimum.
        let s = sim(vec![sol(1_000_000_000), usdc(50_000_000)]);
        assert!(held_to_quote(&s, &leg()).is_err());
        // Drains another token.
        let s = sim(vec![
            sol(1_000_000_000),
            usdc(100_000_000),
            change(AssetRef::Token(BONK.into()), 7, 0),
        ]);
        let e = held_to_quote(&s, &leg()).unwrap_err();
        assert!(format!("{e:?}").contains(BONK), "{e:?}");
        // Grants a delegation.
        let mut s = sim(vec![sol(1_000_000_000), usdc(100_000_000)]);
        s.approvals.push(custos_core::ApprovalEffect {
            kind: custos_core::ApprovalKind::Delegate,
            account: "acct".into(),
            asset: Some(AssetRef::Token(USDC.into())),
            grantee: Some("maker".into()),
            amount: None,
        });
        assert!(held_to_quote(&s, &leg()).is_err());
        // Rent beyond what the accounts it creates need.
        let mut s = sim(vec![sol(990_000_000), usdc(100_000_000)]);
        s.rent_deposits = 10_000_000;
        s.accounts_created = vec!["a".into()];
        assert!(held_to_quote(&s, &leg()).is_err());
        // Selling a token: any SOL beyond the fee is an outflow.
        let token_leg = Leg {
            sold: AssetRef::Token(USDC.into()),
            amount_in: 100_000_000,
            bought: AssetRef::Token(BONK.into()),
            min_out: 1,
            rent_each: 2_074_080,
        };
        let s = sim(vec![
            change(AssetRef::Native, 1_000_000_000, 999_995_000),
            change(AssetRef::Token(USDC.into()), 100_000_000, 0),
            change(AssetRef::Token(BONK.into()), 0, 5),
        ]);
        assert_eq!(held_to_quote(&s, &token_leg).unwrap(), 5);
        let s = sim(vec![
            change(AssetRef::Native, 1_000_000_000, 989_995_000),
            change(AssetRef::Token(USDC.into()), 100_000_000, 0),
            change(AssetRef::Token(BONK.into()), 0, 5),
        ]);
        assert!(held_to_quote(&s, &token_leg).is_err());
    }
}
