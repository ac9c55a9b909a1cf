//! The Nitro attestation verifier on a genuine AWS-signed document (see
//! `fixtures/nitro/README.md`) and on synthetic documents whose chains the tests build, to reach
//! the branches a genuine document cannot (debug mode, wrong CA flags, foreign roots).
#![cfg(feature = "nitro")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::{Duration, UNIX_EPOCH};

use ciborium::value::Value;
use custos_custody::attestation::nitro::{
    verify_nitro_attestation, verify_nitro_attestation_with_root, CertProblem, ImageVersionPolicy,
    NitroError, NitroPolicy, NitroRoot,
};
use der::{Decode, Encode};
use p384::ecdsa::signature::Signer as _;
use p384::ecdsa::{DerSignature, SigningKey};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

// ---------------------------------------------------------------------------------------------
// The genuine document
// ---------------------------------------------------------------------------------------------

/// Untagged COSE_Sign1 produced by the Nitro Secure Module of enclave
/// `i-0de38b2b6853cc9e8-enc0193685e7fee7d85` (us-east-1) on 2024-11-30.
fn genuine() -> Vec<u8> {
    hex::decode(include_str!("fixtures/nitro/aws-nitro-2024-11-30.cose.hex").trim()).unwrap()
}

/// The document's own `timestamp`: 2024-11-30T16:22:48.387Z.
const GENUINE_TS: u64 = 1_732_983_768_387;
/// The leaf certificate's notAfter, 2024-11-30T19:22:48Z, in milliseconds.
const GENUINE_LEAF_NOT_AFTER_MS: u64 = 1_732_994_568_000;
/// Byte offset of PCR0's value inside the document.
const GENUINE_PCR0_OFFSET: usize = 104;

/// PCR0..PCR4 as the document states them (PCR5..15 are zero).
const GENUINE_PCRS: [&str; 5] = [
    "ec74bfbe7f7445a6c7610e152935e028276f638042b74797b119648e13f7a3675796b721034c320f140ea001b41aeae2",
    "fa2593b59f3e4fc7daba5cbdddfd3449d67cd02d43bb1128885e8f38b914d081dccdb68fff6d5b7a76bcb866a18a74a3",
    "56ba201a72e36cd051e95e5c4724c899039b711770f4d9d4fe7a1de007119a10b364badcd35e90f728a5bdc910905723",
    "3c9cadd84f0d027d6a5370c3de4af9179824fd6f3f02ebab723ee4439c75d8f5183e1c55f523415d44e9e6580b066552",
    "98bdf1bde262272618ccd73279e8ee00dd2c36974bd253de55413a25ceb2cd7221421207c2c09dde609f87481b6f6c94",
];

fn genuine_policy() -> NitroPolicy {
    NitroPolicy {
        expected_pcrs: GENUINE_PCRS
            .iter()
            .enumerate()
            .map(|(i, h)| (i as u8, hex::decode(h).unwrap()))
            .collect(),
        max_age_ms: Some(5 * 60 * 1000),
        ..NitroPolicy::default()
    }
}

#[test]
fn genuine_document_verifies_at_its_own_timestamp() {
    let doc = genuine();
    assert_eq!(&doc[..4], &[0x84, 0x44, 0xa1, 0x01], "untagged COSE_Sign1");
    let verified = verify_nitro_attestation(&doc, &genuine_policy(), GENUINE_TS).unwrap();
    assert_eq!(
        verified.module_id(),
        "i-0de38b2b6853cc9e8-enc0193685e7fee7d85"
    );
    assert_eq!(verified.timestamp_ms(), GENUINE_TS);
    assert_eq!(verified.pcrs().len(), 16);
    assert_eq!(
        verified.pcr(0).map(hex::encode).as_deref(),
        Some(GENUINE_PCRS[0])
    );
    assert_eq!(verified.pcr(15), Some(&[0u8; 48][..]));
    assert_eq!(verified.public_key().map(<[u8]>::len), Some(65));
    assert_eq!(verified.user_data(), None);
    assert_eq!(verified.nonce(), None);
    assert_eq!(verified.image_version(), None);
}

