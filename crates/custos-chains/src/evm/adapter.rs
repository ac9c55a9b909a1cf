//! The EVM chain adapter: EIP-1559 ETH and ERC-20 transfers with fees from the node under the
//! configured caps, simulation through the node's call trace, nonces from the
//! [`NonceManager`](super::nonce::NonceManager), receipts after a configured number of
//! confirmations, balances. One adapter per chain id.
use super::calldata::{self, Call};
use super::nonce::NonceManager;
use super::rpc::EvmRpc;
use super::trace;
use super::uniswap;
use super::wire::{checksum, parse_address, signed_tx_hash, Eip1559Fields, UnsignedEvmTx};
use alloy_primitives::{Address, U256};
use custos_core::{
    to_base_units, AssetBalance, AssetRef, Atoms, BalanceChange, Chain, ChainAdapter, ChainError,
    Commitment, Confirmation, DecodedTransfer, DecodedTx, KeyScheme, Sequenced, SignPayload,
    SimulatedEffects, TransferIntent, UnsignedTx,
};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Decimals of ETH and of every EVM chain's native coin.
pub const NATIVE_DECIMALS: u8 = 18;

/// One EVM chain's settings.
#[derive(Clone, Debug)]
pub struct EvmConfig {
    /// EIP-155 chain id; the node must report the same.
    pub chain_id: u64,
    /// The node's JSON-RPC URL.
    pub rpc_url: String,
    /// The native coin's symbol (`ETH`).
    pub native_symbol: String,
    /// Blocks on top of the transaction's own before it counts as confirmed (1 = mined).
    pub confirmations: u64,
    /// Refuse to pay more than this per gas, wei.
    pub max_fee_per_gas_cap: u128,
    /// Never tip more than this per gas, wei.
    pub max_priority_fee_cap: u128,
    /// Tip when the node does not suggest one, wei.
    pub default_priority_fee: u128,
    /// ERC-20 contracts whose balances `balances` reports.
    pub tokens: Vec<String>,
    /// The longest pause between receipt polls (they start at 2 ms and double).
    pub poll_interval: Duration,
    /// Per-request timeout to the node.
    pub rpc_timeout: Duration,
}

impl EvmConfig {
    /// Defaults for `chain_id` at `rpc_url`: ETH, 1 confirmation, 500 gwei fee cap, 5 gwei tip
    /// cap, 1 gwei default tip.
    pub fn new(chain_id: u64, rpc_url: &str) -> Self {
        Self {
            chain_id,
            rpc_url: rpc_url.to_owned(),
            native_symbol: "ETH".into(),
            confirmations: 1,
            max_fee_per_gas_cap: 500_000_000_000,
            max_priority_fee_cap: 5_000_000_000,
            default_priority_fee: 1_000_000_000,
            tokens: Vec::new(),
            poll_interval: Duration::from_millis(250),
            rpc_timeout: Duration::from_secs(10),
        }
    }
}

/// The adapter for one EVM chain.
pub struct EvmAdapter {
    cfg: EvmConfig,
    rpc: Arc<EvmRpc>,
    nonces: NonceManager,
    decimals: Mutex<HashMap<Address, u8>>,
}

fn invalid(field: &str, e: impl std::fmt::Display) -> ChainError {
    ChainError::InvalidInput(format!("{field}: {e}"))
}

impl EvmAdapter {
    /// An adapter for `cfg`; checks nothing on the network (see [`Self::check_chain_id`]).
    pub fn new(cfg: EvmConfig) -> Result<Self, ChainError> {
        let rpc = Arc::new(EvmRpc::new(&cfg.rpc_url, cfg.rpc_timeout)?);
        Ok(Self {
            nonces: NonceManager::new(rpc.clone()),
            rpc,
            cfg,
            decimals: Mutex::new(HashMap::new()),
        })
    }

    /// Fails unless the node serves the configured chain id (a wrong URL would otherwise sign
    /// transactions for one chain and send them to another).
    pub async fn check_chain_id(&self) -> Result<(), ChainError> {
        let id = self.rpc.chain_id().await?;
        if id != self.cfg.chain_id {
            return Err(ChainError::InvalidInput(format!(
                "the node at {} serves chain id {id}, not the configured {}",
                self.cfg.rpc_url, self.cfg.chain_id
            )));
        }
        Ok(())
    }

