//! The devnet's PubSub: Solana's WebSocket subscriptions (JSON-RPC 2.0 over WebSocket), which
//! web3.js needs to confirm a transaction — it asks `getSignatureStatuses` only once its
//! `signatureSubscribe` is acknowledged.
//!
//! Subscriptions: `signatureSubscribe` (one `signatureNotification` when the transaction lands —
//! at once if it already has — then the subscription ends, as on a node), `accountSubscribe`
//! (every change), `programSubscribe` (every change to an account the program owns, with
//! `dataSize`/`memcmp` filters), `slotSubscribe` (`{parent, slot, root}`), `rootSubscribe` and
//! `logsSubscribe` (`all`, `allWithVotes` or `{"mentions": [address]}`), each with its
//! `*Unsubscribe`. Unsubscribing always answers `true`, even for an unknown id, and messages
//! without an id (web3.js's `ping`) get no answer: clients retry forever on an error there.
//! Every notification's slot is final; commitment options are accepted and ignored.
use super::devnet::EmbeddedDevnet;
use super::devnet_ledger::DevnetEvent;
use super::devnet_server::ServerState;
use super::rpc_encode::{AccountEncoding, AccountFormat};
use super::rpc_history::Filter;
use super::rpc_server::{
    error_response, mint_decimals, RpcError, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR,
};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use serde_json::{json, Value};
use solana_account::Account;
use solana_address::Address;
use solana_signature::Signature;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

/// Largest request accepted on the socket.
const MAX_MESSAGE: usize = 1 << 20;
/// Most subscriptions one connection may hold.
const MAX_SUBSCRIPTIONS: usize = 10_000;

/// Upgrades a GET to the PubSub WebSocket.
pub(super) async fn upgrade(ws: WebSocketUpgrade, State(state): State<ServerState>) -> Response {
    ws.max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| connection(socket, state))
}

enum Sub {
    Signature(Signature),
    Account(Address, AccountFormat),
    Program(Address, AccountFormat, Vec<Filter>),
    Slot,
    Root,
    /// `None`: every transaction; `Some`: those naming the address.
    Logs(Option<Address>),
}

#[derive(Default)]
struct Subscriptions {
    next_id: u64,
    subs: HashMap<u64, Sub>,
}

fn notification(method: &str, subscription: u64, result: Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "method": method,
        "params": {"result": result, "subscription": subscription},
    })
}

fn signature_notification(subscription: u64, slot: u64, err: &Option<Value>) -> Value {
    notification(
        "signatureNotification",
        subscription,
        json!({"context": {"slot": slot}, "value": {"err": err}}),
    )
}

