//! FROST 2-of-3 among the server, agent and user holders: the key is generated without a
//! dealer, any two sign, and what they make is a plain Ed25519 signature — checked with
//! `ed25519-dalek`, an independent implementation. Every message crosses "the wire" as bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use custos_threshold::dkg::{self, Finished, Round1Message, Round2Message};
use custos_threshold::sign::{self, Commitment, SignatureShare};
use custos_threshold::{Error, Holder, KeyShare};

/// The DKG, each message serialized and parsed back on its way; `tamper` may replace what
/// `to` receives from `from` in round 1.
fn run_dkg(
    tamper: impl Fn(Holder, Holder, Round1Message) -> Round1Message,
) -> Vec<Result<Finished, Error>> {
    let mut states = vec![];
    let mut broadcasts = vec![];
    for h in Holder::ALL {
        let (state, msg) = dkg::start(h).unwrap();
        states.push((h, state));
        broadcasts.push(msg);
    }
    let mut waiting = vec![];
    let mut secret_mail: Vec<Round2Message> = vec![];
    for (me, state) in states {
        let received: Vec<Round1Message> = broadcasts
            .iter()
            .filter(|m| m.from != me)
            .map(|m| {
                let wire = Round1Message::from_bytes(m.from, &m.to_bytes().unwrap()).unwrap();
                tamper(m.from, me, wire)
            })
            .collect();
        match state.receive(&received) {
            Ok((next, out)) => {
                for m in out {
                    let bytes = m.to_bytes();
                    secret_mail.push(Round2Message::from_bytes(m.from, m.to, &bytes).unwrap());
                }
                waiting.push((me, Ok(next)));
            }
            Err(e) => waiting.push((me, Err(e))),
        }
    }
    waiting
        .into_iter()
        .map(|(me, state)| {
            let mine: Vec<Round2Message> = secret_mail
                .iter()
                .filter(|m| m.to == me)
                .map(|m| Round2Message::from_bytes(m.from, m.to, &m.to_bytes()).unwrap())
                .collect();
            state.and_then(|s| s.finish(&mine))
        })
        .collect()
}

fn honest_dkg() -> Vec<Finished> {
    run_dkg(|_, _, m| m)
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

/// `a` and `b` sign `message`; the commitments and shares travel as bytes.
fn sign_pair(a: &KeyShare, b: &KeyShare, group: &Finished, message: &[u8]) -> [u8; 64] {
    let (na, ca) = sign::commit(a);
    let (nb, cb) = sign::commit(b);
    let commitments: Vec<Commitment> = [ca, cb]
        .iter()
        .map(|c| Commitment::from_bytes(c.from, &c.to_bytes().unwrap()).unwrap())
        .collect();
    let shares: Vec<SignatureShare> = [
        sign::share(a, na, message, &commitments).unwrap(),
        sign::share(b, nb, message, &commitments).unwrap(),
    ]
    .iter()
    .map(|s| SignatureShare::from_bytes(s.from, &s.to_bytes()).unwrap())
    .collect();
    sign::aggregate(&group.group, message, &commitments, &shares).unwrap()
}

fn verify(group_key: [u8; 32], message: &[u8], sig: &[u8; 64]) -> bool {
    let key = ed25519_dalek::VerifyingKey::from_bytes(&group_key).unwrap();
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(sig))
        .is_ok()
}

#[test]
fn three_holders_make_a_key_none_of_them_holds_and_any_two_sign_with_it() {
    let out = honest_dkg();
    let key = out[0].share.group_key();
    for f in &out {
        assert_eq!(f.share.group_key(), key);
        assert_eq!(f.group.bytes(), key);
        assert_eq!(
            f.transcript, out[0].transcript,
            "the three saw the same broadcasts"
        );
    }
    // A second DKG makes another key: nothing is derived from fixed inputs.
    assert_ne!(honest_dkg()[0].share.group_key(), key);
    let message = b"a Solana transaction message, as the holders decoded it";
    for (i, j) in [(0, 1), (0, 2), (1, 2)] {
        let sig = sign_pair(&out[i].share, &out[j].share, &out[0], message);
        assert!(verify(key, message, &sig), "{i}+{j}");
        assert!(!verify(key, b"another message", &sig));
    }
}

