//! Distributed key generation among the three holders (FROST's Pedersen DKG with proofs of
//! knowledge, RFC 9591 §C / the `frost-ed25519` `keys::dkg` module), as a typestate machine:
//!
//! 1. [`start`]: each holder draws its secret polynomial and broadcasts a [`Round1Message`]
//!    (commitments and a proof of knowledge of its secret).
//! 2. [`Round1::receive`]: given the other two round-1 messages, each holder checks their proofs
//!    and sends each other holder a [`Round2Message`] — that holder's share of its polynomial,
//!    *secret*: it must travel encrypted to its recipient.
//! 3. [`Round2::finish`]: given the two round-2 messages addressed to it, each holder checks
//!    them against the senders' commitments and derives its [`KeyShare`] and the [`GroupKey`].
//!
//! Round-1 messages must reach everyone identically (a broadcast): [`Finished::transcript`] is
//! a hash of all three, which the holders compare before the wallet is used — a coordinator
//! that showed them different commitments is caught there.
use crate::{frost, Error, GroupKey, Holder, KeyShare, HOLDERS, THRESHOLD};
use std::collections::BTreeMap;
use std::fmt;

/// A holder's public round-1 broadcast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Round1Message {
    /// Who sent it.
    pub from: Holder,
    package: frost::keys::dkg::round1::Package,
}

impl Round1Message {
    /// Its bytes on the wire ([`crate::wire`]: the two commitment points, then the proof of
    /// knowledge `R ‖ z`; 128 bytes). The sender is carried beside them by the transport.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let points = self
            .package
            .commitment()
            .serialize()
            .map_err(Error::frost)?;
        let proof = self
            .package
            .proof_of_knowledge()
            .serialize()
            .map_err(Error::frost)?;
        Ok(points.concat().into_iter().chain(proof).collect())
    }

    /// A message from `from`, read from its bytes.
    pub fn from_bytes(from: Holder, bytes: &[u8]) -> Result<Self, Error> {
        let malformed = |reason: String| Error::Malformed {
            what: "DKG round-1 message",
            reason,
        };
        let fields = crate::wire::split(bytes, &[32, 32, 64]).map_err(malformed)?;
        let commitment =
            frost::keys::VerifiableSecretSharingCommitment::deserialize(fields[..2].to_vec())
                .map_err(|e| malformed(e.to_string()))?;
        let proof =
            frost::Signature::deserialize(fields[2]).map_err(|e| malformed(e.to_string()))?;
        Ok(Self {
            from,
            package: frost::keys::dkg::round1::Package::new(commitment, proof),
        })
    }
}

/// A share of one holder's polynomial for another: secret.
pub struct Round2Message {
    /// Who sent it.
    pub from: Holder,
    /// Whom it is for (only they may read it).
    pub to: Holder,
    package: frost::keys::dkg::round2::Package,
}

impl Round2Message {
    /// Its bytes, to encrypt for [`Round2Message::to`]: the 32-byte share (zeroized when
    /// dropped).
    pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        zeroize::Zeroizing::new(self.package.signing_share().serialize())
    }

    /// A message from `from` to `to`, read from its (decrypted) bytes.
    pub fn from_bytes(from: Holder, to: Holder, bytes: &[u8]) -> Result<Self, Error> {
        let malformed = |reason: String| Error::Malformed {
            what: "DKG round-2 message",
            reason,
        };
        let fields = crate::wire::split(bytes, &[32]).map_err(malformed)?;
        let share = frost::keys::SigningShare::deserialize(fields[0])
            .map_err(|e| malformed(e.to_string()))?;
        Ok(Self {
            from,
            to,
            package: frost::keys::dkg::round2::Package::new(share),
        })
    }
}

impl fmt::Debug for Round2Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Round2Message")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("share", &"<redacted>")
            .finish()
    }
}

/// After round 1: the holder's secret polynomial, waiting for the others' broadcasts.
pub struct Round1 {
    me: Holder,
    secret: frost::keys::dkg::round1::SecretPackage,
    mine: Round1Message,
}

/// After round 2: waiting for the shares addressed to this holder.
pub struct Round2 {
    me: Holder,
    secret: frost::keys::dkg::round2::SecretPackage,
    round1: BTreeMap<frost::Identifier, frost::keys::dkg::round1::Package>,
    transcript: [u8; 32],
}

