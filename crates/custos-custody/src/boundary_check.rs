//! The enclave's own judgement of a signing request. It does not trust the API server's policy
//! verdict: it signs only what it can decode itself, and re-checks the stateless policy rules it
//! understands against what it decoded.
//!
//! Off-chain messages and Solana transactions are decodable today (Solana with the chain crate's
//! feature-less wire decoder, so the boundary shares no code path with the server's simulator).
//! EVM transactions are refused until their decoder lands: never signed blind.
use custos_core::custody::SOLANA_OFFCHAIN_DOMAIN;
use custos_core::{CustodyError, KeyScheme, SignPayload, SignRequest};
use serde_json::Value;

/// Decides whether the enclave may sign `payload` under `policy` (the agent's policy document as
/// the server sent it). `Ok(())` means sign; anything else is the refusal to return.
pub fn check(policy: Option<&Value>, payload: &SignPayload) -> Result<(), CustodyError> {
    match payload {
        SignPayload::Message { .. } => action_enabled(policy, "sign_message"),
        SignPayload::SolanaTransaction { bytes } => solana::check(policy, bytes),
        SignPayload::EvmTransaction { .. } => Err(CustodyError::InvalidPayload(
            "no decoder for evm transactions yet".into(),
        )),
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

/// The whole check for one request: [`check`] plus the rules that depend on the key's scheme.
/// An Ed25519 message must carry the Solana off-chain domain, or a "message" could be a
/// serialized transaction and the boundary would sign it blind.
pub fn check_request(req: &SignRequest) -> Result<(), CustodyError> {
    check(req.policy.as_ref(), &req.payload)?;
    if let (KeyScheme::Ed25519, SignPayload::Message { bytes }) = (req.scheme, &req.payload) {
        if !bytes.starts_with(SOLANA_OFFCHAIN_DOMAIN) {
            return Err(CustodyError::InvalidPayload(
                "ed25519 messages must begin with the off-chain message domain".into(),
            ));
        }
    }
    Ok(())
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
    fn evm_transactions_are_refused_until_their_decoder_exists() {
        let p = SignPayload::EvmTransaction { bytes: vec![2, 0] };
        match check(None, &p).unwrap_err() {
            CustodyError::InvalidPayload(r) => assert!(r.contains("no decoder"), "{r}"),
            e => unreachable!("{e:?}"),
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
