//! The enclave's own judgement of a signing request. It does not trust the API server's policy
//! verdict, nor a policy the server sends: it signs only what it can decode itself, derives what
//! the payload would do ([`effects`]) and judges that with the policy engine's own rules
//! (`custos_policy::check_stateless`) under the owner-signed policy its book holds for the agent
//! (`custos_signer::PolicyBook`) — the same code the server runs, not a re-implementation.
//!
//! Off-chain messages, Solana transactions (with the chain crate's feature-less wire decoder) and,
//! with the `evm` feature, EIP-1559 transactions and EIP-712 typed data (with the chain crate's
//! network-free `evm::wire`, `calldata` and `typed_data`) are decoded here, so the boundary
//! shares no code path with the server's simulator. A bare hash is signed only when the policy
//! says so explicitly. Nothing is ever signed blind.
mod effects;

use custos_core::custody::SOLANA_OFFCHAIN_DOMAIN;
use custos_core::{
    Action, Chain, CustodyError, Effects, Intent, KeyScheme, SignPayload, SignRequest,
};
use custos_policy::PolicyDocument;

/// Decides whether the enclave may sign `payload` under `policy` (the owner-signed document the
/// enclave holds for the agent). `action` is what the server says the transaction is for; it
/// picks the action toggle, and a transaction without one is judged as `sign` (the agent's own
/// transaction). `Ok(())` means sign; anything else is the refusal to return.
pub fn check(
    policy: &PolicyDocument,
    action: Option<Action>,
    payload: &SignPayload,
) -> Result<(), CustodyError> {
    let action = action.unwrap_or(Action::Sign);
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
        SignPayload::SolanaTransaction { bytes } => {
            let tx = custos_wire::solana::decode_for_boundary(bytes).map_err(|e| {
                CustodyError::InvalidPayload(format!("cannot decode the solana transaction: {e}"))
            })?;
            let (intent, effects, unnamed_token) = effects::solana(&tx, action);
            let token_caps = policy.limits.per_tx_atoms.keys().any(|k| {
                matches!(custos_policy::document::parse_cap_key(k),
                    Ok((Chain::Solana, asset)) if asset != effects::NATIVE)
            });
            if unnamed_token && token_caps {
                return Err(CustodyError::PolicyRefused(format!(
                    "{}: a token transfer that does not name its mint (SPL Transfer, not TransferChecked) cannot be held to the per-token caps",
                    custos_policy::rules::LIMITS_PER_TX_ATOMS
                )));
            }
            judge(policy, &intent, &effects)
        }
        #[cfg(feature = "evm")]
        SignPayload::EvmTransaction { bytes } => {
            let tx = custos_wire::evm::wire::UnsignedEvmTx::decode(bytes).map_err(|e| {
                CustodyError::InvalidPayload(format!("cannot decode the evm transaction: {e}"))
            })?;
            let (intent, effects) = effects::evm_tx(&tx, action)?;
            judge(policy, &intent, &effects)
        }
        #[cfg(feature = "evm")]
        SignPayload::Eip712 { typed_data } => check_typed_data(policy, typed_data),
        #[cfg(not(feature = "evm"))]
        SignPayload::EvmTransaction { .. } | SignPayload::Eip712 { .. } => {
            Err(CustodyError::InvalidPayload(
                "no decoder for evm payloads in this build (the `evm` feature is off)".into(),
            ))
        }
        SignPayload::RawHash { hash } => raw_hash_allowed(policy, hash),
        SignPayload::KalshiRequest { request } => {
            custos_policy::prediction::check_request(policy, request).map_err(refusal)
        }
        _ => Err(CustodyError::InvalidPayload(
            "no decoder for this payload kind".into(),
        )),
    }
}

/// The engine's stateless rules on what the boundary derived; a refusal names every rule that
/// denied, first one first (`"rule: message; rule: message"`).
fn judge(policy: &PolicyDocument, intent: &Intent, effects: &Effects) -> Result<(), CustodyError> {
    custos_policy::check_stateless(policy, intent, effects).map_err(refusal)
}

