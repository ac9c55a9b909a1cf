//! The load generator: `concurrency` virtual users, each on its own keep-alive HTTP/1.1
//! connection, send the same request back to back (closed loop) or on a schedule (open loop),
//! until the request budget or the time budget runs out — whichever comes first.
//!
//! Connections are opened before the clock starts, so the measured time holds requests only.
//! In open-loop mode a request's latency counts from the moment it was *scheduled*, not sent,
//! so a server that falls behind is charged for the queue it causes (no coordinated omission).
use crate::http::{Connection, Target};
use crate::stats::{latency_histogram, record, Measurement};
use crate::BenchError;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Bounds and shape of one run.
#[derive(Clone, Copy, Debug)]
pub struct RunLimits {
    /// Virtual users, each with one connection.
    pub concurrency: usize,
    /// At most this many requests in the measured part.
    pub max_requests: u64,
    /// At most this long for the measured part.
    pub max_duration: Duration,
    /// Unmeasured requests first, for this long (connections, caches and allocators warm up).
    pub warmup: Duration,
    /// Open loop at this many requests per second in total; `None`: closed loop.
    pub rate: Option<f64>,
    /// The status that counts as success.
    pub expect_status: u16,
}

impl RunLimits {
    /// A closed-loop run expecting `200`.
    pub fn closed(concurrency: usize, max_requests: u64, max_duration: Duration) -> Self {
        Self {
            concurrency,
            max_requests,
            max_duration,
            warmup: Duration::from_millis(500),
            rate: None,
            expect_status: 200,
        }
    }

    /// The same run expecting another status.
    pub fn expecting(mut self, status: u16) -> Self {
        self.expect_status = status;
        self
    }

    /// The same run in open loop at `rate` requests per second.
    pub fn at_rate(mut self, rate: f64) -> Self {
        self.rate = Some(rate);
        self
    }

    fn check(&self) -> Result<(), BenchError> {
        if self.concurrency == 0 || self.concurrency > 4096 {
            return Err(BenchError::Invalid("concurrency must be 1 to 4096".into()));
        }
        if self.max_requests == 0 || self.max_duration.is_zero() {
            return Err(BenchError::Invalid(
                "a run needs a request budget and a time budget".into(),
            ));
        }
        if let Some(r) = self.rate {
            if !(r.is_finite() && r > 0.0) {
                return Err(BenchError::Invalid("rate must be positive".into()));
            }
        }
        Ok(())
    }
}

struct UserResult {
    by_status: BTreeMap<u16, u64>,
    io_errors: u64,
    hist: Histogram<u64>,
}

/// Runs `target` under `limits` and measures it.
pub async fn run(target: &Target, limits: RunLimits) -> Result<Measurement, BenchError> {
    limits.check()?;
    if !limits.warmup.is_zero() {
        let warm = RunLimits {
            max_duration: limits.warmup,
            warmup: Duration::ZERO,
            max_requests: u64::MAX,
            ..limits
        };
        run_measured(target, warm).await?;
    }
    run_measured(target, limits).await
}

async fn run_measured(target: &Target, limits: RunLimits) -> Result<Measurement, BenchError> {
    let mut conns = Vec::with_capacity(limits.concurrency);
    for _ in 0..limits.concurrency {
        conns.push(Connection::open(target.addr).await?);
    }
    let issued = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + limits.max_duration;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, conn) in conns.into_iter().enumerate() {
        let target = target.clone();
        let issued = issued.clone();
        tasks.spawn(async move { user(i, conn, target, limits, issued, start, deadline).await });
    }
    let mut by_status = BTreeMap::new();
    let mut io_errors = 0;
    let mut hist = latency_histogram()?;
    while let Some(joined) = tasks.join_next().await {
        let r = joined.map_err(|e| BenchError::Http(format!("virtual user failed: {e}")))??;
        for (s, n) in r.by_status {
            *by_status.entry(s).or_insert(0) += n;
        }
        io_errors += r.io_errors;
        hist.add(&r.hist)
            .map_err(|e| BenchError::Histogram(e.to_string()))?;
    }
    let elapsed = start.elapsed();
    let mut m = Measurement::new(
        limits.concurrency,
        by_status,
        limits.expect_status,
        io_errors,
        elapsed,
        &hist,
    );
    m.offered_rate = limits.rate;
    Ok(m)
}

async fn user(
    index: usize,
    mut conn: Connection,
    target: Target,
    limits: RunLimits,
    issued: Arc<AtomicU64>,
    start: Instant,
    deadline: Instant,
) -> Result<UserResult, BenchError> {
    let mut out = UserResult {
        by_status: BTreeMap::new(),
        io_errors: 0,
        hist: latency_histogram()?,
    };
    // Open loop: user i sends at start + (i + k·n)/rate, k = 0, 1, 2, …
    let interval = limits
        .rate
        .map(|r| Duration::from_secs_f64(limits.concurrency as f64 / r));
    let offset = limits
        .rate
        .map(|r| Duration::from_secs_f64(index as f64 / r))
        .unwrap_or_default();
    let mut k: u32 = 0;
    loop {
        let scheduled = match interval {
            Some(iv) => {
                let at = start + offset + iv * k;
                k = k.saturating_add(1);
                if at >= deadline {
                    break;
                }
                tokio::time::sleep_until(at).await;
                at
            }
            None => Instant::now(),
        };
        if Instant::now() >= deadline
            || issued.fetch_add(1, Ordering::Relaxed) >= limits.max_requests
        {
            break;
        }
        if conn.is_closed() {
            conn = Connection::open(target.addr).await?;
        }
        let req = target.build()?;
        match conn.send(req).await {
            Ok((status, _body)) => {
                let ns = u64::try_from(scheduled.elapsed().as_nanos()).unwrap_or(u64::MAX);
                record(&mut out.hist, ns);
                *out.by_status.entry(status).or_insert(0) += 1;
            }
            Err(_) => {
                out.io_errors += 1;
                conn = Connection::open(target.addr).await?;
            }
        }
    }
    Ok(out)
}
