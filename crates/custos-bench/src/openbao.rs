//! The peer: a real `bao server -dev` on loopback with token auth, a file audit device and the
//! transit engine holding one Ed25519 key — the closest thing OpenBao has to Custos's `sign`.
//!
//! OpenBao 2.x refuses `POST /v1/sys/audit/...` ("use declarative, config-based audit device
//! management"), so the device is declared in a config file passed beside `-dev`; the set-up
//! checks through `GET /v1/sys/audit` that it is enabled and that the log file grows.
use crate::http::{expect_json, Target};
use crate::process::stop_group;
use crate::BenchError;
use base64::Engine as _;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The dev root token (loopback only, thrown away with the process).
const ROOT_TOKEN: &str = "custos-bench-root";
/// The transit key's name.
const KEY_NAME: &str = "bench-ed25519";

/// A running, configured OpenBao dev server.
pub struct OpenBao {
    tmp: tempfile::TempDir,
    child: Child,
    addr: SocketAddr,
}

fn free_port() -> Result<u16, BenchError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| BenchError::io("finding a free port", e))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| BenchError::io("finding a free port", e))
}

impl OpenBao {
    /// Starts `bao server -dev`, enables the file audit device and transit, creates the key.
    pub async fn start(binary: &Path) -> Result<Self, BenchError> {
        let tmp = tempfile::Builder::new()
            .prefix("custos-bench-bao-")
            .tempdir()
            .map_err(|e| BenchError::io("creating a temporary directory", e))?;
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let audit = tmp.path().join("audit.log");
        let config = tmp.path().join("bao.hcl");
        std::fs::write(
            &config,
            format!(
                "audit \"file\" \"bench-file\" {{\n  options {{\n    file_path = {:?}\n  }}\n}}\n",
                audit.display().to_string()
            ),
        )
        .map_err(|e| BenchError::io("writing the OpenBao config", e))?;
        let log = std::fs::File::create(tmp.path().join("bao.log"))
            .map_err(|e| BenchError::io("creating the OpenBao log", e))?;
        let mut cmd = Command::new(binary);
        cmd.arg("server")
            .arg("-dev")
            .arg(format!("-dev-root-token-id={ROOT_TOKEN}"))
            .arg(format!("-dev-listen-address={addr}"))
            .arg(format!("-config={}", config.display()))
            .env("HOME", tmp.path())
            .env_remove("VAULT_ADDR")
            .env_remove("BAO_ADDR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| BenchError::io(format!("starting {}", binary.display()), e))?;
        let bao = Self { tmp, child, addr };
        bao.wait_ready().await?;
        bao.configure().await?;
        Ok(bao)
    }

    async fn wait_ready(&self) -> Result<(), BenchError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let health = Target::get(self.addr, "/v1/sys/health");
        loop {
            if let Ok((200, _)) = crate::http::once(&health).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(BenchError::Timeout("bao server -dev".into()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn call(&self, path: &str, body: &serde_json::Value) -> Result<Target, BenchError> {
        Target::post_json(self.addr, path, body).header("x-vault-token", ROOT_TOKEN)
    }

    async fn configure(&self) -> Result<(), BenchError> {
        let devices = expect_json(
            "listing OpenBao audit devices",
            &Target::get(self.addr, "/v1/sys/audit").header("x-vault-token", ROOT_TOKEN)?,
            &[200],
        )
        .await?;
        if devices["data"]["bench-file/"]["type"] != "file" {
            return Err(BenchError::Http(format!(
                "the file audit device is not enabled: {devices}"
            )));
        }
        expect_json(
            "mounting transit",
            &self.call(
                "/v1/sys/mounts/transit",
                &serde_json::json!({"type": "transit"}),
            )?,
            &[200, 204],
        )
        .await?;
        expect_json(
            "creating the transit key",
            &self.call(
                &format!("/v1/transit/keys/{KEY_NAME}"),
                &serde_json::json!({"type": "ed25519"}),
            )?,
            &[200, 204],
        )
        .await?;
        // One signature proves the path works before it is measured.
        let v = expect_json(
            "a first transit signature",
            &self.sign_target(b"hello")?,
            &[200],
        )
        .await?;
        if v["data"]["signature"].as_str().is_none() {
            return Err(BenchError::Http(
                "transit sign answered without a signature".into(),
            ));
        }
        Ok(())
    }

    /// The file the audit device writes.
    pub fn audit_log(&self) -> PathBuf {
        self.tmp.path().join("audit.log")
    }

    /// `POST /v1/transit/sign/<key>` of `message`, authenticated with the token.
    pub fn sign_target(&self, message: &[u8]) -> Result<Target, BenchError> {
        let input = base64::engine::general_purpose::STANDARD.encode(message);
        self.call(
            &format!("/v1/transit/sign/{KEY_NAME}"),
            &serde_json::json!({ "input": input }),
        )
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        stop_group(&mut self.child);
    }
}