#[test]
fn genuine_document_verifies_in_tagged_form() {
    let mut tagged = vec![0xd2]; // tag 18, COSE_Sign1
    tagged.extend(genuine());
    verify_nitro_attestation(&tagged, &genuine_policy(), GENUINE_TS).unwrap();
    // Any other tag is refused.
    tagged[0] = 0xd1;
    assert!(matches!(
        verify_nitro_attestation(&tagged, &genuine_policy(), GENUINE_TS),
        Err(NitroError::Malformed(_))
    ));
}

#[test]
fn wrong_or_missing_pcr_is_refused() {
    let mut policy = genuine_policy();
    policy.expected_pcrs.get_mut(&0).unwrap()[47] ^= 1;
    assert_eq!(
        verify_nitro_attestation(&genuine(), &policy, GENUINE_TS),
        Err(NitroError::PcrMismatch(0))
    );
    let mut policy = genuine_policy();
    policy.expected_pcrs.insert(4, vec![0u8; 48]);
    assert_eq!(
        verify_nitro_attestation(&genuine(), &policy, GENUINE_TS),
        Err(NitroError::PcrMismatch(4))
    );
    let mut policy = genuine_policy();
    policy.expected_pcrs.insert(20, vec![0u8; 48]);
    assert_eq!(
        verify_nitro_attestation(&genuine(), &policy, GENUINE_TS),
        Err(NitroError::PcrMissing(20))
    );
}

#[test]
fn flipped_payload_byte_breaks_the_signature() {
    let mut doc = genuine();
    assert_eq!(
        hex::encode(&doc[GENUINE_PCR0_OFFSET..GENUINE_PCR0_OFFSET + 48]),
        GENUINE_PCRS[0]
    );
    doc[GENUINE_PCR0_OFFSET] ^= 0x01;
    // The policy expects the flipped value, so only the signature can object.
    let mut policy = genuine_policy();
    policy.expected_pcrs.insert(
        0,
        doc[GENUINE_PCR0_OFFSET..GENUINE_PCR0_OFFSET + 48].to_vec(),
    );
    assert_eq!(
        verify_nitro_attestation(&doc, &policy, GENUINE_TS),
        Err(NitroError::Signature)
    );
}

#[test]
fn flipped_signature_byte_is_refused() {
    for offset in [96, 50, 1] {
        let mut doc = genuine();
        let at = doc.len() - offset;
        doc[at] ^= 0x01;
        assert_eq!(
            verify_nitro_attestation(&doc, &genuine_policy(), GENUINE_TS),
            Err(NitroError::Signature),
            "signature byte {at}"
        );
    }
}

#[test]
fn wrong_nonce_expectation_is_refused() {
    // The genuine document carries no nonce; expecting one must fail.
    let mut policy = genuine_policy();
    policy.expected_nonce = Some(b"fresh-nonce".to_vec());
    assert_eq!(
        verify_nitro_attestation(&genuine(), &policy, GENUINE_TS),
        Err(NitroError::Nonce)
    );
}

#[test]
fn leaf_certificate_expiry_is_enforced() {
    let mut policy = genuine_policy();
    policy.max_age_ms = None; // isolate the certificate check from the freshness check
    verify_nitro_attestation(&genuine(), &policy, GENUINE_LEAF_NOT_AFTER_MS).unwrap();
    assert_eq!(
        verify_nitro_attestation(&genuine(), &policy, GENUINE_LEAF_NOT_AFTER_MS + 1),
        Err(NitroError::Certificate {
            index: 4,
            reason: CertProblem::NotValidAt
        })
    );
    // Before the leaf's notBefore (16:22:45Z) it is not valid either.
    assert_eq!(
        verify_nitro_attestation(&genuine(), &policy, 1_732_983_765_000 - 1),
        Err(NitroError::Certificate {
            index: 4,
            reason: CertProblem::NotValidAt
        })
    );
}

#[test]
fn freshness_policy_is_enforced() {
    let policy = genuine_policy(); // max age 5 minutes
    verify_nitro_attestation(&genuine(), &policy, GENUINE_TS + 5 * 60 * 1000).unwrap();
    assert_eq!(
        verify_nitro_attestation(&genuine(), &policy, GENUINE_TS + 5 * 60 * 1000 + 1),
        Err(NitroError::Stale)
    );
    let mut policy = genuine_policy();
    policy.min_timestamp_ms = Some(GENUINE_TS + 1);
    assert_eq!(
        verify_nitro_attestation(&genuine(), &policy, GENUINE_TS),
        Err(NitroError::Stale)
    );
}

