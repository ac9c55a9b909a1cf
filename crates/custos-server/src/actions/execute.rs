//! Executing an approved plan: the budget reserved, the signature made in the custody boundary,
//! the audit record and the in-flight journal entry made durable before the transaction leaves,
//! then submission, confirmation and settlement ([`execute`], [`send`]) — or, for a transaction
//! returned unbroadcast, the record and the reservation committed at once.
use super::{budget, chain_error, refresh, Actor, Plan};
use crate::audit_info::{AuditInfo, Audited};
use crate::error::ApiError;
use crate::pipeline::entry_for;
use crate::state::AppState;
use axum::response::{IntoResponse, Response};
use axum::Json;
use custos_core::{AuditOutcome, ChainAdapter, ChainError};
use custos_policy::{Allowance, Approved};
use serde_json::json;
use std::sync::Arc;

/// Signs and broadcasts an approved plan: reserve the USD amount in the rolling window, sign in
/// the boundary, commit the audit record (the signed transaction is not broadcast unless it is
/// durable), submit, confirm, commit the reservation. Any failure before broadcast releases
/// the reservation; after broadcast it stays (the transaction may still land).
///
/// With `broadcast = false` (a `sign` request that asks for the signed transaction back) the
/// reservation is committed as soon as the record is durable: Custos cannot know when, or
/// whether, the agent broadcasts it, so it counts as spent.
pub async fn execute(
    state: &AppState,
    actor: &Actor<'_>,
    plan: Plan,
    approved: Approved<Allowance>,
    adapter: &Arc<dyn ChainAdapter>,
    broadcast: bool,
) -> Result<Response, ApiError> {
    let action = plan.intent.action.as_str();
    let usd = approved.get().usd_value;
    let reservation =
        budget::reserve_in(state, &plan.agent, &plan.policy, usd, plan.bucket.clone()).await?;
    crate::faults::hit("after_reserve");
    // The sender's sequence number (EVM nonce) is taken now, held until the node accepts the
    // transaction, and handed out again if anything before that fails. A transaction returned
    // unbroadcast keeps the nonce its author chose.
    let sequenced = if broadcast {
        adapter.sequence(&plan.tx.tx_bytes, &plan.tx.signer).await
    } else {
        Ok(custos_core::Sequenced {
            tx_bytes: plan.tx.tx_bytes.clone(),
            lease: None,
        })
    };
    let custos_core::Sequenced { tx_bytes, lease } = match sequenced {
        Ok(s) => s,
        Err(e) => {
            reservation.release().await;
            return Err(chain_error("transaction", e));
        }
    };
    let scheme = adapter.key_scheme();
    let sig = match state
        .custody
        .sign_transaction(&approved, plan.agent.id, adapter.as_ref(), &tx_bytes)
        .await
    {
        Ok(s) => s,
        Err(e) => {
            reservation.release().await;
            return Err(e.into());
        }
    };
    crate::faults::hit("after_sign");
    state
        .metrics
        .signatures
        .with_label_values(&[scheme.as_str()])
        .inc();
    let signed = match adapter
        .attach_signature(&tx_bytes, &plan.tx.signer, &sig.bytes)
        .and_then(|signed| adapter.tx_id(&signed).map(|id| (signed, id)))
    {
        Ok(s) => s,
        Err(e) => {
            reservation.release().await;
            return Err(chain_error("transaction", e));
        }
    };
    let (signed, tx_id) = signed;
    let tokens = token_amounts(&plan.simulated.balance_changes);
    let params = json!({"chain": plan.intent.chain, "to": plan.intent.recipient, "asset": plan.intent.asset.as_ref().map(|a| a.to_string()), "amount": plan.intent.amount.to_string(), "approvals": approved.get().human_approvals, "programs": plan.simulated.programs, "broadcast": broadcast});
    let steps = TxRecord {
        params,
        subject: plan.agent.id,
        tx: tx_id.clone(),
        usd: usd.to_string(),
        tokens,
    };
    let record = |outcome: AuditOutcome, status: u16, action: &str, reason: Option<String>| {
        steps.entry(state, actor, outcome, status, action, reason)
    };
    // Fail closed: a signed transaction that is not on record is never broadcast.
    if !broadcast {
        let (stored, reservation) = reservation
            .record(
                record(
                    AuditOutcome::Success,
                    200,
                    action,
                    Some("signed; returned to the agent, not broadcast".into()),
                ),
                "withholding the signed transaction",
            )
            .await?;
        reservation.commit(&tx_id).await;
        let encoded = if matches!(plan.intent.chain, custos_core::Chain::Evm(_)) {
            format!("0x{}", hex::encode(&signed))
        } else {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(&signed)
        };
        let mut body = json!({"status": "signed", "tx": tx_id, "signed_transaction": encoded, "usd_value": usd.to_string(), "audit_id": stored.id});
        merge_extra(&mut body, plan.extra.as_ref());
        let mut r = Json(body).into_response();
        r.extensions_mut().insert(Audited(stored.id));
        return Ok(r);
    }
    let signed_action = format!("{action}.signed");
    let (_, reservation) = reservation
        .record(
            record(
                AuditOutcome::Pending,
                202,
                &signed_action,
                Some("signed; broadcasting".into()),
            ),
            "not broadcasting",
        )
        .await?;
    // The journal entry, durable before the transaction leaves: whatever happens to this
    // process from here on, recovery can find out what became of it and finish the books.
    let journal = custos_core::InFlightTx {
        tx_id: tx_id.clone(),
        chain: plan.intent.chain,
        agent: plan.agent.id,
        signed_tx: signed.clone(),
        last_valid_block_height: plan.tx.last_valid_block_height,
        reservation: reservation.id().to_owned(),
        idempotency: crate::idempotency::current_claim(),
        action: action.to_owned(),
        usd,
        request_id: actor.request_id.to_owned(),
        endpoint: actor.endpoint.to_owned(),
        created_at_ms: state.clock.now_ms(),
        owner: state.instance.clone(),
        replacements: Vec::new(),
    };
    if let Err(e) = state.store.in_flight_put(&journal).await {
        reservation.release().await;
        tracing::error!(error = %e, "in-flight journal write failed; not broadcasting");
        return Err(ApiError::unavailable(
            "the store is unavailable; the transaction was not sent",
        ));
    }
    reservation.hand_to_journal();
    crate::faults::hit("after_signed_record");
    send(
        state,
        actor,
        &plan,
        &approved,
        adapter,
        Sent {
            journal,
            steps,
            signed,
            lease,
            refreshed: false,
        },
    )
    .await
}

