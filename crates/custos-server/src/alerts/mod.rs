//! Operator alerts: the server watches for what an operator must hear about — a burst of
//! refusals for one agent, a transaction above a USD threshold, repeated failed logins, a frozen
//! agent or the kill switch, an enclave restart, a failed audit checkpoint, a key due for
//! rotation — and posts each occurrence once to the receiver `[alerts] url` names.
//!
//! - **Sources**: the audit log, read in order behind a cursor by [`detect::Detector`] (the
//!   same records give the same alerts and keys on every replica); the enclave-restart and
//!   checkpoint-failure counters, compared with what the last pass saw; the hourly
//!   rotation-due measure (`routes::keys`), which [`Alerts::raise`]s one alert per key due.
//! - **Once**: each occurrence has a key; the store's outbox (`custos_core::alert`) holds a key
//!   once, so replicas and repeated passes raise one alert. An alert the store could not take
//!   (it may be the fault being alerted on) stays queued in memory for the next pass.
//! - **Delivery** is the status webhooks' (`crate::webhooks`): `Custos-Signature` HMAC-SHA256
//!   over `"<t>.<body>"` (replay-safe with the timestamp and `Custos-Event-Id`, the alert's
//!   key), retries with backoff up to `webhooks.max_attempts`, and every attempt in the log
//!   (`GET /v1/admin/alerts`, `custos alerts log`). The secret is derived from the webhook root
//!   key and `alerts.secret_version` (`custos alerts secret` prints it).
//! - A server starts reading the audit log at its head: conditions recorded while no server
//!   ran are not replayed (the Prometheus rules in `docs/prometheus-alerts.yml` cover the same
//!   conditions from metrics).
pub mod detect;
pub mod settings;

pub use settings::AlertSettings;

use crate::keyed::hmac_sha256;
use crate::state::AppState;
use custos_core::{AlertDelivery, DeliveryStatus, NewAlert};
use serde_json::json;

/// Audit records read per pass.
const PAGE: u32 = 500;
/// Alerts attempted per pass.
const BATCH: u32 = 32;
/// Raised alerts kept in memory while the store refuses them.
const MAX_QUEUED: usize = 1000;
/// Enclave restarts and checkpoint failures raise one alert per server per this long, ms.
const COUNTER_BUCKET_MS: i64 = 15 * 60 * 1000;

/// An alert as a rule raises it, before it is queued.
#[derive(Clone, Debug, PartialEq)]
pub struct Raised {
    /// The rule's name ([`settings::RULES`], or `test`).
    pub rule: &'static str,
    /// Names this occurrence (the outbox holds it once).
    pub key: String,
    /// One line for a human.
    pub summary: String,
    /// The details.
    pub data: serde_json::Value,
    /// When it happened, ms.
    pub at_ms: i64,
}

impl Raised {
    /// How urgent the rule is.
    fn severity(&self) -> &'static str {
        match self.rule {
            "agent_frozen" | "enclave_restart" | "checkpoint_failure" => "critical",
            "rotation_due" | "test" => "info",
            _ => "warning",
        }
    }

    /// The JSON body posted, exactly as signed.
    fn body(&self, server: &str) -> String {
        json!({
            "id": self.key,
            "type": format!("alert.{}", self.rule),
            "rule": self.rule,
            "severity": self.severity(),
            "created_ms": self.at_ms,
            "summary": self.summary,
            "server": server,
            "data": self.data,
        })
        .to_string()
    }
}

/// What the watcher remembers between passes.
#[derive(Debug, Default)]
struct Watch {
    detector: detect::Detector,
    /// The last audit record read; `None` until the first pass sets it at the head.
    cursor: Option<u64>,
    /// Raised, not yet in the store.
    queued: Vec<Raised>,
    restarts_seen: u64,
    checkpoint_failures_seen: u64,
}

