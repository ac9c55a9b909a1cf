//! Threshold 2-of-3 for Custos' share holders — the server (the enclave), the agent's
//! `custos cosigner` and the owner's passkey-held user share — over FROST(Ed25519, SHA-512)
//! (RFC 9591, ZcashFoundation's `frost-ed25519`). The group signature is a plain Ed25519
//! signature: Solana verifies it like any other.
//!
//! - [`dkg`]: distributed key generation among the three holders. There is no dealer and no
//!   moment when the group's private key exists anywhere: each holder ends with its own share,
//!   the group's public key, and a transcript hash the three compare to confirm they saw the
//!   same round-1 broadcasts.
//! - [`sign`]: any two holders sign. Nonces are single use by construction (`sign` consumes
//!   them); a signature share that does not verify is named when the shares are aggregated.
//!
//! This crate is the protocol only: what each holder checks before it contributes (the signed
//! policy, the decoded payload) is the signer core's (`custos-signer`), and how messages travel
//! (Noise links, the browser's HTTPS) is the transports'. Round-2 DKG messages carry a share for
//! their recipient: they must travel encrypted and authenticated. Secret values ([`KeyShare`],
//! [`sign::Nonces`], [`dkg::Round2Message`]) print nothing secret from `Debug` and are zeroized
//! when dropped (frost's secret types zeroize themselves).
pub mod dkg;
pub mod sign;
pub mod wire;

use frost_ed25519 as frost;
use std::fmt;

/// One of the three share holders, with its fixed FROST identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Holder {
    /// The server share, in the enclave.
    Server,
    /// The agent's share, in `custos cosigner`.
    Agent,
    /// The owner's share, encrypted under a passkey's PRF output, used in the browser.
    User,
}

impl Holder {
    /// All three, in identifier order.
    pub const ALL: [Holder; 3] = [Holder::Server, Holder::Agent, Holder::User];

    fn index(self) -> u16 {
        match self {
            Holder::Server => 1,
            Holder::Agent => 2,
            Holder::User => 3,
        }
    }

    fn identifier(self) -> frost::Identifier {
        // 1, 2 and 3 are valid non-zero scalars.
        frost::Identifier::try_from(self.index()).unwrap_or_else(|_| unreachable_identifier())
    }

    fn from_identifier(id: &frost::Identifier) -> Option<Holder> {
        Holder::ALL.into_iter().find(|h| h.identifier() == *id)
    }

    /// The holder's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Holder::Server => "server",
            Holder::Agent => "agent",
            Holder::User => "user",
        }
    }
}

#[allow(clippy::panic)] // Identifiers 1..=3 are never zero: this cannot run.
fn unreachable_identifier() -> frost::Identifier {
    panic!("FROST identifier 1..=3 refused")
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Two of three sign.
pub const THRESHOLD: u16 = 2;
/// Three holders.
pub const HOLDERS: u16 = 3;

/// Why a step of the protocol was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A message from the wrong holder, a duplicate, or one missing.
    #[error("protocol: {0}")]
    Protocol(String),
    /// A message that does not decode.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which message.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A holder's contribution failed its check (a bad proof of knowledge in the DKG, a share
    /// inconsistent with its commitment, a signature share that does not verify).
    #[error("the {0} holder's contribution is invalid")]
    Cheated(Holder),
    /// Anything else the FROST implementation refused.
    #[error("FROST: {0}")]
    Frost(String),
}

impl Error {
    fn frost(e: frost::Error) -> Self {
        match e.culprits().first().and_then(Holder::from_identifier) {
            Some(h) => Error::Cheated(h),
            None => Error::Frost(e.to_string()),
        }
    }
}

/// One holder's key share: what it keeps (sealed) after the DKG.
pub struct KeyShare {
    holder: Holder,
    package: frost::keys::KeyPackage,
}

impl KeyShare {
    /// Whose share this is.
    pub fn holder(&self) -> Holder {
        self.holder
    }

    /// The group's Ed25519 public key (the wallet's Solana address, as bytes).
    pub fn group_key(&self) -> [u8; 32] {
        verifying_key_bytes(self.package.verifying_key())
    }

    /// The share serialized for sealing (zeroized when dropped).
    pub fn to_bytes(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, Error> {
        self.package
            .serialize()
            .map(zeroize::Zeroizing::new)
            .map_err(Error::frost)
    }

    /// A share read back from [`KeyShare::to_bytes`]; it must be `holder`'s.
    pub fn from_bytes(holder: Holder, bytes: &[u8]) -> Result<Self, Error> {
        let package =
            frost::keys::KeyPackage::deserialize(bytes).map_err(|e| Error::Malformed {
                what: "key share",
                reason: e.to_string(),
            })?;
        if *package.identifier() != holder.identifier() {
            return Err(Error::Protocol(format!(
                "this key share is not the {holder}'s"
            )));
        }
        if *package.min_signers() != THRESHOLD {
            return Err(Error::Protocol("this key share is not 2-of-3".into()));
        }
        Ok(Self { holder, package })
    }
}

impl fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyShare")
            .field("holder", &self.holder)
            .field("group_key", &hex(&self.group_key()))
            .field("share", &"<redacted>")
            .finish()
    }
}

/// The group's public side: its key and each holder's verifying share (to check signature
/// shares against).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupKey(frost::keys::PublicKeyPackage);

impl GroupKey {
    /// The Ed25519 public key.
    pub fn bytes(&self) -> [u8; 32] {
        verifying_key_bytes(self.0.verifying_key())
    }

    /// Serialized, to store beside the wallet.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        self.0.serialize().map_err(Error::frost)
    }

    /// Read back from [`GroupKey::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        frost::keys::PublicKeyPackage::deserialize(bytes)
            .map(GroupKey)
            .map_err(|e| Error::Malformed {
                what: "group key",
                reason: e.to_string(),
            })
    }
}

fn verifying_key_bytes(k: &frost::VerifyingKey) -> [u8; 32] {
    let mut out = [0u8; 32];
    if let Ok(v) = k.serialize() {
        if v.len() == 32 {
            out.copy_from_slice(&v);
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
