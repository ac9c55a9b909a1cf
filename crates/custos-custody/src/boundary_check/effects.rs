//! What a payload would do, derived by the boundary itself from the bytes it is asked to sign,
//! in the policy engine's own terms (`Intent`, `Effects`), so the boundary judges it with
//! `custos_policy::check_stateless` — the same rules the server's `evaluate` applies to its
//! simulation, minus what needs prices or the server's database.
//!
//! What the bytes cannot say is left out rather than guessed: token-transfer recipients on
//! Solana (the wire names token accounts, not their owners), inner calls a contract makes on
//! its own, amounts (the boundary values nothing). Each derived effect is a subset of what the
//! server's simulation reports for the same transaction, so an honest request the server allows
//! passes here too.
use custos_core::{
    Action, ApprovalEffect, ApprovalKind, Atoms, Chain, CustodyError, Delegation, DelegationAmount,
    DelegationKind, Effects, Intent,
};

/// An intent that declares nothing but the action and the chain: the boundary judges effects,
/// not declarations.
pub(super) fn bare_intent(action: Action, chain: Chain) -> Intent {
    Intent {
        action,
        chain,
        recipient: None,
        asset: None,
        amount: custos_core::Decimal::ZERO,
        declared_usd: Default::default(),
    }
}

/// Control granted, as the policy sees it (the same mapping the server applies to simulated
/// approvals). `unlimited_at`: the chain's "unlimited" allowance value, if any.
pub(super) fn delegations(
    approvals: &[ApprovalEffect],
    unlimited_at: Option<Atoms>,
) -> Vec<Delegation> {
    approvals
        .iter()
        .map(|a| Delegation {
            kind: match a.kind {
                ApprovalKind::Delegate => DelegationKind::Spend,
                ApprovalKind::Operator => DelegationKind::Operator,
                _ => DelegationKind::Authority,
            },
            // A grant to no one (a revocation) has no spender; an empty one is never listed,
            // so an unreadable grantee is refused rather than waved through.
            spender: a.grantee.clone().unwrap_or_default(),
            asset: a
                .asset
                .as_ref()
                .map(|x| custos_core::AssetId::new(x.to_string())),
            decimals: None,
            amount: match a.amount {
                Some(n) if unlimited_at.is_none_or(|u| n < u) => DelegationAmount::Limited(n),
                _ => DelegationAmount::Unlimited,
            },
        })
        .collect()
}

/// A Solana transaction: the programs it invokes, native SOL sent to other wallets, and
/// delegations or authority changes it grants.
pub(super) fn solana(
    tx: &custos_chains::solana_wire::DecodedSolanaTx,
    action: Action,
) -> (Intent, Effects) {
    let mut recipients: Vec<String> = Vec::new();
    for t in tx.transfers.iter().filter(|t| t.native) {
        // SOL moved between the transaction's own signers goes to no one else.
        if !tx.signers.contains(&t.to) && !recipients.contains(&t.to) {
            recipients.push(t.to.clone());
        }
    }
    let effects = Effects {
        programs: tx.programs(),
        recipients,
        delegations: delegations(
            &tx.approvals
                .iter()
                .filter(|a| a.grantee.is_some())
                .cloned()
                .collect::<Vec<_>>(),
            Some(Atoms::from(u64::MAX)),
        ),
        ..Effects::default()
    };
    (bare_intent(action, Chain::Solana), effects)
}

/// An EIP-1559 transaction: the contracts and methods its calldata calls (through multicalls
/// too), ETH or ERC-20 `transfer`s to other addresses, and the approvals it grants. A transfer
/// Custos builds calls one token contract; that contract is the intent's asset, as the server
/// declares it.
#[cfg(feature = "evm")]
pub(super) fn evm_tx(
    tx: &custos_chains::evm::wire::UnsignedEvmTx,
    action: Action,
) -> Result<(Intent, Effects), CustodyError> {
    use custos_chains::evm::calldata;
    use custos_chains::evm::wire::checksum;
    let chain = Chain::Evm(tx.chain_id());
    let mut intent = bare_intent(action, chain);
    let Some(to) = tx.to() else {
        // Nothing to call and no one to pay: a contract deployment, which no policy lists.
        let effects = Effects {
            programs: vec!["(contract deployment)".into()],
            ..Effects::default()
        };
        return Ok((intent, effects));
    };
    let invalid = |e: calldata::CalldataError| CustodyError::InvalidPayload(e.to_string());
    let mut effects = Effects::default();
    if tx.input().is_empty() {
        if !tx.value().is_zero() {
            effects.recipients.push(checksum(&to));
        }
        return Ok((intent, effects));
    }
    let calls = calldata::flatten(to, tx.input()).map_err(invalid)?;
    for c in &calls {
        let contract = checksum(&c.to);
        if !effects.programs.contains(&contract) {
            effects.programs.push(contract);
        }
        if let Some((token, rcpt, _)) = calldata::erc20_transfer(c) {
            let rcpt = checksum(&rcpt);
            if !effects.recipients.contains(&rcpt) {
                effects.recipients.push(rcpt);
            }
            if action == Action::Transfer && calls.len() == 1 {
                intent.asset = Some(custos_core::AssetId::new(checksum(&token)));
            }
        }
    }
    effects.methods = calldata::methods(&calls);
    effects.delegations = delegations(&calldata::approvals(&calls).map_err(invalid)?, None);
    Ok((intent, effects))
}
