//! The enclave's own judgement of a signing request. It does not trust the API server's policy
//! verdict, nor a policy the server sends: it signs only what it can decode itself, and checks
//! what it decoded against the owner-signed policy its own book holds for the agent
//! (`custos_signer::PolicyBook`).
//!
//! Off-chain messages, Solana transactions (with the chain crate's feature-less wire decoder) and,
//! with the `evm` feature, EIP-1559 transactions and EIP-712 typed data (with the chain crate's
//! network-free `evm::wire`, `calldata` and `typed_data`) are decoded here, so the boundary
//! shares no code path with the server's simulator. A bare hash is signed only when the policy
//! says so explicitly. Nothing is ever signed blind.
use custos_core::custody::SOLANA_OFFCHAIN_DOMAIN;
use custos_core::{CustodyError, KeyScheme, SignPayload, SignRequest};
use custos_policy::PolicyDocument;

/// Decides whether the enclave may sign `payload` under `policy` (the owner-signed document the
/// enclave holds for the agent). `Ok(())` means sign; anything else is the refusal to return.
pub fn check(policy: &PolicyDocument, payload: &SignPayload) -> Result<(), CustodyError> {
    match payload {
        SignPayload::Message { .. } => {
            if policy.actions.sign_message {
                Ok(())
            } else {
                Err(CustodyError::PolicyRefused(
                    "actions.sign_message: message signing is off".into(),
                ))
            }
        }
        SignPayload::SolanaTransaction { bytes } => solana::check(policy, bytes),
        #[cfg(feature = "evm")]
        SignPayload::EvmTransaction { bytes } => evm::check_tx(policy, bytes),
        #[cfg(feature = "evm")]
        SignPayload::Eip712 { typed_data } => evm::check_typed_data(policy, typed_data),
        #[cfg(not(feature = "evm"))]
        SignPayload::EvmTransaction { .. } | SignPayload::Eip712 { .. } => {
            Err(CustodyError::InvalidPayload(
                "no decoder for evm payloads in this build (the `evm` feature is off)".into(),
            ))
        }
        SignPayload::RawHash { hash } => raw_hash_allowed(policy, hash),
        _ => Err(CustodyError::InvalidPayload(
            "no decoder for this payload kind".into(),
        )),
    }
}

/// Solana transactions, decoded inside the boundary and held to the policy's stateless rules.
///
/// What it checks alone: the chain and action toggles, that every program invoked is a
/// well-known system/token program or on `programs.allow`, that no native SOL transfer goes to a
/// denied (or, in allowlist mode, an unlisted) address, and that no delegation or authority change
/// is granted to a spender outside `spenders.allow`. What it cannot check alone: USD values
/// (prices), rolling caps (state in the server's database), and token-transfer recipients, which
/// the wire names only by token account (the server checks owners through simulation).
mod solana {
    use super::*;
    use custos_chains::solana_wire::decode_for_boundary;
    use custos_policy::rules::SOLANA_BUILTIN_PROGRAMS;
    use custos_policy::RecipientMode;

    fn refuse(rule: &str, msg: String) -> CustodyError {
        CustodyError::PolicyRefused(format!("{rule}: {msg}"))
    }

