//! Two holders sign (RFC 9591's two rounds):
//!
//! 1. [`commit`]: each of the two draws fresh nonces and sends its [`Commitment`].
//! 2. [`share`]: given the message and both commitments, each produces its [`SignatureShare`]
//!    — consuming its [`Nonces`], so a nonce can never sign twice.
//! 3. [`aggregate`]: anyone (the coordinator) combines the two shares into the 64-byte Ed25519
//!    signature; a share that does not verify against its holder's verifying share is named.
//!
//! Before step 2 each holder checks the message itself (the signer core's job); this module
//! signs whatever bytes it is given.
use crate::{frost, Error, GroupKey, Holder, KeyShare, THRESHOLD};
use std::collections::BTreeMap;
use std::fmt;

/// A holder's secret nonces for one signature. Not `Clone`: [`share`] takes them by value.
pub struct Nonces {
    holder: Holder,
    nonces: frost::round1::SigningNonces,
}

impl fmt::Debug for Nonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nonces")
            .field("holder", &self.holder)
            .field("nonces", &"<redacted>")
            .finish()
    }
}

/// A holder's public commitment to its nonces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commitment {
    /// Whose.
    pub from: Holder,
    commitments: frost::round1::SigningCommitments,
}

impl Commitment {
    /// Its bytes on the wire: the hiding then the binding nonce commitment (64 bytes).
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let hiding = self
            .commitments
            .hiding()
            .serialize()
            .map_err(Error::frost)?;
        let binding = self
            .commitments
            .binding()
            .serialize()
            .map_err(Error::frost)?;
        Ok([hiding, binding].concat())
    }

    /// A commitment from `from`, read from its bytes.
    pub fn from_bytes(from: Holder, bytes: &[u8]) -> Result<Self, Error> {
        let malformed = |reason: String| Error::Malformed {
            what: "signing commitment",
            reason,
        };
        let fields = crate::wire::split(bytes, &[32, 32]).map_err(malformed)?;
        let point = |b: &[u8]| {
            frost::round1::NonceCommitment::deserialize(b).map_err(|e| malformed(e.to_string()))
        };
        Ok(Self {
            from,
            commitments: frost::round1::SigningCommitments::new(
                point(fields[0])?,
                point(fields[1])?,
            ),
        })
    }
}

/// A holder's share of one signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureShare {
    /// Whose.
    pub from: Holder,
    share: frost::round2::SignatureShare,
}

impl SignatureShare {
    /// Its bytes on the wire (the 32-byte scalar).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.share.serialize()
    }

    /// A share from `from`, read from its bytes.
    pub fn from_bytes(from: Holder, bytes: &[u8]) -> Result<Self, Error> {
        let malformed = |reason: String| Error::Malformed {
            what: "signature share",
            reason,
        };
        let fields = crate::wire::split(bytes, &[32]).map_err(malformed)?;
        frost::round2::SignatureShare::deserialize(fields[0])
            .map(|share| Self { from, share })
            .map_err(|e| malformed(e.to_string()))
    }
}

/// Round 1 for `key`'s holder: secret nonces to keep, a commitment to send.
pub fn commit(key: &KeyShare) -> (Nonces, Commitment) {
    let (nonces, commitments) =
        frost::round1::commit(key.package.signing_share(), &mut rand_core::OsRng);
    (
        Nonces {
            holder: key.holder,
            nonces,
        },
        Commitment {
            from: key.holder,
            commitments,
        },
    )
}

/// `items` keyed by their holder's identifier; a holder appearing twice is refused.
fn by_holder<T>(
    items: impl Iterator<Item = (Holder, T)>,
    what: &str,
) -> Result<BTreeMap<frost::Identifier, T>, Error> {
    let mut map = BTreeMap::new();
    for (holder, item) in items {
        if map.insert(holder.identifier(), item).is_some() {
            return Err(Error::Protocol(format!(
                "two {what} from the {holder} holder"
            )));
        }
    }
    Ok(map)
}

/// The signing package of `message` with exactly two commitments from distinct holders.
fn package(message: &[u8], commitments: &[Commitment]) -> Result<frost::SigningPackage, Error> {
    let map = by_holder(
        commitments.iter().map(|c| (c.from, c.commitments)),
        "commitments",
    )?;
    if map.len() != usize::from(THRESHOLD) {
        return Err(Error::Protocol(format!(
            "a signature takes {THRESHOLD} holders' commitments, got {}",
            map.len()
        )));
    }
    Ok(frost::SigningPackage::new(map, message))
}

/// Round 2 for `key`'s holder: its share of the signature of `message`, using (and using up)
/// `nonces`. `commitments` are the two signers' (its own among them, unchanged).
pub fn share(
    key: &KeyShare,
    nonces: Nonces,
    message: &[u8],
    commitments: &[Commitment],
) -> Result<SignatureShare, Error> {
    if nonces.holder != key.holder {
        return Err(Error::Protocol("these nonces are another holder's".into()));
    }
    let pkg = package(message, commitments)?;
    let own = pkg
        .signing_commitment(&key.holder.identifier())
        .ok_or_else(|| Error::Protocol(format!("no commitment from the {} holder", key.holder)))?;
    if own != *nonces.nonces.commitments() {
        return Err(Error::Protocol(format!(
            "the {} holder's commitment was altered",
            key.holder
        )));
    }
    frost::round2::sign(&pkg, &nonces.nonces, &key.package)
        .map(|share| SignatureShare {
            from: key.holder,
            share,
        })
        .map_err(Error::frost)
}

/// The Ed25519 signature of `message` from the two holders' shares; verified against the
/// group key before it is returned.
pub fn aggregate(
    group: &GroupKey,
    message: &[u8],
    commitments: &[Commitment],
    shares: &[SignatureShare],
) -> Result<[u8; 64], Error> {
    let pkg = package(message, commitments)?;
    let map = by_holder(shares.iter().map(|s| (s.from, s.share)), "shares")?;
    let signature = frost::aggregate(&pkg, &map, &group.0).map_err(Error::frost)?;
    group
        .0
        .verifying_key()
        .verify(message, &signature)
        .map_err(Error::frost)?;
    let bytes = signature.serialize().map_err(Error::frost)?;
    <[u8; 64]>::try_from(bytes.as_slice())
        .map_err(|_| Error::Frost("a signature that is not 64 bytes".into()))
}
