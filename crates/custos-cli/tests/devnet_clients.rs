//! `custos devnet` against real Solana clients: @solana/web3.js 1.99 with @solana/spl-token
//! 0.4.15 (scripts/solana_web3/devnet_client.js), which confirm through the PubSub WebSocket
//! they find on the HTTP port + 1, and solana-py 0.41's WebSocket client
//! (scripts/solana_client.py); plus the slot clock and a restart that keeps the slot.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{custos_command, repo_root};
use serde_json::{json, Value};
use std::io::BufRead as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How long one client script may run.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(150);

/// `custos devnet` on free ports; stopped (SIGTERM, then killed) on drop.
struct Devnet {
    child: std::process::Child,
    url: String,
    ws_url: String,
}

impl Devnet {
    fn start(data_dir: &std::path::Path, slot_ms: u64) -> Self {
        let mut child = custos_command()
            .args(["devnet", "--listen", "127.0.0.1:0", "--slot-ms"])
            .arg(slot_ms.to_string())
            .arg("--data-dir")
            .arg(data_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let (mut url, mut ws_url) = (String::new(), String::new());
        out.read_line(&mut url).unwrap();
        out.read_line(&mut ws_url).unwrap();
        let (url, ws_url) = (url.trim().to_string(), ws_url.trim().to_string());
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "devnet printed {url:?}"
        );
        assert!(
            ws_url.starts_with("ws://127.0.0.1:"),
            "devnet printed {ws_url:?}"
        );
        Self { child, url, ws_url }
    }

    fn port(url: &str) -> u16 {
        url.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// SIGTERM, as an operator stops it, and wait for it to exit.
    fn stop(mut self) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let t0 = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "devnet did not stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn rpc(url: &str, method: &str, params: Value) -> Value {
    let v: Value = common::client()
        .post(url)
        .json(&json!({"jsonrpc": "2.0", "id": "a-string-id", "method": method, "params": params}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["id"], "a-string-id", "{v}");
    assert!(v.get("error").is_none(), "{method}: {v}");
    v["result"].clone()
}

async fn run(program: &str, args: &[&str]) -> Value {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args).kill_on_drop(true);
    let t0 = Instant::now();
    let out = tokio::time::timeout(SCRIPT_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{program} {args:?} ran longer than {SCRIPT_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("{program}: {e} (scripts/test-deps.sh installs it)"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{program} {args:?}: {:?}", t0.elapsed());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web3_js_and_spl_token_confirm_read_back_and_see_blockhashes_expire() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(&dir.path().join("devnet"), 400);
    // web3.js derives the WebSocket from the HTTP URL: the port after it.
    assert_eq!(
        Devnet::port(&devnet.ws_url),
        Devnet::port(&devnet.url) + 1,
        "{} {}",
        devnet.url,
        devnet.ws_url
    );
    let script = repo_root().join("scripts/solana_web3/devnet_client.js");
    assert!(
        repo_root()
            .join("scripts/solana_web3/node_modules")
            .exists(),
        "run scripts/test-deps.sh (npm ci of scripts/solana_web3)"
    );
    let v = run("node", &[script.to_str().unwrap(), &devnet.url]).await;
    assert!(v["sol_transfer"].is_string(), "{v}");
    assert!(v["token_transfer"].is_string(), "{v}");
    assert!(v["preflight"]["logs"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(
        v["skip_preflight"]["err"],
        json!({"InstructionError": [0, {"Custom": 1}]}),
        "{v}"
    );
    assert_eq!(v["skip_preflight"]["fee"], 5000, "{v}");
    assert_eq!(
        v["expiry"]["expired"], "TransactionExpiredBlockheightExceededError",
        "{v}"
    );
    eprintln!("web3.js timings (ms): {}", v["timings_ms"]);
    devnet.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn solana_py_confirms_over_the_websocket() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(&dir.path().join("devnet"), 400);
    let script = repo_root().join("scripts/solana_client.py");
    let v = run(
        "python3",
        &[script.to_str().unwrap(), &devnet.url, &devnet.ws_url],
    )
    .await;
    assert_eq!(v["slot_notification"], "SlotNotification", "{v}");
    let sig = v["ws_confirmed"].as_str().unwrap();
    let st = rpc(&devnet.url, "getSignatureStatuses", json!([[sig]])).await;
    assert_eq!(st["value"][0]["err"], Value::Null, "{st}");
    assert_eq!(v["bob"], 500_001_000u64, "{v}");
    devnet.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_advance_on_the_clock_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("devnet");
    let devnet = Devnet::start(&data, 50);
    let first = rpc(&devnet.url, "getLatestBlockhash", json!([])).await;
    let s0 = rpc(&devnet.url, "getSlot", json!([]))
        .await
        .as_u64()
        .unwrap();
    let t0 = Instant::now();
    let mut s1 = s0;
    while s1 < s0 + 5 {
        assert!(t0.elapsed() < Duration::from_secs(10), "slot stuck at {s1}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        s1 = rpc(&devnet.url, "getSlot", json!([]))
            .await
            .as_u64()
            .unwrap();
    }
    // Nothing landed, yet a new blockhash came with every slot.
    let second = rpc(&devnet.url, "getLatestBlockhash", json!([])).await;
    assert_ne!(first["value"]["blockhash"], second["value"]["blockhash"]);
    assert!(
        second["value"]["lastValidBlockHeight"].as_u64().unwrap()
            > first["value"]["lastValidBlockHeight"].as_u64().unwrap()
    );
    let epoch = rpc(&devnet.url, "getEpochInfo", json!([])).await;
    assert!(epoch["transactionCount"].is_u64(), "{epoch}");
    let advanced = rpc(&devnet.url, "custos_advanceSlots", json!([1000]))
        .await
        .as_u64()
        .unwrap();
    assert!(advanced >= s1 + 1000);
    devnet.stop();

    // The slot the clock reached is saved when the devnet stops.
    let devnet = Devnet::start(&data, 0);
    let after = rpc(&devnet.url, "getSlot", json!([]))
        .await
        .as_u64()
        .unwrap();
    assert!(
        after >= advanced,
        "restarted at slot {after}, was {advanced}"
    );
    // With --slot-ms 0 slots pass only when transactions land.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        rpc(&devnet.url, "getSlot", json!([]))
            .await
            .as_u64()
            .unwrap(),
        after
    );
}
