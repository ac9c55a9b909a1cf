//! Shared by the PKCS#11 test binaries: the SoftHSM2 token, request builders and independent
//! verifiers.
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` once, at `C_Initialize`, and a module is initialised once per
//! process, so every test in a binary shares one token (created on first use through a
//! `OnceLock`) and isolates itself with fresh random agent ids.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::session::UserType;
use custos_core::{AgentId, KeyScheme, PublicKeyInfo, SecretString, SignPayload, SignRequest};
use custos_custody::pkcs11::SOFTHSM2_MODULE;
use custos_custody::{Pkcs11Config, Pkcs11Custody};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const LABEL: &str = "custos";
pub const PIN: &str = "1234";
pub const SO_PIN: &str = "5678";
/// Set in the child process of the restart test: the parent's conf file, and what to check.
pub const CHILD_CONF: &str = "CUSTOS_TEST_PKCS11_CHILD_CONF";
pub const CHILD_EXPECT: &str = "CUSTOS_TEST_PKCS11_CHILD_EXPECT";

pub struct Token {
    _dir: Option<tempfile::TempDir>,
    pub conf: PathBuf,
}

/// The shared token: created once per test binary, or inherited from the parent process.
pub fn token() -> &'static Token {
    static TOKEN: OnceLock<Token> = OnceLock::new();
    TOKEN.get_or_init(|| {
        assert!(
            Path::new(SOFTHSM2_MODULE).is_file(),
            "{SOFTHSM2_MODULE} is missing: run scripts/test-deps.sh (installs Debian softhsm2 \
             and opensc) before the PKCS#11 tests"
        );
        if let Ok(conf) = std::env::var(CHILD_CONF) {
            std::env::set_var("SOFTHSM2_CONF", &conf);
            return Token {
                _dir: None,
                conf: conf.into(),
            };
        }
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        // Before any module load in this process: SoftHSM2 reads it at C_Initialize.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args(["--init-token", "--free", "--label", LABEL])
            .args(["--pin", PIN, "--so-pin", SO_PIN])
            .output()
            .expect("softhsm2-util is missing: run scripts/test-deps.sh");
        assert!(out.status.success(), "init-token: {out:?}");
        Token {
            _dir: Some(dir),
            conf,
        }
    })
}

pub fn config() -> Pkcs11Config {
    token();
    let mut cfg = Pkcs11Config::new(SOFTHSM2_MODULE, LABEL, SecretString::new(PIN.into()));
    cfg.sessions = 3;
    // One book per test process, so a test that reopens the token finds its agents enrolled.
    cfg.policy_dir =
        Some(std::env::temp_dir().join(format!("custos-pkcs11-policies-{}", std::process::id())));
    cfg
}

pub async fn open() -> Pkcs11Custody {
    Pkcs11Custody::open(config()).await.unwrap()
}

pub fn envelope(scheme: KeyScheme, msg: &[u8]) -> Vec<u8> {
    match scheme {
        KeyScheme::Ed25519 => [custos_core::custody::SOLANA_OFFCHAIN_DOMAIN, msg].concat(),
        _ => msg.to_vec(),
    }
}

pub fn req(agent: AgentId, scheme: KeyScheme, msg: &[u8]) -> SignRequest {
    SignRequest {
        agent_id: agent,
        scheme,
        payload: SignPayload::Message {
            bytes: envelope(scheme, msg),
        },
        action: None,
    }
}

pub fn eip191(msg: &[u8]) -> [u8; 32] {
    let mut h = sha3::Keccak256::new();
    h.update(format!("\x19Ethereum Signed Message:\n{}", msg.len()).as_bytes());
    h.update(msg);
    h.finalize().into()
}

/// ecrecover-equivalent, independent of the crate's own address code.
pub fn recover_address(msg: &[u8], sig: &[u8]) -> String {
    assert_eq!(sig.len(), 65);
    let s = k256::ecdsa::Signature::from_slice(&sig[..64]).unwrap();
    assert!(s.normalize_s().is_none(), "high S");
    assert!(sig[64] <= 1, "v must be 0 or 1");
    let id = k256::ecdsa::RecoveryId::from_byte(sig[64]).unwrap();
    let rec = k256::ecdsa::VerifyingKey::recover_from_prehash(&eip191(msg), &s, id).unwrap();
    let point = rec.to_encoded_point(false);
    let hash: [u8; 32] = sha3::Keccak256::digest(&point.as_bytes()[1..]).into();
    format!("0x{}", hex::encode(&hash[12..]))
}

/// Checks a message signature with independent verifiers.
pub fn verify(info: &PublicKeyInfo, msg: &[u8], sig: &[u8]) {
    match info.scheme {
        KeyScheme::Ed25519 => {
            let vk = ed25519_dalek::VerifyingKey::from_bytes(
                &info.public_key.as_slice().try_into().unwrap(),
            )
            .unwrap();
            vk.verify_strict(
                &envelope(info.scheme, msg),
                &ed25519_dalek::Signature::from_slice(sig).unwrap(),
            )
            .unwrap();
            assert_eq!(info.address, bs58::encode(&info.public_key).into_string());
        }
        KeyScheme::Secp256k1Ecdsa => {
            assert_eq!(recover_address(msg, sig), info.address.to_lowercase());
            let vk = k256::ecdsa::VerifyingKey::from_sec1_bytes(&info.public_key).unwrap();
            assert_eq!(info.public_key.len(), 33);
            use k256::ecdsa::signature::hazmat::PrehashVerifier;
            vk.verify_prehash(
                &eip191(msg),
                &k256::ecdsa::Signature::from_slice(&sig[..64]).unwrap(),
            )
            .unwrap();
        }
        KeyScheme::Secp256k1Schnorr | KeyScheme::RsaPssSha256 => unreachable!(),
    }
}

/// A raw session on the shared module, for looking at objects the way any PKCS#11 client would.
pub fn raw_session() -> cryptoki::session::Session {
    token();
    let ctx = Pkcs11::new(SOFTHSM2_MODULE).unwrap();
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(())
        | Err(cryptoki::error::Error::Pkcs11(
            cryptoki::error::RvError::CryptokiAlreadyInitialized,
            _,
        )) => {}
        Err(e) => panic!("{e}"),
    }
    let slot = ctx
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label().trim_end() == LABEL)
        .unwrap();
    let s = ctx.open_ro_session(slot).unwrap();
    match s.login(UserType::User, Some(&PIN.into())) {
        Ok(())
        | Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::UserAlreadyLoggedIn, _)) => {
        }
        Err(e) => panic!("{e}"),
    }
    s
}

pub fn label(agent: AgentId, scheme: KeyScheme, status: &str) -> Vec<u8> {
    format!("custos:v1:agent-{agent}:{}:{status}", scheme.as_str()).into_bytes()
}
