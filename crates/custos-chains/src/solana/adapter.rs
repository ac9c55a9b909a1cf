//! [`SolanaAdapter`]: [`ChainAdapter`] for Solana over any [`SolanaBackend`].
//!
//! Transfers: SOL with a System transfer; SPL Token and Token-2022 with `TransferChecked` from
//! the agent's associated token account, preceded by an idempotent creation of the recipient's
//! associated token account when it does not exist yet. A compute-unit price (priority fee) is
//! set when configured: fixed, or a percentile of the recent fees for the accounts the
//! transaction writes, between a floor and a cap ([`super::fees`]). Simulation reads the state of every account the transaction references
//! before and after, and derives the effects from the difference.
use super::backend::SolanaBackend;
use super::effects::{self, EffectsInput};
use super::{deserialize_tx, parse_address, serialize_tx, token, SOL_DECIMALS};
use crate::solana_wire::{self, DecodedSolanaTx};
use async_trait::async_trait;
use custos_core::{
    to_base_units, AssetBalance, AssetRef, Chain, ChainAdapter, ChainError, Commitment,
    Confirmation, DecodedTx, SimulatedEffects, TransferIntent, UnsignedTx,
};
use solana_account::Account;
use solana_address::Address;
use solana_instruction::{AccountMeta, Instruction};
use solana_message::{Message, VersionedMessage};
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// How many times a simulation is repeated while the accounts it reads keep changing (on a
/// backend that cannot read the state before it atomically).
const SIMULATION_ATTEMPTS: u32 = 12;

/// Adapter settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SolanaConfig {
    /// Compute-unit price in micro-lamports; 0 sets none. With `priority_fee_percentile`, the
    /// least paid.
    pub priority_fee_micro_lamports: u64,
    /// Pay this percentile (1–100) of the recent fees for the accounts written, when set.
    pub priority_fee_percentile: Option<u8>,
    /// Never pay more than this per compute unit (micro-lamports).
    pub max_priority_fee_micro_lamports: u64,
    /// Compute-unit limit to request with a priority fee; `None` leaves the default.
    pub compute_unit_limit: Option<u32>,
    /// How often to poll for confirmation.
    pub poll_interval: Duration,
}

impl Default for SolanaConfig {
    fn default() -> Self {
        Self {
            priority_fee_micro_lamports: 0,
            priority_fee_percentile: None,
            max_priority_fee_micro_lamports: super::fees::FeePolicy::default().cap,
            compute_unit_limit: None,
            poll_interval: Duration::from_millis(200),
        }
    }
}

/// The Solana chain adapter.
#[derive(Clone)]
pub struct SolanaAdapter {
    backend: Arc<dyn SolanaBackend>,
    config: SolanaConfig,
}

