//! The agent's transactions, read back from its own audit trail: a list (one row per transaction,
//! its latest recorded outcome) and one transaction's full story — every audit record naming it
//! and what the chain says about it now; and the replacement of a pending one (speed-up, cancel).
use crate::actions::replace::{self, ReplaceBody};
use crate::actions::Actor;
use crate::audit_info::{AuditInfo, Audited, RequestId};
use crate::auth::AgentCtx;
use crate::error::ApiError;
use crate::extract::{parse_json, IdempotencyKey, OptionalJsonBytes};
use crate::idempotency;
use crate::routes::{Page, StrictQuery};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use custos_core::{
    ApiScope, AuditOutcome, Chain, ChainError, Commitment, ReplacementKind, StoredAudit,
};
use serde_json::json;
use std::time::Duration;

/// Audit records scanned for one page of the list, at most (most of an agent's records are
/// reads, not transactions).
const SCAN_LIMIT: u32 = 10_000;
/// Longest transaction id accepted (an EVM hash is 66 characters, a Solana signature 88).
const MAX_TX_ID: usize = 128;

/// What a transaction's latest record says about it.
pub(crate) fn status_of(r: &StoredAudit) -> &'static str {
    if r.entry.action.ends_with(".replaced") {
        return "replaced";
    }
    match (r.entry.outcome, r.entry.action.ends_with(".signed")) {
        (AuditOutcome::Pending, true) => "broadcast",
        (AuditOutcome::Pending, false) => "pending",
        (AuditOutcome::Success, _) if r.entry.status == 200 && is_unbroadcast(r) => "signed",
        (AuditOutcome::Success, _) => "confirmed",
        (AuditOutcome::Error, _) => "failed",
        (AuditOutcome::Denied, _) => "denied",
        (AuditOutcome::Invalid, _) => "invalid",
    }
}

/// A `sign` whose signed transaction went back to the agent instead of to the chain.
fn is_unbroadcast(r: &StoredAudit) -> bool {
    r.entry.params.get("broadcast") == Some(&serde_json::Value::Bool(false))
}

/// The record's action without the suffix of its broadcast (`.signed`) or replaced step.
pub(crate) fn base_action(r: &StoredAudit) -> &str {
    let a = &r.entry.action;
    a.strip_suffix(".signed")
        .or_else(|| a.strip_suffix(".replaced"))
        .unwrap_or(a)
}

/// The transaction that replaced this one, if a replacement landed in its place.
fn replaced_by(records: &[&StoredAudit]) -> Option<String> {
    records
        .iter()
        .rev()
        .find(|r| r.entry.action.ends_with(".replaced"))
        .and_then(|r| r.entry.params.get("replaced_by"))
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

/// One list row from a transaction's records (ascending).
fn row(tx: &str, records: &[&StoredAudit]) -> serde_json::Value {
    let (first, last) = match (records.first(), records.last()) {
        (Some(f), Some(l)) => (f, l),
        _ => return json!({"tx": tx}),
    };
    json!({
        "tx": tx,
        "action": base_action(first),
        "chain": first.entry.params.get("chain"),
        "to": first.entry.params.get("to"),
        "asset": first.entry.params.get("asset"),
        "amount": first.entry.params.get("amount"),
        "status": status_of(last),
        "replaces": first.entry.params.get("replaces"),
        "replaced_by": replaced_by(records),
        "usd_value": last.entry.usd_amount,
        "time_ms": first.entry.time_ms,
        "audit_ids": records.iter().map(|r| r.id).collect::<Vec<_>>(),
    })
}

/// The records that concern a chain transaction (a signed message also carries its signature
/// in `tx`, but is not one).
pub(crate) fn is_transaction(r: &StoredAudit) -> bool {
    r.entry.tx.is_some() && r.entry.params.get("chain").and_then(|c| c.as_str()) != Some("message")
}

/// The caller's transactions, oldest first, from `after` (an audit record id): each with the
/// outcome of its latest record in the window. `next_after` continues the list.
#[utoipa::path(get, path = "/v1/wallets/me/transactions", tag = "wallet", security(("bearer" = [])),
    params(("limit" = Option<u32>, Query, description = "transactions, 1-1000 (default 100)"), ("after" = Option<u64>, Query, description = "audit record id to continue after")),
    responses((status = 200, description = "`{transactions: [{tx, action, chain, to, asset, amount, status, replaces, replaced_by, usd_value, time_ms, audit_ids}], next_after}` (`to`, `asset`, `amount` as the request named them; null where it named none; `status`: broadcast, pending, signed, confirmed, failed, replaced, denied, invalid; `replaces`/`replaced_by` link a speed-up or cancel and the transaction it replaced)")))]
