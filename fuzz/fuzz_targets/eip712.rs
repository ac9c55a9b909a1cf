//! EIP-712 typed data as the API and the enclave receive it (JSON text): strict validation and
//! the digest. Never a panic, whatever the nesting, sizes or numbers.
#![no_main]
use custos_wire::evm::typed_data;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = typed_data::summarize(text);
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
            let _ = typed_data::strict::validate(&v);
        }
    }
});
