//! The in-process baseline: Ed25519 signatures (ed25519-dalek) on `threads` OS threads, each
//! with its own key, over the same bytes the server signs, for a fixed time.
use crate::stats::{latency_histogram, record, Latency};
use crate::BenchError;
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Raw signing throughput and the latency of one signature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RawSigning {
    /// Threads signing at once.
    pub threads: usize,
    /// Signatures made.
    pub signatures: u64,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Signatures per second over all threads.
    pub per_second: f64,
    /// Latency of one signature.
    pub latency: Latency,
}

/// Signs `message` on `threads` threads for `duration`.
pub fn ed25519(
    threads: usize,
    duration: Duration,
    message: &[u8],
) -> Result<RawSigning, BenchError> {
    if threads == 0 || duration.is_zero() {
        return Err(BenchError::Invalid(
            "raw signing needs threads and a duration".into(),
        ));
    }
    let start = Instant::now();
    let deadline = start + duration;
    let results = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || -> Result<_, BenchError> {
                    let key = SigningKey::generate(&mut rand_core::OsRng);
                    let mut hist = latency_histogram()?;
                    let mut n = 0u64;
                    let mut last = std::hint::black_box(key.sign(message));
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let sig = key.sign(std::hint::black_box(message));
                        record(
                            &mut hist,
                            u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX),
                        );
                        last = std::hint::black_box(sig);
                        n += 1;
                    }
                    let _ = last;
                    Ok((n, hist))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| BenchError::Invalid("a signing thread panicked".into()))?
            })
            .collect::<Result<Vec<_>, BenchError>>()
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let mut hist = latency_histogram()?;
    let mut signatures = 0;
    for (n, h) in results {
        signatures += n;
        hist.add(&h)
            .map_err(|e| BenchError::Histogram(e.to_string()))?;
    }
    Ok(RawSigning {
        threads,
        signatures,
        seconds,
        per_second: signatures as f64 / seconds,
        latency: Latency::from_nanos(&hist),
    })
}

/// The PKCS#11 baseline: `C_SignInit` + `C_Sign` (Ed25519) on the token behind `custody`, on
/// `threads` threads for `duration`, each in batches on a throwaway session key
/// ([`custos_custody::Pkcs11Custody::raw_sign_loop`], 200 signatures per batch). Throughput is
/// signatures ÷ wall time, so threads waiting for one of the token's pooled sessions are not
/// counted as signing; the batches' key generation (one per 200 signatures) is included.
pub fn pkcs11(
    custody: &custos_custody::Pkcs11Custody,
    threads: usize,
    duration: Duration,
) -> Result<RawSigning, BenchError> {
    if threads == 0 || duration.is_zero() {
        return Err(BenchError::Invalid(
            "raw signing needs threads and a duration".into(),
        ));
    }
    let start = Instant::now();
    let deadline = start + duration;
    let results = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || -> Result<_, BenchError> {
                    let mut hist = latency_histogram()?;
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        let lat = custody
                            .raw_sign_loop(custos_core::KeyScheme::Ed25519, 200)
                            .map_err(|e| BenchError::Invalid(format!("raw C_Sign: {e}")))?;
                        for l in lat {
                            record(&mut hist, u64::try_from(l.as_nanos()).unwrap_or(u64::MAX));
                            n += 1;
                        }
                    }
                    Ok((n, hist))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| BenchError::Invalid("a signing thread panicked".into()))?
            })
            .collect::<Result<Vec<_>, BenchError>>()
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let mut hist = latency_histogram()?;
    let mut signatures = 0;
    for (n, h) in results {
        signatures += n;
        hist.add(&h)
            .map_err(|e| BenchError::Histogram(e.to_string()))?;
    }
    Ok(RawSigning {
        threads,
        signatures,
        seconds,
        per_second: signatures as f64 / seconds,
        latency: Latency::from_nanos(&hist),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn signs_for_the_given_time() {
        let r = ed25519(2, Duration::from_millis(50), b"hello").unwrap();
        assert_eq!(r.threads, 2);
        assert!(r.signatures > 0);
        assert!(r.latency.p50_us > 0.0);
        assert!(ed25519(0, Duration::from_millis(1), b"x").is_err());
    }
}