/// The server's alert watcher (one per process; kept in `AppState`).
#[derive(Debug, Default)]
pub struct Alerts {
    watch: tokio::sync::Mutex<Watch>,
}

impl Alerts {
    /// Queues `r` for the next pass (dropped if alerts are off or its rule is not in force).
    pub async fn raise(&self, settings: &AlertSettings, r: Raised) {
        if !(settings.has(r.rule) || (r.rule == "test" && settings.enabled())) {
            return;
        }
        let mut w = self.watch.lock().await;
        if w.queued.len() < MAX_QUEUED {
            w.queued.push(r);
        } else {
            tracing::error!(rule = r.rule, "alerts: queue full, alert dropped");
        }
    }
}

/// The signing secret of the alert receiver: HMAC-SHA256 of `alerts.secret_version` under the
/// server's webhook root key, as `whsec_<hex>`.
pub fn secret(root: &[u8; 32], version: u32) -> custos_core::SecretString {
    let version = version.to_string();
    let tag = hmac_sha256(root, &[b"custos-alert-secret/v1\n", version.as_bytes()]);
    custos_core::SecretString::new(format!("whsec_{}", hex::encode(tag)))
}

/// Reads what is new — counters and audit records — into the queue.
async fn watch(state: &AppState, w: &mut Watch) -> Result<(), custos_core::StoreError> {
    let s = &state.cfg.alerts;
    let now = state.clock.now_ms();
    // Counted events: one alert per server and quarter hour however many there are (an
    // enclave in a crash loop, or checkpoints failing while it is down, is one alert).
    let bucket = now.div_euclid(COUNTER_BUCKET_MS);
    let restarts = crate::metrics::ENCLAVE_RESTARTS
        .as_ref()
        .map_or(0, |c| c.get());
    if restarts > w.restarts_seen && s.has("enclave_restart") {
        w.queued.push(Raised {
            rule: "enclave_restart",
            key: format!("enclave_restart:{}:{bucket}", state.instance),
            summary: format!("the custody enclave exited and was restarted ({restarts} since this server started)"),
            data: json!({"restarts": restarts}),
            at_ms: now,
        });
    }
    w.restarts_seen = restarts;
    let failures = state.metrics.checkpoint_failures.get();
    if failures > w.checkpoint_failures_seen && s.has("checkpoint_failure") {
        w.queued.push(Raised {
            rule: "checkpoint_failure",
            key: format!("checkpoint_failure:{}:{bucket}", state.instance),
            summary: format!(
                "signing an audit checkpoint failed ({failures} since this server started)"
            ),
            data: json!({"failures": failures}),
            at_ms: now,
        });
    }
    w.checkpoint_failures_seen = failures;
    let Some(mut cursor) = w.cursor else {
        w.cursor = Some(state.store.audit_head().await?.map_or(0, |(id, _)| id));
        return Ok(());
    };
    loop {
        let records = state.store.audit_page(None, cursor, PAGE).await?;
        for r in &records {
            let raised = w.detector.observe(s, r);
            w.queued.extend(raised);
            cursor = r.id;
        }
        w.cursor = Some(cursor);
        if records.len() < PAGE as usize {
            w.detector.prune(s, now);
            return Ok(());
        }
    }
}

/// Sets where the audit log is read from (its head) before the server takes requests.
pub async fn start(state: &AppState) -> Result<(), custos_core::StoreError> {
    if state.cfg.alerts.enabled() {
        let mut w = state.alerts.watch.lock().await;
        w.restarts_seen = crate::metrics::ENCLAVE_RESTARTS
            .as_ref()
            .map_or(0, |c| c.get());
        w.cursor = Some(state.store.audit_head().await?.map_or(0, |(id, _)| id));
    }
    Ok(())
}

