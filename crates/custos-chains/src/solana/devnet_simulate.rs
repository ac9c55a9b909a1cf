//! Running a transaction against the devnet's current state without committing it
//! (`simulateTransaction`, and the preflight the adapter's simulation relies on).
use super::backend::SimulationOutcome;
use super::devnet::{DevnetError, EmbeddedDevnet};
use solana_account::Account;
use solana_address::Address;
use solana_transaction::versioned::VersionedTransaction;
use std::collections::HashMap;

impl EmbeddedDevnet {
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
            let (h, _) = g.latest();
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
            if let Err(e) = super::devnet::verify_signatures(&tx) {
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
}
