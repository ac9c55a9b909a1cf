//! The embedded devnet: LiteSVM in-process, with its state persisted in a data directory so a
//! restart keeps balances.
//!
//! LiteSVM has no persistence of its own. After every successful transaction the devnet writes a
//! snapshot of every account that was not part of a fresh LiteSVM (so: user wallets, token
//! accounts, mints, the faucet — not sysvars or the built-in SPL programs) to
//! `solana-devnet.json`, atomically (temporary file, fsync, rename), and reloads it at start.
//!
//! It behaves like a single-validator cluster: every successful transaction lands in its own slot
//! and is immediately final; each slot has a new blockhash and the last 150 stay valid. Signatures
//! are verified and duplicates refused here (LiteSVM's own checks are off so that simulation can
//! skip signature verification, as `simulateTransaction` does).
use super::backend::{SimulationOutcome, TxStatus};
use super::token;
use custos_core::{ChainError, Commitment};
use litesvm::LiteSVM;
use serde::{Deserialize, Serialize};
use solana_account::Account;
use solana_address::Address;
use solana_hash::Hash;
use solana_instruction::{AccountMeta, Instruction};
use solana_keypair::Keypair;
use solana_message::{v0::MessageAddressTableLookup, Message, VersionedMessage};
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};

/// How many recent blockhashes stay valid (as on mainnet).
pub const BLOCKHASH_VALIDITY: u64 = 150;
const STATUS_CAPACITY: usize = 100_000;
/// Statuses kept across restarts: far more than the 150 slots a blockhash stays valid (so no
/// transaction can run twice), and enough for crash recovery, which runs at start.
const PERSISTED_STATUSES: usize = 4096;
const SNAPSHOT_FILE: &str = "solana-devnet.json";
const FAUCET_FILE: &str = "solana-devnet-faucet.key";
const SNAPSHOT_VERSION: u32 = 1;
const FAUCET_FLOOR: u64 = 1_000 * super::LAMPORTS_PER_SOL;
const FAUCET_FILL: u64 = 1_000_000 * super::LAMPORTS_PER_SOL;
/// Size of an address lookup table's metadata before its addresses.
const LOOKUP_TABLE_META_SIZE: usize = 56;

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

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Snapshot {
    version: u32,
    slot: u64,
    recent_blockhashes: Vec<String>,
    accounts: Vec<StoredAccount>,
    /// The newest transaction statuses, oldest first (absent in snapshots written before they
    /// were kept). Written in the same atomic snapshot as the accounts they changed, so a
    /// restarted devnet still answers `getSignatureStatuses` for them and refuses to run one
    /// of them again while its blockhash is valid.
    #[serde(default)]
    statuses: Vec<StoredStatus>,
}

/// One landed transaction's status, as persisted.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredStatus {
    signature: String,
    slot: u64,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredAccount {
    pubkey: String,
    lamports: u64,
    owner: String,
    executable: bool,
    rent_epoch: u64,
    data: String,
}

struct Inner {
    svm: LiteSVM,
    dir: Option<PathBuf>,
    baseline: HashSet<Address>,
    slot: u64,
    /// Valid blockhashes, oldest first, with the slot each was produced in.
    recent: VecDeque<(Hash, u64)>,
    statuses: HashMap<Signature, TxStatus>,
    /// What recently landed transactions paid per compute unit (not kept across restarts).
    fee_log: super::fees::FeeLog,
    status_order: VecDeque<Signature>,
    faucet: Keypair,
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

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
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
        let svm = LiteSVM::new()
            .with_sigverify(false)
            .with_blockhash_check(false);
        let baseline: HashSet<Address> = svm.accounts_db().inner.keys().copied().collect();
        let faucet = match &dir {
            Some(d) => load_or_create_faucet(d)?,
            None => Keypair::new(),
        };
        let mut inner = Inner {
            svm,
            dir,
            baseline,
            slot: 1,
            recent: VecDeque::new(),
            statuses: HashMap::new(),
            fee_log: super::fees::FeeLog::default(),
            status_order: VecDeque::new(),
            faucet,
        };
        let restored = inner.restore()?;
        if !restored {
            let h = inner.svm.latest_blockhash();
            inner.recent.push_back((h, inner.slot));
        }
        inner.svm.warp_to_slot(inner.slot);
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

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave LiteSVM half-updated in a way we rely on:
        // state is only committed by `send_transaction` after success, so recover the guard.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The newest blockhash and the last block height at which it is valid.
    pub fn latest_blockhash(&self) -> (Hash, u64) {
        let g = self.lock();
        let (h, s) = g
            .recent
            .back()
            .copied()
            .unwrap_or((g.svm.latest_blockhash(), g.slot));
        (h, s + BLOCKHASH_VALIDITY)
    }

