//! Nonces for the agents' EVM addresses: correct under concurrency and after a crash.
//!
//! One async lock per sender address is held from the moment a nonce is taken until the signed
//! transaction is accepted by the node (or the attempt fails). The nonce handed out is the larger
//! of the node's pending count and the last one this process committed, so:
//! - concurrent requests get consecutive nonces, with no gap and no duplicate;
//! - a nonce whose transaction failed to sign or send is handed out again (never skipped);
//! - nothing is kept on disk: after a crash the node's pending count is the truth, so a
//!   transaction signed but never sent has its nonce reused, and one that was sent is counted;
//! - a transaction the node accepted and later **dropped** (evicted from its pool, or a node
//!   restarted without it) is noticed: when the node counts fewer nonces than this process
//!   handed out, the manager asks the node for the transaction it sent at the first uncounted
//!   nonce ([`NonceManager::sent`] records each one's hash); if the node no longer knows it, that
//!   nonce is handed out again, so the next transaction fills the gap instead of queueing behind
//!   it forever. If the node does know it (a node that has not caught up), the local count wins.
use super::rpc::EvmRpc;
use alloy_primitives::{Address, B256};
use custos_core::{ChainError, SequenceLease};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Hands out nonces per sender.
pub struct NonceManager {
    rpc: Arc<EvmRpc>,
    slots: Mutex<HashMap<Address, Arc<AsyncMutex<Option<u64>>>>>,
    /// Per sender, the hash of each transaction this process sent, by nonce, until the node
    /// counts that nonce.
    sent: Mutex<HashMap<Address, BTreeMap<u64, B256>>>,
}

/// A nonce held for one transaction; see the module docs.
pub struct NonceLease {
    guard: OwnedMutexGuard<Option<u64>>,
    nonce: u64,
}

impl SequenceLease for NonceLease {
    fn number(&self) -> u64 {
        self.nonce
    }

    fn commit(mut self: Box<Self>) {
        *self.guard = Some(self.nonce.saturating_add(1));
    }
}

impl NonceManager {
    /// A manager reading pending counts from `rpc`.
    pub fn new(rpc: Arc<EvmRpc>) -> Self {
        Self {
            rpc,
            slots: Mutex::new(HashMap::new()),
            sent: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, who: Address) -> Arc<AsyncMutex<Option<u64>>> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.entry(who).or_default().clone()
    }

    /// Waits for the sender's lock and takes its next nonce.
    pub async fn lease(&self, who: Address) -> Result<NonceLease, ChainError> {
        let guard = self.slot(who).lock_owned().await;
        let pending = self.rpc.pending_nonce(who).await?;
        let mut nonce = guard.map_or(pending, |next| next.max(pending));
        // What the node counts needs no record any more.
        let first_uncounted = {
            let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
            let mine = sent.entry(who).or_default();
            *mine = mine.split_off(&pending);
            mine.get(&pending).copied()
        };
        if let (true, Some(hash)) = (nonce > pending, first_uncounted) {
            if !self.rpc.transaction_known(hash).await? {
                tracing::warn!(
                    sender = %who, nonce = pending, tx = %hash,
                    "the node dropped a transaction Custos sent; its nonce is handed out again"
                );
                nonce = pending;
            }
        }
        Ok(NonceLease { guard, nonce })
    }

    /// Records that the node accepted the transaction `hash` from `who` with `nonce`.
    pub fn sent(&self, who: Address, nonce: u64, hash: B256) {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(who)
            .or_default()
            .insert(nonce, hash);
    }
}
