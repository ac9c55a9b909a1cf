//! The signer core: what every part that holds key material does before it contributes a
//! signature, whatever it holds (the enclave's whole keys today; a cosigner's or a facility's
//! share or multisig key next). See `SIGNERS.md`.
//!
//! - [`owner`]: owner keys — the Ed25519 keys operators keep, whose signatures alone can change a
//!   wallet's policy.
//! - [`envelope`]: the owner-signed policy envelope `{wallet, version, prev_hash, not_before,
//!   authority, document, signatures}` and its exact signed bytes.
//! - [`book`]: the newest verified envelope per wallet, kept by the signer itself: no rollback,
//!   a `prev_hash` chain, tightening on one signature, loosening only with the quorum and after
//!   the delay. A signer asks the book for a wallet's policy and never takes one from its caller.
//!
//! - [`decisions`]: the signer's own decision log, hash-chained and signed with its identity key.
//! - [`freeze`]: the agents an operator froze, and the kill switch that freezes them all.
//!
//! Nothing here does network I/O; the book and the log write their own files.
#![forbid(unsafe_code)]

pub mod book;
pub mod decisions;
pub mod envelope;
pub mod files;
pub mod freeze;
pub mod owner;

pub use book::{judge, Effective, PolicyBook, Verdict};
pub use envelope::{
    enrolment, Authority, EnvelopeError, OwnerSignature, PolicyEnvelope, ENVELOPE_FORMAT,
};
pub use freeze::{FreezeError, FreezeList};
pub use owner::{OwnerKey, OwnerSigningKey};