    /// Whether `hash` is still a valid recent blockhash.
    pub fn is_blockhash_valid(&self, hash: &Hash) -> bool {
        self.lock().recent.iter().any(|(h, _)| h == hash)
    }

    /// Makes every current blockhash invalid (as if 150 slots passed without transactions).
    pub fn expire_blockhashes(&self) {
        let mut g = self.lock();
        g.recent.clear();
        g.advance_slot();
    }

    /// The current slot (also the block height: every slot has a block here).
    pub fn slot(&self) -> u64 {
        self.lock().slot
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

    /// The faucet's address (it pays airdrops and is the authority of mints made by
    /// [`Self::create_mint`]).
    pub fn faucet(&self) -> Address {
        self.lock().faucet.pubkey()
    }

    /// Sends `lamports` from the faucet to `to` in a real transaction; returns its signature.
    pub fn airdrop(&self, to: &Address, lamports: u64) -> Result<Signature, DevnetError> {
        let mut g = self.lock();
        let faucet = g.faucet.insecure_clone();
        let ix = solana_system_interface::instruction::transfer(&faucet.pubkey(), to, lamports);
        g.sign_and_send(&[ix], &faucet, &[])
    }

    /// Creates a mint under `token_program` (SPL Token or Token-2022) with the faucet as mint
    /// authority and no freeze authority; returns its address.
    pub fn create_mint(
        &self,
        decimals: u8,
        token_program: &Address,
    ) -> Result<Address, DevnetError> {
        if !token::is_token_program(token_program) {
            return Err(DevnetError::InvalidInput("not a token program".into()));
        }
        let mut g = self.lock();
        let faucet = g.faucet.insecure_clone();
        let mint = Keypair::new();
        let rent = g.svm.minimum_balance_for_rent_exemption(token::MINT_LEN);
        let create = solana_system_interface::instruction::create_account(
            &faucet.pubkey(),
            &mint.pubkey(),
            rent,
            token::MINT_LEN as u64,
            token_program,
        );
        // InitializeMint2 { decimals, mint_authority, freeze_authority: None }
        let mut data = vec![20u8, decimals];
        data.extend_from_slice(faucet.pubkey().as_ref());
        data.push(0);
        let init = Instruction {
            program_id: *token_program,
            accounts: vec![AccountMeta::new(mint.pubkey(), false)],
            data,
        };
        g.sign_and_send(&[create, init], &faucet, &[&mint])?;
        Ok(mint.pubkey())
    }

    /// Mints `amount` base units of `mint` to `owner`'s associated token account, creating it if
    /// needed; returns the token account.
    pub fn mint_to(
        &self,
        mint: &Address,
        owner: &Address,
        amount: u64,
        token_program: &Address,
    ) -> Result<Address, DevnetError> {
        let mut g = self.lock();
        let faucet = g.faucet.insecure_clone();
        let ata = spl_associated_token_account_interface::address::get_associated_token_address_with_program_id(
            owner, mint, token_program,
        );
        let create = spl_associated_token_account_interface::instruction::create_associated_token_account_idempotent(
            &faucet.pubkey(), owner, mint, token_program,
        );
        let mut data = vec![7u8];
        data.extend_from_slice(&amount.to_le_bytes());
        let mint_ix = Instruction {
            program_id: *token_program,
            accounts: vec![
                AccountMeta::new(*mint, false),
                AccountMeta::new(ata, false),
                AccountMeta::new_readonly(faucet.pubkey(), true),
            ],
            data,
        };
        g.sign_and_send(&[create, mint_ix], &faucet, &[])?;
        Ok(ata)
    }

    /// Verifies and executes a signed transaction; on success it lands in a new slot and the
    /// state is persisted.
    pub fn send_transaction(&self, tx: VersionedTransaction) -> Result<Signature, DevnetError> {
        self.lock().send(tx)
    }

    /// Runs a transaction without committing it and returns the post-state of `addresses`.
    pub fn simulate(
        &self,
        tx: &VersionedTransaction,
        sig_verify: bool,
        replace_recent_blockhash: bool,
        addresses: &[Address],
    ) -> Result<SimulationOutcome, DevnetError> {
        let g = self.lock();
        let mut tx = tx.clone();
        if replace_recent_blockhash {
            let h = g
                .recent
                .back()
                .map(|(h, _)| *h)
                .unwrap_or(g.svm.latest_blockhash());
            tx.message.set_recent_blockhash(h);
        } else if let Err(e) = g.check_blockhash(&tx) {
            return Ok(SimulationOutcome {
                error: Some(e.to_string()),
                error_detail: Some(serde_json::json!("BlockhashNotFound")),
                post_accounts: vec![None; addresses.len()],
                ..Default::default()
            });
        }
        if sig_verify {
            if let Err(e) = verify_signatures(&tx) {
                return Ok(SimulationOutcome {
                    error: Some(e.to_string()),
                    error_detail: Some(serde_json::json!("SignatureFailure")),
                    post_accounts: vec![None; addresses.len()],
                    ..Default::default()
                });
            }
        }
        let keys = g.all_keys(&tx.message);
        // Read under the same lock as the simulation, so no concurrent send can slip between.
        let pre_accounts: Vec<Option<Account>> = addresses
            .iter()
            .map(|k| g.svm.get_account(k).filter(|a| a.lamports > 0))
            .collect();
        match g.svm.simulate_transaction(tx) {
            Ok(info) => {
                let post: HashMap<Address, Account> = info
                    .post_accounts
                    .into_iter()
                    .map(|(k, a)| (k, Account::from(a)))
                    .collect();
                let post_accounts = addresses
                    .iter()
                    .map(|k| match post.get(k) {
                        Some(a) => Some(a.clone()).filter(|a| a.lamports > 0),
                        None => g.svm.get_account(k).filter(|a| a.lamports > 0),
                    })
                    .collect();
                let inner_programs = info
                    .meta
                    .inner_instructions
                    .iter()
                    .flatten()
                    .filter_map(|i| {
                        keys.get(usize::from(i.instruction.program_id_index))
                            .copied()
                    })
                    .collect();
                Ok(SimulationOutcome {
                    error: None,
                    error_detail: None,
                    logs: info.meta.logs,
                    units_consumed: info.meta.compute_units_consumed,
                    fee: Some(info.meta.fee),
                    post_accounts,
                    inner_programs,
                    pre_accounts: Some(pre_accounts),
                })
            }
            Err(failed) => Ok(SimulationOutcome {
                error: Some(failed.err.to_string()),
                error_detail: serde_json::to_value(&failed.err).ok(),
                logs: failed.meta.logs,
                units_consumed: failed.meta.compute_units_consumed,
                fee: Some(failed.meta.fee),
                post_accounts: vec![None; addresses.len()],
                inner_programs: Vec::new(),
                pre_accounts: Some(pre_accounts),
            }),
        }
    }

    /// `(slot, lowest compute-unit price)` of the recent slots, as `getRecentPrioritizationFees`
    /// reports them (see [`super::fees`]).
    pub fn recent_prioritization_fees(&self, accounts: &[Address]) -> Vec<(u64, u64)> {
        self.lock().fee_log.recent(accounts)
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
        let g = self.lock();
        let mut out: Vec<(Address, Account)> = g
            .svm
            .accounts_db()
            .inner
            .iter()
            .filter(|(_, a)| solana_account::ReadableAccount::owner(*a) == token_program)
            .map(|(k, a)| (*k, Account::from(a.clone())))
            .filter(|(_, a)| {
                a.lamports > 0
                    && token::parse_token_account(&a.owner, &a.data)
                        .is_some_and(|t| t.owner == *owner)
            })
            .collect();
        out.sort_by_key(|(k, _)| k.to_bytes());
        out
    }
}

impl Inner {
    fn advance_slot(&mut self) {
        self.slot += 1;
        self.svm.warp_to_slot(self.slot);
        // Our own hash chain (LiteSVM's restarts from the same genesis value): each blockhash is
        // SHA-256 of the previous one and the slot, so hashes never repeat across restarts.
        use sha2::Digest as _;
        let prev = self
            .recent
            .back()
            .map(|(h, _)| h.to_bytes())
            .unwrap_or_default();
        let mut hasher = sha2::Sha256::new();
        hasher.update(prev);
        hasher.update(self.slot.to_le_bytes());
        let h = Hash::new_from_array(hasher.finalize().into());
        self.recent.push_back((h, self.slot));
        while self.recent.len() > BLOCKHASH_VALIDITY as usize {
            self.recent.pop_front();
        }
    }

