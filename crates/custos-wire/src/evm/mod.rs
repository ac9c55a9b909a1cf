//! EVM payloads, decoded without a node.
//!
//! - [`wire`]: EIP-1559 transactions built, encoded, decoded and signed-over; addresses.
//! - [`calldata`]: methods called (through multicalls), approvals granted, ERC-20 transfers.
//! - [`typed_data`]: EIP-712 digests and the permits they grant.
pub mod calldata;
pub mod typed_data;
pub mod wire;
