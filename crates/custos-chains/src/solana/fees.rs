//! Priority fees: what recently landed transactions paid per compute unit, and the price Custos
//! sets on the transactions it builds.
//!
//! A cluster answers `getRecentPrioritizationFees` with one entry per recent slot: the lowest
//! compute-unit price (micro-lamports) that landed in it — for the given write-locked accounts,
//! the higher of the block's minimum and those accounts' minimums. The embedded devnet keeps
//! the same per-slot record ([`FeeLog`]); with one transaction per slot, that is the price of the
//! slot's transaction.
//!
//! [`choose`] turns those into a price: a percentile of the recent fees, never below the
//! configured floor and never above the configured cap, so a fee spike (or a node that lies)
//! cannot make Custos pay without bound.
use solana_address::Address;
use solana_message::VersionedMessage;
use std::collections::VecDeque;

/// Slots a cluster reports in `getRecentPrioritizationFees` (its status cache).
pub const RECENT_SLOTS: usize = 150;
/// Most accounts a `getRecentPrioritizationFees` request may name (the cluster's limit).
pub const MAX_ACCOUNTS: usize = 128;

/// The compute budget program's address.
const COMPUTE_BUDGET_PROGRAM: &str = "ComputeBudget111111111111111111111111111111";
/// `ComputeBudgetInstruction::SetComputeUnitPrice`'s tag: `[3, micro_lamports as u64 LE]`.
const SET_COMPUTE_UNIT_PRICE: u8 = 3;

/// How Custos prices compute units on the transactions it builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeePolicy {
    /// The price paid at least (micro-lamports per compute unit); with no `percentile`, the
    /// price. 0 sets none.
    pub floor: u64,
    /// Pay this percentile (1–100) of the recent fees for the accounts written, when set.
    pub percentile: Option<u8>,
    /// Never pay more than this per compute unit.
    pub cap: u64,
}

impl Default for FeePolicy {
    fn default() -> Self {
        Self {
            floor: 0,
            percentile: None,
            cap: 1_000_000,
        }
    }
}

/// The price to set: the `percentile` of `recent` (nearest rank), clamped to
/// `[policy.floor, policy.cap]`; without a percentile, the floor (itself capped).
pub fn choose(policy: &FeePolicy, recent: &[u64]) -> u64 {
    let observed = match (policy.percentile, recent.is_empty()) {
        (Some(p), false) => {
            let mut sorted = recent.to_vec();
            sorted.sort_unstable();
            let p = usize::from(p.clamp(1, 100));
            // Nearest rank: the smallest value with at least p % of the values at or below it.
            let rank = (p * sorted.len()).div_ceil(100).max(1);
            sorted.get(rank - 1).copied().unwrap_or(0)
        }
        _ => 0,
    };
    observed.max(policy.floor).min(policy.cap)
}

/// The compute-unit price a transaction sets (0 when it sets none).
pub fn compute_unit_price(message: &VersionedMessage) -> u64 {
    let keys = message.static_account_keys();
    message
        .instructions()
        .iter()
        .filter(|ix| {
            keys.get(usize::from(ix.program_id_index))
                .is_some_and(|k| k.to_string() == COMPUTE_BUDGET_PROGRAM)
        })
        .filter_map(|ix| match ix.data.split_first() {
            Some((&SET_COMPUTE_UNIT_PRICE, rest)) => {
                rest.get(..8)?.try_into().ok().map(u64::from_le_bytes)
            }
            _ => None,
        })
        .next_back()
        .unwrap_or(0)
}

/// The embedded devnet's record of what landed transactions paid, per slot, for the last
/// [`RECENT_SLOTS`] slots.
#[derive(Debug, Default)]
pub struct FeeLog {
    slots: VecDeque<(u64, u64)>,
}

impl FeeLog {
    /// Records that a transaction paying `price` landed in `slot`.
    pub fn record(&mut self, slot: u64, price: u64) {
        match self.slots.back_mut() {
            Some((s, lowest)) if *s == slot => *lowest = (*lowest).min(price),
            _ => self.slots.push_back((slot, price)),
        }
        while self.slots.len() > RECENT_SLOTS {
            self.slots.pop_front();
        }
    }

    /// `(slot, lowest price)` for each recent slot with a landed transaction, oldest first. With
    /// one transaction per slot the accounts named make no difference (see the module docs), so
    /// they are accepted and not consulted.
    pub fn recent(&self, _accounts: &[Address]) -> Vec<(u64, u64)> {
        self.slots.iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn policy(floor: u64, percentile: Option<u8>, cap: u64) -> FeePolicy {
        FeePolicy {
            floor,
            percentile,
            cap,
        }
    }

    #[test]
    fn percentiles_are_nearest_rank_and_clamped() {
        let fees = [0, 4000, 1000, 3000, 2000];
        assert_eq!(choose(&policy(0, Some(50), 10_000), &fees), 2000);
        assert_eq!(choose(&policy(0, Some(100), 10_000), &fees), 4000);
        assert_eq!(choose(&policy(0, Some(1), 10_000), &fees), 0);
        assert_eq!(choose(&policy(0, Some(80), 10_000), &fees), 3000);
        // The cap wins over the market; the floor over a quiet market.
        assert_eq!(choose(&policy(0, Some(100), 2500), &fees), 2500);
        assert_eq!(choose(&policy(5000, Some(50), 10_000), &fees), 5000);
        // No recent fees, or no percentile: the floor.
        assert_eq!(choose(&policy(700, Some(50), 10_000), &[]), 700);
        assert_eq!(choose(&policy(700, None, 10_000), &fees), 700);
        assert_eq!(choose(&policy(700, None, 500), &fees), 500);
    }

    #[test]
    fn the_log_keeps_the_lowest_price_per_slot_and_only_recent_slots() {
        let mut log = FeeLog::default();
        log.record(5, 300);
        log.record(5, 100);
        log.record(6, 200);
        assert_eq!(log.recent(&[]), vec![(5, 100), (6, 200)]);
        for slot in 7..(7 + RECENT_SLOTS as u64) {
            log.record(slot, slot);
        }
        let recent = log.recent(&[]);
        assert_eq!(recent.len(), RECENT_SLOTS);
        assert_eq!(recent.first(), Some(&(7, 7)));
    }
}
