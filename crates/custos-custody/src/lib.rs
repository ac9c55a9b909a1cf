//! The custody boundary: the `custos enclave` process that holds every agent private key, and
//! the client the API server uses to reach it.
//!
//! The enclave's code lives in this crate, but it runs in its own process (`custos enclave`),
//! reached over a Unix socket with a small framed protocol ([`protocol`]). The API server links
//! only [`client::EnclaveClient`], an implementation of [`custos_core::Custody`]; no key material
//! ever enters the server's address space.
//!
//! Inside the enclave:
//! - keys are generated from the OS CSPRNG ([`signer`]; the Kalshi RSA keys by OpenSSL,
//!   [`rsa_key`]), sealed at rest with AES-256-GCM under a
//!   data key wrapped by a KMS provider ([`kms`]; OpenBao Transit with the `openbao` feature),
//!   bound to the agent id, key id and scheme ([`keystore`]); the sealed documents live on the
//!   enclave's disk or, with OpenBao, optionally in a KV v2 mount;
//! - every signing request is judged by the enclave itself ([`boundary_check`]);
//! - the process refuses core dumps and ptrace-style dumping and tries to lock its memory
//!   ([`harden`]);
//! - an identity key signs `dev` attestation documents and audit checkpoints ([`attestation`]).
//!
//! The enclave's data dir layout is described in [`keystore`]; the process entry point is
//! [`enclave::run`] with an [`enclave::EnclaveConfig`].
//!
//! What it deliberately does not do:
//! - there is **no export operation**: no request returns private key bytes, sealed or not;
//! - it does not trust the API server's policy verdict: it re-checks what it can decode, and
//!   refuses what it cannot decode (chain transaction decoders arrive later);
//! - the `dev` attestation is not hardware-backed and says so; it proves only that the holder
//!   of the identity key answered a fresh nonce;
//! - it keeps no policy state (budgets, velocity): stateful rules stay in the server for now.

pub mod attestation;
pub mod boundary_check;
pub mod client;
pub mod enclave;
pub mod harden;
mod keyfiles;
pub mod keystore;
pub mod kms;
#[cfg(feature = "openbao")]
pub mod openbao;
#[cfg(feature = "pkcs11")]
pub mod pkcs11;
pub mod protocol;
mod recorded;
pub mod rsa_key;
pub(crate) mod serve;
pub mod signer;

pub use attestation::{verify_checkpoint, verify_dev_attestation, VerifyError};
pub use client::EnclaveClient;
pub use enclave::{run, EnclaveConfig, KmsChoice};
pub use kms::{KmsProvider, LocalKms};
#[cfg(feature = "openbao")]
pub use openbao::{OpenBaoConfig, OpenBaoKms};
#[cfg(feature = "pkcs11")]
pub use pkcs11::{run_pkcs11, Pkcs11Config, Pkcs11Custody, RawBenchKey, RawKey};