    pub(super) fn check(p: &PolicyDocument, bytes: &[u8]) -> Result<(), CustodyError> {
        let tx = decode_for_boundary(bytes).map_err(|e| {
            CustodyError::InvalidPayload(format!("cannot decode the solana transaction: {e}"))
        })?;
        if !p.chains.contains(&custos_core::Chain::Solana) {
            return Err(refuse("chains", "solana is not an allowed chain".into()));
        }
        if !(p.actions.transfer || p.actions.sign) {
            return Err(refuse(
                "actions.transfer",
                "neither transfer nor sign is enabled".into(),
            ));
        }
        for program in tx.programs() {
            let builtin = SOLANA_BUILTIN_PROGRAMS.contains(&program.as_str());
            if !builtin && !p.programs.allow.contains(&program) {
                return Err(refuse(
                    "programs.allow",
                    format!("program {program} is not allowed"),
                ));
            }
        }
        for t in tx.transfers.iter().filter(|t| t.native) {
            if p.recipients.deny.contains(&t.to) {
                return Err(refuse("recipients.deny", format!("{} is denied", t.to)));
            }
            let own = tx.signers.contains(&t.to);
            if p.recipients.mode == RecipientMode::Allowlist
                && !own
                && !p.recipients.allow.contains(&t.to)
            {
                return Err(refuse(
                    "recipients.allow",
                    format!("{} is not on the allowlist", t.to),
                ));
            }
        }
        for a in &tx.approvals {
            let spender = a.grantee.clone().unwrap_or_default();
            if !p.spenders.allow.contains(&spender) {
                return Err(refuse(
                    "simulation.unexpected_approval",
                    format!("grants {:?} to {spender}", a.kind),
                ));
            }
        }
        Ok(())
    }
}

/// A bare digest: refused unless the policy sets `actions.sign_raw_hash` to `true` (off by
/// default: nothing about a hash can be checked).
fn raw_hash_allowed(policy: &PolicyDocument, hash: &[u8]) -> Result<(), CustodyError> {
    if hash.len() != 32 {
        return Err(CustodyError::InvalidPayload(
            "a raw hash is 32 bytes".into(),
        ));
    }
    if policy.actions.sign_raw_hash {
        Ok(())
    } else {
        Err(CustodyError::PolicyRefused(
            "actions.sign_raw_hash: raw-hash signing is off".into(),
        ))
    }
}

/// The 32-byte digest an EVM payload's signature covers, computed here from what was decoded:
/// the EIP-1559 signing hash, the EIP-712 signing hash, or the raw hash itself. Only the
/// secp256k1 ECDSA key signs these.
pub(crate) fn evm_digest_for(
    scheme: KeyScheme,
    payload: &SignPayload,
) -> Result<[u8; 32], CustodyError> {
    if scheme != KeyScheme::Secp256k1Ecdsa {
        return Err(CustodyError::InvalidPayload(
            "evm payloads are signed with the secp256k1 ecdsa key".into(),
        ));
    }
    match payload {
        #[cfg(feature = "evm")]
        SignPayload::EvmTransaction { bytes } => {
            custos_chains::evm::wire::UnsignedEvmTx::decode(bytes)
                .map(|t| t.signing_hash())
                .map_err(|e| CustodyError::InvalidPayload(e.to_string()))
        }
        #[cfg(feature = "evm")]
        SignPayload::Eip712 { typed_data } => custos_chains::evm::typed_data::summarize(typed_data)
            .map(|s| s.digest)
            .map_err(|e| CustodyError::InvalidPayload(e.to_string())),
        SignPayload::RawHash { hash } => hash
            .as_slice()
            .try_into()
            .map_err(|_| CustodyError::InvalidPayload("a raw hash is 32 bytes".into())),
        _ => Err(CustodyError::InvalidPayload("not an evm payload".into())),
    }
}

/// EVM transactions and typed data, decoded inside the boundary and held to the policy's
/// stateless rules: the chain id is an allowed chain; the action is enabled; every contract
/// method called (inside multicalls too) is allowed by `programs.allow` / `programs.methods`,
/// except an ERC-20 `transfer` or an approval, which are judged by their recipient or spender;
/// no native or ERC-20 transfer goes to a denied (or, in allowlist mode, unlisted) address; no
/// approval or permit names a spender outside `spenders.allow`. Prices, caps and the effects
/// of inner calls need the server's simulation and database.
#[cfg(feature = "evm")]
mod evm {
    use super::*;
    use custos_chains::evm::calldata::{
        self, APPROVE, INCREASE_ALLOWANCE, PERMIT2_APPROVE, TRANSFER,
    };
    use custos_chains::evm::typed_data;
    use custos_chains::evm::wire::{checksum, UnsignedEvmTx};
    use custos_core::{ApprovalEffect, Chain};
    use custos_policy::RecipientMode;

