//! The embedded devnet's recent history, in memory: a record per slot (blockhash, parent, time)
//! and per landed transaction (the signed transaction with its metadata), each bounded, which
//! `getBlock`, `getBlockTime`, `getTransaction` and `getSignaturesForAddress` answer from; and
//! the events the PubSub WebSocket turns into notifications.
//!
//! Nothing here is persisted: after a restart the history starts again at the restored slot
//! (transaction statuses, which are persisted, still answer `getSignatureStatuses`).
use super::token;
use solana_account::Account;
use solana_address::Address;
use solana_hash::Hash;
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Slots whose block is remembered (about two hours at 400 ms a slot).
pub const BLOCK_HISTORY: usize = 20_000;
/// Landed transactions remembered with their bodies and metadata.
pub const TRANSACTION_HISTORY: usize = 10_000;

/// One slot's block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    /// The slot (also the block height: every slot has a block here).
    pub slot: u64,
    /// The slot before it.
    pub parent_slot: u64,
    /// Its blockhash.
    pub blockhash: Hash,
    /// The parent's blockhash.
    pub previous_blockhash: Hash,
    /// When it was produced (Unix seconds).
    pub block_time: i64,
}

/// A token account's balance before or after a transaction, as `pre/postTokenBalances` list it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenBalance {
    /// Index of the account in the transaction's account keys.
    pub account_index: u8,
    /// The mint.
    pub mint: Address,
    /// The wallet owning the token account.
    pub owner: Address,
    /// SPL Token or Token-2022.
    pub program_id: Address,
    /// Base units.
    pub amount: u64,
    /// The mint's decimals.
    pub decimals: u8,
}

/// An instruction a program invoked (cross-program invocation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InnerInstruction {
    /// Index of the invoked program in the account keys.
    pub program_id_index: u8,
    /// Indexes of its accounts in the account keys.
    pub accounts: Vec<u8>,
    /// Instruction data.
    pub data: Vec<u8>,
    /// Invocation depth (1 is the top level).
    pub stack_height: u32,
}

/// What the runtime reported for a landed transaction (`getTransaction`'s `meta`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TxMeta {
    /// The runtime's `TransactionError` in its JSON form; `None` on success.
    pub err: Option<serde_json::Value>,
    /// Lamports charged.
    pub fee: u64,
    /// Lamports of every account key before, in key order (static keys, then loaded ones).
    pub pre_balances: Vec<u64>,
    /// Lamports of every account key after.
    pub post_balances: Vec<u64>,
    /// Token balances before.
    pub pre_token_balances: Vec<TokenBalance>,
    /// Token balances after.
    pub post_token_balances: Vec<TokenBalance>,
    /// Program logs.
    pub logs: Vec<String>,
    /// Inner instructions, grouped by the index of the top-level instruction that made them.
    pub inner_instructions: Vec<(u8, Vec<InnerInstruction>)>,
    /// Compute units consumed.
    pub compute_units: u64,
    /// Writable addresses loaded from lookup tables.
    pub loaded_writable: Vec<Address>,
    /// Read-only addresses loaded from lookup tables.
    pub loaded_readonly: Vec<Address>,
    /// The program's return data, if it set any.
    pub return_data: Option<(Address, Vec<u8>)>,
}

/// A transaction that landed (with or without an error).
#[derive(Clone, Debug)]
pub struct LandedTx {
    /// Its first signature.
    pub signature: Signature,
    /// The slot it landed in.
    pub slot: u64,
    /// The slot's time (Unix seconds).
    pub block_time: i64,
    /// The signed transaction.
    pub tx: VersionedTransaction,
    /// What the runtime reported.
    pub meta: TxMeta,
}

/// Where and how a transaction landed, for [`LandedTx::new`].
pub(super) struct Landing<'a> {
    pub slot: u64,
    pub block_time: i64,
    pub err: Option<serde_json::Value>,
    /// Every account key, in order.
    pub keys: &'a [Address],
    /// Each key's account before and after.
    pub pre: &'a [Option<Account>],
    pub post: &'a [Option<Account>],
    /// Keys loaded from lookup tables: (writable, read-only).
    pub loaded: (Vec<Address>, Vec<Address>),
    /// A mint's decimals.
    pub decimals: &'a dyn Fn(&Address) -> Option<u8>,
}

impl LandedTx {
    pub(super) fn new(
        tx: VersionedTransaction,
        at: Landing<'_>,
        meta: litesvm::types::TransactionMetadata,
    ) -> Self {
        let return_data = (!meta.return_data.data.is_empty())
            .then(|| (meta.return_data.program_id, meta.return_data.data.clone()));
        Self {
            signature: tx.signatures.first().copied().unwrap_or_default(),
            slot: at.slot,
            block_time: at.block_time,
            meta: TxMeta {
                err: at.err,
                fee: meta.fee,
                pre_balances: at.pre.iter().map(lamports).collect(),
                post_balances: at.post.iter().map(lamports).collect(),
                pre_token_balances: token_balances(at.keys, at.pre, at.decimals),
                post_token_balances: token_balances(at.keys, at.post, at.decimals),
                logs: meta.logs,
                inner_instructions: inner_instructions(&meta.inner_instructions),
                compute_units: meta.compute_units_consumed,
                loaded_writable: at.loaded.0,
                loaded_readonly: at.loaded.1,
                return_data,
            },
            tx,
        }
    }

    /// Every account key: static keys, then loaded writable, then loaded read-only.
    pub fn account_keys(&self) -> impl Iterator<Item = &Address> {
        self.tx
            .message
            .static_account_keys()
            .iter()
            .chain(self.meta.loaded_writable.iter())
            .chain(self.meta.loaded_readonly.iter())
    }
}

