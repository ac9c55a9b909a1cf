//! The enclave protocol: a request frame body as the boundary decodes it from its socket, and a
//! response as the server decodes it. Never a panic; a decoded request re-encodes.
#![no_main]
use custos_custody::protocol;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = protocol::decode_request(data) {
        let _ = protocol::encode(&req).expect("a decoded request encodes");
    }
    let _ = protocol::decode_response(data);
});
