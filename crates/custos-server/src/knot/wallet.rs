//! Knot's wallet group: `POST …/actions/transfer {to, amount, mint?}` and `…/actions/trade
//! {from, to, amount, slippageBps}` (Custos' `transfer` and `trade` actions on Solana, with the
//! caller's `Idempotency-Key`), `GET …/balances` and `GET …/history` (Custos' balances and
//! transaction list), and the utility group: `GET /knot/health` and `GET /knot/capabilities`.
//!
//! A token may be named by symbol: `[solana] tokens` resolves it to its mint (`SOL`, or no
//! `mint`, is the native coin). Custos takes no service fee, so a transfer's `fee` is `0`,
//! `feeMode` is `added` and `amountSent` is the amount; the network fee is paid in SOL by the
//! sender as usual.
use super::{body, decimal, explorer_url, number, Call, Envelope, Knot};
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;

/// `POST /knot/wallets/me/actions/transfer` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Transfer {
    to: String,
    amount: Value,
    #[serde(default)]
    mint: Option<String>,
}

/// `POST /knot/wallets/me/actions/trade` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Trade {
    from: String,
    to: String,
    amount: Value,
    #[serde(default)]
    slippage_bps: Option<u32>,
}

impl Knot {
    /// The Custos asset for a Knot token: `SOL` (or nothing) is the native coin, a symbol in
    /// the table is its mint, anything else is taken as a mint (Custos checks it).
    fn asset(&self, token: Option<&str>) -> String {
        match token.map(str::trim) {
            None | Some("") => "SOL".into(),
            Some(t) if t.eq_ignore_ascii_case("SOL") => "SOL".into(),
            Some(t) => self
                .app
                .cfg
                .solana
                .mint_of(t)
                .map(str::to_owned)
                .unwrap_or_else(|| t.to_owned()),
        }
    }

    /// A token's display name: `SOL`, its symbol in the table, or its mint.
    fn symbol(&self, asset: &str) -> String {
        self.app
            .cfg
            .solana
            .symbol_of(asset)
            .unwrap_or(asset)
            .to_owned()
    }
}

/// Sends SOL or an SPL token.
pub async fn transfer(
    State(k): State<Knot>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let req: Transfer = match body(&raw) {
        Ok(r) => r,
        Err(e) => return Envelope::from_api_error(e),
    };
    let amount = match decimal("amount", &req.amount) {
        Ok(a) => a,
        Err(e) => return Envelope::from_api_error(e),
    };
    let asset = k.asset(req.mint.as_deref());
    let call = Call::new(Method::POST, "/v1/wallets/me/actions/transfer", &headers)
        .json(json!({"chain": "solana", "to": req.to, "asset": asset, "amount": amount}));
    let r = match k.expect_ok(peer, call).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    if r.status == StatusCode::ACCEPTED {
        return pending(&r.body);
    }
    let sig = r.body["tx"].as_str().unwrap_or_default();
    Envelope::ok(
        StatusCode::OK,
        "Transfer successful.",
        json!({
            "signature": sig,
            "explorerUrl": explorer_url(&k.app, sig),
            "amount": format!("{amount} {}", k.symbol(&asset)),
            "amountSent": number(&json!(amount)),
            "fee": 0,
            "feeMode": "added",
            "recipient": req.to,
            "usdValue": number(&r.body["usd_value"]),
            "auditId": r.body["audit_id"],
        }),
    )
}

/// A parked action (`202 pending_approval`) in the envelope.
fn pending(body: &Value) -> Response {
    Envelope::ok(
        StatusCode::ACCEPTED,
        "Waiting for human approval.",
        json!({"status": "pending_approval", "approvalId": body["approval_id"], "quorum": body["quorum"]}),
    )
}

/// Swaps one token for another: Custos' `trade` action on Solana.
pub async fn trade(
    State(k): State<Knot>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let req: Trade = match body(&raw) {
        Ok(r) => r,
        Err(e) => return Envelope::from_api_error(e),
    };
    let amount = match decimal("amount", &req.amount) {
        Ok(a) => a,
        Err(e) => return Envelope::from_api_error(e),
    };
    let call = Call::new(Method::POST, "/v1/wallets/me/actions/trade", &headers).json(json!({
        "chain": "solana",
        "from_asset": k.asset(Some(&req.from)),
        "to_asset": k.asset(Some(&req.to)),
        "amount": amount,
        "slippage_bps": req.slippage_bps.unwrap_or(50),
    }));
    let r = match k.expect_ok(peer, call).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    if r.status == StatusCode::ACCEPTED {
        return pending(&r.body);
    }
    let sig = r.body["tx"].as_str().unwrap_or_default();
    Envelope::ok(
        StatusCode::OK,
        "Trade successful.",
        json!({
            "signature": sig,
            "explorerUrl": explorer_url(&k.app, sig),
            "inputAmount": number(&json!(amount)),
            "outputAmount": number(&r.body["output_amount"]),
            "priceImpact": r.body.get("price_impact").cloned().unwrap_or(Value::Null),
            "route": r.body.get("route").cloned().unwrap_or(json!([])),
            "usdValue": number(&r.body["usd_value"]),
        }),
    )
}