/// A refusal naming every rule that denied, first one first (`"rule: message; rule: message"`).
fn refusal(reasons: Vec<custos_policy::Reason>) -> CustodyError {
    CustodyError::PolicyRefused(
        reasons
            .iter()
            .map(|r| format!("{}: {}", r.rule, r.message))
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// EIP-712 typed data: the digest is computed here from the document; a domain without
/// `chainId` needs `typed_data.allow_missing_chain_id` (such a signature is valid on every chain,
/// so at least one EVM chain must be allowed); permits are spending allowances to their spender;
/// an EIP-3009 authorization is judged as the token transfer it is (the `transfer` toggle, the
/// recipient rules, the per-token caps), not as a message.
#[cfg(feature = "evm")]
fn check_typed_data(policy: &PolicyDocument, json: &str) -> Result<(), CustodyError> {
    let s = custos_wire::evm::typed_data::summarize(json)
        .map_err(|e| CustodyError::InvalidPayload(e.to_string()))?;
    let chain = match s.chain_id {
        Some(id) => Chain::Evm(id),
        None if policy.typed_data.allow_missing_chain_id => policy
            .chains
            .iter()
            .copied()
            .find(|c| matches!(c, Chain::Evm(_)))
            .ok_or_else(|| {
                CustodyError::PolicyRefused(
                    "chains: a signature without domain.chainId is valid on every EVM chain, and the policy allows none".into(),
                )
            })?,
        None => {
            return Err(CustodyError::PolicyRefused(format!(
                "{}: the document's domain has no chainId, so its signature would be valid on every chain",
                custos_policy::rules::TYPED_DATA_MISSING_CHAIN_ID
            )))
        }
    };
    if let Some(t) = &s.transfer {
        let (intent, effects) = effects::authorized_transfer(t, chain);
        return judge(policy, &intent, &effects);
    }
    let effects = Effects {
        delegations: effects::delegations(&s.permits, None),
        ..Effects::default()
    };
    judge(
        policy,
        &effects::bare_intent(Action::SignMessage, chain),
        &effects,
    )
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
            custos_wire::evm::wire::UnsignedEvmTx::decode(bytes)
                .map(|t| t.signing_hash())
                .map_err(|e| CustodyError::InvalidPayload(e.to_string()))
        }
        #[cfg(feature = "evm")]
        SignPayload::Eip712 { typed_data } => custos_wire::evm::typed_data::summarize(typed_data)
            .map(|s| s.digest)
            .map_err(|e| CustodyError::InvalidPayload(e.to_string())),
        SignPayload::RawHash { hash } => hash
            .as_slice()
            .try_into()
            .map_err(|_| CustodyError::InvalidPayload("a raw hash is 32 bytes".into())),
        _ => Err(CustodyError::InvalidPayload("not an evm payload".into())),
    }
}

/// The whole check for one request: [`check`] plus the rules that depend on the key's scheme.
/// An Ed25519 message must carry the Solana off-chain domain, or a "message" could be a
/// serialized transaction and the boundary would sign it blind.
pub fn check_request(policy: &PolicyDocument, req: &SignRequest) -> Result<(), CustodyError> {
    check(policy, req.action, &req.payload)?;
    // The RSA key signs Kalshi requests and nothing else; Kalshi requests need the RSA key.
    let kalshi = matches!(req.payload, SignPayload::KalshiRequest { .. });
    if kalshi != (req.scheme == KeyScheme::RsaPssSha256) {
        return Err(CustodyError::InvalidPayload(
            "kalshi requests, and only they, are signed with the rsa_pss_sha256 key".into(),
        ));
    }
    if let (KeyScheme::Ed25519, SignPayload::Message { bytes }) = (req.scheme, &req.payload) {
        if !bytes.starts_with(SOLANA_OFFCHAIN_DOMAIN) {
            return Err(CustodyError::InvalidPayload(
                "ed25519 messages must begin with the off-chain message domain".into(),
            ));
        }
    }
    Ok(())
}