#[test]
fn image_version_policy_maps_pcr0_to_releases() {
    let pcr0 = hex::decode(GENUINE_PCRS[0]).unwrap();
    let mut policy = genuine_policy();
    policy.image_version = Some(ImageVersionPolicy {
        versions_by_pcr0: BTreeMap::from([(pcr0.clone(), 7)]),
        minimum: 7,
    });
    let verified = verify_nitro_attestation(&genuine(), &policy, GENUINE_TS).unwrap();
    assert_eq!(verified.image_version(), Some(7));

    policy.image_version.as_mut().unwrap().minimum = 8;
    assert_eq!(
        verify_nitro_attestation(&genuine(), &policy, GENUINE_TS),
        Err(NitroError::ImageVersion)
    );
    policy.image_version = Some(ImageVersionPolicy {
        versions_by_pcr0: BTreeMap::from([(vec![0u8; 48], 9)]),
        minimum: 1,
    });
    assert_eq!(
        verify_nitro_attestation(&genuine(), &policy, GENUINE_TS),
        Err(NitroError::ImageVersion)
    );
}

#[test]
fn another_self_signed_p384_root_does_not_anchor_the_genuine_chain() {
    let key = SigningKey::random(&mut rand_core::OsRng);
    let other = ca_cert(
        Profile::Root,
        "CN=aws.nitro-enclaves,OU=AWS,O=Amazon,C=US",
        &key,
        &key,
    );
    let root = NitroRoot::from_der(other.to_der().unwrap());
    assert_eq!(
        verify_nitro_attestation_with_root(&genuine(), &root, &genuine_policy(), GENUINE_TS),
        Err(NitroError::UntrustedRoot)
    );
}

#[test]
fn garbage_and_trailing_bytes_are_malformed() {
    let policy = genuine_policy();
    for bad in [&b""[..], &[0x84][..], &[0xff; 64][..], &[0x80][..]] {
        assert!(matches!(
            verify_nitro_attestation(bad, &policy, GENUINE_TS),
            Err(NitroError::Malformed(_))
        ));
    }
    let mut doc = genuine();
    doc.push(0x00);
    assert!(matches!(
        verify_nitro_attestation(&doc, &policy, GENUINE_TS),
        Err(NitroError::Malformed(_))
    ));
    assert!(matches!(
        verify_nitro_attestation(&doc[..doc.len() - 1 - 20], &policy, GENUINE_TS),
        Err(NitroError::Malformed(_))
    ));
}

