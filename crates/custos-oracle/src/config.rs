//! The `[oracle]` configuration section and the oracle it builds.
use crate::{CachedOracle, HermesOracle, StaticOracle};
use custos_core::{Clock, Decimal, PriceOracle};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Where prices come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OracleSource {
    /// The static table (`static_prices`): development only.
    #[default]
    Static,
    /// Pyth Hermes at `hermes_url`, with `feeds`.
    PythHermes,
}

/// The oracle configuration. Every field has a default, so an absent section means the static
/// development table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OracleConfig {
    /// `static` or `pyth_hermes`.
    pub source: OracleSource,
    /// Asset id → USD per whole unit, for the static source, laid over the defaults
    /// ([`crate::static_table::default_table`]): a configured entry replaces a default one of
    /// the same id, and every other default stays. See [`OracleConfig::static_table`].
    pub static_prices: BTreeMap<String, Decimal>,
    /// Base URL of the Hermes instance.
    pub hermes_url: Option<String>,
    /// Asset id → Pyth feed id (hex), for Hermes.
    pub feeds: BTreeMap<String, String>,
    /// Prices older than this are refused as stale.
    pub max_age_secs: u64,
    /// How long a fetched price is reused.
    pub cache_ttl_ms: u64,
    /// HTTP timeout for Hermes.
    pub timeout_ms: u64,
}

impl Default for OracleConfig {
    fn default() -> Self {
        Self {
            source: OracleSource::Static,
            static_prices: crate::static_table::default_table(),
            hermes_url: None,
            feeds: BTreeMap::new(),
            max_age_secs: 60,
            cache_ttl_ms: 5_000,
            timeout_ms: 5_000,
        }
    }
}

impl OracleConfig {
    /// The table the static source answers from: the defaults with `static_prices` laid over
    /// them. (A `[oracle.static_prices]` section in a file replaces the field as a whole when it
    /// is read, so adding one asset must not silently unprice the others.)
    pub fn static_table(&self) -> BTreeMap<String, Decimal> {
        let mut table = crate::static_table::default_table();
        table.extend(self.static_prices.iter().map(|(k, v)| (k.clone(), *v)));
        table
    }

    /// One line for the start-up log: where prices come from and every asset priced.
    pub fn describe(&self) -> String {
        match self.source {
            OracleSource::Static => {
                let table = self.static_table();
                let assets: Vec<String> = table.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!(
                    "static table (development only), {} assets: {}",
                    assets.len(),
                    assets.join(", ")
                )
            }
            OracleSource::PythHermes => {
                let assets: Vec<&str> = self.feeds.keys().map(String::as_str).collect();
                format!(
                    "Pyth Hermes at {}, {} assets: {}",
                    self.hermes_url.as_deref().unwrap_or("(none)"),
                    assets.len(),
                    assets.join(", ")
                )
            }
        }
    }
}

/// A configuration that cannot build an oracle, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("oracle.{key}: {message}")]
pub struct OracleConfigError {
    /// The offending key.
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

fn bad(key: &'static str, message: impl Into<String>) -> OracleConfigError {
    OracleConfigError {
        key,
        message: message.into(),
    }
}

/// Builds the configured oracle, cached for `cache_ttl_ms`.
pub fn build(
    config: &OracleConfig,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn PriceOracle>, OracleConfigError> {
    if config.max_age_secs == 0 {
        return Err(bad("max_age_secs", "must be at least 1"));
    }
    let max_age = Duration::from_secs(config.max_age_secs);
    let ttl = Duration::from_millis(config.cache_ttl_ms);
    match config.source {
        OracleSource::Static => {
            if let Some((k, _)) = config
                .static_prices
                .iter()
                .find(|(_, v)| **v == Decimal::ZERO)
            {
                return Err(bad("static_prices", format!("`{k}` has a zero price")));
            }
            Ok(Arc::new(StaticOracle::new(config.static_table(), clock)))
        }
        OracleSource::PythHermes => {
            let url = config
                .hermes_url
                .as_deref()
                .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
                .ok_or_else(|| bad("hermes_url", "an http(s) URL is required for pyth_hermes"))?;
            if config.feeds.is_empty() {
                return Err(bad("feeds", "at least one asset → feed id is required"));
            }
            for (asset, id) in &config.feeds {
                let hex = id.trim_start_matches("0x");
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(bad(
                        "feeds",
                        format!("`{asset}`: a feed id is 32 bytes of hex"),
                    ));
                }
            }
            let hermes = HermesOracle::new(
                url,
                config.feeds.clone(),
                max_age,
                Duration::from_millis(config.timeout_ms.max(1)),
                clock.clone(),
            )
            .map_err(|e| bad("hermes_url", e.to_string()))?;
            Ok(Arc::new(CachedOracle::new(hermes, ttl, max_age, clock)))
        }
    }
}
