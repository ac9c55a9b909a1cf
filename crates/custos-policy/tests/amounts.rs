//! Property tests of how amounts are judged, over the whole range a chain can name: 256-bit
//! allowances and balance changes on EVM, 64-bit amounts on Solana. The effects are built as a
//! chain adapter reports them (`SimulatedEffects`) and converted exactly as the server converts
//! them, so the path from chain numbers to decision is what is tested.
//!
//! Invariants:
//! - **monotonic**: a larger amount is never allowed where a smaller one is denied;
//! - **never undervalued**: whatever is allowed is worth (computed here independently, in wide
//!   integers) no more than the per-transaction cap — in particular nothing is valued at zero.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use custos_core::{
    Action, ApprovalEffect, ApprovalKind, AssetRef, Atoms, BalanceChange, Chain, Decimal, Intent,
    SimulatedEffects, Usage, UsdValue, U256,
};
use custos_policy::{evaluate, Decision, PolicyDocument};
use proptest::prelude::*;
use serde_json::json;

const AGENT: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const SPENDER: &str = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
const TOKEN: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

fn policy(chain: &str, per_tx: &str) -> PolicyDocument {
    PolicyDocument::from_json_over(
        &json!({
            "actions": {"transfer": true, "sign": true, "sign_message": true},
            "chains": [chain],
            "limits": {"per_tx_usd": per_tx, "daily_usd": "100000000000000", "max_tx_per_hour": 1000},
            "recipients": {"mode": "any"},
            "spenders": {"allow": [SPENDER]},
            "programs": {"allow": [TOKEN]}
        }),
        &PolicyDocument::default(),
    )
    .unwrap()
}

/// Amounts over the whole 256-bit range, weighted towards the edges where conversions break:
/// around 2^64, 2^128 and 2^256.
fn u256() -> impl Strategy<Value = U256> {
    let edge = prop_oneof![
        Just(64usize),
        Just(127),
        Just(128),
        Just(129),
        Just(255),
        Just(256)
    ];
    prop_oneof![
        3 => any::<[u64; 4]>().prop_map(U256::from_limbs),
        3 => (0u64..5, any::<u64>()).prop_map(|(hi, lo)| U256::from_limbs([lo, hi, 0, 0])),
        2 => (edge, -2i8..=2).prop_map(|(bits, off)| {
            let base = if bits == 256 { U256::MAX } else { U256::from(1u8) << bits };
            if off < 0 {
                base.saturating_sub(U256::from(off.unsigned_abs()))
            } else {
                base.saturating_add(U256::from(off as u8))
            }
        }),
        2 => (0u128..10u128.pow(24)).prop_map(U256::from),
    ]
}

/// Two amounts, smaller first.
fn ordered() -> impl Strategy<Value = (U256, U256)> {
    (u256(), u256()).prop_map(|(a, b)| if a <= b { (a, b) } else { (b, a) })
}

/// A unit price in 10^-18 USD, from a millionth of a cent to a million dollars.
fn price() -> impl Strategy<Value = u128> {
    prop_oneof![
        Just(1_000_000_000_000_000_000u128),
        1u128..1_000_000_000_000_000_000_000_000,
    ]
}

fn decimals() -> impl Strategy<Value = u8> {
    prop_oneof![Just(0u8), Just(6), Just(9), Just(18), Just(24)]
}

/// A successful simulation on `chain` with these balance changes and approvals, nothing else.
fn simulated(
    chain: Chain,
    balance_changes: Vec<BalanceChange>,
    approvals: Vec<ApprovalEffect>,
) -> SimulatedEffects {
    SimulatedEffects {
        chain,
        agent: AGENT.into(),
        success: true,
        error: None,
        balance_changes,
        programs: vec![],
        methods: vec![],
        approvals,
        accounts_created: vec![],
        accounts_closed: vec![],
        recipients: vec![],
        fee: 0,
        rent_deposits: 0,
        units_consumed: 0,
        logs: vec![],
    }
}

