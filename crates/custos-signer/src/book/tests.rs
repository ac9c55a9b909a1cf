//! The book's rules, one test each: enrolment, no rollback, chaining, foreign and bad
//! signatures, quorum for loosening, delay, cancellation, persistence.
#![allow(clippy::unwrap_used, clippy::panic)]
use super::*;
use crate::owner::OwnerSigningKey;
use custos_core::Decimal;

const NOW: i64 = 1_800_000_000_000;

struct Owners(Vec<OwnerSigningKey>);

impl Owners {
    fn new(n: usize) -> Self {
        let mut keys: Vec<OwnerSigningKey> = (0..n).map(|_| OwnerSigningKey::generate()).collect();
        keys.sort_by_key(|k| k.public());
        Self(keys)
    }
    fn authority(&self, quorum: u32, delay: u64) -> Authority {
        Authority {
            owners: self.0.iter().map(OwnerSigningKey::public).collect(),
            quorum,
            loosen_delay_seconds: delay,
        }
    }
}

fn enrolment(wallet: AgentId, auth: Authority, signers: &[&OwnerSigningKey]) -> PolicyEnvelope {
    let mut e = PolicyEnvelope::new(wallet, 1, [0; 32], 0, auth, PolicyDocument::default());
    for k in signers {
        e.sign(k);
    }
    e
}

fn next(
    prev: &PolicyEnvelope,
    doc: PolicyDocument,
    signers: &[&OwnerSigningKey],
) -> PolicyEnvelope {
    let mut e = PolicyEnvelope::new(
        prev.wallet,
        prev.version + 1,
        prev.hash(),
        0,
        prev.authority.clone(),
        doc,
    );
    for k in signers {
        e.sign(k);
    }
    e
}

fn looser(d: &PolicyDocument) -> PolicyDocument {
    let mut d = d.clone();
    d.limits.per_tx_usd = Decimal::from_atoms(d.limits.per_tx_usd.atoms() * 100);
    d.limits.daily_usd = Decimal::from_atoms(d.limits.daily_usd.atoms() * 100);
    d
}

fn tighter(d: &PolicyDocument) -> PolicyDocument {
    let mut d = d.clone();
    d.limits.per_tx_usd = Decimal::from_atoms(d.limits.per_tx_usd.atoms() / 2);
    d
}

#[test]
fn no_policy_means_nothing_to_sign_under() {
    let book = PolicyBook::in_memory(vec![]);
    let w = AgentId::new_random();
    assert_eq!(
        book.effective(w, NOW),
        Err(EnvelopeError::NoPolicy { wallet: w })
    );
}

#[test]
fn enrolment_needs_its_own_quorum_or_an_enrolment_key() {
    let o = Owners::new(2);
    let w = AgentId::new_random();
    let book = PolicyBook::in_memory(vec![]);
    let e = enrolment(w, o.authority(2, 0), &[&o.0[0]]);
    assert!(matches!(
        book.submit(e, NOW),
        Err(EnvelopeError::Quorum {
            have: 1,
            need: 2,
            ..
        })
    ));
    let e = enrolment(w, o.authority(2, 0), &[&o.0[0], &o.0[1]]);
    assert!(matches!(
        book.submit(e, NOW),
        Ok(PolicyApplied::Current { version: 1, .. })
    ));

    // With enrolment keys: only they may enrol, whatever the envelope's own authority says.
    let pin = OwnerSigningKey::generate();
    let book = PolicyBook::in_memory(vec![pin.public()]);
    let e = enrolment(w, o.authority(1, 0), &[&o.0[0]]);
    assert_eq!(
        book.submit(e, NOW),
        Err(EnvelopeError::EnrolmentNotPermitted)
    );
    let e = enrolment(w, o.authority(1, 0), &[&pin]);
    assert!(book.submit(e, NOW).is_ok());
    // A version other than 1 cannot enrol.
    let book = PolicyBook::in_memory(vec![]);
    let mut e = enrolment(w, o.authority(1, 0), &[]);
    e.version = 2;
    e.prev_hash = [1; 32];
    e.sign(&o.0[0]);
    assert!(matches!(
        book.submit(e, NOW),
        Err(EnvelopeError::BrokenChain { .. })
    ));
}

