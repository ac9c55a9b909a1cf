//! The real x402 seller and facilitator (scripts/x402/seller.mjs, the reference npm
//! packages) as a child process, and what a client sees of it.
use super::repo_root;
use base64::Engine as _;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// scripts/x402/seller.mjs, killed on drop; `seen` collects its request log.
pub struct Seller {
    child: Child,
    /// Its URL.
    pub url: String,
    /// Its fee payer (Solana) or settling account (EVM).
    pub fee_payer: String,
    seen: Arc<Mutex<Vec<Value>>>,
}

impl Seller {
    /// Starts it with `cfg` (see the script's header); waits until it listens.
    pub fn start(cfg: Value) -> Seller {
        let script = repo_root().join("scripts/x402/seller.mjs");
        assert!(
            repo_root().join("scripts/x402/node_modules").exists(),
            "run scripts/test-deps.sh (npm ci of scripts/x402)"
        );
        let mut child = Command::new("node")
            .arg(script)
            .arg(cfg.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node");
        let (ready, seen) = super::json_lines(
            &mut child,
            |v| v.get("seller").is_some(),
            Duration::from_secs(60),
            "the seller",
        );
        Seller {
            child,
            url: ready["seller"].as_str().unwrap().to_owned(),
            fee_payer: ready["feePayer"].as_str().unwrap_or_default().to_owned(),
            seen,
        }
    }

    /// Switches what it asks for (`honest`, `amount`, `payTo`, `asset`, `network`).
    pub async fn variant(&self, name: &str) {
        set_variant(&self.url, name).await;
    }

    /// The newest `PAYMENT-SIGNATURE` header it received.
    pub fn last_payment(&self) -> String {
        self.seen()
            .iter()
            .rev()
            .find_map(|e| e["payment"].as_str().map(str::to_owned))
            .expect("the seller received no payment")
    }

    /// Pays `url` with the requirement `quoted` while the seller asks something else instead
    /// (each of amount, payee, asset, network in turn): every payment must be refused as a
    /// changed quote naming what changed. Leaves the seller honest again.
    pub async fn changed_quotes_are_refused(
        &self,
        srv: &super::Server,
        token: &str,
        url: &str,
        quoted: &Value,
    ) {
        for (variant, field) in [
            ("amount", "amount"),
            ("payTo", "payTo"),
            ("asset", "asset"),
            ("network", "network"),
        ] {
            self.variant(variant).await;
            let r = srv
                .post(
                    "/v1/wallets/me/actions/pay",
                    Some(token),
                    &json!({"url": url, "quote": quoted}),
                )
                .await;
            let e = super::assert_error(&r, &[422], "invalid_request");
            assert_eq!(e["field"], "quote", "{variant}: {}", r.text);
            assert!(
                e["message"].as_str().unwrap().contains(field),
                "{variant}: {}",
                r.text
            );
        }
        self.variant("honest").await;
    }

    /// Its request log so far.
    pub fn seen(&self) -> Vec<Value> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Seller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The seller's current requirements, as a client is quoted them (one 402).
pub async fn quote(url: &str) -> Value {
    let r = reqwest::Client::new().get(url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 402);
    let h = r.headers()["payment-required"].to_str().unwrap().to_owned();
    let v: Value =
        serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(h).unwrap())
            .unwrap();
    v["accepts"][0].clone()
}

/// `POST {url}/_variant {"name"}` on a stand-in that can be made to misbehave, checking it
/// switched.
pub async fn set_variant(url: &str, name: &str) {
    let r: Value = super::client()
        .post(format!("{url}/_variant"))
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["variant"], name);
}

/// `n` concurrent `pay` requests for `url` with `token` (Idempotency-Keys `{key}-<i>`); how many
/// were paid. Every other answer must be the site's daily cap refusing.
pub async fn burst(base: &str, token: &str, url: &str, n: usize, key: &str) -> usize {
    let mut tasks = vec![];
    for i in 0..n {
        let (base, token, url) = (base.to_owned(), token.to_owned(), url.to_owned());
        let key = format!("{key}-{i}");
        tasks.push(tokio::spawn(async move {
            let r = super::client()
                .post(format!("{base}/v1/wallets/me/actions/pay"))
                .bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&json!({"url": url}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }));
    }
    let mut paid = 0;
    for t in tasks {
        let (status, text) = t.await.unwrap();
        match status {
            200 => paid += 1,
            403 => assert!(text.contains("payments.daily_usd_per_domain"), "{text}"),
            other => panic!("unexpected {other}: {text}"),
        }
    }
    paid
}