/// Simulated effects of an EVM transaction that grants `allowance` (None: the conventional
/// unlimited) and moves `outflow` of the token, as the adapter reports them.
fn evm_effects(outflow: U256, allowance: Option<U256>, decimals: u8) -> SimulatedEffects {
    let token = AssetRef::Token(TOKEN.into());
    let changes = if outflow.is_zero() {
        vec![]
    } else {
        vec![BalanceChange {
            asset: token.clone(),
            decimals,
            pre: Atoms::from_u256(outflow),
            post: Atoms::ZERO,
        }]
    };
    let approvals = allowance
        .map(|a| ApprovalEffect {
            kind: ApprovalKind::Delegate,
            account: TOKEN.into(),
            asset: Some(token.clone()),
            grantee: Some(SPENDER.into()),
            amount: (a != U256::MAX).then(|| Atoms::from_u256(a)),
        })
        .into_iter()
        .collect();
    let mut sim = simulated(Chain::Evm(1), changes, approvals);
    sim.programs = vec![TOKEN.into()];
    sim
}

/// Judges simulated effects as the server does: an amount that cannot be converted exactly is
/// a denial; decimals and prices are filled in for every asset involved.
fn judge(
    p: &PolicyDocument,
    action: Action,
    sim: &SimulatedEffects,
    native: &str,
    decimals: u8,
    unit_price: u128,
) -> Decision {
    let Ok(mut effects) = sim.to_policy_effects(native) else {
        return Decision::Deny { reasons: vec![] };
    };
    for d in &mut effects.delegations {
        d.decimals.get_or_insert(decimals);
    }
    for a in effects.assets_to_price() {
        effects
            .prices
            .insert(a, UsdValue::Known(Decimal::from_atoms(unit_price)));
    }
    let intent = Intent {
        action,
        chain: sim.chain,
        recipient: None,
        asset: None,
        amount: Decimal::ZERO,
        declared_usd: UsdValue::Known(Decimal::ZERO),
    };
    let usage = Usage {
        frozen: false,
        spent_usd_24h: Decimal::ZERO,
        tx_last_hour: 0,
    };
    evaluate(p, &intent, &effects, &usage)
}

/// `amount` base units at `unit_price` (10^-18 USD per whole unit), in 10^-18 USD, computed in
/// 512-bit integers so nothing here can overflow: the independent figure the decision is held to.
fn exact_usd_atoms(amount: U256, decimals: u8, unit_price: u128) -> ruint::aliases::U512 {
    use ruint::aliases::U512;
    let v = U512::from(amount) * U512::from(unit_price);
    v / U512::from(10u8).pow(U512::from(decimals))
}

