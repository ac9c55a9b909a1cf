//! The `exact` scheme on Solana: a transaction moving the price with SPL `TransferChecked` from
//! the wallet's token account to the payee's, its fee payer the seller's facilitator
//! (`extra.feePayer`), which co-signs and sends it ([`custos_chains::solana::x402`] builds it).
//! Custos simulates it and judges its effects as a transfer of the price to the payee, signs it
//! in the custody boundary without broadcasting it, and hands it to the seller; the wallet pays
//! no fee. It is valid while its blockhash is (about a minute on a real cluster): the policy's
//! `payments.max_validity_seconds` cannot shorten that.
// Without the `solana` feature only the stubs that say so are used.
#![cfg_attr(not(feature = "solana"), allow(unused))]
use super::{body_json, upstream, Payment, Requirement, Signed};
use crate::actions::Actor;
use crate::error::ApiError;
use crate::state::AppState;
use custos_core::Agent;

/// Why `req` (on `solana:<genesis>`) cannot be paid, or its mint's decimals.
#[cfg(feature = "solana")]
pub(super) async fn judge(
    state: &AppState,
    policy: &custos_policy::PolicyDocument,
    req: &Requirement,
) -> Result<u8, (String, String)> {
    let adapter = state
        .chains
        .solana_adapter
        .as_ref()
        .filter(|_| policy.chains.contains(&custos_core::Chain::Solana))
        .ok_or_else(|| {
            (
                "chains".to_owned(),
                "solana is not a chain this wallet may use here".to_owned(),
            )
        })?;
    let ours = adapter.caip2_network().await.map_err(|e| {
        (
            "chains".to_owned(),
            format!("the Solana cluster could not be identified: {e}"),
        )
    })?;
    if req.network != ours {
        return Err((
            "chains".into(),
            format!(
                "network {} is not the Solana cluster this server is on ({ours})",
                req.network
            ),
        ));
    }
    adapter
        .mint_info(&req.asset)
        .await
        .map(|(_, decimals)| decimals)
        .map_err(|e| {
            (
                "payments.asset".to_owned(),
                format!("asset {}: {e}", req.asset),
            )
        })
}

#[cfg(not(feature = "solana"))]
pub(super) async fn judge(
    _: &AppState,
    _: &custos_policy::PolicyDocument,
    _: &Requirement,
) -> Result<u8, (String, String)> {
    Err(("chains".into(), "this build has no Solana support".into()))
}

/// Builds, judges and signs (without sending) the payment transaction for `p`'s option.
#[cfg(feature = "solana")]
pub(super) async fn sign(
    state: &AppState,
    actor: &Actor<'_>,
    agent: Agent,
    p: &Payment<'_>,
    bucket: Option<custos_core::Bucket>,
    dry_run: bool,
) -> Result<Signed, ApiError> {
    use crate::actions::{
        agent_address, chain_error, decide, execute, precheck, price, simulate, usage, Plan,
    };
    use custos_core::{Action, AssetId, Chain, ChainError, Intent};
    use serde_json::{json, Value};
    let Some((adapter, chain)) = state.chains.solana_pair() else {
        return Err(ApiError::invalid(
            "url",
            "Solana is not enabled on this server",
        ));
    };
    let fee_payer = p.req.extra["feePayer"].as_str().ok_or_else(|| {
        upstream(
            "the seller's Solana option names no fee payer (extra.feePayer)".into(),
            None,
        )
    })?;
    // The seller's memo when it asks for one; otherwise 16 random bytes in hex, so that no two
    // payments are the same message (the facilitator refuses a repeat).
    let memo = match &p.req.extra["memo"] {
        Value::String(m) => m.as_bytes().to_vec(),
        Value::Null => {
            let mut r = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut r);
            hex::encode(r).into_bytes()
        }
        _ => {
            return Err(upstream(
                "the seller's extra.memo is not a string".into(),
                None,
            ))
        }
    };
    let atoms: u64 = p.req.amount.parse().map_err(|_| {
        upstream(
            format!(
                "the seller's amount {} is not a u64 of base units",
                p.req.amount
            ),
            None,
        )
    })?;
    let from = agent_address(&agent, &chain)?;
    let tx = adapter
        .x402_exact_payment(&from, fee_payer, &p.req.asset, &p.req.pay_to, atoms, memo)
        .await
        .map_err(|e| match e {
            ChainError::InvalidInput(m) => upstream(
                format!("the seller's Solana option cannot be paid: {m}"),
                None,
            ),
            other => chain_error("url", other),
        })?;
    let amount = custos_core::from_base_units(tx.amount_base_units, tx.decimals)
        .map_err(|e| chain_error("url", e))?;
    let policy = state.policy_of(&agent)?;
    let asset = AssetId::new(p.req.asset.clone());
    let intent = Intent {
        action: Action::Transfer,
        chain: Chain::Solana,
        recipient: Some(p.req.pay_to.clone()),
        declared_usd: price(state, &asset).await.times(amount),
        asset: Some(asset),
        amount,
    };
    let usage = usage(state, &agent).await?;
    precheck(&policy, &intent, &usage)?;
    let (simulated, effects) = simulate(state, &chain, &tx, &from).await?;
    let plan = Plan {
        agent,
        policy,
        intent,
        tx,
        simulated,
        effects,
        usage,
        extra: None,
        bucket,
    };
    if dry_run {
        let e = custos_policy::explain(&plan.policy, &plan.intent, &plan.effects, &plan.usage);
        return Ok(Signed::DryRun(json!(e)));
    }
    let approved = match decide(&plan, chain.as_ref(), 0) {
        Ok(a) => a,
        Err(Ok(_)) => {
            return Err(ApiError::policy_denied(vec![(
                custos_policy::rules::APPROVALS_ABOVE_USD.into(),
                "this payment's value needs human approval, which an x402 payment cannot wait for"
                    .into(),
            )]))
        }
        Err(Err(e)) => return Err(e),
    };
    let last_valid = plan.tx.last_valid_block_height;
    let signed = body_json(execute(state, actor, plan, approved, &chain, false).await?).await?;
    Ok(Signed::Payload {
        payload: json!({"transaction": signed["signed_transaction"]}),
        payment: json!({
            "network": p.req.network, "asset": p.req.asset, "amount": p.req.amount,
            "pay_to": p.req.pay_to, "usd_value": p.usd.to_string(), "fee_payer": fee_payer,
            "last_valid_block_height": last_valid,
        }),
        audit_id: signed["audit_id"].clone(),
    })
}

#[cfg(not(feature = "solana"))]
pub(super) async fn sign(
    _: &AppState,
    _: &Actor<'_>,
    _: Agent,
    _: &Payment<'_>,
    _: Option<custos_core::Bucket>,
    _: bool,
) -> Result<Signed, ApiError> {
    Err(ApiError::invalid("url", "this build has no Solana support"))
}
