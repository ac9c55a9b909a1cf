//! `custos` as a client of a running server, driven exactly as an operator or an agent would
//! drive it from a terminal or a script: login into a profile file, the operator commands
//! (API keys, a policy from a TOML file, freeze, an approval, the audit log, attestation) and
//! the agent commands (wallet, transfer with idempotency keys and dry runs, message signing,
//! transactions), `--output json` parsed, and the exit codes of denied, invalid and unreachable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{custos_command, Server};
use serde_json::{json, Value};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// Exit codes the CLI documents (`client::exit`).
const DENIED: i32 = 3;
const INVALID: i32 = 4;
const UNAVAILABLE: i32 = 5;
const UNAUTHORIZED: i32 = 6;

/// A terminal of one user: its own profiles file, no `CUSTOSCLI_*` from the caller's shell.
struct Term {
    dir: tempfile::TempDir,
}

impl Term {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn profiles(&self) -> PathBuf {
        self.dir
            .path()
            .join("config")
            .join("custos")
            .join("profiles.toml")
    }

    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Command {
        let mut cmd = custos_command();
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("CUSTOSCLI_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(args)
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("NO_PROXY", "*");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `custos ARGS` with `stdin`.
    fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Out {
        let mut child = self
            .command(args, env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        Out::of(args, child.wait_with_output().unwrap())
    }

    fn run(&self, args: &[&str]) -> Out {
        self.run_with(args, &[], "")
    }
}

/// A finished command.
struct Out {
    what: String,
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn of(args: &[&str], o: Output) -> Self {
        Self {
            what: args.join(" "),
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    #[track_caller]
    fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "`custos {}` failed ({}):\nstdout: {}\nstderr: {}",
            self.what, self.code, self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "`custos {}` printed no JSON ({e}): {}\n{}",
                self.what, self.stdout, self.stderr
            )
        })
    }

    #[track_caller]
    fn fails(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "`custos {}`: expected exit {code}\nstdout: {}\nstderr: {}",
            self.what, self.stdout, self.stderr
        );
        self
    }
}

