//! Rate limiting: sliding windows per key (SPEC defaults: global 1,000/min, per IP 100/min, per
//! agent 60/min, OTP 5 per 15 min per email), counted in this process
//! (`rate_limit.backend = "local"`, one server) or in Redis (`"redis"`, shared by every replica,
//! so a limit holds across them). With Redis unreachable the limiter fails closed — the request
//! is answered `503` — unless `rate_limit.redis_fail_open` says to admit it; `/healthz` reports
//! which.
mod redis;
mod window;

pub use self::redis::Down;
use self::redis::RedisWindows;
pub use window::{Limited, SlidingWindow};

use crate::config::{RateLimitBackend, RateLimitConfig};
use std::time::Duration;

const MINUTE_MS: i64 = 60_000;

/// The four limiters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every `/v1` request.
    Global,
    /// Per client IP.
    PerIp,
    /// Per authenticated agent.
    PerAgent,
    /// Login-code requests per email.
    Otp,
}

impl Scope {
    /// The name in `429` answers and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::PerIp => "per-IP",
            Self::PerAgent => "per-agent",
            Self::Otp => "login-code",
        }
    }

    fn redis_name(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::PerIp => "ip",
            Self::PerAgent => "agent",
            Self::Otp => "otp",
        }
    }
}

/// Why a request was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Over `scope`'s limit.
    Over(Scope, Limited),
    /// The shared limiter cannot be reached and the server fails closed.
    Unavailable(String),
}

impl Refusal {
    /// The answer: `429` naming the limit with `Retry-After`, or `503`.
    pub fn into_error(self) -> crate::error::ApiError {
        match self {
            Self::Over(scope, l) => {
                crate::error::ApiError::rate_limited(scope.name(), l.retry_after_secs())
            }
            Self::Unavailable(_) => crate::error::ApiError::unavailable(
                "the rate limiter is unavailable; the request was not processed",
            ),
        }
    }

    /// The `rate_limited` metric's label.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Over(Scope::Global, _) => "global",
            Self::Over(Scope::PerIp, _) => "per-IP",
            Self::Over(Scope::PerAgent, _) => "agent",
            Self::Over(Scope::Otp, _) => "otp",
            Self::Unavailable(_) => "unavailable",
        }
    }
}

/// One admission, to give back if a later limit refuses the request.
enum Admission {
    Local(i64),
    Redis(String),
    /// Admitted unlimited while Redis is down (fail open).
    Unchecked,
}

enum Windows {
    Local {
        global: SlidingWindow,
        per_ip: SlidingWindow,
        per_agent: SlidingWindow,
        otp: SlidingWindow,
    },
    Redis(RedisWindows),
}

/// The server's limits.
pub struct Limits {
    windows: Windows,
    limits: [(u32, i64); 4],
    fail_open: bool,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("limits", &self.limits)
            .field("fail_open", &self.fail_open)
            .finish_non_exhaustive()
    }
}

impl Limits {
    /// From configuration (a Redis password is read from its environment variable here).
    pub fn new(c: &RateLimitConfig) -> Result<Self, String> {
        let limits = [
            (c.global_per_minute, MINUTE_MS),
            (c.per_ip_per_minute, MINUTE_MS),
            (c.per_agent_per_minute, MINUTE_MS),
            (c.otp_per_email, i64::from(c.otp_window_minutes) * MINUTE_MS),
        ];
        let windows = match c.backend {
            RateLimitBackend::Local => {
                let w = |i: usize| SlidingWindow::new(limits[i].0, limits[i].1);
                Windows::Local {
                    global: w(0),
                    per_ip: w(1),
                    per_agent: w(2),
                    otp: w(3),
                }
            }
            RateLimitBackend::Redis => {
                let password = if c.redis_password_env.is_empty() {
                    None
                } else {
                    Some(custos_core::SecretString::new(
                        std::env::var(&c.redis_password_env).map_err(|_| {
                            format!(
                                "rate_limit.redis_password_env: the environment variable {} is not set",
                                c.redis_password_env
                            )
                        })?,
                    ))
                };
                Windows::Redis(RedisWindows::new(
                    &c.redis_url,
                    password,
                    &c.redis_key_prefix,
                    Duration::from_millis(c.redis_timeout_ms),
                )?)
            }
        };
        Ok(Self {
            windows,
            limits,
            fail_open: c.redis_fail_open,
        })
    }

    fn index(scope: Scope) -> usize {
        match scope {
            Scope::Global => 0,
            Scope::PerIp => 1,
            Scope::PerAgent => 2,
            Scope::Otp => 3,
        }
    }