#[test]
fn no_single_bit_flip_of_the_genuine_document_is_accepted() {
    let doc = genuine();
    let policy = genuine_policy();
    // Every 11th byte keeps the sweep to seconds on a shared 2-core machine while still
    // crossing every region: header, payload fields, each certificate, signature.
    for at in (0..doc.len()).step_by(11).chain([doc.len() - 1]) {
        let mut bad = doc.clone();
        bad[at] ^= 0x01;
        assert!(
            verify_nitro_attestation(&bad, &policy, GENUINE_TS).is_err(),
            "flip at byte {at} was accepted"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Synthetic documents: the same format, chains the tests own
// ---------------------------------------------------------------------------------------------

/// 2025-06-15T16:26:40Z, inside every synthetic certificate's validity.
const SYNTH_TS: u64 = 1_750_004_800_000;

fn validity() -> Validity {
    let at = |secs| Time::try_from(UNIX_EPOCH + Duration::from_secs(secs)).unwrap();
    Validity {
        not_before: at(SYNTH_TS / 1000 - 86_400),
        not_after: at(SYNTH_TS / 1000 + 86_400),
    }
}

/// A certificate for `subject_key`'s public key, signed by `issuer_key`.
fn ca_cert(
    profile: Profile,
    subject: &str,
    subject_key: &SigningKey,
    issuer_key: &SigningKey,
) -> Certificate {
    let spki = SubjectPublicKeyInfoOwned::from_key(*subject_key.verifying_key()).unwrap();
    let serial = SerialNumber::from(rand::random::<u32>());
    CertificateBuilder::new(
        profile,
        serial,
        validity(),
        Name::from_str(subject).unwrap(),
        spki,
        issuer_key,
    )
    .unwrap()
    .build::<DerSignature>()
    .unwrap()
}

fn name(cert: &Certificate) -> Name {
    cert.tbs_certificate.subject.clone()
}

fn leaf_profile(issuer: &Certificate) -> Profile {
    Profile::Leaf {
        issuer: name(issuer),
        enable_key_agreement: false,
        enable_key_encipherment: false,
    }
}

/// A root → intermediate → leaf chain the test owns.
struct Chain {
    root: Certificate,
    cabundle: Vec<Vec<u8>>,
    leaf: Vec<u8>,
    leaf_key: SigningKey,
}

impl Chain {
    fn new() -> Self {
        let root_key = SigningKey::random(&mut rand_core::OsRng);
        let mid_key = SigningKey::random(&mut rand_core::OsRng);
        let leaf_key = SigningKey::random(&mut rand_core::OsRng);
        let root = ca_cert(Profile::Root, "CN=test-root", &root_key, &root_key);
        let mid = ca_cert(
            Profile::SubCA {
                issuer: name(&root),
                path_len_constraint: Some(0),
            },
            "CN=test-intermediate",
            &mid_key,
            &root_key,
        );
        let leaf = ca_cert(leaf_profile(&mid), "CN=test-enclave", &leaf_key, &mid_key);
        Self {
            cabundle: vec![root.to_der().unwrap(), mid.to_der().unwrap()],
            leaf: leaf.to_der().unwrap(),
            root,
            leaf_key,
        }
    }

    fn root(&self) -> NitroRoot {
        NitroRoot::from_der(self.root.to_der().unwrap())
    }
}

/// The fields of a synthetic payload.
struct Doc {
    pcrs: BTreeMap<u8, Vec<u8>>,
    nonce: Option<Vec<u8>>,
    protected: Vec<u8>,
    extra: Vec<(Value, Value)>,
}

impl Default for Doc {
    fn default() -> Self {
        Self {
            pcrs: (0u8..16).map(|i| (i, vec![i + 1; 48])).collect(),
            nonce: None,
            protected: vec![0xa1, 0x01, 0x38, 0x22], // {1: -35}
            extra: Vec::new(),
        }
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

impl Doc {
    fn sign(&self, chain: &Chain) -> Vec<u8> {
        let pcrs = self
            .pcrs
            .iter()
            .map(|(i, v)| (Value::Integer((*i).into()), Value::Bytes(v.clone())))
            .collect();
        let mut fields = vec![
            (text("module_id"), text("i-test-enc0")),
            (text("digest"), text("SHA384")),
            (text("timestamp"), Value::Integer(SYNTH_TS.into())),
            (text("pcrs"), Value::Map(pcrs)),
            (text("certificate"), Value::Bytes(chain.leaf.clone())),
            (
                text("cabundle"),
                Value::Array(chain.cabundle.iter().cloned().map(Value::Bytes).collect()),
            ),
            (text("public_key"), Value::Null),
            (text("user_data"), Value::Null),
            (
                text("nonce"),
                self.nonce.clone().map_or(Value::Null, Value::Bytes),
            ),
        ];
        fields.extend(self.extra.iter().cloned());
        let payload = encode(&Value::Map(fields));
        let to_sign = encode(&Value::Array(vec![
            text("Signature1"),
            Value::Bytes(self.protected.clone()),
            Value::Bytes(vec![]),
            Value::Bytes(payload.clone()),
        ]));
        let signature: p384::ecdsa::Signature = chain.leaf_key.sign(&to_sign);
        encode(&Value::Array(vec![
            Value::Bytes(self.protected.clone()),
            Value::Map(vec![]),
            Value::Bytes(payload),
            Value::Bytes(signature.to_bytes().to_vec()),
        ]))
    }
}

fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).unwrap();
    out
}

fn synth_policy(doc: &Doc) -> NitroPolicy {
    NitroPolicy {
        expected_pcrs: BTreeMap::from([(0, doc.pcrs[&0].clone())]),
        ..NitroPolicy::default()
    }
}

#[test]
fn synthetic_chain_verifies_under_its_own_root_and_never_under_aws() {
    let chain = Chain::new();
    let doc = Doc::default();
    let bytes = doc.sign(&chain);
    verify_nitro_attestation_with_root(&bytes, &chain.root(), &synth_policy(&doc), SYNTH_TS)
        .unwrap();
    // A well-formed, correctly signed document from an attacker-owned PKI.
    assert_eq!(
        verify_nitro_attestation(&bytes, &synth_policy(&doc), SYNTH_TS),
        Err(NitroError::UntrustedRoot)
    );
}

#[test]
fn real_aws_root_in_front_of_a_forged_intermediate_is_refused() {
    let aws = NitroRoot::aws().unwrap();
    let aws_cert = Certificate::from_der(aws.der()).unwrap();
    let forger = SigningKey::random(&mut rand_core::OsRng);
    let leaf_key = SigningKey::random(&mut rand_core::OsRng);
    // Claims the AWS root as issuer, but is signed by the forger's key.
    let mid = ca_cert(
        Profile::SubCA {
            issuer: name(&aws_cert),
            path_len_constraint: None,
        },
        "CN=forged-intermediate",
        &forger,
        &forger,
    );
    let leaf = ca_cert(leaf_profile(&mid), "CN=forged-enclave", &leaf_key, &forger);
    let chain = Chain {
        root: aws_cert.clone(),
        cabundle: vec![aws.der().to_vec(), mid.to_der().unwrap()],
        leaf: leaf.to_der().unwrap(),
        leaf_key,
    };
    let doc = Doc::default();
    assert_eq!(
        verify_nitro_attestation(&doc.sign(&chain), &synth_policy(&doc), SYNTH_TS),
        Err(NitroError::Certificate {
            index: 1,
            reason: CertProblem::Signature
        })
    );
}

#[test]
fn debug_mode_enclave_is_refused_unless_allowed() {
    let chain = Chain::new();
    let mut doc = Doc::default();
    for i in 0..3 {
        doc.pcrs.insert(i, vec![0u8; 48]);
    }
    let bytes = doc.sign(&chain);
    let mut policy = synth_policy(&doc);
    assert_eq!(
        verify_nitro_attestation_with_root(&bytes, &chain.root(), &policy, SYNTH_TS),
        Err(NitroError::DebugMode)
    );
    policy.reject_debug = false;
    verify_nitro_attestation_with_root(&bytes, &chain.root(), &policy, SYNTH_TS).unwrap();
}

#[test]
fn synthetic_nonce_must_match() {
    let chain = Chain::new();
    let doc = Doc {
        nonce: Some(b"nonce-1".to_vec()),
        ..Doc::default()
    };
    let bytes = doc.sign(&chain);
    let mut policy = synth_policy(&doc);
    policy.expected_nonce = Some(b"nonce-1".to_vec());
    let verified =
        verify_nitro_attestation_with_root(&bytes, &chain.root(), &policy, SYNTH_TS).unwrap();
    assert_eq!(verified.nonce(), Some(&b"nonce-1"[..]));
    policy.expected_nonce = Some(b"nonce-2".to_vec());
    assert_eq!(
        verify_nitro_attestation_with_root(&bytes, &chain.root(), &policy, SYNTH_TS),
        Err(NitroError::Nonce)
    );
}

#[test]
fn document_from_the_future_is_refused() {
    let chain = Chain::new();
    let doc = Doc::default();
    let bytes = doc.sign(&chain);
    let policy = synth_policy(&doc); // 60 s skew
    verify_nitro_attestation_with_root(&bytes, &chain.root(), &policy, SYNTH_TS - 60_000).unwrap();
    assert_eq!(
        verify_nitro_attestation_with_root(&bytes, &chain.root(), &policy, SYNTH_TS - 60_001),
        Err(NitroError::FromFuture)
    );
}

#[test]
fn ca_flags_and_path_length_are_enforced() {
    let root_key = SigningKey::random(&mut rand_core::OsRng);
    let mid_key = SigningKey::random(&mut rand_core::OsRng);
    let leaf_key = SigningKey::random(&mut rand_core::OsRng);
    let root = ca_cert(Profile::Root, "CN=test-root", &root_key, &root_key);
    let doc = Doc::default();
    let run = |mid: &Certificate, leaf: &Certificate, extra: Option<&Certificate>| {
        let mut cabundle = vec![root.to_der().unwrap(), mid.to_der().unwrap()];
        cabundle.extend(extra.map(|c| c.to_der().unwrap()));
        let chain = Chain {
            root: root.clone(),
            cabundle,
            leaf: leaf.to_der().unwrap(),
            leaf_key: leaf_key.clone(),
        };
        verify_nitro_attestation_with_root(
            &doc.sign(&chain),
            &chain.root(),
            &synth_policy(&doc),
            SYNTH_TS,
        )
    };

    // An end-entity certificate (cA = false) used as an intermediate.
    let not_ca = ca_cert(leaf_profile(&root), "CN=not-a-ca", &mid_key, &root_key);
    let leaf = ca_cert(leaf_profile(&not_ca), "CN=leaf", &leaf_key, &mid_key);
    assert_eq!(
        run(&not_ca, &leaf, None),
        Err(NitroError::Certificate {
            index: 1,
            reason: CertProblem::NotCa
        })
    );

    // A CA certificate used as the leaf.
    let mid = ca_cert(
        Profile::SubCA {
            issuer: name(&root),
            path_len_constraint: None,
        },
        "CN=mid",
        &mid_key,
        &root_key,
    );
    let ca_leaf = ca_cert(
        Profile::SubCA {
            issuer: name(&mid),
            path_len_constraint: None,
        },
        "CN=leaf",
        &leaf_key,
        &mid_key,
    );
    assert_eq!(
        run(&mid, &ca_leaf, None),
        Err(NitroError::Certificate {
            index: 2,
            reason: CertProblem::LeafIsCa
        })
    );

    // pathLen 0 on the first intermediate, yet another CA below it.
    let mid0 = ca_cert(
        Profile::SubCA {
            issuer: name(&root),
            path_len_constraint: Some(0),
        },
        "CN=mid",
        &mid_key,
        &root_key,
    );
    let third_key = SigningKey::random(&mut rand_core::OsRng);
    let below = ca_cert(
        Profile::SubCA {
            issuer: name(&mid0),
            path_len_constraint: None,
        },
        "CN=below",
        &third_key,
        &mid_key,
    );
    let leaf = ca_cert(leaf_profile(&below), "CN=leaf", &leaf_key, &third_key);
    assert_eq!(
        run(&mid0, &leaf, Some(&below)),
        Err(NitroError::Certificate {
            index: 1,
            reason: CertProblem::PathLength
        })
    );
    // The same shape with room in the path length passes, so the refusal above is the limit.
    let leaf_ok = ca_cert(leaf_profile(&mid), "CN=leaf", &leaf_key, &mid_key);
    run(&mid, &leaf_ok, None).unwrap();
}

#[test]
fn protected_header_must_be_exactly_es384() {
    let chain = Chain::new();
    for protected in [
        vec![0xa1, 0x01, 0x26],                   // {1: -7} ES256
        vec![0xa2, 0x01, 0x38, 0x22, 0x02, 0x80], // ES384 plus a `crit` header
        vec![0xa0],                               // no alg
    ] {
        let doc = Doc {
            protected,
            ..Doc::default()
        };
        assert!(matches!(
            verify_nitro_attestation_with_root(
                &doc.sign(&chain),
                &chain.root(),
                &synth_policy(&doc),
                SYNTH_TS
            ),
            Err(NitroError::UnsupportedAlgorithm(_))
        ));
    }
}

#[test]
fn duplicate_payload_key_is_malformed_even_when_signed() {
    let chain = Chain::new();
    let doc = Doc {
        extra: vec![(text("nonce"), Value::Bytes(b"second".to_vec()))],
        ..Doc::default()
    };
    assert_eq!(
        verify_nitro_attestation_with_root(
            &doc.sign(&chain),
            &chain.root(),
            &synth_policy(&doc),
            SYNTH_TS
        ),
        Err(NitroError::Malformed("payload has a duplicate key"))
    );
}