impl std::fmt::Debug for SolanaAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SolanaAdapter")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SolanaAdapter {
    /// An adapter over `backend`.
    pub fn new(backend: Arc<dyn SolanaBackend>, config: SolanaConfig) -> Self {
        Self { backend, config }
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn SolanaBackend> {
        &self.backend
    }

    /// Decodes a transaction the way the custody boundary does.
    pub fn decode_solana(&self, tx_bytes: &[u8]) -> Result<DecodedSolanaTx, ChainError> {
        solana_wire::decode_for_boundary(tx_bytes)
            .map_err(|e| ChainError::InvalidInput(e.to_string()))
    }

    async fn account(&self, a: &Address) -> Result<Option<Account>, ChainError> {
        Ok(self
            .backend
            .get_accounts(&[*a])
            .await?
            .into_iter()
            .next()
            .flatten())
    }

    /// Refuses, before anything is simulated, a SOL transfer that would create the account
    /// `to` with fewer lamports than rent exemption requires: the runtime would reject the
    /// transaction (`InsufficientFundsForRent`), and the caller's mistake is the amount.
    async fn check_rent_exemption(&self, to: &Address, lamports: u64) -> Result<(), ChainError> {
        if self.account(to).await?.is_some() {
            return Ok(());
        }
        let minimum = self.backend.minimum_balance_for_rent_exemption(0).await?;
        if lamports >= minimum {
            return Ok(());
        }
        let sol = |l: u64| custos_core::chain_adapter::from_base_units(u128::from(l), SOL_DECIMALS);
        Err(ChainError::InvalidInput(format!(
            "{} SOL would create the account `to` below the rent-exempt minimum of {} SOL; \
             send at least that much to a new account",
            sol(lamports)?,
            sol(minimum)?,
        )))
    }

    /// The compute-unit price for a transaction made of `ixs` (see [`super::fees`]).
    pub async fn priority_fee(&self, ixs: &[Instruction]) -> Result<u64, ChainError> {
        let policy = super::fees::FeePolicy {
            floor: self.config.priority_fee_micro_lamports,
            percentile: self.config.priority_fee_percentile,
            cap: self.config.max_priority_fee_micro_lamports,
        };
        let recent = match policy.percentile {
            None => Vec::new(),
            Some(_) => {
                let mut writable: Vec<Address> = ixs
                    .iter()
                    .flat_map(|ix| ix.accounts.iter())
                    .filter(|m| m.is_writable)
                    .map(|m| m.pubkey)
                    .collect();
                writable.sort_unstable();
                writable.dedup();
                self.backend.recent_prioritization_fees(&writable).await?
            }
        };
        Ok(super::fees::choose(&policy, &recent))
    }

    /// A transaction of `ixs` that `payer` pays for and alone signs, on the latest blockhash:
    /// preceded by the compute budget its priority fee needs and by an idempotent creation of
    /// `payer`'s associated token account for each `(mint, token program)` of `atas` that does
    /// not exist yet.
    pub async fn build_instructions(
        &self,
        ixs: Vec<Instruction>,
        payer: &Address,
        atas: &[(Address, Address)],
    ) -> Result<UnsignedTx, ChainError> {
        let mut all = Vec::with_capacity(ixs.len() + atas.len());
        for (mint, program) in atas {
            let ata = spl_associated_token_account_interface::address::get_associated_token_address_with_program_id(
                payer, mint, program,
            );
            if self.account(&ata).await?.is_none() {
                all.push(
                    spl_associated_token_account_interface::instruction::create_associated_token_account_idempotent(
                        payer, payer, mint, program,
                    ),
                );
            }
        }
        all.extend(ixs);
        let all = self.with_budget(all).await?;
        let (blockhash, last_valid) = self.backend.latest_blockhash().await?;
        let message = Message::new_with_blockhash(&all, Some(payer), &blockhash);
        unsigned(message, payer, 0, Some(last_valid))
    }

    /// `ixs` preceded by the compute budget instructions its priority fee needs (none when the
    /// price is 0).
    async fn with_budget(&self, ixs: Vec<Instruction>) -> Result<Vec<Instruction>, ChainError> {
        use solana_compute_budget_interface::ComputeBudgetInstruction;
        let price = self.priority_fee(&ixs).await?;
        if price == 0 {
            return Ok(ixs);
        }
        let mut out = Vec::with_capacity(ixs.len() + 2);
        if let Some(limit) = self.config.compute_unit_limit {
            out.push(ComputeBudgetInstruction::set_compute_unit_limit(limit));
        }
        out.push(ComputeBudgetInstruction::set_compute_unit_price(price));
        out.extend(ixs);
        Ok(out)
    }

    /// Every address the transaction references: static keys, then keys loaded from lookup
    /// tables (read from the chain).
    async fn all_keys(&self, tx: &VersionedTransaction) -> Result<Vec<Address>, ChainError> {
        let mut keys = tx.message.static_account_keys().to_vec();
        if let Some(lookups) = tx.message.address_table_lookups() {
            let tables: Vec<Address> = lookups.iter().map(|l| l.account_key).collect();
            let accounts = self.backend.get_accounts(&tables).await?;
            let read = |t: &Option<Account>, idx: &[u8]| -> Result<Vec<Address>, ChainError> {
                let t = t
                    .as_ref()
                    .ok_or_else(|| ChainError::Rejected("address lookup table not found".into()))?;
                idx.iter()
                    .map(|i| {
                        let at = 56 + 32 * usize::from(*i);
                        t.data
                            .get(at..at + 32)
                            .and_then(|b| <[u8; 32]>::try_from(b).ok())
                            .map(Address::new_from_array)
                            .ok_or_else(|| {
                                ChainError::Rejected(
                                    "address lookup table index out of range".into(),
                                )
                            })
                    })
                    .collect()
            };
            for (l, t) in lookups.iter().zip(&accounts) {
                keys.extend(read(t, &l.writable_indexes)?);
            }
            for (l, t) in lookups.iter().zip(&accounts) {
                keys.extend(read(t, &l.readonly_indexes)?);
            }
        }
        Ok(keys)
    }

    /// Simulates and computes effects (the typed entry point behind [`ChainAdapter::simulate`]).
    pub async fn simulate_for(
        &self,
        tx_bytes: &[u8],
        agent: &Address,
    ) -> Result<SimulatedEffects, ChainError> {
        let decoded = self.decode_solana(tx_bytes)?;
        let tx = deserialize_tx(tx_bytes)?;
        let mut keys = self.all_keys(&tx).await?;
        if !keys.contains(agent) {
            keys.push(*agent);
        }
        // The effects are post minus pre, so both must describe the same state. Backends that
        // cannot read it atomically get a re-read after the simulation; if anything changed
        // meanwhile (a concurrent transaction landed — the wallet's own, when it sends many at
        // once), simulate again after a pause that grows and differs per request, so a burst
        // of one wallet's transactions does not keep colliding.
        let mut attempt: u32 = 0;
        let (pre, sim) = loop {
            let before = self.backend.get_accounts(&keys).await?;
            let mut sim = self.backend.simulate(&tx, false, &keys).await?;
            if let Some(pre) = sim.pre_accounts.take() {
                break (pre, sim);
            }
            let after = self.backend.get_accounts(&keys).await?;
            if after == before {
                break (before, sim);
            }
            attempt += 1;
            if attempt >= SIMULATION_ATTEMPTS {
                return Err(ChainError::Unavailable(
                    "the accounts kept changing during simulation; try again".into(),
                ));
            }
            // 5–20 ms, times the attempt; the jitter comes from the clock's nanoseconds.
            let jitter = u64::from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos())
                    % 15,
            );
            tokio::time::sleep(Duration::from_millis((5 + jitter) * u64::from(attempt))).await;
        };
        let mut mints = effects::mints_involved(agent, &pre, &sim.post_accounts);
        mints.sort_by_key(|m| m.to_bytes());
        let mint_accounts = self.backend.get_accounts(&mints).await?;
        let mut decimals = BTreeMap::new();
        for (m, a) in mints.iter().zip(mint_accounts) {
            if let Some(d) = a.and_then(|a| token::parse_mint_decimals(&a.owner, &a.data)) {
                decimals.insert(*m, d);
            }
        }
        let fee = sim.fee.unwrap_or_else(|| estimate_fee(&decoded));
        Ok(effects::compute(EffectsInput {
            agent,
            keys: &keys,
            pre: &pre,
            post: &sim.post_accounts,
            decimals: &decimals,
            decoded: &decoded,
            inner_programs: &sim.inner_programs,
            error: sim.error,
            fee,
            units_consumed: sim.units_consumed,
            logs: sim.logs,
        }))
    }
}

