//! Transaction status webhooks: an agent registers an endpoint (`PUT /v1/wallets/me/webhook`)
//! and every new audit record about one of its transactions — broadcast, confirmed, failed,
//! replaced, signed and returned — is posted there as an event, signed, retried with backoff,
//! with every attempt in a delivery log (`GET /v1/wallets/me/webhook/deliveries`).
//!
//! - **Events come from the audit log**, read behind a cursor the store keeps ([`pass`]): nothing
//!   on a request's path changes, an event exists exactly when its durable record does, and a
//!   crash or a second replica neither loses nor doubles one (the outbox is unique per agent
//!   and event; the cursor moves by compare-and-set). Delivery is at least once: receivers
//!   dedupe by the event id.
//! - **Signature**: `Custos-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
//!   "<t>.<body>")>` (replay-safe: a receiver refuses an old `t` and a seen event id). The
//!   secret (`whsec_…`, shown once at registration) is not stored: it is derived from the
//!   server's webhook root key (`<data-dir>/webhook-root.key`) and the registration's random
//!   `key_id`, so a copy of the database cannot forge deliveries; registering again rotates it.
//! - **Destinations** are limited to `webhooks.allow_hosts` (https, or http to a loopback
//!   address), checked at registration and again before each attempt; redirects are not
//!   followed.
use crate::error::ApiError;
use crate::keyed::hmac_sha256;
use crate::routes::transactions::{base_action, is_transaction, status_of};
use crate::state::AppState;
use custos_core::{AgentId, Attempt, Delivery, DeliveryStatus, NewDelivery, StoredAudit, Webhook};
use serde_json::json;
use std::collections::HashMap;

/// Audit records read per pass.
const PAGE: u32 = 500;
/// Deliveries attempted per pass.
const BATCH: u32 = 32;
/// The longest wait between two attempts, ms.
const MAX_BACKOFF_MS: i64 = 3_600_000;
/// Longest accepted webhook URL.
const MAX_URL: usize = 2048;
/// Statuses that are events (a parked, denied or unresolved record is not).
const EVENT_STATUSES: [&str; 5] = ["broadcast", "confirmed", "failed", "replaced", "signed"];

/// The signing secret of a registration: HMAC-SHA256 of the agent and `key_id` under the
/// server's root key, as `whsec_<hex>`. A secret: shown to the agent once, never logged.
pub fn secret(root: &[u8; 32], agent: AgentId, key_id: &str) -> custos_core::SecretString {
    let agent = agent.to_string();
    let tag = hmac_sha256(
        root,
        &[
            b"custos-webhook-secret/v1\n",
            agent.as_bytes(),
            b"\n",
            key_id.as_bytes(),
        ],
    );
    custos_core::SecretString::new(format!("whsec_{}", hex::encode(tag)))
}

/// The `Custos-Signature` header value for `body` sent at `t` (unix seconds).
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let t_text = t.to_string();
    let tag = hmac_sha256(
        secret.as_bytes(),
        &[t_text.as_bytes(), b".", body.as_bytes()],
    );
    format!("t={t},v1={}", hex::encode(tag))
}

/// Checks a destination URL: at most [`MAX_URL`] characters, a host, no credentials, `https`
/// (or `http` to a loopback address). Returns it parsed, or why not.
pub fn check_destination(raw: &str) -> Result<reqwest::Url, String> {
    if raw.len() > MAX_URL {
        return Err(format!("longer than {MAX_URL} characters"));
    }
    let url = reqwest::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    let host = host_of(&url).ok_or("has no host")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".into());
    }
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err("must be https (http only to a loopback address)".into()),
    }
}

/// The URL's host, lower-case, without an IPv6 address's brackets.
fn host_of(url: &reqwest::Url) -> Option<String> {
    url.host_str().map(|h| {
        h.trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase()
    })
}

/// Checks a webhook URL ([`check_destination`]) and its host against `webhooks.allow_hosts`;
/// returns it normalised.
pub fn check_url(state: &AppState, raw: &str) -> Result<reqwest::Url, ApiError> {
    let allowed = &state.cfg.webhooks.allow_hosts;
    if allowed.is_empty() {
        return Err(ApiError::invalid(
            "url",
            "webhooks are not enabled on this server (webhooks.allow_hosts is empty)",
        ));
    }
    let url = check_destination(raw).map_err(|m| ApiError::invalid("url", m))?;
    let host = host_of(&url).unwrap_or_default();
    if !allowed.iter().any(|h| h.eq_ignore_ascii_case(&host)) {
        return Err(ApiError::invalid(
            "url",
            format!("host `{host}` is not in this server's webhooks.allow_hosts"),
        ));
    }
    Ok(url)
}

