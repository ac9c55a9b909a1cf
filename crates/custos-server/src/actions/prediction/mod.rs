//! `prediction`: Kalshi event contracts. An agent buys contracts (`buy`) or cancels a resting
//! order (`cancel`); its balance, positions and orders are read through
//! `GET /v1/wallets/me/prediction/…`. Every Kalshi request is signed inside the custody boundary
//! by the agent's own RSA key ([`kalshi`]).
//!
//! Before anything is signed, an order is held to the policy's `prediction` rules
//! (`custos_policy::prediction`: the `actions.prediction` toggle, `prediction.markets`,
//! `prediction.max_contracts`, `prediction.max_usd_per_order`, `limits.per_tx_usd`,
//! `approvals.above_usd`) and its most
//! possible cost (`count × limit price`; Kalshi's fees are not counted) is reserved in the
//! agent's rolling budget (`limits.daily_usd`, `limits.max_tx_per_hour` and, when set,
//! `prediction.daily_usd`), then settled to what it really cost once Kalshi says (filled below
//! its limit, or cancelled before it filled: `Store::budget_settle`). The boundary judges the same order again under the owner-signed
//! policy it holds. Orders are not parked for approval (the book moves meanwhile): one above
//! `approvals.above_usd` is refused.
pub mod kalshi;

use super::budget::reserve_in;
use super::Actor;
use crate::audit_info::AuditInfo;
use crate::error::ApiError;
use crate::pipeline::entry_for;
use crate::state::AppState;
use axum::response::{IntoResponse, Response};
use axum::Json;
use custos_core::prediction::{KalshiMethod, KalshiOrder, OutcomeSide};
use custos_core::{Agent, AuditOutcome, Decimal};
use kalshi::Failure;
use serde::Deserialize;
use serde_json::{json, Value};

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictionBody {
    /// `buy` (a limit order for contracts of one outcome) or `cancel` (a resting order).
    #[schema(example = "buy")]
    pub operation: String,
    /// `buy`: the market ticker.
    #[schema(example = "KXFED-26DEC-T4.00")]
    #[serde(default)]
    pub ticker: Option<String>,
    /// `buy`: `yes` or `no`.
    #[serde(default)]
    pub side: Option<String>,
    /// `buy`: contracts, at least 1.
    #[serde(default)]
    pub count: Option<u32>,
    /// `buy`: the most paid per contract, USD, `0.01` to `0.99` in whole cents.
    #[schema(example = "0.40")]
    #[serde(default)]
    pub limit_price: Option<String>,
    /// `cancel`: Kalshi's order id.
    #[serde(default)]
    pub order_id: Option<String>,
}

/// What the body asks for, checked.
#[derive(Debug)]
pub enum Operation {
    /// Buy contracts (the order's client id is chosen when it is sent).
    Buy {
        /// Market.
        ticker: String,
        /// Outcome.
        side: OutcomeSide,
        /// Contracts.
        count: u32,
        /// Cents per contract.
        price_cents: u32,
    },
    /// Cancel a resting order.
    Cancel {
        /// Kalshi's id.
        order_id: String,
    },
}

fn plain(field: &str, v: &str, what: &str) -> Result<(), ApiError> {
    let ok = !v.is_empty()
        && v.len() <= 100
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(field, what))
    }
}

/// Validates the body (before any side effect).
pub fn validate(body: &PredictionBody) -> Result<Operation, ApiError> {
    let unused = |fields: &[(&str, bool)], op: &str| match fields.iter().find(|(_, set)| *set) {
        Some((f, _)) => Err(ApiError::invalid(*f, format!("not used by `{op}`"))),
        None => Ok(()),
    };
    match body.operation.as_str() {
        "buy" => {
            unused(&[("order_id", body.order_id.is_some())], "buy")?;
            let ticker = body
                .ticker
                .clone()
                .ok_or_else(|| ApiError::invalid("ticker", "required for `buy`"))?;
            plain(
                "ticker",
                &ticker,
                "a Kalshi market ticker (letters, digits, '-', '_', '.')",
            )?;
            let side = match body.side.as_deref() {
                Some("yes") => OutcomeSide::Yes,
                Some("no") => OutcomeSide::No,
                _ => return Err(ApiError::invalid("side", "`yes` or `no`")),
            };
            let count = match body.count {
                Some(c) if (1..=1_000_000).contains(&c) => c,
                _ => return Err(ApiError::invalid("count", "1 to 1000000 contracts")),
            };
            let price = body
                .limit_price
                .as_deref()
                .ok_or_else(|| ApiError::invalid("limit_price", "required for `buy`"))?;
            let cents = Decimal::parse_with_precision(price.trim(), 2)
                .ok()
                .map(|d| d.atoms() / 10u128.pow(custos_core::amount::SCALE - 2))
                .filter(|c| (1..=99).contains(c))
                .and_then(|c| u32::try_from(c).ok())
                .ok_or_else(|| {
                    ApiError::invalid(
                        "limit_price",
                        "USD per contract, 0.01 to 0.99 in whole cents",
                    )
                })?;
            Ok(Operation::Buy {
                ticker,
                side,
                count,
                price_cents: cents,
            })
        }
        "cancel" => {
            unused(
                &[
                    ("ticker", body.ticker.is_some()),
                    ("side", body.side.is_some()),
                    ("count", body.count.is_some()),
                    ("limit_price", body.limit_price.is_some()),
                ],
                "cancel",
            )?;
            let order_id = body
                .order_id
                .clone()
                .ok_or_else(|| ApiError::invalid("order_id", "required for `cancel`"))?;
            plain("order_id", &order_id, "a Kalshi order id")?;
            Ok(Operation::Cancel { order_id })
        }
        _ => Err(ApiError::invalid("operation", "`buy` or `cancel`")),
    }
}