pub async fn list(
    State(state): State<AppState>,
    ctx: AgentCtx,
    StrictQuery(page): StrictQuery<Page>,
) -> Result<Response, ApiError> {
    ctx.require(custos_core::ApiScope::WalletRead)?;
    let want = page.limit()? as usize;
    let mut cursor = page.after()?;
    let mut order: Vec<String> = vec![];
    let mut by_tx: std::collections::HashMap<String, Vec<StoredAudit>> = Default::default();
    let mut scanned = 0u32;
    let mut exhausted = false;
    'scan: loop {
        let recs = state
            .store
            .audit_page(Some(ctx.agent.id), cursor, 1000)
            .await?;
        let full = recs.len() == 1000;
        for r in recs {
            let id = r.id;
            if let Some(tx) = r.entry.tx.clone().filter(|_| is_transaction(&r)) {
                if !by_tx.contains_key(&tx) {
                    if order.len() == want {
                        // This transaction begins the next page: the cursor stays before it.
                        break 'scan;
                    }
                    order.push(tx.clone());
                }
                by_tx.entry(tx).or_default().push(r);
            }
            cursor = id;
            scanned += 1;
        }
        if !full {
            exhausted = true;
            break;
        }
        if scanned >= SCAN_LIMIT {
            break;
        }
    }
    let rows: Vec<_> = order
        .iter()
        .map(|tx| {
            let recs: Vec<&StoredAudit> = by_tx
                .get(tx)
                .map(|v| v.iter().collect())
                .unwrap_or_default();
            row(tx, &recs)
        })
        .collect();
    let mut r = Json(json!({
        "transactions": rows,
        "next_after": if exhausted { None } else { Some(cursor) },
    }))
    .into_response();
    r.extensions_mut()
        .insert(AuditInfo::action("transactions.list"));
    Ok(r)
}

/// Checks a transaction id's shape: hex (`0x…`) or base58, not too long.
fn tx_param(raw: &str) -> Result<&str, ApiError> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_TX_ID
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'x');
    if ok {
        Ok(raw)
    } else {
        Err(ApiError::invalid(
            "tx",
            "not a transaction id (a Solana signature or an 0x-prefixed EVM hash)",
        ))
    }
}

/// One of the caller's transactions: its audit records and what the chain says now
/// (`chain_status`: `confirmed`, `failed` (landed with an error), `pending` (an EVM transaction
/// still in the node's pool), `replaced` (a speed-up or cancel of it landed instead),
/// `not_found` (not on chain, or not yet), or `unknown` when the chain cannot be asked); a
/// pending transaction that will not be mined as it is carries `stuck`, saying why (its fee cap
/// is below the base fee, or it waits behind a missing nonce).
#[utoipa::path(get, path = "/v1/wallets/me/transactions/{tx}", tag = "wallet", security(("bearer" = [])),
    params(("tx" = String, Path, pattern = "^[0-9A-Za-z]{1,128}$", description = "Solana signature or EVM transaction hash")),
    responses((status = 200, description = "`{tx, action, chain, status, chain_status, stuck?, slot, chain_error, replaces, replaced_by, records}`"), (status = 404, description = "Not one of the caller's transactions")))]
