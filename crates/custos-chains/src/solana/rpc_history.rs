//! The devnet's JSON-RPC methods over its recent history and its account set:
//! `getTransaction`, `getSignaturesForAddress`, `getBlock`, `getBlockTime` and
//! `getProgramAccounts` (with `dataSize`, `memcmp` and `tokenAccountState` filters).
//!
//! History is what the devnet remembers in memory ([`super::devnet_ledger`]): the newest
//! transactions and blocks since it started. Older ones answer as a pruned node does.
use super::devnet::EmbeddedDevnet;
use super::devnet_ledger::BlockLookup;
use super::rpc_encode::{self, AccountEncoding, AccountFormat, TxEncoding};
use super::rpc_server::{address_param, with_context, RpcError, RpcResult};
use super::token;
use base64::Engine as _;
use serde_json::{json, Value};
use solana_signature::Signature;
use std::str::FromStr;

const BLOCK_NOT_AVAILABLE: i64 = -32004;
const BLOCK_CLEANED_UP: i64 = -32001;
const MAX_SIGNATURES: u64 = 1000;
const MAX_FILTERS: usize = 4;
const MAX_MEMCMP_BYTES: usize = 128;

fn signature(v: Option<&Value>) -> Result<Signature, RpcError> {
    v.and_then(Value::as_str)
        .and_then(|s| Signature::from_str(s).ok())
        .ok_or_else(|| RpcError::params("Invalid param: not a signature"))
}

/// History methods answer at `confirmed` or above only, as on a node.
fn check_commitment(config: Option<&Value>) -> Result<(), RpcError> {
    if config
        .and_then(|c| c.get("commitment"))
        .and_then(Value::as_str)
        == Some("processed")
    {
        return Err(RpcError::params(
            "Method does not support commitment below `confirmed`",
        ));
    }
    Ok(())
}

/// `getTransaction [signature, {encoding, maxSupportedTransactionVersion, commitment}]`.
pub(super) fn get_transaction(d: &EmbeddedDevnet, p: &[Value]) -> RpcResult {
    let sig = signature(p.first())?;
    // A bare string is the encoding (the deprecated form).
    let config = match p.get(1) {
        Some(Value::String(s)) => Some(json!({"encoding": s})),
        other => other.cloned(),
    };
    check_commitment(config.as_ref())?;
    let encoding = TxEncoding::from_config(config.as_ref())?;
    let max_version = rpc_encode::max_version(config.as_ref())?;
    match d.transaction(&sig) {
        None => Ok(Value::Null),
        Some(t) => rpc_encode::landed_transaction(&t, encoding, max_version),
    }
}

/// `getSignaturesForAddress [address, {limit, before, until}]`.
pub(super) fn get_signatures_for_address(d: &EmbeddedDevnet, p: &[Value]) -> RpcResult {
    let address = address_param(p, 0)?;
    let config = p.get(1);
    check_commitment(config)?;
    let field = |k: &str| config.and_then(|c| c.get(k)).filter(|v| !v.is_null());
    let limit = match field("limit") {
        None => MAX_SIGNATURES,
        Some(l) => l
            .as_u64()
            .filter(|l| (1..=MAX_SIGNATURES).contains(l))
            .ok_or_else(|| RpcError::params("Invalid limit; max 1000"))?,
    };
    let before = field("before").map(|v| signature(Some(v))).transpose()?;
    let until = field("until").map(|v| signature(Some(v))).transpose()?;
    let found = d.signatures_for_address(
        &address,
        before.as_ref(),
        until.as_ref(),
        usize::try_from(limit).unwrap_or(usize::MAX),
    );
    Ok(Value::Array(
        found
            .iter()
            .map(|t| {
                json!({
                    "signature": t.signature.to_string(),
                    "slot": t.slot,
                    "err": t.meta.err,
                    "memo": null,
                    "blockTime": t.block_time,
                    "confirmationStatus": "finalized",
                })
            })
            .collect(),
    ))
}

fn slot_param(p: &[Value]) -> Result<u64, RpcError> {
    p.first()
        .and_then(Value::as_u64)
        .ok_or_else(|| RpcError::params("Invalid params: expected a slot"))
}

fn missing_block(slot: u64, lookup: &BlockLookup) -> RpcError {
    match lookup {
        BlockLookup::CleanedUp { first_available } => RpcError {
            code: BLOCK_CLEANED_UP,
            message: format!(
                "Block {slot} cleaned up, does not exist on node. First available block: {first_available}"
            ),
            data: None,
        },
        _ => RpcError {
            code: BLOCK_NOT_AVAILABLE,
            message: format!("Block not available for slot {slot}"),
            data: None,
        },
    }
}

/// `getBlockTime [slot]`.
pub(super) fn get_block_time(d: &EmbeddedDevnet, p: &[Value]) -> RpcResult {
    let slot = slot_param(p)?;
    match d.block(slot) {
        BlockLookup::Found(b, _) => Ok(json!(b.block_time)),
        other => Err(missing_block(slot, &other)),
    }
}