fn cap_atoms(per_tx: &str) -> ruint::aliases::U512 {
    ruint::aliases::U512::from(per_tx.parse::<Decimal>().unwrap().atoms())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn evm_allowances_are_monotonic_and_never_undervalued(
        (small, large) in ordered(),
        d in decimals(),
        unit in price(),
        per_tx in prop_oneof![Just("100"), Just("1000000"), Just("1000000000000")],
    ) {
        let p = policy("evm:1", per_tx);
        let allowed = |a: U256| judge(&p, Action::SignMessage, &evm_effects(U256::ZERO, Some(a), d), "ETH", d, unit).is_allow();
        let (lo, hi) = (allowed(small), allowed(large));
        prop_assert!(!hi || lo, "allowance {large} allowed but {small} denied");
        for (amount, ok) in [(small, lo), (large, hi)] {
            if ok {
                prop_assert!(amount != U256::MAX, "an unlimited allowance was allowed");
                prop_assert!(exact_usd_atoms(amount, d, unit) <= cap_atoms(per_tx),
                    "allowance {amount} at {d} decimals, price {unit} allowed over the cap");
            }
        }
    }

    #[test]
    fn evm_outflows_are_monotonic_and_never_undervalued(
        (small, large) in ordered(),
        d in decimals(),
        unit in price(),
        per_tx in prop_oneof![Just("100"), Just("1000000")],
    ) {
        let p = policy("evm:1", per_tx);
        let allowed = |a: U256| judge(&p, Action::Sign, &evm_effects(a, None, d), "ETH", d, unit).is_allow();
        let (lo, hi) = (allowed(small), allowed(large));
        prop_assert!(!hi || lo, "outflow {large} allowed but {small} denied");
        for (amount, ok) in [(small, lo), (large, hi)] {
            if ok {
                prop_assert!(exact_usd_atoms(amount, d, unit) <= cap_atoms(per_tx),
                    "outflow {amount} at {d} decimals, price {unit} allowed over the cap");
            }
        }
    }

    #[test]
    fn sign_with_outflow_and_allowance_counts_both(
        out in u256(),
        grant in u256(),
        d in decimals(),
        unit in price(),
    ) {
        let p = policy("evm:1", "1000000");
        let decision = judge(&p, Action::Sign, &evm_effects(out, Some(grant), d), "ETH", d, unit);
        if decision.is_allow() {
            let total = exact_usd_atoms(out, d, unit) + exact_usd_atoms(grant, d, unit);
            prop_assert!(total <= cap_atoms("1000000") + ruint::aliases::U512::from(2u8),
                "outflow {out} + allowance {grant} allowed over the cap");
        }
    }

    #[test]
    fn solana_transfers_are_monotonic_over_u64(
        a in any::<u64>(),
        b in any::<u64>(),
        unit in price(),
    ) {
        let (small, large) = if a <= b { (a, b) } else { (b, a) };
        let p = policy("solana", "100");
        let sim = |amount: u64| {
            simulated(
                Chain::Solana,
                vec![BalanceChange {
                    asset: AssetRef::Native,
                    decimals: 9,
                    pre: Atoms::from(u64::MAX),
                    post: Atoms::from(u64::MAX - amount),
                }],
                vec![],
            )
        };
        let allowed = |x: u64| judge(&p, Action::Sign, &sim(x), "SOL", 9, unit).is_allow();
        let (lo, hi) = (allowed(small), allowed(large));
        prop_assert!(!hi || lo, "{large} lamports allowed but {small} denied");
        if hi {
            prop_assert!(exact_usd_atoms(U256::from(large), 9, unit) <= cap_atoms("100"));
        }
    }
}

/// The cases of the security probe, exactly: a permit of 2^128, 2^255 and 2^256 − 1 base units
/// of a 1 USD, 18-decimal token to an allowlisted spender is refused; 2^128 − 1 too (it is
/// worth 3.4·10^20 USD); 19 tokens are allowed under a 100 USD cap.
#[test]
fn the_probe_permits_are_refused_and_a_real_one_is_allowed() {
    let p = policy("evm:42161", "100");
    let one_usd = 1_000_000_000_000_000_000u128;
    let judge_permit = |amount: U256| {
        let mut sim = evm_effects(U256::ZERO, Some(amount), 18);
        sim.chain = Chain::Evm(42161);
        judge(&p, Action::SignMessage, &sim, "ETH", 18, one_usd)
    };
    let one = U256::from(1u8);
    for amount in [
        one << 128,
        one << 255,
        U256::MAX,
        (one << 128) - one,
        U256::from(101u128 * 10u128.pow(18)),
    ] {
        let d = judge_permit(amount);
        assert!(!d.is_allow(), "{amount} was allowed: {d:?}");
    }
    let nineteen = judge_permit(U256::from(19u128 * 10u128.pow(18)));
    let Decision::Allow(ok) = nineteen else {
        panic!("19 tokens refused: {nineteen:?}")
    };
    assert_eq!(ok.get().usd_value, "19".parse::<Decimal>().unwrap());
}
