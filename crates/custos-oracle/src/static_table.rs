//! A static price table from configuration. It is a development table: its prices never move
//! and are never stale, so it must not value real funds.
use async_trait::async_trait;
use custos_core::{Clock, Decimal, OracleError, Price, PriceOracle};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The default development table: SOL = 150, USDC = 1, ETH = 3000 USD. Static, not market data.
pub fn default_table() -> BTreeMap<String, Decimal> {
    let whole = |n: u128| Decimal::from_atoms(n * 10u128.pow(custos_core::amount::SCALE));
    [("SOL", 150), ("USDC", 1), ("ETH", 3000)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), whole(v)))
        .collect()
}

/// Prices from a fixed table, stamped with the current time when asked.
pub struct StaticOracle {
    table: BTreeMap<String, Decimal>,
    clock: Arc<dyn Clock>,
}

impl StaticOracle {
    /// An oracle answering from `table` (asset id → USD per whole unit). Zero prices are dropped
    /// from the table, so such an asset is missing rather than free.
    pub fn new(table: BTreeMap<String, Decimal>, clock: Arc<dyn Clock>) -> Self {
        let table = table
            .into_iter()
            .filter(|(_, v)| *v > Decimal::ZERO)
            .collect();
        Self { table, clock }
    }

    /// The development table of [`default_table`].
    pub fn with_default_table(clock: Arc<dyn Clock>) -> Self {
        Self::new(default_table(), clock)
    }
}

impl std::fmt::Debug for StaticOracle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticOracle")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl PriceOracle for StaticOracle {
    async fn price(&self, asset_id: &str) -> Result<Price, OracleError> {
        let usd = *self
            .table
            .get(asset_id)
            .ok_or_else(|| OracleError::Missing(asset_id.to_owned()))?;
        Ok(Price {
            usd,
            publish_time_ms: self.clock.now_ms(),
            source: "static".into(),
        })
    }
}
