//! `[console]`: the operator console's origin (what passkeys are bound to), and how long its
//! sessions, TOTP step-ups and lockouts last.
use serde::{Deserialize, Serialize};

/// `[console]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// Serve the console at `/console` (its API at `/console/api`).
    pub enabled: bool,
    /// The origin operators open the console at, e.g. `https://custos.example.com`. Passkeys are
    /// bound to it. An origin without a port (the default, `http://localhost`) accepts any port.
    pub origin: String,
    /// The WebAuthn relying-party id: the origin's host or a parent domain of it.
    pub rp_id: String,
    /// Hours a console session lasts.
    pub session_hours: u32,
    /// Minutes a TOTP code entered allows changes for.
    pub totp_fresh_minutes: u32,
    /// Refused logins in a row that lock an account.
    pub max_failed_logins: u32,
    /// Minutes a locked account stays locked.
    pub lockout_minutes: u32,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            origin: "http://localhost".into(),
            rp_id: "localhost".into(),
            session_hours: 12,
            totp_fresh_minutes: 5,
            max_failed_logins: 5,
            lockout_minutes: 15,
        }
    }
}

impl ConsoleSettings {
    /// The origin, parsed (validation accepted it).
    pub fn origin_url(&self) -> Result<reqwest::Url, String> {
        reqwest::Url::parse(&self.origin).map_err(|e| format!("not a URL: {e}"))
    }

    /// Checks the settings: `(key, reason)` of the first problem.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |k: &str, m: String| Err((format!("console.{k}"), m));
        let url = match self.origin_url() {
            Ok(u) => u,
            Err(m) => return bad("origin", m),
        };
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let local = host == "localhost";
        if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
            return bad("origin", "must be scheme://host[:port] only".into());
        }
        if !(url.scheme() == "https" || (url.scheme() == "http" && local)) {
            return bad(
                "origin",
                "must be https (http only for localhost: browsers give passkeys to secure origins only)".into(),
            );
        }
        let rp = self.rp_id.to_ascii_lowercase();
        if rp.is_empty() || !(host == rp || host.ends_with(&format!(".{rp}"))) {
            return bad(
                "rp_id",
                format!("must be the origin's host ({host}) or a parent domain of it"),
            );
        }
        if let Err(e) = webauthn_rs::WebauthnBuilder::new(&self.rp_id, &url) {
            return bad(
                "rp_id",
                format!("not a relying party for {}: {e}", self.origin),
            );
        }
        for (k, v, max) in [
            ("session_hours", self.session_hours, 24 * 30),
            ("totp_fresh_minutes", self.totp_fresh_minutes, 60),
            ("max_failed_logins", self.max_failed_logins, 100),
            ("lockout_minutes", self.lockout_minutes, 24 * 60),
        ] {
            if !(1..=max).contains(&v) {
                return bad(k, format!("must be between 1 and {max}"));
            }
        }
        Ok(())
    }
}
