//! scripts/kalshi_fake.py — a local stand-in for Kalshi's Trade API v2 that verifies every
//! RSA-PSS signature with pyca/cryptography — as a child process, and its request log.
use super::repo_root;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The stand-in, killed on drop.
pub struct Kalshi {
    child: Child,
    /// Its base URL, `http://127.0.0.1:PORT/trade-api/v2`.
    pub url: String,
    seen: Arc<Mutex<Vec<Value>>>,
}

impl Kalshi {
    /// Starts it with `cfg` (see the script's header); waits until it listens.
    pub fn start(cfg: Value) -> Kalshi {
        let mut child = Command::new("python3")
            .arg(repo_root().join("scripts/kalshi_fake.py"))
            .arg(cfg.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3");
        let (ready, seen) = super::json_lines(
            &mut child,
            |v| v.get("url").is_some(),
            Duration::from_secs(30),
            "kalshi_fake.py (scripts/test-deps.sh installs `cryptography`)",
        );
        let url = ready["url"].as_str().unwrap_or_default().to_owned();
        Kalshi { child, url, seen }
    }

    /// Enrols `pem` as API key `key_id` (the stand-in's test-only `/_enrol`, in place of
    /// Kalshi's web page).
    pub async fn enrol(&self, key_id: &str, pem: &str) {
        let r = reqwest::Client::new()
            .post(format!(
                "{}/_enrol",
                self.url.trim_end_matches("/trade-api/v2")
            ))
            .json(&json!({"key_id": key_id, "public_key_pem": pem}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    /// Every request it logged: `{"seen": "METHOD PATH", "key", "verified", "status", …}`.
    pub fn seen(&self) -> Vec<Value> {
        self.seen.lock().unwrap().clone()
    }

    /// How many `METHOD PATH` requests it saw (any outcome).
    pub fn count(&self, method_path: &str) -> usize {
        self.seen()
            .iter()
            .filter(|v| v["seen"] == method_path)
            .count()
    }

    /// The log line of the last request, once it is written (the stand-in logs after it
    /// answers).
    pub async fn last(&self) -> Value {
        for _ in 0..50 {
            if let Some(v) = self.seen().last() {
                return v.clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("kalshi_fake.py logged nothing");
    }
}

impl Drop for Kalshi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
