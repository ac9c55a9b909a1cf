//! Chain adapters for Custos: each chain implements [`custos_core::ChainAdapter`] — build a
//! transaction for an intent, decode one, simulate it into effects, attach a signature, submit,
//! confirm, read balances.
//!
//! Chains are behind cargo features so the heavy SDKs are built only when wanted:
//! `solana` brings the Solana adapter, the embedded LiteSVM devnet, the JSON-RPC backend and the
//! devnet's JSON-RPC server; `evm` brings EVM chains over a node's JSON-RPC (alloy for encoding).
//! The network-free decoders live in `custos-wire` (shared with every signer) and are re-exported
//! here: [`solana_wire`], and `evm::{wire, calldata, typed_data}`.
//!
//! This crate holds no keys and never signs: signatures come from the custody boundary and are
//! only placed into their slots here. It makes no policy decisions either; it reports effects.
#![forbid(unsafe_code)]

/// The Solana wire decoder (in `custos-wire`, shared with the signers).
pub use custos_wire::solana as solana_wire;

#[cfg(feature = "solana")]
pub mod solana;

#[cfg(feature = "evm")]
pub mod evm;
