//! A JSON-RPC client for an Ethereum node (geth, reth, anvil, a provider's endpoint): the
//! handful of `eth_*` and `debug_*` methods the adapter uses, with quantities decoded and errors
//! sorted into the node's refusals (`Rejected`) and its unavailability (`Unavailable`).
use alloy_primitives::{Address, B256, U256};
use custos_core::ChainError;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A node's JSON-RPC endpoint.
pub struct EvmRpc {
    url: String,
    http: reqwest::Client,
    next_id: AtomicU64,
}

/// A mined transaction's receipt, as far as Custos reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// Block it was mined in.
    pub block_number: u64,
    /// `true` when it succeeded.
    pub success: bool,
    /// Gas used.
    pub gas_used: u64,
    /// Effective gas price.
    pub effective_gas_price: u128,
}

/// Parses a hex quantity (`"0x1a"`).
pub fn quantity(v: &Value, what: &str) -> Result<U256, ChainError> {
    v.as_str()
        .and_then(|s| s.parse::<U256>().ok())
        .ok_or_else(|| ChainError::Unavailable(format!("node returned a malformed {what}: {v}")))
}

/// A hex quantity that must fit in 64 bits.
pub fn quantity_u64(v: &Value, what: &str) -> Result<u64, ChainError> {
    u64::try_from(quantity(v, what)?)
        .map_err(|_| ChainError::Unavailable(format!("node returned an out-of-range {what}")))
}

fn hex_bytes(b: &[u8]) -> String {
    format!("0x{}", alloy_primitives::hex::encode(b))
}

