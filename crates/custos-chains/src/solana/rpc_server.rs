//! The embedded devnet's standard Solana JSON-RPC API (HTTP POST, JSON-RPC 2.0, batches
//! accepted), so the RPC backend and ordinary Solana clients can talk to it. The listeners, the
//! slot clock and the PubSub WebSocket beside it are in [`super::devnet_server`].
//!
//! Methods: `getLatestBlockhash`, `isBlockhashValid`, `getBalance`, `getAccountInfo`,
//! `getMultipleAccounts`, `getProgramAccounts`, `simulateTransaction`, `sendTransaction`
//! (base64 or base58; `skipPreflight`), `getSignatureStatuses`, `getTransaction`,
//! `getSignaturesForAddress`, `getBlock`, `getBlockTime`, `requestAirdrop`,
//! `getTokenAccountsByOwner`, `getMinimumBalanceForRentExemption`, `getFeeForMessage`,
//! `getRecentPrioritizationFees`, `getTokenAccountBalance`, `getTokenSupply`, `getEpochInfo`,
//! `getTransactionCount`, `getHealth`, `getVersion`, `getSlot`, `getBlockHeight`,
//! `getGenesisHash`, and three that no node has: `custos_advanceSlots [n]`, which lets `n` empty
//! slots pass at once so tests can expire blockhashes without waiting, and the faucet's
//! `custos_createMint [decimals, "token"|"token-2022"]` (a mint the faucet is the authority of)
//! and `custos_mintTo [mint, owner, amount]` (to the owner's associated token account); and
//! `custos_setAccount [address, {lamports, owner, data: [base64, "base64"]}]`, which writes a
//! fixture account as a validator's `--account` flag loads one (not a program, not the faucet). Accounts come in the
//! encodings a node offers (base58 by default for `getAccountInfo`, `jsonParsed` for token
//! accounts and mints) — see [`super::rpc_encode`]. Everything is final as soon as it lands, so
//! commitment options are accepted and ignored. A failed preflight or simulation reports the
//! runtime's `TransactionError` in its JSON form (`{"InstructionError":[0,{"Custom":1}]}`) with
//! the program logs, as a node does.
//!
//! Development only: anyone who can reach it can airdrop. Bind it to loopback.
use super::devnet::{DevnetError, EmbeddedDevnet, SendOptions, MAX_ADVANCE};
use super::devnet_server::ServerState;
use super::rpc_encode::{ui_token_amount, AccountEncoding, AccountFormat};
use super::{rpc_history, token};
use axum::extract::State;
use axum::Json;
use base64::Engine as _;
use serde_json::{json, Value};
use solana_address::Address;
use solana_hash::Hash;
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;
use std::str::FromStr;
use std::sync::Arc;

/// The version this server reports for `getVersion`.
pub const REPORTED_SOLANA_VERSION: &str = "3.1.0";

pub(super) const PARSE_ERROR: i64 = -32700;
pub(super) const INVALID_REQUEST: i64 = -32600;
pub(super) const METHOD_NOT_FOUND: i64 = -32601;
pub(super) const INVALID_PARAMS: i64 = -32602;
pub(super) const INTERNAL_ERROR: i64 = -32603;
const PREFLIGHT_FAILURE: i64 = -32002;
const SIGVERIFY_FAILURE: i64 = -32003;
const MIN_CONTEXT_SLOT_NOT_REACHED: i64 = -32016;

/// A JSON-RPC error answer.
pub(super) struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    pub(super) fn params(m: impl Into<String>) -> Self {
        Self {
            code: INVALID_PARAMS,
            message: m.into(),
            data: None,
        }
    }
}

pub(super) type RpcResult = Result<Value, RpcError>;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

pub(super) async fn handle(
    State(state): State<ServerState>,
    body: axum::body::Bytes,
) -> Json<Value> {
    let devnet = &state.devnet;
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return Json(error_response(
                Value::Null,
                PARSE_ERROR,
                "Parse error",
                None,
            ))
        }
    };
    match parsed {
        Value::Array(reqs) if !reqs.is_empty() => {
            let mut out = Vec::with_capacity(reqs.len());
            for r in reqs {
                out.push(one(devnet, r).await);
            }
            Json(Value::Array(out))
        }
        v => Json(one(devnet, v).await),
    }
}