    /// The JSON-RPC client.
    pub fn rpc(&self) -> &EvmRpc {
        &self.rpc
    }

    /// The configuration.
    pub fn config(&self) -> &EvmConfig {
        &self.cfg
    }

    /// An ERC-20 token's decimals (`decimals()`), cached; 0 for a contract without it (NFTs).
    pub async fn token_decimals(&self, token: Address) -> Result<u8, ChainError> {
        if let Some(d) = self
            .decimals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&token)
        {
            return Ok(*d);
        }
        let d = match self
            .rpc
            .eth_call(None, token, &uniswap::selector("decimals()"))
            .await
        {
            Ok(ret) if ret.len() == 32 => u8::try_from(U256::from_be_slice(&ret))
                .map_err(|_| invalid("asset", "decimals() out of range"))?,
            Ok(_) | Err(ChainError::Rejected(_)) => 0,
            Err(e) => return Err(e),
        };
        self.decimals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(token, d);
        Ok(d)
    }

    /// `balanceOf(owner)` of an ERC-20 token.
    pub async fn token_balance(&self, token: Address, owner: Address) -> Result<U256, ChainError> {
        let mut data = uniswap::selector("balanceOf(address)").to_vec();
        data.extend_from_slice(&[0u8; 12]);
        data.extend_from_slice(owner.as_slice());
        let ret = self.rpc.eth_call(None, token, &data).await?;
        if ret.len() < 32 {
            return Err(ChainError::InvalidInput(format!(
                "asset: {} has no ERC-20 balanceOf",
                checksum(&token)
            )));
        }
        Ok(U256::from_be_slice(&ret[..32]))
    }

    /// Fees for a new transaction: `(max_fee_per_gas, max_priority_fee_per_gas)` from the
    /// latest base fee and the node's suggested tip, within the configured caps.
    pub async fn fees(&self) -> Result<(u128, u128), ChainError> {
        let base = self.rpc.base_fee().await?;
        let tip = self
            .rpc
            .priority_fee()
            .await?
            .unwrap_or(self.cfg.default_priority_fee)
            .min(self.cfg.max_priority_fee_cap);
        let wanted = base.saturating_mul(2).saturating_add(tip);
        let max_fee = wanted.min(self.cfg.max_fee_per_gas_cap);
        if max_fee < base.saturating_add(tip) {
            return Err(ChainError::Unavailable(format!(
                "the network's base fee ({base} wei/gas) is above the configured cap of {} wei/gas",
                self.cfg.max_fee_per_gas_cap
            )));
        }
        Ok((max_fee, tip))
    }

    /// Builds an unsigned EIP-1559 transaction from `from` with fees and gas from the node. The
    /// nonce is the node's pending count; [`ChainAdapter::sequence`] sets the final one.
    pub async fn build_call(
        &self,
        from: Address,
        to: Address,
        value: U256,
        data: Vec<u8>,
    ) -> Result<UnsignedEvmTx, ChainError> {
        let gas = self.rpc.estimate_gas(from, Some(to), value, &data).await?;
        // A plain transfer costs exactly 21,000; contract calls get a 20 % margin.
        let gas_limit = if gas == 21_000 {
            gas
        } else {
            gas.saturating_mul(6) / 5
        };
        let (max_fee, tip) = self.fees().await?;
        let nonce = self.rpc.pending_nonce(from).await?;
        Ok(UnsignedEvmTx::new(Eip1559Fields {
            chain_id: self.cfg.chain_id,
            nonce,
            gas_limit,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
            to: Some(to),
            value,
            input: data,
        }))
    }

    /// The `UnsignedTx` the pipeline carries for `tx`.
    pub fn unsigned(
        &self,
        tx: &UnsignedEvmTx,
        signer: Address,
        amount: u128,
        decimals: u8,
    ) -> UnsignedTx {
        let bytes = tx.encode();
        UnsignedTx {
            chain: Chain::Evm(self.cfg.chain_id),
            message: bytes.clone(),
            tx_bytes: bytes,
            signer: checksum(&signer),
            amount_base_units: amount,
            decimals,
            last_valid_block_height: None,
        }
    }

    fn decode_own(&self, tx_bytes: &[u8]) -> Result<UnsignedEvmTx, ChainError> {
        let tx = UnsignedEvmTx::decode(tx_bytes)?;
        if tx.chain_id() != self.cfg.chain_id {
            return Err(ChainError::InvalidInput(format!(
                "transaction: chain id {} is not this chain's ({})",
                tx.chain_id(),
                self.cfg.chain_id
            )));
        }
        Ok(tx)
    }

    fn calls_of(tx: &UnsignedEvmTx) -> Result<Vec<Call>, ChainError> {
        match tx.to() {
            Some(to) if !tx.input().is_empty() => {
                calldata::flatten(to, tx.input()).map_err(|e| invalid("transaction", e))
            }
            _ => Ok(Vec::new()),
        }
    }

    /// Effects from calldata alone, for a node without `debug_traceCall`: the value sent and
    /// ERC-20 `transfer`s, success from `eth_estimateGas`.
    async fn simulate_without_trace(
        &self,
        tx: &UnsignedEvmTx,
        agent: Address,
        calls: &[Call],
    ) -> Result<trace::TraceEffects, ChainError> {
        let mut out = trace::TraceEffects::default();
        match self
            .rpc
            .estimate_gas(agent, tx.to(), tx.value(), tx.input())
            .await
        {
            Ok(g) => {
                out.success = true;
                out.gas_used = g;
            }
            Err(ChainError::Rejected(m)) => {
                out.error = Some(m);
                return Ok(out);
            }
            Err(e) => return Err(e),
        }
        out.native.send(tx.value());
        if let Some(to) = tx.to() {
            if tx.input().is_empty() && !tx.value().is_zero() {
                out.recipients.push(to);
            }
        }
        for c in calls {
            if let Some((token, to, amount)) = calldata::erc20_transfer(c) {
                let e = out
                    .token_deltas
                    .entry(token)
                    .or_insert((trace::Flow::default(), false));
                e.0.send(amount);
                out.recipients.push(to);
            }
        }
        Ok(out)
    }
}