/// The pipeline's `UnsignedTx` for a legacy message `from` pays for: no signatures yet
/// (decimals are the native coin's unless the caller says otherwise).
fn unsigned(
    message: Message,
    from: &Address,
    amount: u128,
    last_valid_block_height: Option<u64>,
) -> Result<UnsignedTx, ChainError> {
    let n = usize::from(message.header.num_required_signatures);
    let tx = VersionedTransaction {
        signatures: vec![Signature::default(); n],
        message: VersionedMessage::Legacy(message),
    };
    Ok(UnsignedTx {
        chain: Chain::Solana,
        message: tx.message.serialize(),
        tx_bytes: serialize_tx(&tx)?,
        signer: from.to_string(),
        amount_base_units: amount,
        decimals: SOL_DECIMALS,
        last_valid_block_height,
    })
}

/// Base fee (5,000 lamports per signature) plus the priority fee the compute-budget
/// instructions ask for; used when the backend does not report the fee.
pub fn estimate_fee(decoded: &DecodedSolanaTx) -> u64 {
    let base = 5_000u64.saturating_mul(decoded.signers.len() as u64);
    let price = decoded.compute_unit_price.unwrap_or(0);
    let non_budget = decoded
        .instructions
        .iter()
        .filter(|i| i.program_id != solana_wire::COMPUTE_BUDGET_PROGRAM)
        .count() as u64;
    let limit = decoded
        .compute_unit_limit
        .map(u64::from)
        .unwrap_or_else(|| (non_budget * 200_000).min(1_400_000));
    let priority = (u128::from(price) * u128::from(limit)).div_ceil(1_000_000);
    base.saturating_add(u64::try_from(priority).unwrap_or(u64::MAX))
}

