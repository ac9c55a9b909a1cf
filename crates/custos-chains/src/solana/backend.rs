//! What the Solana adapter needs from a chain, implemented by the embedded devnet and by JSON-RPC.
use super::devnet::EmbeddedDevnet;
use async_trait::async_trait;
use custos_core::{ChainError, Commitment};
use solana_account::Account;
use solana_address::Address;
use solana_hash::Hash;
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;
use std::sync::Arc;

/// The result of running a transaction without committing it.
#[derive(Clone, Debug, Default)]
pub struct SimulationOutcome {
    /// The chain's error, `None` on success.
    pub error: Option<String>,
    /// The same error as the JSON-RPC API reports it (`"BlockhashNotFound"`,
    /// `{"InstructionError":[0,{"Custom":1}]}`), when the backend has it.
    pub error_detail: Option<serde_json::Value>,
    /// Program logs.
    pub logs: Vec<String>,
    /// Compute units consumed.
    pub units_consumed: u64,
    /// Fee charged, when the backend reports it.
    pub fee: Option<u64>,
    /// State after the transaction of each requested address, in request order (`None`: the
    /// account does not exist afterwards).
    pub post_accounts: Vec<Option<Account>>,
    /// Programs invoked by inner (cross-program) instructions, when the backend reports them.
    pub inner_programs: Vec<Address>,
    /// State of each requested address *before* the transaction, read atomically with the
    /// simulation, when the backend can (the embedded devnet). `None` when it cannot (JSON-RPC):
    /// the adapter then reads it separately and checks nothing changed meanwhile.
    pub pre_accounts: Option<Vec<Option<Account>>>,
}

/// The status of a submitted transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxStatus {
    /// Slot it landed in.
    pub slot: u64,
    /// Commitment reached.
    pub commitment: Commitment,
    /// The error if it landed but failed.
    pub error: Option<String>,
}

/// A Solana chain backend.
#[async_trait]
pub trait SolanaBackend: Send + Sync {
    /// A recent blockhash and the last block height at which it is valid.
    async fn latest_blockhash(&self) -> Result<(Hash, u64), ChainError>;
    /// Accounts by address, in order (`None`: does not exist).
    async fn get_accounts(&self, addresses: &[Address])
        -> Result<Vec<Option<Account>>, ChainError>;
    /// Simulates `tx`, returning the post-state of `addresses`.
    async fn simulate(
        &self,
        tx: &VersionedTransaction,
        sig_verify: bool,
        addresses: &[Address],
    ) -> Result<SimulationOutcome, ChainError>;
    /// Submits a signed transaction.
    async fn send(&self, tx: &VersionedTransaction) -> Result<Signature, ChainError>;
    /// Status of a submitted transaction, `None` if unknown.
    async fn signature_status(&self, signature: &Signature)
        -> Result<Option<TxStatus>, ChainError>;
    /// Token accounts of `owner` under `token_program`.
    async fn token_accounts_by_owner(
        &self,
        owner: &Address,
        token_program: &Address,
    ) -> Result<Vec<(Address, Account)>, ChainError>;
    /// The fewest lamports an account holding `data_len` bytes may have: below it (and above
    /// zero) the runtime refuses the transaction that leaves it there.
    async fn minimum_balance_for_rent_exemption(&self, data_len: usize) -> Result<u64, ChainError>;
    /// The lowest compute-unit price (micro-lamports) that landed in each recent slot, for
    /// transactions write-locking `accounts` (`getRecentPrioritizationFees`; see
    /// [`super::fees`]).
    async fn recent_prioritization_fees(
        &self,
        accounts: &[Address],
    ) -> Result<Vec<u64>, ChainError>;
    /// The cluster's genesis hash (what names it: CAIP-2 `solana:<its first 32 characters>`).
    async fn genesis_hash(&self) -> Result<Hash, ChainError>;
}

/// The embedded devnet as a backend: every call runs on the blocking pool, because LiteSVM's
/// execution is CPU-bound and synchronous.
#[derive(Clone)]
pub struct EmbeddedBackend {
    devnet: Arc<EmbeddedDevnet>,
}

impl EmbeddedBackend {
    /// Wraps a shared devnet.
    pub fn new(devnet: Arc<EmbeddedDevnet>) -> Self {
        Self { devnet }
    }

    /// The devnet behind this backend.
    pub fn devnet(&self) -> &Arc<EmbeddedDevnet> {
        &self.devnet
    }

    async fn run<T, F>(&self, f: F) -> Result<T, ChainError>
    where
        T: Send + 'static,
        F: FnOnce(&EmbeddedDevnet) -> Result<T, ChainError> + Send + 'static,
    {
        let devnet = self.devnet.clone();
        tokio::task::spawn_blocking(move || f(&devnet))
            .await
            .map_err(|e| ChainError::Internal(format!("devnet task: {e}")))?
    }
}

#[async_trait]
impl SolanaBackend for EmbeddedBackend {
    async fn latest_blockhash(&self) -> Result<(Hash, u64), ChainError> {
        self.run(|d| Ok(d.latest_blockhash())).await
    }

    async fn get_accounts(
        &self,
        addresses: &[Address],
    ) -> Result<Vec<Option<Account>>, ChainError> {
        let a = addresses.to_vec();
        self.run(move |d| Ok(a.iter().map(|k| d.get_account(k)).collect()))
            .await
    }

    async fn simulate(
        &self,
        tx: &VersionedTransaction,
        sig_verify: bool,
        addresses: &[Address],
    ) -> Result<SimulationOutcome, ChainError> {
        let tx = tx.clone();
        let a = addresses.to_vec();
        self.run(move |d| d.simulate(&tx, sig_verify, false, &a).map_err(Into::into))
            .await
    }

    async fn send(&self, tx: &VersionedTransaction) -> Result<Signature, ChainError> {
        let tx = tx.clone();
        self.run(move |d| d.send_transaction(tx).map_err(Into::into))
            .await
    }

    async fn signature_status(
        &self,
        signature: &Signature,
    ) -> Result<Option<TxStatus>, ChainError> {
        let s = *signature;
        self.run(move |d| Ok(d.signature_status(&s))).await
    }

    async fn token_accounts_by_owner(
        &self,
        owner: &Address,
        token_program: &Address,
    ) -> Result<Vec<(Address, Account)>, ChainError> {
        let (o, p) = (*owner, *token_program);
        self.run(move |d| Ok(d.token_accounts_by_owner(&o, &p)))
            .await
    }

    async fn minimum_balance_for_rent_exemption(&self, data_len: usize) -> Result<u64, ChainError> {
        Ok(self.devnet.minimum_balance_for_rent_exemption(data_len))
    }

    async fn recent_prioritization_fees(
        &self,
        accounts: &[Address],
    ) -> Result<Vec<u64>, ChainError> {
        let recent = self.devnet.recent_prioritization_fees(accounts);
        Ok(recent.into_iter().map(|(_, fee)| fee).collect())
    }

    async fn genesis_hash(&self) -> Result<Hash, ChainError> {
        Ok(super::devnet::GENESIS_HASH)
    }
}