/// A signed transaction on record and in the journal, about to be sent.
pub(super) struct Sent {
    pub(super) journal: custos_core::InFlightTx,
    pub(super) steps: TxRecord,
    pub(super) signed: Vec<u8>,
    pub(super) lease: Option<Box<dyn custos_core::SequenceLease>>,
    /// Whether it is already a re-signed copy on a fresh blockhash (refreshed at most once).
    pub(super) refreshed: bool,
}

/// Submits, confirms and settles a journaled transaction. A Solana transaction whose
/// blockhash expired before the cluster took it (so it can never land) is re-signed once on a
/// fresh blockhash under the same judgement ([`refresh`]) and sent instead.
async fn send(
    state: &AppState,
    actor: &Actor<'_>,
    plan: &Plan,
    approved: &Approved<Allowance>,
    adapter: &Arc<dyn ChainAdapter>,
    sent: Sent,
) -> Result<Response, ApiError> {
    let Sent {
        journal,
        steps,
        signed,
        lease,
        refreshed,
    } = sent;
    let action = plan.intent.action.as_str();
    let usd = approved.get().usd_value;
    let tx_id = steps.tx.clone();
    let record = |outcome: AuditOutcome, status: u16, action: &str, reason: Option<String>| {
        steps.entry(state, actor, outcome, status, action, reason)
    };
    if crate::faults::fired("before_broadcast", "expire") {
        if let Some(f) = &state.chains.faucet {
            let _ = f.advance_slots(refresh::EXPIRY_SLOTS).await;
        }
    }
    match adapter.submit(&signed).await {
        Ok(_) => {}
        Err(ChainError::Rejected(m)) if !refreshed && custos_core::blockhash_expired(&m) => {
            match refresh::resign(state, actor, plan, approved, adapter, &journal, &steps).await {
                Ok(next) => {
                    return Box::pin(send(state, actor, plan, approved, adapter, next)).await
                }
                Err(why) => {
                    let err = ApiError::unavailable(format!(
                        "transaction {tx_id} expired before the cluster took it and could not be re-signed ({}); nothing was spent, send the request again",
                        why.message
                    ));
                    let reason = err.message.clone();
                    return finish(
                        state,
                        &journal,
                        record(AuditOutcome::Error, 503, action, Some(reason)),
                        false,
                        Err(err),
                    )
                    .await;
                }
            }
        }
        // Refused outright: it did not enter the chain and this copy never will.
        Err(e @ (ChainError::Rejected(_) | ChainError::InvalidInput(_))) => {
            let err = chain_error("transaction", e);
            let reason = format!("not sent: {}", err.message);
            return finish(
                state,
                &journal,
                record(
                    AuditOutcome::Error,
                    err.status.as_u16(),
                    action,
                    Some(reason),
                ),
                false,
                Err(err),
            )
            .await;
        }
        Err(e) => return Ok(unresolved(&journal, &e)),
    }
    crate::faults::hit("after_broadcast");
    if let Some(lease) = lease {
        lease.commit();
    }
    let (commitment, timeout) = confirmation_settings(state, plan.intent.chain);
    let confirmation = match adapter.confirm(&tx_id, commitment, timeout).await {
        Ok(c) => c,
        Err(e) => return Ok(unresolved(&journal, &e)),
    };
    if let Some(err) = &confirmation.error {
        let err = ApiError::invalid(
            "transaction",
            format!("transaction {tx_id} landed but failed on chain: {err}"),
        );
        let reason = err.message.clone();
        return finish(
            state,
            &journal,
            record(AuditOutcome::Error, 422, action, Some(reason)),
            false,
            Err(err),
        )
        .await;
    }
    let mut body = json!({"status": "confirmed", "tx": tx_id, "usd_value": usd.to_string()});
    let place = if matches!(plan.intent.chain, custos_core::Chain::Evm(_)) {
        "block"
    } else {
        "slot"
    };
    body[place] = json!(confirmation.slot);
    merge_extra(&mut body, plan.extra.as_ref());
    finish(
        state,
        &journal,
        record(AuditOutcome::Success, 200, action, None),
        true,
        Ok(body),
    )
    .await
}

