//! The enclave's own judgement of a signing request. It does not trust the API server's policy
//! verdict: it signs only what it can decode itself, and re-checks the stateless policy rules it
//! understands against what it decoded.
//!
//! Off-chain messages, Solana transactions (with the chain crate's feature-less wire decoder) and,
//! with the `evm` feature, EIP-1559 transactions and EIP-712 typed data (with the chain crate's
//! network-free `evm::wire`, `calldata` and `typed_data`) are decoded here, so the boundary
//! shares no code path with the server's simulator. A bare hash is signed only when the policy
//! says so explicitly. Nothing is ever signed blind.
use custos_core::custody::SOLANA_OFFCHAIN_DOMAIN;
use custos_core::{CustodyError, KeyScheme, PolicyJson, SignPayload, SignRequest};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Decides whether the enclave may sign `payload` under `policy` (the agent's policy document as
/// the server sent it). `Ok(())` means sign; anything else is the refusal to return.
pub fn check(policy: Option<&Value>, payload: &SignPayload) -> Result<(), CustodyError> {
    match payload {
        SignPayload::Message { .. } => action_enabled(policy, "sign_message"),
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
    use custos_policy::{PolicyDocument, RecipientMode};

    fn refuse(rule: &str, msg: String) -> CustodyError {
        CustodyError::PolicyRefused(format!("{rule}: {msg}"))
    }

    pub(super) fn check(policy: Option<&Value>, bytes: &[u8]) -> Result<(), CustodyError> {
        let tx = decode_for_boundary(bytes).map_err(|e| {
            CustodyError::InvalidPayload(format!("cannot decode the solana transaction: {e}"))
        })?;
        // A transaction with no policy to hold it to is never signed.
        let doc = policy.ok_or_else(|| refuse("policy", "no policy supplied".into()))?;
        let p = PolicyDocument::from_json_over(doc, &PolicyDocument::default())
            .map_err(|e| refuse("policy", format!("unreadable policy document: {e}")))?;
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

/// A bare digest: refused unless the policy sets `actions.sign_raw_hash` to `true` (absence is
/// a refusal here, unlike the other toggles: nothing about a hash can be checked).
fn raw_hash_allowed(policy: Option<&Value>, hash: &[u8]) -> Result<(), CustodyError> {
    if hash.len() != 32 {
        return Err(CustodyError::InvalidPayload(
            "a raw hash is 32 bytes".into(),
        ));
    }
    let on = policy
        .and_then(|p| p.get("actions"))
        .and_then(|a| a.get("sign_raw_hash"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if on {
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
    use custos_policy::{PolicyDocument, RecipientMode};

    fn refuse(rule: &str, msg: String) -> CustodyError {
        CustodyError::PolicyRefused(format!("{rule}: {msg}"))
    }

    fn same(a: &str, b: &str) -> bool {
        a.eq_ignore_ascii_case(b)
    }

    fn listed(list: &[String], a: &str) -> bool {
        list.iter().any(|l| same(l, a))
    }

    fn policy_of(policy: Option<&Value>) -> Result<PolicyDocument, CustodyError> {
        let doc = policy.ok_or_else(|| refuse("policy", "no policy supplied".into()))?;
        PolicyDocument::from_json_over(doc, &PolicyDocument::default())
            .map_err(|e| refuse("policy", format!("unreadable policy document: {e}")))
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

    pub(super) fn check_tx(policy: Option<&Value>, bytes: &[u8]) -> Result<(), CustodyError> {
        let tx = UnsignedEvmTx::decode(bytes).map_err(|e| {
            CustodyError::InvalidPayload(format!("cannot decode the evm transaction: {e}"))
        })?;
        let p = policy_of(policy)?;
        chain_allowed(&p, tx.chain_id())?;
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
            recipient_allowed(&p, &checksum(&to))?;
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
                    recipient_allowed(&p, &checksum(&rcpt))?;
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
        approvals_allowed(&p, &approvals)
    }

    pub(super) fn check_typed_data(policy: Option<&Value>, json: &str) -> Result<(), CustodyError> {
        let s =
            typed_data::summarize(json).map_err(|e| CustodyError::InvalidPayload(e.to_string()))?;
        let p = policy_of(policy)?;
        if !p.actions.sign_message {
            return Err(refuse(
                "actions.sign_message",
                "message signing is off".into(),
            ));
        }
        if let Some(id) = s.chain_id {
            chain_allowed(&p, id)?;
        }
        approvals_allowed(&p, &s.permits)
    }
}

/// The whole check for one request: [`check`] plus the rules that depend on the key's scheme.
/// An Ed25519 message must carry the Solana off-chain domain, or a "message" could be a
/// serialized transaction and the boundary would sign it blind.
pub fn check_request(req: &SignRequest) -> Result<(), CustodyError> {
    let policy = req.policy.as_ref().map(parsed).transpose()?;
    check(policy.as_deref(), &req.payload)?;
    if let (KeyScheme::Ed25519, SignPayload::Message { bytes }) = (req.scheme, &req.payload) {
        if !bytes.starts_with(SOLANA_OFFCHAIN_DOMAIN) {
            return Err(CustodyError::InvalidPayload(
                "ed25519 messages must begin with the off-chain message domain".into(),
            ));
        }
    }
    Ok(())
}

/// Distinct policy documents whose parsed form is kept; a server sends one per agent and policy
/// version, so this holds every active document of a normal deployment. When it is full it is
/// emptied (a sender of endless distinct documents only costs itself the parsing).
const PARSED_POLICIES_MAX: usize = 1024;
/// Longest document text kept parsed (real policies are a few KiB); a longer one is parsed for
/// its request and not kept, so the memo holds at most 64 MiB whatever a sender does.
const PARSED_POLICY_MAX_BYTES: usize = 64 * 1024;

/// The parsed form of `policy`: a document arrives with every signing request, but it changes only
/// when an operator sets a new policy, so each distinct text is parsed once. Memoising a pure
/// function of the text cannot change any decision: the key is the whole text, compared in full.
fn parsed(policy: &PolicyJson) -> Result<Arc<Value>, CustodyError> {
    static PARSED: OnceLock<Mutex<HashMap<String, Arc<Value>>>> = OnceLock::new();
    let cache = PARSED.get_or_init(Default::default);
    let lock = || cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(v) = lock().get(policy.as_str()) {
        return Ok(v.clone());
    }
    let value = Arc::new(policy.to_value().map_err(|e| {
        CustodyError::InvalidPayload(format!("policy document is not valid JSON: {e}"))
    })?);
    if policy.as_str().len() > PARSED_POLICY_MAX_BYTES {
        return Ok(value);
    }
    let mut map = lock();
    if map.len() >= PARSED_POLICIES_MAX {
        map.clear();
    }
    map.insert(policy.as_str().to_owned(), value.clone());
    Ok(value)
}

/// `actions.{action}`: absent means allowed (the server's full policy engine owns defaults);
/// anything present other than `true` is a refusal, so a malformed toggle fails closed.
fn action_enabled(policy: Option<&Value>, action: &str) -> Result<(), CustodyError> {
    let Some(policy) = policy else { return Ok(()) };
    if !policy.is_object() {
        return Err(CustodyError::PolicyRefused(
            "policy document is not a JSON object".into(),
        ));
    }
    match policy.get("actions") {
        None => Ok(()),
        Some(Value::Object(actions)) => match actions.get(action) {
            None | Some(Value::Bool(true)) => Ok(()),
            Some(_) => Err(CustodyError::PolicyRefused(format!(
                "policy rule actions.{action} does not allow it"
            ))),
        },
        Some(_) => Err(CustodyError::PolicyRefused(
            "policy field actions is not an object".into(),
        )),
    }
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

    fn msg() -> SignPayload {
        SignPayload::Message {
            bytes: b"hi".to_vec(),
        }
    }

    #[test]
    fn messages_follow_the_toggle() {
        assert!(check(None, &msg()).is_ok());
        assert!(check(Some(&json!({})), &msg()).is_ok());
        assert!(check(Some(&json!({"actions": {"sign_message": true}})), &msg()).is_ok());
        let err = check(Some(&json!({"actions": {"sign_message": false}})), &msg()).unwrap_err();
        match err {
            CustodyError::PolicyRefused(r) => assert!(r.contains("actions.sign_message"), "{r}"),
            e => unreachable!("{e:?}"),
        }
        for bad in [
            json!({"actions": {"sign_message": "false"}}),
            json!({"actions": []}),
            json!([1]),
        ] {
            assert!(matches!(
                check(Some(&bad), &msg()),
                Err(CustodyError::PolicyRefused(_))
            ));
        }
    }

    #[test]
    fn undecodable_evm_transactions_are_refused() {
        let p = SignPayload::EvmTransaction { bytes: vec![2, 0] };
        match check(Some(&json!({})), &p).unwrap_err() {
            CustodyError::InvalidPayload(r) => assert!(r.contains("evm"), "{r}"),
            e => unreachable!("{e:?}"),
        }
    }

    #[test]
    fn raw_hashes_need_the_explicit_toggle() {
        let p = SignPayload::RawHash { hash: vec![1; 32] };
        assert!(matches!(
            check(None, &p),
            Err(CustodyError::PolicyRefused(_))
        ));
        assert!(matches!(
            check(Some(&json!({"actions": {"sign_message": true}})), &p),
            Err(CustodyError::PolicyRefused(_))
        ));
        assert!(check(Some(&json!({"actions": {"sign_raw_hash": true}})), &p).is_ok());
        let short = SignPayload::RawHash { hash: vec![1; 31] };
        assert!(check(Some(&json!({"actions": {"sign_raw_hash": true}})), &short).is_err());
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
            assert!(check(Some(&policy(json!({}))), &send).is_ok());
            let other_chain = json!({"chains": ["evm:1"], "actions": {"transfer": true}});
            assert!(check(Some(&other_chain), &send).is_err());
            let deny = policy(json!({"recipients": {"mode": "any", "deny": [BOB]}}));
            assert!(check(Some(&deny), &send).is_err());
            // An ERC-20 transfer to a denied address is refused too.
            let erc20 = tx(TOKEN, encode_transfer(bob, U256::from(9u64)), 0);
            assert!(check(Some(&policy(json!({}))), &erc20).is_ok());
            assert!(check(Some(&deny), &erc20).is_err());
            // approve(max) to an unlisted spender is refused; listed, it passes.
            let approve = tx(TOKEN, encode_approve(bob, U256::MAX), 0);
            assert!(check(Some(&policy(json!({}))), &approve).is_err());
            assert!(check(
                Some(&policy(json!({"spenders": {"allow": [BOB]}}))),
                &approve
            )
            .is_ok());
            // Any other method needs the contract or the method listed.
            let swap = tx(TOKEN, selector("swap()").to_vec(), 0);
            assert!(check(Some(&policy(json!({}))), &swap).is_err());
            let by_method = policy(
                json!({"programs": {"methods": {TOKEN: [format!("0x{}", hex::encode(selector("swap()")))]}}}),
            );
            assert!(check(Some(&by_method), &swap).is_ok());
            let other_method = tx(TOKEN, selector("mint()").to_vec(), 0);
            assert!(check(Some(&by_method), &other_method).is_err());
        }
    }
}

#[cfg(test)]
mod parsed_policy_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn a_remembered_document_decides_like_a_fresh_one() {
        let allow = PolicyJson::from(json!({"actions": {"sign_message": true}}));
        let deny = PolicyJson::from(json!({"actions": {"sign_message": false}}));
        for _ in 0..3 {
            let a = parsed(&allow).unwrap();
            let d = parsed(&deny).unwrap();
            assert_eq!(*a, allow.to_value().unwrap());
            assert!(action_enabled(Some(&a), "sign_message").is_ok());
            assert!(action_enabled(Some(&d), "sign_message").is_err());
        }
        // The same text from another request is the same entry.
        let again = PolicyJson::from(json!({"actions": {"sign_message": true}}));
        assert!(Arc::ptr_eq(
            &parsed(&allow).unwrap(),
            &parsed(&again).unwrap()
        ));
    }

    #[test]
    fn an_oversized_document_is_parsed_but_not_kept() {
        let big = PolicyJson::from(json!({
            "actions": {"sign_message": false},
            "programs": {"allow": vec!["x".repeat(100); 1000]},
        }));
        assert!(big.as_str().len() > PARSED_POLICY_MAX_BYTES);
        let first = parsed(&big).unwrap();
        let second = parsed(&big).unwrap();
        assert!(!Arc::ptr_eq(&first, &second), "kept an oversized document");
        assert!(action_enabled(Some(&second), "sign_message").is_err());
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
            policy: None,
        }
    }

    #[test]
    fn ed25519_messages_need_the_offchain_domain() {
        // A legacy Solana message starts with its header: 1 required signature, 0, 1.
        let tx_like = [1u8, 0, 1, 2, 0, 0];
        assert!(matches!(
            check_request(&req(KeyScheme::Ed25519, &tx_like)),
            Err(CustodyError::InvalidPayload(_))
        ));
        let ok = [SOLANA_OFFCHAIN_DOMAIN, b"\x00\x00\x02\x00hi"].concat();
        assert!(check_request(&req(KeyScheme::Ed25519, &ok)).is_ok());
        // EIP-191 prefixing happens inside the ECDSA signer, so raw bytes are fine there.
        assert!(check_request(&req(KeyScheme::Secp256k1Ecdsa, &tx_like)).is_ok());
    }
}

#[cfg(test)]
mod solana_tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
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
        assert!(check(Some(&base), &tx).is_ok());
        // No policy: never signed blind.
        assert!(matches!(
            check(None, &tx),
            Err(CustodyError::PolicyRefused(_))
        ));
        let refused = |p: serde_json::Value, rule: &str| match check(Some(&p), &tx) {
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
            check(Some(&base), &other_program),
            Err(CustodyError::PolicyRefused(m)) if m.starts_with("programs.allow")
        ));
        let listed = json!({"chains": ["solana"], "actions": {"transfer": true}, "programs": {"allow": [b58([9u8; 32])]}});
        assert!(check(Some(&listed), &other_program).is_ok());
        // Garbage is not a transaction.
        assert!(matches!(
            check(
                Some(&base),
                &SignPayload::SolanaTransaction {
                    bytes: vec![1, 2, 3]
                }
            ),
            Err(CustodyError::InvalidPayload(_))
        ));
    }
}
