//! Each rule of the engine, driven through the public API: the decision, its rule names and the
//! dry-run explanation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;
use common::*;
use custos_core::{
    Action, AssetDelta, AssetId, Atoms, Chain, Decimal, Delegation, DelegationAmount,
    DelegationKind, Effects, Intent, UsdValue, U256,
};
use custos_policy::{
    check_stateless, evaluate, evaluate_with_approvals, explain, precheck, rules, Decision,
    DecisionKind, Outcome, PolicyDocument,
};
use serde_json::json;

fn denied_rules(d: &Decision) -> Vec<String> {
    match d {
        Decision::Deny { reasons } => reasons.iter().map(|r| r.rule.clone()).collect(),
        other => panic!("expected a denial, got {other:?}"),
    }
}

fn with(policy_patch: serde_json::Value) -> PolicyDocument {
    let base = serde_json::to_value(policy()).unwrap();
    let mut merged = base.as_object().unwrap().clone();
    for (k, v) in policy_patch.as_object().unwrap() {
        merged.insert(k.clone(), v.clone());
    }
    PolicyDocument::from_json_over(&json!(merged), &PolicyDocument::default()).unwrap()
}

#[test]
fn an_honest_small_transfer_is_allowed_with_its_value() {
    let (i, e) = sol_transfer("0.1");
    let Decision::Allow(ok) = evaluate(&policy(), &i, &e, &usage("0", 0)) else {
        panic!("not allowed")
    };
    // 0.1 SOL + 5000 lamports fee at 150 USD: the simulated outflow (with fee) is the larger.
    assert_eq!(ok.get().usd_value, d("15.00075"));
    assert_eq!(ok.get().intent, i);
    assert_eq!(ok.get().human_approvals, 0);
}

#[test]
fn frozen_denies_everything() {
    let (i, e) = sol_transfer("0.1");
    let mut u = usage("0", 0);
    u.frozen = true;
    assert_eq!(denied_rules(&evaluate(&policy(), &i, &e, &u)), ["frozen"]);
}

#[test]
fn each_action_toggle_denies_with_its_name() {
    let p = PolicyDocument::from_json_over(
        &json!({"actions": {"transfer": false, "trade": false, "liquidity": false,
                "prediction": false, "sign": false, "sign_message": false}}),
        &PolicyDocument::default(),
    )
    .unwrap();
    for action in Action::ALL {
        let (mut i, e) = sol_transfer("0.1");
        i.action = action;
        let rules = denied_rules(&evaluate(&p, &i, &e, &usage("0", 0)));
        assert!(
            rules.contains(&format!("actions.{}", action.as_str())),
            "{action}: {rules:?}"
        );
    }
}

#[test]
fn chain_outside_the_list_is_denied() {
    let (mut i, e) = sol_transfer("0.1");
    i.chain = Chain::Evm(1);
    let rules = denied_rules(&evaluate(&policy(), &i, &e, &usage("0", 0)));
    assert!(rules.contains(&"chains".to_owned()), "{rules:?}");
}

#[test]
fn denylisted_recipient_is_caught_in_intent_effects_and_delegations() {
    let p = policy();
    let (mut i, e) = sol_transfer("0.1");
    i.recipient = Some(OTHER.into());
    assert!(denied_rules(&evaluate(&p, &i, &e, &usage("0", 0))).contains(&"recipients.deny".into()));

    // Declared recipient is fine but the simulation shows funds going to a denied address.
    let (i, mut e) = sol_transfer("0.1");
    e.recipients.push(OTHER.into());
    assert!(denied_rules(&evaluate(&p, &i, &e, &usage("0", 0))).contains(&"recipients.deny".into()));

    let (i, mut e) = sol_transfer("0.1");
    e.delegations.push(Delegation {
        kind: DelegationKind::Spend,
        spender: OTHER.into(),
        asset: Some(sol()),
        decimals: Some(9),
        amount: DelegationAmount::Limited(Atoms::from(1u64)),
    });
    assert!(denied_rules(&evaluate(&p, &i, &e, &usage("0", 0))).contains(&"recipients.deny".into()));
}