    fn refuse(rule: &str, msg: String) -> CustodyError {
        CustodyError::PolicyRefused(format!("{rule}: {msg}"))
    }

    fn same(a: &str, b: &str) -> bool {
        a.eq_ignore_ascii_case(b)
    }

    fn listed(list: &[String], a: &str) -> bool {
        list.iter().any(|l| same(l, a))
    }

    fn chain_allowed(p: &PolicyDocument, id: u64) -> Result<(), CustodyError> {
        if p.chains.contains(&Chain::Evm(id)) {
            Ok(())
        } else {
            Err(refuse(
                "chains",
                format!("evm:{id} is not an allowed chain"),
            ))
        }
    }

    fn recipient_allowed(p: &PolicyDocument, to: &str) -> Result<(), CustodyError> {
        if listed(&p.recipients.deny, to) {
            return Err(refuse("recipients.deny", format!("{to} is denied")));
        }
        if p.recipients.mode == RecipientMode::Allowlist && !listed(&p.recipients.allow, to) {
            return Err(refuse(
                "recipients.allow",
                format!("{to} is not on the allowlist"),
            ));
        }
        Ok(())
    }

    fn approvals_allowed(p: &PolicyDocument, list: &[ApprovalEffect]) -> Result<(), CustodyError> {
        for a in list {
            let spender = a.grantee.clone().unwrap_or_default();
            if !listed(&p.spenders.allow, &spender) {
                return Err(refuse(
                    "simulation.unexpected_approval",
                    format!("grants {:?} to {spender}", a.kind),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn check_tx(p: &PolicyDocument, bytes: &[u8]) -> Result<(), CustodyError> {
        let tx = UnsignedEvmTx::decode(bytes).map_err(|e| {
            CustodyError::InvalidPayload(format!("cannot decode the evm transaction: {e}"))
        })?;
        chain_allowed(p, tx.chain_id())?;
        if !(p.actions.transfer || p.actions.sign || p.actions.trade) {
            return Err(refuse(
                "actions.transfer",
                "none of transfer, trade or sign is enabled".into(),
            ));
        }
        let Some(to) = tx.to() else {
            return Err(refuse(
                "programs.allow",
                "contract deployment is not allowed".into(),
            ));
        };
        if !tx.value().is_zero() && tx.input().is_empty() {
            recipient_allowed(p, &checksum(&to))?;
        }
        let calls = if tx.input().is_empty() {
            Vec::new()
        } else {
            calldata::flatten(to, tx.input())
                .map_err(|e| CustodyError::InvalidPayload(e.to_string()))?
        };
        for c in &calls {
            let contract = checksum(&c.to);
            if listed(&p.programs.allow, &contract) {
                continue;
            }
            let sel = c.selector();
            let method_listed = p.programs.methods.iter().any(|(k, sels)| {
                same(k, &contract)
                    && sel.is_some_and(|s| {
                        let hex = format!("0x{}", hex::encode(s));
                        sels.iter().any(|x| same(x, &hex))
                    })
            });
            if method_listed {
                continue;
            }
            match sel {
                Some(TRANSFER) => {
                    let (_, rcpt, _) = calldata::erc20_transfer(c).ok_or_else(|| {
                        CustodyError::InvalidPayload("malformed ERC-20 transfer calldata".into())
                    })?;
                    recipient_allowed(p, &checksum(&rcpt))?;
                }
                // Judged by their spender below.
                Some(APPROVE | INCREASE_ALLOWANCE | PERMIT2_APPROVE) => {}
                _ => {
                    return Err(refuse(
                        "programs.allow",
                        format!(
                            "method {} of {contract} is not allowed",
                            sel.map(|s| format!("0x{}", hex::encode(s)))
                                .unwrap_or_else(|| "(none)".into())
                        ),
                    ))
                }
            }
        }
        let approvals =
            calldata::approvals(&calls).map_err(|e| CustodyError::InvalidPayload(e.to_string()))?;
        approvals_allowed(p, &approvals)
    }

    pub(super) fn check_typed_data(p: &PolicyDocument, json: &str) -> Result<(), CustodyError> {
        let s =
            typed_data::summarize(json).map_err(|e| CustodyError::InvalidPayload(e.to_string()))?;
        if !p.actions.sign_message {
            return Err(refuse(
                "actions.sign_message",
                "message signing is off".into(),
            ));
        }
        if let Some(id) = s.chain_id {
            chain_allowed(p, id)?;
        }
        approvals_allowed(p, &s.permits)
    }
}

/// The whole check for one request: [`check`] plus the rules that depend on the key's scheme.
/// An Ed25519 message must carry the Solana off-chain domain, or a "message" could be a
/// serialized transaction and the boundary would sign it blind.
pub fn check_request(policy: &PolicyDocument, req: &SignRequest) -> Result<(), CustodyError> {
    check(policy, &req.payload)?;
    if let (KeyScheme::Ed25519, SignPayload::Message { bytes }) = (req.scheme, &req.payload) {
        if !bytes.starts_with(SOLANA_OFFCHAIN_DOMAIN) {
            return Err(CustodyError::InvalidPayload(
                "ed25519 messages must begin with the off-chain message domain".into(),
            ));
        }
    }
    Ok(())
}

/// The message bytes of a Solana transaction that `address` must sign. Refused unless the key is
/// Ed25519 and the address is one of the transaction's required signers: signing a transaction
/// the key is not a signer of would be meaningless at best.
pub(crate) fn solana_message_for(
    scheme: KeyScheme,
    address: &str,
    tx: &[u8],
) -> Result<Vec<u8>, CustodyError> {
    use custos_chains::solana_wire::{decode_for_boundary, split_transaction};
    if scheme != KeyScheme::Ed25519 {
        return Err(CustodyError::InvalidPayload(
            "solana transactions are signed with the ed25519 key".into(),
        ));
    }
    let decoded = decode_for_boundary(tx).map_err(|e| {
        CustodyError::InvalidPayload(format!("cannot decode the solana transaction: {e}"))
    })?;
    if !decoded.signers.iter().any(|s| s == address) {
        return Err(CustodyError::InvalidPayload(
            "the agent's key is not a required signer of this transaction".into(),
        ));
    }
    let raw = split_transaction(tx).map_err(|e| {
        CustodyError::InvalidPayload(format!("cannot split the solana transaction: {e}"))
    })?;
    Ok(raw.message)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use serde_json::json;

    /// A complete document: `json` over the built-in defaults.
    pub(super) fn doc(json: &serde_json::Value) -> PolicyDocument {
        PolicyDocument::from_json_over(json, &PolicyDocument::default()).unwrap()
    }

    fn msg() -> SignPayload {
        SignPayload::Message {
            bytes: b"hi".to_vec(),
        }
    }

    #[test]
    fn messages_follow_the_toggle() {
        assert!(check(&doc(&json!({})), &msg()).is_ok());
        assert!(check(&doc(&json!({"actions": {"sign_message": true}})), &msg()).is_ok());
        let err = check(&doc(&json!({"actions": {"sign_message": false}})), &msg()).unwrap_err();
        match err {
            CustodyError::PolicyRefused(r) => assert!(r.contains("actions.sign_message"), "{r}"),
            e => unreachable!("{e:?}"),
        }
    }

    #[test]
    fn undecodable_evm_transactions_are_refused() {
        let p = SignPayload::EvmTransaction { bytes: vec![2, 0] };
        match check(&doc(&json!({})), &p).unwrap_err() {
            CustodyError::InvalidPayload(r) => assert!(r.contains("evm"), "{r}"),
            e => unreachable!("{e:?}"),
        }
    }

    #[test]
    fn raw_hashes_need_the_explicit_toggle() {
        let p = SignPayload::RawHash { hash: vec![1; 32] };
        assert!(matches!(
            check(&doc(&json!({})), &p),
            Err(CustodyError::PolicyRefused(_))
        ));
        assert!(matches!(
            check(&doc(&json!({"actions": {"sign_message": true}})), &p),
            Err(CustodyError::PolicyRefused(_))
        ));
        assert!(check(&doc(&json!({"actions": {"sign_raw_hash": true}})), &p).is_ok());
        let short = SignPayload::RawHash { hash: vec![1; 31] };
        assert!(check(&doc(&json!({"actions": {"sign_raw_hash": true}})), &short).is_err());
    }

    #[cfg(feature = "evm")]
    mod evm_rules {
        use super::*;
        use custos_chains::evm::calldata::{encode_approve, encode_transfer};
        use custos_chains::evm::uniswap::selector;
        use custos_chains::evm::wire::{parse_address, Eip1559Fields, UnsignedEvmTx, U256};

        const TOKEN: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
        const BOB: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";

        fn tx(to: &str, data: Vec<u8>, value: u64) -> SignPayload {
            let t = UnsignedEvmTx::new(Eip1559Fields {
                chain_id: 31337,
                nonce: 0,
                gas_limit: 100_000,
                max_fee_per_gas: 2,
                max_priority_fee_per_gas: 1,
                to: Some(parse_address(to, "to").unwrap()),
                value: U256::from(value),
                input: data,
            });
            SignPayload::EvmTransaction { bytes: t.encode() }
        }

        fn policy(extra: serde_json::Value) -> serde_json::Value {
            let mut p =
                json!({"chains": ["evm:31337"], "actions": {"transfer": true, "sign": true}});
            for (k, v) in extra.as_object().unwrap() {
                p[k] = v.clone();
            }
            p
        }

        #[test]
        fn chain_recipients_methods_and_approvals_are_checked() {
            let bob = parse_address(BOB, "b").unwrap();
            let send = tx(BOB, vec![], 5);
            assert!(check(&doc(&policy(json!({}))), &send).is_ok());
            let other_chain = json!({"chains": ["evm:1"], "actions": {"transfer": true}});
            assert!(check(&doc(&other_chain), &send).is_err());
            let deny = policy(json!({"recipients": {"mode": "any", "deny": [BOB]}}));
            assert!(check(&doc(&deny), &send).is_err());
            // An ERC-20 transfer to a denied address is refused too.
            let erc20 = tx(TOKEN, encode_transfer(bob, U256::from(9u64)), 0);
            assert!(check(&doc(&policy(json!({}))), &erc20).is_ok());
            assert!(check(&doc(&deny), &erc20).is_err());
            // approve(max) to an unlisted spender is refused; listed, it passes.
            let approve = tx(TOKEN, encode_approve(bob, U256::MAX), 0);
            assert!(check(&doc(&policy(json!({}))), &approve).is_err());
            assert!(check(
                &doc(&policy(json!({"spenders": {"allow": [BOB]}}))),
                &approve
            )
            .is_ok());
            // Any other method needs the contract or the method listed.
            let swap = tx(TOKEN, selector("swap()").to_vec(), 0);
            assert!(check(&doc(&policy(json!({}))), &swap).is_err());
            let by_method = policy(
                json!({"programs": {"methods": {TOKEN: [format!("0x{}", hex::encode(selector("swap()")))]}}}),
            );
            assert!(check(&doc(&by_method), &swap).is_ok());
            let other_method = tx(TOKEN, selector("mint()").to_vec(), 0);
            assert!(check(&doc(&by_method), &other_method).is_err());
        }
    }
}

#[cfg(test)]
mod scheme_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use custos_core::AgentId;

    fn req(scheme: KeyScheme, bytes: &[u8]) -> SignRequest {
        SignRequest {
            agent_id: AgentId::new_random(),
            scheme,
            payload: SignPayload::Message {
                bytes: bytes.to_vec(),
            },
        }
    }

    #[test]
    fn ed25519_messages_need_the_offchain_domain() {
        // A legacy Solana message starts with its header: 1 required signature, 0, 1.
        let tx_like = [1u8, 0, 1, 2, 0, 0];
        assert!(matches!(
            check_request(
                &PolicyDocument::default(),
                &req(KeyScheme::Ed25519, &tx_like)
            ),
            Err(CustodyError::InvalidPayload(_))
        ));
        let ok = [SOLANA_OFFCHAIN_DOMAIN, b"\x00\x00\x02\x00hi"].concat();
        assert!(check_request(&PolicyDocument::default(), &req(KeyScheme::Ed25519, &ok)).is_ok());
        // EIP-191 prefixing happens inside the ECDSA signer, so raw bytes are fine there.
        assert!(check_request(
            &PolicyDocument::default(),
            &req(KeyScheme::Secp256k1Ecdsa, &tx_like)
        )
        .is_ok());
    }
}

#[cfg(test)]
mod solana_tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::tests::doc;
    use super::*;
    use serde_json::json;

    const SYSTEM: [u8; 32] = [0u8; 32];

    /// A legacy transaction: `payer` sends `lamports` to `to` with the System program, signature
    /// zeroed, laid out by hand per the Solana wire format.
    fn transfer_tx(payer: [u8; 32], to: [u8; 32], lamports: u64, program: [u8; 32]) -> Vec<u8> {
        let mut msg = vec![1u8, 0, 1, 3];
        msg.extend_from_slice(&payer);
        msg.extend_from_slice(&to);
        msg.extend_from_slice(&program);
        msg.extend_from_slice(&[7u8; 32]);
        msg.extend_from_slice(&[1, 2, 2, 0, 1, 12]);
        msg.extend_from_slice(&2u32.to_le_bytes());
        msg.extend_from_slice(&lamports.to_le_bytes());
        let mut tx = vec![1u8];
        tx.extend_from_slice(&[0u8; 64]);
        tx.extend_from_slice(&msg);
        tx
    }

    fn b58(k: [u8; 32]) -> String {
        bs58::encode(k).into_string()
    }

    #[test]
    fn solana_transactions_are_judged_by_what_they_decode_to() {
        let payer = [1u8; 32];
        let to = [2u8; 32];
        let tx = SignPayload::SolanaTransaction {
            bytes: transfer_tx(payer, to, 5_000_000, SYSTEM),
        };
        let base = json!({"chains": ["solana"], "actions": {"transfer": true}});
        assert!(check(&doc(&base), &tx).is_ok());
        let refused = |p: serde_json::Value, rule: &str| match check(&doc(&p), &tx) {
            Err(CustodyError::PolicyRefused(m)) => assert!(m.starts_with(rule), "{m}"),
            other => panic!("expected {rule}, got {other:?}"),
        };
        refused(
            json!({"chains": ["solana"], "actions": {"transfer": true}, "recipients": {"mode": "any", "deny": [b58(to)]}}),
            "recipients.deny",
        );
        refused(
            json!({"chains": ["solana"], "actions": {"transfer": true}, "recipients": {"mode": "allowlist", "allow": [b58([3u8; 32])]}}),
            "recipients.allow",
        );
        refused(json!({"chains": ["evm:1"]}), "chains");
        refused(
            json!({"chains": ["solana"], "actions": {"transfer": false, "sign": false}}),
            "actions.transfer",
        );
        // The same bytes aimed at an unknown program are refused unless that program is listed.
        let other_program = SignPayload::SolanaTransaction {
            bytes: transfer_tx(payer, to, 1, [9u8; 32]),
        };
        assert!(matches!(
            check(&doc(&base), &other_program),
            Err(CustodyError::PolicyRefused(m)) if m.starts_with("programs.allow")
        ));
        let listed = json!({"chains": ["solana"], "actions": {"transfer": true}, "programs": {"allow": [b58([9u8; 32])]}});
        assert!(check(&doc(&listed), &other_program).is_ok());
        // Garbage is not a transaction.
        assert!(matches!(
            check(
                &doc(&base),
                &SignPayload::SolanaTransaction {
                    bytes: vec![1, 2, 3]
                }
            ),
            Err(CustodyError::InvalidPayload(_))
        ));
    }
}