    async fn acquire(&self, scope: Scope, key: &str, now_ms: i64) -> Result<Admission, Refusal> {
        let (limit, window_ms) = self.limits[Self::index(scope)];
        match &self.windows {
            Windows::Local {
                global,
                per_ip,
                per_agent,
                otp,
            } => {
                let w = match scope {
                    Scope::Global => global,
                    Scope::PerIp => per_ip,
                    Scope::PerAgent => per_agent,
                    Scope::Otp => otp,
                };
                w.try_acquire(key, now_ms)
                    .map(|()| Admission::Local(now_ms))
                    .map_err(|l| Refusal::Over(scope, l))
            }
            Windows::Redis(r) => {
                match r
                    .try_acquire(scope.redis_name(), key, limit, window_ms, now_ms)
                    .await
                {
                    Ok(Ok(member)) => Ok(Admission::Redis(member)),
                    Ok(Err(l)) => Err(Refusal::Over(scope, l)),
                    Err(Down(why)) if self.fail_open => {
                        tracing::warn!(error = %why, "rate limiter unreachable: admitting unlimited (rate_limit.redis_fail_open)");
                        Ok(Admission::Unchecked)
                    }
                    Err(Down(why)) => {
                        tracing::error!(error = %why, "rate limiter unreachable: refusing requests (fail closed)");
                        Err(Refusal::Unavailable(why))
                    }
                }
            }
        }
    }

    async fn release(&self, scope: Scope, key: &str, admission: Admission) {
        match (&self.windows, admission) {
            (Windows::Local { global, per_ip, .. }, Admission::Local(at)) => match scope {
                Scope::Global => global.release(key, at),
                Scope::PerIp => per_ip.release(key, at),
                Scope::PerAgent | Scope::Otp => {}
            },
            (Windows::Redis(r), Admission::Redis(member)) => {
                if let Err(Down(why)) = r.release(scope.redis_name(), key, &member).await {
                    tracing::warn!(error = %why, "rate limiter: could not give back an admission");
                }
            }
            _ => {}
        }
    }

    /// Global then per-IP, atomically in effect: a request refused per IP does not use up
    /// global capacity.
    pub async fn admit_front_door(&self, ip: &str, now_ms: i64) -> Result<(), Refusal> {
        let global = self.acquire(Scope::Global, "global", now_ms).await?;
        if let Err(r) = self.acquire(Scope::PerIp, ip, now_ms).await {
            self.release(Scope::Global, "global", global).await;
            return Err(r);
        }
        Ok(())
    }

    /// One request of an authenticated agent.
    pub async fn admit_agent(&self, agent: &str, now_ms: i64) -> Result<(), Refusal> {
        self.acquire(Scope::PerAgent, agent, now_ms)
            .await
            .map(|_| ())
    }

    /// One login-code request for `email`.
    pub async fn admit_otp(&self, email: &str, now_ms: i64) -> Result<(), Refusal> {
        self.acquire(Scope::Otp, email, now_ms).await.map(|_| ())
    }

    /// Prunes idle keys (in-process counts; Redis keys expire by themselves).
    pub fn prune(&self, now_ms: i64) {
        if let Windows::Local {
            global,
            per_ip,
            per_agent,
            otp,
        } = &self.windows
        {
            for w in [global, per_ip, per_agent, otp] {
                w.prune(now_ms);
            }
        }
    }

    /// `None` for in-process counts; for Redis whether it answers, and what happens if not.
    pub async fn health(&self) -> Option<Result<(), Down>> {
        match &self.windows {
            Windows::Local { .. } => None,
            Windows::Redis(r) => Some(r.health().await),
        }
    }

    /// Whether requests are admitted unlimited while Redis is down.
    pub fn fails_open(&self) -> bool {
        self.fail_open
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn per_ip_refusal_gives_back_global_capacity() {
        let c = RateLimitConfig {
            global_per_minute: 2,
            per_ip_per_minute: 1,
            ..Default::default()
        };
        let l = Limits::new(&c).unwrap();
        assert!(l.admit_front_door("1.1.1.1", 0).await.is_ok());
        assert!(matches!(
            l.admit_front_door("1.1.1.1", 1).await,
            Err(Refusal::Over(Scope::PerIp, _))
        ));
        assert!(l.admit_front_door("2.2.2.2", 2).await.is_ok());
        assert!(matches!(
            l.admit_front_door("3.3.3.3", 3).await,
            Err(Refusal::Over(Scope::Global, _))
        ));
    }
}