#[test]
fn allowlist_mode_needs_every_recipient_listed_and_evm_case_is_ignored() {
    let p = with(json!({"recipients": {"mode": "allowlist", "allow": [AGENT_TO]}}));
    let (i, e) = sol_transfer("0.1");
    assert!(
        evaluate(&p, &i, &e, &usage("0", 0)).is_allow() || {
            // Over the approval threshold? 0.1 SOL is 15 USD, so it must be allowed.
            false
        }
    );
    let (i, mut e) = sol_transfer("0.1");
    e.recipients.push(OTHER.into());
    assert_eq!(
        denied_rules(&evaluate(&p, &i, &e, &usage("0", 0))),
        ["recipients.allow"]
    );
    // base58 is case-sensitive.
    let (mut i, e) = sol_transfer("0.1");
    i.recipient = Some(AGENT_TO.to_lowercase());
    assert!(
        denied_rules(&evaluate(&p, &i, &e, &usage("0", 0))).contains(&"recipients.allow".into())
    );

    let evm = "0x52908400098527886E0F7030069857D2E4169EE7";
    let p = with(json!({"chains": ["evm:1"], "recipients": {"mode": "allowlist", "allow": [evm]}}));
    let i = Intent {
        action: Action::Transfer,
        chain: Chain::Evm(1),
        recipient: Some(evm.to_lowercase()),
        asset: Some(AssetId::new("ETH")),
        amount: d("0.001"),
        declared_usd: UsdValue::Known(d("3")),
    };
    let e = Effects {
        changes: vec![AssetDelta {
            asset: AssetId::new("ETH"),
            decimals: 18,
            delta_atoms: -1_000_000_000_000_000,
        }],
        recipients: vec![evm.to_lowercase()],
        prices: [(AssetId::new("ETH"), UsdValue::Known(d("3000")))]
            .into_iter()
            .collect(),
        ..Effects::default()
    };
    assert!(evaluate(&p, &i, &e, &usage("0", 0)).is_allow());
}

#[test]
fn per_tx_cap_uses_the_simulated_outflow_not_the_declaration() {
    // Declares 0.1 SOL (15 USD) but the transaction really sends 1 SOL (150 USD).
    let (i, mut e) = sol_transfer("0.1");
    e.changes[0].delta_atoms = -1_000_005_000;
    let rules = denied_rules(&evaluate(&policy(), &i, &e, &usage("0", 0)));
    assert!(rules.contains(&"limits.per_tx_usd".to_owned()), "{rules:?}");
    assert!(
        rules.contains(&"simulation.outflow_mismatch".to_owned()),
        "{rules:?}"
    );

    // A `sign` that declares nothing is judged on effects alone: over the cap is denied with
    // exactly that reason.
    let (mut i, e2) = sol_transfer("0.1");
    i.action = Action::Sign;
    i.asset = None;
    i.recipient = None;
    i.amount = Decimal::ZERO;
    i.declared_usd = UsdValue::Known(Decimal::ZERO);
    e.changes[0].delta_atoms = -1_000_005_000;
    assert_eq!(
        denied_rules(&evaluate(&policy(), &i, &e, &usage("0", 0))),
        ["limits.per_tx_usd"]
    );
    assert!(matches!(
        evaluate(&policy(), &i, &e2, &usage("0", 0)),
        Decision::Allow(_)
    ));
}

#[test]
fn per_tx_cap_also_uses_the_declaration_when_larger() {
    let (mut i, e) = sol_transfer("0.1");
    i.declared_usd = UsdValue::Known(d("101"));
    assert!(denied_rules(&evaluate(&policy(), &i, &e, &usage("0", 0)))
        .contains(&"limits.per_tx_usd".into()));
}

