//! A Solana transaction Custos signed whose blockhash expired before the cluster took it (a
//! slow path between signing and sending, a congested cluster): the cluster refused it, so it
//! can never land, and the request re-signs the same message on a fresh blockhash once —
//! simulated again and required to do exactly what was judged (the same balance changes),
//! decided again under the same policy, usage and approvals at no higher value than was
//! reserved, signed by the boundary, recorded (`….signed`, naming the expired one) and added to
//! the journal entry as a `refresh` replacement before it is sent. The reservation is the
//! original's: one debit, whichever of the two could land (only the new one can).
use super::{chain_error, decide, simulate, Actor, Plan, Sent, TxRecord};
use crate::error::ApiError;
use crate::state::AppState;
use custos_core::{AuditOutcome, ChainAdapter, InFlightTx, Replacement, ReplacementKind};
use custos_policy::{Allowance, Approved};
use std::sync::Arc;

/// Slots after which a blockhash handed out now has expired (150 valid, then one more).
pub const EXPIRY_SLOTS: u64 = 151;

/// The re-signed copy of the journaled transaction, on record and in the journal, ready to send.
pub(super) async fn resign(
    state: &AppState,
    actor: &Actor<'_>,
    plan: &Plan,
    approved: &Approved<Allowance>,
    adapter: &Arc<dyn ChainAdapter>,
    journal: &InFlightTx,
    steps: &TxRecord,
) -> Result<Sent, ApiError> {
    let tx = adapter
        .on_fresh_blockhash(&plan.tx)
        .await
        .map_err(|e| chain_error("transaction", e))?;
    let (simulated, effects) = simulate(state, adapter, &tx, &plan.tx.signer).await?;
    if simulated.balance_changes != plan.simulated.balance_changes {
        return Err(ApiError::unavailable(
            "on a fresh blockhash it would no longer move exactly what was judged",
        ));
    }
    let fresh = Plan {
        agent: plan.agent.clone(),
        policy: plan.policy.clone(),
        intent: plan.intent.clone(),
        tx,
        simulated,
        effects,
        usage: plan.usage,
        extra: plan.extra.clone(),
        bucket: plan.bucket.clone(),
    };
    let again = match decide(&fresh, adapter.as_ref(), approved.get().human_approvals) {
        Ok(a) => a,
        Err(Ok(_)) => {
            return Err(ApiError::unavailable(
                "it would need a human approval again",
            ))
        }
        Err(Err(e)) => return Err(e),
    };
    if again.get().usd_value > approved.get().usd_value {
        return Err(ApiError::unavailable(
            "it is now worth more than was reserved for it",
        ));
    }
    let sig = state
        .custody
        .sign_transaction(&again, fresh.agent.id, adapter.as_ref(), &fresh.tx.tx_bytes)
        .await?;
    state
        .metrics
        .signatures
        .with_label_values(&[adapter.key_scheme().as_str()])
        .inc();
    let signed = adapter
        .attach_signature(&fresh.tx.tx_bytes, &fresh.tx.signer, &sig.bytes)
        .map_err(|e| chain_error("transaction", e))?;
    let tx_id = adapter
        .tx_id(&signed)
        .map_err(|e| chain_error("transaction", e))?;
    let steps = TxRecord {
        tx: tx_id.clone(),
        ..steps.clone()
    };
    // Fail closed: not on record, not sent.
    let action = plan.intent.action.as_str();
    state
        .audit
        .append(steps.entry(
            state,
            actor,
            AuditOutcome::Pending,
            202,
            &format!("{action}.signed"),
            Some(format!(
                "re-signed on a fresh blockhash: {} expired before the cluster took it",
                journal.tx_id
            )),
        ))
        .await
        .map_err(|_| ApiError::unavailable("the audit log is unavailable"))?;
    let mut next = journal.clone();
    next.replacements.push(Replacement {
        tx_id,
        kind: ReplacementKind::Refresh,
        signed_tx: signed.clone(),
        request_id: actor.request_id.to_owned(),
        created_at_ms: state.clock.now_ms(),
    });
    if !state.store.in_flight_swap(journal, &next).await? {
        return Err(ApiError::unavailable("its journal entry changed meanwhile"));
    }
    Ok(Sent {
        journal: next,
        steps,
        signed,
        lease: None,
        refreshed: true,
    })
}
