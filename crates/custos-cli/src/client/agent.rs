//! Agent commands against a server: the wallet, its balances and transactions, its Kalshi
//! account, and the actions (transfer, sign, sign-message, trade, prediction, …), each with an idempotency key (generated and printed
//! when not given, so a retry after a lost answer cannot pay twice) and `--dry-run`.
use super::args::{ActionOpts, PredictionCmd, ReplaceOpts, TxCmd, WalletCmd};
use super::render::{cell, list, show, time, Output, Table};
use super::{enc, Remote};
use anyhow::{Context as _, Result};
use serde_json::{json, Value};
use std::process::ExitCode;

/// `custos wallet show|balances`.
pub async fn wallet(r: &Remote, cmd: WalletCmd) -> Result<ExitCode> {
    match cmd {
        WalletCmd::Show => {
            let v = r.get("/v1/wallets/me").await?;
            show(r.output, &v, Table::fields);
        }
        WalletCmd::Balances => {
            let v = r.get("/v1/wallets/me/balances").await?;
            show(r.output, &v, |v| {
                let mut t = Table::new(&["chain", "asset", "amount", "usd_value"]);
                for b in list(v, "balances") {
                    t.row(&[&b["chain"], &b["asset"], &b["amount"], &b["usd_value"]]);
                }
                t
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `custos prediction key|buy|cancel|balance|positions|orders`.
pub async fn prediction(r: &Remote, cmd: PredictionCmd) -> Result<ExitCode> {
    let v = match cmd {
        PredictionCmd::Key => {
            let v = r
                .send(
                    reqwest::Method::POST,
                    "/v1/wallets/me/prediction/key",
                    Some(&json!({})),
                    &[],
                )
                .await?
                .body;
            if r.output == Output::Table {
                eprintln!("register this public key with Kalshi (API keys → use your own public key), then set prediction.kalshi_key_id to the key id Kalshi gives it");
            }
            v
        }
        PredictionCmd::Buy {
            ticker,
            side,
            count,
            limit_price,
            opts,
        } => {
            let body = json!({"operation": "buy", "ticker": ticker, "side": side,
                "count": count, "limit_price": limit_price});
            return action(r, "prediction", body, opts).await;
        }
        PredictionCmd::Cancel { order_id, opts } => {
            let body = json!({"operation": "cancel", "order_id": order_id});
            return action(r, "prediction", body, opts).await;
        }
        PredictionCmd::Balance => r.get("/v1/wallets/me/prediction/balance").await?,
        PredictionCmd::Positions => r.get("/v1/wallets/me/prediction/positions").await?,
        PredictionCmd::Orders { status } => {
            let q = status
                .map(|s| format!("?status={}", enc(&s)))
                .unwrap_or_default();
            r.get(&format!("/v1/wallets/me/prediction/orders{q}"))
                .await?
        }
    };
    show(r.output, &v, Table::fields);
    Ok(ExitCode::SUCCESS)
}

/// The idempotency key given, or a new one, printed to stderr so the request can be retried.
fn key_or_new(given: Option<String>) -> String {
    given.unwrap_or_else(|| {
        let k = uuid::Uuid::new_v4().to_string();
        // On stderr, so a script reading the result from stdout still sees only JSON.
        eprintln!("idempotency key: {k} (repeat with --idempotency-key {k} to retry safely)");
        k
    })
}

/// Sends one action with its idempotency key (or as a dry run) and prints the outcome.
pub async fn action(r: &Remote, action: &str, body: Value, opts: ActionOpts) -> Result<ExitCode> {
    let path = format!(
        "/v1/wallets/me/actions/{}{}",
        enc(action),
        if opts.dry_run { "?dry_run=true" } else { "" }
    );
    let key = (!opts.dry_run).then(|| key_or_new(opts.idempotency_key));
    let headers: Vec<(&str, &str)> = key
        .as_deref()
        .map(|k| ("Idempotency-Key", k))
        .into_iter()
        .collect();
    let rep = r
        .send(reqwest::Method::POST, &path, Some(&body), &headers)
        .await?;
    if r.output == Output::Table && rep.status == 202 {
        eprintln!("parked for human approval: an operator approves it with `custos approvals approve <approval_id>`");
    }
    show(r.output, &rep.body, |v| {
        if v.get("dry_run").is_some() {
            dry_run_table(v)
        } else {
            Table::fields(v)
        }
    });
    Ok(ExitCode::SUCCESS)
}

/// A dry run: the decision and each rule's verdict, in evaluation order.
fn dry_run_table(v: &Value) -> Table {
    let e = &v["explanation"];
    let mut t = Table::new(&["rule", "outcome", "why"]);
    let mut decision = cell(&e["decision"]);
    if let Some(q) = e["quorum"].as_u64() {
        decision.push_str(&format!(" ({q} approver(s))"));
    }
    t.text_row(vec![
        "decision".into(),
        decision,
        format!("usd value {}", cell(&e["usd_value"])),
    ]);
    for c in list(e, "rules") {
        t.row(&[&c["rule"], &c["outcome"], &c["message"]]);
    }
    t
}

/// `custos sign-message`'s body.
pub fn sign_message_body(
    chain: String,
    message: Option<String>,
    typed_data: Option<std::path::PathBuf>,
    hash: Option<String>,
) -> Result<Value> {
    let mut body = json!({"chain": chain});
    match (message, typed_data, hash) {
        (Some(m), None, None) => body["message"] = json!(m),
        (None, Some(p), None) => {
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            body["typed_data"] = serde_json::from_str(&text)
                .with_context(|| format!("--typed-data {}: not JSON", p.display()))?;
        }
        (None, None, Some(h)) => body["hash"] = json!(h),
        _ => anyhow::bail!("give one of --message, --typed-data or --hash"),
    }
    Ok(body)
}

/// `--transaction`: the value, or `@FILE`'s contents (trimmed).
pub fn transaction_arg(raw: &str) -> Result<String> {
    match raw.strip_prefix('@') {
        Some(p) => Ok(std::fs::read_to_string(p)
            .with_context(|| format!("--transaction @{p}: cannot read the file"))?
            .trim()
            .to_owned()),
        None => Ok(raw.to_owned()),
    }
}

/// `custos tx list|status|speed-up|cancel`.
pub async fn tx(r: &Remote, cmd: TxCmd) -> Result<ExitCode> {
    let row = |t: &mut Table, x: &Value| {
        t.text_row(vec![
            time(&x["time_ms"]),
            cell(&x["action"]),
            cell(&x["chain"]),
            cell(&x["status"]),
            cell(&x["usd_value"]),
            cell(&x["tx"]),
        ])
    };
    match cmd {
        TxCmd::List { limit, after } => {
            let mut q = format!("/v1/wallets/me/transactions?limit={limit}");
            if let Some(a) = after {
                q.push_str(&format!("&after={a}"));
            }
            let v = r.get(&q).await?;
            show(r.output, &v, |v| {
                let mut t = Table::new(&["time", "action", "chain", "status", "usd", "tx"]);
                for x in list(v, "transactions") {
                    row(&mut t, x);
                }
                if let Some(n) = v["next_after"].as_u64() {
                    t.text_row(vec![format!("(more: --after {n})")]);
                }
                t
            });
        }
        TxCmd::SpeedUp { tx, opts } => replace(r, &tx, "speed-up", opts).await?,
        TxCmd::Cancel { tx, opts } => replace(r, &tx, "cancel", opts).await?,
        TxCmd::Status { tx } => {
            let v = r
                .get(&format!("/v1/wallets/me/transactions/{}", enc(&tx)))
                .await?;
            show(r.output, &v, |v| {
                let mut t = Table::new(&["field", "value"]);
                for k in [
                    "tx",
                    "action",
                    "chain",
                    "status",
                    "chain_status",
                    "slot",
                    "chain_error",
                    "usd_value",
                ] {
                    t.text_row(vec![k.into(), cell(&v[k])]);
                }
                for rec in list(v, "records") {
                    t.text_row(vec![
                        format!("audit #{}", cell(&rec["id"])),
                        format!(
                            "{} {} {} {}",
                            time(&rec["time_ms"]),
                            cell(&rec["action"]),
                            cell(&rec["outcome"]),
                            cell(&rec["reason"])
                        ),
                    ]);
                }
                t
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `custos tx speed-up|cancel`: replaces a pending EVM transaction and prints the outcome.
async fn replace(r: &Remote, tx: &str, kind: &str, opts: ReplaceOpts) -> Result<()> {
    let body = match opts.fee_bump_percent {
        Some(p) => json!({"fee_bump_percent": p}),
        None => json!({}),
    };
    let key = key_or_new(opts.idempotency_key);
    let rep = r
        .send(
            reqwest::Method::POST,
            &format!("/v1/wallets/me/transactions/{}/{kind}", enc(tx)),
            Some(&body),
            &[("Idempotency-Key", key.as_str())],
        )
        .await?;
    if r.output == Output::Table && rep.status == 202 {
        eprintln!("sent, not mined yet: follow it with `custos tx status <tx>`");
    }
    show(r.output, &rep.body, Table::fields);
    Ok(())
}
