//! What one measured run yields: counts, throughput and latency quantiles.
use crate::BenchError;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Latency quantiles in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Largest observed.
    pub max_us: f64,
    /// Mean.
    pub mean_us: f64,
}

impl Latency {
    /// Quantiles of a histogram recorded in nanoseconds.
    pub fn from_nanos(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Self {
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            max_us: us(h.max()),
            mean_us: h.mean() / 1000.0,
        }
    }
}

/// The result of one bounded run at one concurrency.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Virtual users (connections or threads).
    pub concurrency: usize,
    /// Responses received (any status).
    pub requests: u64,
    /// Responses whose status was the expected one.
    pub ok: u64,
    /// Responses by status code (all of them, expected or not).
    pub by_status: BTreeMap<u16, u64>,
    /// Exchanges that failed below HTTP (reset, refused); the connection is reopened.
    pub io_errors: u64,
    /// Measured wall time in seconds.
    pub seconds: f64,
    /// Responses per second (any status).
    pub throughput: f64,
    /// Expected-status responses per second.
    pub goodput: f64,
    /// Latency of every response.
    pub latency: Latency,
    /// Offered rate for open-loop runs (requests per second), `None` for closed-loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered_rate: Option<f64>,
}

impl Measurement {
    /// Builds the summary from raw counts.
    pub fn new(
        concurrency: usize,
        by_status: BTreeMap<u16, u64>,
        expected: u16,
        io_errors: u64,
        elapsed: Duration,
        hist: &Histogram<u64>,
    ) -> Self {
        let requests: u64 = by_status.values().sum();
        let ok = by_status.get(&expected).copied().unwrap_or(0);
        let seconds = elapsed.as_secs_f64().max(1e-9);
        Self {
            concurrency,
            requests,
            ok,
            by_status,
            io_errors,
            seconds,
            throughput: requests as f64 / seconds,
            goodput: ok as f64 / seconds,
            latency: Latency::from_nanos(hist),
            offered_rate: None,
        }
    }

    /// Errors: responses with an unexpected status plus I/O failures.
    pub fn errors(&self) -> u64 {
        self.requests - self.ok + self.io_errors
    }
}

/// A histogram for nanosecond latencies up to 5 minutes, 3 significant figures.
pub fn latency_histogram() -> Result<Histogram<u64>, BenchError> {
    Histogram::new_with_bounds(1, 300_000_000_000, 3)
        .map_err(|e| BenchError::Histogram(e.to_string()))
}

/// Records `ns`, clamping to the histogram's range rather than losing the sample.
pub fn record(h: &mut Histogram<u64>, ns: u64) {
    h.saturating_record(ns.max(h.low()));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn counts_and_rates() {
        let mut h = latency_histogram().unwrap();
        for ns in [10_000u64, 20_000, 30_000, 40_000] {
            record(&mut h, ns);
        }
        let m = Measurement::new(
            2,
            BTreeMap::from([(200, 3), (429, 1)]),
            200,
            1,
            Duration::from_secs(2),
            &h,
        );
        assert_eq!(m.requests, 4);
        assert_eq!(m.ok, 3);
        assert_eq!(m.errors(), 2);
        assert!((m.throughput - 2.0).abs() < 1e-9);
        assert!((m.goodput - 1.5).abs() < 1e-9);
        assert!(
            (m.latency.max_us - 40.0).abs() < 0.05,
            "{}",
            m.latency.max_us
        );
        assert!(
            (m.latency.p50_us - 20.0).abs() < 0.05,
            "{}",
            m.latency.p50_us
        );
    }
}