/// What every audit record of one signed transaction's steps (signed, sent, landed, failed)
/// carries.
#[derive(Clone)]
pub(super) struct TxRecord {
    pub(super) params: serde_json::Value,
    pub(super) subject: custos_core::AgentId,
    pub(super) tx: String,
    pub(super) usd: String,
    pub(super) tokens: serde_json::Value,
}

impl TxRecord {
    /// The record of one step.
    pub(super) fn entry(
        &self,
        state: &AppState,
        actor: &Actor<'_>,
        outcome: AuditOutcome,
        status: u16,
        action: &str,
        reason: Option<String>,
    ) -> custos_core::AuditEntry {
        let mut e = entry_for(
            state,
            Some(actor.principal),
            actor.endpoint,
            actor.request_id,
            status,
            AuditInfo {
                action: action.into(),
                params: Some(self.params.clone()),
                subject: Some(self.subject),
                tx: Some(self.tx.clone()),
                usd: Some(self.usd.clone()),
                token_amounts: Some(self.tokens.clone()),
            },
            None,
        );
        e.outcome = outcome;
        e.reason = reason;
        e
    }
}

/// Ends a broadcast transaction's request once its outcome is known: the outcome's audit
/// record, then the journal entry settled (reservation committed or released, entry removed) —
/// by the idempotency layer after it has stored the answer, when the request has a key, so that
/// no retry can find the key free while the transaction might have landed.
async fn finish(
    state: &AppState,
    journal: &custos_core::InFlightTx,
    entry: custos_core::AuditEntry,
    landed: bool,
    outcome: Result<serde_json::Value, ApiError>,
) -> Result<Response, ApiError> {
    let stored = match state.audit.append(entry).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "audit write failed after broadcast; leaving the outcome to recovery");
            return Ok(unresolved(
                journal,
                &ChainError::Unavailable("audit log unavailable".into()),
            ));
        }
    };
    let mut resp = match outcome {
        Ok(mut body) => {
            body["audit_id"] = json!(stored.id);
            Json(body).into_response()
        }
        Err(e) => e.into_response(),
    };
    resp.extensions_mut().insert(Audited(stored.id));
    let settle = crate::idempotency::Settle {
        tx_id: journal.tx_id.clone(),
        landed,
    };
    if journal.idempotency.is_some() {
        resp.extensions_mut().insert(settle);
    } else {
        settle.run(state).await;
    }
    Ok(resp)
}

