//! Replacing a pending transaction: `POST /v1/wallets/me/transactions/{tx}/speed-up` and
//! `…/cancel`. EVM only: a Solana transaction lands or expires with its blockhash.
//!
//! The pending transaction is found in the in-flight journal (one whose outcome is on the books
//! has nothing left to replace). The replacement takes the same nonce with both fees raised
//! (`custos_chains::evm::adapter::replacement_fees`): the same call for a speed-up, nothing sent
//! to the wallet itself for a cancel. It goes through the pipeline like any transaction:
//! simulated, judged under the agent's *current* policy — with the usage minus the original's
//! reservation, since only one of the two can land — signed in the custody boundary (which judges
//! it again), recorded, added to the journal entry **before** it is broadcast, sent, confirmed.
//! The entry keeps one reservation for all of them and is settled by whichever lands
//! ([`crate::recovery::settle`]): the original request's `Idempotency-Key` then answers with the
//! transaction that did, the others are recorded as `replaced`, and a cancel that lands releases
//! the reservation (nothing was spent but its fee).
use super::{agent_address, confirmation_settings, decide, price, simulate, usage, Actor, Plan};
use crate::audit_info::Audited;
use crate::error::ApiError;
use crate::state::AppState;
use axum::response::{IntoResponse, Response};
use axum::Json;
use custos_core::{
    Action, Agent, AssetId, AuditOutcome, ChainError, Decimal, InFlightTx, Intent, Replacement,
    ReplacementKind,
};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

/// The fee rise used when the body names none, percent.
pub const DEFAULT_BUMP_PERCENT: u32 = 25;
/// The smallest rise nodes accept for a replacement, percent.
pub const MIN_BUMP_PERCENT: u32 = 10;
/// The largest rise accepted in one step, percent.
pub const MAX_BUMP_PERCENT: u32 = 500;
/// Journal entries looked through for the transaction (only unresolved ones are there).
const JOURNAL_SCAN: u32 = 10_000;

/// The body of a speed-up or cancel (optional: `{}` or none at all).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceBody {
    /// How much both fees rise at least, percent of the pending transaction's (10-500, default
    /// 25); never below what a new transaction would pay now, never above the chain's caps.
    #[schema(example = 25, minimum = 10, maximum = 500)]
    pub fee_bump_percent: Option<u32>,
}

/// The fee rise asked for, checked.
pub fn validate(body: &ReplaceBody) -> Result<u32, ApiError> {
    let bump = body.fee_bump_percent.unwrap_or(DEFAULT_BUMP_PERCENT);
    if (MIN_BUMP_PERCENT..=MAX_BUMP_PERCENT).contains(&bump) {
        Ok(bump)
    } else {
        Err(ApiError::invalid(
            "fee_bump_percent",
            format!("must be between {MIN_BUMP_PERCENT} and {MAX_BUMP_PERCENT} (nodes take a replacement only when both fees rise by 10 % or more)"),
        ))
    }
}

/// The journal entry holding the agent's transaction `tx` (the original or a replacement), or
/// why there is nothing to replace.
pub async fn pending_entry(
    state: &AppState,
    agent: &Agent,
    tx: &str,
) -> Result<InFlightTx, ApiError> {
    let found = state
        .store
        .in_flight_list(JOURNAL_SCAN)
        .await?
        .into_iter()
        .find(|e| e.agent == agent.id && e.names(tx));
    if let Some(e) = found {
        return Ok(e);
    }
    let known = state
        .store
        .audit_by_tx(tx)
        .await?
        .iter()
        .any(|r| r.entry.agent_id == Some(agent.id));
    if known {
        Err(ApiError::invalid(
            "tx",
            "this transaction is not pending: its outcome is on the books (see GET /v1/wallets/me/transactions/{tx}), so there is nothing to replace",
        ))
    } else {
        Err(ApiError::not_found("no such transaction of this wallet"))
    }
}

/// A chain refusal of the replacement, against the field it concerns.
fn refused(e: ChainError) -> ApiError {
    match e {
        ChainError::InvalidInput(m) | ChainError::Rejected(m) => {
            let lower = m.to_ascii_lowercase();
            if let Some(rest) = m.strip_prefix("fee_bump_percent: ") {
                ApiError::invalid("fee_bump_percent", rest)
            } else if lower.contains("underpriced") {
                ApiError::invalid(
                    "fee_bump_percent",
                    format!("the node refused the replacement as underpriced ({m}); raise fee_bump_percent"),
                )
            } else if lower.contains("nonce too low") {
                ApiError::invalid(
                    "tx",
                    "the transaction (or an earlier replacement) landed meanwhile: nothing to replace",
                )
            } else {
                ApiError::invalid("tx", m.strip_prefix("tx: ").unwrap_or(&m).to_owned())
            }
        }
        other => super::chain_error("tx", other),
    }
}

