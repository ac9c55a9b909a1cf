//! A TTL cache in front of another oracle. Only good answers are cached, and a cached price that
//! has aged past the maximum age is fetched again rather than served.
use async_trait::async_trait;
use custos_core::{Clock, OracleError, Price, PriceOracle};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Caches `inner`'s prices for `ttl`.
pub struct CachedOracle<O> {
    inner: O,
    ttl_ms: i64,
    max_age_ms: i64,
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<String, (i64, Price)>>,
}

impl<O> std::fmt::Debug for CachedOracle<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedOracle")
            .field("ttl_ms", &self.ttl_ms)
            .field("max_age_ms", &self.max_age_ms)
            .finish_non_exhaustive()
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl<O: PriceOracle> CachedOracle<O> {
    /// Serves `inner`'s answers for up to `ttl` after fetching them, as long as the price itself
    /// is not older than `max_age`.
    pub fn new(inner: O, ttl: Duration, max_age: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner,
            ttl_ms: millis(ttl),
            max_age_ms: millis(max_age),
            clock,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, asset_id: &str, now: i64) -> Option<Price> {
        let entries = self.entries.lock().ok()?;
        let (fetched, price) = entries.get(asset_id)?;
        let fresh = now.saturating_sub(*fetched) < self.ttl_ms
            && now.saturating_sub(price.publish_time_ms) <= self.max_age_ms;
        fresh.then(|| price.clone())
    }
}

#[async_trait]
impl<O: PriceOracle> PriceOracle for CachedOracle<O> {
    async fn price(&self, asset_id: &str) -> Result<Price, OracleError> {
        let now = self.clock.now_ms();
        if let Some(p) = self.cached(asset_id, now) {
            return Ok(p);
        }
        let result = self.inner.price(asset_id).await;
        match &result {
            Ok(p) => {
                let age_ms = now.saturating_sub(p.publish_time_ms);
                if age_ms > self.max_age_ms {
                    return Err(OracleError::Stale {
                        asset: asset_id.to_owned(),
                        age_ms,
                        max_age_ms: self.max_age_ms,
                    });
                }
                if let Ok(mut entries) = self.entries.lock() {
                    entries.insert(asset_id.to_owned(), (now, p.clone()));
                }
            }
            Err(_) => {
                if let Ok(mut entries) = self.entries.lock() {
                    entries.remove(asset_id);
                }
            }
        }
        result
    }
}
