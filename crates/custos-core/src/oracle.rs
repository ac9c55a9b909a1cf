//! The price oracle interface: the USD price of one whole unit of an asset, with its age, so
//! that a stale price can be refused instead of used. Implementations live in `custos-oracle`.
use crate::amount::Decimal;
use serde::{Deserialize, Serialize};

/// A USD price of one whole unit of an asset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    /// USD per whole unit.
    pub usd: Decimal,
    /// When the source published it, in milliseconds since the Unix epoch.
    pub publish_time_ms: i64,
    /// Which source answered (`static`, `pyth-hermes`).
    pub source: String,
}

/// Why no usable price is available. Every variant means "do not value this asset"; none means
/// zero.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OracleError {
    /// The oracle has no price for this asset.
    #[error("no price for asset `{0}`")]
    Missing(String),
    /// The newest price is older than allowed.
    #[error(
        "price for `{asset}` is stale: published {age_ms} ms ago, the limit is {max_age_ms} ms"
    )]
    Stale {
        /// The asset.
        asset: String,
        /// Its age when asked.
        age_ms: i64,
        /// The configured maximum age.
        max_age_ms: i64,
    },
    /// The price source could not be reached or failed.
    #[error("price source unavailable: {0}")]
    Unavailable(String),
    /// The price source answered something that is not a valid price.
    #[error("price source answered malformed data: {0}")]
    Malformed(String),
}

/// A source of USD prices. Implementations are `Send + Sync` and cheap to share behind an `Arc`.
#[async_trait::async_trait]
pub trait PriceOracle: Send + Sync {
    /// The price of one whole unit of `asset_id` (the pipeline's asset name, see
    /// [`crate::AssetId`]); a price older than the oracle's maximum age is
    /// [`OracleError::Stale`].
    async fn price(&self, asset_id: &str) -> Result<Price, OracleError>;
}
