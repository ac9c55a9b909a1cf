//! The real enclave server on a temp socket, driven through `EnclaveClient` and raw frames.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use custos_core::{AgentId, Custody, CustodyError, KeyScheme, KeyStatus, SignPayload, SignRequest};

mod policy_support;
use custos_custody::protocol::{self, Outcome, Response, WireError};
use custos_custody::{
    run, verify_checkpoint, verify_dev_attestation, EnclaveClient, EnclaveConfig,
};
use k256::ecdsa::signature::hazmat::PrehashVerifier;
use policy_support::{enrol, enrol_with};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

const SCHEMES: [KeyScheme; 3] = [
    KeyScheme::Ed25519,
    KeyScheme::Secp256k1Ecdsa,
    KeyScheme::Secp256k1Schnorr,
];

struct Harness {
    dir: tempfile::TempDir,
    server: Option<JoinHandle<Result<(), CustodyError>>>,
    enrolment_keys: Vec<custos_signer::OwnerKey>,
}

impl Harness {
    async fn start() -> Self {
        Self::start_with(Vec::new()).await
    }
    /// An enclave that accepts first policies only from `enrolment_keys`.
    async fn start_with(enrolment_keys: Vec<custos_signer::OwnerKey>) -> Self {
        let mut h = Self {
            dir: tempfile::tempdir().unwrap(),
            server: None,
            enrolment_keys,
        };
        h.restart().await;
        h
    }
    fn socket(&self) -> PathBuf {
        self.dir.path().join("run").join("enclave.sock")
    }
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    fn config(&self) -> EnclaveConfig {
        let mut cfg = EnclaveConfig::new(self.socket(), self.data());
        cfg.harden = false; // would mlockall/undump the whole test binary
        cfg.enrolment_keys = self.enrolment_keys.clone();
        cfg
    }
    async fn restart(&mut self) {
        self.kill().await;
        self.server = Some(tokio::spawn(run(self.config())));
        let probe = EnclaveClient::new(self.socket()).with_timeout(Duration::from_secs(2));
        for _ in 0..200 {
            if probe.health().await.is_ok() {
                return;
            }
            if self.server.as_ref().unwrap().is_finished() {
                let r = self.server.take().unwrap().await.unwrap();
                panic!("enclave exited: {r:?}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("enclave did not come up");
    }
    async fn kill(&mut self) {
        if let Some(h) = self.server.take() {
            h.abort();
            let _ = h.await;
        }
    }
    fn client(&self) -> EnclaveClient {
        EnclaveClient::new(self.socket()).with_timeout(Duration::from_secs(20))
    }
    fn key_file(&self, agent: AgentId, scheme: KeyScheme, key_id: &str) -> PathBuf {
        self.data()
            .join("keys")
            .join(agent.to_string())
            .join(scheme.as_str())
            .join(format!("{key_id}.json"))
    }
}

/// The bytes the boundary accepts for a message: Ed25519 messages carry the off-chain domain.
fn envelope(scheme: KeyScheme, msg: &[u8]) -> Vec<u8> {
    match scheme {
        KeyScheme::Ed25519 => [custos_core::custody::SOLANA_OFFCHAIN_DOMAIN, msg].concat(),
        _ => msg.to_vec(),
    }
}

fn msg_req(agent: AgentId, scheme: KeyScheme, msg: &[u8]) -> SignRequest {
    SignRequest {
        agent_id: agent,
        scheme,
        payload: SignPayload::Message {
            bytes: envelope(scheme, msg),
        },
        action: None,
    }
}

/// Verifies a message signature with libraries' own verifiers, independently of the signer.
fn verify(scheme: KeyScheme, public_key: &[u8], address: &str, msg: &[u8], sig: &[u8]) {
    match scheme {
        KeyScheme::Ed25519 => {
            let vk =
                ed25519_dalek::VerifyingKey::from_bytes(&public_key.try_into().unwrap()).unwrap();
            vk.verify_strict(
                &envelope(scheme, msg),
                &ed25519_dalek::Signature::from_slice(sig).unwrap(),
            )
            .unwrap();
            assert_eq!(address, bs58::encode(public_key).into_string());
        }
        KeyScheme::Secp256k1Ecdsa => {
            assert_eq!(sig.len(), 65);
            let mut h = sha3::Keccak256::new();
            h.update(format!("\x19Ethereum Signed Message:\n{}", msg.len()).as_bytes());
            h.update(msg);
            let digest: [u8; 32] = h.finalize().into();
            let s = k256::ecdsa::Signature::from_slice(&sig[..64]).unwrap();
            assert!(s.normalize_s().is_none(), "high S");
            let recid = k256::ecdsa::RecoveryId::from_byte(sig[64]).unwrap();
            let rec = k256::ecdsa::VerifyingKey::recover_from_prehash(&digest, &s, recid).unwrap();
            assert_eq!(rec.to_encoded_point(true).as_bytes(), public_key);
            rec.verify_prehash(&digest, &s).unwrap();
            // ecrecover-equivalent: the recovered key's address is the advertised one.
            let uncompressed = rec.to_encoded_point(false);
            let hash: [u8; 32] = sha3::Keccak256::digest(&uncompressed.as_bytes()[1..]).into();
            assert_eq!(
                address.to_lowercase(),
                format!("0x{}", hex::encode(&hash[12..]))
            );
        }
        KeyScheme::Secp256k1Schnorr => {
            let vk = k256::schnorr::VerifyingKey::from_bytes(public_key).unwrap();
            let s = k256::schnorr::Signature::try_from(sig).unwrap();
            let digest: [u8; 32] = sha2::Sha256::digest(msg).into();
            vk.verify_prehash(&digest, &s).unwrap();
            assert_eq!(address, hex::encode(public_key));
        }
        KeyScheme::RsaPssSha256 => unreachable!("the rsa key signs kalshi requests only"),
    }
}

/// The enclave's own freeze list: a frozen agent, and every agent under the kill switch, gets
/// no signature whatever the caller asks; the list survives a restart; lifting the switch leaves
/// one-by-one freezes in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_agents_and_the_kill_switch_are_refused_by_the_enclave_itself() {
    use custos_core::{FreezeState, FreezeTarget};
    let mut h = Harness::start().await;
    let c = h.client();
    let (a, b) = (AgentId::new_random(), AgentId::new_random());
    for x in [a, b] {
        enrol(&c, x).await;
        c.create_key(x, KeyScheme::Ed25519).await.unwrap();
    }
    let refused = |r: Result<custos_core::Signature, CustodyError>, what: &str| match r {
        Err(CustodyError::PolicyRefused(m)) => assert!(m.contains(what), "{m}"),
        other => panic!("expected a refusal naming {what:?}: {other:?}"),
    };
    assert_eq!(c.frozen().await.unwrap(), FreezeState::default());
    let held = c.set_frozen(FreezeTarget::Agent(a), true).await.unwrap();
    assert_eq!(held.agents, vec![a]);
    refused(c.sign(msg_req(a, KeyScheme::Ed25519, b"x")).await, "frozen");
    c.sign(msg_req(b, KeyScheme::Ed25519, b"x")).await.unwrap();
    c.set_frozen(FreezeTarget::All, true).await.unwrap();
    refused(
        c.sign(msg_req(b, KeyScheme::Ed25519, b"x")).await,
        "kill switch",
    );

    h.restart().await;
    let c = h.client();
    let held = c.frozen().await.unwrap();
    assert!(held.all && held.agents == vec![a], "{held:?}");
    refused(
        c.sign(msg_req(b, KeyScheme::Ed25519, b"x")).await,
        "kill switch",
    );
    c.set_frozen(FreezeTarget::All, false).await.unwrap();
    c.sign(msg_req(b, KeyScheme::Ed25519, b"x")).await.unwrap();
    refused(c.sign(msg_req(a, KeyScheme::Ed25519, b"x")).await, "frozen");
    c.set_frozen(FreezeTarget::Agent(a), false).await.unwrap();
    c.sign(msg_req(a, KeyScheme::Ed25519, b"x")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_sign_survive_restart_and_stay_bound_to_their_agent() {
    let mut h = Harness::start().await;
    let c = h.client();
    let (a, b) = (AgentId::new_random(), AgentId::new_random());
    assert_eq!(c.public_key(a, KeyScheme::Ed25519).await.unwrap(), None);
    // No owner-signed policy: refused before any key is looked at.
    assert!(matches!(
        c.sign(msg_req(a, KeyScheme::Ed25519, b"x")).await,
        Err(CustodyError::EnvelopeRefused(m)) if m.contains("no owner-signed policy")
    ));
    enrol(&c, a).await;
    enrol(&c, b).await;
    assert!(matches!(
        c.sign(msg_req(a, KeyScheme::Ed25519, b"x")).await,
        Err(CustodyError::NoKey { .. })
    ));

    let mut keys = Vec::new();
    for scheme in SCHEMES {
        let ka = c.create_key(a, scheme).await.unwrap();
        assert_eq!(
            c.create_key(a, scheme).await.unwrap(),
            ka,
            "create is idempotent"
        );
        assert_eq!(ka.status, KeyStatus::Active);
        let kb = c.create_key(b, scheme).await.unwrap();
        assert_ne!(ka.public_key, kb.public_key);
        assert_eq!(c.public_key(a, scheme).await.unwrap().as_ref(), Some(&ka));

        let sig = c.sign(msg_req(a, scheme, b"pay 1 SOL")).await.unwrap();
        assert_eq!(
            sig.public_key, ka.public_key,
            "A's request signs with A's key"
        );
        assert_eq!(sig.key_id, ka.key_id);
        verify(
            scheme,
            &ka.public_key,
            &ka.address,
            b"pay 1 SOL",
            &sig.bytes,
        );
        let sig_b = c.sign(msg_req(b, scheme, b"pay 1 SOL")).await.unwrap();
        assert_eq!(sig_b.public_key, kb.public_key);
        keys.push((scheme, ka, kb));
    }

    // Restart with the same data dir: same keys; signatures still verify; the pooled
    // connection to the dead server is replaced transparently.
    h.restart().await;
    for (scheme, ka, _) in &keys {
        assert_eq!(c.public_key(a, *scheme).await.unwrap().as_ref(), Some(ka));
        let sig = c.sign(msg_req(a, *scheme, b"after restart")).await.unwrap();
        verify(
            *scheme,
            &ka.public_key,
            &ka.address,
            b"after restart",
            &sig.bytes,
        );
    }

    // B's sealed blob copied over A's file name: refused, never used as A's key.
    h.kill().await;
    let (scheme, ka, kb) = &keys[1];
    let path_a = h.key_file(a, *scheme, &ka.key_id);
    let original = std::fs::read(&path_a).unwrap();
    std::fs::copy(h.key_file(b, *scheme, &kb.key_id), &path_a).unwrap();
    h.restart().await;
    let c = h.client();
    assert_eq!(
        c.sign(msg_req(a, *scheme, b"steal")).await.unwrap_err(),
        CustodyError::Integrity
    );
    assert_eq!(
        c.public_key(a, *scheme).await.unwrap_err(),
        CustodyError::Integrity
    );
    // Other agents and schemes are unaffected.
    c.sign(msg_req(b, *scheme, b"fine")).await.unwrap();
    c.sign(msg_req(a, KeyScheme::Ed25519, b"fine"))
        .await
        .unwrap();

    // A tampered blob (one ciphertext bit) is refused too.
    h.kill().await;
    let mut doc: serde_json::Value = serde_json::from_slice(&original).unwrap();
    let sealed = doc["sealed_key"].as_str().unwrap().to_string();
    let mut chars: Vec<char> = sealed.chars().collect();
    chars[30] = if chars[30] == 'A' { 'B' } else { 'A' };
    doc["sealed_key"] = chars.into_iter().collect::<String>().into();
    std::fs::write(&path_a, serde_json::to_vec(&doc).unwrap()).unwrap();
    h.restart().await;
    assert_eq!(
        c.sign(msg_req(a, *scheme, b"x")).await.unwrap_err(),
        CustodyError::Integrity
    );

    // Restoring the genuine file restores the key.
    h.kill().await;
    std::fs::write(&path_a, &original).unwrap();
    h.restart().await;
    let sig = c.sign(msg_req(a, *scheme, b"back")).await.unwrap();
    verify(*scheme, &ka.public_key, &ka.address, b"back", &sig.bytes);

    // Layout and permissions.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&h.socket()), 0o600);
    assert_eq!(mode(&path_a), 0o600);
    assert_eq!(mode(&h.data().join("kms").join("master.key")), 0o600);
    assert_eq!(mode(&h.data()), 0o700);
    h.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_attestation_checkpoint_and_policy() {
    let mut h = Harness::start().await;
    let c = h.client();
    let a = AgentId::new_random();
    enrol(&c, a).await;
    assert!(matches!(
        c.rotate(a, KeyScheme::Ed25519).await,
        Err(CustodyError::NoKey { .. })
    ));
    let old = c.create_key(a, KeyScheme::Secp256k1Ecdsa).await.unwrap();
    let before = custos_core::Clock::now_ms(&custos_core::SystemClock);
    let new = c.rotate(a, KeyScheme::Secp256k1Ecdsa).await.unwrap();
    assert_ne!(new.public_key, old.public_key);
    assert_eq!(new.status, KeyStatus::Active);
    assert_eq!(
        c.public_key(a, KeyScheme::Secp256k1Ecdsa).await.unwrap(),
        Some(new.clone())
    );
    let sig = c
        .sign(msg_req(a, KeyScheme::Secp256k1Ecdsa, b"m"))
        .await
        .unwrap();
    assert_eq!(sig.public_key, new.public_key);
    // The old key's file is kept, receive-only for ~30 days.
    let old_file: serde_json::Value = serde_json::from_slice(
        &std::fs::read(h.key_file(a, KeyScheme::Secp256k1Ecdsa, &old.key_id)).unwrap(),
    )
    .unwrap();
    let until = old_file["status"]["receive_only"]["until_ms"]
        .as_i64()
        .unwrap();
    let thirty_days = 30 * 24 * 3600 * 1000;
    assert!(until >= before + thirty_days && until < before + thirty_days + 60_000);
    h.restart().await;
    assert_eq!(
        c.public_key(a, KeyScheme::Secp256k1Ecdsa).await.unwrap(),
        Some(new)
    );

    // Attestation: bound to the nonce; identity key stable across restarts.
    let doc = c.attestation(b"nonce-123").await.unwrap();
    verify_dev_attestation(&doc, b"nonce-123").unwrap();
    assert!(verify_dev_attestation(&doc, b"nonce-124").is_err());
    assert_eq!(doc.format, "dev");
    assert!(!doc.hardware_backed);
    assert_eq!(doc.measurement.len(), 64);
    let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert_eq!(doc.measurement, hex::encode(sha2::Sha256::digest(&exe)));
    assert!(matches!(
        c.attestation(&[0u8; 2000]).await,
        Err(CustodyError::InvalidPayload(_))
    ));

    // Checkpoint: verifies, by the same identity; fails once seq changes.
    let cp = c.sign_audit_checkpoint(42, [9u8; 32]).await.unwrap();
    verify_checkpoint(&cp).unwrap();
    assert_eq!(cp.public_key, doc.public_key);
    let mut forged = cp.clone();
    forged.seq = 43;
    assert!(verify_checkpoint(&forged).is_err());
    h.restart().await;
    let cp2 = c.sign_audit_checkpoint(43, [1u8; 32]).await.unwrap();
    assert_eq!(cp2.public_key, cp.public_key);

    // The boundary's own checks, under the policy it holds.
    let quiet = AgentId::new_random();
    let mut off = custos_policy::PolicyDocument::default();
    off.actions.sign_message = false;
    enrol_with(&c, quiet, off).await;
    c.create_key(quiet, KeyScheme::Secp256k1Ecdsa)
        .await
        .unwrap();
    let req = msg_req(quiet, KeyScheme::Secp256k1Ecdsa, b"m");
    match c.sign(req).await {
        Err(CustodyError::PolicyRefused(r)) => assert!(r.contains("sign_message"), "{r}"),
        other => panic!("{other:?}"),
    }
    let mut req = msg_req(a, KeyScheme::Secp256k1Ecdsa, b"m");
    req.payload = SignPayload::EvmTransaction { bytes: vec![2, 1] };
    assert!(matches!(
        c.sign(req).await,
        Err(CustodyError::InvalidPayload(_))
    ));
    h.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_make_one_key() {
    let h = Harness::start().await;
    let c = std::sync::Arc::new(h.client());
    let a = AgentId::new_random();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.create_key(a, KeyScheme::Ed25519).await.unwrap()
        }));
    }
    let mut keys = Vec::new();
    for t in tasks {
        keys.push(t.await.unwrap());
    }
    assert!(keys.iter().all(|k| k == &keys[0]));
    let n = std::fs::read_dir(h.data().join("keys").join(a.to_string()).join("ed25519"))
        .unwrap()
        .count();
    assert_eq!(n, 1);
}

async fn raw_call(s: &mut tokio::net::UnixStream, body: &[u8]) -> Option<Response> {
    protocol::write_frame(s, body).await.ok()?;
    let reply = protocol::read_frame(s).await.ok()??;
    Some(protocol::decode_response(&reply).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_do_not_crash_the_server() {
    let h = Harness::start().await;
    let mut s = tokio::net::UnixStream::connect(h.socket()).await.unwrap();
    for garbage in [
        &b""[..],
        b"\x00\xff\xfe",
        b"{",
        b"null",
        b"{\"v\":1}",
        b"{\"v\":1,\"id\":3,\"op\":{\"sign\":{}}}",
        b"{\"v\":1,\"id\":4,\"op\":\"format_disk\"}",
    ] {
        let r = raw_call(&mut s, garbage).await.expect("server answered");
        assert!(
            matches!(r.outcome, Outcome::Err(WireError::BadRequest { .. })),
            "{r:?}"
        );
    }
    let r = raw_call(&mut s, br#"{"v":9,"id":77,"op":"health"}"#)
        .await
        .unwrap();
    assert_eq!(r.id, 77);
    assert!(matches!(
        r.outcome,
        Outcome::Err(WireError::UnsupportedVersion { got: 9, .. })
    ));
    // The same connection still works.
    let r = raw_call(&mut s, br#"{"v":1,"id":78,"op":"health"}"#)
        .await
        .unwrap();
    assert_eq!(r.id, 78);
    assert!(matches!(r.outcome, Outcome::Ok(_)));

    // Oversize length prefix: answered with frame_too_large, connection closed.
    let mut s = tokio::net::UnixStream::connect(h.socket()).await.unwrap();
    s.write_all(&0xffff_fff0u32.to_be_bytes()).await.unwrap();
    let reply = protocol::read_frame(&mut s).await.unwrap().unwrap();
    let r = protocol::decode_response(&reply).unwrap();
    assert!(matches!(
        r.outcome,
        Outcome::Err(WireError::FrameTooLarge { .. })
    ));
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());

    // Random bytes on many connections, some cut mid-frame.
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..50 {
        let mut s = tokio::net::UnixStream::connect(h.socket()).await.unwrap();
        let n = rng.gen_range(0..300);
        let bytes: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
        let _ = s.write_all(&bytes).await;
        drop(s);
    }
    // Still alive and serving.
    h.client().health().await.unwrap();
    let a = AgentId::new_random();
    h.client().create_key(a, KeyScheme::Ed25519).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_arriving_together_or_split_are_each_answered() {
    let h = Harness::start().await;
    let a = AgentId::new_random();
    h.client().create_key(a, KeyScheme::Ed25519).await.unwrap();
    enrol(&h.client(), a).await;
    let request = |id: u64| {
        protocol::encode(&protocol::Request {
            v: protocol::PROTOCOL_VERSION,
            id,
            op: protocol::Op::Sign(msg_req(a, KeyScheme::Ed25519, format!("m{id}").as_bytes())),
        })
        .unwrap()
    };
    // Five requests in one write: the enclave reads them from one buffer and answers each.
    let mut bytes = Vec::new();
    for id in 1..=5u64 {
        let body = request(id);
        bytes.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
        bytes.extend_from_slice(&body);
    }
    // And one more cut into three writes: prefix, half the body, the rest.
    let last = request(6);
    let mut s = tokio::net::UnixStream::connect(h.socket()).await.unwrap();
    s.write_all(&bytes).await.unwrap();
    s.write_all(&u32::try_from(last.len()).unwrap().to_be_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    s.write_all(&last[..last.len() / 2]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    s.write_all(&last[last.len() / 2..]).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..6 {
        let reply = protocol::read_frame(&mut s).await.unwrap().unwrap();
        let r = protocol::decode_response(&reply).unwrap();
        assert!(matches!(r.outcome, Outcome::Ok(_)), "{r:?}");
        ids.push(r.id);
    }
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2, 3, 4, 5, 6]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_enclave_is_unavailable_and_socket_is_not_clobbered() {
    let dir = tempfile::tempdir().unwrap();
    let c = EnclaveClient::new(dir.path().join("nope.sock"));
    assert!(matches!(
        c.health().await,
        Err(CustodyError::Unavailable(_))
    ));

    // A regular file where the socket should go is not deleted.
    let path = dir.path().join("not-a-socket");
    std::fs::write(&path, b"important").unwrap();
    let mut cfg = EnclaveConfig::new(&path, dir.path().join("data"));
    cfg.harden = false;
    assert!(run(cfg).await.is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"important");

    // A second enclave on a live socket refuses to start.
    let h = Harness::start().await;
    let mut cfg = h.config();
    cfg.data_dir = dir.path().join("data2");
    assert!(matches!(run(cfg).await, Err(CustodyError::Unavailable(_))));
    h.client().health().await.unwrap();
}

/// The server compromised: a caller speaking the enclave socket directly. It cannot sign
/// without a policy, cannot bring one along, cannot enrol one of its own, cannot forge, edit or
/// replay an owner's envelope — and whatever it tries, the enclave signs only what the owner's
/// policy allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_on_the_socket_cannot_choose_the_policy() {
    use custos_core::PolicyJson;
    use custos_policy::PolicyDocument;
    use custos_signer::{enrolment, OwnerSigningKey, PolicyEnvelope};
    let operator = OwnerSigningKey::generate();
    let h = Harness::start_with(vec![operator.public()]).await;
    let c = h.client();
    let a = AgentId::new_random();
    c.create_key(a, KeyScheme::Ed25519).await.unwrap();
    let submit = |env: &PolicyEnvelope| {
        let c = h.client();
        let json = PolicyJson::new(env).unwrap();
        async move { c.submit_policy(json).await }
    };
    let refused = |r: Result<custos_core::Signature, CustodyError>, why: &str| match r {
        Err(CustodyError::EnvelopeRefused(m)) | Err(CustodyError::PolicyRefused(m)) => {
            assert!(m.contains(why), "expected {why:?}, got {m}")
        }
        other => panic!("expected a refusal ({why}), got {other:?}"),
    };

    // No policy enrolled: a message is refused.
    refused(
        c.sign(msg_req(a, KeyScheme::Ed25519, b"hi")).await,
        "no owner-signed policy",
    );
    // A policy smuggled into the request: the request itself is refused.
    let mut s = tokio::net::UnixStream::connect(h.socket()).await.unwrap();
    let frame = format!(
        r#"{{"v":1,"id":1,"op":{{"sign":{{"agent_id":"{a}","scheme":"ed25519","payload":{{"kind":"message","bytes":"{}"}},"policy":{{"actions":{{"sign_message":true}}}}}}}}}}"#,
        hex::encode(envelope(KeyScheme::Ed25519, b"hi"))
    );
    let r = raw_call(&mut s, frame.as_bytes()).await.unwrap();
    assert!(
        matches!(r.outcome, Outcome::Err(WireError::BadRequest { .. })),
        "{r:?}"
    );
    // Enrolling a permissive policy under its own key: not an enrolment key.
    let attacker = OwnerSigningKey::generate();
    let mut open = PolicyDocument::default();
    open.actions.sign_message = true;
    open.actions.sign_raw_hash = true;
    assert!(matches!(
        submit(&enrolment(a, open.clone(), &attacker)).await,
        Err(CustodyError::EnvelopeRefused(m)) if m.contains("enrolment refused")
    ));

    // The owner enrols a policy with message signing off.
    let mut quiet = PolicyDocument::default();
    quiet.actions.sign_message = false;
    let v1 = enrolment(a, quiet.clone(), &operator);
    submit(&v1).await.unwrap();
    refused(
        c.sign(msg_req(a, KeyScheme::Ed25519, b"hi")).await,
        "actions.sign_message",
    );
    // A raw hash is refused too (the policy says nothing that allows it).
    let mut raw = msg_req(a, KeyScheme::Ed25519, b"");
    raw.payload = SignPayload::RawHash { hash: vec![7; 32] };
    assert!(c.sign(raw).await.is_err());

    // A forged change: signed by the attacker.
    let next = |doc: PolicyDocument, prev: &PolicyEnvelope| {
        PolicyEnvelope::new(
            a,
            prev.version + 1,
            prev.hash(),
            0,
            prev.authority.clone(),
            doc,
        )
    };
    let mut forged = next(open.clone(), &v1);
    forged.sign(&attacker);
    assert!(matches!(
        submit(&forged).await,
        Err(CustodyError::EnvelopeRefused(m)) if m.contains("not enrolled")
    ));
    // An owner's genuine tightening, edited after signing.
    let mut tighter = quiet.clone();
    tighter.limits.max_tx_per_hour = 1;
    let mut v2 = next(tighter, &v1);
    v2.sign(&operator);
    let mut edited = v2.clone();
    edited.document = open.clone();
    assert!(matches!(
        submit(&edited).await,
        Err(CustodyError::EnvelopeRefused(m)) if m.contains("does not verify")
    ));
    submit(&v2).await.unwrap();
    // The older, looser-or-equal version replayed: stale.
    assert!(matches!(
        submit(&v1).await,
        Err(CustodyError::EnvelopeRefused(m)) if m.contains("stale")
    ));
    refused(
        c.sign(msg_req(a, KeyScheme::Ed25519, b"hi")).await,
        "actions.sign_message",
    );
    // What the enclave holds is the owner's version 2, across a restart too.
    let held = c.held_policy(a).await.unwrap().unwrap();
    let current = PolicyEnvelope::from_json(&held.current).unwrap();
    assert_eq!(current.version, 2);
    assert_eq!(current.hash(), v2.hash());
}