/// Fees for a replacement of a pending transaction that pays `old` (`(max fee, tip)` per gas):
/// each raised by at least `bump_percent` % (nodes take a replacement only when both rise, by
/// 10 % or more), and never below what a new transaction would pay at `base` with the node's
/// `suggested` tip. A replacement above the chain's caps is refused, naming the bump.
pub fn replacement_fees(
    cfg: &EvmConfig,
    old: (u128, u128),
    base: u128,
    suggested: Option<u128>,
    bump_percent: u32,
) -> Result<(u128, u128), ChainError> {
    let raise = |v: u128| {
        v.saturating_mul(100 + u128::from(bump_percent))
            .div_ceil(100)
    };
    let tip = raise(old.1).max(
        suggested
            .unwrap_or(cfg.default_priority_fee)
            .min(cfg.max_priority_fee_cap),
    );
    let current = base
        .saturating_mul(2)
        .saturating_add(tip)
        .min(cfg.max_fee_per_gas_cap);
    let max_fee = raise(old.0).max(current).max(base.saturating_add(tip));
    let gwei = |w: u128| format!("{:.3} gwei", w as f64 / 1e9);
    if tip > cfg.max_priority_fee_cap {
        return Err(ChainError::InvalidInput(format!(
            "fee_bump_percent: the replacement would tip {} per gas, above this chain's cap of {} (max_priority_fee_gwei)",
            gwei(tip),
            gwei(cfg.max_priority_fee_cap)
        )));
    }
    if max_fee > cfg.max_fee_per_gas_cap {
        return Err(ChainError::InvalidInput(format!(
            "fee_bump_percent: the replacement would pay up to {} per gas, above this chain's cap of {} (max_fee_per_gas_gwei)",
            gwei(max_fee),
            gwei(cfg.max_fee_per_gas_cap)
        )));
    }
    Ok((max_fee, tip))
}

#[async_trait::async_trait]
impl ChainAdapter for EvmAdapter {
    fn chain(&self) -> Chain {
        Chain::Evm(self.cfg.chain_id)
    }

    fn key_scheme(&self) -> KeyScheme {
        KeyScheme::Secp256k1Ecdsa
    }

