//! The embedded devnet: LiteSVM in-process, with its state persisted in a data directory so a
//! restart keeps balances ([`super::devnet_snapshot`]), and its recent blocks and transactions
//! remembered in memory ([`super::devnet_ledger`]).
//!
//! It behaves like a single-validator cluster: every transaction that lands gets its own slot
//! and is immediately final; each slot has a new blockhash, and a blockhash stays valid for 150
//! slots after its own (as on a cluster). Slots also pass without transactions when someone
//! calls [`EmbeddedDevnet::advance_slots`] — `custos devnet` does on a clock — so block height
//! moves and blockhashes expire as they do on a real cluster. Signatures are verified and
//! duplicates refused here (LiteSVM's own checks are off so that simulation can skip signature
//! verification, as `simulateTransaction` does).
//!
//! A transaction is simulated first (the preflight) and refused without any state change if it
//! fails, unless the sender skips preflight: then a failing transaction lands with its error and
//! pays its fee, as on a node.
use super::backend::TxStatus;
use super::devnet_ledger::{BlockInfo, BlockLookup, DevnetEvent, LandedTx, Landing, Ledger};
use super::{devnet_snapshot as snapshot, token};
use custos_core::{ChainError, Commitment};
use litesvm::LiteSVM;
use solana_account::Account;
use solana_address::Address;
use solana_hash::Hash;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_message::{v0::MessageAddressTableLookup, Message, VersionedMessage};
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// How many slots a blockhash stays valid after its own (as on mainnet): `getLatestBlockhash`'s
/// `lastValidBlockHeight` is the blockhash's slot plus this.
pub const BLOCKHASH_VALIDITY: u64 = 150;
/// The devnet's genesis hash (`getGenesisHash`): all zeros, base58 `1111…1`, so its CAIP-2
/// network id is `solana:11111111111111111111111111111111`.
pub const GENESIS_HASH: solana_hash::Hash = solana_hash::Hash::new_from_array([0; 32]);
/// The most slots one [`EmbeddedDevnet::advance_slots`] call moves.
pub const MAX_ADVANCE: u64 = 1_000_000;
const STATUS_CAPACITY: usize = 100_000;
/// Statuses kept across restarts: far more than the 150 slots a blockhash stays valid (so no
/// transaction can run twice), and enough for crash recovery, which runs at start.
const PERSISTED_STATUSES: usize = 4096;
const FAUCET_FLOOR: u64 = 1_000 * super::LAMPORTS_PER_SOL;
const FAUCET_FILL: u64 = 1_000_000 * super::LAMPORTS_PER_SOL;
/// Size of an address lookup table's metadata before its addresses.
const LOOKUP_TABLE_META_SIZE: usize = 56;
/// Events buffered for a slow subscriber before it starts missing some.
const EVENT_CAPACITY: usize = 4096;

/// Why a devnet operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevnetError {
    /// The transaction was refused (bad signature, unknown blockhash, duplicate, program error).
    #[error("transaction rejected: {0}")]
    Rejected(String),
    /// The transaction ran and failed: the runtime's error, its logs and compute units.
    #[error("transaction rejected: {message}")]
    Failed {
        /// The error as a sentence, with the logs.
        message: String,
        /// The runtime's `TransactionError`, as the JSON-RPC API spells it.
        err: serde_json::Value,
        /// Program logs.
        logs: Vec<String>,
        /// Compute units consumed.
        units: u64,
    },
    /// Bad input from the caller.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Reading or writing the data directory failed.
    #[error("devnet storage: {0}")]
    Storage(String),
    /// A snapshot in the data directory could not be loaded.
    #[error("devnet snapshot {path}: {reason}")]
    Snapshot {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl From<DevnetError> for ChainError {
    fn from(e: DevnetError) -> Self {
        match e {
            DevnetError::Rejected(m) | DevnetError::Failed { message: m, .. } => {
                ChainError::Rejected(m)
            }
            DevnetError::InvalidInput(m) => ChainError::InvalidInput(m),
            other => ChainError::Unavailable(other.to_string()),
        }
    }
}

/// How a transaction is sent (`sendTransaction`'s options).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendOptions {
    /// Skip the preflight simulation: a failing transaction then lands with its error and pays
    /// its fee instead of being refused.
    pub skip_preflight: bool,
}

