//! Property tests of the engine's invariants over generated policies, intents, effects and
//! usage.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;
use common::*;
use custos_core::{
    Action, AssetDelta, AssetId, Chain, Decimal, Delegation, DelegationAmount, DelegationKind,
    Effects, Intent, NetworkCost, Usage, UsdValue,
};
use custos_policy::{
    evaluate, explain, ActionToggles, Approvals, Decision, Limits, PolicyDocument, Programs,
    RecipientMode, Recipients, SimulationRules, Spenders,
};
use proptest::prelude::*;

const ADDRS: [&str; 4] = [
    AGENT_TO,
    OTHER,
    "8opHzTAnfzRpPEx21XtnrVTX28YQuCpAjcn1PczScKh",
    "CuieVDEDtLo7FypA9SbLM9saXFdb1dsshEkyErMqkRQq",
];

fn usd() -> impl Strategy<Value = Decimal> {
    // 0 .. 2_000 USD with cents: the same range as the amounts, so caps bind often.
    (0u128..200_000).prop_map(|c| Decimal::from_atoms(c * 10u128.pow(16)))
}

fn price() -> impl Strategy<Value = UsdValue> {
    prop_oneof![
        10 => (1u128..50).prop_map(|p| UsdValue::Known(Decimal::from_atoms(p * 10u128.pow(18)))),
        1 => Just(UsdValue::Missing),
        1 => Just(UsdValue::Stale),
    ]
}

fn chain() -> impl Strategy<Value = Chain> {
    prop_oneof![8 => Just(Chain::Solana), 1 => Just(Chain::Evm(1)), 1 => Just(Chain::Bitcoin)]
}

fn addrs(max: usize) -> impl Strategy<Value = Vec<String>> {
    prop::sample::subsequence(ADDRS.to_vec(), 0..=max)
        .prop_map(|v| v.into_iter().map(String::from).collect())
}

prop_compose! {
    /// Mostly permissive policies, so that allows are common and the invariants about them are
    /// exercised, with every rule switched on some of the time.
    fn policy_doc()(
        toggles in prop::array::uniform6(prop::bool::weighted(0.85)),
        evm in any::<bool>(),
        solana in prop::bool::weighted(0.9),
        per_tx in usd(),
        extra in usd(),
        max_tx in 1u32..100,
        allowlist in prop::bool::weighted(0.2),
        allow in addrs(3),
        deny in addrs(1),
        approvals in prop::option::of(((0u128..10_000).prop_map(|c| Decimal::from_atoms(c * 10u128.pow(16))), 1u32..4)),
        programs in prop::sample::subsequence(vec![JUPITER], 0..=1),
        spenders in addrs(2),
        tol in prop_oneof![3 => Just(0u32), 1 => 0u32..200],
    ) -> PolicyDocument {
        let mut allow = allow;
        if allowlist && allow.is_empty() { allow.push(AGENT_TO.into()); }
        let mut chains = Vec::new();
        if solana { chains.push(Chain::Solana); }
        if evm { chains.push(Chain::Evm(1)); }
        let p = PolicyDocument {
            actions: ActionToggles {
                transfer: toggles[0], trade: toggles[1], liquidity: toggles[2],
                prediction: toggles[3], sign: toggles[4], sign_message: toggles[5], sign_raw_hash: false,
            },
            chains,
            limits: Limits {
                per_tx_usd: per_tx,
                daily_usd: per_tx.saturating_add(extra),
                max_tx_per_hour: max_tx,
                per_tx_atoms: Default::default(),
            },
            recipients: Recipients {
                mode: if allowlist { RecipientMode::Allowlist } else { RecipientMode::Any },
                allow,
                deny,
            },
            approvals: approvals.map(|(above_usd, quorum)| Approvals { above_usd, quorum }),
            programs: Programs { allow: programs.into_iter().map(String::from).collect(), ..Programs::default() },
            spenders: Spenders { allow: spenders },
            simulation: SimulationRules { outflow_tolerance_bps: tol },
            ..PolicyDocument::default()
        };
        p.validate().unwrap();
        p
    }
}

fn asset() -> impl Strategy<Value = AssetId> {
    prop::sample::select(vec![AssetId::new("SOL"), AssetId::new(USDC)])
}

fn decimals_of(a: &AssetId) -> u8 {
    if a.as_str() == "SOL" {
        9
    } else {
        6
    }
}

prop_compose! {
    fn stray_delta()(asset in asset(), amount in -5_000_000_000i128..5_000_000_000) -> AssetDelta {
        AssetDelta { decimals: decimals_of(&asset), asset, delta_atoms: amount }
    }
}