fn status_reaches(have: Commitment, want: Commitment) -> bool {
    let rank = |c: Commitment| match c {
        Commitment::Processed => 0,
        Commitment::Confirmed => 1,
        Commitment::Finalized => 2,
    };
    rank(have) >= rank(want)
}

#[async_trait]
impl ChainAdapter for SolanaAdapter {
    fn chain(&self) -> Chain {
        Chain::Solana
    }

    fn key_scheme(&self) -> custos_core::KeyScheme {
        custos_core::KeyScheme::Ed25519
    }

    fn address_family(&self) -> &'static str {
        "solana"
    }

    fn native_symbol(&self) -> &str {
        "SOL"
    }

    fn sign_payload(&self, tx_bytes: &[u8]) -> custos_core::SignPayload {
        custos_core::SignPayload::SolanaTransaction {
            bytes: tx_bytes.to_vec(),
        }
    }

    /// Solana has no sender sequence: the recent blockhash orders nothing.
    async fn sequence(
        &self,
        tx_bytes: &[u8],
        _signer: &str,
    ) -> Result<custos_core::Sequenced, ChainError> {
        Ok(custos_core::Sequenced {
            tx_bytes: tx_bytes.to_vec(),
            lease: None,
        })
    }

    /// The first signature (the fee payer's), base58 — the transaction's id on the chain. A
    /// transaction still waiting for its fee payer's signature (one signed for another party to
    /// send, like an x402 payment) is known by the first signature it has until then.
    fn tx_id(&self, signed_tx: &[u8]) -> Result<String, ChainError> {
        let raw = solana_wire::split_transaction(signed_tx)
            .map_err(|e| ChainError::InvalidInput(format!("transaction: {e}")))?;
        raw.signatures
            .iter()
            .find(|s| s.iter().any(|b| *b != 0))
            .or(raw.signatures.first())
            .map(|s| bs58::encode(s).into_string())
            .ok_or_else(|| ChainError::InvalidInput("transaction has no signature".into()))
    }

    async fn build_transfer(&self, intent: &TransferIntent) -> Result<UnsignedTx, ChainError> {
        let from = parse_address(&intent.from, "from")?;
        let to = parse_address(&intent.to, "to")?;
        let mut ixs = Vec::new();
        let (amount, decimals) = match &intent.asset {
            AssetRef::Native => {
                let lamports = to_base_units(intent.amount, SOL_DECIMALS)?;
                let lamports = u64::try_from(lamports)
                    .map_err(|_| ChainError::InvalidInput("amount is too large".into()))?;
                if lamports == 0 {
                    return Err(ChainError::InvalidInput("amount must be positive".into()));
                }
                self.check_rent_exemption(&to, lamports).await?;
                ixs.push(solana_system_interface::instruction::transfer(
                    &from, &to, lamports,
                ));
                (u128::from(lamports), SOL_DECIMALS)
            }
            AssetRef::Token(mint_s) => {
                let mint = parse_address(mint_s, "asset")?;
                let mint_acc = self
                    .account(&mint)
                    .await?
                    .ok_or_else(|| ChainError::InvalidInput("asset: no such mint".into()))?;
                let program = mint_acc.owner;
                let decimals = token::parse_mint_decimals(&program, &mint_acc.data)
                    .ok_or_else(|| ChainError::InvalidInput("asset: not a token mint".into()))?;
                let amount = to_base_units(intent.amount, decimals)?;
                let amount = u64::try_from(amount)
                    .map_err(|_| ChainError::InvalidInput("amount is too large".into()))?;
                if amount == 0 {
                    return Err(ChainError::InvalidInput("amount must be positive".into()));
                }
                let ata = |owner: &Address| {
                    spl_associated_token_account_interface::address::get_associated_token_address_with_program_id(
                        owner, &mint, &program,
                    )
                };
                let (src, dst) = (ata(&from), ata(&to));
                if self.account(&dst).await?.is_none() {
                    ixs.push(
                        spl_associated_token_account_interface::instruction::create_associated_token_account_idempotent(
                            &from, &to, &mint, &program,
                        ),
                    );
                }
                // TransferChecked { amount, decimals }: [source, mint, destination, owner]
                let mut data = vec![12u8];
                data.extend_from_slice(&amount.to_le_bytes());
                data.push(decimals);
                ixs.push(Instruction {
                    program_id: program,
                    accounts: vec![
                        AccountMeta::new(src, false),
                        AccountMeta::new_readonly(mint, false),
                        AccountMeta::new(dst, false),
                        AccountMeta::new_readonly(from, true),
                    ],
                    data,
                });
                (u128::from(amount), decimals)
            }
        };
        let ixs = self.with_budget(ixs).await?;
        let (blockhash, last_valid) = self.backend.latest_blockhash().await?;
        let message = Message::new_with_blockhash(&ixs, Some(&from), &blockhash);
        let mut tx = unsigned(message, &from, amount, Some(last_valid))?;
        tx.decimals = decimals;
        Ok(tx)
    }

    async fn nonce_account(
        &self,
        authority: &str,
        index: u32,
    ) -> Result<custos_core::NonceAccount, ChainError> {
        let authority = parse_address(authority, "authority")?;
        let address = super::nonce::address(&authority, index);
        let nonce = self.account(&address).await?.and_then(|a| {
            super::nonce::parse(&a)
                .filter(|(auth, _)| *auth == authority.as_ref())
                .and_then(|(_, n)| <[u8; 32]>::try_from(n).ok())
                .map(|n| solana_hash::Hash::new_from_array(n).to_string())
        });
        Ok(custos_core::NonceAccount {
            address: address.to_string(),
            nonce,
        })
    }

    async fn build_nonce_account(
        &self,
        authority: &str,
        index: u32,
    ) -> Result<UnsignedTx, ChainError> {
        let from = parse_address(authority, "authority")?;
        let rent = self
            .backend
            .minimum_balance_for_rent_exemption(super::nonce::NONCE_ACCOUNT_LEN)
            .await?;
        let ixs = self
            .with_budget(super::nonce::create(&from, index, rent))
            .await?;
        let (blockhash, last_valid) = self.backend.latest_blockhash().await?;
        let message = Message::new_with_blockhash(&ixs, Some(&from), &blockhash);
        unsigned(message, &from, u128::from(rent), Some(last_valid))
    }

    fn on_durable_nonce(
        &self,
        tx: &UnsignedTx,
        account: &custos_core::NonceAccount,
    ) -> Result<UnsignedTx, ChainError> {
        let invalid = |m: &str| ChainError::InvalidInput(format!("durable nonce: {m}"));
        let nonce = account
            .nonce
            .as_deref()
            .ok_or_else(|| invalid("the nonce account does not exist"))?;
        let nonce = solana_hash::Hash::from_str(nonce).map_err(|_| invalid("bad nonce"))?;
        let address = parse_address(&account.address, "nonce account")?;
        let from = parse_address(&tx.signer, "signer")?;
        let old = deserialize_tx(&tx.tx_bytes)?;
        let message = super::nonce::rebuild(&old.message, &address, &nonce)
            .ok_or_else(|| invalid("only a legacy transaction Custos built can be rebuilt"))?;
        if message.account_keys.first() != Some(&from) {
            return Err(invalid("the signer must pay the fee and own the nonce"));
        }
        let mut out = unsigned(message, &from, tx.amount_base_units, None)?;
        out.decimals = tx.decimals;
        Ok(out)
    }

    async fn on_fresh_blockhash(&self, tx: &UnsignedTx) -> Result<UnsignedTx, ChainError> {
        let invalid = |m: &str| ChainError::InvalidInput(format!("fresh blockhash: {m}"));
        let old = deserialize_tx(&tx.tx_bytes)?;
        let from = parse_address(&tx.signer, "signer")?;
        if old.message.header().num_required_signatures != 1
            || old.message.static_account_keys().first() != Some(&from)
        {
            return Err(invalid(
                "only a transaction its signer alone signs and pays for can be re-signed",
            ));
        }
        if self.durable_nonce_of(&tx.tx_bytes).is_some() {
            return Err(invalid("a durable-nonce transaction does not expire"));
        }
        let (blockhash, last_valid) = self.backend.latest_blockhash().await?;
        let mut message = old.message;
        message.set_recent_blockhash(blockhash);
        let fresh = VersionedTransaction {
            signatures: vec![Signature::default()],
            message,
        };
        Ok(UnsignedTx {
            chain: Chain::Solana,
            message: fresh.message.serialize(),
            tx_bytes: serialize_tx(&fresh)?,
            signer: tx.signer.clone(),
            amount_base_units: tx.amount_base_units,
            decimals: tx.decimals,
            last_valid_block_height: Some(last_valid),
        })
    }

    fn durable_nonce_of(&self, tx_bytes: &[u8]) -> Option<String> {
        let tx = deserialize_tx(tx_bytes).ok()?;
        super::nonce::advanced_by(&tx.message).map(|a| a.to_string())
    }

    fn decode(&self, tx_bytes: &[u8]) -> Result<DecodedTx, ChainError> {
        let d = self.decode_solana(tx_bytes)?;
        Ok(DecodedTx {
            chain: Chain::Solana,
            programs: d.programs(),
            signers: d.signers,
            transfers: d.transfers,
            approvals: d.approvals,
        })
    }

    async fn simulate(&self, tx_bytes: &[u8], agent: &str) -> Result<SimulatedEffects, ChainError> {
        let agent = parse_address(agent, "agent")?;
        self.simulate_for(tx_bytes, &agent).await
    }

    fn attach_signature(
        &self,
        tx_bytes: &[u8],
        signer: &str,
        signature: &[u8],
    ) -> Result<Vec<u8>, ChainError> {
        solana_wire::attach_signature(tx_bytes, signer, signature)
            .map_err(|e| ChainError::InvalidInput(e.to_string()))
    }

    async fn submit(&self, signed_tx: &[u8]) -> Result<String, ChainError> {
        let tx = deserialize_tx(signed_tx)?;
        Ok(self.backend.send(&tx).await?.to_string())
    }

    async fn confirm(
        &self,
        tx_id: &str,
        commitment: Commitment,
        timeout: Duration,
    ) -> Result<Confirmation, ChainError> {
        let sig = Signature::from_str(tx_id)
            .map_err(|_| ChainError::InvalidInput("not a transaction signature".into()))?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(s) = self.backend.signature_status(&sig).await? {
                if s.error.is_some() || status_reaches(s.commitment, commitment) {
                    return Ok(Confirmation {
                        tx_id: tx_id.to_string(),
                        slot: Some(s.slot),
                        commitment: s.commitment,
                        error: s.error,
                    });
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ChainError::Timeout(timeout));
            }
            tokio::time::sleep(self.config.poll_interval).await;
        }
    }

    async fn asset_decimals(&self, asset: &AssetRef) -> Result<u8, ChainError> {
        match asset {
            AssetRef::Native => Ok(SOL_DECIMALS),
            AssetRef::Token(m) => {
                let mint = parse_address(m, "asset")?;
                let acc = self
                    .account(&mint)
                    .await?
                    .ok_or_else(|| ChainError::InvalidInput("asset: no such mint".into()))?;
                token::parse_mint_decimals(&acc.owner, &acc.data)
                    .ok_or_else(|| ChainError::InvalidInput("asset: not a token mint".into()))
            }
        }
    }

    async fn balances(&self, address: &str) -> Result<Vec<AssetBalance>, ChainError> {
        let owner = parse_address(address, "address")?;
        let lamports = self.account(&owner).await?.map(|a| a.lamports).unwrap_or(0);
        let mut out = vec![AssetBalance {
            asset: AssetRef::Native,
            amount: u128::from(lamports),
            decimals: SOL_DECIMALS,
        }];
        let mut by_mint: BTreeMap<Address, u128> = BTreeMap::new();
        for program in [token::token_program(), token::token_2022_program()] {
            for (_, a) in self
                .backend
                .token_accounts_by_owner(&owner, &program)
                .await?
            {
                if let Some(t) = token::parse_token_account(&a.owner, &a.data) {
                    *by_mint.entry(t.mint).or_default() += u128::from(t.amount);
                }
            }
        }
        let mints: Vec<Address> = by_mint.keys().copied().collect();
        let mint_accounts = self.backend.get_accounts(&mints).await?;
        for ((mint, amount), acc) in by_mint.into_iter().zip(mint_accounts) {
            let decimals = acc
                .and_then(|a| token::parse_mint_decimals(&a.owner, &a.data))
                .unwrap_or(0);
            out.push(AssetBalance {
                asset: AssetRef::Token(mint.to_string()),
                amount,
                decimals,
            });
        }
        Ok(out)
    }
}