/// The text a Kalshi request's signature covers (`timestamp + METHOD + path`), built here from
/// the request the boundary judged — refused unless its timestamp is within
/// [`custos_core::prediction::KALSHI_MAX_SKEW_MS`] of the boundary's clock (`now_ms`): a
/// signature is for one request sent now, not one kept for later.
pub(crate) fn kalshi_text(
    request: &custos_core::KalshiRequest,
    now_ms: i64,
) -> Result<Vec<u8>, CustodyError> {
    use custos_core::prediction::KALSHI_MAX_SKEW_MS;
    let skew = request.timestamp_ms.abs_diff(now_ms);
    if skew > KALSHI_MAX_SKEW_MS.unsigned_abs() {
        return Err(CustodyError::InvalidPayload(format!(
            "kalshi request timestamp is {skew} ms from the boundary's clock (at most {KALSHI_MAX_SKEW_MS} ms): a signature is for one request sent now"
        )));
    }
    Ok(request.message().into_bytes())
}

/// The message bytes of a Solana transaction that `address` must sign. Refused unless the key is
/// Ed25519 and the address is one of the transaction's required signers: signing a transaction
/// the key is not a signer of would be meaningless at best.
pub(crate) fn solana_message_for(
    scheme: KeyScheme,
    address: &str,
    tx: &[u8],
) -> Result<Vec<u8>, CustodyError> {
    use custos_wire::solana::{decode_for_boundary, split_transaction};
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

    pub(super) const T: Option<custos_core::Action> = Some(custos_core::Action::Transfer);

    fn msg() -> SignPayload {
        SignPayload::Message {
            bytes: b"hi".to_vec(),
        }
    }

    #[test]
    fn messages_follow_the_toggle() {
        assert!(check(&doc(&json!({})), None, &msg()).is_ok());
        assert!(check(
            &doc(&json!({"actions": {"sign_message": true}})),
            None,
            &msg()
        )
        .is_ok());
        let err = check(
            &doc(&json!({"actions": {"sign_message": false}})),
            None,
            &msg(),
        )
        .unwrap_err();
        match err {
            CustodyError::PolicyRefused(r) => assert!(r.contains("actions.sign_message"), "{r}"),
            e => unreachable!("{e:?}"),
        }
    }

    #[test]
    fn undecodable_evm_transactions_are_refused() {
        let p = SignPayload::EvmTransaction { bytes: vec![2, 0] };
        match check(&doc(&json!({})), None, &p).unwrap_err() {
            CustodyError::InvalidPayload(r) => assert!(r.contains("evm"), "{r}"),
            e => unreachable!("{e:?}"),
        }
    }

    #[test]
    fn raw_hashes_need_the_explicit_toggle() {
        let p = SignPayload::RawHash { hash: vec![1; 32] };
        assert!(matches!(
            check(&doc(&json!({})), None, &p),
            Err(CustodyError::PolicyRefused(_))
        ));
        assert!(matches!(
            check(&doc(&json!({"actions": {"sign_message": true}})), None, &p),
            Err(CustodyError::PolicyRefused(_))
        ));
        assert!(check(&doc(&json!({"actions": {"sign_raw_hash": true}})), None, &p).is_ok());
        let short = SignPayload::RawHash { hash: vec![1; 31] };
        assert!(check(
            &doc(&json!({"actions": {"sign_raw_hash": true}})),
            None,
            &short
        )
        .is_err());
    }

    #[cfg(feature = "evm")]
    mod evm_rules {
        use super::*;
        use custos_wire::evm::calldata::{encode_approve, encode_transfer};

        /// A method's 4-byte selector: keccak-256 of its signature.
        fn selector(signature: &str) -> [u8; 4] {
            use sha3::Digest as _;
            let h = sha3::Keccak256::digest(signature.as_bytes());
            [h[0], h[1], h[2], h[3]]
        }
        use custos_wire::evm::wire::{parse_address, Eip1559Fields, UnsignedEvmTx, U256};

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
            assert!(check(&doc(&policy(json!({}))), T, &send).is_ok());
            let other_chain = json!({"chains": ["evm:1"], "actions": {"transfer": true}});
            assert!(check(&doc(&other_chain), T, &send).is_err());
            let deny = policy(json!({"recipients": {"mode": "any", "deny": [BOB]}}));
            assert!(check(&doc(&deny), T, &send).is_err());
            // An ERC-20 transfer to a denied address is refused too.
            let erc20 = tx(TOKEN, encode_transfer(bob, U256::from(9u64)), 0);
            assert!(check(&doc(&policy(json!({}))), T, &erc20).is_ok());
            assert!(check(&doc(&deny), T, &erc20).is_err());
            // approve(max) to an unlisted spender is refused; listed, it passes.
            let approve = tx(TOKEN, encode_approve(bob, U256::MAX), 0);
            assert!(check(&doc(&policy(json!({}))), T, &approve).is_err());
            // Under the engine's rule the token contract must be allowed too.
            let both =
                policy(json!({"spenders": {"allow": [BOB]}, "programs": {"allow": [TOKEN]}}));
            assert!(check(&doc(&both), T, &approve).is_ok());
            let spender_only = policy(json!({"spenders": {"allow": [BOB]}}));
            assert!(matches!(
                check(&doc(&spender_only), T, &approve),
                Err(CustodyError::PolicyRefused(m)) if m.starts_with("programs.allow")
            ));
            // Any other method needs the contract or the method listed.
            let swap = tx(TOKEN, selector("swap()").to_vec(), 0);
            assert!(check(&doc(&policy(json!({}))), T, &swap).is_err());
            let by_method = policy(
                json!({"programs": {"methods": {TOKEN: [format!("0x{}", hex::encode(selector("swap()")))]}}}),
            );
            assert!(check(&doc(&by_method), T, &swap).is_ok());
            let other_method = tx(TOKEN, selector("mint()").to_vec(), 0);
            assert!(check(&doc(&by_method), T, &other_method).is_err());
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
            action: None,
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
    use super::tests::{doc, T};
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
        assert!(check(&doc(&base), T, &tx).is_ok());
        let refused = |p: serde_json::Value, rule: &str| match check(&doc(&p), T, &tx) {
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
            check(&doc(&base), T, &other_program),
            Err(CustodyError::PolicyRefused(m)) if m.starts_with("programs.allow")
        ));
        let listed = json!({"chains": ["solana"], "actions": {"transfer": true}, "programs": {"allow": [b58([9u8; 32])]}});
        assert!(check(&doc(&listed), T, &other_program).is_ok());
        // Garbage is not a transaction.
        assert!(matches!(
            check(
                &doc(&base),
                T,
                &SignPayload::SolanaTransaction {
                    bytes: vec![1, 2, 3]
                }
            ),
            Err(CustodyError::InvalidPayload(_))
        ));
    }
}

