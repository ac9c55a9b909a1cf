//! Two API replicas on one PostgreSQL, one Redis and one enclave (`scripts/replicas.sh`, the
//! same script an operator runs): a daily cap holds across both, one Idempotency-Key retried on
//! both signs once and debits once, the per-agent rate limit is counted across both, and the
//! audit chain they write together is one chain that verifies. Needs the PostgreSQL and Redis
//! this machine runs (the script starts them if they are stopped).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{client, custos_command, repo_root, CUSTOS};
use serde_json::{json, Value};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The running set.
struct Replicas {
    child: Child,
    dir: tempfile::TempDir,
    urls: [String; 2],
    a_dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Replicas {
    async fn start(settings: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let extra = dir.path().join("extra.env");
        let lines: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        std::fs::write(&extra, lines.join("\n")).unwrap();
        let mut cmd = Command::new("bash");
        cmd.arg(repo_root().join("scripts/replicas.sh"))
            .arg("--dir")
            .arg(dir.path().join("set"))
            .arg("--binary")
            .arg(CUSTOS)
            .arg("--env")
            .arg(&extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("replicas.log")).unwrap())
            .process_group(0);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("CUSTOS_") {
                cmd.env_remove(k);
            }
        }
        let child = cmd.spawn().expect("scripts/replicas.sh");
        let set = dir.path().join("set");
        let deadline = Instant::now() + Duration::from_secs(120);
        while !set.join("ready").exists() {
            assert!(
                Instant::now() < deadline,
                "replicas did not start: {}",
                std::fs::read_to_string(dir.path().join("replicas.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let text = std::fs::read_to_string(set.join("replicas.env")).unwrap();
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap()
                .to_owned()
        };
        let env = text
            .lines()
            .filter(|l| l.starts_with("CUSTOS_"))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Self {
            urls: [get("A_URL"), get("B_URL")],
            a_dir: PathBuf::from(get("A_DIR")),
            env,
            child,
            dir,
        }
    }

    /// Replica `i % 2`.
    fn url(&self, i: usize) -> &str {
        &self.urls[i % 2]
    }

    /// `custos ARGS… --data-dir A` with the replicas' settings (database included).
    fn cli(&self, args: &[&str]) -> std::process::Output {
        custos_command()
            .args(args)
            .arg("--data-dir")
            .arg(&self.a_dir)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap()
    }

    fn operator_token(&self) -> String {
        let out = self.cli(&["admin", "token", "--role", "admin"]);
        assert!(out.status.success(), "{out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        stdout.trim().to_owned()
    }

    /// Asks replica A for a login code and redeems it at replica B (they share the pepper and
    /// the token key); returns (token, agent id).
    async fn login(&self, email: &str) -> (String, String) {
        let r = client()
            .post(format!("{}/v1/auth/otp", self.url(0)))
            .json(&json!({ "email": email }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let deadline = Instant::now() + Duration::from_secs(10);
        let code = loop {
            let text = std::fs::read_to_string(self.a_dir.join("outbox.jsonl")).unwrap_or_default();
            if let Some(code) = text
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .rev()
                .find(|m| m["to"] == email)
                .and_then(|m| m["code"].as_str().map(str::to_owned))
            {
                break code;
            }
            assert!(Instant::now() < deadline, "no login code for {email}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let v: Value = client()
            .post(format!("{}/v1/auth/verify", self.url(1)))
            .json(&json!({ "email": email, "code": code }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            v["token"].as_str().unwrap().to_owned(),
            v["agent_id"].as_str().unwrap().to_owned(),
        )
    }

    /// Airdrops `lamports` to the agent's Solana address on the shared devnet (JSON-RPC
    /// `requestAirdrop`: the development faucet endpoint serves only an embedded devnet).
    async fn fund(&self, token: &str, lamports: u64) {
        let (_, me) = call(
            reqwest::Method::GET,
            format!("{}/v1/wallets/me", self.url(0)),
            token,
            None,
        )
        .await;
        let address = me["addresses"]["solana"].as_str().unwrap().to_owned();
        // `custos devnet` prints its JSON-RPC URL, then its WebSocket URL.
        let urls = std::fs::read_to_string(self.dir.path().join("set/devnet.url")).unwrap();
        let rpc = urls.lines().next().unwrap_or_default().trim().to_owned();
        let v: Value = client()
            .post(rpc)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "requestAirdrop", "params": [address, lamports]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(v["result"].is_string(), "{v}");
    }

    /// The enclave's decision records of `agent`'s signatures.
    fn signed_by_enclave(&self, agent: &str) -> usize {
        let log = self.dir.path().join("set/enclave/decisions.log");
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| r["event"] == "sign" && r["outcome"] == "signed" && r["wallet"] == agent)
            .count()
    }
}

impl Drop for Replicas {
    fn drop(&mut self) {
        // The script stops everything it started when it gets SIGTERM.
        let pid = self.child.id() as i32;
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", &format!("-{pid}")])
            .status();
        let _ = self.child.wait();
    }
}

async fn call(
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut rb = client().request(method, url).bearer_auth(token);
    if let Some(b) = body {
        rb = rb.json(b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn random_address() -> String {
    let mut b = [0u8; 32];
    b[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    b[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bs58::encode(b).into_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_keep_caps_idempotency_rate_limits_and_one_audit_chain() {
    let set = Replicas::start(&[
        ("CUSTOS_RATE_LIMIT_GLOBAL_PER_MINUTE", "100000"),
        ("CUSTOS_RATE_LIMIT_PER_IP_PER_MINUTE", "100000"),
        ("CUSTOS_RATE_LIMIT_PER_AGENT_PER_MINUTE", "150"),
        // Every request below opens its own connection, and the server reaps closed ones
        // lazily: the per-address connection cap is not what this test is about.
        ("CUSTOS_SERVER_MAX_CONNECTIONS_PER_IP", "100000"),
    ])
    .await;
    let op = set.operator_token();
    let policy = json!({
        "actions": {"transfer": true},
        "chains": ["solana"],
        "limits": {"per_tx_usd": "10", "daily_usd": "100", "max_tx_per_hour": 1000},
        "recipients": {"mode": "any", "allow": [], "deny": []}
    });

    // ---- a daily cap across both: 50 concurrent transfers, split, fit exactly 13 ----
    let (token, agent) = set.login("cap@example.com").await;
    let (s, v) = call(
        reqwest::Method::PUT,
        format!("{}/v1/admin/agents/{agent}/policy", set.url(1)),
        &op,
        Some(&policy),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    set.fund(&token, 10_000_000_000).await;
    let mut tasks = vec![];
    for i in 0..50 {
        let url = format!("{}/v1/wallets/me/actions/transfer", set.url(i));
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let body = json!({"chain": "solana", "to": random_address(), "asset": "SOL", "amount": "0.05"});
            call(reqwest::Method::POST, url, &token, Some(&body)).await
        }));
    }
    let (mut ok, mut capped) = ([0; 2], 0);
    for (i, t) in tasks.into_iter().enumerate() {
        let (status, body) = t.await.unwrap();
        match status {
            200 => ok[i % 2] += 1,
            403 if body.to_string().contains("limits.daily_usd") => capped += 1,
            _ => panic!("unexpected {status}: {body}"),
        }
    }
    // 0.05 SOL + fee = 7.50075 USD each; 100 USD fits 13 (97.51), whichever replica took them.
    assert_eq!(ok[0] + ok[1], 13, "exactly the cap's worth: {ok:?}");
    assert_eq!(capped, 37);
    // However they split (each replica judged 25), a replica with counts of its own would
    // have allowed up to 13 more.
    assert_eq!(set.signed_by_enclave(&agent), 13);

    // ---- one Idempotency-Key, 100 parallel retries split across both: one signature ----
    let (token, agent) = set.login("retry@example.com").await;
    call(
        reqwest::Method::PUT,
        format!("{}/v1/admin/agents/{agent}/policy", set.url(0)),
        &op,
        Some(&policy),
    )
    .await;
    set.fund(&token, 1_000_000_000).await;
    let to = random_address();
    let body = json!({"chain": "solana", "to": to, "asset": "SOL", "amount": "0.01"});
    let mut tasks = vec![];
    for i in 0..100 {
        let url = format!("{}/v1/wallets/me/actions/transfer", set.url(i));
        let (token, body) = (token.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let r = client()
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", "replicas-retry-1")
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }));
    }
    let mut txs = std::collections::BTreeSet::new();
    for t in tasks {
        let (status, v) = t.await.unwrap();
        match status {
            200 => {
                txs.insert(v["tx"].as_str().unwrap().to_owned());
            }
            409 => {}
            _ => panic!("unexpected {status}: {v}"),
        }
    }
    assert_eq!(
        txs.len(),
        1,
        "every answered retry names the one transaction: {txs:?}"
    );
    assert_eq!(set.signed_by_enclave(&agent), 1, "one signature");
    // Once done, a retry at either replica returns the same transaction.
    for i in 0..2 {
        let r = client()
            .post(format!("{}/v1/wallets/me/actions/transfer", set.url(i)))
            .bearer_auth(&token)
            .header("Idempotency-Key", "replicas-retry-1")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let v: Value = r.json().await.unwrap();
        assert!(txs.contains(v["tx"].as_str().unwrap()), "{v}");
    }
    // One debit: the recipient got 0.01 SOL once, the sender paid once.
    let (_, bal) = call(
        reqwest::Method::GET,
        format!("{}/v1/wallets/me/balances", set.url(0)),
        &token,
        None,
    )
    .await;
    let sol: f64 = bal["balances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["asset"] == "SOL")
        .unwrap()["amount"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (sol - (1.0 - 0.01 - 0.000005)).abs() < 1e-9,
        "balance {sol}"
    );

    // ---- the per-agent limit (150 a minute) is counted across both ----
    // 200 requests, alternating replicas, 20 in flight at a time on one pooled client.
    let (token, _) = set.login("limit@example.com").await;
    let pooled = client();
    let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(20));
    let mut tasks = vec![];
    for i in 0..200 {
        let url = format!("{}/v1/wallets/me", set.url(i));
        let (token, pooled, in_flight) = (token.clone(), pooled.clone(), in_flight.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = in_flight.acquire_owned().await.unwrap();
            let r = pooled.get(url).bearer_auth(token).send().await.unwrap();
            r.status().as_u16()
        }));
    }
    let (mut admitted, mut limited) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            200 => admitted += 1,
            429 => limited += 1,
            s => panic!("unexpected {s}"),
        }
    }
    assert_eq!((admitted, limited), (150, 50));

    // ---- one audit chain, written by both, verifies from either ----
    let mut records = vec![];
    for i in 0..2 {
        let (s, v) = call(
            reqwest::Method::GET,
            format!("{}/v1/admin/audit/verify", set.url(i)),
            &op,
            None,
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["ok"], true, "{v}");
        records.push(v["records"].as_u64().unwrap());
    }
    assert!(records[0] > 300, "{records:?}");
    assert!(records[1] >= records[0], "{records:?}");
}