    fn address_family(&self) -> &'static str {
        "evm"
    }

    fn native_symbol(&self) -> &str {
        &self.cfg.native_symbol
    }

    async fn check_chain(&self) -> Result<(), ChainError> {
        self.check_chain_id().await
    }

    fn sign_payload(&self, tx_bytes: &[u8]) -> SignPayload {
        SignPayload::EvmTransaction {
            bytes: tx_bytes.to_vec(),
        }
    }

    async fn build_transfer(&self, intent: &TransferIntent) -> Result<UnsignedTx, ChainError> {
        let from = parse_address(&intent.from, "from")?;
        let to = parse_address(&intent.to, "to")?;
        match &intent.asset {
            AssetRef::Native => {
                let wei = to_base_units(intent.amount, NATIVE_DECIMALS)?;
                let tx = self
                    .build_call(from, to, U256::from(wei), Vec::new())
                    .await?;
                Ok(self.unsigned(&tx, from, wei, NATIVE_DECIMALS))
            }
            AssetRef::Token(t) => {
                let token = parse_address(t, "asset")?;
                let decimals = self.token_decimals(token).await?;
                let units = to_base_units(intent.amount, decimals)?;
                let data = calldata::encode_transfer(to, U256::from(units));
                let tx = self.build_call(from, token, U256::ZERO, data).await?;
                Ok(self.unsigned(&tx, from, units, decimals))
            }
        }
    }

    async fn why_stuck(&self, tx_id: &str) -> Result<Option<String>, ChainError> {
        let hash = tx_id
            .parse()
            .map_err(|_| invalid("tx", "not a transaction hash"))?;
        let tx = self.rpc.transaction(hash).await?;
        if tx.is_null() || !tx["blockNumber"].is_null() {
            return Ok(None);
        }
        let field = |k: &str| -> Result<u128, ChainError> {
            u128::try_from(super::rpc::quantity(&tx[k], k)?)
                .map_err(|_| ChainError::Unavailable(format!("{k} out of range")))
        };
        let gwei = |w: u128| format!("{:.3} gwei", w as f64 / 1e9);
        let cap = if tx["maxFeePerGas"].is_null() {
            field("gasPrice")?
        } else {
            field("maxFeePerGas")?
        };
        let base = self.rpc.next_base_fee().await?;
        if cap < base {
            return Ok(Some(format!(
                "its fee cap of {} per gas is below the next block's base fee of {}: it is not mined until the base fee falls; speed it up (POST /v1/wallets/me/transactions/{tx_id}/speed-up) or cancel it",
                gwei(cap),
                gwei(base)
            )));
        }
        let nonce = super::rpc::quantity_u64(&tx["nonce"], "nonce")?;
        let from = parse_address(tx["from"].as_str().unwrap_or_default(), "from")?;
        let mined = self.rpc.mined_nonce(from).await?;
        if nonce > mined {
            return Ok(Some(format!(
                "it has nonce {nonce} and waits behind the sender's nonce {mined}, which is not mined yet"
            )));
        }
        Ok(None)
    }

    async fn replacement(
        &self,
        signed_tx: &[u8],
        sender: &str,
        kind: custos_core::ReplacementKind,
        bump_percent: u32,
    ) -> Result<UnsignedTx, ChainError> {
        let from = parse_address(sender, "sender")?;
        if super::wire::recover_sender(signed_tx)? != from {
            return Err(ChainError::InvalidInput(
                "tx: not a transaction of this wallet".into(),
            ));
        }
        let old = UnsignedEvmTx::of_signed(signed_tx)?;
        if old.chain_id() != self.cfg.chain_id {
            return Err(ChainError::InvalidInput(format!(
                "tx: chain id {} is not this chain's ({})",
                old.chain_id(),
                self.cfg.chain_id
            )));
        }
        // What the next block charges is what the replacement must beat.
        let base = self.rpc.next_base_fee().await?;
        let suggested = self.rpc.priority_fee().await?;
        let (max_fee, tip) = replacement_fees(
            &self.cfg,
            (old.max_fee_per_gas(), old.max_priority_fee_per_gas()),
            base,
            suggested,
            bump_percent,
        )?;
        let tx = match kind {
            custos_core::ReplacementKind::SpeedUp => old.with_fees(max_fee, tip),
            // Nothing to the sender itself: a plain transfer costs exactly 21,000 gas.
            custos_core::ReplacementKind::Cancel => UnsignedEvmTx::new(Eip1559Fields {
                chain_id: self.cfg.chain_id,
                nonce: old.nonce(),
                gas_limit: 21_000,
                max_fee_per_gas: max_fee,
                max_priority_fee_per_gas: tip,
                to: Some(from),
                value: U256::ZERO,
                input: Vec::new(),
            }),
            custos_core::ReplacementKind::Refresh => {
                return Err(ChainError::InvalidInput(
                    "an EVM transaction is replaced by fee, not refreshed".into(),
                ))
            }
        };
        Ok(self.unsigned(&tx, from, 0, NATIVE_DECIMALS))
    }

    fn decode(&self, tx_bytes: &[u8]) -> Result<DecodedTx, ChainError> {
        let tx = self.decode_own(tx_bytes)?;
        let calls = Self::calls_of(&tx)?;
        let mut transfers = Vec::new();
        if let Some(to) = tx.to() {
            if !tx.value().is_zero() {
                transfers.push(DecodedTransfer {
                    from: String::new(),
                    to: checksum(&to),
                    mint: None,
                    native: true,
                    amount: u128::try_from(tx.value()).unwrap_or(u128::MAX),
                });
            }
        }
        for c in &calls {
            if let Some((token, to, amount)) = calldata::erc20_transfer(c) {
                transfers.push(DecodedTransfer {
                    from: String::new(),
                    to: checksum(&to),
                    mint: Some(checksum(&token)),
                    native: false,
                    amount: u128::try_from(amount).unwrap_or(u128::MAX),
                });
            }
        }
        let mut programs: Vec<String> = Vec::new();
        for c in &calls {
            let a = checksum(&c.to);
            if !programs.contains(&a) {
                programs.push(a);
            }
        }
        Ok(DecodedTx {
            chain: self.chain(),
            // The sender of an EVM transaction is whoever signs it.
            signers: Vec::new(),
            programs,
            transfers,
            approvals: calldata::approvals(&calls).map_err(|e| invalid("transaction", e))?,
        })
    }

    async fn simulate(&self, tx_bytes: &[u8], agent: &str) -> Result<SimulatedEffects, ChainError> {
        let tx = self.decode_own(tx_bytes)?;
        let agent_addr = parse_address(agent, "agent")?;
        let calls = Self::calls_of(&tx)?;
        let mut call = json!({
            "from": agent_addr,
            "value": tx.value(),
            "data": format!("0x{}", alloy_primitives::hex::encode(tx.input())),
            "gas": format!("0x{:x}", tx.gas_limit()),
            "maxFeePerGas": format!("0x{:x}", tx.max_fee_per_gas()),
            "maxPriorityFeePerGas": format!("0x{:x}", tx.max_priority_fee_per_gas()),
        });
        if let Some(to) = tx.to() {
            call["to"] = json!(to);
        }
        let mut logs = Vec::new();
        let traced = match self.rpc.trace_call(call).await {
            Ok(t) => trace::read(&t, agent_addr),
            Err(ChainError::Rejected(m))
                if m.contains("not found")
                    || m.contains("not supported")
                    || m.contains("does not exist") =>
            {
                logs.push(format!(
                    "call trace unavailable ({m}); effects read from calldata"
                ));
                self.simulate_without_trace(&tx, agent_addr, &calls).await?
            }
            Err(ChainError::Rejected(m)) => trace::TraceEffects {
                success: false,
                error: Some(m),
                ..Default::default()
            },
            Err(e) => return Err(e),
        };
        let methods = calldata::methods(&calls);
        let mut programs: Vec<String> = Vec::new();
        for m in &methods {
            if !programs.contains(&m.contract) {
                programs.push(m.contract.clone());
            }
        }
        let mut approvals = calldata::approvals(&calls).map_err(|e| invalid("transaction", e))?;
        let fee_wei = U256::from(traced.gas_used).saturating_mul(U256::from(tx.max_fee_per_gas()));
        let fee = u64::try_from(fee_wei).unwrap_or(u64::MAX);
        let base = SimulatedEffects {
            chain: self.chain(),
            agent: checksum(&agent_addr),
            success: traced.success,
            error: traced.error.clone(),
            balance_changes: Vec::new(),
            programs,
            methods,
            approvals: Vec::new(),
            accounts_created: Vec::new(),
            accounts_closed: Vec::new(),
            recipients: Vec::new(),
            fee,
            rent_deposits: 0,
            units_consumed: traced.gas_used,
            logs: logs.clone(),
        };
        if !traced.success {
            return Ok(SimulatedEffects { approvals, ..base });
        }
        for a in traced.approvals {
            if !approvals.contains(&a) {
                approvals.push(a);
            }
        }
        let mut changes = Vec::new();
        let native_pre = self.rpc.balance(agent_addr).await?;
        let mut native = traced.native;
        native.send(fee_wei);
        if !native.is_neutral() {
            changes.push(change(
                AssetRef::Native,
                NATIVE_DECIMALS,
                native_pre,
                native,
            ));
        }
        for (token, (delta, nft)) in traced.token_deltas {
            if delta.is_neutral() {
                continue;
            }
            let decimals = if nft {
                0
            } else {
                self.token_decimals(token).await?
            };
            // A token whose balance cannot be read is assumed to hold exactly what leaves, so
            // the whole outflow is judged rather than vanishing against a balance of zero.
            let pre = if nft {
                delta.outflow
            } else {
                self.token_balance(token, agent_addr)
                    .await
                    .unwrap_or(delta.outflow)
            };
            changes.push(change(
                AssetRef::Token(checksum(&token)),
                decimals,
                pre,
                delta,
            ));
        }
        Ok(SimulatedEffects {
            balance_changes: changes,
            approvals,
            recipients: traced.recipients.iter().map(checksum).collect(),
            ..base
        })
    }

    fn attach_signature(
        &self,
        tx_bytes: &[u8],
        signer: &str,
        signature: &[u8],
    ) -> Result<Vec<u8>, ChainError> {
        let tx = self.decode_own(tx_bytes)?;
        let (signed, _) = tx.with_signature(signature)?;
        // The boundary signed with the key we think it did, or nothing is sent.
        let recovered = super::wire::recover_sender(&signed)?;
        if recovered != parse_address(signer, "signer")? {
            return Err(ChainError::Internal(format!(
                "signature recovers to {}, not the agent's {signer}",
                checksum(&recovered)
            )));
        }
        Ok(signed)
    }

    fn judged_digest(&self, tx_bytes: &[u8]) -> Result<custos_core::PayloadDigest, ChainError> {
        let tx = self.decode_own(tx_bytes)?;
        Ok(self.sign_payload(&tx.with_nonce(0).encode()).digest())
    }

    async fn sequence(&self, tx_bytes: &[u8], signer: &str) -> Result<Sequenced, ChainError> {
        let tx = self.decode_own(tx_bytes)?;
        let lease = self.nonces.lease(parse_address(signer, "signer")?).await?;
        use custos_core::SequenceLease as _;
        Ok(Sequenced {
            tx_bytes: tx.with_nonce(lease.number()).encode(),
            lease: Some(Box::new(lease)),
        })
    }

    fn tx_id(&self, signed_tx: &[u8]) -> Result<String, ChainError> {
        Ok(signed_tx_hash(signed_tx)?.to_string())
    }

    async fn submit(&self, signed_tx: &[u8]) -> Result<String, ChainError> {
        let hash = signed_tx_hash(signed_tx)?;
        let hash = match self.rpc.send_raw(signed_tx).await {
            Ok(h) => h,
            // Sent before (a retry): the node has it.
            Err(ChainError::Rejected(m)) if m.contains("already known") => hash,
            Err(e) => return Err(e),
        };
        // Remembered so that a transaction the node later drops is noticed (see `nonce.rs`).
        let sender = super::wire::recover_sender(signed_tx)?;
        let nonce = super::wire::signed_tx_nonce(signed_tx)?;
        self.nonces.sent(sender, nonce, hash);
        Ok(hash.to_string())
    }

    async fn is_pending(&self, tx_id: &str) -> Result<bool, ChainError> {
        let hash = tx_id
            .parse()
            .map_err(|_| invalid("tx", "not a transaction hash"))?;
        Ok(self.rpc.transaction_known(hash).await? && self.rpc.receipt(hash).await?.is_none())
    }

    async fn confirm(
        &self,
        tx_id: &str,
        _commitment: Commitment,
        timeout: Duration,
    ) -> Result<Confirmation, ChainError> {
        let hash = tx_id
            .parse()
            .map_err(|_| invalid("tx", "not a transaction hash"))?;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut mined = None;
        // A local node mines at once; a real chain takes seconds: poll quickly at first, then
        // back off to the configured interval.
        let mut pause = Duration::from_millis(2);
        loop {
            if mined.is_none() {
                mined = self.rpc.receipt(hash).await?;
            }
            if let Some(r) = &mined {
                let head = self.rpc.block_number().await?;
                if head.saturating_add(1) >= r.block_number.saturating_add(self.cfg.confirmations) {
                    return Ok(Confirmation {
                        tx_id: tx_id.to_owned(),
                        slot: Some(r.block_number),
                        commitment: Commitment::Confirmed,
                        error: (!r.success).then(|| "the transaction reverted".to_owned()),
                    });
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ChainError::Timeout(timeout));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(self.cfg.poll_interval);
        }
    }

    async fn asset_decimals(&self, asset: &AssetRef) -> Result<u8, ChainError> {
        match asset {
            AssetRef::Native => Ok(NATIVE_DECIMALS),
            AssetRef::Token(t) => self.token_decimals(parse_address(t, "asset")?).await,
        }
    }

    async fn balances(&self, address: &str) -> Result<Vec<AssetBalance>, ChainError> {
        let who = parse_address(address, "address")?;
        let mut out = vec![AssetBalance {
            asset: AssetRef::Native,
            amount: u128::try_from(self.rpc.balance(who).await?).unwrap_or(u128::MAX),
            decimals: NATIVE_DECIMALS,
        }];
        for t in &self.cfg.tokens {
            let token = parse_address(t, "tokens")?;
            let amount = self.token_balance(token, who).await?;
            if amount.is_zero() {
                continue;
            }
            out.push(AssetBalance {
                asset: AssetRef::Token(checksum(&token)),
                amount: u128::try_from(amount).unwrap_or(u128::MAX),
                decimals: self.token_decimals(token).await?,
            });
        }
        Ok(out)
    }
}

