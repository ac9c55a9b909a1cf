//! [`RpcBackend`]: the Solana JSON-RPC API of a real cluster (or of `custos devnet`).
//!
//! Methods used: `getLatestBlockhash`, `getMultipleAccounts`, `simulateTransaction` (with
//! `sigVerify: false`, `replaceRecentBlockhash: false`, the `accounts` option to read post-state,
//! and `innerInstructions`), `sendTransaction` (base64), `getSignatureStatuses`,
//! `getTokenAccountsByOwner`.
use super::backend::{SimulationOutcome, SolanaBackend, TxStatus};
use super::serialize_tx;
use async_trait::async_trait;
use base64::Engine as _;
use custos_core::{ChainError, Commitment};
use serde_json::{json, Value};
use solana_account::Account;
use solana_address::Address;
use solana_hash::Hash;
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Most addresses `getMultipleAccounts` accepts per call.
const MAX_MULTIPLE_ACCOUNTS: usize = 100;

/// A JSON-RPC client for one Solana endpoint.
#[derive(Debug)]
pub struct RpcBackend {
    url: String,
    http: reqwest::Client,
    commitment: Commitment,
    next_id: AtomicU64,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn bad(what: &str) -> ChainError {
    ChainError::Unavailable(format!("malformed RPC response: {what}"))
}

/// Parses an account in the RPC's base64 encoding.
pub fn parse_ui_account(v: &Value) -> Result<Option<Account>, ChainError> {
    if v.is_null() {
        return Ok(None);
    }
    let lamports = v["lamports"].as_u64().ok_or_else(|| bad("lamports"))?;
    let owner = v["owner"]
        .as_str()
        .and_then(|s| Address::from_str(s).ok())
        .ok_or_else(|| bad("owner"))?;
    let data = v["data"][0]
        .as_str()
        .and_then(|s| b64().decode(s).ok())
        .ok_or_else(|| bad("data"))?;
    Ok(Some(Account {
        lamports,
        data,
        owner,
        executable: v["executable"].as_bool().unwrap_or(false),
        rent_epoch: v["rentEpoch"].as_u64().unwrap_or(u64::MAX),
    })
    .filter(|a| a.lamports > 0))
}

fn commitment_of(s: Option<&str>) -> Commitment {
    match s {
        Some("finalized") => Commitment::Finalized,
        Some("confirmed") => Commitment::Confirmed,
        _ => Commitment::Processed,
    }
}

impl RpcBackend {
    /// A client for `url` (e.g. `http://127.0.0.1:8899`) reading at `commitment`.
    pub fn new(url: impl Into<String>, commitment: Commitment) -> Result<Self, ChainError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ChainError::Internal(format!("http client: {e}")))?;
        Ok(Self {
            url: url.into(),
            http,
            commitment,
            next_id: AtomicU64::new(1),
        })
    }

    /// Calls `method` with `params` and returns `result`.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ChainError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let send = || self.http.post(&self.url).json(&body).send();
        let resp = match send().await {
            Ok(r) => Ok(r),
            // Nothing was answered (a pooled connection the node closed as it was reused, a
            // connection refused under a burst): once more. Every call Custos makes is safe to
            // repeat — reads, and signed transactions the node deduplicates by signature — except
            // a faucet request, which is not repeated.
            Err(e) if (e.is_request() || e.is_connect()) && method != "requestAirdrop" => {
                tracing::debug!(method, error = %e, "RPC request unanswered; retrying once");
                send().await
            }
            Err(e) => Err(e),
        }
        .map_err(|e| ChainError::Unavailable(format!("{method}: {e}")))?;
        let status = resp.status();
        let v: Value = resp
            .json()
            .await
            .map_err(|e| ChainError::Unavailable(format!("{method}: HTTP {status}: {e}")))?;
        if let Some(err) = v.get("error") {
            let msg = err["message"].as_str().unwrap_or("error").to_string();
            let data = &err["data"];
            let detail = if data.is_null() {
                msg
            } else {
                format!("{msg} {data}")
            };
            // -32002: preflight failure; -32003: signature verification; -32602: bad params.
            return Err(match err["code"].as_i64() {
                Some(-32002) | Some(-32003) => ChainError::Rejected(detail),
                Some(-32602) => ChainError::InvalidInput(detail),
                _ => ChainError::Unavailable(format!("{method}: {detail}")),
            });
        }
        v.get("result").cloned().ok_or_else(|| bad("no result"))
    }

    fn commitment(&self) -> Value {
        json!({"commitment": self.commitment.as_str()})
    }

    /// Lamports of an address.
    pub async fn get_balance(&self, address: &Address) -> Result<u64, ChainError> {
        let r = self
            .call(
                "getBalance",
                json!([address.to_string(), self.commitment()]),
            )
            .await?;
        r["value"].as_u64().ok_or_else(|| bad("balance"))
    }

    /// Asks the cluster's faucet for lamports (devnets and `custos devnet` only).
    pub async fn request_airdrop(
        &self,
        address: &Address,
        lamports: u64,
    ) -> Result<Signature, ChainError> {
        let r = self
            .call("requestAirdrop", json!([address.to_string(), lamports]))
            .await?;
        r.as_str()
            .and_then(|s| Signature::from_str(s).ok())
            .ok_or_else(|| bad("signature"))
    }
}

