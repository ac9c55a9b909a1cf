//! Differential test of Custos' EIP-712 reader against eth-account (PyPI), an independent
//! implementation: over generated documents — permits, Permit2, nested structs, arrays, with
//! integers as JSON numbers, decimal and hex strings, addresses in every case — and over the
//! malformed shapes the security probe found.
//!
//! - Whatever Custos accepts, eth-account accepts with the same digest.
//! - Whatever eth-account refuses, Custos refuses.
//! - Custos refuses more than eth-account only where it is stricter on purpose: an address with
//!   a wrong EIP-55 checksum, and a message field its type does not declare (not signed, so the
//!   policy must not read it).
#![cfg(feature = "evm")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use alloy_primitives::Address;
use custos_chains::evm::typed_data::summarize;
use custos_chains::evm::wire::checksum;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

/// Documents generated per run.
const DOCS: usize = 600;

/// A small deterministic generator (xorshift64*), so a failure names a reproducible document.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        for x in &mut b {
            *x = self.next() as u8;
        }
        b
    }
}

fn address(r: &mut Rng) -> String {
    let a = Address::from(r.bytes::<20>());
    match r.below(3) {
        0 => checksum(&a),
        1 => format!("{a:#x}").to_lowercase(),
        _ => format!("0x{}", alloy_primitives::hex::encode(a).to_uppercase()),
    }
}

/// A uint256 value in one of the forms eth-account reads.
fn uint(r: &mut Rng) -> Value {
    let bits = [8u32, 64, 128, 160, 255, 256][r.below(6) as usize];
    let mut v = alloy_primitives::U256::from_be_bytes(r.bytes::<32>());
    if bits < 256 {
        v >>= 256 - bits as usize;
    }
    match r.below(4) {
        0 => json!(r.next()),
        1 => json!(v.to_string()),
        2 => json!(format!("{v:#x}")),
        _ => json!(format!("00{v}")),
    }
}

fn domain_type(with_chain: bool) -> Value {
    let mut fields = vec![
        json!({"name": "name", "type": "string"}),
        json!({"name": "version", "type": "string"}),
    ];
    if with_chain {
        fields.push(json!({"name": "chainId", "type": "uint256"}));
    }
    fields.push(json!({"name": "verifyingContract", "type": "address"}));
    Value::Array(fields)
}

fn base(r: &mut Rng) -> Value {
    let domain = json!({"name": format!("Token {}", r.below(1000)), "version": "1", "chainId": r.below(100_000) + 1, "verifyingContract": address(r)});
    match r.below(4) {
        0 => json!({
            "types": {"EIP712Domain": domain_type(true), "Permit": [
                {"name":"owner","type":"address"},{"name":"spender","type":"address"},{"name":"value","type":"uint256"},{"name":"nonce","type":"uint256"},{"name":"deadline","type":"uint256"}]},
            "primaryType": "Permit", "domain": domain,
            "message": {"owner": address(r), "spender": address(r), "value": uint(r), "nonce": uint(r), "deadline": uint(r)}
        }),
        1 => json!({
            "types": {"EIP712Domain": domain_type(true),
                "PermitDetails": [{"name":"token","type":"address"},{"name":"amount","type":"uint160"},{"name":"expiration","type":"uint48"},{"name":"nonce","type":"uint48"}],
                "PermitSingle": [{"name":"details","type":"PermitDetails"},{"name":"spender","type":"address"},{"name":"sigDeadline","type":"uint256"}]},
            "primaryType": "PermitSingle", "domain": domain,
            "message": {"details": {"token": address(r), "amount": json!(r.next().to_string()), "expiration": json!(r.below(1 << 40)), "nonce": json!(r.below(1000))}, "spender": address(r), "sigDeadline": uint(r)}
        }),
        2 => json!({
            "types": {"EIP712Domain": domain_type(true),
                "Person": [{"name":"name","type":"string"},{"name":"wallet","type":"address"}],
                "Mail": [{"name":"from","type":"Person"},{"name":"to","type":"Person"},{"name":"contents","type":"string"}]},
            "primaryType": "Mail", "domain": domain,
            "message": {"from": {"name": "Cow", "wallet": address(r)}, "to": {"name": "Bob", "wallet": address(r)}, "contents": format!("hello {}", r.next())}
        }),
        _ => {
            let n = r.below(4) as usize;
            let amounts: Vec<Value> = (0..n).map(|_| uint(r)).collect();
            let owners: Vec<Value> = (0..2).map(|_| json!(address(r))).collect();
            json!({
                "types": {"EIP712Domain": domain_type(true),
                    "Batch": [{"name":"amounts","type":"uint256[]"},{"name":"owners","type":"address[2]"},{"name":"flag","type":"bool"},{"name":"small","type":"uint8"}]},
                "primaryType": "Batch", "domain": domain,
                "message": {"amounts": amounts, "owners": owners, "flag": r.below(2) == 1, "small": r.below(256)}
            })
        }
    }
}

