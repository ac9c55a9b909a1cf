//! Solana wire format: a whole transaction (signatures + message) and a bare message, as the
//! enclave decodes what it is asked to sign. Any input: an error or a decoding, never a panic;
//! a transaction that splits joins back to the same bytes.
#![no_main]
use custos_wire::solana;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = solana::decode_for_boundary(data) {
        let _ = d.programs();
    }
    if let Ok(raw) = solana::split_transaction(data) {
        let joined = solana::join_transaction(&raw.signatures, &raw.message);
        assert_eq!(joined, data, "split then join must give back the bytes");
    }
    let _ = solana::decode_message(data);
});