impl SendOptions {
    /// With or without preflight.
    pub fn skip_preflight(skip: bool) -> Self {
        Self {
            skip_preflight: skip,
        }
    }
}

pub(super) struct Inner {
    pub(super) svm: LiteSVM,
    dir: Option<PathBuf>,
    baseline: HashSet<Address>,
    slot: u64,
    /// Valid blockhashes, oldest first, with the slot each was produced in.
    recent: VecDeque<(Hash, u64)>,
    statuses: HashMap<Signature, TxStatus>,
    /// What recently landed transactions paid per compute unit (not kept across restarts).
    fee_log: super::fees::FeeLog,
    status_order: VecDeque<Signature>,
    pub(super) faucet: Keypair,
    ledger: Ledger,
    events: tokio::sync::broadcast::Sender<DevnetEvent>,
}

/// LiteSVM in-process, persisted, thread-safe (one mutex; callers in async code should use
/// [`super::EmbeddedBackend`], which moves calls to the blocking pool).
pub struct EmbeddedDevnet {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for EmbeddedDevnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedDevnet").finish_non_exhaustive()
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl EmbeddedDevnet {
    /// A devnet that keeps nothing on disk.
    pub fn in_memory() -> Result<Self, DevnetError> {
        Self::start(None)
    }

    /// Opens (or creates) a devnet persisted in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, DevnetError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| DevnetError::Storage(format!("create {}: {e}", data_dir.display())))?;
        Self::start(Some(data_dir.to_path_buf()))
    }