/// The event a record is, if it is one: `{id, type, created_ms, agent_id, data}`.
fn event(r: &StoredAudit) -> Option<String> {
    let agent = r.entry.agent_id?;
    let tx = r.entry.tx.as_ref()?;
    if !is_transaction(r) || r.entry.action.ends_with(".unresolved") {
        return None;
    }
    let status = status_of(r);
    if !EVENT_STATUSES.contains(&status) {
        return None;
    }
    let p = &r.entry.params;
    Some(
        json!({
            "id": format!("evt_{}", r.id),
            "type": format!("transaction.{status}"),
            "created_ms": r.entry.time_ms,
            "agent_id": agent.to_string(),
            "data": {
                "tx": tx,
                "action": base_action(r),
                "status": status,
                "chain": p.get("chain"),
                "to": p.get("to"),
                "asset": p.get("asset"),
                "amount": p.get("amount"),
                "usd_value": r.entry.usd_amount,
                "replaces": p.get("replaces"),
                "replaced_by": p.get("replaced_by"),
                "reason": r.entry.reason,
                "audit_id": r.id,
            }
        })
        .to_string(),
    )
}

/// Sets the event cursor at the audit log's head the first time a server starts (no history
/// is replayed); a no-op afterwards. Runs before the server takes requests, so no event that
/// follows the start can fall before the cursor.
pub async fn start(state: &AppState) -> Result<(), custos_core::StoreError> {
    let store = &state.store;
    if store.webhook_cursor().await?.is_none() {
        let head = store.audit_head().await?.map_or(0, |(id, _)| id);
        // Set by another replica meanwhile: theirs stands.
        store.webhook_enqueue(None, head, &[]).await?;
    }
    Ok(())
}

/// Turns new audit records into queued deliveries.
async fn queue(state: &AppState) -> Result<(), custos_core::StoreError> {
    let store = &state.store;
    let Some(cursor) = store.webhook_cursor().await? else {
        return start(state).await;
    };
    let records = store.audit_page(None, cursor, PAGE).await?;
    let Some(last) = records.last().map(|r| r.id) else {
        return Ok(());
    };
    let mut hooks: HashMap<AgentId, Option<Webhook>> = HashMap::new();
    let mut out = Vec::new();
    let now = state.clock.now_ms();
    for r in &records {
        let Some(agent) = r.entry.agent_id else {
            continue;
        };
        let Some(body) = event(r) else { continue };
        let hook = match hooks.entry(agent) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(store.webhook(agent).await?),
        };
        let Some(hook) = hook else {
            continue;
        };
        if r.entry.time_ms < hook.created_at_ms {
            continue;
        }
        out.push(NewDelivery {
            agent,
            event_id: r.id,
            url: hook.url.clone(),
            body,
            created_at_ms: now,
        });
    }
    // Moved by another server meanwhile: it queued these (each at most once anyway).
    store.webhook_enqueue(Some(cursor), last, &out).await?;
    Ok(())
}

/// The wait before attempt `n + 1` after `n` failed ones: 1 s, 2 s, 4 s, … up to an hour.
fn backoff_ms(failed: u32) -> i64 {
    1000i64
        .saturating_mul(1i64 << failed.saturating_sub(1).min(20))
        .min(MAX_BACKOFF_MS)
}

/// What an attempt that failed `failed` times before came to: delivered (`error` is `None`),
/// pending with its next time (backoff), or failed for good after `max_attempts`.
pub fn outcome(
    state: &AppState,
    failed_before: u32,
    http_status: Option<u16>,
    error: Option<String>,
) -> Attempt {
    let failed = failed_before.saturating_add(1);
    let now = state.clock.now_ms();
    let status = if error.is_none() {
        DeliveryStatus::Delivered
    } else if failed >= state.cfg.webhooks.max_attempts {
        DeliveryStatus::Failed
    } else {
        DeliveryStatus::Pending
    };
    Attempt {
        status,
        http_status,
        error,
        next_at_ms: now.saturating_add(backoff_ms(failed)),
        now_ms: now,
    }
}