#[cfg(test)]
mod nonce_tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::tests::{doc, T};
    use super::*;
    use serde_json::json;

    /// A legacy transaction laid out by hand: `payer` creates a nonce account with seed
    /// `custos-nonce-0` holding `lamports` and, if `authority` is given, initialises it with that
    /// authority (accounts: payer, nonce, System, RecentBlockhashes sysvar, Rent sysvar).
    fn nonce_setup(payer: [u8; 32], authority: Option<[u8; 32]>, lamports: u64) -> SignPayload {
        let nonce = [5u8; 32];
        let mut msg = vec![1u8, 0, 3, 5];
        for k in [payer, nonce, [0u8; 32], [6u8; 32], [7u8; 32]] {
            msg.extend_from_slice(&k);
        }
        msg.extend_from_slice(&[9u8; 32]);
        let seed = b"custos-nonce-0";
        let mut create = 3u32.to_le_bytes().to_vec();
        create.extend_from_slice(&payer);
        create.extend_from_slice(&(seed.len() as u64).to_le_bytes());
        create.extend_from_slice(seed);
        create.extend_from_slice(&lamports.to_le_bytes());
        create.extend_from_slice(&80u64.to_le_bytes());
        create.extend_from_slice(&[0u8; 32]);
        let mut ixs: Vec<(Vec<u8>, Vec<u8>)> = vec![(vec![0, 1, 0], create)];
        if let Some(a) = authority {
            let mut init = 6u32.to_le_bytes().to_vec();
            init.extend_from_slice(&a);
            ixs.push((vec![1, 3, 4], init));
        }
        msg.push(ixs.len() as u8);
        for (accounts, data) in ixs {
            msg.push(2);
            msg.push(accounts.len() as u8);
            msg.extend_from_slice(&accounts);
            msg.push(data.len() as u8);
            msg.extend_from_slice(&data);
        }
        let mut tx = vec![1u8];
        tx.extend_from_slice(&[0u8; 64]);
        tx.extend_from_slice(&msg);
        SignPayload::SolanaTransaction { bytes: tx }
    }

    /// SOL deposited into a nonce account the payer is made the authority of stays the payer's:
    /// no recipient, even under an allowlist. Made someone else's, or not made a nonce account
    /// at all, it is a transfer to that account.
    #[test]
    fn a_nonce_account_of_ones_own_is_no_recipient() {
        let payer = [1u8; 32];
        let allowlist = json!({"chains": ["solana"], "actions": {"transfer": true},
            "recipients": {"mode": "allowlist", "allow": [bs58::encode([3u8; 32]).into_string()]}});
        let p = doc(&allowlist);
        assert!(check(&p, T, &nonce_setup(payer, Some(payer), 1_447_680)).is_ok());
        for other in [
            nonce_setup(payer, Some([2u8; 32]), 1_447_680),
            nonce_setup(payer, None, 1),
        ] {
            match check(&p, T, &other) {
                Err(CustodyError::PolicyRefused(m)) => {
                    assert!(m.starts_with("recipients.allow"), "{m}")
                }
                r => panic!("expected a refusal, got {r:?}"),
            }
        }
    }
}

