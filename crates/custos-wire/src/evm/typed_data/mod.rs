//! EIP-712 typed data: the digest a signature covers, computed from the document itself, and
//! what the signature would let others do with the agent's tokens. A Permit (EIP-2612,
//! DAI-style) or Permit2 signature hands the spender the right to move them without another
//! transaction, so it is judged as an approval of that amount. An EIP-3009 authorization
//! (`TransferWithAuthorization`, `ReceiveWithAuthorization` — USDC's, and what x402 payments
//! sign) *is* a transfer: whoever holds the signature can submit it and the tokens move, so it is
//! judged as one — its value against the caps, its payee against the recipient rules.
//!
//! A document is first held to [`strict::validate`], so the fields the policy reads are the
//! fields the signature covers, and the digest is the one eth-account computes.
pub mod strict;

use super::calldata::{allowance, permit2_unlimited};
use super::wire::checksum;
use alloy_dyn_abi::TypedData;
use alloy_primitives::{Address, U256};
use custos_core::{ApprovalEffect, ApprovalKind, AssetRef, Atoms};
use serde_json::Value;

/// The largest typed-data document accepted.
pub const MAX_TYPED_DATA_BYTES: usize = 64 * 1024;

/// A typed-data document, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypedDataSummary {
    /// The EIP-712 signing hash: keccak256(0x1901 || domainSeparator || hashStruct(message)).
    pub digest: [u8; 32],
    /// `domain.chainId`, when present.
    pub chain_id: Option<u64>,
    /// `domain.verifyingContract`, when present (EIP-55).
    pub verifying_contract: Option<String>,
    /// The primary type.
    pub primary_type: String,
    /// Approvals the signature grants when it is a known permit type.
    pub permits: Vec<ApprovalEffect>,
    /// The transfer the signature authorizes when it is an EIP-3009 authorization.
    pub transfer: Option<AuthorizedTransfer>,
}

/// An EIP-3009 transfer authorization: once signed by `from`, anyone may submit it and `value`
/// base units of `token` (the domain's `verifyingContract`) move from `from` to `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizedTransfer {
    /// The token contract (EIP-55).
    pub token: String,
    /// Whose tokens move (EIP-55): the signer, or the authorization is void on chain.
    pub from: String,
    /// Who receives them (EIP-55).
    pub to: String,
    /// Base units.
    pub value: Atoms,
    /// Not valid before this Unix time (seconds), as signed.
    pub valid_after: U256,
    /// Not valid from this Unix time (seconds), as signed.
    pub valid_before: U256,
}

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("typed_data: {0}")]
pub struct TypedDataError(pub String);

fn u256_of(v: &Value) -> Option<U256> {
    strict::parse_uint(v)
}

fn address_of(v: &Value) -> Option<Address> {
    strict::check_address(v, "").ok()
}

fn field<'a>(obj: &'a Value, name: &str) -> Result<&'a Value, TypedDataError> {
    obj.get(name)
        .ok_or_else(|| TypedDataError(format!("message.{name} is missing")))
}

fn delegate(token: Address, spender: Address, amount: Option<Atoms>) -> ApprovalEffect {
    let t = checksum(&token);
    ApprovalEffect {
        kind: ApprovalKind::Delegate,
        account: t.clone(),
        asset: Some(AssetRef::Token(t)),
        grantee: Some(checksum(&spender)),
        amount,
    }
}