/// Mutations, by name: the shapes the probe found, and Custos' deliberate strictness.
const MUTATIONS: [&str; 8] = [
    "none",
    "none",
    "empty_hex",
    "undeclared_domain_field",
    "missing_domain_field",
    "uint_overflow",
    "bad_checksum",
    "extra_message_field",
];

/// Where Custos refuses on purpose what eth-account signs.
const STRICTER: [&str; 2] = ["bad_checksum", "extra_message_field"];

fn mutate(r: &mut Rng, doc: &mut Value, m: &str) {
    let primary = doc["primaryType"].as_str().unwrap().to_owned();
    match m {
        "empty_hex" => match primary.as_str() {
            "Permit" => doc["message"]["value"] = json!("0x"),
            "PermitSingle" => doc["message"]["sigDeadline"] = json!("0x"),
            "Batch" => doc["message"]["small"] = json!("0x"),
            _ => doc["domain"]["chainId"] = json!("0x"),
        },
        "undeclared_domain_field" => doc["types"]["EIP712Domain"] = domain_type(false),
        "missing_domain_field" => {
            doc["domain"].as_object_mut().unwrap().remove("version");
        }
        "uint_overflow" => match primary.as_str() {
            "Batch" => doc["message"]["small"] = json!(256 + r.below(1000)),
            "PermitSingle" => doc["message"]["details"]["expiration"] = json!(1u64 << 48),
            _ => {
                doc["domain"]["chainId"] = json!(
                    "115792089237316195423570985008687907853269984665640564039457584007913129639936"
                )
            }
        },
        "bad_checksum" => {
            // A checksummed address with one letter's case flipped.
            let good = loop {
                let a = checksum(&Address::from(r.bytes::<20>()));
                if a[2..].chars().filter(|c| c.is_ascii_alphabetic()).count() >= 2 {
                    break a;
                }
            };
            let i = good[2..].find(|c: char| c.is_ascii_alphabetic()).unwrap() + 2;
            let c = good.as_bytes()[i] as char;
            let f = if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            };
            let mut bad = good;
            bad.replace_range(i..=i, &f.to_string());
            doc["domain"]["verifyingContract"] = json!(bad);
        }
        "extra_message_field" => doc["message"]["unsignedExtra"] = json!("not covered"),
        _ => {}
    }
}

#[test]
fn custos_agrees_with_eth_account() {
    let mut r = Rng(0x0C05_7055_1DE5_EED5);
    let mut docs = Vec::new();
    for _ in 0..DOCS {
        let mut doc = base(&mut r);
        let m = MUTATIONS[r.below(MUTATIONS.len() as u64) as usize];
        mutate(&mut r, &mut doc, m);
        docs.push((m, doc));
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/eip712_digest.py"
    );
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 with eth-account (scripts/test-deps.sh installs it)");
    let input = Value::Array(docs.iter().map(|(_, d)| d.clone()).collect()).to_string();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "eip712_digest.py failed");
    let theirs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(theirs.len(), docs.len());
    let (mut agreed_ok, mut agreed_err, mut stricter) = (0, 0, 0);
    for (k, ((m, doc), their)) in docs.iter().zip(&theirs).enumerate() {
        let ours = summarize(&doc.to_string());
        match (&ours, their.get("digest").and_then(Value::as_str)) {
            (Ok(s), Some(d)) => {
                assert_eq!(
                    alloy_primitives::hex::encode(s.digest),
                    d.trim_start_matches("0x"),
                    "document {k} ({m}): digests differ\n{doc}"
                );
                agreed_ok += 1;
            }
            (Ok(_), None) => panic!(
                "document {k} ({m}): Custos accepts what eth-account refuses ({})\n{doc}",
                their["error"]
            ),
            (Err(_), None) => agreed_err += 1,
            (Err(e), Some(_)) => {
                assert!(
                    STRICTER.contains(m),
                    "document {k} ({m}): Custos refuses what eth-account signs: {e}\n{doc}"
                );
                stricter += 1;
            }
        }
    }
    eprintln!(
        "{DOCS} documents: {agreed_ok} signed alike, {agreed_err} refused by both, {stricter} refused by Custos only (deliberately stricter)"
    );
    assert!(agreed_ok >= DOCS / 5, "too few valid documents generated");
    assert!(
        agreed_err >= DOCS / 10,
        "too few malformed documents generated"
    );
    assert!(stricter > 0);
}