pub async fn status(
    State(state): State<AppState>,
    ctx: AgentCtx,
    Path(tx): Path<String>,
) -> Result<Response, ApiError> {
    ctx.require(custos_core::ApiScope::WalletRead)?;
    let tx = tx_param(&tx)?;
    let records: Vec<StoredAudit> = state
        .store
        .audit_by_tx(tx)
        .await?
        .into_iter()
        .filter(|r| r.entry.agent_id == Some(ctx.agent.id) && is_transaction(r))
        .collect();
    let refs: Vec<&StoredAudit> = records.iter().collect();
    let Some(first) = refs.first() else {
        return Err(ApiError::not_found("no such transaction of this wallet"));
    };
    let chain: Option<Chain> = first
        .entry
        .params
        .get("chain")
        .and_then(|c| c.as_str())
        .and_then(|c| c.parse().ok());
    let mut body = row(tx, &refs);
    let (chain_status, slot, chain_error) = match chain.and_then(|c| state.chains.adapter(c)) {
        None => ("unknown", None, None),
        Some(adapter) => match adapter
            .confirm(tx, Commitment::Confirmed, Duration::ZERO)
            .await
        {
            Ok(c) if c.error.is_none() => ("confirmed", c.slot, None),
            Ok(c) => ("failed", c.slot, c.error),
            // Not included: still in the node's pool (EVM), or unknown to the chain (dropped,
            // replaced, or a Solana transaction whose blockhash expired).
            Err(ChainError::Timeout(_)) => match adapter.is_pending(tx).await {
                Ok(true) => ("pending", None, None),
                _ if replaced_by(&refs).is_some() => ("replaced", None, None),
                _ => ("not_found", None, None),
            },
            Err(ChainError::InvalidInput(_)) => ("not_found", None, None),
            Err(e) => {
                tracing::warn!(error = %e, "transaction status: chain not answering");
                ("unknown", None, None)
            }
        },
    };
    // A pending transaction that will not be included as it is: say why.
    if chain_status == "pending" {
        if let Some(adapter) = chain.and_then(|c| state.chains.adapter(c)) {
            if let Ok(Some(why)) = adapter.why_stuck(tx).await {
                body["stuck"] = json!(why);
            }
        }
    }
    body["chain_status"] = json!(chain_status);
    body["slot"] = json!(slot);
    body["chain_error"] = json!(chain_error);
    body["records"] = json!(records);
    let mut r = Json(body).into_response();
    r.extensions_mut()
        .insert(AuditInfo::action("transactions.get"));
    Ok(r)
}

/// Speeds up or cancels (`kind`) the caller's pending transaction `tx`: see
/// [`crate::actions::replace`].
#[allow(clippy::too_many_arguments)]
async fn replace(
    state: AppState,
    ctx: AgentCtx,
    rid: RequestId,
    tx: String,
    kind: ReplacementKind,
    key: Option<String>,
    method: Method,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let tx = tx_param(&tx)?.to_owned();
    let req: ReplaceBody = if body.iter().all(u8::is_ascii_whitespace) {
        ReplaceBody::default()
    } else {
        parse_json(&body)?
    };
    let bump = replace::validate(&req)?;
    let entry = replace::pending_entry(&state, &ctx.agent, &tx).await?;
    // The credential must be allowed what the transaction does.
    if let Some(scope) = ApiScope::for_action(&entry.action) {
        ctx.require(scope)?;
    }
    let path = format!("/v1/wallets/me/transactions/{tx}/{}", kind.as_str());
    let endpoint = format!(
        "{method} /v1/wallets/me/transactions/{{tx}}/{}",
        kind.as_str().replace('_', "-")
    );
    let hash = idempotency::request_hash(method.as_str(), &path, &body);
    let scope = format!("agent:{}", ctx.agent.id);
    let info = AuditInfo::with(
        &format!("transactions.{}", kind.as_str()),
        json!({"tx": tx, "fee_bump_percent": bump}),
    );
    let st = state.clone();
    let run = || async move {
        let principal = crate::auth::Principal::Agent {
            agent: Box::new(ctx.agent.clone()),
            via: ctx.via.clone(),
        };
        let actor = Actor {
            principal: &principal,
            request_id: &rid.0,
            endpoint: &endpoint,
        };
        let mut r = replace::run(&st, &actor, ctx.agent.clone(), &tx, kind, bump)
            .await
            .unwrap_or_else(IntoResponse::into_response);
        if r.extensions().get::<Audited>().is_none() && r.extensions().get::<AuditInfo>().is_none()
        {
            r.extensions_mut().insert(info);
        }
        r
    };
    Ok(idempotency::once(&state, &scope, key.as_deref(), hash, run).await)
}

