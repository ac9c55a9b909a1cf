//! Chain adapters for Custos: each chain implements [`custos_core::ChainAdapter`] — build a
//! transaction for an intent, decode one, simulate it into effects, attach a signature, submit,
//! confirm, read balances.
//!
//! Chains are behind cargo features so the heavy SDKs are built only when wanted:
//! `solana` brings the Solana adapter, the embedded LiteSVM devnet, the JSON-RPC backend and the
//! devnet's JSON-RPC server; `evm` brings EVM chains over a node's JSON-RPC (alloy for encoding). [`solana_wire`] is always built: it decodes Solana transactions with
//! no SDK and no chain access, for the custody boundary.
//!
//! This crate holds no keys and never signs: signatures come from the custody boundary and are
//! only placed into their slots here. It makes no policy decisions either; it reports effects.
#![forbid(unsafe_code)]

pub mod solana_wire;

#[cfg(feature = "solana")]
pub mod solana;

#[cfg(feature = "evm")]
pub mod evm;
