//! Solana: the adapter ([`adapter::SolanaAdapter`]) over one of two backends — the embedded
//! LiteSVM devnet ([`devnet::EmbeddedDevnet`]) or JSON-RPC to a cluster ([`rpc::RpcBackend`]) —
//! and a server for the embedded devnet ([`devnet_server`]): JSON-RPC over HTTP ([`rpc_server`])
//! and PubSub over WebSocket ([`pubsub`]).

pub mod adapter;
pub mod backend;
pub mod devnet;
mod devnet_faucet;
pub mod devnet_ledger;
mod devnet_nonce;
pub mod devnet_server;
mod devnet_simulate;
mod devnet_snapshot;
pub mod dlmm;
pub mod effects;
pub mod fees;
pub mod meteora;
pub mod nonce;
pub mod pubsub;
pub mod rpc;
mod rpc_encode;
mod rpc_history;
pub mod rpc_server;
pub mod token;
pub mod x402;

pub use adapter::{SolanaAdapter, SolanaConfig};
pub use backend::{EmbeddedBackend, SimulationOutcome, SolanaBackend, TxStatus};
pub use devnet::{DevnetError, EmbeddedDevnet, SendOptions};
pub use devnet_server::{
    router, serve_devnet, serve_devnet_with, spawn_server, spawn_server_with, DevnetServerConfig,
    RpcServerHandle,
};
pub use rpc::RpcBackend;

use custos_core::ChainError;
use solana_address::Address;
use std::str::FromStr;

/// Lamports per SOL.
pub const LAMPORTS_PER_SOL: u64 = 1_000_000_000;
/// SOL's decimals.
pub const SOL_DECIMALS: u8 = 9;

/// Parses a base58 address, naming `what` in the error.
pub fn parse_address(s: &str, what: &str) -> Result<Address, ChainError> {
    Address::from_str(s)
        .map_err(|_| ChainError::InvalidInput(format!("{what} is not a valid Solana address")))
}

/// Decodes a wire-format transaction into the SDK type.
pub fn deserialize_tx(
    bytes: &[u8],
) -> Result<solana_transaction::versioned::VersionedTransaction, ChainError> {
    // Check structure with the strict decoder first: bincode alone accepts trailing bytes.
    crate::solana_wire::split_transaction(bytes)
        .map_err(|e| ChainError::InvalidInput(e.to_string()))?;
    bincode::deserialize(bytes).map_err(|e| ChainError::InvalidInput(format!("transaction: {e}")))
}

/// Encodes a transaction in wire format.
pub fn serialize_tx(
    tx: &solana_transaction::versioned::VersionedTransaction,
) -> Result<Vec<u8>, ChainError> {
    bincode::serialize(tx).map_err(|e| ChainError::Internal(format!("serialize transaction: {e}")))
}
