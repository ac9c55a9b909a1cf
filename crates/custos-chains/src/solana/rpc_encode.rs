//! How the devnet's JSON-RPC and PubSub spell accounts and transactions, as Agave does: the
//! account encodings (`binary`, `base58`, `base64`, `jsonParsed` for SPL Token accounts and
//! mints, falling back to base64 for anything else) with `dataSlice`, token amounts, and a
//! landed transaction with its metadata (`json`, `jsonParsed` with instructions left
//! partially decoded, `base58`, `base64`).
use super::devnet_ledger::{LandedTx, TokenBalance};
use super::rpc_server::RpcError;
use super::token;
use base64::Engine as _;
use serde_json::{json, Value};
use solana_account::Account;
use solana_address::Address;
use solana_message::VersionedMessage;

/// Agave's limit for base58 account data.
const MAX_BASE58_BYTES: usize = 128;
/// The error code a node gives a v0 transaction the client did not say it can read.
const UNSUPPORTED_TRANSACTION_VERSION: i64 = -32015;
const NATIVE_MINT: &str = "So11111111111111111111111111111111111111112";

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// An account encoding a client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AccountEncoding {
    /// The legacy default: the data as a bare base58 string.
    Binary,
    Base58,
    Base64,
    JsonParsed,
}

/// How to write accounts: the encoding and an optional `dataSlice` (offset, length).
#[derive(Clone, Copy, Debug)]
pub(super) struct AccountFormat {
    pub encoding: AccountEncoding,
    slice: Option<(usize, usize)>,
}

impl AccountFormat {
    /// Reads `encoding` and `dataSlice` from a request's config object; `default` when the
    /// encoding is left out (it differs between methods, as on a node).
    pub fn from_config(config: Option<&Value>, default: AccountEncoding) -> Result<Self, RpcError> {
        let encoding =
            match config
                .and_then(|c| c.get("encoding"))
                .filter(|e| !e.is_null())
            {
                None => default,
                Some(e) => match e.as_str() {
                    Some("binary") => AccountEncoding::Binary,
                    Some("base58") => AccountEncoding::Base58,
                    Some("base64") => AccountEncoding::Base64,
                    Some("jsonParsed") => AccountEncoding::JsonParsed,
                    Some("base64+zstd") => return Err(RpcError::params(
                        "Invalid params: base64+zstd is not supported by this devnet (use base64)",
                    )),
                    _ => return Err(RpcError::params("Invalid params: unknown variant encoding")),
                },
            };
        let slice = match config
            .and_then(|c| c.get("dataSlice"))
            .filter(|s| !s.is_null())
        {
            None => None,
            Some(s) => {
                let field = |k: &str| {
                    s.get(k)
                        .and_then(Value::as_u64)
                        .and_then(|v| usize::try_from(v).ok())
                        .ok_or_else(|| {
                            RpcError::params(format!("Invalid params: dataSlice.{k} is required"))
                        })
                };
                Some((field("offset")?, field("length")?))
            }
        };
        if slice.is_some() && encoding == AccountEncoding::JsonParsed {
            return Err(RpcError::params(
                "Sliced account data can only be encoded using binary (base 58) or base64 encoding.",
            ));
        }
        Ok(Self { encoding, slice })
    }

    fn sliced<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        match self.slice {
            None => data,
            Some((offset, length)) => {
                let start = offset.min(data.len());
                let end = offset.saturating_add(length).min(data.len());
                data.get(start..end).unwrap_or_default()
            }
        }
    }

    /// For a method answer: base58 of more than 128 bytes is refused, as a node refuses it.
    pub fn check_size(&self, a: &Account) -> Result<(), RpcError> {
        let base58 = matches!(
            self.encoding,
            AccountEncoding::Binary | AccountEncoding::Base58
        );
        if base58 && self.sliced(&a.data).len() > MAX_BASE58_BYTES {
            return Err(RpcError::params(format!(
                "Encoded binary (base 58) data should be less than {MAX_BASE58_BYTES} bytes, please use Base64 encoding."
            )));
        }
        Ok(())
    }

    /// The account as a node writes it (`UiAccount`). `decimals` reads a mint's decimals, for
    /// a parsed token account's amount.
    pub fn account(&self, a: &Account, decimals: &dyn Fn(&Address) -> Option<u8>) -> Value {
        let data = self.sliced(&a.data);
        let too_big = || json!("error: data too large for bs58 encoding");
        let encoded = match self.encoding {
            AccountEncoding::Binary if data.len() > MAX_BASE58_BYTES => too_big(),
            AccountEncoding::Binary => json!(bs58::encode(data).into_string()),
            AccountEncoding::Base58 if data.len() > MAX_BASE58_BYTES => too_big(),
            AccountEncoding::Base58 => json!([bs58::encode(data).into_string(), "base58"]),
            AccountEncoding::Base64 => json!([b64().encode(data), "base64"]),
            AccountEncoding::JsonParsed => {
                parse_token(a, decimals).unwrap_or_else(|| json!([b64().encode(data), "base64"]))
            }
        };
        json!({
            "lamports": a.lamports,
            "owner": a.owner.to_string(),
            "data": encoded,
            "executable": a.executable,
            "rentEpoch": a.rent_epoch,
            "space": a.data.len(),
        })
    }
}

