//! A `custos serve` started for a benchmark: its own temporary data directory, loopback port
//! picked by the OS, environment overrides, and an agent logged in through the outbox.
//! Stopped (SIGTERM, then SIGKILL of its process group, which holds its enclave) when dropped.
use crate::http::{expect_json, Target};
use crate::BenchError;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How to start a server.
#[derive(Clone, Debug, Default)]
pub struct ServerSpec {
    /// Environment variables for the server (`CUSTOS_*`, `TOKIO_WORKER_THREADS`, …).
    pub env: Vec<(String, String)>,
    /// `taskset -c <cpus>` the server (and its enclave) when set.
    pub cpus: Option<String>,
    /// A configuration file's text, passed with `--config` (for what environment variables
    /// cannot say, such as `[[evm.chains]]`).
    pub config: Option<String>,
}

impl ServerSpec {
    /// Adds an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Generous rate limits so the limiter never refuses a benchmark request.
    pub fn generous_limits(self) -> Self {
        self.env("CUSTOS_RATE_LIMIT_GLOBAL_PER_MINUTE", "1000000000")
            .env("CUSTOS_RATE_LIMIT_PER_IP_PER_MINUTE", "1000000000")
            .env("CUSTOS_RATE_LIMIT_PER_AGENT_PER_MINUTE", "1000000000")
    }
}

/// A running `custos serve`.
pub struct CustosServer {
    _tmp: tempfile::TempDir,
    data_dir: PathBuf,
    child: Child,
    addr: SocketAddr,
}

impl CustosServer {
    /// The server's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Starts `binary serve` on a fresh data directory and waits until it listens.
    pub fn start(binary: &Path, spec: &ServerSpec) -> Result<Self, BenchError> {
        let tmp = tempfile::Builder::new()
            .prefix("custos-bench-")
            .tempdir()
            .map_err(|e| BenchError::io("creating a temporary directory", e))?;
        let data_dir = tmp.path().join("data");
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| BenchError::io("creating the data directory", e))?;
        let mut cmd = match &spec.cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpus).arg(binary);
                c
            }
            None => Command::new(binary),
        };
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("CUSTOS_") || k == "TOKIO_WORKER_THREADS" {
                cmd.env_remove(k);
            }
        }
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env("CUSTOS_LOG", "warn");
        if let Some(text) = &spec.config {
            let path = tmp.path().join("config.toml");
            std::fs::write(&path, text).map_err(|e| BenchError::io("writing the config", e))?;
            cmd.arg("--config").arg(path);
        }
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        let log = std::fs::File::create(tmp.path().join("server.log"))
            .map_err(|e| BenchError::io("creating the server log", e))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| BenchError::io(format!("starting {}", binary.display()), e))?;
        let mut server = Self {
            _tmp: tmp,
            data_dir,
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        server.wait_listening()?;
        Ok(server)
    }

    fn wait_listening(&mut self) -> Result<(), BenchError> {
        let path = self.data_dir.join("listen.addr");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(text) = std::fs::read_to_string(&path) {
                if let Ok(addr) = text.trim().parse::<SocketAddr>() {
                    self.addr = addr;
                    return Ok(());
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(BenchError::Unexpected {
                    what: "custos serve exited before listening".into(),
                    status: u16::try_from(status.code().unwrap_or(0)).unwrap_or(0),
                    body: self.log_tail(),
                });
            }
            if Instant::now() > deadline {
                return Err(BenchError::Timeout("custos serve".into()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last lines the server wrote to stderr.
    pub fn log_tail(&self) -> String {
        let text = self
            .data_dir
            .parent()
            .map(|p| std::fs::read_to_string(p.join("server.log")).unwrap_or_default())
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Logs `email` in through the outbox (OTP request, code from `outbox.jsonl`, verify) and
    /// returns the session token.
    pub async fn login(&self, email: &str) -> Result<String, BenchError> {
        let otp = Target::post_json(
            self.addr,
            "/v1/auth/otp",
            &serde_json::json!({"email": email}),
        );
        expect_json("requesting a login code", &otp, &[202]).await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let code = loop {
            if let Some(code) = self.outbox_code(email) {
                break code;
            }
            if Instant::now() > deadline {
                return Err(BenchError::Timeout("the login mail in the outbox".into()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let verify = Target::post_json(
            self.addr,
            "/v1/auth/verify",
            &serde_json::json!({"email": email, "code": code}),
        );
        let v = expect_json("verifying the login code", &verify, &[200]).await?;
        v["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| BenchError::Http("verify answered without a token".into()))
    }

    fn outbox_code(&self, email: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.data_dir.join("outbox.jsonl")).ok()?;
        text.lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["to"] == email)
            .filter_map(|m| m["code"].as_str().map(str::to_owned))
            .next()
    }

    /// `custos admin token --role admin` on this server's data directory.
    pub fn operator_token(&self, binary: &Path) -> Result<String, BenchError> {
        let out = Command::new(binary)
            .args(["admin", "token", "--role", "admin", "--data-dir"])
            .arg(&self.data_dir)
            .output()
            .map_err(|e| BenchError::io("running custos admin token", e))?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !out.status.success() || text.is_empty() {
            return Err(BenchError::Http(format!(
                "custos admin token failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(text)
    }

    /// Stops the server and its enclave.
    pub fn stop(&mut self) {
        stop_group(&mut self.child);
    }
}

impl Drop for CustosServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SIGTERM to `child`, up to 10 s to exit, then SIGKILL to its process group.
pub fn stop_group(child: &mut Child) {
    use rustix::process::{kill_process, kill_process_group, Pid, Signal};
    let Some(pid) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) else {
        return;
    };
    if matches!(child.try_wait(), Ok(None)) {
        let _ = kill_process(pid, Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let _ = kill_process_group(pid, Signal::KILL);
    let _ = child.kill();
    let _ = child.wait();
}

/// A local anvil node (EVM) on a free loopback port; killed on drop.
pub struct Anvil {
    child: Child,
    addr: SocketAddr,
}

impl Anvil {
    /// Starts `binary` for `chain_id` and waits until it answers JSON-RPC.
    pub async fn start(binary: &Path, chain_id: u64) -> Result<Self, BenchError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| BenchError::io("finding a free port", e))?
            .port();
        let child = Command::new(binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--chain-id", &chain_id.to_string(), "--silent"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| BenchError::io(format!("starting {}", binary.display()), e))?;
        let node = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if node.rpc("eth_chainId", serde_json::json!([])).await.is_ok() {
                return Ok(node);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(BenchError::Invalid("anvil did not start".into()))
    }

    /// The node's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// One JSON-RPC call.
    pub async fn rpc(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, BenchError> {
        let t = crate::http::Target::post_json(
            self.addr,
            "/",
            &serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}),
        );
        let v = crate::http::expect_json(method, &t, &[200]).await?;
        if let Some(e) = v.get("error") {
            return Err(BenchError::Invalid(format!("{method}: {e}")));
        }
        Ok(v["result"].clone())
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
