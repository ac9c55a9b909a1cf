//! Policy documents (what an operator PUTs) and owner-signed policy envelopes (what a signer
//! verifies), from JSON text. Never a panic; a document that parses serializes and parses back
//! to itself.
#![no_main]
use custos_policy::PolicyDocument;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        let base = PolicyDocument::default();
        if let Ok(doc) = PolicyDocument::from_json_over(&v, &base) {
            let back = serde_json::to_value(&doc).expect("a document serializes");
            let again = PolicyDocument::from_json_over(&back, &base).expect("and parses back");
            assert_eq!(again, doc);
            let _ = custos_policy::loosenings(&base, &doc);
            let _ = custos_policy::changes(&base, &doc);
        }
    }
    let json = custos_core::PolicyJson::from(
        serde_json::from_str::<serde_json::Value>(text).unwrap_or(serde_json::Value::Null),
    );
    let _ = custos_signer::PolicyEnvelope::from_json(&json);
});