/// A token amount as the API reports it: base units as a string, decimals, and the whole-unit
/// value as a number and as an exact string.
pub(super) fn ui_token_amount(amount: u64, decimals: u8) -> Value {
    let exact = custos_core::from_base_units(u128::from(amount), decimals)
        .map(|d| d.to_string())
        .unwrap_or_default();
    json!({
        "amount": amount.to_string(),
        "decimals": decimals,
        "uiAmount": exact.parse::<f64>().ok(),
        "uiAmountString": exact,
    })
}

fn key_at(d: &[u8], at: usize) -> Option<Address> {
    let b: [u8; 32] = d.get(at..at + 32)?.try_into().ok()?;
    Some(Address::new_from_array(b))
}

fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(at..at + 8)?.try_into().ok()?))
}

/// A `COption<Pubkey>`: `Some(None)` when absent, `None` when malformed.
fn coption_key(d: &[u8], at: usize) -> Option<Option<Address>> {
    match u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?) {
        0 => Some(None),
        1 => Some(Some(key_at(d, at + 4)?)),
        _ => None,
    }
}

/// `jsonParsed` for an SPL Token / Token-2022 account or mint without extensions (anything
/// else, extended Token-2022 state included, falls back to base64).
/// A Token-2022 account's extensions (type-length-value after the account-type byte), named as
/// nodes name them; those this devnet does not parse are `unparseableExtension`, as a node
/// reports an extension it cannot parse.
fn extensions(mut tlv: &[u8]) -> Vec<Value> {
    let mut out = Vec::new();
    while tlv.len() >= 4 {
        let kind = u16::from_le_bytes([tlv[0], tlv[1]]);
        let len = usize::from(u16::from_le_bytes([tlv[2], tlv[3]]));
        if kind == 0 {
            break;
        }
        out.push(match kind {
            7 => json!({"extension": "immutableOwner"}),
            _ => json!({"extension": "unparseableExtension"}),
        });
        tlv = tlv.get(4 + len..).unwrap_or_default();
    }
    out
}

fn parse_token(a: &Account, decimals: &dyn Fn(&Address) -> Option<u8>) -> Option<Value> {
    let program = if a.owner == token::token_program() {
        "spl-token"
    } else if a.owner == token::token_2022_program() {
        "spl-token-2022"
    } else {
        return None;
    };
    let d = &a.data;
    let parsed = if d.len() >= token::ACCOUNT_LEN && d.get(token::ACCOUNT_LEN) != Some(&1) {
        let t = token::parse_token_account(&a.owner, d)?;
        let dec = decimals(&t.mint)?;
        let mut info = json!({
            "mint": t.mint.to_string(),
            "owner": t.owner.to_string(),
            "tokenAmount": ui_token_amount(t.amount, dec),
            "state": if d.get(108) == Some(&2) { "frozen" } else { "initialized" },
            "isNative": t.mint.to_string() == NATIVE_MINT,
        });
        if let Some(delegate) = t.delegate {
            info["delegate"] = json!(delegate.to_string());
            info["delegatedAmount"] = ui_token_amount(t.delegated_amount, dec);
        }
        if d.get(109..113) == Some(&[1, 0, 0, 0]) {
            info["rentExemptReserve"] = ui_token_amount(u64_at(d, 113)?, dec);
        }
        if let Some(close) = t.close_authority {
            info["closeAuthority"] = json!(close.to_string());
        }
        if d.len() > token::ACCOUNT_LEN {
            info["extensions"] = Value::Array(extensions(d.get(token::ACCOUNT_LEN + 1..)?));
        }
        json!({"type": "account", "info": info})
    } else if d.len() == token::MINT_LEN {
        let (supply, dec) = token::parse_mint_supply(&a.owner, d)?;
        let opt = |k: Option<Address>| k.map(|k| json!(k.to_string())).unwrap_or(Value::Null);
        json!({"type": "mint", "info": {
            "mintAuthority": opt(coption_key(d, 0)?),
            "supply": supply.to_string(),
            "decimals": dec,
            "isInitialized": true,
            "freezeAuthority": opt(coption_key(d, 46)?),
        }})
    } else {
        return None;
    };
    Some(json!({"program": program, "parsed": parsed, "space": d.len()}))
}

