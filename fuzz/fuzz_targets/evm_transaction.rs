//! EIP-1559 transactions: unsigned (what the enclave signs) and signed (what the nodes get).
//! Any input: an error or a decoding, never a panic; a decoded transaction re-encodes to bytes
//! that decode to the same transaction.
#![no_main]
use custos_wire::evm::wire::{recover_sender, signed_tx_hash, UnsignedEvmTx};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = UnsignedEvmTx::decode(data) {
        let again = UnsignedEvmTx::decode(&tx.encode()).expect("a re-encoded transaction decodes");
        assert_eq!(again.encode(), tx.encode());
        let _ = tx.signing_hash();
        let _ = tx.with_nonce(tx.nonce().wrapping_add(1)).encode();
    }
    let _ = signed_tx_hash(data);
    let _ = recover_sender(data);
});
