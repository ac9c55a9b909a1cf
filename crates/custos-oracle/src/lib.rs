//! Custos price oracles: implementations of [`custos_core::PriceOracle`] that give the USD price
//! of one whole unit of an asset, with its publish time.
//!
//! - [`StaticOracle`]: a fixed table from configuration (the default; development only).
//! - [`HermesOracle`]: Pyth's Hermes HTTP API (`/v2/updates/price/latest`).
//! - [`CachedOracle`]: a TTL cache in front of either.
//!
//! Every failure fails closed: a missing, stale, zero, negative or unparsable price is an
//! [`custos_core::OracleError`], never a zero value. What to do with the error (deny with
//! `price.unavailable`) is the policy's job; this crate only fetches and checks prices.
#![forbid(unsafe_code)]

pub mod cached;
pub mod config;
pub mod hermes;
pub mod static_table;

pub use cached::CachedOracle;
pub use config::{build, OracleConfig, OracleConfigError, OracleSource};
pub use hermes::HermesOracle;
pub use static_table::StaticOracle;
