//! `custos demo`: the first thing a new user runs. Starts `custos serve` on embedded defaults
//! (its own data directory, a free port), logs an agent in through the development outbox,
//! airdrops SOL on the embedded devnet, makes a transfer the default policy allows, shows one
//! it denies (with the rules that denied it), and finishes with `custos audit verify`.
//!
//! It talks to the server over HTTP exactly as an agent would; nothing here reaches inside.
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const EMAIL: &str = "demo-agent@example.com";

/// The recipient: any valid address; on a fresh embedded devnet this one is an empty account.
const RECIPIENT: &str = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin";

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.0.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn step(n: u32, what: &str) {
    println!("\n== {n}. {what}");
}

fn show(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

async fn wait_addr(dir: &Path, child: &mut Child) -> Result<String> {
    let path = dir.join("listen.addr");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Ok(a) = text.trim().parse::<std::net::SocketAddr>() {
                return Ok(format!("http://{a}"));
            }
        }
        if let Some(status) = child.0.try_wait()? {
            bail!("custos serve exited during start-up ({status})");
        }
        if Instant::now() > deadline {
            bail!("custos serve did not start within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<(u16, Value)> {
    let mut rb = http.request(method, &url);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb
        .send()
        .await
        .with_context(|| format!("request to {url}"))?;
    let status = r.status().as_u16();
    let text = r.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

async fn otp_code(outbox: &Path) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(outbox).unwrap_or_default();
        if let Some(code) = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| m["to"] == EMAIL)
            .filter_map(|m| m["code"].as_str().map(str::to_owned))
            .next_back()
        {
            return Ok(code);
        }
        if Instant::now() > deadline {
            bail!("no login code arrived in {}", outbox.display());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `custos demo`.
pub async fn run(data_dir: Option<PathBuf>) -> Result<ExitCode> {
    let (dir, _keep) = match data_dir {
        Some(d) => (d, None),
        None => {
            let t = tempfile::Builder::new().prefix("custos-demo-").tempdir()?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let exe = std::env::current_exe().context("cannot find the custos executable")?;
    println!("Custos demo — data directory {}", dir.display());
    step(
        1,
        "start `custos serve` on embedded defaults (SQLite, local enclave, embedded Solana devnet)",
    );
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let log_path = dir.join("demo-serve.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    println!("server log: {}", log_path.display());
    let _ = std::fs::remove_file(dir.join("listen.addr"));
    let mut child = Child(
        std::process::Command::new(exe)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start custos serve")?,
    );
    let base = wait_addr(&dir, &mut child).await?;
    println!("listening on {base}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    use reqwest::Method;

    step(
        2,
        &format!(
            "log in as {EMAIL}: request a code, read it from the development outbox, verify it"
        ),
    );
    let (s, v) = call(
        &http,
        Method::POST,
        format!("{base}/v1/auth/otp"),
        None,
        Some(json!({"email": EMAIL})),
    )
    .await?;
    if s != 202 {
        bail!("POST /v1/auth/otp → {s}: {v}");
    }
    let code = otp_code(&dir.join("outbox.jsonl")).await?;
    let (s, v) = call(
        &http,
        Method::POST,
        format!("{base}/v1/auth/verify"),
        None,
        Some(json!({"email": EMAIL, "code": code})),
    )
    .await?;
    if s != 200 {
        bail!("POST /v1/auth/verify → {s}: {v}");
    }
    let token = v["token"]
        .as_str()
        .context("no token in the verify response")?
        .to_owned();
    println!(
        "agent {} logged in (JWT issued; the code was single-use)",
        v["agent_id"]
    );
    let (_, me) = call(
        &http,
        Method::GET,
        format!("{base}/v1/wallets/me"),
        Some(&token),
        None,
    )
    .await?;
    show(&me);

    step(3, "airdrop 2 SOL from the embedded devnet's faucet");
    let (s, v) = call(
        &http,
        Method::POST,
        format!("{base}/v1/dev/airdrop"),
        Some(&token),
        Some(json!({"chain": "solana", "asset": "SOL", "amount": "2"})),
    )
    .await?;
    if s != 200 {
        bail!("POST /v1/dev/airdrop → {s}: {v}");
    }
    let (_, v) = call(
        &http,
        Method::GET,
        format!("{base}/v1/wallets/me/balances"),
        Some(&token),
        None,
    )
    .await?;
    show(&v);

    step(
        4,
        "transfer 0.1 SOL (about 15 USD; the default policy allows up to 25 USD per transaction)",
    );
    let (s, v) = call(
        &http,
        Method::POST,
        format!("{base}/v1/wallets/me/actions/transfer"),
        Some(&token),
        Some(json!({"chain": "solana", "to": RECIPIENT, "asset": "SOL", "amount": "0.1"})),
    )
    .await?;
    println!("HTTP {s}");
    show(&v);
    if s != 200 {
        bail!("the allowed transfer failed");
    }

    step(
        5,
        "transfer 1 SOL (about 150 USD): the policy denies it and says which rules",
    );
    let (s, v) = call(
        &http,
        Method::POST,
        format!("{base}/v1/wallets/me/actions/transfer"),
        Some(&token),
        Some(json!({"chain": "solana", "to": RECIPIENT, "asset": "SOL", "amount": "1"})),
    )
    .await?;
    println!("HTTP {s}");
    show(&v);
    if s != 403 {
        bail!("expected a policy denial");
    }

    step(6, "the agent's own audit trail");
    let (_, v) = call(
        &http,
        Method::GET,
        format!("{base}/v1/wallets/me/audit"),
        Some(&token),
        None,
    )
    .await?;
    for r in v["records"].as_array().into_iter().flatten() {
        println!(
            "#{:<4} {:<22} {:<8} {} {}",
            r["id"],
            r["action"].as_str().unwrap_or(""),
            r["outcome"].as_str().unwrap_or(""),
            r["tx"].as_str().unwrap_or(""),
            r["reason"].as_str().unwrap_or("")
        );
    }
    drop(child);

    step(7, "custos audit verify");
    let common = crate::Common {
        config: None,
        data_dir: Some(dir.clone()),
    };
    let code = crate::commands::audit_verify(common).await?;
    println!("\nDone. `custos serve` runs the same server on ./custos-data; the README explains the rest.");
    Ok(code)
}
