//! Test harness: each test starts its own `custos serve` on a fresh temporary data directory and
//! drives it over HTTP and through the CLI, exactly as a user would.
//!
//! Layout of a test's temporary directory: `data/` (the server's data dir), `config.toml` (when
//! the test gives one), `server.stdout`, `server.stderr` (everything the server and its enclave
//! print). Set `CUSTOS_TEST_KEEP=1` to keep the directory after the test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod devnet;
pub mod evm;
pub mod kalshi;
pub mod receiver;
pub mod x402;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Reads a helper process's stdout as JSON lines: the first line `ready` accepts is returned
/// (within `timeout`, else the test fails naming `what`), every other line is kept in the log.
pub fn json_lines(
    child: &mut Child,
    ready: fn(&Value) -> bool,
    timeout: Duration,
    what: &str,
) -> (Value, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use std::io::BufRead as _;
    let out = child.stdout.take().expect("the helper's stdout is piped");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(vec![]));
    let (tx, rx) = std::sync::mpsc::channel();
    let log = seen.clone();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if tx.is_some() && ready(&v) {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(v);
                }
            } else {
                log.lock().unwrap().push(v);
            }
        }
    });
    let first = rx
        .recv_timeout(timeout)
        .unwrap_or_else(|_| panic!("{what} did not start"));
    (first, seen)
}

/// The `custos` binary under test.
pub const CUSTOS: &str = env!("CARGO_BIN_EXE_custos");

