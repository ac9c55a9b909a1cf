//! The enclave's identity statements and the verifiers for them.
//!
//! - [`dev`]: the `dev` attestation document this machine's enclave produces (self-signed,
//!   explicitly not hardware-backed) and signed audit checkpoints.
//! - [`nitro`] (feature `nitro`): a verifier for genuine AWS Nitro Enclaves attestation
//!   documents — COSE_Sign1 signed by a key certified through a chain to the pinned AWS Nitro
//!   root — with a policy on measurements (PCRs), freshness, nonce and debug mode.
//!
//! Producing Nitro documents needs the Nitro Secure Module inside a real enclave; this crate
//! only verifies them.

pub mod dev;
#[cfg(feature = "nitro")]
pub mod nitro;

pub(crate) use dev::{checkpoint, dev_document};
pub use dev::{verify_checkpoint, verify_dev_attestation, VerifyError};