    fn check_blockhash(&self, tx: &VersionedTransaction) -> Result<(), DevnetError> {
        let h = tx.message.recent_blockhash();
        if self.recent.iter().any(|(r, _)| r == h) {
            Ok(())
        } else {
            Err(DevnetError::Rejected("Blockhash not found".into()))
        }
    }

    /// Static keys followed by keys loaded from lookup tables, as the runtime orders them.
    fn all_keys(&self, message: &VersionedMessage) -> Vec<Address> {
        let mut keys = message.static_account_keys().to_vec();
        if let Some(lookups) = message.address_table_lookups() {
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
            for l in lookups {
                keys.extend(load(l, &l.writable_indexes));
            }
            for l in lookups {
                keys.extend(load(l, &l.readonly_indexes));
            }
        }
        keys
    }

    fn sign_and_send(
        &mut self,
        ixs: &[Instruction],
        payer: &Keypair,
        extra: &[&Keypair],
    ) -> Result<Signature, DevnetError> {
        let blockhash = self
            .recent
            .back()
            .map(|(h, _)| *h)
            .unwrap_or(self.svm.latest_blockhash());
        let msg = Message::new_with_blockhash(ixs, Some(&payer.pubkey()), &blockhash);
        let mut signers: Vec<&Keypair> = vec![payer];
        signers.extend_from_slice(extra);
        let tx = VersionedTransaction::try_new(VersionedMessage::Legacy(msg), &signers)
            .map_err(|e| DevnetError::InvalidInput(format!("sign: {e}")))?;
        self.send(tx)
    }