#[test]
fn replays_rollbacks_and_broken_chains_are_refused_and_change_nothing() {
    let o = Owners::new(1);
    let w = AgentId::new_random();
    let book = PolicyBook::in_memory(vec![]);
    let v1 = enrolment(w, o.authority(1, 0), &[&o.0[0]]);
    book.submit(v1.clone(), NOW).unwrap();
    let v2 = next(&v1, tighter(&v1.document), &[&o.0[0]]);
    book.submit(v2.clone(), NOW).unwrap();
    // The same envelope again: unchanged, not an error.
    assert!(matches!(
        book.submit(v2.clone(), NOW),
        Ok(PolicyApplied::Unchanged { version: 2, .. })
    ));
    // The old version again: stale.
    assert_eq!(
        book.submit(v1.clone(), NOW),
        Err(EnvelopeError::Stale { got: 1, current: 2 })
    );
    // A fork of version 2 (chains on 1, not on the held 2): stale too.
    let fork = next(&v1, looser(&v1.document), &[&o.0[0]]);
    assert!(matches!(
        book.submit(fork, NOW),
        Err(EnvelopeError::Stale { .. })
    ));
    // Version 3 naming the wrong parent, and version 4 skipping one.
    let mut bad = next(&v2, tighter(&v2.document), &[]);
    bad.prev_hash = v1.hash();
    bad.sign(&o.0[0]);
    assert!(matches!(
        book.submit(bad, NOW),
        Err(EnvelopeError::BrokenChain { .. })
    ));
    let mut skip = next(&v2, tighter(&v2.document), &[]);
    skip.version = 4;
    skip.sign(&o.0[0]);
    assert!(matches!(
        book.submit(skip, NOW),
        Err(EnvelopeError::BrokenChain { .. })
    ));
    assert_eq!(book.effective(w, NOW).unwrap().version, 2);
    assert_eq!(book.effective(w, NOW).unwrap().document, v2.document);
}

#[test]
fn unsigned_foreign_and_forged_changes_are_refused() {
    let o = Owners::new(1);
    let w = AgentId::new_random();
    let book = PolicyBook::in_memory(vec![]);
    let v1 = enrolment(w, o.authority(1, 0), &[&o.0[0]]);
    book.submit(v1.clone(), NOW).unwrap();
    let unsigned = next(&v1, tighter(&v1.document), &[]);
    assert!(matches!(
        book.submit(unsigned, NOW),
        Err(EnvelopeError::Quorum { have: 0, .. })
    ));
    let stranger = OwnerSigningKey::generate();
    let foreign = next(&v1, looser(&v1.document), &[&stranger]);
    assert_eq!(
        book.submit(foreign, NOW),
        Err(EnvelopeError::UnenrolledSigner {
            key: stranger.public()
        })
    );
    // Signed, then the document edited: the signature no longer covers it.
    let mut forged = next(&v1, tighter(&v1.document), &[&o.0[0]]);
    forged.document = looser(&v1.document);
    assert!(matches!(
        book.submit(forged, NOW),
        Err(EnvelopeError::BadSignature { .. })
    ));
    assert_eq!(book.effective(w, NOW).unwrap().version, 1);
}

