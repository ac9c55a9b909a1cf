//! The sliding window in Redis, shared by every replica: one sorted set per key whose members
//! are admissions scored by their time. One Lua script drops what left the window, counts, and
//! admits or refuses atomically, so replicas racing on one key never admit more than the limit
//! between them. Times come from the calling server's clock (replicas are expected to agree to
//! well under a window).
use super::window::Limited;
use custos_core::SecretString;
use std::time::Duration;

/// Drops admissions at or before `now - window`, then admits `member` at `now` if fewer than
/// `limit` remain (→ `{1, 0}`) or refuses with the oldest admission's time (→ `{0, oldest}`).
const ACQUIRE: &str = r"
local cutoff = tonumber(ARGV[1]) - tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cutoff)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2])}
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, 0}
";

/// Why Redis could not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Down(pub String);

/// A connection to the shared counts.
pub struct RedisWindows {
    client: redis::Client,
    prefix: String,
    timeout: Duration,
    conn: tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
    script: redis::Script,
}

impl std::fmt::Debug for RedisWindows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisWindows")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisWindows {
    /// For `url` (no credentials in it) with the password, if any; connects on first use.
    pub fn new(
        url: &str,
        password: Option<SecretString>,
        prefix: &str,
        timeout: Duration,
    ) -> Result<Self, String> {
        let full = match &password {
            None => SecretString::new(url.to_owned()),
            Some(pw) => {
                let (scheme, rest) = url.split_once("://").unwrap_or(("redis", url));
                let encoded: String = pw
                    .expose()
                    .bytes()
                    .map(|b| match b {
                        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                            (b as char).to_string()
                        }
                        _ => format!("%{b:02X}"),
                    })
                    .collect();
                SecretString::new(format!("{scheme}://:{encoded}@{rest}"))
            }
        };
        // The error would repeat the URL (and a password in it): say only what it is.
        let client = redis::Client::open(full.expose()).map_err(|e| {
            format!(
                "rate_limit.redis_url is not a valid Redis URL ({:?})",
                e.kind()
            )
        })?;
        Ok(Self {
            client,
            prefix: prefix.to_owned(),
            timeout,
            conn: tokio::sync::Mutex::new(None),
            script: redis::Script::new(ACQUIRE),
        })
    }

    fn key(&self, limiter: &str, key: &str) -> String {
        format!("{}{limiter}:{key}", self.prefix)
    }

    async fn connection(&self) -> Result<redis::aio::MultiplexedConnection, Down> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = tokio::time::timeout(self.timeout, self.client.get_multiplexed_async_connection())
            .await
            .map_err(|_| Down("connecting timed out".into()))?
            .map_err(|e| Down(format!("cannot connect: {:?}", e.kind())))?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Forgets a connection that failed, so the next call connects anew.
    async fn drop_connection(&self) {
        *self.conn.lock().await = None;
    }

    async fn run<T>(
        &self,
        f: impl AsyncFnOnce(redis::aio::MultiplexedConnection) -> redis::RedisResult<T>,
    ) -> Result<T, Down> {
        let conn = self.connection().await?;
        match tokio::time::timeout(self.timeout, f(conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                self.drop_connection().await;
                Err(Down(format!("{:?}", e.kind())))
            }
            Err(_) => {
                self.drop_connection().await;
                Err(Down("timed out".into()))
            }
        }
    }

    /// Admits one request for `key` of `limiter` at `now_ms` under `limit` per `window_ms`;
    /// `Ok(Ok(member))` names the admission (for [`Self::release`]).
    pub async fn try_acquire(
        &self,
        limiter: &str,
        key: &str,
        limit: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> Result<Result<String, Limited>, Down> {
        let member = format!("{now_ms}:{}", uuid::Uuid::new_v4().simple());
        let k = self.key(limiter, key);
        let (admitted, oldest): (i64, i64) = self
            .run(async |mut c| {
                self.script
                    .key(&k)
                    .arg(now_ms)
                    .arg(window_ms)
                    .arg(limit)
                    .arg(&member)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(if admitted == 1 {
            Ok(member)
        } else {
            Err(Limited {
                retry_after_ms: (oldest + window_ms - now_ms).max(1),
            })
        })
    }

    /// Gives back an admission (a later limit refused the request).
    pub async fn release(&self, limiter: &str, key: &str, member: &str) -> Result<(), Down> {
        let k = self.key(limiter, key);
        self.run(async |mut c| {
            redis::cmd("ZREM")
                .arg(&k)
                .arg(member)
                .query_async::<i64>(&mut c)
                .await
        })
        .await
        .map(|_| ())
    }

    /// `PING`.
    pub async fn health(&self) -> Result<(), Down> {
        self.run(async |mut c| redis::cmd("PING").query_async::<String>(&mut c).await)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    //! Against the Redis this machine runs (`REDIS_TEST_URL`, default redis://127.0.0.1:6379).
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn url() -> String {
        std::env::var("REDIS_TEST_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
    }

    fn windows(prefix: &str) -> RedisWindows {
        RedisWindows::new(&url(), None, prefix, Duration::from_millis(500)).unwrap()
    }

    #[tokio::test]
    async fn two_replicas_share_one_window_and_never_admit_more_than_the_limit() {
        let prefix = format!("custos:test:{}:", uuid::Uuid::new_v4().simple());
        let (a, b) = (
            std::sync::Arc::new(windows(&prefix)),
            std::sync::Arc::new(windows(&prefix)),
        );
        a.health()
            .await
            .expect("Redis must run here (scripts/replicas.sh starts it)");
        let mut tasks = vec![];
        for i in 0..40 {
            let w = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                w.try_acquire("agent", "k", 7, 60_000, 1_000).await.unwrap()
            }));
        }
        let mut admitted = vec![];
        for t in tasks {
            if let Ok(member) = t.await.unwrap() {
                admitted.push(member);
            }
        }
        assert_eq!(admitted.len(), 7, "exactly the limit across both");
        // Refused until the oldest leaves the window; then it slides.
        let refused = b
            .try_acquire("agent", "k", 7, 60_000, 30_000)
            .await
            .unwrap();
        assert_eq!(
            refused,
            Err(Limited {
                retry_after_ms: 31_000
            })
        );
        // A given-back admission frees its place at once (and only one place).
        b.release("agent", "k", &admitted[3]).await.unwrap();
        assert!(a
            .try_acquire("agent", "k", 7, 60_000, 31_000)
            .await
            .unwrap()
            .is_ok());
        assert!(a
            .try_acquire("agent", "k", 7, 60_000, 31_001)
            .await
            .unwrap()
            .is_err());
        // Other keys and limiters are independent.
        assert!(a
            .try_acquire("ip", "k", 7, 60_000, 31_001)
            .await
            .unwrap()
            .is_ok());
        // The first six leave the window at 61 000; the one from 31 000 stays.
        for t in 61_000..61_006 {
            assert!(a
                .try_acquire("agent", "k", 7, 60_000, t)
                .await
                .unwrap()
                .is_ok());
        }
        assert!(a
            .try_acquire("agent", "k", 7, 60_000, 61_006)
            .await
            .unwrap()
            .is_err());
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_down_quickly_and_says_so_without_the_password() {
        let w = RedisWindows::new(
            "redis://127.0.0.1:1",
            Some(SecretString::new("hunter2-secret".into())),
            "custos:test:",
            Duration::from_millis(300),
        )
        .unwrap();
        let started = std::time::Instant::now();
        let err = w
            .try_acquire("global", "global", 1, 60_000, 0)
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(!err.0.contains("hunter2"), "{err:?}");
        assert!(!format!("{w:?}").contains("hunter2"));
        assert!(w.health().await.is_err());
    }
}
