//! Solana transfers parked for a human approval, built on a durable nonce: a blockhash expires
//! about a minute after it is handed out, an approval can take hours, so the parked
//! transaction's first instruction advances one of the agent's nonce accounts and its
//! "blockhash" is that account's nonce — it stays valid until the nonce is used, and the bytes
//! the approvers see are exactly the bytes that are signed.
//!
//! Each parked transfer holds its own nonce account (one use each: the first to land would
//! invalidate the others): the agent's accounts `custos-nonce-0` … `custos-nonce-7` (seed-derived
//! from its address, so it alone signs their creation, and it is their authority: the rent
//! stays its own, withdrawable). The first free one is created when needed — a transaction
//! judged by the policy and signed in the boundary like any other, audited as `nonce.create`;
//! its rent is not counted against the budget (it does not leave the agent). When none is free,
//! or the account cannot be created (a policy that refuses it, say), the transfer is parked on
//! its blockhash as before, and the approval then has about a minute.
use super::{decide, simulate, Actor, Plan};
use crate::audit_info::AuditInfo;
use crate::error::ApiError;
use crate::pipeline::entry_for;
use crate::state::AppState;
use custos_core::{
    Action, AssetId, AuditOutcome, Chain, ChainAdapter, Intent, NonceAccount, UnsignedTx,
};
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;

/// Nonce accounts per agent: as many transfers can wait on durable nonces at once.
pub const NONCE_ACCOUNTS: u32 = 8;
/// Pending approvals looked through for the nonce accounts they hold.
const APPROVAL_SCAN: u32 = 10_000;

/// `plan` rebuilt on a free durable nonce of the agent when it is a Solana transfer about to
/// be parked; otherwise, or when that cannot be done, `plan` as it is (see the module docs).
pub async fn prepare(state: &AppState, actor: &Actor<'_>, plan: Plan) -> Plan {
    if plan.intent.chain != Chain::Solana || plan.intent.action != Action::Transfer {
        return plan;
    }
    let Some(adapter) = state.chains.adapter(Chain::Solana).cloned() else {
        return plan;
    };
    match account_for(state, actor, &plan, &adapter).await {
        Ok(Some(account)) => match rebuild(state, &plan, &adapter, &account).await {
            Ok((tx, simulated, effects)) => Plan {
                tx,
                simulated,
                effects,
                ..plan
            },
            Err(e) => {
                tracing::warn!(error = %e.message, "parking on the blockhash: the transfer could not be rebuilt on a durable nonce");
                plan
            }
        },
        Ok(None) => {
            tracing::warn!(agent = %plan.agent.id, "parking on the blockhash: every durable nonce account of the agent is held by a pending approval");
            plan
        }
        Err(e) => {
            tracing::warn!(agent = %plan.agent.id, error = %e.message, "parking on the blockhash: no durable nonce account");
            plan
        }
    }
}

/// The transfer on `account`'s nonce, simulated again.
async fn rebuild(
    state: &AppState,
    plan: &Plan,
    adapter: &Arc<dyn ChainAdapter>,
    account: &NonceAccount,
) -> Result<
    (
        UnsignedTx,
        custos_core::SimulatedEffects,
        custos_core::Effects,
    ),
    ApiError,
> {
    let tx = adapter
        .on_durable_nonce(&plan.tx, account)
        .map_err(|e| super::chain_error("transaction", e))?;
    let (simulated, effects) = simulate(state, adapter, &tx, &plan.tx.signer).await?;
    Ok((tx, simulated, effects))
}