#[test]
fn loosening_needs_the_quorum_tightening_needs_one() {
    let o = Owners::new(3);
    let w = AgentId::new_random();
    let book = PolicyBook::in_memory(vec![]);
    let v1 = enrolment(w, o.authority(2, 0), &[&o.0[0], &o.0[1]]);
    book.submit(v1.clone(), NOW).unwrap();
    let one = next(&v1, looser(&v1.document), &[&o.0[2]]);
    let err = book.submit(one, NOW).unwrap_err();
    assert!(
        matches!(
            err,
            EnvelopeError::Quorum {
                have: 1,
                need: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("limits.per_tx_usd"), "{err}");
    let tight = next(&v1, tighter(&v1.document), &[&o.0[2]]);
    assert!(matches!(
        book.submit(tight.clone(), NOW),
        Ok(PolicyApplied::Current { version: 2, .. })
    ));
    let two = next(&tight, looser(&tight.document), &[&o.0[0], &o.0[2]]);
    assert!(matches!(
        book.submit(two, NOW),
        Ok(PolicyApplied::Current { version: 3, .. })
    ));
    // Adding an owner is a change of authority: one signature is not enough.
    let held = book.envelopes(w).unwrap().unwrap().0;
    let mut grow = next(&held, held.document.clone(), &[]);
    let mut owners = grow.authority.owners.clone();
    owners.push(OwnerSigningKey::generate().public());
    owners.sort();
    grow.authority.owners = owners;
    grow.sign(&o.0[1]);
    assert!(matches!(
        book.submit(grow, NOW),
        Err(EnvelopeError::Quorum { need: 2, .. })
    ));
}

#[test]
fn envelopes_from_the_future_are_refused() {
    let o = Owners::new(1);
    let w = AgentId::new_random();
    let book = PolicyBook::in_memory(vec![]);
    let v1 = enrolment(w, o.authority(1, 0), &[&o.0[0]]);
    book.submit(v1.clone(), NOW).unwrap();
    let mut later = next(&v1, looser(&v1.document), &[]);
    later.not_before_ms = NOW + 60_000;
    later.sign(&o.0[0]);
    assert!(matches!(
        book.submit(later.clone(), NOW),
        Err(EnvelopeError::NotYetValid { .. })
    ));
    assert_eq!(book.effective(w, NOW).unwrap().version, 1);
    // Submitted again when due, it takes force.
    assert!(book.submit(later, NOW + 60_000).is_ok());
    assert_eq!(book.effective(w, NOW + 60_000).unwrap().version, 2);
}

#[test]
fn a_loosening_waits_out_the_delay_and_a_tightening_cancels_it() {
    let o = Owners::new(1);
    let w = AgentId::new_random();
    let book = PolicyBook::in_memory(vec![]);
    let v1 = enrolment(w, o.authority(1, 3600), &[&o.0[0]]);
    book.submit(v1.clone(), NOW).unwrap();
    let loose = next(&v1, looser(&v1.document), &[&o.0[0]]);
    let Ok(PolicyApplied::Pending {
        effective_from_ms,
        loosens,
        ..
    }) = book.submit(loose.clone(), NOW)
    else {
        panic!("a loosening under a delay must be pending");
    };
    assert_eq!(effective_from_ms, NOW + 3_600_000);
    assert!(
        loosens.iter().any(|l| l.starts_with("limits.per_tx_usd")),
        "{loosens:?}"
    );
    // Resubmitting does not restart the clock.
    assert!(matches!(
        book.submit(loose.clone(), NOW + 1000),
        Ok(PolicyApplied::Pending { effective_from_ms: f, .. }) if f == NOW + 3_600_000
    ));
    assert_eq!(book.effective(w, NOW + 3_599_999).unwrap().version, 1);
    // What the book says it holds follows the clock too: pending before, in force after.
    let held = book.held(w, NOW + 3_599_999).unwrap().unwrap();
    assert!(held.pending.is_some());
    let held = book.held(w, NOW + 3_600_000).unwrap().unwrap();
    assert!(held.pending.is_none());
    assert_eq!(PolicyEnvelope::from_json(&held.current).unwrap().version, 2);
    assert_eq!(book.effective(w, NOW + 3_600_000).unwrap().version, 2);

    // A tightening chained on the held version cancels a pending loosening.
    let w = AgentId::new_random();
    let v1 = enrolment(w, o.authority(1, 3600), &[&o.0[0]]);
    book.submit(v1.clone(), NOW).unwrap();
    let loose = next(&v1, looser(&v1.document), &[&o.0[0]]);
    assert!(matches!(
        book.submit(loose, NOW),
        Ok(PolicyApplied::Pending { .. })
    ));
    let tight = next(&v1, tighter(&v1.document), &[&o.0[0]]);
    assert!(matches!(
        book.submit(tight.clone(), NOW + 10),
        Ok(PolicyApplied::Current { version: 2, .. })
    ));
    let eff = book.effective(w, NOW + 10_000_000).unwrap();
    assert_eq!(eff.document, tight.document);
}

#[test]
fn state_survives_reopening_and_a_replaced_file_is_caught_by_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let o = Owners::new(1);
    let w = AgentId::new_random();
    let v1 = enrolment(w, o.authority(1, 0), &[&o.0[0]]);
    let v2 = next(&v1, tighter(&v1.document), &[&o.0[0]]);
    {
        let book = PolicyBook::open(dir.path(), vec![]).unwrap();
        book.submit(v1.clone(), NOW).unwrap();
        book.submit(v2.clone(), NOW).unwrap();
    }
    let book = PolicyBook::open(dir.path(), vec![]).unwrap();
    assert_eq!(book.effective(w, NOW).unwrap().version, 2);
    assert_eq!(
        book.submit(v1, NOW),
        Err(EnvelopeError::Stale { got: 1, current: 2 })
    );
    // A file that is not a policy book entry is an error, not "no policy".
    std::fs::write(dir.path().join(format!("{}.json", w.0)), b"{}").unwrap();
    let book = PolicyBook::open(dir.path(), vec![]).unwrap();
    assert!(matches!(
        book.effective(w, NOW),
        Err(EnvelopeError::Storage(_))
    ));
}