    fn send(&mut self, tx: VersionedTransaction) -> Result<Signature, DevnetError> {
        tx.sanitize()
            .map_err(|e| DevnetError::Rejected(format!("sanitize: {e}")))?;
        verify_signatures(&tx)?;
        self.check_blockhash(&tx)?;
        let sig = tx.signatures.first().copied().unwrap_or_default();
        if self.statuses.contains_key(&sig) {
            return Err(DevnetError::Rejected(
                "This transaction has already been processed".into(),
            ));
        }
        let price = super::fees::compute_unit_price(&tx.message);
        match self.svm.send_transaction(tx) {
            Ok(_) => {
                self.fee_log.record(self.slot, price);
                let status = TxStatus {
                    slot: self.slot,
                    commitment: Commitment::Finalized,
                    error: None,
                };
                self.statuses.insert(sig, status);
                self.status_order.push_back(sig);
                while self.status_order.len() > STATUS_CAPACITY {
                    if let Some(old) = self.status_order.pop_front() {
                        self.statuses.remove(&old);
                    }
                }
                self.advance_slot();
                self.persist()?;
                Ok(sig)
            }
            Err(failed) => {
                let logs = failed.meta.logs.join("\n");
                Err(DevnetError::Failed {
                    message: format!("{}; logs:\n{logs}", failed.err),
                    err: serde_json::to_value(&failed.err).unwrap_or(serde_json::Value::Null),
                    logs: failed.meta.logs,
                    units: failed.meta.compute_units_consumed,
                })
            }
        }
    }