prop_compose! {
    /// A declared intent and the effects an honest simulation of it would show, then perturbed:
    /// sometimes an undeclared outflow, a lie about the amount or value, an extra program, a
    /// delegation, another recipient, a missing price.
    fn scenario()(
        action in prop::sample::select(Action::ALL.to_vec()),
        chain in chain(),
        recipient in prop::option::weighted(0.9, prop::sample::select(ADDRS.to_vec())),
        asset in prop::option::weighted(0.9, asset()),
        amount_milli in 0u128..2_000,
        lie_factor in prop_oneof![6 => Just(1i128), 1 => 0i128..20],
        declared_override in prop::option::weighted(0.15, prop_oneof![
            2 => usd().prop_map(UsdValue::Known), 1 => Just(UsdValue::Missing), 1 => Just(UsdValue::Stale)]),
        strays in prop::collection::vec(stray_delta(), 0..2),
        stray_prob in prop::bool::weighted(0.2),
        extra_program in prop::option::weighted(0.15, prop::sample::select(vec![JUPITER, "Stake11111111111111111111111111111111111111"])),
        delegate in prop::option::weighted(0.1, prop::sample::select(ADDRS.to_vec())),
        extra_recipient in prop::option::weighted(0.1, prop::sample::select(ADDRS.to_vec())),
        sol_price in price(),
        usdc_price in price(),
        fee in prop::option::weighted(0.8, 0u128..10_000),
    ) -> (Intent, Effects) {
        let amount = Decimal::from_atoms(amount_milli * 10u128.pow(15));
        let mut changes = Vec::new();
        if let Some(a) = &asset {
            let dec = decimals_of(a);
            let atoms = i128::try_from(amount_milli).unwrap() * 10i128.pow(u32::from(dec) - 3);
            changes.push(AssetDelta { asset: a.clone(), decimals: dec, delta_atoms: -atoms * lie_factor });
        }
        if let Some(f) = fee {
            changes.push(AssetDelta { asset: AssetId::new("SOL"), decimals: 9, delta_atoms: -i128::try_from(f).unwrap() });
        }
        if stray_prob { changes.extend(strays); }
        let prices: std::collections::BTreeMap<_, _> =
            [(AssetId::new("SOL"), sol_price), (AssetId::new(USDC), usdc_price)].into_iter().collect();
        let declared_usd = declared_override.unwrap_or_else(|| match &asset {
            Some(a) => prices[a].times(amount),
            None => UsdValue::Known(Decimal::ZERO),
        });
        let intent = Intent {
            action, chain,
            recipient: recipient.map(String::from),
            asset,
            amount,
            declared_usd,
        };
        let mut programs = vec![SYSTEM.to_owned()];
        programs.extend(extra_program.map(String::from));
        let mut recipients: Vec<String> = intent.recipient.iter().cloned().collect();
        recipients.extend(extra_recipient.map(String::from));
        let effects = Effects {
            changes,
            programs,
            methods: vec![],
            delegations: delegate.into_iter().map(|s| Delegation {
                kind: DelegationKind::Spend,
                spender: s.into(),
                asset: None,
                decimals: None,
                amount: DelegationAmount::Unlimited,
            }).collect(),
            recipients,
            network_cost: fee.map(|atoms| NetworkCost { asset: AssetId::new("SOL"), atoms }),
            prices,
            native: Some(AssetId::new("SOL")),
        };
        (intent, effects)
    }
}

prop_compose! {
    fn usage_gen()(frozen in prop::bool::weighted(0.05), spent in (0u128..50_000).prop_map(|c| Decimal::from_atoms(c * 10u128.pow(16))), tx in 0u32..40) -> Usage {
        Usage { frozen, spent_usd_24h: spent, tx_last_hour: tx }
    }
}

fn toggle(p: &PolicyDocument, a: Action) -> bool {
    let t = &p.actions;
    match a {
        Action::Transfer => t.transfer,
        Action::Trade => t.trade,
        Action::Liquidity => t.liquidity,
        Action::Prediction => t.prediction,
        Action::Sign => t.sign,
        Action::SignMessage => t.sign_message,
    }
}

fn is_deny(d: &Decision) -> bool {
    matches!(d, Decision::Deny { .. })
}