/// Speeds up the caller's pending EVM transaction: the same transaction under the same nonce
/// with both fees raised by at least `fee_bump_percent` (default 25), judged under the current
/// policy, signed in the custody boundary and sent; whichever of the two lands settles the
/// original request (its `Idempotency-Key` answers with the one that did).
#[utoipa::path(post, path = "/v1/wallets/me/transactions/{tx}/speed-up", tag = "wallet", security(("bearer" = [])),
    params(("tx" = String, Path, pattern = "^[0-9A-Za-z]{1,128}$", description = "The pending transaction (or an earlier replacement of it)"), ("Idempotency-Key" = Option<String>, Header,)),
    request_body(content = Option<ReplaceBody>, description = "Optional; `{}` or no body takes the defaults"),
    responses((status = 200, description = "Mined: `{status: confirmed, tx, replaces, kind, block, usd_value, audit_id}`"), (status = 202, description = "Sent, not mined yet: `{status: pending, tx, replaces, kind, usd_value}`"), (status = 403, description = "policy_denied"), (status = 404, description = "Not one of the caller's transactions"), (status = 422, description = "Not pending (landed, settled), not an EVM transaction, `fee_bump_percent` out of range or above the chain's fee caps")))]
#[allow(clippy::too_many_arguments)]
pub async fn speed_up(
    State(state): State<AppState>,
    ctx: AgentCtx,
    Extension(rid): Extension<RequestId>,
    Path(tx): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    method: Method,
    OptionalJsonBytes(body): OptionalJsonBytes,
) -> Result<Response, ApiError> {
    replace(
        state,
        ctx,
        rid,
        tx,
        ReplacementKind::SpeedUp,
        key,
        method,
        body,
    )
    .await
}

/// Cancels the caller's pending EVM transaction: a transfer of nothing to the wallet itself
/// under the same nonce with both fees raised; if it lands, the original never does and only
/// its fee is spent (the original's reservation is released).
#[utoipa::path(post, path = "/v1/wallets/me/transactions/{tx}/cancel", tag = "wallet", security(("bearer" = [])),
    params(("tx" = String, Path, pattern = "^[0-9A-Za-z]{1,128}$", description = "The pending transaction (or an earlier replacement of it)"), ("Idempotency-Key" = Option<String>, Header,)),
    request_body(content = Option<ReplaceBody>, description = "Optional; `{}` or no body takes the defaults"),
    responses((status = 200, description = "Mined: `{status: confirmed, tx, replaces, kind, block, usd_value, audit_id}`"), (status = 202, description = "Sent, not mined yet: `{status: pending, tx, replaces, kind, usd_value}`"), (status = 403, description = "policy_denied"), (status = 404, description = "Not one of the caller's transactions"), (status = 422, description = "Not pending (landed, settled), not an EVM transaction, `fee_bump_percent` out of range or above the chain's fee caps")))]
#[allow(clippy::too_many_arguments)]
pub async fn cancel(
    State(state): State<AppState>,
    ctx: AgentCtx,
    Extension(rid): Extension<RequestId>,
    Path(tx): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    method: Method,
    OptionalJsonBytes(body): OptionalJsonBytes,
) -> Result<Response, ApiError> {
    replace(
        state,
        ctx,
        rid,
        tx,
        ReplacementKind::Cancel,
        key,
        method,
        body,
    )
    .await
}