#[test]
fn daily_cap_counts_spent_and_reserved_plus_this_transaction() {
    let (i, e) = sol_transfer("0.1"); // 15.00075 USD
    assert!(evaluate(&policy(), &i, &e, &usage("984.99925", 0)).is_allow());
    assert_eq!(
        denied_rules(&evaluate(&policy(), &i, &e, &usage("984.99926", 0))),
        ["limits.daily_usd"]
    );
}

#[test]
fn hourly_velocity_trips_at_exactly_its_number() {
    let (i, e) = sol_transfer("0.1");
    assert!(evaluate(&policy(), &i, &e, &usage("0", 59)).is_allow());
    assert_eq!(
        denied_rules(&evaluate(&policy(), &i, &e, &usage("0", 60))),
        ["limits.max_tx_per_hour"]
    );
}

#[test]
fn programs_outside_the_builtin_set_need_listing() {
    let (mut i, mut e) = sol_transfer("0.1");
    i.action = Action::Sign;
    e.programs = vec![SYSTEM.into(), TOKEN.into(), JUPITER.into()];
    assert_eq!(
        denied_rules(&evaluate(&policy(), &i, &e, &usage("0", 0))),
        ["programs.allow"]
    );
    let p = with(json!({"programs": {"allow": [JUPITER]}}));
    assert!(evaluate(&p, &i, &e, &usage("0", 0)).is_allow());
    for builtin in rules::SOLANA_BUILTIN_PROGRAMS {
        e.programs = vec![builtin.into()];
        assert!(
            evaluate(&policy(), &i, &e, &usage("0", 0)).is_allow(),
            "{builtin}"
        );
    }
}

/// A 0.1 SOL transfer that also grants Jupiter an allowance of USDC (6 decimals), with USDC
/// priced at 1 USD or, with `priced = false`, unpriced.
fn transfer_granting_usdc(amount: DelegationAmount, priced: bool) -> (Intent, Effects) {
    let (i, mut e) = sol_transfer("0.1");
    if priced {
        e.prices.insert(AssetId::new(USDC), UsdValue::Known(d("1")));
    }
    e.delegations.push(Delegation {
        kind: DelegationKind::Spend,
        spender: JUPITER.into(),
        asset: Some(AssetId::new(USDC)),
        decimals: Some(6),
        amount,
    });
    (i, e)
}

#[test]
fn approvals_to_unlisted_spenders_are_denied() {
    let (i, e) =
        transfer_granting_usdc(DelegationAmount::Limited(Atoms::from(10_000_000u64)), true);
    assert_eq!(
        denied_rules(&evaluate(&policy(), &i, &e, &usage("0", 0))),
        ["simulation.unexpected_approval"]
    );
    let p = with(json!({"spenders": {"allow": [JUPITER]}}));
    let allowed = evaluate(&p, &i, &e, &usage("0", 0));
    assert!(allowed.is_allow(), "{allowed:?}");
}

#[test]
fn an_allowance_counts_at_its_full_value_and_unlimited_ones_cannot_be_capped() {
    let p = with(json!({"spenders": {"allow": [JUPITER]}}));
    let grant = |amount: DelegationAmount, priced: bool| {
        let (i, e) = transfer_granting_usdc(amount, priced);
        evaluate(&p, &i, &e, &usage("0", 0))
    };
    // 15 USD of SOL plus an allowance of 90 USDC: 105 USD, over the 100 USD per-tx limit.
    assert_eq!(
        denied_rules(&grant(
            DelegationAmount::Limited(Atoms::from(90_000_000u64)),
            true
        )),
        ["limits.per_tx_usd"]
    );
    assert_eq!(
        denied_rules(&grant(DelegationAmount::Unlimited, true)),
        ["amount.out_of_range"]
    );
    // 2^128 base units: representable, but beyond any exact valuation.
    let two128 = Atoms::from_u256(U256::from(1u8) << 128);
    assert_eq!(
        denied_rules(&grant(DelegationAmount::Limited(two128), true)),
        ["amount.out_of_range"]
    );
    // An allowance of an asset without a price is not valued at zero.
    assert_eq!(
        denied_rules(&grant(DelegationAmount::Limited(Atoms::from(1u64)), false)),
        ["price.unavailable"]
    );
}