/// The first nonce account of the agent no pending or approved-but-unexecuted approval holds,
/// created if it does not exist yet; `None` when all are held.
async fn account_for(
    state: &AppState,
    actor: &Actor<'_>,
    plan: &Plan,
    adapter: &Arc<dyn ChainAdapter>,
) -> Result<Option<NonceAccount>, ApiError> {
    use base64::Engine as _;
    // Waiting for votes, or approved and about to be executed: either still holds its nonce.
    let mut waiting = Vec::new();
    for status in [
        custos_core::ApprovalStatus::Pending,
        custos_core::ApprovalStatus::Approved,
    ] {
        waiting.extend(
            state
                .store
                .list_approvals(Some(status), APPROVAL_SCAN)
                .await?,
        );
    }
    let held: HashSet<String> = waiting
        .iter()
        .filter(|a| a.agent == plan.agent.id)
        .filter_map(|a| a.request.get("tx").and_then(|t| t.as_str()))
        .filter_map(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
        .filter_map(|bytes| adapter.durable_nonce_of(&bytes))
        .collect();
    let signer = &plan.tx.signer;
    for index in 0..NONCE_ACCOUNTS {
        let account = adapter
            .nonce_account(signer, index)
            .await
            .map_err(|e| super::chain_error("transaction", e))?;
        if held.contains(&account.address) {
            continue;
        }
        if account.nonce.is_some() {
            return Ok(Some(account));
        }
        create(state, actor, plan, adapter, index, &account.address).await?;
        let created = adapter
            .nonce_account(signer, index)
            .await
            .map_err(|e| super::chain_error("transaction", e))?;
        return Ok(created.nonce.is_some().then_some(created));
    }
    Ok(None)
}

/// Creates nonce account `index`: judged, signed in the boundary, sent, confirmed, audited.
async fn create(
    state: &AppState,
    actor: &Actor<'_>,
    plan: &Plan,
    adapter: &Arc<dyn ChainAdapter>,
    index: u32,
    address: &str,
) -> Result<(), ApiError> {
    let chain_err = |e| super::chain_error("transaction", e);
    let tx = adapter
        .build_nonce_account(&plan.tx.signer, index)
        .await
        .map_err(chain_err)?;
    let rent =
        custos_core::from_base_units(tx.amount_base_units, tx.decimals).map_err(chain_err)?;
    let sol = AssetId::new(adapter.native_symbol().to_owned());
    let (simulated, effects) = simulate(state, adapter, &tx, &plan.tx.signer).await?;
    let setup = Plan {
        agent: plan.agent.clone(),
        policy: plan.policy.clone(),
        // Nothing leaves the agent but the network's cost: the rent deposit (which the
        // simulation counts with the fee) stays in an account it is the authority of.
        intent: Intent {
            action: Action::Transfer,
            chain: Chain::Solana,
            recipient: None,
            declared_usd: super::price(state, &sol)
                .await
                .times(custos_core::Decimal::ZERO),
            asset: Some(sol),
            amount: custos_core::Decimal::ZERO,
        },
        tx,
        simulated,
        effects,
        usage: plan.usage,
        extra: None,
        bucket: None,
    };
    let approved = match decide(&setup, adapter.as_ref(), 0) {
        Ok(a) => a,
        Err(Ok(_)) => {
            return Err(ApiError::policy_denied(vec![(
                custos_policy::rules::APPROVALS_ABOVE_USD.into(),
                "creating the nonce account would itself need an approval".into(),
            )]))
        }
        Err(Err(e)) => return Err(e),
    };
    let sig = state
        .custody
        .sign_transaction(
            &approved,
            setup.agent.id,
            adapter.as_ref(),
            &setup.tx.tx_bytes,
        )
        .await?;
    let signed = adapter
        .attach_signature(&setup.tx.tx_bytes, &setup.tx.signer, &sig.bytes)
        .map_err(chain_err)?;
    let tx_id = adapter.tx_id(&signed).map_err(chain_err)?;
    let record = |status: u16, outcome: AuditOutcome, action: &str, reason: Option<String>| {
        let mut entry = entry_for(
            state,
            Some(actor.principal),
            actor.endpoint,
            actor.request_id,
            status,
            AuditInfo {
                action: action.into(),
                params: Some(
                    json!({"chain": "solana", "account": address, "index": index, "rent": rent.to_string()}),
                ),
                subject: Some(setup.agent.id),
                tx: Some(tx_id.clone()),
                usd: Some(approved.get().usd_value.to_string()),
                token_amounts: None,
            },
            None,
        );
        entry.outcome = outcome;
        entry.reason = reason;
        entry
    };
    let append = |e| async move {
        state
            .audit
            .append(e)
            .await
            .map_err(|e| ApiError::unavailable(format!("audit log unavailable: {e}")))
    };
    // Fail closed: nothing signed leaves Custos before it is on record.
    append(record(
        202,
        AuditOutcome::Pending,
        "nonce.create.signed",
        Some("signed; sending".into()),
    ))
    .await?;
    let (commitment, wait) = super::confirmation_settings(state, Chain::Solana);
    let outcome = match adapter.submit(&signed).await {
        Ok(_) => adapter
            .confirm(&tx_id, commitment, wait)
            .await
            .map_err(chain_err)
            .and_then(|c| match c.error {
                None => Ok(()),
                Some(e) => Err(ApiError::invalid(
                    "transaction",
                    format!("the nonce account's creation failed on chain: {e}"),
                )),
            }),
        Err(e) => Err(chain_err(e)),
    };
    let (status, result) = match &outcome {
        Ok(()) => (200, AuditOutcome::Success),
        Err(e) => (e.status.as_u16(), AuditOutcome::Error),
    };
    let reason = outcome.as_ref().err().map(|e| e.message.clone());
    append(record(status, result, "nonce.create", reason)).await?;
    outcome
}
