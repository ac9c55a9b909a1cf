//! Pyth Hermes over HTTP: `GET {base}/v2/updates/price/latest?ids[]=<feed id>` and its `parsed`
//! answer, whose prices are integers scaled by `10^expo` with a `publish_time` in seconds.
use async_trait::async_trait;
use custos_core::{Clock, Decimal, OracleError, Price, PriceOracle};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The `/v2/updates/price/latest` answer; only the parsed part is read (the `binary` part is for
/// on-chain verification).
#[derive(Deserialize)]
struct LatestResponse {
    parsed: Vec<ParsedFeed>,
}

#[derive(Deserialize)]
struct ParsedFeed {
    id: String,
    price: RpcPrice,
}

#[derive(Deserialize)]
struct RpcPrice {
    price: String,
    expo: i32,
    publish_time: i64,
}

/// Prices from a Hermes instance, one feed id per asset.
pub struct HermesOracle {
    client: reqwest::Client,
    base_url: String,
    feeds: BTreeMap<String, String>,
    max_age_ms: i64,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for HermesOracle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HermesOracle")
            .field("base_url", &self.base_url)
            .field("feeds", &self.feeds)
            .field("max_age_ms", &self.max_age_ms)
            .finish_non_exhaustive()
    }
}

/// A feed id as Hermes prints it: 64 lowercase hex digits without `0x`.
fn normalise_feed_id(id: &str) -> String {
    id.trim_start_matches("0x").to_ascii_lowercase()
}

impl HermesOracle {
    /// An oracle for the Hermes instance at `base_url` (e.g. `https://hermes.pyth.network`).
    /// `feeds` maps asset ids to Pyth feed ids (hex, with or without `0x`); prices published
    /// more than `max_age` before now are refused as stale.
    pub fn new(
        base_url: impl Into<String>,
        feeds: BTreeMap<String, String>,
        max_age: Duration,
        timeout: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, OracleError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| OracleError::Unavailable(format!("http client: {e}")))?;
        Ok(Self {
            client,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            feeds: feeds
                .into_iter()
                .map(|(k, v)| (k, normalise_feed_id(&v)))
                .collect(),
            max_age_ms: i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX),
            clock,
        })
    }
}

/// `price · 10^expo` as an exact decimal; zero, negative and unrepresentable prices are refused.
pub fn scale_price(price: &str, expo: i32) -> Result<Decimal, OracleError> {
    let bad = |why: &str| OracleError::Malformed(format!("price {price:?} expo {expo}: {why}"));
    if price.is_empty() || !price.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("not a positive integer"));
    }
    let mantissa: u128 = price.parse().map_err(|_| bad("too large"))?;
    if mantissa == 0 {
        return Err(bad("zero is not a price"));
    }
    let scale = i64::from(custos_core::amount::SCALE);
    let shift = scale + i64::from(expo);
    let atoms = if shift >= 0 {
        let factor = u32::try_from(shift)
            .ok()
            .and_then(|s| 10u128.checked_pow(s))
            .ok_or_else(|| bad("too large"))?;
        mantissa
            .checked_mul(factor)
            .ok_or_else(|| bad("too large"))?
    } else {
        // More than 18 fractional digits: keep 18 (cut, as Decimal does everywhere).
        let divisor = u32::try_from(-shift)
            .ok()
            .and_then(|s| 10u128.checked_pow(s))
            .ok_or_else(|| bad("too small"))?;
        mantissa / divisor
    };
    if atoms == 0 {
        return Err(bad("too small to represent"));
    }
    Ok(Decimal::from_atoms(atoms))
}

#[async_trait]
impl PriceOracle for HermesOracle {
    async fn price(&self, asset_id: &str) -> Result<Price, OracleError> {
        let feed = self
            .feeds
            .get(asset_id)
            .ok_or_else(|| OracleError::Missing(asset_id.to_owned()))?;
        let url = format!("{}/v2/updates/price/latest", self.base_url);
        let resp = self
            .client
            .get(&url)
            .query(&[("ids[]", feed.as_str()), ("parsed", "true")])
            .send()
            .await
            .map_err(|e| OracleError::Unavailable(format!("hermes: {e}")))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            // Hermes answers 404 "Price ids not found" for an unknown feed id.
            return Err(OracleError::Missing(asset_id.to_owned()));
        }
        if !status.is_success() {
            return Err(OracleError::Unavailable(format!(
                "hermes answered {status}"
            )));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| OracleError::Unavailable(format!("hermes: {e}")))?;
        let parsed: LatestResponse = serde_json::from_slice(&body)
            .map_err(|e| OracleError::Malformed(format!("hermes response: {e}")))?;
        let entry = parsed
            .parsed
            .into_iter()
            .find(|p| normalise_feed_id(&p.id) == *feed)
            .ok_or_else(|| OracleError::Missing(asset_id.to_owned()))?;
        let usd = scale_price(&entry.price.price, entry.price.expo)?;
        let publish_time_ms = entry
            .price
            .publish_time
            .checked_mul(1000)
            .ok_or_else(|| OracleError::Malformed("publish_time out of range".into()))?;
        let age_ms = self.clock.now_ms().saturating_sub(publish_time_ms);
        if age_ms > self.max_age_ms {
            return Err(OracleError::Stale {
                asset: asset_id.to_owned(),
                age_ms,
                max_age_ms: self.max_age_ms,
            });
        }
        Ok(Price {
            usd,
            publish_time_ms,
            source: "pyth-hermes".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_by_the_exponent() {
        let s = |p: &str, e: i32| scale_price(p, e).map(|d| d.to_string());
        assert_eq!(s("15023456789", -8), Ok("150.23456789".into()));
        // The documented ETH/USD example answer.
        assert_eq!(s("184136023127", -8), Ok("1841.36023127".into()));
        assert_eq!(s("7", 2), Ok("700".into()));
        assert_eq!(s("1234", -20), Ok("0.000000000000000012".into()));
        for (p, e) in [
            ("0", -8),
            ("-5", -8),
            ("1.5", -8),
            ("", -8),
            ("5", -40),
            ("9", 40),
        ] {
            assert!(scale_price(p, e).is_err(), "{p} {e}");
        }
    }
}