#[async_trait]
impl SolanaBackend for RpcBackend {
    async fn latest_blockhash(&self) -> Result<(Hash, u64), ChainError> {
        let r = self
            .call("getLatestBlockhash", json!([self.commitment()]))
            .await?;
        let h = r["value"]["blockhash"]
            .as_str()
            .and_then(|s| Hash::from_str(s).ok())
            .ok_or_else(|| bad("blockhash"))?;
        let last = r["value"]["lastValidBlockHeight"]
            .as_u64()
            .ok_or_else(|| bad("lastValidBlockHeight"))?;
        Ok((h, last))
    }

    async fn get_accounts(
        &self,
        addresses: &[Address],
    ) -> Result<Vec<Option<Account>>, ChainError> {
        let mut out = Vec::with_capacity(addresses.len());
        for chunk in addresses.chunks(MAX_MULTIPLE_ACCOUNTS) {
            let keys: Vec<String> = chunk.iter().map(ToString::to_string).collect();
            let r = self
                .call(
                    "getMultipleAccounts",
                    json!([keys, {"encoding": "base64", "commitment": self.commitment.as_str()}]),
                )
                .await?;
            let vals = r["value"].as_array().ok_or_else(|| bad("value"))?;
            if vals.len() != chunk.len() {
                return Err(bad("account count"));
            }
            for v in vals {
                out.push(parse_ui_account(v)?);
            }
        }
        Ok(out)
    }