pub(super) fn error_response(id: Value, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut e = json!({"code": code, "message": message});
    if let Some(d) = data {
        e["data"] = d;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": e})
}

async fn one(devnet: &Arc<EmbeddedDevnet>, req: Value) -> Value {
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = req
        .get("method")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return error_response(id, INVALID_REQUEST, "Invalid request", None);
    };
    let params = match req.get("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return error_response(id, INVALID_PARAMS, "params must be an array", None),
    };
    let d = devnet.clone();
    let result = tokio::task::spawn_blocking(move || dispatch(&d, &method, &params)).await;
    match result {
        Ok(Ok(v)) => json!({"jsonrpc": "2.0", "id": id, "result": v}),
        Ok(Err(e)) => error_response(id, e.code, &e.message, e.data),
        Err(_) => error_response(id, INTERNAL_ERROR, "Internal error", None),
    }
}

fn context(d: &EmbeddedDevnet) -> Value {
    json!({"slot": d.slot(), "apiVersion": REPORTED_SOLANA_VERSION})
}

pub(super) fn with_context(d: &EmbeddedDevnet, value: Value) -> Value {
    json!({"context": context(d), "value": value})
}

pub(super) fn address_param(params: &[Value], i: usize) -> Result<Address, RpcError> {
    params
        .get(i)
        .and_then(Value::as_str)
        .and_then(|s| Address::from_str(s).ok())
        .ok_or_else(|| RpcError::params("Invalid param: WrongSize"))
}

/// A faucet transaction that did not land.
fn faucet_failed(e: DevnetError) -> RpcError {
    RpcError {
        code: INTERNAL_ERROR,
        message: format!("the faucet's transaction failed: {e}"),
        data: None,
    }
}

/// Reads a mint's decimals from the devnet (for `jsonParsed` token accounts).
pub(super) fn mint_decimals(d: &EmbeddedDevnet) -> impl Fn(&Address) -> Option<u8> + '_ {
    move |mint| {
        d.get_account(mint)
            .and_then(|m| token::parse_mint_decimals(&m.owner, &m.data))
    }
}

/// One account in `format`, or `null`; refused when too big for base58, as a node refuses it.
fn account_value(
    d: &EmbeddedDevnet,
    address: &Address,
    format: &AccountFormat,
) -> Result<Value, RpcError> {
    match d.get_account(address) {
        None => Ok(Value::Null),
        Some(a) => {
            format.check_size(&a)?;
            Ok(format.account(&a, &mint_decimals(d)))
        }
    }
}

/// The `minContextSlot` a request's config names, if the devnet has not reached it.
fn check_min_context_slot(d: &EmbeddedDevnet, p: &[Value]) -> Result<(), RpcError> {
    let wanted = p
        .iter()
        .filter_map(|v| v.get("minContextSlot").and_then(Value::as_u64))
        .max();
    match wanted {
        Some(min) if min > d.slot() => Err(RpcError {
            code: MIN_CONTEXT_SLOT_NOT_REACHED,
            message: "Minimum context slot has not been reached".into(),
            data: Some(json!({"contextSlot": d.slot()})),
        }),
        _ => Ok(()),
    }
}

fn decode_tx(params: &[Value]) -> Result<VersionedTransaction, RpcError> {
    let s = params
        .first()
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::params("missing transaction"))?;
    let encoding = params
        .get(1)
        .and_then(|c| c.get("encoding"))
        .and_then(Value::as_str)
        .unwrap_or("base58");
    let bytes = match encoding {
        "base64" => b64()
            .decode(s)
            .map_err(|_| RpcError::params("invalid base64"))?,
        "base58" => bs58::decode(s)
            .into_vec()
            .map_err(|_| RpcError::params("invalid base58"))?,
        other => return Err(RpcError::params(format!("unsupported encoding {other}"))),
    };
    super::deserialize_tx(&bytes)
        .map_err(|e| RpcError::params(format!("failed to deserialize: {e}")))
}