#[test]
fn undeclared_outflow_of_another_asset_is_a_mismatch() {
    let (i, mut e) = sol_transfer("0.1");
    e.changes.push(AssetDelta {
        asset: AssetId::new(USDC),
        decimals: 6,
        delta_atoms: -1_000_000,
    });
    e.prices.insert(AssetId::new(USDC), UsdValue::Known(d("1")));
    assert_eq!(
        denied_rules(&evaluate(&policy(), &i, &e, &usage("0", 0))),
        ["simulation.outflow_mismatch"]
    );
    // An inflow of another asset is not an outflow.
    e.changes[1].delta_atoms = 1_000_000;
    assert!(evaluate(&policy(), &i, &e, &usage("0", 0)).is_allow());
}

#[test]
fn outflow_tolerance_is_configurable() {
    let (i, mut e) = sol_transfer("0.1");
    // One lamport more than declared.
    e.changes[0].delta_atoms -= 1;
    assert!(denied_rules(&evaluate(&policy(), &i, &e, &usage("0", 0)))
        .contains(&"simulation.outflow_mismatch".into()));
    let p = with(json!({"simulation": {"outflow_tolerance_bps": 1}}));
    assert!(evaluate(&p, &i, &e, &usage("0", 0)).is_allow());
    // Nothing moves at all although 0.1 SOL was declared.
    let (i, mut e) = sol_transfer("0.1");
    e.changes[0].delta_atoms = -5000;
    assert!(denied_rules(&evaluate(&p, &i, &e, &usage("0", 0)))
        .contains(&"simulation.outflow_mismatch".into()));
}

#[test]
fn missing_or_stale_prices_deny_and_are_never_zero() {
    for bad in [UsdValue::Missing, UsdValue::Stale] {
        let (i, mut e) = sol_transfer("0.1");
        e.prices.insert(sol(), bad);
        assert_eq!(
            denied_rules(&evaluate(&policy(), &i, &e, &usage("0", 0))),
            ["price.unavailable"]
        );
        let (mut i, e) = sol_transfer("0.1");
        i.declared_usd = bad;
        assert_eq!(
            denied_rules(&evaluate(&policy(), &i, &e, &usage("0", 0))),
            ["price.unavailable"]
        );
        let (i, mut e) = sol_transfer("0.1");
        e.prices.clear();
        let Decision::Deny { reasons } = evaluate(&policy(), &i, &e, &usage("0", 0)) else {
            panic!()
        };
        assert_eq!(reasons[0].rule, "price.unavailable");
        assert!(reasons[0].message.contains("SOL"), "{}", reasons[0].message);
    }
}

#[test]
fn above_the_approval_threshold_needs_the_quorum() {
    let (i, e) = sol_transfer("0.5"); // 75 USD > 50
    match evaluate(&policy(), &i, &e, &usage("0", 0)) {
        Decision::RequireApproval { quorum, reasons } => {
            assert_eq!(quorum, 2);
            assert_eq!(reasons[0].rule, "approvals.above_usd");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        evaluate_with_approvals(&policy(), &i, &e, &usage("0", 0), 1),
        Decision::RequireApproval { .. }
    ));
    let Decision::Allow(ok) = evaluate_with_approvals(&policy(), &i, &e, &usage("0", 0), 2) else {
        panic!()
    };
    assert_eq!(ok.get().human_approvals, 2);
    // Approval never overrides a denial: re-checked at execution, the daily cap still holds.
    assert_eq!(
        denied_rules(&evaluate_with_approvals(
            &policy(),
            &i,
            &e,
            &usage("990", 0),
            2
        )),
        ["limits.daily_usd"]
    );
}