/// How long a server may take to write `listen.addr`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Repository root (for scripts/).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A `Command` for the binary with no `CUSTOS_*` variables inherited from the caller's shell,
/// so a developer's environment cannot change what a test sees.
pub fn custos_command() -> Command {
    let mut cmd = Command::new(CUSTOS);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("CUSTOS_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// What runs on the data directory before the server starts.
type Prepare = Box<dyn FnOnce(&Path)>;

/// Builds a server: optional config file text and environment overrides.
#[derive(Default)]
pub struct ServerBuilder {
    config: Option<String>,
    env: Vec<(String, String)>,
    prepare: Option<Prepare>,
}

impl ServerBuilder {
    /// The text of a TOML config file passed with `--config`.
    pub fn config(mut self, toml: &str) -> Self {
        self.config = Some(toml.to_string());
        self
    }

    /// An environment variable for the server process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Runs `f` on the (empty) data directory before the server starts, e.g. to mount a
    /// file system there.
    pub fn prepare(mut self, f: impl FnOnce(&Path) + 'static) -> Self {
        self.prepare = Some(Box::new(f));
        self
    }

    /// Spawns `custos serve` without waiting for it; for tests that expect it to fail.
    pub fn spawn(self) -> Server {
        let tmp = tempfile::Builder::new()
            .prefix("custos-test-")
            .tempdir()
            .unwrap();
        let root = tmp.path().to_path_buf();
        let data_dir = root.join("data");
        fs::create_dir_all(&data_dir).unwrap();
        if let Some(f) = self.prepare {
            f(&data_dir);
        }
        let child = serve_command(&root, &data_dir, self.config.as_deref(), &self.env)
            .spawn()
            .expect("spawn custos serve");
        Server {
            tmp: Some(tmp),
            root,
            data_dir,
            child,
            addr: None,
            client: client(),
        }
    }

    /// Starts `custos serve` and waits until it listens.
    pub async fn start(self) -> Server {
        let mut server = self.spawn();
        server.wait_listening().await;
        server
    }
}

/// `custos serve` on `data_dir`, with an optional config file written under `root`.
fn serve_command(
    root: &Path,
    data_dir: &Path,
    config: Option<&str>,
    env: &[(String, String)],
) -> Command {
    let mut cmd = custos_command();
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--listen")
        .arg("127.0.0.1:0");
    if let Some(text) = config {
        let path = root.join("config.toml");
        fs::write(&path, text).unwrap();
        cmd.arg("--config").arg(&path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let stdout = File::options()
        .create(true)
        .append(true)
        .open(root.join("server.stdout"))
        .unwrap();
    let stderr = File::options()
        .create(true)
        .append(true)
        .open(root.join("server.stderr"))
        .unwrap();
    cmd.stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        // Its own process group, so the enclave child it spawns can be ended with it.
        .process_group(0);
    cmd
}

/// An HTTP client that never goes through a proxy from the environment. Idle connections are
/// dropped after 5 s: the server closes one idle for `server.header_read_timeout_seconds` (10 s
/// by default), and a request sent on it just then fails with `IncompleteMessage`.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_idle_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A running `custos serve`. Stopped (SIGTERM, then SIGKILL of its process group) when dropped.
pub struct Server {
    tmp: Option<tempfile::TempDir>,
    /// The test's temporary directory.
    pub root: PathBuf,
    /// The server's `--data-dir`.
    pub data_dir: PathBuf,
    child: Child,
    addr: Option<SocketAddr>,
    /// Shared HTTP client.
    pub client: reqwest::Client,
}

/// An agent session obtained by OTP login.
#[derive(Clone, Debug)]
pub struct Session {
    pub email: String,
    pub token: String,
    pub agent_id: String,
    pub expires_at: Value,
}

/// A response read in full.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("<non-ascii>").to_string())
    }

    /// Panics with the response shown unless the status is `status`.
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }
}

impl Server {
    /// Default server: no config file, no overrides.
    pub async fn start() -> Server {
        ServerBuilder::default().start().await
    }

    /// A builder for a server with config or environment.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The `custos serve` process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's child processes (its supervised enclave), from `/proc`.
    pub fn children(&self) -> Vec<u32> {
        std::fs::read_dir(format!("/proc/{}/task", self.pid()))
            .map(|tasks| {
                tasks
                    .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("children")).ok())
                    .flat_map(|c| {
                        c.split_whitespace()
                            .filter_map(|p| p.parse().ok())
                            .collect::<Vec<u32>>()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("server not listening")
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&fs::read(self.root.join("server.stderr")).unwrap_or_default())
            .into_owned()
    }

    /// Everything the server wrote to stdout so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&fs::read(self.root.join("server.stdout")).unwrap_or_default())
            .into_owned()
    }

    async fn wait_listening(&mut self) {
        let path = self.data_dir.join("listen.addr");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(text) = fs::read_to_string(&path) {
                if let Ok(addr) = text.trim().parse::<SocketAddr>() {
                    self.addr = Some(addr);
                    return;
                }
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "custos serve exited with {status} before listening\n--- stderr ---\n{}\n--- stdout ---\n{}",
                    self.stderr(),
                    self.stdout()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "custos serve did not write {} within {:?}\n--- stderr ---\n{}",
                    path.display(),
                    START_TIMEOUT,
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the server gracefully and starts it again on the same data directory, with
    /// `config` as its new config file (`None`: none).
    pub async fn restart(&mut self, config: Option<&str>) {
        self.restart_with(config, &[]).await;
    }

    /// [`Server::restart`] with environment variables for the new process.
    pub async fn restart_with(&mut self, config: Option<&str>, env: &[(&str, &str)]) {
        self.stop();
        let _ = fs::remove_file(self.data_dir.join("listen.addr"));
        self.addr = None;
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.child = serve_command(&self.root, &self.data_dir, config, &env)
            .spawn()
            .expect("respawn custos serve");
        self.wait_listening().await;
    }

    /// Waits up to `timeout` for the process to exit by itself; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM to the server's whole process group (as systemd's `KillMode=control-group`
    /// and Ctrl-C in a terminal do) and waits up to `grace` for the server to exit.
    pub fn terminate_group(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id();
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{pid}")])
            .stderr(Stdio::null())
            .status();
        self.wait_exit(grace)
    }

    /// Stops the server gracefully: SIGTERM and up to 20 s to exit (in-flight requests finish,
    /// the audit log and logs are flushed), then SIGKILL to its process group. Idempotent.
    pub fn stop(&mut self) {
        self.stop_within(Duration::from_secs(20));
    }

    /// SIGTERM, up to `grace` for the process to exit, then SIGKILL to its process group (which
    /// also ends an enclave child left behind).
    pub fn stop_within(&mut self, grace: Duration) {
        let pid = self.child.id();
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
            if self.wait_exit(grace).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stderr(Stdio::null())
            .status();
    }

    // --- HTTP ---------------------------------------------------------------------------------

    /// A request builder for `path` (starting with `/`).
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.base(), path))
    }

    /// Sends a request and reads the whole response.
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let resp = rb.send().await.expect("request failed");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        Resp {
            status,
            headers,
            text,
        }
    }

    /// `GET path`, with a bearer token if given.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        let mut rb = self.request(Method::GET, path);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        self.send(rb).await
    }

    /// `POST path` with a JSON body, with a bearer token if given.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Resp {
        let mut rb = self.request(Method::POST, path).json(body);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        self.send(rb).await
    }

    /// `POST path` with a raw body and `Content-Type: application/json`.
    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Resp {
        let mut rb = self
            .request(Method::POST, path)
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        self.send(rb).await
    }

    /// Any method with an optional JSON body and token.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        let mut rb = self.request(method, path);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        self.send(rb).await
    }

    // --- Mail and login -----------------------------------------------------------------------

    /// All mails in the outbox addressed to `email`.
    pub fn outbox(&self, email: &str) -> Vec<Value> {
        let text = fs::read_to_string(self.data_dir.join("outbox.jsonl")).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str::<Value>(l).expect("outbox line is JSON"))
            .filter(|m| m["to"] == email)
            .collect()
    }

    /// Asks for an OTP (expects 202 `{"sent":true}`) and returns the code from the outbox.
    pub async fn request_otp(&self, email: &str) -> String {
        let before = self.outbox(email).len();
        let r = self
            .post("/v1/auth/otp", None, &json!({ "email": email }))
            .await;
        assert_eq!(r.status, 202, "POST /v1/auth/otp: {}", r.text);
        assert_eq!(r.json(), json!({"sent": true}));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mails = self.outbox(email);
            if mails.len() > before {
                let mail = mails.last().unwrap();
                let code = mail["code"]
                    .as_str()
                    .expect("outbox mail has a code")
                    .to_string();
                assert!(
                    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
                    "OTP is not 6 digits: {code:?}"
                );
                return code;
            }
            assert!(
                Instant::now() < deadline,
                "no mail to {email} in the outbox"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `POST /v1/auth/verify`.
    pub async fn verify(&self, email: &str, code: &str) -> Resp {
        self.post(
            "/v1/auth/verify",
            None,
            &json!({ "email": email, "code": code }),
        )
        .await
    }

    /// OTP login through the outbox.
    pub async fn login(&self, email: &str) -> Session {
        let code = self.request_otp(email).await;
        let r = self.verify(email, &code).await;
        assert_eq!(r.status, 200, "POST /v1/auth/verify: {}", r.text);
        let v = r.json();
        let token = v["token"].as_str().expect("token").to_string();
        let agent_id = v["agent_id"].as_str().expect("agent_id").to_string();
        assert!(!v["expires_at"].is_null(), "expires_at missing: {v}");
        Session {
            email: email.to_string(),
            token,
            agent_id,
            expires_at: v["expires_at"].clone(),
        }
    }

    // --- CLI ----------------------------------------------------------------------------------

    /// Runs `custos ARGS... --data-dir DIR`.
    pub fn cli(&self, args: &[&str]) -> Output {
        custos_command()
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .stdin(Stdio::null())
            .output()
            .expect("run custos")
    }

    /// `POST /v1/admin/agents/{agent}/freeze` as the operator `token`; asserts a 200.
    pub async fn freeze(&self, agent: &str, token: &str) {
        let r = self
            .call(
                Method::POST,
                &format!("/v1/admin/agents/{agent}/freeze"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "freeze: {}", r.text);
    }

    /// `custos admin token --role ROLE`: a new operator bearer token.
    pub fn operator_token(&self, role: &str) -> String {
        let out = self.cli(&["admin", "token", "--role", role]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "custos admin token failed: {}\n{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(
            lines.len(),
            1,
            "admin token must print one line, got {stdout:?}"
        );
        lines[0].trim().to_string()
    }

    // --- Agent actions ------------------------------------------------------------------------

    /// `POST /v1/wallets/me/actions/sign` of a UTF-8 message.
    pub async fn sign(&self, token: &str, message: &str) -> Resp {
        self.post(
            "/v1/wallets/me/actions/sign",
            Some(token),
            &json!({"chain": "message", "message": message}),
        )
        .await
    }

    /// `POST /v1/wallets/me/actions/transfer` of `amount` SOL on Solana to `to`.
    pub async fn transfer_sol(&self, token: &str, to: &str, amount: &str) -> Resp {
        self.post(
            "/v1/wallets/me/actions/transfer",
            Some(token),
            &json!({"chain": "solana", "to": to, "asset": "SOL", "amount": amount}),
        )
        .await
    }

    /// `POST /v1/auth/verify` with a code that is not `email`'s; asserts the `401`.
    pub async fn refused_login(&self, email: &str) {
        let r = self
            .post(
                "/v1/auth/verify",
                None,
                &json!({"email": email, "code": "000000"}),
            )
            .await;
        assert_eq!(r.status, 401, "{}", r.text);
    }

    /// Logs `email` in, gives it a Solana transfer policy with `daily_usd` (per transaction
    /// 20 USD, so one 0.1 SOL transfer is 15 USD) and airdrops it 1 SOL on the devnet.
    pub async fn funded_solana_agent(&self, email: &str, daily_usd: &str) -> Session {
        let s = self.login(email).await;
        let op = self.operator_token("admin");
        let policy = json!({
            "actions": {"transfer": true},
            "chains": ["solana"],
            "limits": {"per_tx_usd": "20", "daily_usd": daily_usd, "max_tx_per_hour": 100},
            "recipients": {"mode": "any", "allow": [], "deny": []}
        });
        let r = self
            .call(
                Method::PUT,
                &format!("/v1/admin/agents/{}/policy", s.agent_id),
                Some(&op),
                Some(&policy),
            )
            .await;
        assert_eq!(r.status, 200, "PUT policy: {}", r.text);
        let r = self
            .post(
                "/v1/dev/airdrop",
                Some(&s.token),
                &json!({"chain": "solana", "asset": "SOL", "amount": "1"}),
            )
            .await;
        assert_eq!(r.status, 200, "airdrop: {}", r.text);
        s
    }

    /// The agent's audit records (`GET /v1/wallets/me/audit?limit=1000`).
    pub async fn my_audit(&self, token: &str) -> Vec<Value> {
        let r = self
            .get("/v1/wallets/me/audit?limit=1000", Some(token))
            .await;
        assert_eq!(r.status, 200, "GET /v1/wallets/me/audit: {}", r.text);
        r.json()["records"].as_array().expect("records").clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Short: tests that need a graceful exit call `stop()` themselves.
        self.stop_within(Duration::from_secs(2));
        if std::thread::panicking() {
            let err = self.stderr();
            let tail: String = {
                let start = err.len().saturating_sub(6000);
                let mut s = start;
                while !err.is_char_boundary(s) {
                    s += 1;
                }
                err[s..].to_string()
            };
            eprintln!(
                "--- custos serve stderr (tail) at {} ---\n{tail}",
                self.root.display()
            );
        }
        if std::env::var_os("CUSTOS_TEST_KEEP").is_some() {
            if let Some(tmp) = self.tmp.take() {
                eprintln!("kept {}", tmp.keep().display());
            }
        }
    }
}

// --- Assertions ---------------------------------------------------------------------------------

/// Asserts the documented error body `{"error":{"code","message","field"?,"details"?}}` with a
/// status among `statuses` and the given code; returns the `error` object.
#[track_caller]
pub fn assert_error(r: &Resp, statuses: &[u16], code: &str) -> Value {
    assert!(
        statuses.contains(&r.status),
        "expected status in {statuses:?}, got {}: {}",
        r.status,
        r.text
    );
    let v = r.json();
    let err = v
        .get("error")
        .unwrap_or_else(|| panic!("no error object in body: {:?}", r.text))
        .clone();
    assert_eq!(err["code"], code, "error code; body: {}", r.text);
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error.message missing or empty: {}",
        r.text
    );
    let obj = err.as_object().unwrap();
    for k in obj.keys() {
        assert!(
            ["code", "message", "field", "details"].contains(&k.as_str()),
            "undocumented key {k:?} in error body: {}",
            r.text
        );
    }
    if let Some(f) = obj.get("field") {
        assert!(
            f.is_string() || f.is_null(),
            "error.field must be a string: {}",
            r.text
        );
    }
    err
}

/// Asserts a 429 `rate_limited` with an integer `Retry-After` between 1 and `max_secs`.
#[track_caller]
pub fn assert_rate_limited(r: &Resp, max_secs: u64) {
    assert_error(r, &[429], "rate_limited");
    let ra = r
        .header("retry-after")
        .unwrap_or_else(|| panic!("429 without Retry-After: {:?}", r.headers));
    let secs: u64 = ra
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After is not an integer number of seconds: {ra:?}"));
    assert!(
        (1..=max_secs).contains(&secs),
        "Retry-After {secs} not in 1..={max_secs}"
    );
}

// --- JWT helpers --------------------------------------------------------------------------------

/// base64url without padding.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding.
pub fn b64url_decode(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

/// Splits a compact JWS into its decoded header and payload.
pub fn decode_jwt(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "not a compact JWS: {token}");
    let header = serde_json::from_slice(&b64url_decode(parts[0])).expect("header JSON");
    let payload = serde_json::from_slice(&b64url_decode(parts[1])).expect("payload JSON");
    (header, payload)
}

/// The server's JWT signing key file.
pub struct JwtKey {
    pub kid: String,
    pub signing: ed25519_dalek::SigningKey,
    pub seed_hex: String,
}

impl Server {
    /// Reads `DIR/jwt-signing-key.json`.
    pub fn jwt_key(&self) -> JwtKey {
        let path = self.data_dir.join("jwt-signing-key.json");
        let v: Value = serde_json::from_str(&fs::read_to_string(&path).expect("read jwt key"))
            .expect("jwt key is JSON");
        assert_eq!(v["version"], 1, "{v}");
        assert_eq!(v["alg"], "EdDSA", "{v}");
        let seed_hex = v["seed"].as_str().expect("seed").to_string();
        let seed: [u8; 32] = hex::decode(&seed_hex)
            .unwrap()
            .try_into()
            .expect("32-byte seed");
        JwtKey {
            kid: v["kid"].as_str().expect("kid").to_string(),
            signing: ed25519_dalek::SigningKey::from_bytes(&seed),
            seed_hex,
        }
    }
}

/// Signs `header.payload` with Ed25519 (a correctly signed token with arbitrary claims).
pub fn forge_eddsa(key: &ed25519_dalek::SigningKey, header: &Value, payload: &Value) -> String {
    use ed25519_dalek::Signer as _;
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(payload.to_string().as_bytes())
    );
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", b64url(&sig.to_bytes()))
}

/// An HS256 token with the given key.
pub fn forge_hs256(key: &[u8], header: &Value, payload: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(payload.to_string().as_bytes())
    );
    let mac = hmac_sha256(key, input.as_bytes());
    format!("{input}.{}", b64url(&mac))
}

/// HMAC-SHA256 (RFC 2104), checked against RFC 4231 in `jwt.rs`.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for i in 0..64 {
        ipad[i] ^= k[i];
        opad[i] ^= k[i];
    }
    let inner = Sha256::new()
        .chain_update(ipad)
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(opad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// Files under `dir` (recursively) whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = fs::read(&p) {
                if !needle.is_empty() && bytes.windows(needle.len()).any(|w| w == needle) {
                    found.push(p);
                }
            }
        }
    }
    found
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