fn dispatch(d: &EmbeddedDevnet, method: &str, p: &[Value]) -> RpcResult {
    check_min_context_slot(d, p)?;
    match method {
        "getHealth" => Ok(json!("ok")),
        "getVersion" => Ok(json!({"solana-core": REPORTED_SOLANA_VERSION, "feature-set": 0})),
        "getSlot" | "getBlockHeight" => Ok(json!(d.slot())),
        "getGenesisHash" => Ok(json!(super::devnet::GENESIS_HASH.to_string())),
        "getLatestBlockhash" => {
            let (h, last) = d.latest_blockhash();
            Ok(with_context(
                d,
                json!({"blockhash": h.to_string(), "lastValidBlockHeight": last}),
            ))
        }
        "isBlockhashValid" => {
            let h = p
                .first()
                .and_then(Value::as_str)
                .and_then(|s| Hash::from_str(s).ok())
                .ok_or_else(|| RpcError::params("invalid blockhash"))?;
            Ok(with_context(d, json!(d.is_blockhash_valid(&h))))
        }
        "getBalance" => {
            let a = address_param(p, 0)?;
            Ok(with_context(d, json!(d.balance(&a))))
        }
        "getAccountInfo" => {
            let a = address_param(p, 0)?;
            // Agave's default is the legacy `binary`: a bare base58 string.
            let format = AccountFormat::from_config(p.get(1), AccountEncoding::Binary)?;
            Ok(with_context(d, account_value(d, &a, &format)?))
        }
        "getMultipleAccounts" => {
            let keys = p
                .first()
                .and_then(Value::as_array)
                .ok_or_else(|| RpcError::params("expected an array of addresses"))?;
            if keys.len() > 100 {
                return Err(RpcError::params("Too many inputs provided; max 100"));
            }
            let format = AccountFormat::from_config(p.get(1), AccountEncoding::Base64)?;
            let mut out = Vec::with_capacity(keys.len());
            for k in keys {
                let a = k
                    .as_str()
                    .and_then(|s| Address::from_str(s).ok())
                    .ok_or_else(|| RpcError::params("Invalid param: WrongSize"))?;
                out.push(account_value(d, &a, &format)?);
            }
            Ok(with_context(d, Value::Array(out)))
        }
        "getRecentPrioritizationFees" => {
            let accounts: Vec<Address> = match p.first() {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(list)) => {
                    if list.len() > super::fees::MAX_ACCOUNTS {
                        return Err(RpcError::params(format!(
                            "too many accounts: at most {} may be named",
                            super::fees::MAX_ACCOUNTS
                        )));
                    }
                    list.iter()
                        .map(|v| {
                            v.as_str()
                                .and_then(|s| Address::from_str(s).ok())
                                .ok_or_else(|| RpcError::params("invalid account address"))
                        })
                        .collect::<Result<_, _>>()?
                }
                Some(_) => return Err(RpcError::params("expected an array of addresses")),
            };
            let fees: Vec<Value> = d
                .recent_prioritization_fees(&accounts)
                .into_iter()
                .map(|(slot, fee)| json!({"slot": slot, "prioritizationFee": fee}))
                .collect();
            Ok(Value::Array(fees))
        }
        "getMinimumBalanceForRentExemption" => {
            let len = p
                .first()
                .and_then(Value::as_u64)
                .and_then(|l| usize::try_from(l).ok())
                .ok_or_else(|| RpcError::params("expected a data length"))?;
            Ok(json!(d.minimum_balance_for_rent_exemption(len)))
        }
        "getFeeForMessage" => {
            let s = p
                .first()
                .and_then(Value::as_str)
                .ok_or_else(|| RpcError::params("missing message"))?;
            let bytes = b64()
                .decode(s)
                .map_err(|_| RpcError::params("invalid base64"))?;
            let decoded = crate::solana_wire::decode_message(&bytes)
                .map_err(|e| RpcError::params(e.to_string()))?;
            let fee = if d
                .is_blockhash_valid(&Hash::from_str(&decoded.recent_blockhash).unwrap_or_default())
            {
                json!(super::adapter::estimate_fee(&decoded))
            } else {
                Value::Null
            };
            Ok(with_context(d, fee))
        }
        "requestAirdrop" => {
            let a = address_param(p, 0)?;
            let lamports = p
                .get(1)
                .and_then(Value::as_u64)
                .filter(|l| *l > 0)
                .ok_or_else(|| RpcError::params("expected lamports"))?;
            let sig = d.airdrop(&a, lamports).map_err(faucet_failed)?;
            Ok(json!(sig.to_string()))
        }
        "getSignatureStatuses" => {
            let sigs = p
                .first()
                .and_then(Value::as_array)
                .ok_or_else(|| RpcError::params("expected an array of signatures"))?;
            if sigs.len() > 256 {
                return Err(RpcError::params("Too many inputs provided; max 256"));
            }
            let mut out = Vec::with_capacity(sigs.len());
            for s in sigs {
                let sig = s
                    .as_str()
                    .and_then(|s| Signature::from_str(s).ok())
                    .ok_or_else(|| RpcError::params("Invalid param: not a signature"))?;
                out.push(match d.landed_error(&sig) {
                    None => Value::Null,
                    Some((slot, err)) => json!({
                        "slot": slot,
                        "confirmations": Value::Null,
                        "status": match &err { None => json!({"Ok": null}), Some(e) => json!({"Err": e}) },
                        "err": err,
                        "confirmationStatus": "finalized",
                    }),
                });
            }
            Ok(with_context(d, Value::Array(out)))
        }
        "getTokenAccountsByOwner" => {
            let owner = address_param(p, 0)?;
            let filter = p
                .get(1)
                .ok_or_else(|| RpcError::params("expected a mint or programId filter"))?;
            let format = AccountFormat::from_config(p.get(2), AccountEncoding::Binary)?;
            let decimals = mint_decimals(d);
            let (programs, mint) = if let Some(m) = filter.get("mint").and_then(Value::as_str) {
                let m = Address::from_str(m).map_err(|_| RpcError::params("Invalid mint"))?;
                (
                    vec![token::token_program(), token::token_2022_program()],
                    Some(m),
                )
            } else if let Some(pid) = filter.get("programId").and_then(Value::as_str) {
                let pid =
                    Address::from_str(pid).map_err(|_| RpcError::params("Invalid programId"))?;
                if !token::is_token_program(&pid) {
                    return Err(RpcError::params("Unrecognized Token program id"));
                }
                (vec![pid], None)
            } else {
                return Err(RpcError::params("expected a mint or programId filter"));
            };
            let mut out = Vec::new();
            for prog in programs {
                for (k, a) in d.token_accounts_by_owner(&owner, &prog) {
                    let matches = mint.is_none_or(|m| {
                        token::parse_token_account(&a.owner, &a.data).is_some_and(|t| t.mint == m)
                    });
                    if matches {
                        format.check_size(&a)?;
                        let account = format.account(&a, &decimals);
                        out.push(json!({"pubkey": k.to_string(), "account": account}));
                    }
                }
            }
            Ok(with_context(d, Value::Array(out)))
        }
        "getTokenAccountBalance" => {
            let a = address_param(p, 0)?;
            let not_token = || RpcError::params("Invalid param: not a Token account");
            let acc = d.get_account(&a).ok_or_else(not_token)?;
            let t = token::parse_token_account(&acc.owner, &acc.data).ok_or_else(not_token)?;
            let mint = d.get_account(&t.mint).ok_or_else(not_token)?;
            let (_, decimals) =
                token::parse_mint_supply(&mint.owner, &mint.data).ok_or_else(not_token)?;
            Ok(with_context(d, ui_token_amount(t.amount, decimals)))
        }
        "getTokenSupply" => {
            let m = address_param(p, 0)?;
            let not_mint = || RpcError::params("Invalid param: not a Token mint");
            let acc = d.get_account(&m).ok_or_else(not_mint)?;
            let (supply, decimals) =
                token::parse_mint_supply(&acc.owner, &acc.data).ok_or_else(not_mint)?;
            Ok(with_context(d, ui_token_amount(supply, decimals)))
        }
        "getEpochInfo" => {
            let slot = d.slot();
            Ok(json!({
                "absoluteSlot": slot, "blockHeight": slot, "epoch": slot / SLOTS_PER_EPOCH,
                "slotIndex": slot % SLOTS_PER_EPOCH, "slotsInEpoch": SLOTS_PER_EPOCH,
                "transactionCount": d.transaction_count(),
            }))
        }
        "getTransactionCount" => Ok(json!(d.transaction_count())),
        "getTransaction" => rpc_history::get_transaction(d, p),
        "getSignaturesForAddress" => rpc_history::get_signatures_for_address(d, p),
        "getBlock" => rpc_history::get_block(d, p),
        "getBlockTime" => rpc_history::get_block_time(d, p),
        "getProgramAccounts" => rpc_history::get_program_accounts(d, p),
        "custos_createMint" => {
            // [decimals, "token" | "token-2022"?]: a mint the faucet is the authority of.
            let decimals = p
                .first()
                .and_then(Value::as_u64)
                .and_then(|d| u8::try_from(d).ok())
                .filter(|d| *d <= 18)
                .ok_or_else(|| {
                    RpcError::params("Invalid params: custos_createMint takes decimals (0 to 18)")
                })?;
            let program = match p.get(1).and_then(Value::as_str).unwrap_or("token") {
                "token" => token::token_program(),
                "token-2022" => token::token_2022_program(),
                _ => {
                    return Err(RpcError::params(
                        "Invalid params: the token program is \"token\" or \"token-2022\"",
                    ))
                }
            };
            let mint = d.create_mint(decimals, &program).map_err(faucet_failed)?;
            Ok(json!(mint.to_string()))
        }
        "custos_mintTo" => {
            // [mint, owner, amount in base units]: minted to the owner's associated account.
            let mint = address_param(p, 0)?;
            let owner = address_param(p, 1)?;
            let amount = p
                .get(2)
                .and_then(Value::as_u64)
                .filter(|a| *a > 0)
                .ok_or_else(|| {
                    RpcError::params("Invalid params: expected an amount in base units")
                })?;
            let program = d
                .get_account(&mint)
                .filter(|m| token::parse_mint_decimals(&m.owner, &m.data).is_some())
                .map(|m| m.owner)
                .ok_or_else(|| RpcError::params(format!("Invalid params: {mint} is not a mint")))?;
            let ata = d
                .mint_to(&mint, &owner, amount, &program)
                .map_err(faucet_failed)?;
            Ok(json!(ata.to_string()))
        }
        "custos_setAccount" => {
            // [address, {lamports, owner, data: [base64, "base64"]}]: a fixture account.
            let a = address_param(p, 0)?;
            let spec = p
                .get(1)
                .ok_or_else(|| RpcError::params("Invalid params: expected an account"))?;
            let lamports = spec["lamports"]
                .as_u64()
                .ok_or_else(|| RpcError::params("Invalid params: lamports"))?;
            let owner = spec["owner"]
                .as_str()
                .and_then(|s| Address::from_str(s).ok())
                .ok_or_else(|| RpcError::params("Invalid params: owner"))?;
            let data = spec["data"]
                .get(0)
                .and_then(Value::as_str)
                .filter(|_| spec["data"].get(1).and_then(Value::as_str) == Some("base64"))
                .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                .ok_or_else(|| RpcError::params("Invalid params: data is [base64, \"base64\"]"))?;
            let account = solana_account::Account {
                lamports,
                data,
                owner,
                executable: false,
                rent_epoch: 0,
            };
            d.set_account(&a, account).map_err(|e| match e {
                DevnetError::InvalidInput(m) => RpcError::params(format!("Invalid params: {m}")),
                other => faucet_failed(other),
            })?;
            Ok(Value::Null)
        }
        "custos_advanceSlots" => {
            let n = p
                .first()
                .and_then(Value::as_u64)
                .filter(|n| (1..=MAX_ADVANCE).contains(n))
                .ok_or_else(|| {
                    RpcError::params(format!(
                        "Invalid params: custos_advanceSlots takes a slot count from 1 to {MAX_ADVANCE}"
                    ))
                })?;
            Ok(json!(d.advance_slots(n)))
        }
        "simulateTransaction" => simulate(d, p),
        "sendTransaction" => {
            let tx = decode_tx(p)?;
            let skip = p
                .get(1)
                .and_then(|c| c.get("skipPreflight"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            match d.send_transaction_with(tx, SendOptions::skip_preflight(skip)) {
                Ok(sig) => Ok(json!(sig.to_string())),
                // As a node answers a failed preflight: the runtime's error in its JSON form
                // (clients parse it), the logs and the compute units.
                Err(DevnetError::Failed {
                    message,
                    err,
                    logs,
                    units,
                }) => Err(RpcError {
                    code: PREFLIGHT_FAILURE,
                    message: format!(
                        "Transaction simulation failed: {}",
                        message.split("; logs:").next().unwrap_or_default()
                    ),
                    data: Some(json!({
                        "err": err, "logs": logs, "accounts": null,
                        "unitsConsumed": units, "returnData": null,
                    })),
                }),
                Err(DevnetError::Rejected(m)) => {
                    let (code, err) = if m.contains("signature verification") {
                        (SIGVERIFY_FAILURE, json!("SignatureFailure"))
                    } else if m.contains("Blockhash not found") {
                        (PREFLIGHT_FAILURE, json!("BlockhashNotFound"))
                    } else if m.contains("already been processed") {
                        (PREFLIGHT_FAILURE, json!("AlreadyProcessed"))
                    } else {
                        (PREFLIGHT_FAILURE, json!(m))
                    };
                    Err(RpcError {
                        code,
                        message: format!("Transaction simulation failed: {m}"),
                        data: Some(json!({
                            "err": err, "logs": [], "accounts": null,
                            "unitsConsumed": 0, "returnData": null,
                        })),
                    })
                }
                Err(DevnetError::InvalidInput(m)) => Err(RpcError::params(m)),
                Err(e) => Err(RpcError {
                    code: INTERNAL_ERROR,
                    message: e.to_string(),
                    data: None,
                }),
            }
        }
        _ => Err(RpcError {
            code: METHOD_NOT_FOUND,
            message: "Method not found".into(),
            data: None,
        }),
    }
}

fn simulate(d: &EmbeddedDevnet, p: &[Value]) -> RpcResult {
    let tx = decode_tx(p)?;
    let config = p.get(1).cloned().unwrap_or(Value::Null);
    let sig_verify = config["sigVerify"].as_bool().unwrap_or(false);
    let replace = config["replaceRecentBlockhash"].as_bool().unwrap_or(false);
    if sig_verify && replace {
        return Err(RpcError::params(
            "sigVerify may not be used with replaceRecentBlockhash",
        ));
    }
    let addresses: Vec<Address> = match config.get("accounts") {
        None | Some(Value::Null) => Vec::new(),
        Some(acc) => {
            if let Some(enc) = acc.get("encoding").and_then(Value::as_str) {
                if enc != "base64" {
                    return Err(RpcError::params(
                        "accounts: only base64 encoding is supported",
                    ));
                }
            }
            acc.get("addresses")
                .and_then(Value::as_array)
                .ok_or_else(|| RpcError::params("accounts.addresses must be an array"))?
                .iter()
                .map(|k| {
                    k.as_str()
                        .and_then(|s| Address::from_str(s).ok())
                        .ok_or_else(|| RpcError::params("Invalid address in accounts"))
                })
                .collect::<Result<_, _>>()?
        }
    };
    let format = AccountFormat::from_config(config.get("accounts"), AccountEncoding::Base64)?;
    let out = d
        .simulate(&tx, sig_verify, replace, &addresses)
        .map_err(|e| RpcError {
            code: INTERNAL_ERROR,
            message: e.to_string(),
            data: None,
        })?;
    let accounts = if config.get("accounts").is_some_and(|a| !a.is_null()) {
        Value::Array(
            out.post_accounts
                .iter()
                .map(|a| {
                    a.as_ref()
                        .map(|a| format.account(a, &|_: &Address| None))
                        .unwrap_or(Value::Null)
                })
                .collect(),
        )
    } else {
        Value::Null
    };
    // Inner instructions are reported by program only (jsonParsed-style `programId`).
    let inner = if config["innerInstructions"].as_bool().unwrap_or(false)
        && !out.inner_programs.is_empty()
    {
        json!([{"index": 0, "instructions": out.inner_programs.iter().map(|p| json!({
            "programId": p.to_string(), "accounts": [], "data": "", "stackHeight": null
        })).collect::<Vec<_>>()}])
    } else {
        Value::Null
    };
    let mut value = json!({
        "err": out.error_detail.clone().or_else(|| out.error.clone().map(Value::String)),
        "logs": out.logs,
        "accounts": accounts,
        "unitsConsumed": out.units_consumed,
        "returnData": null,
        "innerInstructions": inner,
        "fee": out.fee,
    });
    if replace {
        let (h, last) = d.latest_blockhash();
        value["replacementBlockhash"] =
            json!({"blockhash": h.to_string(), "lastValidBlockHeight": last});
    }
    Ok(with_context(d, value))
}

/// Slots per epoch, as on mainnet (the devnet has no epochs of its own; `getEpochInfo` counts
/// them this way).
const SLOTS_PER_EPOCH: u64 = 432_000;