#[test]
fn explain_lists_every_rule_in_order() {
    let (i, mut e) = sol_transfer("0.1");
    e.programs.push(JUPITER.into());
    let x = explain(&policy(), &i, &e, &usage("0", 0));
    assert_eq!(x.decision, DecisionKind::Deny);
    let names: Vec<&str> = x.rules.iter().map(|r| r.rule.as_str()).collect();
    assert_eq!(
        names,
        [
            "frozen",
            "actions.transfer",
            "chains",
            "recipients.deny",
            "recipients.allow",
            "programs.allow",
            "programs.methods",
            "simulation.unexpected_approval",
            "limits.per_tx_atoms",
            "simulation.outflow_mismatch",
            "amount.out_of_range",
            "price.unavailable",
            "limits.per_tx_usd",
            "limits.daily_usd",
            "limits.max_tx_per_hour",
            "approvals.above_usd",
        ]
    );
    let programs = x.rules.iter().find(|r| r.rule == "programs.allow").unwrap();
    assert_eq!(programs.outcome, Outcome::Deny);
    assert!(programs.message.contains(JUPITER));
    assert_eq!(x.usd_value, Some(d("15.00075")));
    let v = serde_json::to_value(&x).unwrap();
    assert_eq!(v["decision"], "deny");
    assert_eq!(
        v["rules"][0],
        json!({"rule": "frozen", "outcome": "pass", "message": "agent is not frozen"})
    );
}

#[test]
fn precheck_and_stateless_checks_cover_their_subsets() {
    let (mut i, e) = sol_transfer("0.1");
    assert_eq!(precheck(&policy(), &i), Ok(()));
    i.recipient = Some(OTHER.into());
    let r = precheck(&policy(), &i).unwrap_err();
    assert_eq!(r[0].rule, "recipients.deny");

    let (i, mut e2) = sol_transfer("0.1");
    e2.programs.push(JUPITER.into());
    assert_eq!(
        check_stateless(&policy(), &i, &e2).unwrap_err()[0].rule,
        "programs.allow"
    );
    // Stateless checks ignore usage and prices (a signer has neither): a transfer over the USD
    // cap passes them, and is denied by the full evaluation.
    assert_eq!(check_stateless(&policy(), &i, &e), Ok(()));
    let (big, big_e) = sol_transfer("1");
    assert_eq!(check_stateless(&policy(), &big, &big_e), Ok(()));
    let full = evaluate(&policy(), &big, &big_e, &usage("0", 0));
    assert_eq!(full.reasons()[0].rule, "limits.per_tx_usd");
}

#[test]
fn decisions_serialize_for_the_api() {
    let (i, e) = sol_transfer("1");
    let v = serde_json::to_value(evaluate(&policy(), &i, &e, &usage("0", 0))).unwrap();
    assert_eq!(v["decision"], "deny");
    assert_eq!(v["reasons"][0]["rule"], "limits.per_tx_usd");
}

#[test]
fn evm_methods_are_held_to_the_contract_allowlist() {
    use custos_core::MethodCall;
    const TOKEN: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    let p = with(json!({
        "chains": ["evm:1"],
        "actions": {"transfer": true, "sign": true},
        "programs": {"allow": [], "methods": {TOKEN.to_lowercase(): ["0xa9059cbb"]}}
    }));
    let intent = Intent {
        action: Action::Sign,
        chain: Chain::Evm(1),
        recipient: None,
        asset: None,
        amount: Decimal::ZERO,
        declared_usd: UsdValue::Known(Decimal::ZERO),
    };
    let call = |sel: &str| Effects {
        programs: vec![TOKEN.into()],
        methods: vec![MethodCall {
            contract: TOKEN.into(),
            selector: Some(sel.into()),
        }],
        ..Effects::default()
    };
    // The listed selector passes (case-insensitive address), another is denied by name.
    assert!(evaluate(&p, &intent, &call("0xa9059cbb"), &usage("0", 0)).is_allow());
    let rules = denied_rules(&evaluate(&p, &intent, &call("0x095ea7b3"), &usage("0", 0)));
    assert_eq!(rules, vec![rules::PROGRAMS_METHODS.to_string()]);
    // A contract in neither list is a programs.allow denial.
    let mut other = call("0xa9059cbb");
    other.programs = vec!["0x0000000000000000000000000000000000000001".into()];
    other.methods[0].contract = "0x0000000000000000000000000000000000000001".into();
    let rules = denied_rules(&evaluate(&p, &intent, &other, &usage("0", 0)));
    assert!(
        rules.contains(&rules::PROGRAMS_ALLOW.to_string()),
        "{rules:?}"
    );
    // A `sign` that declares the token as its asset does not make the contract allowed.
    let mut declared = intent.clone();
    declared.asset = Some(AssetId::new("0x0000000000000000000000000000000000000001"));
    let rules = denied_rules(&evaluate(&p, &declared, &other, &usage("0", 0)));
    assert!(
        rules.contains(&rules::PROGRAMS_ALLOW.to_string()),
        "{rules:?}"
    );
    // Bad selectors in the document are refused naming the field.
    let bad = PolicyDocument::from_json_over(
        &json!({"programs": {"methods": {TOKEN: ["transfer"]}}}),
        &PolicyDocument::default(),
    )
    .unwrap_err();
    assert_eq!(bad.field, format!("programs.methods.{TOKEN}[0]"));
}