    async fn simulate(
        &self,
        tx: &VersionedTransaction,
        sig_verify: bool,
        addresses: &[Address],
    ) -> Result<SimulationOutcome, ChainError> {
        let encoded = b64().encode(serialize_tx(tx)?);
        let keys: Vec<String> = addresses.iter().map(ToString::to_string).collect();
        let r = self
            .call(
                "simulateTransaction",
                json!([encoded, {
                    "encoding": "base64",
                    "sigVerify": sig_verify,
                    "replaceRecentBlockhash": false,
                    "commitment": self.commitment.as_str(),
                    "innerInstructions": true,
                    "accounts": {"encoding": "base64", "addresses": keys},
                }]),
            )
            .await?;
        let v = &r["value"];
        let error = if v["err"].is_null() {
            None
        } else {
            Some(v["err"].to_string())
        };
        let post_accounts = match v["accounts"].as_array() {
            Some(a) if error.is_none() => {
                if a.len() != addresses.len() {
                    return Err(bad("simulated account count"));
                }
                a.iter()
                    .map(parse_ui_account)
                    .collect::<Result<Vec<_>, _>>()?
            }
            _ => vec![None; addresses.len()],
        };
        let static_keys = tx.message.static_account_keys();
        let mut inner_programs = Vec::new();
        for group in v["innerInstructions"].as_array().into_iter().flatten() {
            for ix in group["instructions"].as_array().into_iter().flatten() {
                if let Some(i) = ix["programIdIndex"].as_u64() {
                    // Program ids are always static keys.
                    if let Some(k) = usize::try_from(i).ok().and_then(|i| static_keys.get(i)) {
                        inner_programs.push(*k);
                    }
                } else if let Some(p) = ix["programId"]
                    .as_str()
                    .and_then(|s| Address::from_str(s).ok())
                {
                    inner_programs.push(p);
                }
            }
        }
        Ok(SimulationOutcome {
            error_detail: (!v["err"].is_null()).then(|| v["err"].clone()),
            error,
            logs: v["logs"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            units_consumed: v["unitsConsumed"].as_u64().unwrap_or(0),
            fee: v["fee"].as_u64(),
            post_accounts,
            inner_programs,
            pre_accounts: None,
        })
    }

    async fn send(&self, tx: &VersionedTransaction) -> Result<Signature, ChainError> {
        let encoded = b64().encode(serialize_tx(tx)?);
        let r = self
            .call(
                "sendTransaction",
                json!([encoded, {"encoding": "base64", "preflightCommitment": self.commitment.as_str()}]),
            )
            .await?;
        r.as_str()
            .and_then(|s| Signature::from_str(s).ok())
            .ok_or_else(|| bad("signature"))
    }

    async fn signature_status(
        &self,
        signature: &Signature,
    ) -> Result<Option<TxStatus>, ChainError> {
        let r = self
            .call(
                "getSignatureStatuses",
                json!([[signature.to_string()], {"searchTransactionHistory": true}]),
            )
            .await?;
        let s = &r["value"][0];
        if s.is_null() {
            return Ok(None);
        }
        Ok(Some(TxStatus {
            slot: s["slot"].as_u64().ok_or_else(|| bad("slot"))?,
            commitment: commitment_of(s["confirmationStatus"].as_str()),
            error: if s["err"].is_null() {
                None
            } else {
                Some(s["err"].to_string())
            },
        }))
    }

    async fn token_accounts_by_owner(
        &self,
        owner: &Address,
        token_program: &Address,
    ) -> Result<Vec<(Address, Account)>, ChainError> {
        let r = self
            .call(
                "getTokenAccountsByOwner",
                json!([owner.to_string(), {"programId": token_program.to_string()},
                       {"encoding": "base64", "commitment": self.commitment.as_str()}]),
            )
            .await?;
        let mut out = Vec::new();
        for item in r["value"].as_array().ok_or_else(|| bad("value"))? {
            let key = item["pubkey"]
                .as_str()
                .and_then(|s| Address::from_str(s).ok())
                .ok_or_else(|| bad("pubkey"))?;
            if let Some(a) = parse_ui_account(&item["account"])? {
                out.push((key, a));
            }
        }
        Ok(out)
    }

    async fn genesis_hash(&self) -> Result<Hash, ChainError> {
        let r = self.call("getGenesisHash", json!([])).await?;
        r.as_str()
            .and_then(|s| Hash::from_str(s).ok())
            .ok_or_else(|| bad("genesis hash"))
    }

    async fn minimum_balance_for_rent_exemption(&self, data_len: usize) -> Result<u64, ChainError> {
        let r = self
            .call(
                "getMinimumBalanceForRentExemption",
                json!([data_len, self.commitment()]),
            )
            .await?;
        r.as_u64().ok_or_else(|| bad("rent-exempt minimum"))
    }

    async fn recent_prioritization_fees(
        &self,
        accounts: &[Address],
    ) -> Result<Vec<u64>, ChainError> {
        let keys: Vec<String> = accounts
            .iter()
            .take(super::fees::MAX_ACCOUNTS)
            .map(ToString::to_string)
            .collect();
        let r = self
            .call("getRecentPrioritizationFees", json!([keys]))
            .await?;
        r.as_array()
            .ok_or_else(|| bad("recent prioritization fees"))?
            .iter()
            .map(|e| {
                e["prioritizationFee"]
                    .as_u64()
                    .ok_or_else(|| bad("prioritizationFee"))
            })
            .collect()
    }
}
