//! What is on the SoftHSM2 token, seen through a raw PKCS#11 session and OpenSC's `pkcs11-tool`:
//! key protection attributes, labels after rotation, no leftover benchmark keys.
//!
//! One sequential test in its own binary: SoftHSM2's file store does not exclude threads of one
//! process from each other (the backend serialises its own object calls, see
//! `pkcs11::token::object_lock`), so raw inspection must not run beside other tests' key
//! generation in the same process.
#![cfg(feature = "pkcs11")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod pkcs11_support;
mod policy_support;
use policy_support::enrol;

use cryptoki::object::{Attribute, AttributeInfo, AttributeType, ObjectClass};
use custos_core::{AgentId, Custody, KeyScheme};
use custos_custody::pkcs11::SOFTHSM2_MODULE;
use pkcs11_support::*;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_on_the_token_are_sensitive_labelled_and_cleaned_up() {
    let c = open().await;
    let agent = AgentId::new_random();
    enrol(&c, agent).await;
    let schemes = [
        KeyScheme::Ed25519,
        KeyScheme::Secp256k1Ecdsa,
        KeyScheme::RsaPssSha256,
    ];
    for scheme in schemes {
        c.create_key(agent, scheme).await.unwrap();
    }

    // --- private keys are sensitive and never extractable ---
    let s = raw_session();
    for scheme in schemes {
        let found = s
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Label(label(agent, scheme, "active")),
            ])
            .unwrap();
        assert_eq!(found.len(), 1, "{scheme:?}");
        let attrs = s
            .get_attributes(
                found[0],
                &[
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::AlwaysSensitive,
                    AttributeType::NeverExtractable,
                    AttributeType::Token,
                    AttributeType::Private,
                    AttributeType::Local,
                ],
            )
            .unwrap();
        for want in [
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::AlwaysSensitive(true),
            Attribute::NeverExtractable(true),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Local(true),
        ] {
            assert!(
                attrs.contains(&want),
                "{scheme:?}: missing {want:?} in {attrs:?}"
            );
        }
        // C_GetAttributeValue of the secret (CKA_VALUE; an RSA key's CKA_PRIVATE_EXPONENT) on the
        // private key: CKR_ATTRIBUTE_SENSITIVE.
        let secret = match scheme {
            KeyScheme::RsaPssSha256 => AttributeType::PrivateExponent,
            _ => AttributeType::Value,
        };
        let info = s.get_attribute_info(found[0], &[secret]).unwrap();
        assert!(matches!(info[0], AttributeInfo::Sensitive), "{info:?}");
        assert!(s.get_attributes(found[0], &[secret]).unwrap().is_empty());
    }
    drop(s);

    // An independent PKCS#11 client (OpenSC's pkcs11-tool, another process) sees the same.
    let out = Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", &token().conf)
        .args(["--module", SOFTHSM2_MODULE, "--token-label", LABEL])
        .args([
            "--login",
            "--pin",
            PIN,
            "--list-objects",
            "--type",
            "privkey",
        ])
        .output()
        .expect("pkcs11-tool is missing: run scripts/test-deps.sh");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let mine = format!("agent-{agent}");
    let blocks: Vec<&str> = listing
        .split("Private Key Object")
        .filter(|b| b.contains(&mine))
        .collect();
    assert_eq!(blocks.len(), 3, "{listing}");
    for b in blocks {
        assert!(b.contains("never extractable"), "{b}");
        assert!(b.contains("always sensitive"), "{b}");
    }

    // --- rotation relabels the old pair receive-only, with its grace end ---
    let scheme = KeyScheme::Secp256k1Ecdsa;
    let old = c.public_key(agent, scheme).await.unwrap().unwrap();
    let before = custos_core::Clock::now_ms(&custos_core::SystemClock);
    let new = c.rotate(agent, scheme).await.unwrap();
    let s = raw_session();
    let active = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(label(agent, scheme, "active")),
        ])
        .unwrap();
    assert_eq!(active.len(), 1);
    let Attribute::Id(id) = &s.get_attributes(active[0], &[AttributeType::Id]).unwrap()[0] else {
        panic!()
    };
    assert!(String::from_utf8(id.clone())
        .unwrap()
        .ends_with(&new.key_id));
    let old_id = format!("custos:v1:agent-{agent}:{}:{}", scheme.as_str(), old.key_id);
    let old_objs = s
        .find_objects(&[Attribute::Id(old_id.into_bytes())])
        .unwrap();
    assert_eq!(old_objs.len(), 2, "private and public halves");
    for h in old_objs {
        let attrs = s.get_attributes(h, &[AttributeType::Label]).unwrap();
        let Attribute::Label(l) = &attrs[0] else {
            panic!()
        };
        let l = String::from_utf8(l.clone()).unwrap();
        let until: i64 = l
            .strip_prefix(&format!(
                "custos:v1:agent-{agent}:{}:receive-only:",
                scheme.as_str()
            ))
            .unwrap_or_else(|| panic!("{l}"))
            .parse()
            .unwrap();
        let thirty_days = 30 * 24 * 3600 * 1000;
        assert!(until >= before + thirty_days && until <= before + thirty_days + 600_000);
    }
    drop(s);

    // --- the benchmark hook leaves nothing behind ---
    for scheme in [KeyScheme::Ed25519, KeyScheme::Secp256k1Ecdsa] {
        for kind in [
            custos_custody::RawKey::Session,
            custos_custody::RawKey::Token,
        ] {
            let c2 = c.clone();
            let lat = tokio::task::spawn_blocking(move || {
                let key = c2.raw_bench_key(scheme, kind)?;
                let first = key.sign_loop(20)?;
                let second = key.sign_loop(5)?;
                Ok::<_, custos_core::CustodyError>((first, second))
            })
            .await
            .unwrap()
            .unwrap();
            assert_eq!((lat.0.len(), lat.1.len()), (20, 5));
        }
    }
    let s = raw_session();
    for scheme in ["ed25519", "secp256k1_ecdsa"] {
        let left = s
            .find_objects(&[Attribute::Label(
                format!("custos:v1:bench:{scheme}").into_bytes(),
            )])
            .unwrap();
        assert!(left.is_empty(), "benchmark key left behind");
    }
}
