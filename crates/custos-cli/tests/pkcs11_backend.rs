//! `custos serve` with `custody.backend = "pkcs11"` on a SoftHSM2 token initialised here: the
//! token is opened by the enclave process `custos serve` supervises, never by the server (its
//! memory maps never hold the module); agents are provisioned with keys generated on the token, a
//! SOL transfer on the embedded devnet confirms, a message signature verifies under
//! ed25519-dalek, and the audit log (whose checkpoints the token's identity key signs) verifies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Server;
use serde_json::json;
use std::process::Command;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const LABEL: &str = "custos-serve";
const PIN: &str = "246810";

/// A fresh SoftHSM2 token in its own directory; returns the conf file's path.
fn init_token(dir: &std::path::Path) -> std::path::PathBuf {
    assert!(
        std::path::Path::new(MODULE).is_file(),
        "{MODULE} is missing: run scripts/test-deps.sh (installs Debian softhsm2)"
    );
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let out = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            LABEL,
            "--so-pin",
            "13579",
            "--pin",
            PIN,
        ])
        .output()
        .expect("softhsm2-util is missing: run scripts/test-deps.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    conf
}

#[tokio::test]
async fn serve_on_a_pkcs11_token_provisions_signs_and_transfers() {
    let dir = tempfile::tempdir().unwrap();
    let conf = init_token(dir.path());
    let config = format!(
        "[custody]\nbackend = \"pkcs11\"\npkcs11_module = \"{MODULE}\"\npkcs11_token_label = \"{LABEL}\"\npkcs11_pin_env = \"HSM_PIN\"\n"
    );
    let srv = Server::builder()
        .config(&config)
        .env("HSM_PIN", PIN)
        .env("SOFTHSM2_CONF", conf.to_str().unwrap())
        .start()
        .await;
    // The module is mapped by the enclave child only, never by `custos serve`.
    let maps = |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    assert!(
        !maps(srv.pid()).contains("libsofthsm2"),
        "custos serve mapped the PKCS#11 module"
    );
    let children = srv.children();
    assert!(
        children.iter().any(|c| maps(*c).contains("libsofthsm2")),
        "no child of custos serve holds the token (children: {children:?})"
    );
    let a = srv.login("hsm@example.com").await;
    let me = srv.get("/v1/wallets/me", Some(&a.token)).await.json();
    let sol = me["addresses"]["solana"].as_str().unwrap().to_string();
    assert!(me["addresses"]["evm"].as_str().unwrap().starts_with("0x"));

    // Message signature under the token's Ed25519 key, checked independently.
    let r = srv.sign(&a.token, "signed on the token").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    let pk: [u8; 32] = hex::decode(v["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(
        bs58::encode(pk).into_string(),
        sol,
        "signed by the agent's Solana key"
    );
    let sig: [u8; 64] = hex::decode(v["signature"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let signed = hex::decode(v["signed_bytes"].as_str().unwrap()).unwrap();
    ed25519_dalek::VerifyingKey::from_bytes(&pk)
        .unwrap()
        .verify_strict(&signed, &ed25519_dalek::Signature::from_bytes(&sig))
        .expect("the token's signature verifies");

    // A transfer signed on the token confirms on the devnet (which checks the signature).
    let r = srv
        .post(
            "/v1/dev/airdrop",
            Some(&a.token),
            &json!({"chain": "solana", "asset": "SOL", "amount": "1"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = srv
        .post(
            "/v1/wallets/me/actions/transfer",
            Some(&a.token),
            &json!({"chain": "solana", "to": "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin", "asset": "SOL", "amount": "0.01"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["status"], "confirmed");

    // The attestation says what it is: a PKCS#11 token, not a hardware enclave.
    let r = srv.get("/v1/attestation?nonce=00112233", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("pkcs11"), "{}", r.text);
    let identity = r.json()["public_key"].as_str().unwrap().to_owned();

    // Stopping writes a final checkpoint signed by the token's identity key; the chain verifies.
    let mut srv = srv;
    srv.stop();
    let stdout = verified(srv.cli(&["audit", "verify"]));
    assert!(!stdout.contains(" 0 signed checkpoints"), "{stdout}");

    // The token-backed boundary keeps its own decision log too, signed by the identity key on
    // the token: the enrolment, the message and the transfer, then the closing checkpoint.
    let log = srv.data_dir.join("enclave").join("decisions.log");
    let text = std::fs::read_to_string(&log).expect("the PKCS#11 boundary's decision log");
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let signed = records
        .iter()
        .filter(|r| r["event"] == "sign" && r["outcome"] == "signed")
        .count();
    assert!(signed >= 2, "{text}");
    assert!(
        records
            .iter()
            .any(|r| r["event"] == "policy" && r["outcome"] == "accepted"),
        "{text}"
    );
    assert_eq!(records.last().unwrap()["event"], "checkpoint", "{text}");
    verified(
        common::custos_command()
            .args(["audit", "verify-signer", "--log"])
            .arg(&log)
            .args(["--trust-key", &identity])
            .output()
            .unwrap(),
    );
}

/// The stdout of a `custos audit verify…` run that succeeded and says `ok: `.
fn verified(out: std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("ok: "), "{stdout}");
    stdout
}
