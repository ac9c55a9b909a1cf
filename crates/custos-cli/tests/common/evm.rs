//! Shared by the EVM tests: a real anvil node per test (installed into .tools/ by
//! scripts/test-deps.sh), scripts/evm_chain.py (contracts deployed from their npm artifacts,
//! signatures recovered with eth-account), the server configuration for a set of chains, and
//! request and assertion helpers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::{assert_error, repo_root, Server, Session};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A real anvil node on a loopback port of its own choosing; killed on drop.
pub struct Anvil {
    pub child: Child,
    pub url: String,
}

impl Anvil {
    /// Starts a node on a port anvil picks itself (`--port 0`) and reads which from its output.
    /// Picking a free port here and passing it on would leave a window in which a node started
    /// by a concurrent test takes it: this test's node would then fail to bind while the RPC
    /// check below answered from the other test's chain, and the two tests would share one.
    pub async fn start(chain_id: u64) -> Anvil {
        use std::io::BufRead as _;
        let bin = repo_root().join(".tools/node_modules/.bin/anvil");
        assert!(
            bin.exists(),
            "anvil is not installed: run scripts/test-deps.sh (expected {})",
            bin.display()
        );
        let mut child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(["--chain-id", &chain_id.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn anvil");
        let stdout = child.stdout.take().expect("anvil's stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            // Read to the end: anvil logs every call, and a full pipe would stall it. Its banner
            // is not all UTF-8, so lines are read as bytes.
            for line in std::io::BufReader::new(stdout).split(b'\n') {
                let Ok(line) = line else { break };
                let line = String::from_utf8_lossy(&line);
                if let Some(addr) = line.strip_prefix("Listening on ") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr.trim().to_owned());
                    }
                }
            }
        });
        let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
            .await
            .unwrap()
            .expect("anvil did not say where it listens");
        let a = Anvil {
            child,
            url: format!("http://{addr}"),
        };
        for _ in 0..200 {
            if let Ok(v) = try_rpc(&a.url, "eth_chainId", json!([])).await {
                assert_eq!(v, json!(format!("0x{chain_id:x}")));
                return a;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("anvil at {addr} does not answer");
    }

    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        try_rpc(&self.url, method, params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    pub async fn set_balance(&self, who: &str, wei: u128) {
        self.rpc("anvil_setBalance", json!([who, format!("0x{wei:x}")]))
            .await;
    }

    pub async fn balance(&self, who: &str) -> u128 {
        hex_u128(&self.rpc("eth_getBalance", json!([who, "latest"])).await)
    }

    pub async fn token_balance(&self, token: &str, who: &str) -> u128 {
        let data = format!("0x70a08231{:0>64}", &who[2..].to_lowercase());
        hex_u128(
            &self
                .rpc("eth_call", json!([{"to": token, "data": data}, "latest"]))
                .await,
        )
    }

    /// Sends from an unlocked dev account and waits for the receipt.
    pub async fn send_from(&self, from: &str, to: &str, data: &str) {
        let h = self
            .rpc(
                "eth_sendTransaction",
                json!([{"from": from, "to": to, "data": data, "gas": "0x100000"}]),
            )
            .await;
        for _ in 0..200 {
            let r = self.rpc("eth_getTransactionReceipt", json!([h])).await;
            if !r.is_null() {
                assert_eq!(r["status"], "0x1", "dev transaction reverted");
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("dev transaction not mined");
    }

    /// `mint(to, amount)` of Token A by its deployer (the minter).
    pub async fn mint(&self, d: &Deployed, to: &str, amount: u128) {
        let data = format!("0x40c10f19{:0>64}{amount:064x}", &to[2..].to_lowercase());
        self.send_from(&d.deployer, &d.tka, &data).await;
    }

    pub async fn raw_tx(&self, hash: &str) -> String {
        self.rpc("eth_getRawTransactionByHash", json!([hash]))
            .await
            .as_str()
            .expect("raw transaction")
            .to_owned()
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn try_rpc(url: &str, method: &str, params: Value) -> Result<Value, String> {
    let r = reqwest::Client::new()
        .post(url)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let v: Value = r.json().await.map_err(|e| e.to_string())?;
    if let Some(e) = v.get("error") {
        return Err(e.to_string());
    }
    Ok(v["result"].clone())
}

pub fn hex_u128(v: &Value) -> u128 {
    let s = v.as_str().expect("hex quantity");
    let digits = s.trim_start_matches("0x").trim_start_matches('0');
    if digits.is_empty() {
        return 0;
    }
    u128::from_str_radix(digits, 16).expect("fits in u128")
}

/// Runs scripts/evm_chain.py.
pub fn evm_chain(args: &[&str], stdin: Option<&Value>) -> Value {
    let mut child = Command::new("python3")
        .arg(repo_root().join("scripts/evm_chain.py"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    {
        use std::io::Write;
        let mut i = child.stdin.take().unwrap();
        if let Some(v) = stdin {
            i.write_all(v.to_string().as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "evm_chain.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Recovers each request with eth-account.
pub fn recover(reqs: Value) -> Vec<Value> {
    evm_chain(&["verify"], Some(&reqs))
        .as_array()
        .unwrap()
        .clone()
}

pub struct Deployed {
    pub deployer: String,
    pub tka: String,
    pub router: String,
}

pub fn deploy(anvil: &Anvil) -> Deployed {
    let d = evm_chain(&["deploy", &anvil.url], None);
    Deployed {
        deployer: d["deployer"].as_str().unwrap().to_owned(),
        tka: d["tokens"][0].as_str().unwrap().to_owned(),
        router: d["router"].as_str().unwrap().to_owned(),
    }
}

pub fn config(chains: &[(&Anvil, u64, Option<&Deployed>)]) -> String {
    let mut c =
        String::from("[solana]\nbackend = \"off\"\n\n[oracle.static_prices]\nETH = \"3000\"\n");
    for (_, _, d) in chains {
        if let Some(d) = d {
            // 1 ETH buys ~1000 TKA in the pool: 3 USD.
            c.push_str(&format!("\"{}\" = \"3\"\n", d.tka));
        }
    }
    for (a, id, d) in chains {
        c.push_str(&format!(
            "\n[[evm.chains]]\nchain_id = {id}\nrpc_url = \"{}\"\nconfirm_timeout_seconds = 30\n",
            a.url
        ));
        if let Some(d) = d {
            c.push_str(&format!(
                "tokens = [\"{}\"]\nuniswap_v2_router = \"{}\"\n",
                d.tka, d.router
            ));
        }
    }
    c
}

/// [`config`] for one anvil node on chain 31337 whose transactions are waited for only
/// `seconds` (for tests that leave one unmined on purpose).
pub fn config_waiting(anvil: &Anvil, seconds: u64) -> String {
    let c = config(&[(anvil, 31337, None)]).replace(
        "confirm_timeout_seconds = 30",
        &format!("confirm_timeout_seconds = {seconds}"),
    );
    assert!(c.contains(&format!("confirm_timeout_seconds = {seconds}\n")));
    c
}

pub async fn set_policy(srv: &Server, agent: &str, policy: Value) {
    let op = srv.operator_token("admin");
    let r = srv
        .call(
            reqwest::Method::PUT,
            &format!("/v1/admin/agents/{agent}/policy"),
            Some(&op),
            Some(&policy),
        )
        .await;
    assert_eq!(r.status, 200, "PUT policy: {}", r.text);
}

pub fn policy(chains: &[&str], extra: Value) -> Value {
    let mut p = json!({
        "version": 1,
        "session_expiration_hours": 24,
        "actions": {"transfer": true, "trade": true, "sign": true, "sign_message": true},
        "chains": chains,
        "limits": {"per_tx_usd": "2000", "daily_usd": "100000", "max_tx_per_hour": 1000},
        "recipients": {"mode": "any", "allow": [], "deny": []},
    });
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

pub async fn evm_address(srv: &Server, s: &Session) -> String {
    let r = srv.get("/v1/wallets/me", Some(&s.token)).await;
    r.expect_status(200);
    r.json()["addresses"]["evm"].as_str().unwrap().to_owned()
}

pub async fn action(srv: &Server, s: &Session, name: &str, body: Value) -> super::Resp {
    srv.post(
        &format!("/v1/wallets/me/actions/{name}"),
        Some(&s.token),
        &body,
    )
    .await
}

pub fn random_evm() -> String {
    let u = uuid::Uuid::new_v4();
    format!("0x{}{}", hex::encode(u.as_bytes()), "00000001")
}

#[track_caller]
pub fn assert_denied_by(r: &super::Resp, rule: &str) {
    let rules = reasons(r);
    assert!(
        rules.iter().any(|x| x == rule),
        "expected {rule} among {rules:?}: {}",
        r.text
    );
}

pub fn reasons(r: &super::Resp) -> Vec<String> {
    let e = assert_error(r, &[403], "policy_denied");
    e["details"]["reasons"]
        .as_array()
        .or_else(|| e["details"].as_array())
        .unwrap_or_else(|| panic!("no reasons in {e}"))
        .iter()
        .map(|x| x["rule"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Deploys scripts/contracts/TestUSDC.sol (EIP-3009, "USD Coin" version "2"); its address.
pub fn deploy_usdc(anvil: &Anvil) -> String {
    evm_chain(&["deploy-usdc", &anvil.url], None)["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// [`config`] for one chain with `d` deployed, `token` priced at `usd` as well.
pub fn config_pricing(anvil: &Anvil, d: &Deployed, token: &str, usd: &str) -> String {
    config(&[(anvil, 31337, Some(d))]).replacen(
        "ETH = \"3000\"\n",
        &format!("ETH = \"3000\"\n\"{token}\" = \"{usd}\"\n"),
        1,
    )
}

/// Mints `amount` base units of TestUSDC `token` to `to`, as its owner (anvil's first account).
pub async fn mint_usdc(anvil: &Anvil, token: &str, to: &str, amount: u128) {
    let owner = anvil.rpc("eth_accounts", json!([])).await[0]
        .as_str()
        .unwrap()
        .to_owned();
    let data = format!("0x40c10f19{:0>64}{amount:064x}", &to[2..].to_lowercase());
    anvil.send_from(&owner, token, &data).await;
}

/// `sign-message` of the EIP-712 document `typed` on evm:31337.
pub async fn sign_typed(srv: &Server, s: &Session, typed: Value) -> super::Resp {
    action(
        srv,
        s,
        "sign-message",
        json!({"chain": "evm:31337", "typed_data": typed}),
    )
    .await
}