/// Whole-unit outflow value from the effects, for the oracle-free reference check below.
fn simulated_outflow_usd(e: &Effects) -> Option<Decimal> {
    let mut total = Decimal::ZERO;
    for a in [AssetId::new("SOL"), AssetId::new(USDC)] {
        let net: i128 = e
            .changes
            .iter()
            .filter(|c| c.asset == a)
            .map(|c| c.delta_atoms)
            .sum();
        if net < 0 {
            let decimals = u32::from(decimals_of(&a));
            let units = Decimal::from_atoms(net.unsigned_abs() * 10u128.pow(18 - decimals));
            total = total.saturating_add(units.saturating_mul(e.price_of(&a).known()?));
        }
    }
    Some(total)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn deterministic(p in policy_doc(), (i, e) in scenario(), u in usage_gen()) {
        prop_assert_eq!(evaluate(&p, &i, &e, &u), evaluate(&p, &i, &e, &u));
        prop_assert_eq!(explain(&p, &i, &e, &u), explain(&p, &i, &e, &u));
    }

    #[test]
    fn explain_agrees_with_evaluate(p in policy_doc(), (i, e) in scenario(), u in usage_gen()) {
        let d = evaluate(&p, &i, &e, &u);
        let x = explain(&p, &i, &e, &u);
        let kind = match d {
            Decision::Allow(_) => custos_policy::DecisionKind::Allow,
            Decision::Deny { .. } => custos_policy::DecisionKind::Deny,
            Decision::RequireApproval { .. } => custos_policy::DecisionKind::RequireApproval,
        };
        prop_assert_eq!(x.decision, kind);
    }

    #[test]
    fn disabled_action_or_unlisted_chain_is_never_allowed(
        p in policy_doc(), (i, e) in scenario(), u in usage_gen()
    ) {
        let d = evaluate(&p, &i, &e, &u);
        if !toggle(&p, i.action) || !p.chains.contains(&i.chain) || u.frozen {
            prop_assert!(is_deny(&d), "{:?}", d);
        }
    }

    #[test]
    fn raising_usage_never_turns_deny_into_allow(
        p in policy_doc(), (i, e) in scenario(), u in usage_gen(),
        more_spent in usd(), more_tx in 0u32..50, freeze in any::<bool>(),
    ) {
        let before = evaluate(&p, &i, &e, &u);
        let higher = Usage {
            frozen: u.frozen || freeze,
            spent_usd_24h: u.spent_usd_24h.saturating_add(more_spent),
            tx_last_hour: u.tx_last_hour + more_tx,
        };
        let after = evaluate(&p, &i, &e, &higher);
        if is_deny(&before) {
            prop_assert!(is_deny(&after), "{:?}", after);
        }
        if !before.is_allow() {
            prop_assert!(!after.is_allow());
        }
    }

    #[test]
    fn lowering_a_cap_never_turns_deny_into_allow(
        p in policy_doc(), (i, e) in scenario(), u in usage_gen(),
        cut_tx in usd(), cut_day in usd(), cut_rate in 0u32..100,
    ) {
        let before = evaluate(&p, &i, &e, &u);
        let mut q = p.clone();
        q.limits.per_tx_usd = q.limits.per_tx_usd.saturating_sub(cut_tx);
        q.limits.daily_usd = q.limits.daily_usd.saturating_sub(cut_day);
        q.limits.max_tx_per_hour = q.limits.max_tx_per_hour.saturating_sub(cut_rate).max(1);
        let after = evaluate(&q, &i, &e, &u);
        if is_deny(&before) {
            prop_assert!(is_deny(&after), "{:?}", after);
        }
    }

    #[test]
    fn outflow_above_per_tx_is_never_allowed(p in policy_doc(), (i, e) in scenario(), u in usage_gen()) {
        let d = evaluate(&p, &i, &e, &u);
        if let Decision::Allow(ok) = &d {
            prop_assert!(ok.get().usd_value <= p.limits.per_tx_usd);
            if let Some(out) = simulated_outflow_usd(&e) {
                prop_assert!(out <= p.limits.per_tx_usd, "{} > {}", out, p.limits.per_tx_usd);
                prop_assert!(ok.get().usd_value >= out);
            }
            if let UsdValue::Known(v) = i.declared_usd {
                prop_assert!(ok.get().usd_value >= v);
            }
        }
    }

    #[test]
    fn a_missing_price_that_matters_is_never_allowed(
        p in policy_doc(), (i, e) in scenario(), u in usage_gen()
    ) {
        let d = evaluate(&p, &i, &e, &u);
        let declared_unpriced = i.amount > Decimal::ZERO && i.declared_usd.known().is_none();
        if declared_unpriced || simulated_outflow_usd(&e).is_none() {
            prop_assert!(is_deny(&d), "{:?}", d);
        }
    }

    #[test]
    fn a_denylisted_address_anywhere_is_never_allowed(
        p in policy_doc(), (i, e) in scenario(), u in usage_gen()
    ) {
        let d = evaluate(&p, &i, &e, &u);
        let everywhere = i.recipient.iter()
            .chain(e.recipients.iter())
            .chain(e.delegations.iter().map(|x| &x.spender));
        let hit = everywhere.into_iter().any(|a| p.recipients.deny.contains(a));
        if hit {
            prop_assert!(is_deny(&d), "{:?}", d);
        }
    }
}

/// The properties above only mean something if the generators reach every kind of decision.
#[test]
fn generators_reach_every_decision() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut r = TestRunner::deterministic();
    let (mut allow, mut deny, mut ask) = (0, 0, 0);
    for _ in 0..4000 {
        let p = policy_doc().new_tree(&mut r).unwrap().current();
        let (i, e) = scenario().new_tree(&mut r).unwrap().current();
        let u = usage_gen().new_tree(&mut r).unwrap().current();
        match evaluate(&p, &i, &e, &u) {
            Decision::Allow(_) => allow += 1,
            Decision::Deny { .. } => deny += 1,
            Decision::RequireApproval { .. } => ask += 1,
        }
    }
    assert!(
        allow > 300 && deny > 300 && ask > 40,
        "allow {allow} deny {deny} approval {ask}"
    );
}
