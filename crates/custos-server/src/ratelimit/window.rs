//! The in-process sliding window: a log of admitted request times per key, so a limit of N per
//! window admits exactly N in any window-long interval — no fixed-window burst at the edges.
//! Time comes from an injected clock, so tests move the window without sleeping.
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// One limit: at most `limit` admissions per `window_ms` per key.
#[derive(Debug)]
pub struct SlidingWindow {
    limit: u32,
    window_ms: i64,
    keys: Mutex<HashMap<String, VecDeque<i64>>>,
}

/// A refusal: try again after this many milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Milliseconds until the oldest admission leaves the window.
    pub retry_after_ms: i64,
}

impl Limited {
    /// Whole seconds for `Retry-After`, rounded up, at least 1.
    pub fn retry_after_secs(self) -> u64 {
        u64::try_from((self.retry_after_ms + 999) / 1000)
            .unwrap_or(1)
            .max(1)
    }
}

impl SlidingWindow {
    /// A limiter admitting `limit` per `window_ms`.
    pub fn new(limit: u32, window_ms: i64) -> Self {
        Self {
            limit,
            window_ms,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// Admits one request for `key` at `now_ms`, or says when to retry.
    pub fn try_acquire(&self, key: &str, now_ms: i64) -> Result<(), Limited> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let log = keys.entry(key.to_owned()).or_default();
        while log.front().is_some_and(|t| *t <= now_ms - self.window_ms) {
            log.pop_front();
        }
        if log.len() >= self.limit as usize {
            let oldest = log.front().copied().unwrap_or(now_ms);
            return Err(Limited {
                retry_after_ms: (oldest + self.window_ms - now_ms).max(1),
            });
        }
        log.push_back(now_ms);
        Ok(())
    }

    /// Gives back the admission made at `at_ms` (when a later limit refused the request, so
    /// an earlier one should not count it).
    pub fn release(&self, key: &str, at_ms: i64) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(log) = keys.get_mut(key) {
            if let Some(pos) = log.iter().rposition(|t| *t == at_ms) {
                log.remove(pos);
            }
        }
    }

    /// Drops keys with no admission inside the window (bounded memory).
    pub fn prune(&self, now_ms: i64) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.retain(|_, log| log.back().is_some_and(|t| *t > now_ms - self.window_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_exactly_the_limit_then_slides() {
        let w = SlidingWindow::new(3, 60_000);
        assert!(w.try_acquire("a", 0).is_ok());
        assert!(w.try_acquire("a", 10_000).is_ok());
        assert!(w.try_acquire("a", 20_000).is_ok());
        // Fourth inside the window: refused until the first leaves at t = 60 000.
        assert_eq!(
            w.try_acquire("a", 30_000),
            Err(Limited {
                retry_after_ms: 30_000
            })
        );
        assert_eq!(
            w.try_acquire("a", 59_999),
            Err(Limited { retry_after_ms: 1 })
        );
        assert!(w.try_acquire("a", 60_000).is_ok());
        // Refusals are not counted: the window now holds 10 000, 20 000, 60 000.
        assert_eq!(
            w.try_acquire("a", 60_001).map_err(|l| l.retry_after_ms),
            Err(9_999)
        );
        // Other keys are independent.
        assert!(w.try_acquire("b", 30_000).is_ok());
    }

    #[test]
    fn no_burst_at_a_fixed_window_edge() {
        let w = SlidingWindow::new(100, 60_000);
        for _ in 0..100 {
            assert!(w.try_acquire("k", 59_000).is_ok());
        }
        // A fixed-window limiter would admit another 100 at t = 60 000.
        assert!(w.try_acquire("k", 60_000).is_err());
        assert!(w.try_acquire("k", 119_000).is_ok());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(Limited { retry_after_ms: 1 }.retry_after_secs(), 1);
        assert_eq!(
            Limited {
                retry_after_ms: 1000
            }
            .retry_after_secs(),
            1
        );
        assert_eq!(
            Limited {
                retry_after_ms: 1001
            }
            .retry_after_secs(),
            2
        );
    }

    #[test]
    fn prune_forgets_idle_keys() {
        let w = SlidingWindow::new(1, 1000);
        assert!(w.try_acquire("x", 0).is_ok());
        w.prune(5000);
        assert!(w.keys.lock().map(|k| k.is_empty()).unwrap_or(false));
    }
}