impl EvmRpc {
    /// A client for `url` (http or https), with a per-request timeout.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, ChainError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ChainError::InvalidInput(format!(
                "rpc_url must be http:// or https://, got `{}`",
                url.chars().take(60).collect::<String>()
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(32)
            .build()
            .map_err(|e| ChainError::Internal(format!("http client: {e}")))?;
        Ok(Self {
            url: url.to_owned(),
            http,
            next_id: AtomicU64::new(1),
        })
    }

    /// One call. A JSON-RPC error object becomes `Rejected` (the node understood and refused);
    /// transport failures and malformed answers become `Unavailable`.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ChainError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let resp = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| ChainError::Unavailable(format!("{method}: {e}")))?;
        let status = resp.status();
        let v: Value = resp
            .json()
            .await
            .map_err(|e| ChainError::Unavailable(format!("{method}: HTTP {status}: {e}")))?;
        if let Some(err) = v.get("error") {
            let msg = err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("error")
                .to_owned();
            let data = err
                .get("data")
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            return Err(ChainError::Rejected(format!("{method}: {msg}{data}")));
        }
        v.get("result")
            .cloned()
            .ok_or_else(|| ChainError::Unavailable(format!("{method}: no result")))
    }

    /// `eth_chainId`.
    pub async fn chain_id(&self) -> Result<u64, ChainError> {
        quantity_u64(&self.call("eth_chainId", json!([])).await?, "chain id")
    }

    /// `eth_getTransactionCount(address, "pending")`: the next nonce as the node sees it,
    /// counting transactions still in its pool.
    pub async fn pending_nonce(&self, a: Address) -> Result<u64, ChainError> {
        quantity_u64(
            &self
                .call("eth_getTransactionCount", json!([a, "pending"]))
                .await?,
            "nonce",
        )
    }

    /// `eth_getBalance(address, "latest")`.
    pub async fn balance(&self, a: Address) -> Result<U256, ChainError> {
        quantity(
            &self.call("eth_getBalance", json!([a, "latest"])).await?,
            "balance",
        )
    }

    /// `eth_call` at `latest`, returning the return data.
    pub async fn eth_call(
        &self,
        from: Option<Address>,
        to: Address,
        data: &[u8],
    ) -> Result<Vec<u8>, ChainError> {
        let mut tx = json!({"to": to, "data": hex_bytes(data)});
        if let Some(f) = from {
            tx["from"] = json!(f);
        }
        let out = self.call("eth_call", json!([tx, "latest"])).await?;
        out.as_str()
            .and_then(|s| alloy_primitives::hex::decode(s).ok())
            .ok_or_else(|| ChainError::Unavailable("eth_call returned malformed data".into()))
    }

    /// `eth_estimateGas` for a call from `from`.
    pub async fn estimate_gas(
        &self,
        from: Address,
        to: Option<Address>,
        value: U256,
        data: &[u8],
    ) -> Result<u64, ChainError> {
        let mut tx = json!({"from": from, "value": value, "data": hex_bytes(data)});
        if let Some(t) = to {
            tx["to"] = json!(t);
        }
        quantity_u64(&self.call("eth_estimateGas", json!([tx])).await?, "gas")
    }

    /// The latest block's base fee (0 on a chain without EIP-1559).
    pub async fn base_fee(&self) -> Result<u128, ChainError> {
        let block = self
            .call("eth_getBlockByNumber", json!(["latest", false]))
            .await?;
        match block.get("baseFeePerGas") {
            Some(v) => u128::try_from(quantity(v, "base fee")?)
                .map_err(|_| ChainError::Unavailable("base fee out of range".into())),
            None => Ok(0),
        }
    }

    /// The base fee the next block will charge (the `pending` block's), or the latest block's
    /// when the node has no pending block.
    pub async fn next_base_fee(&self) -> Result<u128, ChainError> {
        match self
            .call("eth_getBlockByNumber", json!(["pending", false]))
            .await
        {
            Ok(block) => match block.get("baseFeePerGas") {
                Some(v) if !v.is_null() => u128::try_from(quantity(v, "base fee")?)
                    .map_err(|_| ChainError::Unavailable("base fee out of range".into())),
                _ => self.base_fee().await,
            },
            Err(ChainError::Rejected(_)) => self.base_fee().await,
            Err(e) => Err(e),
        }
    }

    /// `eth_maxPriorityFeePerGas`, or `None` when the node does not offer it.
    pub async fn priority_fee(&self) -> Result<Option<u128>, ChainError> {
        match self.call("eth_maxPriorityFeePerGas", json!([])).await {
            Ok(v) => Ok(u128::try_from(quantity(&v, "priority fee")?).ok()),
            Err(ChainError::Rejected(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `eth_blockNumber`.
    pub async fn block_number(&self) -> Result<u64, ChainError> {
        quantity_u64(
            &self.call("eth_blockNumber", json!([])).await?,
            "block number",
        )
    }

    /// `eth_sendRawTransaction`; returns the hash.
    pub async fn send_raw(&self, signed: &[u8]) -> Result<B256, ChainError> {
        let v = self
            .call("eth_sendRawTransaction", json!([hex_bytes(signed)]))
            .await?;
        v.as_str()
            .and_then(|s| s.parse::<B256>().ok())
            .ok_or_else(|| ChainError::Unavailable("malformed transaction hash".into()))
    }

    /// `eth_getTransactionByHash`: whether the node knows the transaction at all (mined, or
    /// waiting in its pool). A transaction it dropped from the pool is unknown again.
    pub async fn transaction_known(&self, hash: B256) -> Result<bool, ChainError> {
        Ok(!self
            .call("eth_getTransactionByHash", json!([hash]))
            .await?
            .is_null())
    }

    /// `eth_getTransactionByHash` as the node answers it (`null` when unknown).
    pub async fn transaction(&self, hash: B256) -> Result<Value, ChainError> {
        self.call("eth_getTransactionByHash", json!([hash])).await
    }

    /// `eth_getTransactionCount(who, "latest")`: the sender's mined transactions.
    pub async fn mined_nonce(&self, who: Address) -> Result<u64, ChainError> {
        quantity_u64(
            &self
                .call("eth_getTransactionCount", json!([who, "latest"]))
                .await?,
            "nonce",
        )
    }

    /// `eth_getTransactionReceipt`; `None` while not mined.
    pub async fn receipt(&self, hash: B256) -> Result<Option<Receipt>, ChainError> {
        let v = self
            .call("eth_getTransactionReceipt", json!([hash]))
            .await?;
        if v.is_null() {
            return Ok(None);
        }
        let status = v
            .get("status")
            .map(|s| quantity_u64(s, "status"))
            .transpose()?;
        Ok(Some(Receipt {
            block_number: quantity_u64(&v["blockNumber"], "block number")?,
            success: status == Some(1),
            gas_used: quantity_u64(&v["gasUsed"], "gas used")?,
            effective_gas_price: v
                .get("effectiveGasPrice")
                .map(|p| quantity(p, "gas price"))
                .transpose()?
                .and_then(|p| u128::try_from(p).ok())
                .unwrap_or(0),
        }))
    }

    /// `debug_traceCall` with the call tracer and its logs: the whole call tree of a
    /// transaction run against the latest state.
    pub async fn trace_call(&self, tx: Value) -> Result<Value, ChainError> {
        self.call(
            "debug_traceCall",
            json!([tx, "latest", {"tracer": "callTracer", "tracerConfig": {"withLog": true}}]),
        )
        .await
    }
}
