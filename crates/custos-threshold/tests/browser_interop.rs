//! The browser's user holder (`clients/browser`, JavaScript on @noble/curves' FROST) and the
//! Rust holders (this crate, on frost-ed25519) in one wallet: a DKG with the server and agent
//! in Rust and the user in Node, then server+user and agent+user signatures aggregated in Rust
//! and verified by ed25519-dalek — byte-for-byte interoperability of the `wire` layout. The
//! browser package's own tests (RFC 9591 E.1 vectors among them) run here too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use custos_threshold::dkg::{self, Round1Message, Round2Message};
use custos_threshold::sign::{self, Commitment, SignatureShare};
use custos_threshold::Holder;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../clients/browser")
}

/// The user holder, in Node.
struct UserPeer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl UserPeer {
    fn start() -> Self {
        let mut child = Command::new("node")
            .arg("harness/interop-peer.mjs")
            .current_dir(browser_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node (run scripts/test-deps.sh)");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self {
            child,
            stdin,
            stdout,
        }
    }

    fn ask(&mut self, req: Value) -> Value {
        writeln!(self.stdin, "{req}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{line:?}"));
        assert!(v.get("error").is_none(), "{req} -> {v}");
        v
    }
}

impl Drop for UserPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn the_browser_user_holder_and_the_rust_holders_make_and_use_one_wallet() {
    let mut user = UserPeer::start();
    // Round 1: everyone broadcasts.
    let (server1, server_b) = dkg::start(Holder::Server).unwrap();
    let (agent1, agent_b) = dkg::start(Holder::Agent).unwrap();
    let user_b = Round1Message::from_bytes(
        Holder::User,
        &bytes(&user.ask(json!({"op": "dkg1"}))["round1"]),
    )
    .unwrap();
    // Round 2: everyone checks the others' broadcasts and deals shares.
    let (server2, server_out) = server1.receive(&[agent_b.clone(), user_b.clone()]).unwrap();
    let (agent2, agent_out) = agent1.receive(&[server_b.clone(), user_b]).unwrap();
    let user_out = user.ask(json!({"op": "dkg2", "round1": {
        "server": hex::encode(server_b.to_bytes().unwrap()),
        "agent": hex::encode(agent_b.to_bytes().unwrap()),
    }}));
    let for_holder = |out: &[Round2Message], to: Holder| -> Vec<u8> {
        out.iter().find(|m| m.to == to).unwrap().to_bytes().to_vec()
    };
    let from_user = |to: &str, holder: Holder| {
        Round2Message::from_bytes(Holder::User, holder, &bytes(&user_out["round2"][to])).unwrap()
    };
    // Round 3: everyone checks what it was dealt.
    let server = server2
        .finish(&[
            Round2Message::from_bytes(
                Holder::Agent,
                Holder::Server,
                &for_holder(&agent_out, Holder::Server),
            )
            .unwrap(),
            from_user("server", Holder::Server),
        ])
        .unwrap();
    let agent = agent2
        .finish(&[
            Round2Message::from_bytes(
                Holder::Server,
                Holder::Agent,
                &for_holder(&server_out, Holder::Agent),
            )
            .unwrap(),
            from_user("agent", Holder::Agent),
        ])
        .unwrap();
    let user_key = bytes(
        &user.ask(json!({"op": "dkg3", "round2": {
            "server": hex::encode(for_holder(&server_out, Holder::User)),
            "agent": hex::encode(for_holder(&agent_out, Holder::User)),
        }}))["group_key"],
    );
    let group = server.share.group_key();
    assert_eq!(agent.share.group_key(), group);
    assert_eq!(user_key, group, "the browser derived the same group key");

    // The user signs with each Rust holder in turn; Rust aggregates; dalek verifies.
    let verifying = ed25519_dalek::VerifyingKey::from_bytes(&group).unwrap();
    for (rust, name) in [(&server, "server"), (&agent, "agent")] {
        let message = format!("a transaction the user and the {name} both decoded");
        let (nonces, mine) = sign::commit(&rust.share);
        let theirs = Commitment::from_bytes(
            Holder::User,
            &bytes(&user.ask(json!({"op": "commit"}))["commitment"]),
        )
        .unwrap();
        let commitments = [mine.clone(), theirs.clone()];
        let rust_share =
            sign::share(&rust.share, nonces, message.as_bytes(), &commitments).unwrap();
        let user_share = SignatureShare::from_bytes(
            Holder::User,
            &bytes(
                &user.ask(json!({"op": "sign", "message": hex::encode(&message),
                "commitments": {name: hex::encode(mine.to_bytes().unwrap()),
                                "user": hex::encode(theirs.to_bytes().unwrap())}}))["share"],
            ),
        )
        .unwrap();
        let sig = sign::aggregate(
            &server.group,
            message.as_bytes(),
            &commitments,
            &[rust_share, user_share],
        )
        .unwrap();
        verifying
            .verify_strict(
                message.as_bytes(),
                &ed25519_dalek::Signature::from_bytes(&sig),
            )
            .unwrap();
    }
}

#[test]
fn the_browser_packages_own_tests_pass() {
    let out = Command::new("node")
        .args(["--test", "test/dkg.test.mjs", "test/rfc9591.test.mjs"])
        .current_dir(browser_dir())
        .output()
        .expect("node");
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{log}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        log.contains("# pass 3") && log.contains("# fail 0"),
        "{log}"
    );
}