#[test]
fn per_asset_caps_bound_outflows_and_allowances_without_prices() {
    // 0.1 SOL out (fee aside) against a cap in lamports.
    let (i, e) = sol_transfer("0.1");
    let capped = |cap: u128| {
        let mut p = policy();
        p.limits
            .per_tx_atoms
            .insert("solana:native".into(), Atoms::from(cap));
        p
    };
    assert_eq!(check_stateless(&capped(100_000_000), &i, &e), Ok(()));
    let r = check_stateless(&capped(99_999_999), &i, &e).unwrap_err();
    assert_eq!(r[0].rule, "limits.per_tx_atoms");
    assert!(r[0].message.contains("100000000"), "{}", r[0].message);
    // The full evaluation applies the same rule.
    let full = evaluate(&capped(99_999_999), &i, &e, &usage("0", 0));
    assert!(full
        .reasons()
        .iter()
        .any(|r| r.rule == "limits.per_tx_atoms"));
    // A cap on another chain does not apply.
    let mut other = policy();
    other
        .limits
        .per_tx_atoms
        .insert("evm:1:native".into(), Atoms::from(1u128));
    assert_eq!(check_stateless(&other, &i, &e), Ok(()));
    // An allowance over a capped token counts like an outflow; an unlimited one is refused.
    let usdc = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";
    const SPENDER: &str = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU";
    let mut p = policy();
    p.spenders.allow = vec![SPENDER.into()];
    p.limits
        .per_tx_atoms
        .insert(format!("solana:{usdc}"), Atoms::from(1_000_000u128));
    let grant = |amount: DelegationAmount| {
        let mut e = e.clone();
        e.delegations = vec![Delegation {
            kind: DelegationKind::Spend,
            spender: SPENDER.into(),
            asset: Some(AssetId::new(usdc)),
            decimals: Some(6),
            amount,
        }];
        e
    };
    let ok = grant(DelegationAmount::Limited(Atoms::from(1_000_000u128)));
    assert_eq!(check_stateless(&p, &i, &ok), Ok(()));
    for over in [
        DelegationAmount::Limited(Atoms::from(1_000_001u128)),
        DelegationAmount::Unlimited,
    ] {
        let r = check_stateless(&p, &i, &grant(over)).unwrap_err();
        assert_eq!(r[0].rule, "limits.per_tx_atoms", "{r:?}");
    }
    // Keys are validated, naming the field.
    let bad = PolicyDocument::from_json_over(
        &json!({"limits": {"per_tx_usd": "25", "daily_usd": "100", "max_tx_per_hour": 20,
            "per_tx_atoms": {"moon:native": "1"}}}),
        &PolicyDocument::default(),
    )
    .unwrap_err();
    assert_eq!(bad.field, "limits.per_tx_atoms.moon:native");
}