/// How a transaction is written (`getTransaction`/`getBlock` `encoding`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TxEncoding {
    Json,
    JsonParsed,
    Base58,
    Base64,
}

impl TxEncoding {
    pub fn from_config(config: Option<&Value>) -> Result<Self, RpcError> {
        match config
            .and_then(|c| c.get("encoding"))
            .filter(|e| !e.is_null())
        {
            None => Ok(Self::Json),
            Some(e) => match e.as_str() {
                Some("json") => Ok(Self::Json),
                Some("jsonParsed") => Ok(Self::JsonParsed),
                Some("base58" | "binary") => Ok(Self::Base58),
                Some("base64") => Ok(Self::Base64),
                _ => Err(RpcError::params("Invalid params: unknown variant encoding")),
            },
        }
    }
}

/// `maxSupportedTransactionVersion` from a config: `None` when left out (legacy only).
pub(super) fn max_version(config: Option<&Value>) -> Result<Option<u8>, RpcError> {
    match config
        .and_then(|c| c.get("maxSupportedTransactionVersion"))
        .filter(|v| !v.is_null())
    {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|v| u8::try_from(v).ok())
            .map(Some)
            .ok_or_else(|| RpcError::params("Invalid params: maxSupportedTransactionVersion")),
    }
}

/// A landed transaction with its metadata, as `getTransaction` and `getBlock` list it.
pub(super) fn landed_transaction(
    t: &LandedTx,
    encoding: TxEncoding,
    max_version: Option<u8>,
) -> Result<Value, RpcError> {
    let v0 = matches!(t.tx.message, VersionedMessage::V0(_));
    if v0 && max_version.is_none() {
        return Err(RpcError {
            code: UNSUPPORTED_TRANSACTION_VERSION,
            message: "Transaction version (0) is not supported by the requesting client. Please \
                      try the request again with the following configuration parameter: \
                      \"maxSupportedTransactionVersion\": 0"
                .into(),
            data: None,
        });
    }
    let transaction = match encoding {
        TxEncoding::Json => json_transaction(t),
        TxEncoding::JsonParsed => parsed_transaction(t),
        TxEncoding::Base58 | TxEncoding::Base64 => {
            let bytes = super::serialize_tx(&t.tx).map_err(|e| RpcError {
                code: super::rpc_server::INTERNAL_ERROR,
                message: e.to_string(),
                data: None,
            })?;
            if encoding == TxEncoding::Base58 {
                json!([bs58::encode(bytes).into_string(), "base58"])
            } else {
                json!([b64().encode(bytes), "base64"])
            }
        }
    };
    let mut out = json!({
        "slot": t.slot,
        "blockTime": t.block_time,
        "transaction": transaction,
        "meta": meta(t, encoding == TxEncoding::JsonParsed),
    });
    if max_version.is_some() {
        out["version"] = if v0 { json!(0) } else { json!("legacy") };
    }
    Ok(out)
}

fn b58(data: &[u8]) -> String {
    bs58::encode(data).into_string()
}

fn lookups(message: &VersionedMessage) -> Option<Value> {
    message.address_table_lookups().map(|ls| {
        ls.iter()
            .map(|l| {
                json!({
                    "accountKey": l.account_key.to_string(),
                    "writableIndexes": l.writable_indexes,
                    "readonlyIndexes": l.readonly_indexes,
                })
            })
            .collect()
    })
}

fn json_transaction(t: &LandedTx) -> Value {
    let m = &t.tx.message;
    let h = m.header();
    let mut message = json!({
        "accountKeys": m.static_account_keys().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "header": {
            "numRequiredSignatures": h.num_required_signatures,
            "numReadonlySignedAccounts": h.num_readonly_signed_accounts,
            "numReadonlyUnsignedAccounts": h.num_readonly_unsigned_accounts,
        },
        "recentBlockhash": m.recent_blockhash().to_string(),
        "instructions": m.instructions().iter().map(|ix| json!({
            "programIdIndex": ix.program_id_index,
            "accounts": ix.accounts,
            "data": b58(&ix.data),
            "stackHeight": null,
        })).collect::<Vec<_>>(),
    });
    if let Some(l) = lookups(m) {
        message["addressTableLookups"] = l;
    }
    json!({
        "signatures": t.tx.signatures.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "message": message,
    })
}

