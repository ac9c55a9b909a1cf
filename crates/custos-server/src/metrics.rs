//! Prometheus metrics served at `/metrics`, named `custos_…`. `docs/prometheus-alerts.yml` holds
//! alerting rules over them (denial bursts, large transactions, failed logins, freezes, enclave
//! restarts, checkpoint failures, keys due for rotation), tested with `promtool`.
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
};
use std::sync::LazyLock;

/// Times the supervised enclave process exited and was restarted (`custos serve` on embedded
/// defaults; see `custos-cli`'s `supervise`). Process-wide: the supervisor has no server state.
pub static ENCLAVE_RESTARTS: LazyLock<Option<IntCounter>> = LazyLock::new(|| {
    IntCounter::new(
        "enclave_restarts_total",
        "Times the supervised enclave exited and was restarted",
    )
    .ok()
});

/// The server's metrics.
pub struct Metrics {
    /// Registry rendered at `/metrics`.
    pub registry: Registry,
    /// Requests by method, route and status.
    pub requests: IntCounterVec,
    /// Latency by route.
    pub latency: HistogramVec,
    /// 429s by scope.
    pub rate_limited: IntCounterVec,
    /// Authentication failures by kind.
    pub auth_failures: IntCounterVec,
    /// Audit records written.
    pub audit_records: IntCounter,
    /// Audit commit batch sizes.
    pub audit_batch: Histogram,
    /// Signatures by scheme.
    pub signatures: IntCounterVec,
    /// Request handlers that panicked (answered 500; see `pipeline`).
    pub panics: IntCounter,
    /// Requests the policy (or a freeze, or a role) refused, by action, as audited.
    pub denials: IntCounterVec,
    /// The USD value of each action performed (as audited), by action.
    pub action_usd: HistogramVec,
    /// Agents frozen by an operator.
    pub freezes: IntCounter,
    /// Audit checkpoints the custody boundary did not sign (it is retried with the next one).
    pub checkpoint_failures: IntCounter,
    /// Agents' active keys older than `custody.rotation_due_days` (measured at start and hourly).
    pub keys_rotation_due: prometheus::IntGauge,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("custos".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests"),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ],
            ),
            &["route"],
        )?;
        let rate_limited = IntCounterVec::new(
            Opts::new("rate_limited_total", "Requests refused by a rate limit"),
            &["scope"],
        )?;
        let auth_failures = IntCounterVec::new(
            Opts::new("auth_failures_total", "Failed authentications"),
            &["kind"],
        )?;
        let audit_records = IntCounter::new("audit_records_total", "Audit records committed")?;
        let audit_batch = Histogram::with_opts(
            HistogramOpts::new("audit_batch_size", "Records per audit commit").buckets(vec![
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0,
            ]),
        )?;
        let signatures = IntCounterVec::new(
            Opts::new("signatures_total", "Signatures produced"),
            &["scheme"],
        )?;
        let panics = IntCounter::new("handler_panics_total", "Request handlers that panicked")?;
        let denials = IntCounterVec::new(
            Opts::new(
                "denials_total",
                "Requests refused by policy, freeze or role",
            ),
            &["action"],
        )?;
        let action_usd =
            HistogramVec::new(
                HistogramOpts::new("action_usd", "USD value of each action performed").buckets(
                    vec![1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0],
                ),
                &["action"],
            )?;
        let freezes = IntCounter::new("agent_freezes_total", "Agents frozen by an operator")?;
        let checkpoint_failures = IntCounter::new(
            "audit_checkpoint_failures_total",
            "Audit checkpoints the custody boundary did not sign",
        )?;
        let keys_rotation_due = prometheus::IntGauge::new(
            "keys_rotation_due",
            "Agents' active keys older than custody.rotation_due_days",
        )?;
        registry.register(Box::new(keys_rotation_due.clone()))?;
        registry.register(Box::new(panics.clone()))?;
        registry.register(Box::new(denials.clone()))?;
        registry.register(Box::new(action_usd.clone()))?;
        registry.register(Box::new(freezes.clone()))?;
        registry.register(Box::new(checkpoint_failures.clone()))?;
        if let Some(restarts) = ENCLAVE_RESTARTS.as_ref() {
            registry.register(Box::new(restarts.clone()))?;
        }
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(rate_limited.clone()))?;
        registry.register(Box::new(auth_failures.clone()))?;
        registry.register(Box::new(audit_records.clone()))?;
        registry.register(Box::new(audit_batch.clone()))?;
        registry.register(Box::new(signatures.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            rate_limited,
            auth_failures,
            audit_records,
            audit_batch,
            signatures,
            panics,
            denials,
            action_usd,
            freezes,
            checkpoint_failures,
            keys_rotation_due,
        })
    }

    /// Counts what newly committed audit records say: denials, the value of actions performed,
    /// freezes.
    pub fn observe_audit(&self, entries: &[custos_core::AuditEntry]) {
        use custos_core::AuditOutcome;
        for e in entries {
            match e.outcome {
                AuditOutcome::Denied => self.denials.with_label_values(&[&e.action]).inc(),
                AuditOutcome::Success => {
                    if e.action == "admin.agent.freeze" {
                        self.freezes.inc();
                    }
                    let usd = e.usd_amount.as_deref().and_then(|u| u.parse::<f64>().ok());
                    if let Some(usd) = usd {
                        self.action_usd.with_label_values(&[&e.action]).observe(usd);
                    }
                }
                _ => {}
            }
        }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let enc = prometheus::TextEncoder::new();
        if let Err(e) = enc.encode_utf8(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        out
    }
}
