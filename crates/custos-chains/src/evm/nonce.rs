//! Nonces for the agents' EVM addresses: correct under concurrency and after a crash.
//!
//! One async lock per sender address is held from the moment a nonce is taken until the signed
//! transaction is accepted by the node (or the attempt fails). The nonce handed out is the larger
//! of the node's pending count and the last one this process committed, so:
//! - concurrent requests get consecutive nonces, with no gap and no duplicate;
//! - a nonce whose transaction failed to sign or send is handed out again (never skipped);
//! - nothing is kept on disk: after a crash the node's pending count is the truth, so a
//!   transaction signed but never sent has its nonce reused, and one that was sent is counted.
use super::rpc::EvmRpc;
use alloy_primitives::Address;
use custos_core::{ChainError, SequenceLease};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Hands out nonces per sender.
pub struct NonceManager {
    rpc: Arc<EvmRpc>,
    slots: Mutex<HashMap<Address, Arc<AsyncMutex<Option<u64>>>>>,
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
        }
    }

    fn slot(&self, who: Address) -> Arc<AsyncMutex<Option<u64>>> {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slots.entry(who).or_default().clone()
    }

    /// Waits for the sender's lock and takes its next nonce.
    pub async fn lease(&self, who: Address) -> Result<NonceLease, ChainError> {
        let guard = self.slot(who).lock_owned().await;
        let pending = self.rpc.pending_nonce(who).await?;
        let nonce = guard.map_or(pending, |next| next.max(pending));
        Ok(NonceLease { guard, nonce })
    }
}
