//! When a request may be sent again, and how long to wait first. A `GET` has no effect and a
//! keyed action's retry returns the first answer, so both may be resent after anything that
//! might pass later; an unkeyed `POST` only after a refusal that ran nothing (`429`). A denial,
//! a validation error or a success is never resent.
use crate::{without_url, Error};
use std::time::Duration;

/// Retry limits.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Attempts in all.
    pub attempts: u32,
    /// Longest wait honoured from one `Retry-After`.
    pub max_wait: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            attempts: 5,
            max_wait: Duration::from_secs(60),
        }
    }
}

/// Whether an answer with `status` and `body` is worth resending.
pub fn worth_resending(status: u16, body: &[u8], repeatable: bool) -> bool {
    let in_progress = status == 409
        && serde_json::from_slice::<serde_json::Value>(body)
            .is_ok_and(|v| v["error"]["code"] == "idempotency_conflict");
    status == 429 || in_progress || (repeatable && matches!(status, 502..=504))
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((250u64 << attempt.min(5)).min(8_000))
}

/// Sends `request`, resending it (the same bytes, so the same `Idempotency-Key`) while
/// [`worth_resending`] says so and attempts remain; returns the last answer's status and body.
pub(crate) async fn send(
    http: &reqwest::Client,
    request: reqwest::Request,
    policy: &Policy,
) -> Result<(u16, Vec<u8>), Error> {
    let repeatable = request.method() == reqwest::Method::GET
        || request.headers().contains_key("idempotency-key");
    let attempts = policy.attempts.max(1);
    for attempt in 0..attempts {
        let last = attempt + 1 == attempts;
        let this = request
            .try_clone()
            .ok_or_else(|| Error::Usage("the request body cannot be resent".into()))?;
        let resp = match http.execute(this).await {
            Ok(r) => r,
            Err(e) if !repeatable || last => return Err(Error::Unreachable(without_url(&e))),
            Err(_) => {
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
        };
        let status = resp.status().as_u16();
        let wait = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs)
            .unwrap_or_else(|| backoff(attempt))
            .min(policy.max_wait);
        let body = resp
            .bytes()
            .await
            .map_err(|e| Error::Unreachable(without_url(&e)))?
            .to_vec();
        if last || !worth_resending(status, &body, repeatable) {
            return Ok((status, body));
        }
        tokio::time::sleep(wait).await;
    }
    Err(Error::Unreachable("no attempt was made".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_may_pass_later_is_resent() {
        let conflict = br#"{"error":{"code":"idempotency_conflict","message":"in progress"}}"#;
        let mismatch = br#"{"error":{"code":"invalid_request","message":"other body"}}"#;
        assert!(worth_resending(429, b"", false));
        assert!(worth_resending(409, conflict, false));
        assert!(!worth_resending(409, mismatch, true));
        assert!(worth_resending(503, b"", true));
        assert!(
            !worth_resending(503, b"", false),
            "an unkeyed POST may have run"
        );
        for status in [200, 202, 400, 401, 403, 404, 422, 500] {
            assert!(!worth_resending(status, b"", true), "{status}");
        }
        assert!(backoff(0) < backoff(3) && backoff(30) == Duration::from_secs(8));
    }
}