/// `getBlock [slot, {encoding, transactionDetails, rewards, maxSupportedTransactionVersion}]`.
pub(super) fn get_block(d: &EmbeddedDevnet, p: &[Value]) -> RpcResult {
    let slot = slot_param(p)?;
    let config = match p.get(1) {
        Some(Value::String(s)) => Some(json!({"encoding": s})),
        other => other.cloned(),
    };
    let config = config.as_ref();
    check_commitment(config)?;
    let encoding = TxEncoding::from_config(config)?;
    let max_version = rpc_encode::max_version(config)?;
    let details = config
        .and_then(|c| c.get("transactionDetails"))
        .and_then(Value::as_str)
        .unwrap_or("full");
    let rewards = config
        .and_then(|c| c.get("rewards"))
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let (block, txs) = match d.block(slot) {
        BlockLookup::Found(b, txs) => (b, txs),
        other => return Err(missing_block(slot, &other)),
    };
    let mut out = json!({
        "blockhash": block.blockhash.to_string(),
        "previousBlockhash": block.previous_blockhash.to_string(),
        "parentSlot": block.parent_slot,
        "blockTime": block.block_time,
        "blockHeight": block.slot,
    });
    match details {
        "full" => {
            out["transactions"] = Value::Array(
                txs.iter()
                    .map(|t| {
                        let mut v = rpc_encode::landed_transaction(t, encoding, max_version)?;
                        // In a block each entry is {transaction, meta, version?}.
                        if let Some(o) = v.as_object_mut() {
                            o.remove("slot");
                            o.remove("blockTime");
                        }
                        Ok(v)
                    })
                    .collect::<Result<_, RpcError>>()?,
            );
        }
        "signatures" => {
            out["signatures"] = txs.iter().map(|t| t.signature.to_string()).collect();
        }
        "none" => {}
        other => {
            return Err(RpcError::params(format!(
                "Invalid params: transactionDetails {other} is not supported by this devnet \
                 (full, signatures or none)"
            )))
        }
    }
    if rewards {
        out["rewards"] = json!([]);
    }
    Ok(out)
}

/// One `getProgramAccounts` (or `programSubscribe`) filter.
pub(super) enum Filter {
    DataSize(usize),
    Memcmp(usize, Vec<u8>),
    TokenAccountState,
}

impl Filter {
    pub(super) fn parse(v: &Value) -> Result<Self, RpcError> {
        let bad = |m: &str| RpcError::params(format!("Invalid param: {m}"));
        if let Some(n) = v.get("dataSize") {
            return n
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Filter::DataSize)
                .ok_or_else(|| bad("dataSize must be a number"));
        }
        if let Some(m) = v.get("memcmp") {
            let offset = m
                .get("offset")
                .and_then(Value::as_u64)
                .and_then(|o| usize::try_from(o).ok())
                .ok_or_else(|| bad("memcmp.offset must be a number"))?;
            let text = m
                .get("bytes")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("memcmp.bytes must be a string"))?;
            let bytes = match m.get("encoding").and_then(Value::as_str) {
                None | Some("base58") => bs58::decode(text).into_vec().ok(),
                Some("base64") => base64::engine::general_purpose::STANDARD.decode(text).ok(),
                Some(_) => None,
            }
            .ok_or_else(|| bad("memcmp.bytes could not be decoded"))?;
            if bytes.len() > MAX_MEMCMP_BYTES {
                return Err(bad("memcmp.bytes longer than 128 bytes"));
            }
            return Ok(Filter::Memcmp(offset, bytes));
        }
        if v.get("tokenAccountState").is_some() {
            return Ok(Filter::TokenAccountState);
        }
        Err(bad("unknown filter"))
    }

    pub(super) fn matches(&self, a: &solana_account::Account) -> bool {
        match self {
            Filter::DataSize(n) => a.data.len() == *n,
            Filter::Memcmp(offset, bytes) => offset
                .checked_add(bytes.len())
                .and_then(|end| a.data.get(*offset..end))
                .is_some_and(|d| d == bytes.as_slice()),
            Filter::TokenAccountState => token::parse_token_account(&a.owner, &a.data).is_some(),
        }
    }
}

/// `getProgramAccounts [program, {encoding, filters, dataSlice, withContext}]`.
pub(super) fn get_program_accounts(d: &EmbeddedDevnet, p: &[Value]) -> RpcResult {
    let program = address_param(p, 0)?;
    let config = p.get(1);
    let format = AccountFormat::from_config(config, AccountEncoding::Binary)?;
    let filters: Vec<Filter> = match config.and_then(|c| c.get("filters")) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => {
            if list.len() > MAX_FILTERS {
                return Err(RpcError::params("Too many filters provided; max 4"));
            }
            list.iter().map(Filter::parse).collect::<Result<_, _>>()?
        }
        Some(_) => return Err(RpcError::params("Invalid param: filters must be an array")),
    };
    let decimals = super::rpc_server::mint_decimals(d);
    let mut out = Vec::new();
    for (k, a) in d.program_accounts(&program) {
        if filters.iter().all(|f| f.matches(&a)) {
            format.check_size(&a)?;
            out.push(json!({"pubkey": k.to_string(), "account": format.account(&a, &decimals)}));
        }
    }
    let with_ctx = config
        .and_then(|c| c.get("withContext"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(if with_ctx {
        with_context(d, Value::Array(out))
    } else {
        Value::Array(out)
    })
}
