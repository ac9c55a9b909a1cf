//! EVM chains (Ethereum, Arbitrum, Base, any chain by id) over a node's JSON-RPC.
//!
//! - [`wire`]: EIP-1559 transactions built, encoded, decoded and signed-over; addresses.
//! - [`calldata`]: methods called (through multicalls), approvals granted, ERC-20 transfers.
//! - [`typed_data`]: EIP-712 digests and the permits they grant.
//! - [`rpc`]: the JSON-RPC client.
//! - [`trace`]: effects from the node's call trace.
//! - [`nonce`]: per-sender nonces, correct under concurrency and after a crash.
//! - [`uniswap`]: Uniswap V2 router quotes and swaps.
//! - [`adapter`]: [`EvmAdapter`], the [`custos_core::ChainAdapter`] for one chain id.
//!
//! `wire`, `calldata` and `typed_data` need no network: they live in `custos-wire`, which the
//! custody boundary links to decide for itself what it signs, and are re-exported here.
pub mod adapter;
pub mod nonce;
pub mod rpc;
pub mod trace;
pub mod uniswap;

pub use custos_wire::evm::{calldata, typed_data, wire};

pub use adapter::{EvmAdapter, EvmConfig, NATIVE_DECIMALS};