async fn connection(mut socket: WebSocket, state: ServerState) {
    let devnet = state.devnet;
    let mut shutdown = state.shutdown;
    let mut events = devnet.subscribe();
    let mut subs = Subscriptions::default();
    loop {
        let out: Vec<Value> = tokio::select! {
            m = socket.recv() => match m {
                Some(Ok(Message::Text(t))) => subs.request(&devnet, t.as_str()).await,
                Some(Ok(Message::Binary(b))) => match std::str::from_utf8(&b) {
                    Ok(t) => subs.request(&devnet, t).await,
                    Err(_) => vec![error_response(Value::Null, PARSE_ERROR, "Parse error", None)],
                },
                // Pings are answered by the WebSocket layer.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
            e = events.recv() => match e {
                Ok(e) => subs.on_event(&devnet, &e),
                Err(RecvError::Lagged(_)) => subs.resync(&devnet).await,
                Err(RecvError::Closed) => break,
            },
            _ = stopped(&mut shutdown) => {
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
        };
        for v in out {
            if socket
                .send(Message::Text(v.to_string().into()))
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

/// Resolves once the server is shutting down; never, if it has no shutdown signal.
async fn stopped(rx: &mut tokio::sync::watch::Receiver<bool>) {
    if rx.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn blocking<T: Send + 'static>(
    devnet: &Arc<EmbeddedDevnet>,
    f: impl FnOnce(&EmbeddedDevnet) -> T + Send + 'static,
) -> Option<T> {
    let d = devnet.clone();
    tokio::task::spawn_blocking(move || f(&d)).await.ok()
}

impl Subscriptions {
    async fn request(&mut self, devnet: &Arc<EmbeddedDevnet>, text: &str) -> Vec<Value> {
        let Ok(parsed) = serde_json::from_str::<Value>(text) else {
            return vec![error_response(
                Value::Null,
                PARSE_ERROR,
                "Parse error",
                None,
            )];
        };
        match parsed {
            Value::Array(reqs) => {
                let mut out = Vec::new();
                for r in reqs {
                    out.extend(self.one(devnet, r).await);
                }
                out
            }
            r => self.one(devnet, r).await,
        }
    }

    fn add(&mut self, sub: Sub) -> Result<u64, RpcError> {
        if self.subs.len() >= MAX_SUBSCRIPTIONS {
            return Err(RpcError {
                code: INVALID_REQUEST,
                message: format!(
                    "Too many subscriptions on this connection; max {MAX_SUBSCRIPTIONS}"
                ),
                data: None,
            });
        }
        self.next_id += 1;
        self.subs.insert(self.next_id, sub);
        Ok(self.next_id)
    }

    async fn one(&mut self, devnet: &Arc<EmbeddedDevnet>, req: Value) -> Vec<Value> {
        // A message without an id (web3.js's `ping`) is a notification: no answer.
        let Some(id) = req.get("id").cloned() else {
            return Vec::new();
        };
        let Some(method) = req.get("method").and_then(Value::as_str) else {
            return vec![error_response(id, INVALID_REQUEST, "Invalid request", None)];
        };
        let params = match req.get("params") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => {
                return vec![error_response(
                    id,
                    super::rpc_server::INVALID_PARAMS,
                    "params must be an array",
                    None,
                )]
            }
        };
        let ok = |id: &Value, result: Value| json!({"jsonrpc": "2.0", "id": id, "result": result});
        if method.ends_with("Unsubscribe") {
            if let Some(n) = params.first().and_then(Value::as_u64) {
                self.subs.remove(&n);
            }
            return vec![ok(&id, json!(true))];
        }
        let mut extra = Vec::new();
        let result = match method {
            "signatureSubscribe" => match signature_param(&params) {
                Err(e) => Err(e),
                Ok(sig) => {
                    let landed = blocking(devnet, move |d| d.landed_error(&sig))
                        .await
                        .flatten();
                    match landed {
                        // Already landed: notify at once; the subscription ends with it.
                        Some((slot, err)) => {
                            self.next_id += 1;
                            extra.push(signature_notification(self.next_id, slot, &err));
                            Ok(self.next_id)
                        }
                        None => self.add(Sub::Signature(sig)),
                    }
                }
            },
            "accountSubscribe" => address_param(&params)
                .and_then(|a| {
                    Ok((
                        a,
                        AccountFormat::from_config(params.get(1), AccountEncoding::Binary)?,
                    ))
                })
                .and_then(|(a, f)| self.add(Sub::Account(a, f))),
            "programSubscribe" => address_param(&params)
                .and_then(|a| {
                    let config = params.get(1);
                    let format = AccountFormat::from_config(config, AccountEncoding::Binary)?;
                    let filters = match config.and_then(|c| c.get("filters")) {
                        Some(Value::Array(list)) => {
                            list.iter().map(Filter::parse).collect::<Result<_, _>>()?
                        }
                        _ => Vec::new(),
                    };
                    Ok(Sub::Program(a, format, filters))
                })
                .and_then(|s| self.add(s)),
            "slotSubscribe" => self.add(Sub::Slot),
            "rootSubscribe" => self.add(Sub::Root),
            "logsSubscribe" => match params.first() {
                Some(Value::String(s)) if s == "all" || s == "allWithVotes" => {
                    self.add(Sub::Logs(None))
                }
                Some(v) => match v
                    .get("mentions")
                    .and_then(Value::as_array)
                    .filter(|m| m.len() == 1)
                    .and_then(|m| m.first())
                    .and_then(Value::as_str)
                    .and_then(|s| Address::from_str(s).ok())
                {
                    Some(a) => self.add(Sub::Logs(Some(a))),
                    None => Err(RpcError::params(
                        "Invalid Request: Only 1 address supported in mentions",
                    )),
                },
                None => Err(RpcError::params("Invalid params: expected a logs filter")),
            },
            _ => Err(RpcError {
                code: METHOD_NOT_FOUND,
                message: "Method not found".into(),
                data: None,
            }),
        };
        match result {
            Ok(n) => {
                let mut out = vec![ok(&id, json!(n))];
                out.extend(extra);
                out
            }
            Err(e) => vec![error_response(id, e.code, &e.message, e.data)],
        }
    }

    fn on_event(&mut self, devnet: &EmbeddedDevnet, e: &DevnetEvent) -> Vec<Value> {
        let mut out = Vec::new();
        match e {
            DevnetEvent::Slot { parent, slot } => {
                for (id, sub) in &self.subs {
                    match sub {
                        Sub::Slot => out.push(notification(
                            "slotNotification",
                            *id,
                            json!({"parent": parent, "slot": slot, "root": slot}),
                        )),
                        Sub::Root => out.push(notification("rootNotification", *id, json!(slot))),
                        _ => {}
                    }
                }
            }
            DevnetEvent::Landed { tx, changed } => {
                let context = json!({"slot": tx.slot});
                let decimals = mint_decimals(devnet);
                let mut done = Vec::new();
                for (id, sub) in &self.subs {
                    match sub {
                        Sub::Signature(s) if *s == tx.signature => {
                            out.push(signature_notification(*id, tx.slot, &tx.meta.err));
                            done.push(*id);
                        }
                        Sub::Account(a, format) => {
                            for (_, acc) in changed.iter().filter(|(k, _)| k == a) {
                                out.push(notification(
                                    "accountNotification",
                                    *id,
                                    json!({"context": context, "value": format.account(acc, &decimals)}),
                                ));
                            }
                        }
                        Sub::Program(p, format, filters) => {
                            for (k, acc) in changed.iter().filter(|(_, acc)| {
                                acc.owner == *p && filters.iter().all(|f| f.matches(acc))
                            }) {
                                out.push(notification(
                                    "programNotification",
                                    *id,
                                    json!({"context": context, "value": {
                                        "pubkey": k.to_string(),
                                        "account": format.account(acc, &decimals),
                                    }}),
                                ));
                            }
                        }
                        Sub::Logs(filter)
                            if filter.is_none_or(|a| tx.account_keys().any(|k| *k == a)) =>
                        {
                            out.push(notification(
                                "logsNotification",
                                *id,
                                json!({"context": context, "value": {
                                    "signature": tx.signature.to_string(),
                                    "err": tx.meta.err,
                                    "logs": tx.meta.logs,
                                }}),
                            ));
                        }
                        _ => {}
                    }
                }
                for id in done {
                    self.subs.remove(&id);
                }
            }
        }
        out
    }

    /// After missing events: settle signature subscriptions from the statuses, and send the
    /// current slot and the current state of subscribed accounts.
    async fn resync(&mut self, devnet: &Arc<EmbeddedDevnet>) -> Vec<Value> {
        let sigs: Vec<(u64, Signature)> = self
            .subs
            .iter()
            .filter_map(|(id, s)| match s {
                Sub::Signature(sig) => Some((*id, *sig)),
                _ => None,
            })
            .collect();
        let accounts: Vec<(u64, Address)> = self
            .subs
            .iter()
            .filter_map(|(id, s)| match s {
                Sub::Account(a, _) => Some((*id, *a)),
                _ => None,
            })
            .collect();
        let Some((slot, landed, states)) = blocking(devnet, move |d| {
            let landed: Vec<_> = sigs
                .into_iter()
                .filter_map(|(id, sig)| d.landed_error(&sig).map(|l| (id, l)))
                .collect();
            let states: Vec<(u64, Account)> = accounts
                .into_iter()
                .map(|(id, a)| (id, d.get_account(&a).unwrap_or_default()))
                .collect();
            (d.slot(), landed, states)
        })
        .await
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (id, (at, err)) in landed {
            self.subs.remove(&id);
            out.push(signature_notification(id, at, &err));
        }
        let decimals = mint_decimals(devnet);
        for (id, acc) in states {
            if let Some(Sub::Account(_, format)) = self.subs.get(&id) {
                out.push(notification(
                    "accountNotification",
                    id,
                    json!({"context": {"slot": slot}, "value": format.account(&acc, &decimals)}),
                ));
            }
        }
        for (id, sub) in &self.subs {
            match sub {
                Sub::Slot => out.push(notification(
                    "slotNotification",
                    *id,
                    json!({"parent": slot.saturating_sub(1), "slot": slot, "root": slot}),
                )),
                Sub::Root => out.push(notification("rootNotification", *id, json!(slot))),
                _ => {}
            }
        }
        out
    }
}

fn signature_param(params: &[Value]) -> Result<Signature, RpcError> {
    params
        .first()
        .and_then(Value::as_str)
        .and_then(|s| Signature::from_str(s).ok())
        .ok_or_else(|| RpcError::params("Invalid param: not a signature"))
}

fn address_param(params: &[Value]) -> Result<Address, RpcError> {
    params
        .first()
        .and_then(Value::as_str)
        .and_then(|s| Address::from_str(s).ok())
        .ok_or_else(|| RpcError::params("Invalid param: WrongSize"))
}