/// Runs a `prediction` request: a dry run, a refusal, or the order or cancellation at Kalshi.
pub async fn run(
    state: &AppState,
    actor: &Actor<'_>,
    agent: Agent,
    body: PredictionBody,
    dry_run: bool,
) -> Result<Response, ApiError> {
    let op = validate(&body)?;
    let policy = state.policy_of(&agent)?;
    if agent.frozen {
        return Err(super::frozen());
    }
    match op {
        Operation::Cancel { order_id } => {
            if dry_run {
                let allowed = policy.actions.prediction;
                let explanation = json!({"decision": if allowed { "allow" } else { "deny" },
                    "rules": [{"rule": "actions.prediction", "outcome": if allowed { "pass" } else { "deny" },
                               "message": if allowed { "prediction markets are on" } else { "prediction markets are off for this agent" }}]});
                return Ok(Json(
                    json!({"dry_run": true, "operation": "cancel", "explanation": explanation}),
                )
                .into_response());
            }
            let answer = kalshi::send(
                state,
                &agent,
                &policy,
                KalshiMethod::Delete,
                &format!("/portfolio/orders/{order_id}"),
                &[],
                None,
            )
            .await?;
            if !answer.status.is_success() {
                return Err(kalshi::refused(&answer, "order_id"));
            }
            let order = answer.body.get("order").cloned().unwrap_or(Value::Null);
            // What the order cost before it was cancelled is all it spent.
            settle(state, &agent, &order_id, &order).await;
            let mut r = Json(json!({"status": "canceled", "order": order})).into_response();
            r.extensions_mut().insert(AuditInfo {
                tx: Some(format!("kalshi:{order_id}")),
                ..AuditInfo::with(
                    "prediction",
                    json!({"operation": "cancel", "order_id": order_id}),
                )
            });
            Ok(r)
        }
        Operation::Buy {
            ticker,
            side,
            count,
            price_cents,
        } => {
            let order = KalshiOrder {
                ticker,
                side,
                count,
                price_cents,
                client_order_id: uuid::Uuid::new_v4().to_string(),
            };
            buy(state, actor, agent, &policy, order, dry_run).await
        }
    }
}

