//! The coordinator and the signer agree on every rule the signer can check. For random
//! policies and random Solana transfers (built here as wire bytes), the boundary's decision on
//! the bytes — decoded by the boundary, judged by `check_stateless` — is compared with the policy
//! engine's full evaluation as the server runs it on the effects its simulation reports for the
//! same transfer, restricted to the rules a signer can check (action, chain, recipients,
//! programs, approvals, per-asset caps in base units). Neither may refuse what the other allows on those rules: a boundary
//! that refused more would break honest requests; one that refused less would be a hole.
#![allow(clippy::unwrap_used)]
use custos_core::{
    Action, AssetDelta, AssetId, Chain, CustodyError, Decimal, Effects, Intent, NetworkCost,
    SignPayload, Usage, UsdValue,
};
use custos_custody::boundary_check::check;
use custos_policy::{evaluate, Decision, PolicyDocument, RecipientMode};
use proptest::prelude::*;

const SYSTEM: [u8; 32] = [0u8; 32];
const OTHER_PROGRAM: [u8; 32] = [9u8; 32];
const PAYER: [u8; 32] = [1u8; 32];
/// Recipients a transfer and a policy choose from.
const POOL: [[u8; 32]; 4] = [[2u8; 32], [3u8; 32], [4u8; 32], [5u8; 32]];
const FEE: u128 = 5_000;

fn b58(k: [u8; 32]) -> String {
    bs58::encode(k).into_string()
}

/// A legacy transaction: `PAYER` sends `lamports` to `to` (System program), and, with
/// `extra`, an instruction to another program; signature zeroed.
fn transfer_tx(to: [u8; 32], lamports: u64, extra: bool) -> Vec<u8> {
    let readonly = if extra { 2 } else { 1 };
    let mut msg = vec![1u8, 0, readonly];
    let keys: Vec<[u8; 32]> = if extra {
        vec![PAYER, to, SYSTEM, OTHER_PROGRAM]
    } else {
        vec![PAYER, to, SYSTEM]
    };
    msg.push(keys.len() as u8);
    for k in &keys {
        msg.extend_from_slice(k);
    }
    msg.extend_from_slice(&[7u8; 32]);
    msg.push(if extra { 2 } else { 1 });
    msg.extend_from_slice(&[2, 2, 0, 1, 12]);
    msg.extend_from_slice(&2u32.to_le_bytes());
    msg.extend_from_slice(&lamports.to_le_bytes());
    if extra {
        msg.extend_from_slice(&[3, 0, 0]);
    }
    let mut tx = vec![1u8];
    tx.extend_from_slice(&[0u8; 64]);
    tx.extend_from_slice(&msg);
    tx
}

/// What the server's pipeline judges for the same transfer: the declared intent and the
/// effects its simulation reports.
fn coordinator_view(to: [u8; 32], lamports: u64, extra: bool) -> (Intent, Effects) {
    let sol = AssetId::new("SOL");
    let amount = Decimal::from_atoms(u128::from(lamports) * 1_000_000_000);
    let mut programs = vec![b58(SYSTEM)];
    if extra {
        programs.push(b58(OTHER_PROGRAM));
    }
    let intent = Intent {
        action: Action::Transfer,
        chain: Chain::Solana,
        recipient: Some(b58(to)),
        asset: Some(sol.clone()),
        amount,
        declared_usd: UsdValue::Known(
            amount
                .checked_mul(Decimal::from_atoms(150 * 10u128.pow(18)))
                .unwrap(),
        ),
    };
    let effects = Effects {
        changes: vec![AssetDelta {
            asset: sol.clone(),
            decimals: 9,
            delta_atoms: -(i128::from(lamports) + FEE as i128),
        }],
        programs,
        recipients: vec![b58(to)],
        network_cost: Some(NetworkCost {
            asset: sol.clone(),
            atoms: FEE,
        }),
        native: Some(sol.clone()),
        prices: [(
            sol,
            UsdValue::Known(Decimal::from_atoms(150 * 10u128.pow(18))),
        )]
        .into_iter()
        .collect(),
        ..Effects::default()
    };
    (intent, effects)
}

/// The rules a signer can check alone.
fn signer_rule(rule: &str) -> bool {
    rule.starts_with("actions.")
        || rule == "chains"
        || rule.starts_with("recipients.")
        || rule.starts_with("programs.")
        || rule == "simulation.unexpected_approval"
        || rule == "limits.per_tx_atoms"
}

fn policy_strategy() -> impl Strategy<Value = PolicyDocument> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        proptest::sample::subsequence(POOL.to_vec(), 0..=4),
        proptest::sample::subsequence(POOL.to_vec(), 0..=2),
        any::<bool>(),
        proptest::option::of(1u64..10_000_000_000),
    )
        .prop_map(|(solana, transfer, allowlist, allow, deny, other, cap)| {
            let mut p = PolicyDocument {
                chains: if solana {
                    vec![Chain::Solana]
                } else {
                    vec![Chain::Evm(1)]
                },
                ..PolicyDocument::default()
            };
            p.actions.transfer = transfer;
            p.recipients.mode = if allowlist {
                RecipientMode::Allowlist
            } else {
                RecipientMode::Any
            };
            p.recipients.allow = allow.into_iter().map(b58).collect();
            p.recipients.deny = deny.into_iter().map(b58).collect();
            if other {
                p.programs.allow = vec![b58(OTHER_PROGRAM)];
            }
            // Caps out of the way: they are the coordinator's, not the signer's.
            p.limits.per_tx_usd = Decimal::from_atoms(10u128.pow(30));
            p.limits.daily_usd = Decimal::from_atoms(10u128.pow(30));
            p.limits.max_tx_per_hour = 1_000_000;
            if let Some(cap) = cap {
                p.limits
                    .per_tx_atoms
                    .insert("solana:native".into(), custos_core::Atoms::from(cap));
            }
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn coordinator_and_signer_agree_on_the_signers_rules(
        policy in policy_strategy(),
        to in proptest::sample::select(POOL.to_vec()),
        lamports in 1u64..10_000_000_000,
        extra in any::<bool>(),
    ) {
        let (intent, effects) = coordinator_view(to, lamports, extra);
        let usage = Usage::default();
        let coordinator: Vec<String> = match evaluate(&policy, &intent, &effects, &usage) {
            Decision::Deny { reasons } => reasons
                .into_iter()
                .map(|r| r.rule)
                .filter(|r| signer_rule(r))
                .collect(),
            _ => Vec::new(),
        };
        let payload = SignPayload::SolanaTransaction { bytes: transfer_tx(to, lamports, extra) };
        let signer = check(&policy, Some(Action::Transfer), &payload);
        match (&signer, coordinator.is_empty()) {
            (Ok(()), true) => {}
            (Err(CustodyError::PolicyRefused(m)), false) => {
                let first = m.split(':').next().unwrap_or_default();
                prop_assert!(coordinator.iter().any(|r| r == first),
                    "signer refused on {first}, coordinator on {coordinator:?}");
            }
            _ => prop_assert!(false, "signer {signer:?}, coordinator {coordinator:?}"),
        }
    }
}
