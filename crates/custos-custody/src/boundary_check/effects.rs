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
    Action, ApprovalEffect, ApprovalKind, AssetDelta, AssetId, Atoms, Chain, Delegation,
    DelegationAmount, DelegationKind, Effects, Intent,
};
use std::collections::BTreeMap;

/// How the boundary names the chain's native coin in the effects it derives (per-asset caps
/// call it `native` too; no symbol is needed).
pub(super) const NATIVE: &str = "native";

/// Outflows summed per asset, as balance changes (decimals are not needed without prices).
fn outflows(out: BTreeMap<AssetId, u128>) -> Vec<AssetDelta> {
    out.into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(asset, n)| AssetDelta {
            asset,
            decimals: 0,
            delta_atoms: -i128::try_from(n).unwrap_or(i128::MAX),
        })
        .collect()
}

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

/// An EIP-3009 authorization (`TransferWithAuthorization` / `ReceiveWithAuthorization`) on
/// `chain`, judged as the transfer it is: `value` of the token out, to its payee. A value past
/// `u128` saturates, so no per-token cap can be slipped under by overflow.
#[cfg(feature = "evm")]
pub(super) fn authorized_transfer(
    t: &custos_wire::evm::typed_data::AuthorizedTransfer,
    chain: Chain,
) -> (Intent, Effects) {
    let mut intent = bare_intent(Action::Transfer, chain);
    let token = AssetId::new(t.token.clone());
    intent.asset = Some(token.clone());
    let effects = Effects {
        changes: outflows(BTreeMap::from([(
            token,
            t.value.to_u128().unwrap_or(u128::MAX),
        )])),
        recipients: vec![t.to.clone()],
        native: Some(AssetId::new(NATIVE)),
        ..Effects::default()
    };
    (intent, effects)
}

/// A Solana transaction: the programs it invokes, native SOL sent to other wallets, tokens sent
/// (by mint, where the instruction names it), and delegations or authority changes it grants.
/// The third value is true when a token transfer does not name its mint (SPL `Transfer` rather
/// than `TransferChecked`), so no per-token cap could hold it.
pub(super) fn solana(
    tx: &custos_wire::solana::DecodedSolanaTx,
    action: Action,
) -> (Intent, Effects, bool) {
    let mut recipients: Vec<String> = Vec::new();
    let mut out: BTreeMap<AssetId, u128> = BTreeMap::new();
    let mut unnamed_token = false;
    let own_nonces = own_nonce_accounts(tx);
    for t in &tx.transfers {
        if t.native {
            // SOL moved between the transaction's own signers goes to no one else; nor does
            // SOL a signer deposits into a nonce account this transaction makes it the
            // authority of (it alone can withdraw it).
            if tx.signers.contains(&t.to)
                || own_nonces
                    .iter()
                    .any(|(account, authority)| *account == t.to && *authority == t.from)
            {
                continue;
            }
            if !recipients.contains(&t.to) {
                recipients.push(t.to.clone());
            }
            let n = out.entry(AssetId::new(NATIVE)).or_default();
            *n = n.saturating_add(t.amount);
        } else if let Some(mint) = &t.mint {
            let n = out.entry(AssetId::new(mint.clone())).or_default();
            *n = n.saturating_add(t.amount);
        } else {
            unnamed_token = true;
        }
    }
    let effects = Effects {
        changes: outflows(out),
        native: Some(AssetId::new(NATIVE)),
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
    (bare_intent(action, Chain::Solana), effects, unnamed_token)
}

/// `(nonce account, authority)` of each System `InitializeNonceAccount` in `tx` whose authority
/// signs the transaction.
fn own_nonce_accounts(tx: &custos_wire::solana::DecodedSolanaTx) -> Vec<(String, String)> {
    tx.instructions
        .iter()
        .filter(|ix| ix.program_id == custos_wire::solana::SYSTEM_PROGRAM)
        .filter(|ix| ix.data.get(..4) == Some(&[6, 0, 0, 0][..]))
        .filter_map(|ix| {
            let authority = bs58::encode(ix.data.get(4..36)?).into_string();
            let account = match ix.accounts.first()? {
                custos_wire::solana::AccountRef::Key(k) => k.clone(),
                custos_wire::solana::AccountRef::Lookup { .. } => return None,
            };
            tx.signers
                .contains(&authority)
                .then_some((account, authority))
        })
        .collect()
}

/// An EIP-1559 transaction: the contracts and methods its calldata calls (through multicalls
/// too), ETH or ERC-20 `transfer`s to other addresses, and the approvals it grants. A transfer
/// Custos builds calls one token contract; that contract is the intent's asset, as the server
/// declares it.
#[cfg(feature = "evm")]
pub(super) fn evm_tx(
    tx: &custos_wire::evm::wire::UnsignedEvmTx,
    action: Action,
) -> Result<(Intent, Effects), custos_core::CustodyError> {
    use custos_wire::evm::calldata;
    use custos_wire::evm::wire::checksum;
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
    let invalid =
        |e: calldata::CalldataError| custos_core::CustodyError::InvalidPayload(e.to_string());
    let as_u128 = |v: custos_wire::evm::wire::U256| u128::try_from(v).unwrap_or(u128::MAX);
    let mut out: BTreeMap<AssetId, u128> = BTreeMap::new();
    if !tx.value().is_zero() {
        out.insert(AssetId::new(NATIVE), as_u128(tx.value()));
    }
    let mut effects = Effects {
        native: Some(AssetId::new(NATIVE)),
        ..Effects::default()
    };
    if tx.input().is_empty() {
        if !tx.value().is_zero() {
            effects.recipients.push(checksum(&to));
        }
        effects.changes = outflows(out);
        return Ok((intent, effects));
    }
    let calls = calldata::flatten(to, tx.input()).map_err(invalid)?;
    for c in &calls {
        let contract = checksum(&c.to);
        if !effects.programs.contains(&contract) {
            effects.programs.push(contract);
        }
        if let Some((token, rcpt, amount)) = calldata::erc20_transfer(c) {
            let n = out.entry(AssetId::new(checksum(&token))).or_default();
            *n = n.saturating_add(as_u128(amount));
            let rcpt = checksum(&rcpt);
            if !effects.recipients.contains(&rcpt) {
                effects.recipients.push(rcpt);
            }
            if action == Action::Transfer && calls.len() == 1 {
                intent.asset = Some(custos_core::AssetId::new(checksum(&token)));
            }
        }
    }
    effects.changes = outflows(out);
    effects.methods = calldata::methods(&calls);
    effects.delegations = delegations(&calldata::approvals(&calls).map_err(invalid)?, None);
    Ok((intent, effects))
}
