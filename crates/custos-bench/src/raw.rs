//! The baselines the pipeline is compared with, each on `threads` OS threads for a fixed time:
//! in-process Ed25519 signatures (ed25519-dalek, each thread with its own key, over the same
//! bytes the server signs), and raw `C_Sign` calls on a PKCS#11 token.
use crate::stats::{latency_histogram, record, Latency};
use crate::BenchError;
use ed25519_dalek::{Signer, SigningKey};
use hdrhistogram::Histogram;
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

/// Runs `sign_some` on `threads` threads until `duration` has passed, each call recording the
/// latency of every signature it makes and returning how many; sums the threads up.
fn on_threads<F>(threads: usize, duration: Duration, sign_some: F) -> Result<RawSigning, BenchError>
where
    F: Fn(&mut Histogram<u64>) -> Result<u64, BenchError> + Sync,
{
    if threads == 0 || duration.is_zero() {
        return Err(BenchError::Invalid(
            "raw signing needs threads and a duration".into(),
        ));
    }
    let start = Instant::now();
    let deadline = start + duration;
    let sign_some = &sign_some;
    let results = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || -> Result<_, BenchError> {
                    let mut hist = latency_histogram()?;
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        n += sign_some(&mut hist)?;
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

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Signs `message` on `threads` threads for `duration`, each thread with its own key.
pub fn ed25519(
    threads: usize,
    duration: Duration,
    message: &[u8],
) -> Result<RawSigning, BenchError> {
    thread_local! {
        static KEY: SigningKey = SigningKey::generate(&mut rand_core::OsRng);
    }
    on_threads(threads, duration, |hist| {
        KEY.with(|key| {
            let t = Instant::now();
            let sig = key.sign(std::hint::black_box(message));
            record(hist, nanos(t.elapsed()));
            std::hint::black_box(sig);
        });
        Ok(1)
    })
}

/// The PKCS#11 baseline: `C_SignInit` + `C_Sign` (Ed25519) with `key` on its token, on
/// `threads` threads for `duration`, each signing batches of 200 on one of the token's pooled
/// sessions ([`custos_custody::RawBenchKey::sign_loop`]). Throughput is signatures ÷ wall
/// time, so threads waiting for a pooled session are not counted as signing.
pub fn pkcs11(
    key: &custos_custody::RawBenchKey,
    threads: usize,
    duration: Duration,
) -> Result<RawSigning, BenchError> {
    on_threads(threads, duration, |hist| {
        let lat = key
            .sign_loop(200)
            .map_err(|e| BenchError::Invalid(format!("raw C_Sign: {e}")))?;
        for l in &lat {
            record(hist, nanos(*l));
        }
        Ok(lat.len() as u64)
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
