//! AWS Nitro attestation documents (COSE_Sign1 over CBOR, an X.509 chain): everything the
//! verifier reads before and after the signature checks. Never a panic; nothing unsigned is
//! ever accepted (the fuzzer cannot forge the AWS root's signature).
#![no_main]
use custos_custody::attestation::nitro::{verify_nitro_attestation, NitroPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let policy = NitroPolicy {
        expected_pcrs: [(0u8, vec![0u8; 48])].into_iter().collect(),
        ..Default::default()
    };
    assert!(verify_nitro_attestation(data, &policy, 1_700_000_000_000).is_err());
});
