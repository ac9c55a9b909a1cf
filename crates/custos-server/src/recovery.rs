//! Crash recovery: finishes the books of requests that no live process will finish. Runs once
//! before the server accepts requests and then every `server.recovery_interval_seconds`.
//!
//! - **In-flight transactions** (the journal `custos_core::in_flight`): each is reconciled with
//!   its chain (`ChainAdapter::reconcile`, which re-broadcasts one still pending — safe, it is
//!   the same transaction). Landed: its outcome is audited (unless the request already did),
//!   its idempotency claim answered with the transaction, then its reservation committed and the
//!   entry removed. Dropped for good (expired blockhash, used nonce): audited as failed, the
//!   claim released so a retry runs anew, the reservation released. Unknown: left for the next
//!   pass — a claim is never released while its transaction could still land.
//! - **Orphaned idempotency claims**: in progress, owned by an instance that is gone (or
//!   disowned), not waiting on an in-flight transaction: nothing was broadcast, so the claim is
//!   released and a retry runs.
//! - **Orphaned reservations**: `reserved`, held by an instance that is gone, not held by an
//!   in-flight transaction: released.
//!
//! - **Replacements** (a speed-up or cancel of an EVM transaction: same nonce, higher fees) live
//!   in their original's entry; whichever of them lands settles it ([`fate`], [`settle`]), and
//!   the others are recorded as replaced.
//!
//! Every step is idempotent, so a crash during recovery is recovered by the next pass.
use crate::actions::confirmation_settings;
use crate::state::AppState;
use custos_core::{
    AuditEntry, AuditOutcome, Chain, ChainAdapter, ChainError, Commitment, Confirmation,
    InFlightTx, StoreError, TxFate,
};
use serde_json::json;
use std::time::Duration;

/// Rows looked at per pass and kind.
const BATCH: u32 = 200;

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// In-flight transactions found landed and settled.
    pub landed: u32,
    /// In-flight transactions found dropped and settled.
    pub dropped: u32,
    /// In-flight transactions still pending.
    pub pending: u32,
    /// Orphaned idempotency claims released.
    pub claims_released: u32,
    /// Orphaned reservations released.
    pub reservations_released: u32,
}

/// How old a dead instance's claim or reservation must be before it counts as orphaned:
/// SQLite has one server per data directory, so at once; a shared PostgreSQL may have live
/// replicas, so only after the configured time.
fn orphan_age_ms(state: &AppState) -> i64 {
    let sqlite = !state.cfg.storage.url.starts_with("postgres");
    let secs = if sqlite {
        0
    } else {
        state.cfg.server.orphan_after_seconds
    };
    i64::try_from(secs)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000)
}

/// How long after a live request wrote a journal entry it may still be finishing it itself:
/// its chain's confirmation wait and a margin. Recovery must not settle an entry under a live
/// request, or the outcome would be recorded twice.
const LIVE_MARGIN_MS: i64 = 30_000;

/// Whether recovery may settle `tx` now: an entry of a dead instance once it counts as
/// orphaned (at once with SQLite), one of this instance's own requests once that request can
/// no longer be running (`own_limit_ms` after it was written).
fn ripe(tx: &InFlightTx, instance: &str, now_ms: i64, own_limit_ms: i64, orphan_ms: i64) -> bool {
    // A replacement's request is live like the original's was.
    let newest = tx
        .replacements
        .iter()
        .map(|r| r.created_at_ms)
        .fold(tx.created_at_ms, i64::max);
    let age = now_ms.saturating_sub(newest);
    if tx.owner == instance {
        age >= own_limit_ms
    } else {
        age >= orphan_ms
    }
}

/// One recovery pass.
pub async fn pass(state: &AppState) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let now = state.clock.now_ms();
    for tx in state.store.in_flight_list(BATCH).await? {
        let Some(adapter) = state.chains.adapter(tx.chain).cloned() else {
            report.pending += 1;
            continue;
        };
        let (commitment, wait) = confirmation_settings(state, tx.chain);
        let own_limit = i64::try_from(wait.as_millis())
            .unwrap_or(i64::MAX)
            .saturating_add(LIVE_MARGIN_MS);
        if !ripe(&tx, &state.instance, now, own_limit, orphan_age_ms(state)) {
            report.pending += 1;
            continue;
        }
        match fate(adapter.as_ref(), &tx, commitment).await {
            Ok((TxFate::Landed(c), id)) => {
                settle(state, &tx, Some((&c, &id)), true).await?;
                report.landed += 1;
            }
            Ok((TxFate::Dropped(why), _)) => {
                tracing::warn!(tx = %tx.tx_id, reason = %why, "in-flight transaction dropped");
                settle(state, &tx, None, true).await?;
                report.dropped += 1;
            }
            Ok((TxFate::Pending, _)) => report.pending += 1,
            Err(e) => {
                tracing::warn!(tx = %tx.tx_id, error = %e, "cannot reconcile yet");
                report.pending += 1;
            }
        }
    }
    let before = now.saturating_sub(orphan_age_ms(state));
    for claim in state
        .store
        .idempotency_orphans(&state.instance, before, BATCH)
        .await?
    {
        state
            .store
            .idempotency_abandon(&claim.scope, &claim.key)
            .await?;
        report.claims_released += 1;
    }
    for id in state
        .store
        .budget_orphans(&state.instance, before, BATCH)
        .await?
    {
        if state.store.budget_release(&id).await? {
            report.reservations_released += 1;
        }
    }
    if report != Report::default() {
        tracing::info!(?report, "recovery pass");
    }
    Ok(report)
}