/// The answer for a transaction that was broadcast (or may have been) but whose outcome is not
/// known: `503` naming the transaction, the idempotency claim left for recovery to answer, the
/// reservation still in flight.
fn unresolved(journal: &custos_core::InFlightTx, e: &ChainError) -> Response {
    // The newest copy sent (a re-signed one, after a refresh) is the one to look for.
    let sent = journal
        .candidates()
        .first()
        .map_or(journal.tx_id.as_str(), |c| c.tx_id);
    tracing::warn!(tx = %sent, error = %e, "outcome unknown; left to recovery");
    let mut r = ApiError::unavailable(format!(
        "transaction {sent} was sent but its outcome is not known yet; retry with the same Idempotency-Key to learn it"
    ))
    .into_response();
    r.extensions_mut().insert(crate::idempotency::Unresolved);
    r.extensions_mut().insert(AuditInfo {
        action: format!("{}.unresolved", journal.action),
        subject: Some(journal.agent),
        tx: Some(journal.tx_id.clone()),
        usd: Some(journal.usd.to_string()),
        ..AuditInfo::default()
    });
    r
}

/// The audit record's token amounts: each asset's exact change in base units, as a decimal
/// string with its sign (`"-1500000"`), never a JSON number.
pub(super) fn token_amounts(changes: &[custos_core::BalanceChange]) -> serde_json::Value {
    let list: Vec<serde_json::Value> = changes
        .iter()
        .filter(|c| c.pre != c.post)
        .map(|c| {
            let delta = if c.post >= c.pre {
                c.post.saturating_sub(c.pre).to_string()
            } else {
                format!("-{}", c.pre.saturating_sub(c.post))
            };
            json!({"asset": c.asset.to_string(), "delta_base_units": delta, "decimals": c.decimals})
        })
        .collect();
    serde_json::Value::Array(list)
}

/// The confirmation level and time limit configured for `chain`.
pub fn confirmation_settings(
    state: &AppState,
    chain: custos_core::Chain,
) -> (custos_core::Commitment, std::time::Duration) {
    match chain {
        custos_core::Chain::Evm(id) => {
            let secs = state
                .cfg
                .evm
                .chain(id)
                .map_or(60, |c| c.confirm_timeout_seconds);
            (
                custos_core::Commitment::Confirmed,
                std::time::Duration::from_secs(secs),
            )
        }
        _ => (
            crate::chains::parse_commitment(&state.cfg.solana.commitment).unwrap_or_default(),
            std::time::Duration::from_secs(state.cfg.solana.confirm_timeout_seconds),
        ),
    }
}

fn merge_extra(body: &mut serde_json::Value, extra: Option<&serde_json::Value>) {
    if let (Some(b), Some(serde_json::Value::Object(e))) = (body.as_object_mut(), extra) {
        for (k, v) in e {
            b.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}