#[cfg(all(test, feature = "evm"))]
mod eip3009_tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::tests::doc;
    use super::*;
    use serde_json::json;

    const TOKEN: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    const PAYEE: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";

    fn authorization(value: &str) -> SignPayload {
        let doc = json!({
            "types": {
                "EIP712Domain": [{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],
                "TransferWithAuthorization": [{"name":"from","type":"address"},{"name":"to","type":"address"},{"name":"value","type":"uint256"},{"name":"validAfter","type":"uint256"},{"name":"validBefore","type":"uint256"},{"name":"nonce","type":"bytes32"}]
            },
            "primaryType": "TransferWithAuthorization",
            "domain": {"name": "USD Coin", "version": "2", "chainId": 31337, "verifyingContract": TOKEN},
            "message": {"from": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "to": PAYEE, "value": value, "validAfter": "0", "validBefore": "1796611984", "nonce": format!("0x{}", "cd".repeat(32))}
        });
        SignPayload::Eip712 {
            typed_data: doc.to_string(),
        }
    }

    /// Message signing on, transfers on, any recipient, one EVM chain.
    fn base() -> serde_json::Value {
        json!({"chains": ["evm:31337"], "actions": {"transfer": true, "sign_message": true}})
    }

    fn refused(policy: serde_json::Value, value: &str, rule: &str) {
        // The server's claim about the action is ignored: the document says what it is.
        for claimed in [None, Some(Action::SignMessage)] {
            match check(&doc(&policy), claimed, &authorization(value)) {
                Err(CustodyError::PolicyRefused(m)) => assert!(m.contains(rule), "{m}"),
                other => panic!("expected {rule}, got {other:?}"),
            }
        }
    }

    #[test]
    fn an_eip3009_authorization_is_judged_as_the_transfer_it_is() {
        assert!(check(&doc(&base()), None, &authorization("1000000")).is_ok());
        // Message signing alone does not cover moving tokens.
        let mut p = base();
        p["actions"]["transfer"] = json!(false);
        refused(p, "1000000", "actions.transfer");
        // The payee is held to the recipient rules.
        let mut p = base();
        p["recipients"] = json!({"mode": "allowlist", "allow": [TOKEN]});
        refused(p, "1000000", "recipients.allow");
        let mut p = base();
        p["recipients"] = json!({"mode": "any", "deny": [PAYEE]});
        refused(p, "1000000", "recipients.deny");
        // And the value to the per-token cap, even past u128.
        let mut p = base();
        p["limits"] = json!({"per_tx_usd": "25", "daily_usd": "100", "max_tx_per_hour": 20,
            "per_tx_atoms": {format!("evm:31337:{TOKEN}"): "1000000"}});
        assert!(check(&doc(&p), None, &authorization("1000000")).is_ok());
        refused(p.clone(), "1000001", "limits.per_tx_atoms");
        refused(p, &alloy_max(), "limits.per_tx_atoms");
    }

    fn alloy_max() -> String {
        "115792089237316195423570985008687907853269984665640564039457584007913129639935".into()
    }
}