fn change(asset: AssetRef, decimals: u8, pre: U256, flow: trace::Flow) -> BalanceChange {
    BalanceChange {
        asset,
        decimals,
        pre: Atoms::from_u256(pre),
        post: Atoms::from_u256(flow.apply(pre)),
    }
}

#[cfg(test)]
mod tests {
    //! What a policy decision about an EVM transaction is bound to: everything but the nonce.
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tx(nonce: u64, value: u64, chain_id: u64) -> Vec<u8> {
        UnsignedEvmTx::new(Eip1559Fields {
            chain_id,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to: Some(Address::repeat_byte(0x11)),
            value: U256::from(value),
            input: vec![],
        })
        .encode()
    }

    #[test]
    fn replacements_raise_both_fees_and_stay_under_the_caps() {
        let cfg = EvmConfig::new(1, "http://127.0.0.1:1");
        let gwei = 1_000_000_000u128;
        // A 25 % bump of (2, 1) gwei while the base fee is still 0.5: the bump decides.
        let (max, tip) =
            replacement_fees(&cfg, (2 * gwei, gwei), gwei / 2, Some(gwei), 25).unwrap();
        assert_eq!((max, tip), (2_500_000_000, 1_250_000_000));
        // The base fee rose to 40 gwei: what a new transaction pays decides.
        let (max, tip) = replacement_fees(&cfg, (2 * gwei, gwei), 40 * gwei, None, 10).unwrap();
        assert_eq!(tip, 1_100_000_000);
        assert_eq!(max, 80 * gwei + tip);
        // Rounded up: a 10 % bump of 3 wei is 4, never 3.
        assert_eq!(
            replacement_fees(&cfg, (3, 3), 0, Some(0), 10).unwrap(),
            (4, 4)
        );
        // Above the caps: refused, naming the bump.
        let e = replacement_fees(&cfg, (450 * gwei, gwei), gwei, None, 20).unwrap_err();
        assert!(e.to_string().contains("fee_bump_percent"), "{e}");
        let e = replacement_fees(&cfg, (10 * gwei, 5 * gwei), gwei, None, 10).unwrap_err();
        assert!(e.to_string().contains("max_priority_fee_gwei"), "{e}");
    }

    #[test]
    fn the_judged_digest_ignores_only_the_nonce() {
        let a = EvmAdapter::new(EvmConfig::new(31337, "http://127.0.0.1:1")).unwrap();
        let judged = a.judged_digest(&tx(0, 7, 31337)).unwrap();
        assert_eq!(a.judged_digest(&tx(42, 7, 31337)).unwrap(), judged);
        assert_ne!(a.judged_digest(&tx(0, 8, 31337)).unwrap(), judged);
        // The digest is not the sign payload's own digest once a nonce is set…
        assert_ne!(a.sign_payload(&tx(42, 7, 31337)).digest(), judged);
        // …and another chain's transaction has none at all.
        assert!(a.judged_digest(&tx(0, 7, 1)).is_err());
    }
}
