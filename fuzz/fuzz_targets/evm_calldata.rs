//! Calldata: nested multicalls flattened, methods, approvals and ERC-20 transfers read from
//! them. The first 20 bytes are the called address, the rest the calldata. Never a panic.
#![no_main]
use custos_wire::evm::calldata;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 20 {
        return;
    }
    let mut to = [0u8; 20];
    to.copy_from_slice(&data[..20]);
    if let Ok(calls) = calldata::flatten(to.into(), &data[20..]) {
        let _ = calldata::methods(&calls);
        let _ = calldata::approvals(&calls);
        for c in &calls {
            let _ = calldata::erc20_transfer(c);
        }
    }
});