/// The intent the original transaction was judged under, as its signed record names it; a
/// cancel sends nothing to no one.
async fn intent_of(
    state: &AppState,
    entry: &InFlightTx,
    kind: ReplacementKind,
    native: &str,
) -> Result<(Intent, u32), ApiError> {
    let action: Action = entry
        .action
        .parse()
        .map_err(|_| ApiError::internal(format!("journal action `{}`", entry.action)))?;
    let signed = format!("{}.signed", entry.action);
    let params = state
        .store
        .audit_by_tx(&entry.tx_id)
        .await?
        .into_iter()
        .find(|r| r.entry.action == signed)
        .map(|r| r.entry.params)
        .unwrap_or_default();
    let text = |k: &str| params.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    if kind == ReplacementKind::Cancel {
        let asset = AssetId::new(native.to_owned());
        let intent = Intent {
            action,
            chain: entry.chain,
            recipient: None,
            declared_usd: price(state, &asset).await.times(Decimal::ZERO),
            asset: Some(asset),
            amount: Decimal::ZERO,
        };
        return Ok((intent, 0));
    }
    let amount = text("amount")
        .and_then(|a| a.parse::<Decimal>().ok())
        .unwrap_or(Decimal::ZERO);
    let asset = text("asset").map(AssetId::new);
    let declared_usd = match &asset {
        Some(a) => price(state, a).await.times(amount),
        None => custos_core::UsdValue::Known(Decimal::ZERO),
    };
    let approvals = params
        .get("approvals")
        .and_then(serde_json::Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0);
    Ok((
        Intent {
            action,
            chain: entry.chain,
            recipient: text("to"),
            asset,
            amount,
            declared_usd,
        },
        approvals,
    ))
}

/// Adds `r` to the entry of `tx_id` as it is now (retrying when something else changed it).
async fn journal(
    state: &AppState,
    agent: &Agent,
    tx_id: &str,
    r: &Replacement,
) -> Result<InFlightTx, ApiError> {
    for _ in 0..5 {
        let cur = pending_entry(state, agent, tx_id).await?;
        let mut next = cur.clone();
        next.replacements.push(r.clone());
        if state.store.in_flight_swap(&cur, &next).await? {
            return Ok(next);
        }
    }
    Err(ApiError::unavailable(
        "the transaction's journal entry kept changing; try again",
    ))
}

/// Takes `r` out of the entry again after the node refused it (best effort: a refused
/// replacement left in the entry can never land, so it only costs recovery a look).
async fn unjournal(state: &AppState, agent: &Agent, r: &Replacement) {
    for _ in 0..5 {
        let Ok(cur) = pending_entry(state, agent, &r.tx_id).await else {
            return;
        };
        let mut next = cur.clone();
        next.replacements.retain(|x| x.tx_id != r.tx_id);
        if matches!(state.store.in_flight_swap(&cur, &next).await, Ok(true)) {
            return;
        }
    }
}