/// One pass: read what is new, queue it in the store, attempt every due alert.
pub async fn pass(state: &AppState, client: &reqwest::Client) {
    let s = &state.cfg.alerts;
    if !s.enabled() {
        return;
    }
    {
        let mut w = state.alerts.watch.lock().await;
        if let Err(e) = watch(state, &mut w).await {
            tracing::warn!(error = %e, "alerts: reading the audit log failed");
        }
        if !w.queued.is_empty() {
            let created = state.clock.now_ms();
            let new: Vec<NewAlert> = w
                .queued
                .iter()
                .map(|r| NewAlert {
                    rule: r.rule.to_owned(),
                    key: r.key.clone(),
                    url: s.url.clone(),
                    body: r.body(&state.instance),
                    created_at_ms: created,
                })
                .collect();
            match state.store.alert_raise(&new).await {
                Ok(n) => {
                    if n > 0 {
                        tracing::warn!(raised = n, "alerts raised");
                    }
                    w.queued.clear();
                }
                Err(e) => {
                    tracing::warn!(error = %e, queued = w.queued.len(), "alerts: queueing failed; kept for the next pass");
                    // Bounded like `Alerts::raise`: the oldest go first.
                    let over = w.queued.len().saturating_sub(MAX_QUEUED);
                    w.queued.drain(..over);
                }
            }
        }
    }
    let due = match state
        .store
        .alert_claim_due(
            state.clock.now_ms(),
            crate::webhooks::lease_ms(state),
            BATCH,
        )
        .await
    {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "alerts: claiming due alerts failed");
            return;
        }
    };
    let secret = secret(&state.webhook_root, s.secret_version);
    let attempts = due.iter().map(|a| {
        let secret = &secret;
        async move {
            let attempt = attempt(state, client, secret, a).await;
            if attempt.status != DeliveryStatus::Delivered {
                tracing::warn!(alert = %a.key, error = ?attempt.error, "alert delivery failed");
            }
            if let Err(e) = state.store.alert_attempted(a.id, &attempt).await {
                tracing::warn!(error = %e, "alerts: recording an attempt failed");
            }
        }
    });
    futures_util::future::join_all(attempts).await;
}

/// One attempt of alert `a` (to the receiver configured now: a changed URL takes effect for
/// queued alerts too).
async fn attempt(
    state: &AppState,
    client: &reqwest::Client,
    secret: &custos_core::SecretString,
    a: &AlertDelivery,
) -> custos_core::Attempt {
    let url = &state.cfg.alerts.url;
    let (http_status, error) =
        crate::webhooks::send(state, client, url, secret, &a.key, &a.body).await;
    crate::webhooks::outcome(state, a.attempts, http_status, error)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_secret_depends_on_the_root_and_the_version_and_is_redacted() {
        let root = [9u8; 32];
        assert_eq!(secret(&root, 1).expose(), secret(&root, 1).expose());
        assert_ne!(secret(&root, 1).expose(), secret(&root, 2).expose());
        assert_ne!(secret(&root, 1).expose(), secret(&[8u8; 32], 1).expose());
        assert!(secret(&root, 1).expose().starts_with("whsec_"));
        assert!(!format!("{:?}", secret(&root, 1)).contains("whsec_"));
        // Not a status webhook's secret for any agent: the label differs.
        let agent = custos_core::AgentId::new_random();
        assert_ne!(
            secret(&root, 1).expose(),
            crate::webhooks::secret(&root, agent, "1").expose()
        );
    }

    #[test]
    fn the_body_names_the_rule_severity_and_occurrence() {
        let r = Raised {
            rule: "enclave_restart",
            key: "enclave_restart:srv:1".into(),
            summary: "s".into(),
            data: json!({"restarts": 1}),
            at_ms: 5,
        };
        let body: serde_json::Value = serde_json::from_str(&r.body("srv")).unwrap();
        assert_eq!(body["id"], "enclave_restart:srv:1");
        assert_eq!(body["type"], "alert.enclave_restart");
        assert_eq!(body["severity"], "critical");
        assert_eq!(body["data"]["restarts"], 1);
    }
}