/// `jsonParsed`: account keys with their roles, and every instruction partially decoded
/// (`programId`, `accounts`, `data`) — this devnet does not parse instructions by program.
fn parsed_transaction(t: &LandedTx) -> Value {
    let m = &t.tx.message;
    let keys: Vec<&Address> = t.account_keys().collect();
    let statics = m.static_account_keys().len();
    let signers = usize::from(m.header().num_required_signatures);
    let loaded_writable = t.meta.loaded_writable.len();
    let account_keys: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let writable = if i < statics {
                m.is_maybe_writable(i, None)
            } else {
                i < statics + loaded_writable
            };
            json!({
                "pubkey": k.to_string(),
                "writable": writable,
                "signer": i < signers,
                "source": if i < statics { "transaction" } else { "lookupTable" },
            })
        })
        .collect();
    let instructions: Vec<Value> = m
        .instructions()
        .iter()
        .map(|ix| partially_decoded(&keys, ix.program_id_index, &ix.accounts, &ix.data, None))
        .collect();
    let mut message = json!({
        "accountKeys": account_keys,
        "recentBlockhash": m.recent_blockhash().to_string(),
        "instructions": instructions,
    });
    if let Some(l) = lookups(m) {
        message["addressTableLookups"] = l;
    }
    json!({
        "signatures": t.tx.signatures.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "message": message,
    })
}

fn partially_decoded(
    keys: &[&Address],
    program: u8,
    accounts: &[u8],
    data: &[u8],
    stack_height: Option<u32>,
) -> Value {
    let key = |i: u8| {
        keys.get(usize::from(i))
            .map(|k| k.to_string())
            .unwrap_or_default()
    };
    json!({
        "programId": key(program),
        "accounts": accounts.iter().map(|a| key(*a)).collect::<Vec<_>>(),
        "data": b58(data),
        "stackHeight": stack_height,
    })
}

fn token_balances(list: &[TokenBalance]) -> Vec<Value> {
    list.iter()
        .map(|b| {
            json!({
                "accountIndex": b.account_index,
                "mint": b.mint.to_string(),
                "owner": b.owner.to_string(),
                "programId": b.program_id.to_string(),
                "uiTokenAmount": ui_token_amount(b.amount, b.decimals),
            })
        })
        .collect()
}

fn meta(t: &LandedTx, parsed: bool) -> Value {
    let m = &t.meta;
    let keys: Vec<&Address> = t.account_keys().collect();
    let inner: Vec<Value> = m
        .inner_instructions
        .iter()
        .map(|(index, ixs)| {
            let instructions: Vec<Value> = ixs
                .iter()
                .map(|ix| {
                    if parsed {
                        partially_decoded(
                            &keys,
                            ix.program_id_index,
                            &ix.accounts,
                            &ix.data,
                            Some(ix.stack_height),
                        )
                    } else {
                        json!({
                            "programIdIndex": ix.program_id_index,
                            "accounts": ix.accounts,
                            "data": b58(&ix.data),
                            "stackHeight": ix.stack_height,
                        })
                    }
                })
                .collect();
            json!({"index": index, "instructions": instructions})
        })
        .collect();
    let mut out = json!({
        "err": m.err,
        "status": match &m.err { None => json!({"Ok": null}), Some(e) => json!({"Err": e}) },
        "fee": m.fee,
        "preBalances": m.pre_balances,
        "postBalances": m.post_balances,
        "innerInstructions": inner,
        "logMessages": m.logs,
        "preTokenBalances": token_balances(&m.pre_token_balances),
        "postTokenBalances": token_balances(&m.post_token_balances),
        "rewards": [],
        "loadedAddresses": {
            "writable": m.loaded_writable.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "readonly": m.loaded_readonly.iter().map(ToString::to_string).collect::<Vec<_>>(),
        },
        "computeUnitsConsumed": m.compute_units,
    });
    if let Some((program, data)) = &m.return_data {
        out["returnData"] = json!({
            "programId": program.to_string(),
            "data": [b64().encode(data), "base64"],
        });
    }
    out
}