/// A limit buy: checked, reserved, recorded as signed, sent; the reservation is committed
/// unless Kalshi surely did not take the order.
async fn buy(
    state: &AppState,
    actor: &Actor<'_>,
    agent: Agent,
    policy: &custos_policy::PolicyDocument,
    order: KalshiOrder,
    dry_run: bool,
) -> Result<Response, ApiError> {
    let params = json!({"operation": "buy", "ticker": order.ticker, "side": order.side.as_str(),
        "count": order.count, "price_cents": order.price_cents, "client_order_id": order.client_order_id});
    if dry_run {
        let explanation = custos_policy::prediction::explain_order(policy, &order);
        let usage = super::usage(state, &agent).await?;
        return Ok(Json(json!({"dry_run": true, "explanation": explanation, "order": params,
            "spent_usd_24h": usage.spent_usd_24h.to_string(),
            "note": "the rolling caps (limits.daily_usd, prediction.daily_usd, limits.max_tx_per_hour) are checked when the order's cost is reserved"}))
        .into_response());
    }
    let cost =
        custos_policy::prediction::check_order(policy, &order).map_err(|r| super::denied(&r))?;
    let bucket = policy
        .prediction
        .daily_usd
        .map(|daily_cap| custos_core::Bucket {
            key: "prediction".into(),
            daily_cap,
        });
    let reservation = reserve_in(state, &agent, policy, cost, bucket).await?;
    // On record before the signature can be used: nothing is signed without an audit record.
    let mut entry = entry_for(
        state,
        Some(actor.principal),
        actor.endpoint,
        actor.request_id,
        202,
        AuditInfo {
            subject: Some(agent.id),
            usd: Some(cost.to_string()),
            ..AuditInfo::with("prediction.signed", params.clone())
        },
        None,
    );
    // Like a transaction's `….signed`: pending until Kalshi answers.
    entry.outcome = AuditOutcome::Pending;
    entry.reason = Some("order signed; sending it to Kalshi".into());
    let (_, reservation) = reservation.record(entry, "the order is not sent").await?;
    let tag = format!("kalshi:{}", order.client_order_id);
    let answer = match kalshi::send(
        state,
        &agent,
        policy,
        KalshiMethod::Post,
        "/portfolio/orders",
        &[],
        Some(order),
    )
    .await
    {
        Ok(a) => a,
        Err(Failure::NotSent(e)) => {
            reservation.release().await;
            return Err(e);
        }
        Err(Failure::Unknown(e)) => {
            // Kalshi may have taken it: it keeps counting against the caps.
            reservation.commit(&tag).await;
            return Err(e);
        }
    };
    if !answer.status.is_success() {
        if answer.status.is_client_error() {
            reservation.release().await;
        } else {
            reservation.commit(&tag).await;
        }
        return Err(kalshi::refused(&answer, "ticker"));
    }
    let placed = answer.body.get("order").cloned().unwrap_or(Value::Null);
    let order_id = placed["order_id"].as_str().unwrap_or_default().to_owned();
    reservation.commit(&format!("kalshi:{order_id}")).await;
    // Filled (or cancelled unfilled) at once: the budget keeps what it cost, not the limit. A
    // resting order keeps its full hold until it is cancelled.
    if placed["status"] != "resting" {
        settle(state, &agent, &order_id, &placed).await;
    }
    let mut r = Json(json!({
        "status": placed["status"].as_str().unwrap_or("placed"),
        "order_id": order_id,
        "max_cost_usd": cost.to_string(),
        "order": placed,
    }))
    .into_response();
    // On record: what it cost once Kalshi says (a resting order: the most it can cost).
    let usd = match placed["status"].as_str() {
        Some("resting") | None => cost,
        Some(_) => spent(&placed).unwrap_or(cost),
    };
    r.extensions_mut().insert(AuditInfo {
        tx: Some(format!("kalshi:{order_id}")),
        usd: Some(usd.to_string()),
        ..AuditInfo::with("prediction", params)
    });
    Ok(r)
}

/// What a Kalshi order has cost so far, from its `…_fill_cost_dollars` and `…_fees_dollars`
/// (`None` if one is missing or not a dollar amount).
fn spent(order: &Value) -> Option<Decimal> {
    [
        "taker_fill_cost_dollars",
        "maker_fill_cost_dollars",
        "taker_fees_dollars",
        "maker_fees_dollars",
    ]
    .iter()
    .try_fold(Decimal::ZERO, |sum, k| {
        let d: Decimal = order[*k].as_str()?.parse().ok()?;
        Some(sum.saturating_add(d))
    })
}

/// Lowers the order's committed reservation to what it has cost (never raises it); logged, not
/// fatal, when it cannot: the budget then keeps counting the order's full limit cost.
async fn settle(state: &AppState, agent: &Agent, order_id: &str, order: &Value) {
    let Some(cost) = spent(order) else {
        tracing::warn!(
            order_id,
            "Kalshi's order has no fill cost; its full hold keeps counting"
        );
        return;
    };
    let tx = format!("kalshi:{order_id}");
    match state.store.budget_settle(agent.id, &tx, cost).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(order_id, "no committed reservation for this Kalshi order"),
        Err(e) => tracing::warn!(order_id, error = %e, "could not settle the order's reservation"),
    }
}

/// A signed `GET` of the agent's own portfolio at Kalshi (`/portfolio/{what}`), Kalshi's JSON as
/// it answered.
pub async fn read(
    state: &AppState,
    agent: &Agent,
    what: &str,
    query: &[(&str, String)],
) -> Result<Value, ApiError> {
    let policy = state.policy_of(agent)?;
    let answer = kalshi::send(
        state,
        agent,
        &policy,
        KalshiMethod::Get,
        &format!("/portfolio/{what}"),
        query,
        None,
    )
    .await?;
    if !answer.status.is_success() {
        return Err(kalshi::refused(&answer, "query"));
    }
    Ok(answer.body)
}