    /// Loads the snapshot if there is one; returns whether it did.
    fn restore(&mut self) -> Result<bool, DevnetError> {
        let Some(dir) = &self.dir else {
            return Ok(false);
        };
        let path = dir.join(SNAPSHOT_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => {
                return Err(DevnetError::Storage(format!(
                    "read {}: {e}",
                    path.display()
                )))
            }
        };
        let bad = |reason: String| DevnetError::Snapshot {
            path: path.clone(),
            reason,
        };
        let snap: Snapshot =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("parse: {e}")))?;
        if snap.version != SNAPSHOT_VERSION {
            return Err(bad(format!("unsupported version {}", snap.version)));
        }
        use base64::Engine as _;
        for a in snap.accounts {
            let pubkey = Address::from_str(&a.pubkey).map_err(|_| bad("bad pubkey".into()))?;
            let owner = Address::from_str(&a.owner).map_err(|_| bad("bad owner".into()))?;
            let data = b64().decode(&a.data).map_err(|_| bad("bad data".into()))?;
            self.svm
                .set_account(
                    pubkey,
                    Account {
                        lamports: a.lamports,
                        data,
                        owner,
                        executable: a.executable,
                        rent_epoch: a.rent_epoch,
                    },
                )
                .map_err(|e| bad(format!("load account {}: {e}", a.pubkey)))?;
        }
        self.slot = snap.slot.max(1);
        for h in snap.recent_blockhashes {
            let hash = Hash::from_str(&h).map_err(|_| bad("bad blockhash".into()))?;
            self.recent.push_back((hash, self.slot));
        }
        if self.recent.is_empty() {
            let h = self.svm.latest_blockhash();
            self.recent.push_back((h, self.slot));
        }
        for st in snap.statuses {
            let sig =
                Signature::from_str(&st.signature).map_err(|_| bad("bad signature".into()))?;
            self.statuses.insert(
                sig,
                TxStatus {
                    slot: st.slot,
                    commitment: Commitment::Finalized,
                    error: st.error,
                },
            );
            self.status_order.push_back(sig);
        }
        Ok(true)
    }

    /// Writes every non-baseline account atomically.
    fn persist(&self) -> Result<(), DevnetError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        use base64::Engine as _;
        let mut accounts: Vec<StoredAccount> = self
            .svm
            .accounts_db()
            .inner
            .iter()
            .filter(|(k, _)| !self.baseline.contains(*k))
            .map(|(k, a)| (k, Account::from(a.clone())))
            .filter(|(_, a)| a.lamports > 0)
            .map(|(k, a)| StoredAccount {
                pubkey: k.to_string(),
                lamports: a.lamports,
                owner: a.owner.to_string(),
                executable: a.executable,
                rent_epoch: a.rent_epoch,
                data: b64().encode(&a.data),
            })
            .collect();
        accounts.sort_by(|a, b| a.pubkey.cmp(&b.pubkey));
        let snap = Snapshot {
            version: SNAPSHOT_VERSION,
            slot: self.slot,
            recent_blockhashes: self.recent.iter().map(|(h, _)| h.to_string()).collect(),
            accounts,
            statuses: self
                .status_order
                .iter()
                .rev()
                .take(PERSISTED_STATUSES)
                .rev()
                .filter_map(|sig| {
                    self.statuses.get(sig).map(|st| StoredStatus {
                        signature: sig.to_string(),
                        slot: st.slot,
                        error: st.error.clone(),
                    })
                })
                .collect(),
        };
        let bytes = serde_json::to_vec(&snap)
            .map_err(|e| DevnetError::Storage(format!("encode snapshot: {e}")))?;
        write_atomic(&dir.join(SNAPSHOT_FILE), &bytes, false)
    }
}

fn verify_signatures(tx: &VersionedTransaction) -> Result<(), DevnetError> {
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

fn write_atomic(path: &Path, bytes: &[u8], secret: bool) -> Result<(), DevnetError> {
    let err = |e: std::io::Error| DevnetError::Storage(format!("write {}: {e}", path.display()));
    let tmp = path.with_extension("tmp");
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if secret {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = secret;
        let mut f = opts.open(&tmp).map_err(err)?;
        f.write_all(bytes).map_err(err)?;
        f.sync_all().map_err(err)?;
    }
    std::fs::rename(&tmp, path).map_err(err)?;
    if let Some(parent) = path.parent() {
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// The faucet key is a development-chain key with no value elsewhere; it is still written
/// owner-only and never logged.
fn load_or_create_faucet(dir: &Path) -> Result<Keypair, DevnetError> {
    let path = dir.join(FAUCET_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Keypair::try_from(bytes.as_slice()).map_err(|_| DevnetError::Snapshot {
            path,
            reason: "faucet key is not a 64-byte keypair".into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let kp = Keypair::new();
            let bytes = zeroize::Zeroizing::new(kp.to_bytes());
            write_atomic(&path, bytes.as_ref(), true)?;
            Ok(kp)
        }
        Err(e) => Err(DevnetError::Storage(format!(
            "read {}: {e}",
            path.display()
        ))),
    }
}
