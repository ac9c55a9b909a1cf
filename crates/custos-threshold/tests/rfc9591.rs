//! RFC 9591 Appendix E.1, FROST(Ed25519, SHA-512): with the RFC's key shares and fixed nonces,
//! the FROST implementation Custos builds on (`frost-ed25519`, as built here) produces the RFC's
//! signature shares and group signature — and `ed25519-dalek`, an independent implementation,
//! accepts that signature under the RFC's group key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use frost_ed25519 as frost;

/// A nonce of FROST(Ed25519, SHA-512) (`frost-ed25519` does not re-export the type).
type Nonce = frost_core::round1::Nonce<frost::Ed25519Sha512>;
use std::collections::BTreeMap;

const VERIFYING_KEY: &str = "15d21ccd7ee42959562fc8aa63224c8851fb3ec85a3faf66040d380fb9738673";
const MESSAGE: &str = "74657374";
const SIGNATURE: &str = "154fb694ee7fcb37bf2381d94488c2a84b03b3352ad085feca81ad26d45852b7ecfe971ce4da95c4a95db93ac376b053897fca212ef85f99cf696bffeb178f07";

struct Participant {
    id: u16,
    share: &'static str,
    hiding_nonce: &'static str,
    binding_nonce: &'static str,
    sig_share: &'static str,
}

const SIGNERS: [Participant; 2] = [
    Participant {
        id: 1,
        share: "929dcc590407aae7d388761cddb0c0db6f5627aea8e217f4a033f2ec83d93509",
        hiding_nonce: "ef6599dea4010581a72b3018c37c29a4341d7cab0773e8687ca74dcf14009701",
        binding_nonce: "2baadfa0c69aa60d517ad4751de372a73f9d89cfc39026601f18458cdec12605",
        sig_share: "60997f0142e43e8005027fe5ab7447dac00d22c2d7ddd9571a02613ba7d81c08",
    },
    Participant {
        id: 3,
        share: "d3cb090a075eb154e82fdb4b3cb507f110040905468bb9c46da8bdea643a9a02",
        hiding_nonce: "80f8d9a4b8f9366e1a0b618107c907cd3ee29fa9bb40b4691cc1bde696240005",
        binding_nonce: "2610b664a5a187b4855e87d2ff485bebdf043dc2f161fcd4854cd01dc0276404",
        sig_share: "79390e78bc59699c7af831f8f5fb478ec871a85f561a8641b5670ac4443f720f",
    },
];

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn frost_ed25519_reproduces_the_rfc_9591_vectors() {
    let group = frost::VerifyingKey::deserialize(&unhex(VERIFYING_KEY)).unwrap();
    let message = unhex(MESSAGE);
    let mut nonces = BTreeMap::new();
    let mut commitments = BTreeMap::new();
    let mut keys = BTreeMap::new();
    let mut verifying_shares = BTreeMap::new();
    for p in &SIGNERS {
        let id = frost::Identifier::try_from(p.id).unwrap();
        let share = frost::keys::SigningShare::deserialize(&unhex(p.share)).unwrap();
        let n = frost::round1::SigningNonces::from_nonces(
            Nonce::deserialize(&unhex(p.hiding_nonce)).unwrap(),
            Nonce::deserialize(&unhex(p.binding_nonce)).unwrap(),
        );
        commitments.insert(id, *n.commitments());
        nonces.insert(id, n);
        let verifying = frost::keys::VerifyingShare::from(share);
        verifying_shares.insert(id, verifying);
        keys.insert(
            id,
            frost::keys::KeyPackage::new(id, share, verifying, group, 2),
        );
    }
    let package = frost::SigningPackage::new(commitments, &message);
    let mut shares = BTreeMap::new();
    for p in &SIGNERS {
        let id = frost::Identifier::try_from(p.id).unwrap();
        let s = frost::round2::sign(&package, &nonces[&id], &keys[&id]).unwrap();
        assert_eq!(s.serialize(), unhex(p.sig_share), "participant {}", p.id);
        shares.insert(id, s);
    }
    let public = frost::keys::PublicKeyPackage::new(verifying_shares, group, None);
    let signature = frost::aggregate(&package, &shares, &public).unwrap();
    let bytes = signature.serialize().unwrap();
    assert_eq!(bytes, unhex(SIGNATURE));
    let key =
        ed25519_dalek::VerifyingKey::from_bytes(&unhex(VERIFYING_KEY).try_into().unwrap()).unwrap();
    let sig = ed25519_dalek::Signature::from_bytes(&bytes.try_into().unwrap());
    key.verify_strict(&message, &sig).unwrap();
}