/// The wallet's Solana balances: `sol {balance, usdValue}` and `tokens [{mint, symbol, balance,
/// usdValue}]`.
pub async fn balances(
    State(k): State<Knot>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let r = match k
        .expect_ok(
            peer,
            Call::new(Method::GET, "/v1/wallets/me/balances", &headers),
        )
        .await
    {
        Ok(r) => r,
        Err(e) => return e,
    };
    let mut sol = json!({"balance": 0, "usdValue": 0});
    let mut tokens = vec![];
    let list = r.body["balances"].as_array().cloned().unwrap_or_default();
    for b in list.iter().filter(|b| b["chain"] == "solana") {
        let asset = b["asset"].as_str().unwrap_or_default();
        if asset == "SOL" {
            sol = json!({"balance": number(&b["amount"]), "usdValue": number(&b["usd_value"])});
        } else {
            tokens.push(json!({
                "mint": asset,
                "symbol": k.app.cfg.solana.symbol_of(asset),
                "balance": number(&b["amount"]),
                "usdValue": number(&b["usd_value"]),
            }));
        }
    }
    Envelope::ok(
        StatusCode::OK,
        "Balances retrieved.",
        json!({"sol": sol, "tokens": tokens}),
    )
}

/// `GET /knot/wallets/me/history` query.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    #[serde(default, deserialize_with = "crate::routes::num::opt_u64")]
    limit: Option<u64>,
    #[serde(default, deserialize_with = "crate::routes::num::opt_u64")]
    offset: Option<u64>,
    #[serde(default)]
    action: Option<String>,
}

/// How far back `history` reaches: Custos' transaction list pages by cursor, at most this many
/// per request, and Knot's `offset` + `limit` must fall inside one such page.
const HISTORY_WINDOW: u64 = 1000;

/// The agent's transactions, newest page semantics as Knot's: `limit` (1–100, default 50),
/// `offset`, `action` (`transfer`, `trade`, `deposit`).
pub async fn history(
    State(k): State<Knot>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let q: HistoryQuery = match crate::routes::parse_query(q.as_deref().unwrap_or("")) {
        Ok(q) => q,
        Err(e) => return Envelope::from_api_error(e),
    };
    let limit = q.limit.unwrap_or(50);
    let offset = q.offset.unwrap_or(0);
    if !(1..=100).contains(&limit) {
        return Envelope::from_api_error(ApiError::invalid("limit", "must be between 1 and 100"));
    }
    if offset + limit > HISTORY_WINDOW {
        return Envelope::from_api_error(ApiError::invalid(
            "offset",
            format!("offset + limit may reach the first {HISTORY_WINDOW} transactions"),
        ));
    }
    if let Some(a) = &q.action {
        if !["transfer", "trade", "deposit"].contains(&a.as_str()) {
            return Envelope::from_api_error(ApiError::invalid(
                "action",
                "one of transfer, trade, deposit",
            ));
        }
    }
    let path = format!("/v1/wallets/me/transactions?limit={HISTORY_WINDOW}");
    let r = match k
        .expect_ok(peer, Call::new(Method::GET, &path, &headers))
        .await
    {
        Ok(r) => r,
        Err(e) => return e,
    };
    let all: Vec<Value> = r.body["transactions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|t| q.action.as_deref().is_none_or(|a| t["action"] == a))
        .collect();
    let more_beyond = !r.body["next_after"].is_null();
    let page: Vec<Value> = all
        .iter()
        .skip(offset as usize)
        .take(limit as usize)
        .map(|t| {
            let asset = t["asset"].as_str().map(|a| k.symbol(a));
            json!({
                "id": t["tx"],
                "action": t["action"],
                "asset": asset,
                "amount": number(&t["amount"]),
                "to": t["to"],
                "signature": t["tx"],
                "status": t["status"],
                "metadata": {"chain": t["chain"], "usdValue": t["usd_value"], "auditIds": t["audit_ids"]},
                "createdAt": t["time_ms"].as_i64().map(|ms| custos_core::clock::rfc3339(ms / 1000)),
            })
        })
        .collect();
    let total = all.len() as u64;
    Envelope::ok(
        StatusCode::OK,
        "History retrieved.",
        json!({
            "transactions": page,
            "pagination": {
                "total": total,
                "limit": limit,
                "offset": offset,
                "hasMore": offset + limit < total || more_beyond,
            },
        }),
    )
}

/// Whether the server can serve: Custos' `/healthz` in the envelope.
pub async fn health(
    State(k): State<Knot>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    match k
        .expect_ok(peer, Call::new(Method::GET, "/healthz", &headers))
        .await
    {
        Ok(r) => Envelope::ok(StatusCode::OK, "OK", r.body),
        Err(e) => e,
    }
}

/// What the caller's wallet can do here: each action with whether the policy allows it and
/// whether this server provides it, the token symbols it resolves, and the policy's limits.
pub async fn capabilities(
    State(k): State<Knot>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let doc = match k
        .expect_ok(
            peer,
            Call::new(Method::GET, "/v1/wallets/me/policy", &headers),
        )
        .await
    {
        Ok(r) => r.body,
        Err(e) => return e,
    };
    let action = |on: &Value, provided: bool, note: &str| json!({"allowedByPolicy": on, "available": provided, "note": note});
    Envelope::ok(
        StatusCode::OK,
        "Capabilities retrieved.",
        json!({
            "chains": ["solana"],
            "actions": {
                "transfer": action(&doc["actions"]["transfer"], true, "SOL and SPL tokens"),
                "trade": action(&doc["actions"]["trade"], false, "Solana trades are not yet available on this server"),
                "liquidity": action(&doc["actions"]["liquidity"], false, "not yet available on this server"),
                "predictionMarkets": action(&doc["actions"]["prediction"], false, "not yet available on this server"),
            },
            "tokens": k.app.cfg.solana.tokens.keys().collect::<Vec<_>>(),
            "policy": super::policy::knot_view(&doc),
        }),
    )
}