/// Speeds up or cancels the agent's pending transaction `tx`; see the module docs.
pub async fn run(
    state: &AppState,
    actor: &Actor<'_>,
    agent: Agent,
    tx: &str,
    kind: ReplacementKind,
    bump_percent: u32,
) -> Result<Response, ApiError> {
    let entry = pending_entry(state, &agent, tx).await?;
    let adapter = state.chains.adapter(entry.chain).cloned().ok_or_else(|| {
        ApiError::invalid(
            "tx",
            format!("`{}` is not enabled on this server", entry.chain),
        )
    })?;
    let (commitment, wait) = confirmation_settings(state, entry.chain);
    // On chain already: nothing to replace (the request or recovery finishes its books).
    for c in entry.candidates() {
        if let Ok(conf) = adapter.confirm(c.tx_id, commitment, Duration::ZERO).await {
            return Err(ApiError::invalid(
                "tx",
                format!(
                    "transaction {} already landed (block {}): nothing to replace",
                    c.tx_id,
                    conf.slot.unwrap_or_default()
                ),
            ));
        }
    }
    let newest = entry
        .candidates()
        .first()
        .map(|c| (c.tx_id.to_owned(), c.signed_tx.to_vec()))
        .ok_or_else(|| ApiError::internal("journal entry without a transaction"))?;
    let from = agent_address(&agent, &adapter)?;
    let unsigned = adapter
        .replacement(&newest.1, &from, kind, bump_percent)
        .await
        .map_err(refused)?;
    let (intent, approvals) = intent_of(state, &entry, kind, adapter.native_symbol()).await?;
    let policy = state.policy_of(&agent)?;
    let mut now = usage(state, &agent).await?;
    super::precheck(&policy, &intent, &now)?;
    let (simulated, effects) = simulate(state, &adapter, &unsigned, &from).await?;
    // Only one of the original and its replacement can land: the original's reservation is
    // not counted against its own replacement.
    now.spent_usd_24h = now.spent_usd_24h.saturating_sub(entry.usd);
    now.tx_last_hour = now.tx_last_hour.saturating_sub(1);
    let plan = Plan {
        agent,
        policy,
        intent,
        tx: unsigned,
        simulated,
        effects,
        usage: now,
        extra: None,
        bucket: None,
    };
    let approved = match decide(&plan, adapter.as_ref(), approvals) {
        Ok(a) => a,
        Err(Ok(quorum)) => {
            return Err(ApiError::policy_denied(vec![(
                custos_policy::rules::APPROVALS_ABOVE_USD.into(),
                format!("the replacement would need {quorum} approvals under the current policy; a replacement cannot wait for them (the original stays pending)"),
            )]))
        }
        Err(Err(e)) => return Err(e),
    };
    let usd = approved.get().usd_value;
    let sig = state
        .custody
        .sign_transaction(
            &approved,
            plan.agent.id,
            adapter.as_ref(),
            &plan.tx.tx_bytes,
        )
        .await?;
    state
        .metrics
        .signatures
        .with_label_values(&[adapter.key_scheme().as_str()])
        .inc();
    let signed = adapter
        .attach_signature(&plan.tx.tx_bytes, &plan.tx.signer, &sig.bytes)
        .map_err(|e| super::chain_error("transaction", e))?;
    let tx_id = adapter
        .tx_id(&signed)
        .map_err(|e| super::chain_error("transaction", e))?;
    let params = json!({"chain": plan.intent.chain, "to": plan.intent.recipient, "asset": plan.intent.asset.as_ref().map(ToString::to_string), "amount": plan.intent.amount.to_string(), "approvals": approved.get().human_approvals, "programs": plan.simulated.programs, "broadcast": true, "replaces": newest.0, "kind": kind.as_str()});
    let tokens = super::token_amounts(&plan.simulated.balance_changes);
    let steps = super::TxRecord {
        params,
        subject: plan.agent.id,
        tx: tx_id.clone(),
        usd: usd.to_string(),
        tokens,
    };
    let record = |outcome: AuditOutcome, status: u16, action: String, reason: Option<String>| {
        steps.entry(state, actor, outcome, status, &action, reason)
    };
    // Fail closed: a replacement that is not on record and in the journal is never broadcast.
    super::on_record(
        state,
        record(
            AuditOutcome::Pending,
            202,
            format!("{}.signed", entry.action),
            Some(format!("signed; replaces {} ({})", newest.0, kind.as_str())),
        ),
        "not broadcasting the replacement",
    )
    .await?;
    let replacement = Replacement {
        tx_id: tx_id.clone(),
        kind,
        signed_tx: signed.clone(),
        request_id: actor.request_id.to_owned(),
        created_at_ms: state.clock.now_ms(),
    };
    let journaled = journal(state, &plan.agent, &entry.tx_id, &replacement).await?;
    match adapter.submit(&signed).await {
        Ok(_) => {}
        Err(e @ (ChainError::Rejected(_) | ChainError::InvalidInput(_))) => {
            unjournal(state, &plan.agent, &replacement).await;
            let err = refused(e);
            let stored = state
                .audit
                .append(record(
                    AuditOutcome::Error,
                    err.status.as_u16(),
                    entry.action.clone(),
                    Some(format!("not sent: {}", err.message)),
                ))
                .await;
            let mut r = err.into_response();
            if let Ok(s) = stored {
                r.extensions_mut().insert(Audited(s.id));
            }
            return Ok(r);
        }
        Err(e) => {
            tracing::warn!(tx = %tx_id, error = %e, "replacement may not have been sent; left to recovery");
            return Err(ApiError::unavailable(format!(
                "the replacement {tx_id} may or may not have reached the node; the transaction stays pending (see GET /v1/wallets/me/transactions/{tx_id})"
            )));
        }
    }
    let replaces = newest.0;
    match adapter.confirm(&tx_id, commitment, wait).await {
        Ok(conf) => {
            let audit_id = crate::recovery::settle(state, &journaled, Some((&conf, &tx_id)), false)
                .await?;
            let mut r = if let Some(err) = &conf.error {
                ApiError::invalid(
                    "transaction",
                    format!("transaction {tx_id} landed but failed on chain: {err}"),
                )
                .into_response()
            } else {
                Json(json!({"status": "confirmed", "tx": tx_id, "replaces": replaces, "kind": kind.as_str(), "block": conf.slot, "usd_value": usd.to_string(), "audit_id": audit_id})).into_response()
            };
            r.extensions_mut().insert(Audited(audit_id));
            Ok(r)
        }
        // Sent, not mined yet: the entry holds it; recovery (or a later look) finishes it.
        Err(_) => Ok((
            axum::http::StatusCode::ACCEPTED,
            Json(json!({"status": "pending", "tx": tx_id, "replaces": replaces, "kind": kind.as_str(), "usd_value": usd.to_string()})),
        )
            .into_response()),
    }
}