/// What became of an entry's transaction: the first of its candidates (the original and its
/// replacements, which share one nonce) found on chain; else the newest one the chain still
/// takes, re-broadcast; dropped only when the chain refuses every one of them for good and none
/// landed meanwhile. Also names the candidate concerned.
pub(crate) async fn fate(
    adapter: &dyn ChainAdapter,
    tx: &InFlightTx,
    commitment: Commitment,
) -> Result<(TxFate, String), ChainError> {
    if tx.replacements.is_empty() {
        let f = adapter
            .reconcile(&tx.signed_tx, &tx.tx_id, commitment)
            .await?;
        return Ok((f, tx.tx_id.clone()));
    }
    let landed = |id: String| async move {
        match adapter.confirm(&id, commitment, Duration::ZERO).await {
            Ok(c) => Ok(Some((c, id))),
            Err(ChainError::Timeout(_)) => Ok(None),
            Err(e) => Err(e),
        }
    };
    for c in tx.candidates() {
        if let Some((conf, id)) = landed(c.tx_id.to_owned()).await? {
            return Ok((TxFate::Landed(conf), id));
        }
    }
    let mut why = String::new();
    for c in tx.candidates() {
        match adapter.reconcile(c.signed_tx, c.tx_id, commitment).await? {
            TxFate::Dropped(w) => why = w,
            other => return Ok((other, c.tx_id.to_owned())),
        }
    }
    for c in tx.candidates() {
        if let Some((conf, id)) = landed(c.tx_id.to_owned()).await? {
            return Ok((TxFate::Landed(conf), id));
        }
    }
    Ok((TxFate::Dropped(why), tx.tx_id.clone()))
}

/// Finishes the books of an in-flight entry: `landed` names the confirmation and the candidate
/// that landed (`None`: none ever will). Its outcome is audited (unless already), the other
/// candidates are recorded as replaced, the request's idempotency claim is answered (or
/// released), and the reservation is committed — unless what landed failed, or is a cancel —
/// or released, and the entry removed. Returns the outcome record's id. `recovered` marks the
/// record as written by recovery rather than by a request.
pub(crate) async fn settle(
    state: &AppState,
    tx: &InFlightTx,
    landed: Option<(&Confirmation, &str)>,
    recovered: bool,
) -> Result<u64, StoreError> {
    let landed_id = landed.map_or(tx.tx_id.as_str(), |(_, id)| id);
    let ok = landed.is_some_and(|(c, _)| c.error.is_none());
    let reason = match landed {
        Some((Confirmation { error: None, .. }, _)) => None,
        Some((Confirmation { error: Some(e), .. }, _)) => Some(format!(
            "transaction {landed_id} landed but failed on chain: {e}"
        )),
        None => Some(format!(
            "transaction {landed_id} can never land; nothing was spent"
        )),
    };
    let status: u16 = match landed {
        Some((Confirmation { error: None, .. }, _)) => 200,
        Some(_) => 422,
        None => 503,
    };
    // The request may have written the outcome before it died; never write it twice.
    let existing = state
        .store
        .audit_by_tx(landed_id)
        .await?
        .into_iter()
        .find(|r| r.entry.action == tx.action);
    let mut params = json!({"chain": tx.chain, "recovered": recovered});
    if landed_id != tx.tx_id {
        params["replaces"] = json!(tx.tx_id);
    }
    let entry = |action: String,
                 tx_id: &str,
                 outcome: AuditOutcome,
                 status: u16,
                 reason: Option<String>,
                 params: serde_json::Value| AuditEntry {
        time_ms: state.clock.now_ms(),
        agent_id: Some(tx.agent),
        operator: None,
        endpoint: tx.endpoint.clone(),
        action,
        params,
        usd_amount: Some(tx.usd.to_string()),
        token_amounts: json!([]),
        tx: Some(tx_id.to_owned()),
        outcome,
        status,
        reason,
        request_id: tx.request_id.clone(),
    };
    let audit_id = match existing {
        Some(r) => r.id,
        None => {
            let outcome = if ok {
                AuditOutcome::Success
            } else {
                AuditOutcome::Error
            };
            append(
                state,
                entry(
                    tx.action.clone(),
                    landed_id,
                    outcome,
                    status,
                    reason.clone(),
                    params,
                ),
            )
            .await?
        }
    };
    // The candidates that lost the nonce to the one that landed.
    let replaced = format!("{}.replaced", tx.action);
    for c in tx.candidates() {
        if landed.is_none() || c.tx_id == landed_id {
            continue;
        }
        let done = state
            .store
            .audit_by_tx(c.tx_id)
            .await?
            .iter()
            .any(|r| r.entry.action == replaced);
        if !done {
            append(
                state,
                entry(
                    replaced.clone(),
                    c.tx_id,
                    AuditOutcome::Error,
                    409,
                    Some(format!("replaced by {landed_id}; never landed")),
                    json!({"chain": tx.chain, "replaced_by": landed_id}),
                ),
            )
            .await?;
        }
    }
    // The claim is answered before the journal entry goes: once the entry is gone nothing
    // stops the claim from being released as an orphan.
    if let Some(claim) = &tx.idempotency {
        match landed {
            Some((c, id)) => {
                let body = answer(tx, id, c, audit_id, reason.as_deref());
                state
                    .store
                    .idempotency_complete(&claim.scope, &claim.key, status, body.as_bytes())
                    .await?;
            }
            None => {
                state
                    .store
                    .idempotency_abandon(&claim.scope, &claim.key)
                    .await?
            }
        }
    }
    state
        .store
        .in_flight_settle(&tx.tx_id, ok && tx.spends(landed_id), state.clock.now_ms())
        .await?;
    Ok(audit_id)
}

