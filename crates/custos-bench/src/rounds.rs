//! Ratios from alternating rounds. This machine is a shared virtual machine whose speed drifts by
//! a third within a minute (the raw Ed25519 rate moved from 31 k/s to 48 k/s between runs, and
//! by ±15 % within one). A ratio of two figures taken a minute apart measures that drift as much
//! as the system, so each side of a ratio is measured in several short slices, the two sides
//! alternating (A, B, A, B, …): each round's two figures are seconds apart. The reported ratio
//! is the median of the per-round ratios, and the spread of those is reported beside it.
use crate::stats::Measurement;

/// The median of `values` (the mean of the middle two for an even count); `None` when empty or
/// when any value is not a number.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() || values.iter().any(|v| v.is_nan()) {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// Round by round `a[i] / b[i]`, over the rounds both sides have; a round whose denominator is
/// not positive gives no ratio.
pub fn per_round(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .filter(|(_, d)| **d > 0.0)
        .map(|(n, d)| n / d)
        .collect()
}

/// The slice whose goodput is the median one (the lower middle for an even count), as the
/// figure a table or plot shows for these rounds: one real run, with its own latencies.
pub fn median_slice(slices: &[Measurement]) -> Option<&Measurement> {
    let mut order: Vec<&Measurement> = slices.iter().collect();
    order.sort_by(|x, y| x.goodput.total_cmp(&y.goodput));
    order.get(order.len().saturating_sub(1) / 2).copied()
}

/// One figure of each slice.
pub fn figure(slices: &[Measurement], f: impl Fn(&Measurement) -> f64) -> Vec<f64> {
    slices.iter().map(f).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn m(goodput: f64, p99: f64) -> Measurement {
        let mut x = Measurement {
            goodput,
            ..Default::default()
        };
        x.latency.p99_us = p99;
        x
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0, f64::NAN]), None);
    }

    #[test]
    fn a_drift_shared_by_both_sides_cancels_round_by_round() {
        // The machine slows by half between rounds 1 and 3; the system's ratio stays 0.5.
        let a = [50.0, 40.0, 25.0];
        let b = [100.0, 80.0, 50.0];
        let r = per_round(&a, &b);
        assert_eq!(r, vec![0.5, 0.5, 0.5]);
        // A ratio of one side's first figure to the other's last would have said 1.0.
        assert!((a[0] / b[2] - 1.0).abs() < 1e-12);
        assert_eq!(per_round(&[1.0, 2.0], &[0.0, 4.0]), vec![0.5]);
    }

    #[test]
    fn the_median_slice_is_a_real_run() {
        let s = [m(10.0, 900.0), m(30.0, 700.0), m(20.0, 800.0)];
        let mid = median_slice(&s).unwrap();
        assert_eq!((mid.goodput, mid.latency.p99_us), (20.0, 800.0));
        assert_eq!(median_slice(&s[..2]).unwrap().goodput, 10.0);
        assert!(median_slice(&[]).is_none());
        assert_eq!(figure(&s, |x| x.latency.p99_us), vec![900.0, 700.0, 800.0]);
    }
}