fn random_address() -> String {
    let mut b = [0u8; 32];
    b[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    b[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bs58::encode(b).into_string()
}

/// `custos login … agent --email E` fed the code from the outbox once it was sent.
fn login_agent(t: &Term, srv: &Server, name: &str, email: &str) -> Out {
    let args = [
        "login",
        "--url",
        &srv.base(),
        "--name",
        name,
        "agent",
        "--email",
        email,
    ];
    let before = srv.outbox(email).len();
    let mut child = t
        .command(&args, &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        let mails = srv.outbox(email);
        if mails.len() > before {
            break mails.last().unwrap()["code"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no code mailed to {email}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{code}").unwrap();
    drop(stdin);
    Out::of(&args, child.wait_with_output().unwrap())
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_end_to_end() {
    let srv = Server::builder()
        .config("[rate_limit]\nper_ip_per_minute = 100000\nglobal_per_minute = 100000\n")
        .start()
        .await;
    let agent = srv.funded_solana_agent("cli-ops@example.com", "100").await;
    let id = agent.agent_id.as_str();
    let token = srv.operator_token("admin");
    let ops = Term::new();

    // Login: the token from stdin, checked against the server, saved owner-only and current.
    ops.run_with(
        &["login", "--url", &srv.base(), "--name", "ops", "operator"],
        &[],
        &format!("{token}\n"),
    )
    .ok();
    let mode = std::fs::metadata(ops.profiles())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(ops.profiles()).unwrap();
    assert!(
        text.contains("current = \"ops\"") && text.contains("kind = \"operator\""),
        "{text}"
    );
    // A wrong token is refused and saves nothing.
    ops.run_with(
        &["login", "--url", &srv.base(), "--name", "bad", "operator"],
        &[],
        "cop_wrong\n",
    )
    .fails(UNAUTHORIZED);
    assert!(!std::fs::read_to_string(ops.profiles())
        .unwrap()
        .contains("[profiles.bad]"));

    // An agent command with an operator profile is refused before anything is sent.
    let out = ops.run(&["wallet", "show"]);
    out.fails(1);
    assert!(
        out.stderr.contains("this is an agent command") && out.stderr.contains("--profile"),
        "{}",
        out.stderr
    );

    // Agents.
    let list = ops.run(&["agents", "list", "-o", "json"]).ok().json();
    assert!(list["agents"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["agent_id"] == id));
    let table = ops.run(&["agents", "show", id]).ok().stdout.clone();
    assert!(
        table.contains("cli-ops@example.com") && table.contains("key.ed25519"),
        "{table}"
    );

    // API keys: create, list, use, revoke.
    let created = ops
        .run(&["api-keys", "create", id, "-o", "json"])
        .ok()
        .json();
    let (api_key, key_id) = (
        created["api_key"].as_str().unwrap(),
        created["key_id"].as_str().unwrap(),
    );
    let keys = ops.run(&["api-keys", "list", id, "-o", "json"]).ok().json();
    assert!(keys["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["key_id"] == key_id && k["revoked_at_ms"].is_null()));
    let agent_term = Term::new();
    let me = agent_term
        .command(
            &["wallet", "show", "--url", &srv.base(), "-o", "json"],
            &[("CUSTOSCLI_TOKEN", api_key)],
        )
        .output()
        .unwrap();
    let me: Value = serde_json::from_slice(&me.stdout).unwrap();
    assert_eq!(me["agent_id"], id);
    ops.run(&["api-keys", "revoke", id, key_id]).ok();
    let after = agent_term
        .command(
            &["wallet", "show", "--url", &srv.base()],
            &[("CUSTOSCLI_TOKEN", api_key)],
        )
        .output()
        .unwrap();
    assert_eq!(
        after.status.code(),
        Some(UNAUTHORIZED),
        "{}",
        String::from_utf8_lossy(&after.stderr)
    );
    assert!(String::from_utf8_lossy(&after.stderr).contains("unauthorized (401)"));

    // A policy from a TOML file: transfers above 10 USD wait for one approver.
    let dir = tempfile::tempdir().unwrap();
    let policy = write(
        dir.path(),
        "policy.toml",
        r#"chains = ["solana"]
[actions]
transfer = true
[limits]
per_tx_usd = "20"
daily_usd = "100"
max_tx_per_hour = 100
[recipients]
mode = "any"
[approvals]
above_usd = "10"
quorum = 1
"#,
    );
    let diff = ops
        .run(&["policy", "diff", id, &policy])
        .ok()
        .stdout
        .clone();
    assert!(
        diff.contains("~ approvals") && diff.contains("\"above_usd\":\"10\""),
        "{diff}"
    );
    let dry = ops
        .run(&["policy", "dry-run", id, &policy, "-o", "json"])
        .ok()
        .json();
    assert!(
        dry["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().starts_with("approvals")),
        "{dry}"
    );
    ops.run(&["policy", "set", id, &policy, "-o", "json"]).ok();
    let now = ops.run(&["policy", "get", id]).ok().json();
    assert_eq!(now["approvals"]["above_usd"], "10", "{now}");
    // A bad document: exit 4, the field named.
    let bad = write(
        dir.path(),
        "bad.json",
        r#"{"limits": {"per_tx_usd": "lots"}}"#,
    );
    let out = ops.run(&["policy", "set", id, &bad]);
    out.fails(INVALID);
    assert!(
        out.stderr.contains("field: limits.per_tx_usd"),
        "{}",
        out.stderr
    );

    // The agent logs in through the CLI (email code on stdin).
    let me_term = Term::new();
    login_agent(&me_term, &srv, "me", "cli-ops@example.com").ok();
    let to = random_address();

    // Freeze: the agent's transfer is denied (exit 3, the rule printed); unfreeze --all.
    let f = ops.run(&["freeze", id, "-o", "json"]).ok().json();
    assert_eq!(f["agents"][0]["frozen"], true);
    let denied = me_term.run(&["transfer", "--to", &to, "--amount", "0.01"]);
    denied.fails(DENIED);
    assert!(
        denied.stderr.contains("policy_denied (403)") && denied.stderr.contains("rule "),
        "{}",
        denied.stderr
    );
    let u = ops.run(&["unfreeze", "--all", "-o", "json"]).ok().json();
    assert!(
        u["agents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["agent_id"] == id && a["frozen"] == false),
        "{u}"
    );

    // A transfer above the threshold is parked; show prints what it does; approve executes it.
    let parked = me_term
        .run(&["transfer", "--to", &to, "--amount", "0.1", "-o", "json"])
        .ok()
        .json();
    assert_eq!(parked["status"], "pending_approval", "{parked}");
    let approval = parked["approval_id"].as_str().unwrap();
    let pending = ops.run(&["approvals", "list", "-o", "json"]).ok().json();
    assert!(pending["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["approval_id"] == approval));
    let shown = ops
        .run(&["approvals", "show", approval])
        .ok()
        .stdout
        .clone();
    assert!(
        shown.contains("balance change") && shown.contains("-0.1") && shown.contains("SOL"),
        "{shown}"
    );
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("pays") && l.contains(&to)),
        "{shown}"
    );
    let done = ops
        .run(&["approvals", "approve", approval, "-o", "json"])
        .ok()
        .json();
    assert_eq!(done["status"], "confirmed", "{done}");
    let tx = done["tx"].as_str().unwrap().to_string();
    // Approving twice is refused as invalid.
    ops.run(&["approvals", "approve", approval]).fails(INVALID);
    let st = me_term
        .run(&["tx", "status", &tx, "-o", "json"])
        .ok()
        .json();
    assert_eq!(st["chain_status"], "confirmed", "{st}");
    assert_eq!(st["status"], "confirmed", "{st}");

    // The audit log over the API: export, tail, verify (checked by the client itself).
    let export = dir.path().join("audit.jsonl");
    ops.run(&[
        "audit",
        "export",
        "--remote",
        "--out",
        export.to_str().unwrap(),
    ])
    .ok();
    let lines: Vec<Value> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() > 10);
    assert!(lines
        .iter()
        .any(|r| r["tx"] == tx.as_str() && r["outcome"] == "success"));
    for (i, r) in lines.iter().enumerate() {
        assert_eq!(r["id"], json!(i as u64 + 1));
    }
    let tail = ops
        .run(&["audit", "tail", "--remote", "-n", "3", "-o", "json"])
        .ok()
        .stdout
        .clone();
    let tail: Vec<Value> = tail
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(tail.len(), 3);
    assert!(tail[0]["id"].as_u64() < tail[2]["id"].as_u64());
    assert!(tail[2]["id"].as_u64().unwrap() >= lines.len() as u64);
    let v = ops
        .run(&["audit", "verify", "--remote", "-o", "json"])
        .ok()
        .json();
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["records"].as_u64().unwrap() >= lines.len() as u64, "{v}");
    assert_eq!(v["server"]["ok"], true, "{v}");

    // The local data dir gives the same tail.
    let local = srv.cli(&["audit", "tail", "-n", "2", "-o", "json"]);
    assert!(
        local.status.success(),
        "{}",
        String::from_utf8_lossy(&local.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&local.stdout).lines().count(), 2);

    // --follow prints new records as they are written, not its own polling.
    let mut follow = ops
        .command(
            &[
                "audit", "tail", "--remote", "--follow", "-n", "1", "-o", "json",
            ],
            &[],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let (tx_lines, rx_lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx_lines.send(line).is_err() {
                break;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(2500)).await;
    me_term.run(&["wallet", "show"]).ok();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = vec![];
    while Instant::now() < deadline {
        if let Ok(line) = rx_lines.recv_timeout(Duration::from_millis(200)) {
            let rec: Value = serde_json::from_str(&line).unwrap();
            let done = rec["action"] == "wallet.get";
            seen.push(rec);
            if done {
                break;
            }
        }
    }
    follow.kill().unwrap();
    let _ = follow.wait();
    assert!(seen.iter().any(|r| r["action"] == "wallet.get"), "{seen:?}");
    assert!(
        !seen
            .iter()
            .skip(1)
            .any(|r| r["action"] == "admin.audit.list"),
        "{seen:?}"
    );

    // A reader that goes away (`| head`) ends --follow quietly at its next line: no panic.
    let mut gone = ops
        .command(&["audit", "tail", "--remote", "--follow", "-n", "1"], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(gone.stdout.take());
    me_term.run(&["wallet", "show"]).ok();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = gone.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "tail --follow kept running with no reader"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut gone.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // Attestation: verified with a fresh nonce; a different expected measurement fails (exit 2).
    let doc = srv.get("/v1/attestation?nonce=00", None).await.json();
    let m = doc["measurement"].as_str().unwrap();
    let att = ops
        .run(&[
            "attestation",
            "verify",
            "--expect-measurement",
            m,
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(att["verified"], true);
    assert_eq!(att["public_key"], doc["public_key"]);
    let wrong = "00".repeat(32);
    let out = ops.run(&["attestation", "verify", "--expect-measurement", &wrong]);
    out.fails(2);
    assert!(out.stderr.contains("NOT VERIFIED"), "{}", out.stderr);
    // The key a remote verify trusts can be pinned.
    let keys = ops.run(&["keys", "list", id, "-o", "json"]).ok().json();
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2, "{keys}");
    let pinned = ops
        .run(&[
            "audit",
            "verify",
            "--remote",
            "--trust-key",
            doc["public_key"].as_str().unwrap(),
        ])
        .ok()
        .stdout
        .clone();
    assert!(pinned.starts_with("ok: "), "{pinned}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_commands_end_to_end() {
    let srv = Server::start().await;
    let s = srv
        .funded_solana_agent("cli-agent@example.com", "100")
        .await;
    let admin = srv.operator_token("admin");
    let policy = json!({
        "actions": {"transfer": true, "sign_message": true},
        "chains": ["solana"],
        "limits": {"per_tx_usd": "20", "daily_usd": "100", "max_tx_per_hour": 100},
        "recipients": {"mode": "any", "allow": [], "deny": []}
    });
    let path = format!("/v1/admin/agents/{}/policy", s.agent_id);
    srv.call(reqwest::Method::PUT, &path, Some(&admin), Some(&policy))
        .await
        .expect_status(200);
    let t = Term::new();
    let login = login_agent(&t, &srv, "agent", "cli-agent@example.com");
    login.ok();
    assert!(
        login.stderr.contains("profile `agent` saved"),
        "{}",
        login.stderr
    );

    let me = t.run(&["wallet", "show", "-o", "json"]).ok().json();
    assert_eq!(me["email"], "cli-agent@example.com");
    let bal = t.run(&["wallet", "balances", "-o", "json"]).ok().json();
    assert!(
        bal["balances"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["asset"] == "SOL" && b["amount"] == "1"),
        "{bal}"
    );
    let table = t.run(&["wallet", "balances"]).ok().stdout.clone();
    assert!(
        table.starts_with("CHAIN") && table.contains("SOL"),
        "{table}"
    );

    // A transfer prints the key it generated; a given key makes the retry return the same tx.
    let to = random_address();
    let first = t.run(&["transfer", "--to", &to, "--amount", "0.01", "-o", "json"]);
    first.ok();
    assert!(
        first.stderr.contains("idempotency key: "),
        "{}",
        first.stderr
    );
    assert_eq!(first.json()["status"], "confirmed");
    let key = uuid::Uuid::new_v4().to_string();
    let retry = [
        "transfer",
        "--to",
        &to,
        "--amount",
        "0.02",
        "--idempotency-key",
        &key,
        "-o",
        "json",
    ];
    let a = t.run(&retry).ok().json();
    let b = t.run(&retry).ok().json();
    assert_eq!(a["tx"], b["tx"]);

    // Dry run: the explanation, nothing signed; for real: exit 3, the rule, the JSON error body.
    let dry = t
        .run(&[
            "transfer",
            "--to",
            &to,
            "--amount",
            "0.5",
            "--dry-run",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["explanation"]["decision"], "deny", "{dry}");
    let dry_table = t
        .run(&["transfer", "--to", &to, "--amount", "0.5", "--dry-run"])
        .ok()
        .stdout
        .clone();
    assert!(dry_table.contains("limits.per_tx_usd"), "{dry_table}");
    let denied = t.run(&["transfer", "--to", &to, "--amount", "0.5", "-o", "json"]);
    denied.fails(DENIED);
    assert!(
        denied.stderr.contains("rule limits.per_tx_usd"),
        "{}",
        denied.stderr
    );
    assert_eq!(denied.json()["error"]["code"], "policy_denied");

    // Invalid input: exit 4 naming the field; no server at all: exit 5.
    let bad = t.run(&["transfer", "--to", "not-an-address", "--amount", "0.01"]);
    bad.fails(INVALID);
    assert!(bad.stderr.contains("field: to"), "{}", bad.stderr);
    let bad = t.run(&["sign", "--transaction", "AAAA", "--broadcast"]);
    bad.fails(INVALID);
    assert!(bad.stderr.contains("field: transaction"), "{}", bad.stderr);
    let bad = t.run(&[
        "trade", "--chain", "solana", "--from", "SOL", "--to", "sol", "--amount", "1",
    ]);
    bad.fails(INVALID);
    assert!(bad.stderr.contains("field: to_asset"), "{}", bad.stderr);
    t.run(&["wallet", "show", "--url", "http://127.0.0.1:1"])
        .fails(UNAVAILABLE);

    // A dry run of a message signature explains and signs nothing.
    let dry = t
        .run(&[
            "sign-message",
            "--message",
            "not signed",
            "--dry-run",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(dry["dry_run"], true, "{dry}");
    assert_eq!(dry["explanation"]["decision"], "allow", "{dry}");
    assert!(dry.get("signature").is_none(), "{dry}");
    // A message signature that verifies under the wallet's key.
    let sig = t
        .run(&[
            "sign-message",
            "--message",
            "hello from the cli",
            "-o",
            "json",
        ])
        .ok()
        .json();
    let pk: [u8; 32] = hex::decode(sig["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let s: [u8; 64] = hex::decode(sig["signature"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let signed = hex::decode(sig["signed_bytes"].as_str().unwrap()).unwrap();
    assert!(signed.ends_with(b"hello from the cli"));
    ed25519_dalek::VerifyingKey::from_bytes(&pk)
        .unwrap()
        .verify_strict(&signed, &ed25519_dalek::Signature::from_bytes(&s))
        .expect("the signature verifies");
    assert_eq!(bs58::encode(pk).into_string(), me["addresses"]["solana"]);

    // Transactions: both transfers, confirmed on chain; the message is not one.
    let txs = t.run(&["tx", "list", "-o", "json"]).ok().json();
    let list = txs["transactions"].as_array().unwrap();
    // The airdrop that funded the wallet, then the two transfers (the retried one once).
    let actions: Vec<&str> = list.iter().map(|x| x["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["dev.airdrop", "transfer", "transfer"], "{txs}");
    assert!(list.iter().all(|x| x["status"] == "confirmed"), "{txs}");
    assert_eq!(list[1]["tx"], first.json()["tx"]);
    assert_eq!(list[2]["tx"], a["tx"]);
    assert!(txs["next_after"].is_null(), "{txs}");
    // Paged: one at a time, following next_after.
    let page = t
        .run(&["tx", "list", "--limit", "1", "--after", "0", "-o", "json"])
        .ok()
        .json();
    assert_eq!(page["transactions"].as_array().unwrap().len(), 1);
    let next = page["next_after"].as_u64().unwrap().to_string();
    let page2 = t
        .run(&["tx", "list", "--limit", "1", "--after", &next, "-o", "json"])
        .ok()
        .json();
    assert_eq!(page2["transactions"][0]["tx"], list[1]["tx"], "{page2}");
    let st = t
        .run(&["tx", "status", a["tx"].as_str().unwrap(), "-o", "json"])
        .ok()
        .json();
    assert_eq!(st["chain_status"], "confirmed", "{st}");
    let out = t.run(&["tx", "status", "5xNotMine"]);
    out.fails(INVALID);
    assert!(out.stderr.contains("not_found (404)"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_profiles_are_refused_with_the_reason() {
    let t = Term::new();
    // No profile and no --url.
    let out = t.run(&["wallet", "show"]);
    out.fails(1);
    assert!(
        out.stderr.contains("no server") && out.stderr.contains("custos login"),
        "{}",
        out.stderr
    );

    let p = t.profiles();
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, "current = \"a\"\n[profiles.a]\nurl = \"http://127.0.0.1:1\"\nkind = \"agent\"\ntoken = \"secret-token-value\"\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = t.run(&["wallet", "show"]);
    out.fails(1);
    assert!(
        out.stderr.contains("mode 0644") && out.stderr.contains("chmod 600"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("secret-token-value"));

    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&p, "current = \"a\"\n[profiles.a]\nurl = \"http://127.0.0.1:1\"\nkind = \"agent\"\ntoken = \"secret-token-value\"\nsecret = 1\n").unwrap();
    let out = t.run(&["wallet", "show"]);
    out.fails(1);
    assert!(
        out.stderr.contains("unknown field `secret`") && out.stderr.contains("profiles.toml"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("secret-token-value"), "{}", out.stderr);

    std::fs::write(&p, "current = \"b\"\n[profiles.a]\nurl = \"http://127.0.0.1:1\"\nkind = \"agent\"\ntoken = \"t\"\n").unwrap();
    let out = t.run(&["wallet", "show"]);
    out.fails(1);
    assert!(out.stderr.contains("no profile `b`"), "{}", out.stderr);

    // A valid profile pointing nowhere: unavailable, and the client's variables are its own.
    std::fs::write(&p, "current = \"a\"\n[profiles.a]\nurl = \"http://127.0.0.1:1\"\nkind = \"agent\"\ntoken = \"t\"\n").unwrap();
    t.run(&["wallet", "show"]).fails(UNAVAILABLE);
    let out = t
        .command(&["wallet", "show"], &[("CUSTOSCLI_PROFILE", "zzz")])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no profile `zzz`"));
    let out = t.run(&["wallet", "show", "--url", "https://127.0.0.1:1"]);
    out.fails(1);
    assert!(out.stderr.contains("plain http only"), "{}", out.stderr);
}

#[test]
fn completions_and_man_pages_come_from_the_command_definitions() {
    let t = Term::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = t.run(&["completions", shell]);
        out.ok();
        assert!(
            out.stdout.contains("approvals") && out.stdout.contains("idempotency-key"),
            "{shell}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    t.run(&["man", "--out", dir.path().to_str().unwrap()]).ok();
    let page = std::fs::read_to_string(dir.path().join("custos-approvals-approve.1")).unwrap();
    assert!(page.contains(".TH") && page.contains("approve"), "{page}");
    let transfer = std::fs::read_to_string(dir.path().join("custos-transfer.1")).unwrap();
    assert!(
        transfer.contains("dry\\-run") && transfer.contains("\\-\\-url"),
        "{transfer}"
    );
    assert!(dir.path().join("custos.1").exists());
}