/// What happened on the devnet, for subscribers.
#[derive(Clone, Debug)]
pub enum DevnetEvent {
    /// A new slot (with a new blockhash) began.
    Slot {
        /// The slot before.
        parent: u64,
        /// The new slot.
        slot: u64,
    },
    /// A transaction landed.
    Landed {
        /// The transaction and its metadata.
        tx: Arc<LandedTx>,
        /// Accounts whose state it changed, after it (closed accounts with 0 lamports).
        changed: Vec<(Address, Account)>,
    },
}

/// A block with its transactions, or why there is none.
#[derive(Clone, Debug)]
pub enum BlockLookup {
    /// The block and the transactions that landed in it.
    Found(BlockInfo, Vec<Arc<LandedTx>>),
    /// Older than the oldest block remembered.
    CleanedUp {
        /// The oldest slot still remembered.
        first_available: u64,
    },
    /// Not produced (yet).
    NotAvailable,
}

/// The bounded history.
#[derive(Default)]
pub(super) struct Ledger {
    blocks: VecDeque<BlockInfo>,
    txs: VecDeque<Arc<LandedTx>>,
    by_signature: HashMap<Signature, Arc<LandedTx>>,
    transaction_count: u64,
}

impl Ledger {
    /// Starts counting transactions at `count` (the statuses restored from a snapshot).
    pub fn with_transaction_count(count: u64) -> Self {
        Self {
            transaction_count: count,
            ..Self::default()
        }
    }

    pub fn push_block(&mut self, block: BlockInfo) {
        self.blocks.push_back(block);
        while self.blocks.len() > BLOCK_HISTORY {
            self.blocks.pop_front();
        }
    }

    pub fn push_transaction(&mut self, tx: Arc<LandedTx>) {
        self.transaction_count += 1;
        self.by_signature.insert(tx.signature, tx.clone());
        self.txs.push_back(tx);
        while self.txs.len() > TRANSACTION_HISTORY {
            if let Some(old) = self.txs.pop_front() {
                self.by_signature.remove(&old.signature);
            }
        }
    }

    /// Transactions landed since the devnet was created (counted from the persisted statuses
    /// after a restart).
    pub fn transaction_count(&self) -> u64 {
        self.transaction_count
    }

    pub fn transaction(&self, signature: &Signature) -> Option<Arc<LandedTx>> {
        self.by_signature.get(signature).cloned()
    }

    pub fn block(&self, slot: u64) -> BlockLookup {
        let Some(first) = self.blocks.front() else {
            return BlockLookup::NotAvailable;
        };
        if slot < first.slot {
            return BlockLookup::CleanedUp {
                first_available: first.slot,
            };
        }
        // Slots are contiguous from the first one remembered.
        let Some(block) = usize::try_from(slot - first.slot)
            .ok()
            .and_then(|i| self.blocks.get(i))
            .filter(|b| b.slot == slot)
        else {
            return BlockLookup::NotAvailable;
        };
        let txs = self
            .txs
            .iter()
            .rev()
            .skip_while(|t| t.slot > slot)
            .take_while(|t| t.slot == slot)
            .cloned()
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        BlockLookup::Found(block.clone(), txs)
    }

    /// The newest first: transactions naming `address`, after `before` (exclusive) and down to
    /// `until` (exclusive), at most `limit`.
    pub fn signatures_for(
        &self,
        address: &Address,
        before: Option<&Signature>,
        until: Option<&Signature>,
        limit: usize,
    ) -> Vec<Arc<LandedTx>> {
        let mut newest_first = self.txs.iter().rev();
        if let Some(b) = before {
            // An unknown `before` yields nothing, as a node does for a signature it never saw.
            if !self.by_signature.contains_key(b) {
                return Vec::new();
            }
            for t in newest_first.by_ref() {
                if t.signature == *b {
                    break;
                }
            }
        }
        newest_first
            .take_while(|t| until != Some(&t.signature))
            .filter(|t| t.account_keys().any(|k| k == address))
            .take(limit)
            .cloned()
            .collect()
    }
}

fn lamports(a: &Option<Account>) -> u64 {
    a.as_ref().map(|a| a.lamports).unwrap_or(0)
}

fn token_balances(
    keys: &[Address],
    accounts: &[Option<Account>],
    decimals: &dyn Fn(&Address) -> Option<u8>,
) -> Vec<TokenBalance> {
    keys.iter()
        .zip(accounts)
        .enumerate()
        .filter_map(|(i, (_, a))| {
            let a = a.as_ref()?;
            let t = token::parse_token_account(&a.owner, &a.data)?;
            Some(TokenBalance {
                account_index: u8::try_from(i).ok()?,
                decimals: decimals(&t.mint)?,
                mint: t.mint,
                owner: t.owner,
                program_id: a.owner,
                amount: t.amount,
            })
        })
        .collect()
}

fn inner_instructions(
    list: &solana_message::inner_instruction::InnerInstructionsList,
) -> Vec<(u8, Vec<InnerInstruction>)> {
    list.iter()
        .enumerate()
        .filter(|(_, ixs)| !ixs.is_empty())
        .filter_map(|(i, ixs)| {
            let inner = ixs
                .iter()
                .map(|ix| InnerInstruction {
                    program_id_index: ix.instruction.program_id_index,
                    accounts: ix.instruction.accounts.clone(),
                    data: ix.instruction.data.clone(),
                    stack_height: u32::from(ix.stack_height),
                })
                .collect();
            Some((u8::try_from(i).ok()?, inner))
        })
        .collect()
}