#[test]
fn one_holder_cannot_sign_alone_or_twice_over() {
    let out = honest_dkg();
    let (server, agent) = (&out[0].share, &out[1].share);
    let message = b"m";
    let (n, c) = sign::commit(server);
    assert!(matches!(
        sign::share(server, n, message, std::slice::from_ref(&c)),
        Err(Error::Protocol(_))
    ));
    // The server's share presented twice is not two holders.
    let (n1, c1) = sign::commit(server);
    let (n2, c2) = sign::commit(server);
    assert!(matches!(
        sign::share(server, n1, message, &[c1.clone(), c2.clone()]),
        Err(Error::Protocol(_))
    ));
    drop(n2);
    // Nonces are bound to their holder, and a holder's own commitment cannot be swapped.
    let (na, ca) = sign::commit(agent);
    let (ns, cs) = sign::commit(server);
    assert!(matches!(
        sign::share(server, na, message, &[ca.clone(), cs.clone()]),
        Err(Error::Protocol(_))
    ));
    let (_, other) = sign::commit(server);
    assert!(matches!(
        sign::share(server, ns, message, &[ca, other]),
        Err(Error::Protocol(_))
    ));
}

#[test]
fn a_signature_share_for_other_bytes_is_named_when_aggregating() {
    let out = honest_dkg();
    let (server, agent) = (&out[0].share, &out[2].share);
    let (ns, cs) = sign::commit(server);
    let (na, ca) = sign::commit(agent);
    let commitments = [cs, ca];
    let good = sign::share(server, ns, b"pay 1 SOL to Alice", &commitments).unwrap();
    // The user holder signs something else than it was asked to co-sign.
    let bad = sign::share(agent, na, b"pay 900 SOL to Mallory", &commitments).unwrap();
    assert_eq!(
        sign::aggregate(
            &out[0].group,
            b"pay 1 SOL to Alice",
            &commitments,
            &[good, bad]
        ),
        Err(Error::Cheated(Holder::User))
    );
}

#[test]
fn a_forged_or_split_dkg_broadcast_is_caught() {
    // The coordinator shows the server another "agent" broadcast than the one the agent made:
    // the agent's real share then fails the server's check against the commitments it saw.
    let (_, forged) = dkg::start(Holder::Agent).unwrap();
    let results = run_dkg(|from, to, m| {
        if from == Holder::Agent && to == Holder::Server {
            forged.clone()
        } else {
            m
        }
    });
    assert_eq!(
        results[0].as_ref().err(),
        Some(&Error::Cheated(Holder::Agent)),
        "server"
    );
    // A corrupted broadcast does not parse, or fails its proof of knowledge.
    let (_, real) = dkg::start(Holder::User).unwrap();
    let mut bytes = real.to_bytes().unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    match Round1Message::from_bytes(Holder::User, &bytes) {
        Err(Error::Malformed { .. }) => {}
        Ok(corrupt) => {
            let results = run_dkg(|from, _, m| {
                if from == Holder::User {
                    corrupt.clone()
                } else {
                    m
                }
            });
            assert!(results[0].is_err() && results[1].is_err());
        }
        Err(e) => panic!("{e:?}"),
    }
    // Round 2 refuses a missing, duplicated or misdelivered message.
    let (state, _) = dkg::start(Holder::Server).unwrap();
    let (_, from_agent) = dkg::start(Holder::Agent).unwrap();
    assert!(matches!(
        state.receive(&[from_agent.clone(), from_agent]),
        Err(Error::Protocol(_))
    ));
}

#[test]
fn a_sealed_share_is_bound_to_its_holder_and_prints_nothing_secret() {
    let out = honest_dkg();
    let bytes = out[1].share.to_bytes().unwrap();
    let back = KeyShare::from_bytes(Holder::Agent, &bytes).unwrap();
    assert_eq!(back.group_key(), out[1].share.group_key());
    assert!(matches!(
        KeyShare::from_bytes(Holder::Server, &bytes),
        Err(Error::Protocol(_))
    ));
    // The share read back still signs with the server's.
    let sig = sign_pair(&out[0].share, &back, &out[0], b"after unsealing");
    assert!(verify(out[0].group.bytes(), b"after unsealing", &sig));
    // Debug output carries no share bytes.
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let printed = format!("{:?} {:?}", out[1].share, sign::commit(&back).0);
    assert!(printed.contains("<redacted>"));
    let public = hex_of_group(&out[1]);
    for window in hex.as_bytes().chunks(16).filter(|w| w.len() == 16) {
        let w = std::str::from_utf8(window).unwrap();
        if !public.contains(w) {
            assert!(!printed.contains(w), "{printed}");
        }
    }
    // A group key survives its own serialization.
    let g = custos_threshold::GroupKey::from_bytes(&out[0].group.to_bytes().unwrap()).unwrap();
    assert_eq!(g, out[0].group);
}

fn hex_of_group(f: &Finished) -> String {
    f.share
        .group_key()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
