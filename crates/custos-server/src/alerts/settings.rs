//! `[alerts]`: where operator alerts go and the thresholds of the rules that raise them.
use serde::{Deserialize, Serialize};

/// Every rule, by name (`alerts.rules` lists the ones in force).
pub const RULES: [&str; 7] = [
    "denial_burst",
    "large_transaction",
    "failed_logins",
    "agent_frozen",
    "enclave_restart",
    "checkpoint_failure",
    "rotation_due",
];

/// `[alerts]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// The operators' receiver: alerts are posted there, signed like status webhooks (https, or
    /// http to a loopback address). Empty (the default): no alert is raised or sent.
    pub url: String,
    /// The rules in force (default: all of [`RULES`]).
    pub rules: Vec<String>,
    /// `denial_burst`: this many refusals for one agent within `denial_burst_seconds`.
    pub denial_burst_count: u32,
    /// The `denial_burst` window, seconds.
    pub denial_burst_seconds: u64,
    /// `failed_logins`: this many refused login codes for one email within
    /// `failed_login_seconds`.
    pub failed_login_count: u32,
    /// The `failed_logins` window, seconds.
    pub failed_login_seconds: u64,
    /// `large_transaction`: an action signed for at least this many USD.
    pub large_transaction_usd: f64,
    /// Names the signing secret; raise it to rotate the secret (`custos alerts secret` shows
    /// the current one).
    pub secret_version: u32,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            rules: RULES.iter().map(|r| (*r).to_owned()).collect(),
            denial_burst_count: 10,
            denial_burst_seconds: 60,
            failed_login_count: 5,
            failed_login_seconds: 300,
            large_transaction_usd: 10_000.0,
            secret_version: 1,
        }
    }
}

impl AlertSettings {
    /// Whether alerts are on (a receiver is configured).
    pub fn enabled(&self) -> bool {
        !self.url.is_empty()
    }

    /// Whether `rule` is in force.
    pub fn has(&self, rule: &str) -> bool {
        self.enabled() && self.rules.iter().any(|r| r == rule)
    }

    /// Checks the settings: `(key, reason)` of the first problem.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |k: &str, m: String| Err((format!("alerts.{k}"), m));
        if self.enabled() {
            if let Err(m) = crate::webhooks::check_destination(&self.url) {
                return bad("url", m);
            }
        }
        if let Some(r) = self.rules.iter().find(|r| !RULES.contains(&r.as_str())) {
            return bad(
                "rules",
                format!("unknown rule {r:?}; rules are {}", RULES.join(", ")),
            );
        }
        for (k, v) in [
            ("denial_burst_count", u64::from(self.denial_burst_count)),
            ("failed_login_count", u64::from(self.failed_login_count)),
        ] {
            if !(1..=100_000).contains(&v) {
                return bad(k, "must be between 1 and 100000".into());
            }
        }
        for (k, v) in [
            ("denial_burst_seconds", self.denial_burst_seconds),
            ("failed_login_seconds", self.failed_login_seconds),
        ] {
            if !(1..=86_400).contains(&v) {
                return bad(k, "must be between 1 and 86400".into());
            }
        }
        if !(self.large_transaction_usd.is_finite() && self.large_transaction_usd >= 0.0) {
            return bad(
                "large_transaction_usd",
                "must be a number of USD, 0 or more".into(),
            );
        }
        if self.secret_version == 0 {
            return bad("secret_version", "must be 1 or more".into());
        }
        Ok(())
    }
}