/// Parses the document, computes its digest and recognises permits.
pub fn summarize(json: &str) -> Result<TypedDataSummary, TypedDataError> {
    if json.len() > MAX_TYPED_DATA_BYTES {
        return Err(TypedDataError(format!(
            "longer than {MAX_TYPED_DATA_BYTES} bytes"
        )));
    }
    let raw: Value =
        serde_json::from_str(json).map_err(|e| TypedDataError(format!("not JSON: {e}")))?;
    strict::validate(&raw)?;
    let typed: TypedData = serde_json::from_value(raw.clone())
        .map_err(|e| TypedDataError(format!("not an EIP-712 document: {e}")))?;
    let digest = typed
        .eip712_signing_hash()
        .map_err(|e| TypedDataError(format!("cannot hash: {e}")))?;
    let chain_id = typed
        .domain
        .chain_id
        .map(|c| u64::try_from(c).map_err(|_| TypedDataError("domain.chainId is too large".into())))
        .transpose()?;
    let verifying = typed.domain.verifying_contract;
    let primary = typed.primary_type.clone();
    let msg = raw
        .get("message")
        .ok_or_else(|| TypedDataError("message is missing".into()))?;
    let bad = |f: &str| TypedDataError(format!("message.{f} is not valid"));
    let mut permits = Vec::new();
    match primary.as_str() {
        // EIP-2612 Permit(owner, spender, value, nonce, deadline), or DAI's
        // Permit(holder, spender, nonce, expiry, allowed).
        "Permit" => {
            let token = verifying
                .ok_or_else(|| TypedDataError("a Permit needs domain.verifyingContract".into()))?;
            let spender = address_of(field(msg, "spender")?).ok_or_else(|| bad("spender"))?;
            if let Some(allowed) = msg.get("allowed") {
                if allowed.as_bool().ok_or_else(|| bad("allowed"))? {
                    permits.push(delegate(token, spender, None));
                }
            } else {
                let value = u256_of(field(msg, "value")?).ok_or_else(|| bad("value"))?;
                if !value.is_zero() {
                    permits.push(delegate(token, spender, allowance(value, U256::MAX)));
                }
            }
        }
        // Permit2 PermitSingle { details: { token, amount, expiration, nonce }, spender, … }.
        "PermitSingle" | "PermitBatch" => {
            let spender = address_of(field(msg, "spender")?).ok_or_else(|| bad("spender"))?;
            let details = field(msg, "details")?;
            let list: Vec<&Value> = match details {
                Value::Array(a) => a.iter().collect(),
                one => vec![one],
            };
            for d in list {
                let token = address_of(field(d, "token")?).ok_or_else(|| bad("details.token"))?;
                let value = u256_of(field(d, "amount")?).ok_or_else(|| bad("details.amount"))?;
                if !value.is_zero() {
                    permits.push(delegate(
                        token,
                        spender,
                        allowance(value, permit2_unlimited()),
                    ));
                }
            }
        }
        // Permit2 PermitTransferFrom { permitted: { token, amount }, spender, nonce, deadline }.
        "PermitTransferFrom" | "PermitBatchTransferFrom" | "PermitWitnessTransferFrom" => {
            let spender = address_of(field(msg, "spender")?).ok_or_else(|| bad("spender"))?;
            let permitted = field(msg, "permitted")?;
            let list: Vec<&Value> = match permitted {
                Value::Array(a) => a.iter().collect(),
                one => vec![one],
            };
            for p in list {
                let token = address_of(field(p, "token")?).ok_or_else(|| bad("permitted.token"))?;
                let value = u256_of(field(p, "amount")?).ok_or_else(|| bad("permitted.amount"))?;
                if !value.is_zero() {
                    permits.push(delegate(token, spender, allowance(value, U256::MAX)));
                }
            }
        }
        _ => {}
    }
    // EIP-3009: TransferWithAuthorization / ReceiveWithAuthorization(address from, address to,
    // uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce). The receive form
    // only restricts who may submit it (the payee); the tokens move all the same.
    let transfer = match primary.as_str() {
        "TransferWithAuthorization" | "ReceiveWithAuthorization" => {
            let token = verifying.ok_or_else(|| {
                TypedDataError(format!("a {primary} needs domain.verifyingContract"))
            })?;
            let from = address_of(field(msg, "from")?).ok_or_else(|| bad("from"))?;
            let to = address_of(field(msg, "to")?).ok_or_else(|| bad("to"))?;
            let value = u256_of(field(msg, "value")?).ok_or_else(|| bad("value"))?;
            let valid_after =
                u256_of(field(msg, "validAfter")?).ok_or_else(|| bad("validAfter"))?;
            let valid_before =
                u256_of(field(msg, "validBefore")?).ok_or_else(|| bad("validBefore"))?;
            Some(AuthorizedTransfer {
                token: checksum(&token),
                from: checksum(&from),
                to: checksum(&to),
                value: Atoms::from_u256(value),
                valid_after,
                valid_before,
            })
        }
        _ => None,
    };
    Ok(TypedDataSummary {
        digest: digest.0,
        chain_id,
        verifying_contract: verifying.map(|a| checksum(&a)),
        primary_type: primary,
        permits,
        transfer,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The "Mail" example of EIP-712 itself, with the digest the EIP publishes.
    #[test]
    fn eip712_mail_example_matches_the_published_digest() {
        let doc = r#"{
          "types": {
            "EIP712Domain": [
              {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
              {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}
            ],
            "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
            "Mail": [{"name": "from", "type": "Person"}, {"name": "to", "type": "Person"}, {"name": "contents", "type": "string"}]
          },
          "primaryType": "Mail",
          "domain": {"name": "Ether Mail", "version": "1", "chainId": 1, "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},
          "message": {
            "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
            "to": {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
            "contents": "Hello, Bob!"
          }
        }"#;
        let s = summarize(doc).unwrap();
        assert_eq!(
            alloy_primitives::hex::encode(s.digest),
            "be609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"
        );
        assert_eq!(s.chain_id, Some(1));
        assert!(s.permits.is_empty());
    }

    fn permit(value: &str) -> String {
        format!(
            r#"{{"types": {{
              "EIP712Domain": [{{"name":"name","type":"string"}},{{"name":"version","type":"string"}},{{"name":"chainId","type":"uint256"}},{{"name":"verifyingContract","type":"address"}}],
              "Permit": [{{"name":"owner","type":"address"}},{{"name":"spender","type":"address"}},{{"name":"value","type":"uint256"}},{{"name":"nonce","type":"uint256"}},{{"name":"deadline","type":"uint256"}}]
            }},
            "primaryType": "Permit",
            "domain": {{"name":"Tok","version":"1","chainId":31337,"verifyingContract":"0x5FbDB2315678afecb367f032d93F642f64180aa3"}},
            "message": {{"owner":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8","spender":"0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC","value":"{value}","nonce":0,"deadline":"99999999999"}}}}"#
        )
    }

    #[test]
    fn permits_are_approvals() {
        let s = summarize(&permit("1000000")).unwrap();
        assert_eq!(s.permits.len(), 1);
        assert_eq!(s.permits[0].amount, Some(Atoms::from(1_000_000u64)));
        assert_eq!(
            s.permits[0].grantee.as_deref(),
            Some("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")
        );
        assert_eq!(
            s.permits[0].asset,
            Some(AssetRef::Token(
                "0x5FbDB2315678afecb367f032d93F642f64180aa3".into()
            ))
        );
        let max = U256::MAX.to_string();
        assert_eq!(summarize(&permit(&max)).unwrap().permits[0].amount, None);
        assert!(summarize(&permit("0")).unwrap().permits.is_empty());
        assert!(summarize("{}").is_err());
        assert!(summarize(&permit("nope")).is_err());
    }

    fn authorization(primary: &str, domain_contract: &str) -> String {
        format!(
            r#"{{"types": {{
              "EIP712Domain": [{{"name":"name","type":"string"}},{{"name":"version","type":"string"}},{{"name":"chainId","type":"uint256"}}{domain_contract_type}],
              "{primary}": [{{"name":"from","type":"address"}},{{"name":"to","type":"address"}},{{"name":"value","type":"uint256"}},{{"name":"validAfter","type":"uint256"}},{{"name":"validBefore","type":"uint256"}},{{"name":"nonce","type":"bytes32"}}]
            }},
            "primaryType": "{primary}",
            "domain": {{"name":"USD Coin","version":"2","chainId":31337{domain_contract}}},
            "message": {{"from":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8","to":"0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC","value":"2500000","validAfter":"0","validBefore":"1796611984","nonce":"0x{nonce}"}}}}"#,
            domain_contract_type = if domain_contract.is_empty() {
                String::new()
            } else {
                r#",{"name":"verifyingContract","type":"address"}"#.to_owned()
            },
            domain_contract = if domain_contract.is_empty() {
                String::new()
            } else {
                format!(r#","verifyingContract":"{domain_contract}""#)
            },
            nonce = "ab".repeat(32),
        )
    }

    #[test]
    fn eip3009_authorizations_are_transfers_of_the_domain_token() {
        let token = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
        for primary in ["TransferWithAuthorization", "ReceiveWithAuthorization"] {
            let s = summarize(&authorization(primary, token)).unwrap();
            let t = s.transfer.unwrap();
            assert_eq!(t.token, token);
            assert_eq!(t.from, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
            assert_eq!(t.to, "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC");
            assert_eq!(t.value, Atoms::from(2_500_000u64));
            assert_eq!(t.valid_before, U256::from(1_796_611_984u64));
            assert!(s.permits.is_empty());
        }
        // Without the token contract there is nothing to value: refused, not waved through.
        let e = summarize(&authorization("TransferWithAuthorization", "")).unwrap_err();
        assert!(e.0.contains("verifyingContract"), "{e}");
        // Other documents authorize no transfer.
        assert!(summarize(&permit("1")).unwrap().transfer.is_none());
    }
}