/// What a holder keeps at the end.
#[derive(Debug)]
pub struct Finished {
    /// Its key share (seal it).
    pub share: KeyShare,
    /// The group's public key package.
    pub group: GroupKey,
    /// SHA-256 over the three round-1 messages in holder order: equal at all three holders, or
    /// someone saw a different broadcast and the key must not be used.
    pub transcript: [u8; 32],
}

impl fmt::Debug for Round1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("dkg::Round1").field("me", &self.me).finish()
    }
}

impl fmt::Debug for Round2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("dkg::Round2").field("me", &self.me).finish()
    }
}

/// Round 1 for holder `me`: its state and its broadcast.
pub fn start(me: Holder) -> Result<(Round1, Round1Message), Error> {
    let (secret, package) =
        frost::keys::dkg::part1(me.identifier(), HOLDERS, THRESHOLD, rand_core::OsRng)
            .map_err(Error::frost)?;
    let mine = Round1Message { from: me, package };
    Ok((
        Round1 {
            me,
            secret,
            mine: mine.clone(),
        },
        mine,
    ))
}

/// The two messages of `msgs` from the holders other than `me`, each exactly once.
fn others<M>(
    me: Holder,
    msgs: &[M],
    from: impl Fn(&M) -> Holder,
) -> Result<BTreeMap<Holder, &M>, Error> {
    let mut out = BTreeMap::new();
    for m in msgs {
        let h = from(m);
        if h == me {
            return Err(Error::Protocol(format!("a message from {me} to itself")));
        }
        if out.insert(h, m).is_some() {
            return Err(Error::Protocol(format!("two messages from the {h} holder")));
        }
    }
    if out.len() != usize::from(HOLDERS - 1) {
        return Err(Error::Protocol(format!(
            "expected messages from the other {} holders, got {}",
            HOLDERS - 1,
            out.len()
        )));
    }
    Ok(out)
}

impl Round1 {
    /// Round 2: checks the other holders' broadcasts and returns one secret message for each.
    pub fn receive(self, round1: &[Round1Message]) -> Result<(Round2, Vec<Round2Message>), Error> {
        let theirs = others(self.me, round1, |m| m.from)?;
        let packages: BTreeMap<_, _> = theirs
            .iter()
            .map(|(h, m)| (h.identifier(), m.package.clone()))
            .collect();
        let mut all: Vec<&Round1Message> = theirs.values().copied().collect();
        all.push(&self.mine);
        all.sort_by_key(|m| m.from);
        let transcript = transcript_of(&all)?;
        let (secret, outgoing) =
            frost::keys::dkg::part2(self.secret, &packages).map_err(Error::frost)?;
        let mut messages = vec![];
        for (id, package) in outgoing {
            let to = Holder::from_identifier(&id)
                .ok_or_else(|| Error::Protocol("a share for an unknown holder".into()))?;
            messages.push(Round2Message {
                from: self.me,
                to,
                package,
            });
        }
        Ok((
            Round2 {
                me: self.me,
                secret,
                round1: packages,
                transcript,
            },
            messages,
        ))
    }
}

impl Round2 {
    /// The end: checks the shares sent to this holder and derives its key share.
    pub fn finish(self, round2: &[Round2Message]) -> Result<Finished, Error> {
        let theirs = others(self.me, round2, |m| m.from)?;
        if let Some(m) = theirs.values().find(|m| m.to != self.me) {
            return Err(Error::Protocol(format!(
                "a share for the {} holder was delivered to the {}",
                m.to, self.me
            )));
        }
        let packages: BTreeMap<_, _> = theirs
            .iter()
            .map(|(h, m)| (h.identifier(), m.package.clone()))
            .collect();
        let (key, public) =
            frost::keys::dkg::part3(&self.secret, &self.round1, &packages).map_err(Error::frost)?;
        Ok(Finished {
            share: KeyShare {
                holder: self.me,
                package: key,
            },
            group: GroupKey(public),
            transcript: self.transcript,
        })
    }
}

fn transcript_of(in_order: &[&Round1Message]) -> Result<[u8; 32], Error> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"custos threshold 2-of-3 dkg v1");
    for m in in_order {
        let bytes = m.to_bytes()?;
        h.update([m.from.index() as u8]);
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(&bytes);
    }
    Ok(h.finalize().into())
}