/// The stored answer for a retry of the request, in the shape the request itself would have
/// given (naming the replacement when one landed instead).
async fn append(state: &AppState, e: AuditEntry) -> Result<u64, StoreError> {
    Ok(state
        .audit
        .append(e)
        .await
        .map_err(|e| StoreError::Database(format!("audit: {e}")))?
        .id)
}

fn answer(
    tx: &InFlightTx,
    landed_id: &str,
    c: &Confirmation,
    audit_id: u64,
    reason: Option<&str>,
) -> String {
    match reason {
        None => {
            let place = if matches!(tx.chain, Chain::Evm(_)) {
                "block"
            } else {
                "slot"
            };
            let mut body = json!({"status": "confirmed", "tx": landed_id, "usd_value": tx.usd.to_string(), "audit_id": audit_id, "recovered": true});
            if landed_id != tx.tx_id {
                body["replaces"] = json!(tx.tx_id);
                body["kind"] = json!(tx
                    .replacements
                    .iter()
                    .find(|r| r.tx_id == landed_id)
                    .map(|r| r.kind.as_str()));
            }
            body[place] = json!(c.slot);
            body.to_string()
        }
        Some(r) => {
            json!({"error": {"code": "invalid_request", "message": r, "field": "transaction"}})
                .to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(owner: &str, created_at_ms: i64) -> InFlightTx {
        InFlightTx {
            tx_id: "t".into(),
            chain: Chain::Solana,
            agent: custos_core::AgentId::new_random(),
            signed_tx: vec![],
            last_valid_block_height: None,
            reservation: "r".into(),
            idempotency: None,
            action: "transfer".into(),
            usd: custos_core::Decimal::ZERO,
            request_id: "q".into(),
            endpoint: "e".into(),
            created_at_ms,
            owner: owner.into(),
            replacements: Vec::new(),
        }
    }

    #[test]
    fn live_requests_keep_their_entries_and_dead_ones_are_settled() {
        // This instance's request may still be confirming for 60 s: hands off until then.
        assert!(!ripe(&entry("me", 1_000), "me", 60_999, 60_000, 0));
        assert!(ripe(&entry("me", 1_000), "me", 61_000, 60_000, 0));
        // A dead instance's entry on SQLite (orphaned at once).
        assert!(ripe(&entry("dead", 1_000), "me", 1_000, 60_000, 0));
        // Another replica's, on PostgreSQL: only once it counts as orphaned.
        assert!(!ripe(
            &entry("other", 1_000),
            "me",
            500_000,
            60_000,
            600_000
        ));
        assert!(ripe(&entry("other", 1_000), "me", 601_000, 60_000, 600_000));
    }
}
