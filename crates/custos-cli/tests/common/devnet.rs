//! `custos devnet` as a separate process for tests that need a Solana cluster other programs
//! reach too (the RPC back end, x402 facilitators): started on free loopback ports in a
//! temporary data dir, killed on drop; and plain JSON-RPC calls to it.
use serde_json::{json, Value};
use std::io::BufRead as _;

/// A running `custos devnet`.
pub struct Devnet {
    child: std::process::Child,
    /// Its JSON-RPC URL.
    pub url: String,
    /// Its PubSub WebSocket URL.
    pub ws_url: String,
    _dir: tempfile::TempDir,
}

impl Devnet {
    /// Starts one (its slot clock at the default pace).
    pub fn start() -> Devnet {
        let dir = tempfile::tempdir().unwrap();
        let mut child = super::custos_command()
            .args(["devnet", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("devnet"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // It prints its JSON-RPC URL, then its WebSocket URL.
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let (mut url, mut ws_url) = (String::new(), String::new());
        out.read_line(&mut url).unwrap();
        out.read_line(&mut ws_url).unwrap();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "devnet printed {url:?}"
        );
        Devnet {
            child,
            url: url.trim().to_owned(),
            ws_url: ws_url.trim().to_owned(),
            _dir: dir,
        }
    }

    /// A JSON-RPC call that must succeed; its `result`.
    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        rpc(&self.url, method, params).await
    }

    /// `custos serve` configuration using this devnet through the JSON-RPC back end.
    pub fn serve_config(&self) -> String {
        format!(
            "[solana]\nbackend = \"rpc\"\nrpc_url = \"{}\"\ncommitment = \"confirmed\"\n",
            self.url
        )
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JSON-RPC call to `url` that must succeed; its `result`.
pub async fn rpc(url: &str, method: &str, params: Value) -> Value {
    let v: Value = super::client()
        .post(url)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v.get("error").is_none(), "{method}: {v}");
    v["result"].clone()
}