    fn start(dir: Option<PathBuf>) -> Result<Self, DevnetError> {
        // Signature and blockhash checks are ours (see the module docs).
        let mut svm = LiteSVM::new()
            .with_sigverify(false)
            .with_blockhash_check(false);
        let baseline: HashSet<Address> = svm.accounts_db().inner.keys().copied().collect();
        let faucet = match &dir {
            Some(d) => snapshot::load_or_create_faucet(d)?,
            None => Keypair::new(),
        };
        let restored = match &dir {
            Some(d) => snapshot::load(d)?,
            None => None,
        };
        let mut slot = 1;
        let mut recent = VecDeque::new();
        let mut statuses = HashMap::new();
        let mut status_order = VecDeque::new();
        if let Some(r) = restored {
            for (k, a) in r.accounts {
                svm.set_account(k, a).map_err(|e| DevnetError::Snapshot {
                    path: dir.clone().unwrap_or_default(),
                    reason: format!("load account {k}: {e}"),
                })?;
            }
            slot = r.slot;
            recent.extend(r.recent_blockhashes.into_iter().map(|h| (h, slot)));
            for (sig, st) in r.statuses {
                statuses.insert(sig, st);
                status_order.push_back(sig);
            }
        }
        if recent.is_empty() {
            recent.push_back((svm.latest_blockhash(), slot));
        }
        svm.warp_to_slot(slot);
        let (events, _) = tokio::sync::broadcast::channel(EVENT_CAPACITY);
        let mut inner = Inner {
            svm,
            dir,
            baseline,
            slot,
            recent,
            ledger: Ledger::with_transaction_count(status_order.len() as u64),
            statuses,
            status_order,
            fee_log: super::fees::FeeLog::default(),
            faucet,
            events,
        };
        inner.record_block(slot.saturating_sub(1), Hash::default());
        let faucet_key = inner.faucet.pubkey();
        let faucet_balance = inner.svm.get_balance(&faucet_key).unwrap_or(0);
        if faucet_balance < FAUCET_FLOOR {
            inner
                .svm
                .set_account(
                    faucet_key,
                    Account {
                        lamports: FAUCET_FILL,
                        data: Vec::new(),
                        owner: solana_sdk_ids::system_program::ID,
                        executable: false,
                        rent_epoch: u64::MAX,
                    },
                )
                .map_err(|e| DevnetError::Storage(format!("fund faucet: {e}")))?;
            inner.persist()?;
        }
        Ok(Self {
            inner: Mutex::new(inner),
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave LiteSVM half-updated in a way we rely on:
        // state is only committed by `send_transaction` after success, so recover the guard.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The newest blockhash and the last block height at which it is valid.
    pub fn latest_blockhash(&self) -> (Hash, u64) {
        let g = self.lock();
        let (h, s) = g.latest();
        (h, s + BLOCKHASH_VALIDITY)
    }

    /// Whether `hash` is still a valid recent blockhash.
    pub fn is_blockhash_valid(&self, hash: &Hash) -> bool {
        self.lock().recent.iter().any(|(h, _)| h == hash)
    }

    /// Makes every current blockhash invalid: `BLOCKHASH_VALIDITY + 1` slots pass, so the block
    /// height is beyond the `lastValidBlockHeight` of every blockhash handed out so far.
    pub fn expire_blockhashes(&self) {
        self.advance_slots(BLOCKHASH_VALIDITY + 1);
    }

    /// Lets `n` empty slots pass (at most [`MAX_ADVANCE`]), each with a new blockhash; returns
    /// the new slot. `custos devnet` calls this on its slot clock.
    pub fn advance_slots(&self, n: u64) -> u64 {
        let mut g = self.lock();
        g.advance(n.min(MAX_ADVANCE));
        g.slot
    }

    /// Writes the snapshot now (the slot clock does not; a server calls this when it stops so
    /// the slots that passed since the last transaction are kept).
    pub fn save(&self) -> Result<(), DevnetError> {
        self.lock().persist()
    }

    /// The current slot (also the block height: every slot has a block here).
    pub fn slot(&self) -> u64 {
        self.lock().slot
    }

    /// Events from now on: new slots and landed transactions. A subscriber that falls more than
    /// a few thousand events behind misses the oldest (`RecvError::Lagged`).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<DevnetEvent> {
        self.lock().events.subscribe()
    }

    /// An account, if it exists.
    pub fn get_account(&self, address: &Address) -> Option<Account> {
        self.lock()
            .svm
            .get_account(address)
            .filter(|a| a.lamports > 0)
    }

    /// Lamports of an address (0 if it does not exist).
    pub fn balance(&self, address: &Address) -> u64 {
        self.get_account(address).map(|a| a.lamports).unwrap_or(0)
    }

    /// Rent-exempt minimum for `data_len` bytes.
    pub fn minimum_balance_for_rent_exemption(&self, data_len: usize) -> u64 {
        self.lock().svm.minimum_balance_for_rent_exemption(data_len)
    }

    /// `(slot, lowest compute-unit price)` of the recent slots, as `getRecentPrioritizationFees`
    /// reports them (see [`super::fees`]).
    pub fn recent_prioritization_fees(&self, accounts: &[Address]) -> Vec<(u64, u64)> {
        self.lock().fee_log.recent(accounts)
    }

    /// The slot and structured error (the runtime's `TransactionError` as JSON) of a landed
    /// transaction, if the devnet still remembers it.
    pub fn landed_error(&self, sig: &Signature) -> Option<(u64, Option<serde_json::Value>)> {
        let g = self.lock();
        if let Some(t) = g.ledger.transaction(sig) {
            return Some((t.slot, t.meta.err.clone()));
        }
        g.statuses.get(sig).map(|st| {
            let err = st.error.as_ref().map(|text| {
                serde_json::from_str(text).unwrap_or(serde_json::Value::String(text.clone()))
            });
            (st.slot, err)
        })
    }

    /// Status of a transaction this devnet executed, if it still remembers it.
    pub fn signature_status(&self, signature: &Signature) -> Option<TxStatus> {
        self.lock().statuses.get(signature).cloned()
    }

    /// Token accounts owned by `owner` under `token_program`.
    pub fn token_accounts_by_owner(
        &self,
        owner: &Address,
        token_program: &Address,
    ) -> Vec<(Address, Account)> {
        self.program_accounts(token_program)
            .into_iter()
            .filter(|(_, a)| {
                token::parse_token_account(&a.owner, &a.data).is_some_and(|t| t.owner == *owner)
            })
            .collect()
    }

    /// Verifies and executes a signed transaction with preflight; on success it lands in a new
    /// slot and the state is persisted.
    pub fn send_transaction(&self, tx: VersionedTransaction) -> Result<Signature, DevnetError> {
        self.lock().send(tx, SendOptions::default())
    }

    /// [`Self::send_transaction`] with options (`skipPreflight`).
    pub fn send_transaction_with(
        &self,
        tx: VersionedTransaction,
        options: SendOptions,
    ) -> Result<Signature, DevnetError> {
        self.lock().send(tx, options)
    }

    /// A landed transaction with its metadata, if it is still remembered (the newest
    /// [`super::devnet_ledger::TRANSACTION_HISTORY`], in memory only).
    pub fn transaction(&self, signature: &Signature) -> Option<Arc<LandedTx>> {
        self.lock().ledger.transaction(signature)
    }

    /// Remembered transactions naming `address`, newest first (`getSignaturesForAddress`).
    pub fn signatures_for_address(
        &self,
        address: &Address,
        before: Option<&Signature>,
        until: Option<&Signature>,
        limit: usize,
    ) -> Vec<Arc<LandedTx>> {
        self.lock()
            .ledger
            .signatures_for(address, before, until, limit)
    }

    /// A slot's block with its transactions.
    pub fn block(&self, slot: u64) -> BlockLookup {
        self.lock().ledger.block(slot)
    }

    /// Transactions landed so far (`getTransactionCount`).
    pub fn transaction_count(&self) -> u64 {
        self.lock().ledger.transaction_count()
    }

    /// Every existing account owned by `program`, by address.
    pub fn program_accounts(&self, program: &Address) -> Vec<(Address, Account)> {
        let g = self.lock();
        let mut out: Vec<(Address, Account)> = g
            .svm
            .accounts_db()
            .inner
            .iter()
            .filter(|(_, a)| solana_account::ReadableAccount::owner(*a) == program)
            .map(|(k, a)| (*k, Account::from(a.clone())))
            .filter(|(_, a)| a.lamports > 0)
            .collect();
        out.sort_by_key(|(k, _)| k.to_bytes());
        out
    }
}

impl Inner {
    /// The newest blockhash and its slot.
    pub(super) fn latest(&self) -> (Hash, u64) {
        self.recent
            .back()
            .copied()
            .unwrap_or((self.svm.latest_blockhash(), self.slot))
    }

    fn record_block(&mut self, parent_slot: u64, previous_blockhash: Hash) {
        let (blockhash, _) = self.latest();
        self.ledger.push_block(BlockInfo {
            slot: self.slot,
            parent_slot,
            blockhash,
            previous_blockhash,
            block_time: unix_now(),
        });
    }

    fn advance(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        for _ in 0..n {
            let parent = self.slot;
            let (prev, _) = self.latest();
            self.slot += 1;
            // Our own hash chain (LiteSVM's restarts from the same genesis value): each
            // blockhash is SHA-256 of the previous one and the slot.
            use sha2::Digest as _;
            let mut hasher = sha2::Sha256::new();
            hasher.update(prev.to_bytes());
            hasher.update(self.slot.to_le_bytes());
            let h = Hash::new_from_array(hasher.finalize().into());
            self.recent.push_back((h, self.slot));
            // A blockhash is valid while the block height is at most its slot + 150.
            while self.recent.len() > BLOCKHASH_VALIDITY as usize + 1 {
                self.recent.pop_front();
            }
            self.record_block(parent, prev);
            // No subscriber is not an error.
            let _ = self.events.send(DevnetEvent::Slot {
                parent,
                slot: self.slot,
            });
        }
        self.svm.warp_to_slot(self.slot);
    }

    /// A transaction's age check, as a node's: its blockhash is recent, or it is a durable-nonce
    /// transaction whose nonce is current ([`super::devnet_nonce::durable_nonce`]).
    pub(super) fn check_blockhash(&self, tx: &VersionedTransaction) -> Result<(), DevnetError> {
        let h = tx.message.recent_blockhash();
        if self.recent.iter().any(|(r, _)| r == h)
            || super::devnet_nonce::durable_nonce(&self.svm, tx).is_some()
        {
            Ok(())
        } else {
            Err(DevnetError::Rejected("Blockhash not found".into()))
        }
    }

    /// Addresses loaded from the message's lookup tables: (writable, read-only).
    fn loaded_keys(&self, message: &VersionedMessage) -> (Vec<Address>, Vec<Address>) {
        let Some(lookups) = message.address_table_lookups() else {
            return (Vec::new(), Vec::new());
        };
        let load = |l: &MessageAddressTableLookup, idx: &[u8]| -> Vec<Address> {
            let Some(table) = self.svm.get_account(&l.account_key) else {
                return Vec::new();
            };
            idx.iter()
                .filter_map(|i| {
                    let at = LOOKUP_TABLE_META_SIZE + 32 * usize::from(*i);
                    let b: [u8; 32] = table.data.get(at..at + 32)?.try_into().ok()?;
                    Some(Address::new_from_array(b))
                })
                .collect()
        };
        let writable = lookups
            .iter()
            .flat_map(|l| load(l, &l.writable_indexes))
            .collect();
        let readonly = lookups
            .iter()
            .flat_map(|l| load(l, &l.readonly_indexes))
            .collect();
        (writable, readonly)
    }

    /// Static keys followed by keys loaded from lookup tables, as the runtime orders them.
    pub(super) fn all_keys(&self, message: &VersionedMessage) -> Vec<Address> {
        let (w, r) = self.loaded_keys(message);
        let mut keys = message.static_account_keys().to_vec();
        keys.extend(w);
        keys.extend(r);
        keys
    }

    pub(super) fn sign_and_send(
        &mut self,
        ixs: &[Instruction],
        payer: &Keypair,
        extra: &[&Keypair],
    ) -> Result<Signature, DevnetError> {
        let (blockhash, _) = self.latest();
        let msg = Message::new_with_blockhash(ixs, Some(&payer.pubkey()), &blockhash);
        let mut signers: Vec<&Keypair> = vec![payer];
        signers.extend_from_slice(extra);
        let tx = VersionedTransaction::try_new(VersionedMessage::Legacy(msg), &signers)
            .map_err(|e| DevnetError::InvalidInput(format!("sign: {e}")))?;
        self.send(tx, SendOptions::default())
    }

    fn accounts_of(&self, keys: &[Address]) -> Vec<Option<Account>> {
        keys.iter()
            .map(|k| self.svm.get_account(k).filter(|a| a.lamports > 0))
            .collect()
    }

    fn send(
        &mut self,
        tx: VersionedTransaction,
        options: SendOptions,
    ) -> Result<Signature, DevnetError> {
        tx.sanitize()
            .map_err(|e| DevnetError::Rejected(format!("sanitize: {e}")))?;
        verify_signatures(&tx)?;
        // A duplicate first: a landed durable-nonce transaction's blockhash is no longer valid,
        // but it is still "already processed", as a node says.
        let sig = tx.signatures.first().copied().unwrap_or_default();
        if self.statuses.contains_key(&sig) {
            // Without preflight a node accepts a duplicate and drops it: it already landed.
            if options.skip_preflight {
                return Ok(sig);
            }
            return Err(DevnetError::Rejected(
                "This transaction has already been processed".into(),
            ));
        }
        self.check_blockhash(&tx)?;
        let nonce = super::devnet_nonce::durable_nonce(&self.svm, &tx);
        if !options.skip_preflight {
            if let Err(failed) = self.svm.simulate_transaction(tx.clone()) {
                return Err(failed_error(&failed));
            }
        }
        let (loaded_writable, loaded_readonly) = self.loaded_keys(&tx.message);
        let keys: Vec<Address> = tx
            .message
            .static_account_keys()
            .iter()
            .chain(&loaded_writable)
            .chain(&loaded_readonly)
            .copied()
            .collect();
        let pre = self.accounts_of(&keys);
        let price = super::fees::compute_unit_price(&tx.message);
        let (err, meta) = match self.svm.send_transaction(tx.clone()) {
            Ok(meta) => (None, meta),
            // LiteSVM charges the fee of a transaction that ran and failed, as the runtime
            // does; one that could not even be loaded (no fee payer, say) never lands.
            Err(failed) if self.svm.get_transaction(&sig).is_some() => {
                // A durable-nonce transaction that lands with an error still uses its nonce up.
                if let Some(account) = nonce {
                    super::devnet_nonce::advance(&mut self.svm, &account);
                }
                (serde_json::to_value(&failed.err).ok(), failed.meta)
            }
            Err(failed) => return Err(failed_error(&failed)),
        };
        let post = self.accounts_of(&keys);
        let decimals = |mint: &Address| {
            self.svm
                .get_account(mint)
                .and_then(|m| token::parse_mint_decimals(&m.owner, &m.data))
        };
        let landed = Arc::new(LandedTx::new(
            tx,
            Landing {
                slot: self.slot,
                block_time: unix_now(),
                err: err.clone(),
                keys: &keys,
                pre: &pre,
                post: &post,
                loaded: (loaded_writable, loaded_readonly),
                decimals: &decimals,
            },
            meta,
        ));
        let changed = keys
            .iter()
            .zip(pre.iter().zip(&post))
            .filter(|(_, (a, b))| a != b)
            .map(|(k, (_, b))| (*k, b.clone().unwrap_or_default()))
            .collect();
        if err.is_none() {
            self.fee_log.record(self.slot, price);
        }
        self.statuses.insert(
            sig,
            TxStatus {
                slot: self.slot,
                commitment: Commitment::Finalized,
                // The error's JSON text, as the RPC backend records a node's.
                error: err.as_ref().map(ToString::to_string),
            },
        );
        self.status_order.push_back(sig);
        while self.status_order.len() > STATUS_CAPACITY {
            if let Some(old) = self.status_order.pop_front() {
                self.statuses.remove(&old);
            }
        }
        self.ledger.push_transaction(landed.clone());
        let _ = self.events.send(DevnetEvent::Landed {
            tx: landed,
            changed,
        });
        self.advance(1);
        self.persist()?;
        Ok(sig)
    }

    /// Writes every non-baseline account, the slot, the blockhashes and the newest statuses.
    pub(super) fn persist(&self) -> Result<(), DevnetError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let skip = self.status_order.len().saturating_sub(PERSISTED_STATUSES);
        snapshot::save(
            dir,
            snapshot::SnapshotView {
                slot: self.slot,
                recent_blockhashes: self.recent.iter().map(|(h, _)| *h).collect(),
                accounts: self
                    .svm
                    .accounts_db()
                    .inner
                    .iter()
                    .filter(|(k, _)| !self.baseline.contains(*k))
                    .map(|(k, a)| (k, Account::from(a.clone())))
                    .filter(|(_, a)| a.lamports > 0),
                statuses: self
                    .status_order
                    .iter()
                    .skip(skip)
                    .filter_map(|sig| self.statuses.get(sig).map(|st| (sig, st))),
            },
        )
    }
}

fn failed_error(failed: &litesvm::types::FailedTransactionMetadata) -> DevnetError {
    let logs = failed.meta.logs.join("\n");
    DevnetError::Failed {
        message: format!("{}; logs:\n{logs}", failed.err),
        err: serde_json::to_value(&failed.err).unwrap_or(serde_json::Value::Null),
        logs: failed.meta.logs.clone(),
        units: failed.meta.compute_units_consumed,
    }
}

pub(super) fn verify_signatures(tx: &VersionedTransaction) -> Result<(), DevnetError> {
    let required = usize::from(tx.message.header().num_required_signatures);
    if tx.signatures.len() != required {
        return Err(DevnetError::Rejected(format!(
            "{} signatures for {required} required signers",
            tx.signatures.len()
        )));
    }
    if tx.verify_with_results().iter().all(|ok| *ok) {
        Ok(())
    } else {
        Err(DevnetError::Rejected(
            "Transaction did not pass signature verification".into(),
        ))
    }
}
