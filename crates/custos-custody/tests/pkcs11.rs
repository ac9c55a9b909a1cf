//! The PKCS#11 backend's behaviour against a real SoftHSM2 token in a temporary token directory
//! (see `pkcs11_support`). The restart test re-runs this binary as a child process, which
//! initialises the module afresh from the same token dir. Raw inspection of the token's objects
//! lives in `pkcs11_token.rs`, apart from these parallel tests.
#![cfg(feature = "pkcs11")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod pkcs11_support;
mod policy_support;
use policy_support::{enrol, enrol_with};

use custos_core::{
    AgentId, AuditCheckpoint, Custody, CustodyError, KeyScheme, KeyStatus, SignPayload, SignRequest,
};
use custos_custody::pkcs11::{verify_pkcs11_attestation, SOFTHSM2_MODULE};
use custos_custody::{run, verify_checkpoint, EnclaveClient, EnclaveConfig};
use pkcs11_support::*;
use sha2::Digest;
use std::process::Command;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ed25519_signatures_verify_strictly() {
    let c = open().await;
    let agent = AgentId::new_random();
    enrol(&c, agent).await;
    let info = c.create_key(agent, KeyScheme::Ed25519).await.unwrap();
    assert_eq!(info.public_key.len(), 32);
    assert_eq!(info.status, KeyStatus::Active);
    for i in 0..8u8 {
        let msg = [b"solana says hi ".as_slice(), &[i]].concat();
        let sig = c.sign(req(agent, KeyScheme::Ed25519, &msg)).await.unwrap();
        assert_eq!(sig.key_id, info.key_id);
        assert_eq!(sig.public_key, info.public_key);
        assert_eq!(sig.bytes.len(), 64);
        verify(&info, &msg, &sig.bytes);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecdsa_is_always_low_s_and_recovers_the_evm_address() {
    let c = open().await;
    let agent = AgentId::new_random();
    enrol(&c, agent).await;
    let info = c
        .create_key(agent, KeyScheme::Secp256k1Ecdsa)
        .await
        .unwrap();
    assert!(info.address.starts_with("0x") && info.address.len() == 42);
    let (mut v0, mut v1) = (0, 0);
    for i in 0..64u32 {
        let msg = format!("evm message {i}");
        let sig = c
            .sign(req(agent, KeyScheme::Secp256k1Ecdsa, msg.as_bytes()))
            .await
            .unwrap();
        verify(&info, msg.as_bytes(), &sig.bytes);
        if sig.bytes[64] == 0 {
            v0 += 1
        } else {
            v1 += 1
        }
    }
    // Both recovery ids occur: the id is computed, not assumed.
    assert!(v0 > 0 && v1 > 0, "v0={v0} v1={v1}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_never_sign_with_each_others_keys() {
    let c = open().await;
    let (a, b) = (AgentId::new_random(), AgentId::new_random());
    enrol(&c, a).await;
    enrol(&c, b).await;
    for scheme in [KeyScheme::Ed25519, KeyScheme::Secp256k1Ecdsa] {
        let ka = c.create_key(a, scheme).await.unwrap();
        let kb = c.create_key(b, scheme).await.unwrap();
        assert_ne!(ka.public_key, kb.public_key);
        assert_ne!(ka.key_id, kb.key_id);
        let sa = c.sign(req(a, scheme, b"pay me")).await.unwrap();
        assert_eq!(sa.public_key, ka.public_key);
        verify(&ka, b"pay me", &sa.bytes);
        match scheme {
            KeyScheme::Ed25519 => {
                let vb = ed25519_dalek::VerifyingKey::from_bytes(
                    &kb.public_key.as_slice().try_into().unwrap(),
                )
                .unwrap();
                let sig = ed25519_dalek::Signature::from_slice(&sa.bytes).unwrap();
                assert!(vb
                    .verify_strict(&envelope(scheme, b"pay me"), &sig)
                    .is_err());
            }
            _ => assert_ne!(
                recover_address(b"pay me", &sa.bytes),
                kb.address.to_lowercase()
            ),
        }
        let stranger = AgentId::new_random();
        enrol(&c, stranger).await;
        assert!(matches!(
            c.sign(req(stranger, scheme, b"x")).await,
            Err(CustodyError::NoKey { .. })
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_survive_a_new_instance_and_a_new_process() {
    let agent = AgentId::new_random();
    let mut expect = Vec::new();
    {
        let c = open().await;
        enrol(&c, agent).await;
        for scheme in [KeyScheme::Ed25519, KeyScheme::Secp256k1Ecdsa] {
            let info = c.create_key(agent, scheme).await.unwrap();
            expect.push(format!(
                "{}={}",
                scheme.as_str(),
                hex::encode(&info.public_key)
            ));
        }
    }
    // A new instance in this process: no cache, found again by label.
    let c = open().await;
    for scheme in [KeyScheme::Ed25519, KeyScheme::Secp256k1Ecdsa] {
        let info = c.public_key(agent, scheme).await.unwrap().unwrap();
        assert!(expect.contains(&format!(
            "{}={}",
            scheme.as_str(),
            hex::encode(&info.public_key)
        )));
        assert_eq!(c.create_key(agent, scheme).await.unwrap(), info);
        let sig = c.sign(req(agent, scheme, b"after restart")).await.unwrap();
        verify(&info, b"after restart", &sig.bytes);
    }
    // A new process: the module initialised afresh from the token directory.
    let out = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_CONF, &token().conf)
        .env(CHILD_EXPECT, format!("{agent};{}", expect.join(";")))
        .args([
            "--exact",
            "restart_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {out:?}");
    assert!(stdout.contains("restart child verified 2 keys"), "{stdout}");
}

/// The restart test's child half; does nothing unless started by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_child() {
    let Ok(expect) = std::env::var(CHILD_EXPECT) else {
        return;
    };
    let mut parts = expect.split(';');
    let agent: AgentId = parts.next().unwrap().parse().unwrap();
    let c = open().await;
    // This process's policy book is its own: the owner enrols the agent here too.
    enrol(&c, agent).await;
    let mut n = 0;
    for (scheme, want) in parts.map(|p| p.split_once('=').unwrap()) {
        let scheme = match scheme {
            "ed25519" => KeyScheme::Ed25519,
            _ => KeyScheme::Secp256k1Ecdsa,
        };
        let info = c.public_key(agent, scheme).await.unwrap().unwrap();
        assert_eq!(hex::encode(&info.public_key), want);
        let sig = c.sign(req(agent, scheme, b"child")).await.unwrap();
        verify(&info, b"child", &sig.bytes);
        n += 1;
    }
    println!("restart child verified {n} keys");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_leaves_the_old_key_receive_only_on_the_token() {
    let c = open().await;
    let agent = AgentId::new_random();
    enrol(&c, agent).await;
    let scheme = KeyScheme::Secp256k1Ecdsa;
    assert!(matches!(
        c.rotate(agent, scheme).await,
        Err(CustodyError::NoKey { .. })
    ));
    let old = c.create_key(agent, scheme).await.unwrap();
    let new = c.rotate(agent, scheme).await.unwrap();
    assert_ne!(old.key_id, new.key_id);
    assert_ne!(old.public_key, new.public_key);
    assert_eq!(
        c.public_key(agent, scheme).await.unwrap(),
        Some(new.clone())
    );
    let sig = c.sign(req(agent, scheme, b"new key")).await.unwrap();
    assert_eq!(sig.key_id, new.key_id);
    verify(&new, b"new key", &sig.bytes);

    // A fresh instance agrees.
    let c2 = open().await;
    assert_eq!(c2.public_key(agent, scheme).await.unwrap(), Some(new));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attestation_and_checkpoints_are_signed_by_the_token_identity() {
    let c = open().await;
    let doc = c.attestation(b"fresh nonce").await.unwrap();
    assert_eq!(doc.format, "pkcs11");
    assert!(!doc.hardware_backed, "SoftHSM2 is software");
    assert_eq!(doc.public_key, hex::encode(c.identity_public_key()));
    let module = std::fs::read(SOFTHSM2_MODULE).unwrap();
    assert_eq!(doc.measurement, hex::encode(sha2::Sha256::digest(&module)));
    let token = verify_pkcs11_attestation(&doc, b"fresh nonce").unwrap();
    assert_eq!(token.label, LABEL);
    assert!(token.manufacturer.contains("SoftHSM"), "{token:?}");
    assert!(verify_pkcs11_attestation(&doc, b"stale nonce").is_err());
    assert!(matches!(
        c.attestation(&[0u8; 2048]).await,
        Err(CustodyError::InvalidPayload(_))
    ));

    let cp = c.sign_audit_checkpoint(42, [9u8; 32]).await.unwrap();
    verify_checkpoint(&cp).unwrap();
    assert_eq!(cp.public_key, doc.public_key);
    let vk = ed25519_dalek::VerifyingKey::from_bytes(
        &c.identity_public_key().as_slice().try_into().unwrap(),
    )
    .unwrap();
    let sig = ed25519_dalek::Signature::from_slice(&hex::decode(&cp.signature).unwrap()).unwrap();
    vk.verify_strict(
        &AuditCheckpoint::signed_bytes(42, &hex::encode([9u8; 32]), cp.timestamp_ms),
        &sig,
    )
    .unwrap();
    let mut forged = cp.clone();
    forged.seq = 43;
    assert!(verify_checkpoint(&forged).is_err());
    // The identity is a token key: the same after a restart.
    let c2 = open().await;
    assert_eq!(c2.identity_public_key(), c.identity_public_key());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schnorr_is_refused_with_a_clear_reason() {
    let c = open().await;
    let agent = AgentId::new_random();
    enrol(&c, agent).await;
    let s = KeyScheme::Secp256k1Schnorr;
    for r in [
        c.create_key(agent, s).await,
        c.rotate(agent, s).await,
        c.sign(req(agent, s, b"x")).await.map(|_| unreachable!()),
    ] {
        match r {
            Err(CustodyError::InvalidPayload(m)) => assert!(m.contains("BIP-340"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        c.public_key(agent, s).await,
        Err(CustodyError::InvalidPayload(_))
    ));
    assert!(matches!(
        c.raw_bench_key(s, custos_custody::RawKey::Session),
        Err(CustodyError::InvalidPayload(_))
    ));
}

/// The agent's Kalshi key on the token: RSA-2048 generated there (its attributes are checked
/// with the other keys' in `pkcs11_token.rs`), its public half read back as a DER key, and `CKM_SHA256_RSA_PKCS_PSS` signatures over the
/// text the boundary builds, checked with OpenSSL; an order over the policy's cap, or a stale
/// timestamp, gets no signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kalshi_requests_are_signed_on_the_token_within_the_policy() {
    use custos_core::prediction::{KalshiMethod, KalshiOrder, OutcomeSide};
    use custos_core::KalshiRequest;
    let c = open().await;
    let agent = AgentId::new_random();
    let doc = custos_policy::PolicyDocument::from_json_over(
        &serde_json::json!({"actions": {"prediction": true},
            "prediction": {"markets": ["KXFED"], "max_contracts": 10, "max_usd_per_order": "5"}}),
        &custos_policy::PolicyDocument::default(),
    )
    .unwrap();
    enrol_with(&c, agent, doc).await;
    let s = KeyScheme::RsaPssSha256;
    let info = c.create_key(agent, s).await.unwrap();
    assert_eq!(
        info.address,
        hex::encode(sha2::Sha256::digest(&info.public_key))
    );
    assert!(custos_custody::rsa_key::public_pem(&info.public_key).is_ok());
    assert_eq!(c.create_key(agent, s).await.unwrap().key_id, info.key_id);
    let now = || custos_core::Clock::now_ms(&custos_core::SystemClock);
    let sign = |request: KalshiRequest| SignRequest {
        agent_id: agent,
        scheme: s,
        payload: SignPayload::KalshiRequest {
            request: Box::new(request),
        },
        action: Some(custos_core::Action::Prediction),
    };
    let order = |count| KalshiRequest {
        timestamp_ms: now(),
        method: KalshiMethod::Post,
        path: "/trade-api/v2/portfolio/orders".into(),
        order: Some(KalshiOrder {
            ticker: "KXFED-26DEC-T4.00".into(),
            side: OutcomeSide::No,
            count,
            price_cents: 50,
            client_order_id: "c-1".into(),
        }),
    };
    let ok = order(10);
    let sig = c.sign(sign(ok.clone())).await.unwrap();
    assert_eq!(sig.bytes.len(), 256);
    assert_eq!(sig.public_key, info.public_key);
    assert!(custos_custody::rsa_key::verify_pss(
        &info.public_key,
        ok.message().as_bytes(),
        &sig.bytes
    ));
    match c.sign(sign(order(11))).await {
        Err(CustodyError::PolicyRefused(m)) => {
            assert!(m.contains("prediction.max_contracts"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    let mut stale = order(1);
    stale.timestamp_ms -= 60_000;
    assert!(matches!(
        c.sign(sign(stale)).await,
        Err(CustodyError::InvalidPayload(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_share_the_session_pool() {
    let c = open().await; // 3 sessions
    let agent = AgentId::new_random();
    enrol(&c, agent).await;
    // Concurrent creates make exactly one key.
    let creates: Vec<_> = (0..8)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.create_key(agent, KeyScheme::Ed25519).await })
        })
        .collect();
    let mut ids = Vec::new();
    for t in creates {
        ids.push(t.await.unwrap().unwrap().key_id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1);
    let ecdsa = c
        .create_key(agent, KeyScheme::Secp256k1Ecdsa)
        .await
        .unwrap();
    let ed = c
        .public_key(agent, KeyScheme::Ed25519)
        .await
        .unwrap()
        .unwrap();
    let signs: Vec<_> = (0..48u32)
        .map(|i| {
            let c = c.clone();
            let scheme = if i % 2 == 0 {
                KeyScheme::Ed25519
            } else {
                KeyScheme::Secp256k1Ecdsa
            };
            tokio::spawn(async move {
                let msg = format!("concurrent {i}");
                (
                    msg.clone(),
                    c.sign(req(agent, scheme, msg.as_bytes())).await.unwrap(),
                )
            })
        })
        .collect();
    for t in signs {
        let (msg, sig) = t.await.unwrap();
        let info = if sig.scheme == KeyScheme::Ed25519 {
            &ed
        } else {
            &ecdsa
        };
        verify(info, msg.as_bytes(), &sig.bytes);
    }
    c.health().await.unwrap();
}

// --- The same custody contract, run against the enclave and the token -----------------------

/// What a backend did for each step of the contract, in a form both backends must agree on.
async fn contract(c: &dyn Custody) -> Vec<String> {
    let mut seen = Vec::new();
    let agent = AgentId::new_random();
    enrol(c, agent).await;
    for scheme in [KeyScheme::Ed25519, KeyScheme::Secp256k1Ecdsa] {
        seen.push(format!(
            "absent={:?}",
            c.public_key(agent, scheme).await.unwrap()
        ));
        let k1 = c.create_key(agent, scheme).await.unwrap();
        let k2 = c.create_key(agent, scheme).await.unwrap();
        seen.push(format!("idempotent={}", k1 == k2));
        let pk = c.public_key(agent, scheme).await.unwrap();
        seen.push(format!("public_key_matches={}", pk.as_ref() == Some(&k1)));
        seen.push(format!(
            "pk_len={} status={:?}",
            k1.public_key.len(),
            k1.status
        ));
        let sig = c.sign(req(agent, scheme, b"contract")).await.unwrap();
        verify(&k1, b"contract", &sig.bytes);
        seen.push(format!(
            "sig_len={} key_id_matches={} public_key_matches={}",
            sig.bytes.len(),
            sig.key_id == k1.key_id,
            sig.public_key == k1.public_key
        ));
        let quiet = AgentId::new_random();
        let mut off = custos_policy::PolicyDocument::default();
        off.actions.sign_message = false;
        enrol_with(c, quiet, off).await;
        c.create_key(quiet, scheme).await.unwrap();
        seen.push(format!(
            "policy={:?}",
            c.sign(req(quiet, scheme, b"contract")).await.map(|_| ())
        ));
        seen.push(format!(
            "unenrolled={}",
            matches!(
                c.sign(req(AgentId::new_random(), scheme, b"x")).await,
                Err(CustodyError::EnvelopeRefused(_))
            )
        ));
        let stranger = AgentId::new_random();
        enrol(c, stranger).await;
        seen.push(format!(
            "no_key={}",
            matches!(
                c.sign(req(stranger, scheme, b"x")).await,
                Err(CustodyError::NoKey { .. })
            )
        ));
        let tx = SignRequest {
            agent_id: agent,
            scheme,
            payload: SignPayload::EvmTransaction {
                bytes: vec![2, 0xc0],
            },
            action: None,
        };
        seen.push(format!("undecodable_refused={}", c.sign(tx).await.is_err()));
    }
    let mut bare = req(agent, KeyScheme::Ed25519, b"");
    bare.payload = SignPayload::Message {
        bytes: b"no domain".to_vec(),
    };
    seen.push(format!(
        "ed25519_without_domain={}",
        matches!(c.sign(bare).await, Err(CustodyError::InvalidPayload(_)))
    ));
    let cp = c.sign_audit_checkpoint(1, [1u8; 32]).await.unwrap();
    seen.push(format!("checkpoint={:?}", verify_checkpoint(&cp)));
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_custody_contract_matches_the_enclave() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("run").join("enclave.sock");
    let mut cfg = EnclaveConfig::new(&socket, dir.path().join("data"));
    cfg.harden = false;
    let server = tokio::spawn(run(cfg));
    let enclave = EnclaveClient::new(&socket).with_timeout(Duration::from_secs(20));
    let mut up = false;
    for _ in 0..200 {
        if enclave.health().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(up, "enclave did not come up");
    let from_enclave = contract(&enclave).await;
    let from_token = contract(&open().await).await;
    server.abort();
    assert_eq!(from_enclave, from_token);
    assert!(
        from_token.iter().any(|s| s.contains("PolicyRefused")),
        "{from_token:?}"
    );
}
