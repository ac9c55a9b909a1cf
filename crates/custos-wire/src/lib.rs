//! The decoders every party that judges a transaction runs on the same bytes: the coordinator
//! (`custos serve`, through the chain adapters) and every signer (the enclave now; cosigners and
//! facilities next). They need no network and no runtime, so a signer links them without the
//! chain adapters' RPC clients.
//!
//! - [`solana`]: Solana legacy and v0 transactions, decoded without an SDK.
//! - `evm` (feature `evm`): EIP-1559 transactions ([`evm::wire`]), calldata — methods called
//!   through multicalls, approvals granted, ERC-20 transfers ([`evm::calldata`]) — and EIP-712
//!   digests and permits ([`evm::typed_data`]).
#![forbid(unsafe_code)]

pub mod solana;

#[cfg(feature = "evm")]
pub mod evm;