/// Posts `body` to `url` signed with `secret` (`Custos-Signature`), `event_id` in
/// `Custos-Event-Id`: the HTTP status, and why it failed if it did (never the URL, which may
/// carry a token in its query).
pub async fn send(
    state: &AppState,
    client: &reqwest::Client,
    url: &str,
    secret: &custos_core::SecretString,
    event_id: &str,
    body: &str,
) -> (Option<u16>, Option<String>) {
    let t = state.clock.now_ms() / 1000;
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .header("custos-signature", signature(secret.expose(), t, body))
        .header("custos-event-id", event_id)
        .header("user-agent", "custos-webhooks/1")
        .body(body.to_owned())
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => (Some(r.status().as_u16()), None),
        Ok(r) => {
            let code = r.status().as_u16();
            (Some(code), Some(format!("HTTP {code}")))
        }
        Err(e) => (
            None,
            Some(if e.is_timeout() {
                "timed out".into()
            } else if e.is_connect() {
                "could not connect".into()
            } else {
                "request failed".into()
            }),
        ),
    }
}

/// How long a claimed delivery is held from other workers: one attempt's timeout and 5 s.
pub fn lease_ms(state: &AppState) -> i64 {
    i64::try_from(state.cfg.webhooks.timeout_seconds)
        .unwrap_or(60)
        .saturating_mul(1000)
        .saturating_add(5_000)
}

/// One attempt of `d`.
async fn attempt(state: &AppState, client: &reqwest::Client, d: &Delivery) -> Attempt {
    let fail = |error: String| outcome(state, d.attempts, None, Some(error));
    if let Err(e) = check_url(state, &d.url) {
        return fail(format!("not sent: {}", e.message));
    }
    let hook = match state.store.webhook(d.agent).await {
        Ok(Some(h)) => h,
        Ok(None) => return fail("the webhook was removed".into()),
        Err(e) => return fail(format!("store: {e}")),
    };
    let secret = secret(&state.webhook_root, d.agent, &hook.key_id);
    let event_id = format!("evt_{}", d.event_id);
    let (http_status, error) = send(state, client, &d.url, &secret, &event_id, &d.body).await;
    outcome(state, d.attempts, http_status, error)
}

/// One pass: queue new events, then attempt every due delivery (concurrently).
pub async fn pass(state: &AppState, client: &reqwest::Client) {
    if let Err(e) = queue(state).await {
        tracing::warn!(error = %e, "webhooks: reading the audit log failed");
        return;
    }
    let due = match state
        .store
        .webhook_claim_due(state.clock.now_ms(), lease_ms(state), BATCH)
        .await
    {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "webhooks: claiming deliveries failed");
            return;
        }
    };
    let attempts = due.iter().map(|d| async move {
        let a = attempt(state, client, d).await;
        if a.status != DeliveryStatus::Delivered {
            tracing::info!(delivery = d.id, agent = %d.agent, error = ?a.error, "webhook delivery failed");
        }
        if let Err(e) = state.store.webhook_attempted(d.id, &a).await {
            tracing::warn!(error = %e, "webhooks: recording an attempt failed");
        }
    });
    futures_util::future::join_all(attempts).await;
}

/// The HTTP client deliveries use: the configured timeout, no redirects, idle connections
/// dropped before a receiver's keep-alive limit.
pub fn client(state: &AppState) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(
            state.cfg.webhooks.timeout_seconds,
        ))
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(std::time::Duration::from_secs(4))
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(
            (1..=5).map(backoff_ms).collect::<Vec<_>>(),
            [1000, 2000, 4000, 8000, 16000]
        );
        assert_eq!(backoff_ms(40), MAX_BACKOFF_MS);
    }

    #[test]
    fn signatures_bind_the_time_and_the_body() {
        // HMAC-SHA256 of "1.{}" under "key", computed independently (Python's hmac module).
        let s = signature("key", 1, "{}");
        assert_eq!(
            s,
            "t=1,v1=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
        assert_ne!(s, signature("key", 2, "{}"));
        assert_ne!(s, signature("key", 1, "{ }"));
        assert_ne!(s, signature("kez", 1, "{}"));
        let root = [7u8; 32];
        let a = AgentId::new_random();
        assert_eq!(
            secret(&root, a, "k1").expose(),
            secret(&root, a, "k1").expose()
        );
        assert_ne!(
            secret(&root, a, "k1").expose(),
            secret(&root, a, "k2").expose()
        );
        assert!(!format!("{:?}", secret(&root, a, "k1")).contains("whsec_"));
    }
}
