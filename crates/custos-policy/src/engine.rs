//! The evaluation itself: every rule of the policy document applied to an intent, its simulated
//! effects and the agent's usage, in a fixed order, with no I/O, no clock and no randomness —
//! the same inputs always give the same decision, in the server and in a custody boundary.
//!
//! Anything the policy does not explicitly allow is denied: an action whose toggle is off, a
//! chain not listed, a program not listed, a grant to a spender not listed, an asset that cannot
//! be priced. All rules are evaluated (no short cut), so a denial lists every reason at once.
use crate::decision::{
    Allowance, Approved, Decision, DecisionKind, Explanation, Outcome, Reason, RuleOutcome,
};
use crate::document::{PolicyDocument, RecipientMode};
use crate::rules;
use custos_core::{
    Action, AssetId, Atoms, Chain, Decimal, DelegationAmount, DelegationKind, Effects, Intent,
    PayloadDigest, Usage, UsdValue,
};
use std::collections::BTreeMap;

/// Decides whether `intent`, whose simulated effects are `effects`, may proceed for an agent
/// whose current usage is `usage`.
pub fn evaluate(
    policy: &PolicyDocument,
    intent: &Intent,
    effects: &Effects,
    usage: &Usage,
) -> Decision {
    evaluate_with_approvals(policy, intent, effects, usage, 0)
}

/// [`evaluate`] for an action that `human_approvals` operators have approved: the approval rule
/// passes once they reach the policy's quorum; every other rule is re-checked as usual.
pub fn evaluate_with_approvals(
    policy: &PolicyDocument,
    intent: &Intent,
    effects: &Effects,
    usage: &Usage,
    human_approvals: u32,
) -> Decision {
    evaluate_full(policy, intent, effects, usage, human_approvals, None)
}

/// [`evaluate_with_approvals`] for the bytes `payload` names, from which `intent` and `effects`
/// were derived: an allowance carries the digest, and a signature can be asked for only over
/// those bytes (see [`Allowance::payload`]).
pub fn evaluate_payload(
    policy: &PolicyDocument,
    intent: &Intent,
    effects: &Effects,
    usage: &Usage,
    human_approvals: u32,
    payload: PayloadDigest,
) -> Decision {
    evaluate_full(
        policy,
        intent,
        effects,
        usage,
        human_approvals,
        Some(payload),
    )
}

fn evaluate_full(
    policy: &PolicyDocument,
    intent: &Intent,
    effects: &Effects,
    usage: &Usage,
    human_approvals: u32,
    payload: Option<PayloadDigest>,
) -> Decision {
    let run = run(
        policy,
        intent,
        effects,
        Some(usage),
        human_approvals,
        Scope::Full,
    );
    decide(run, intent, effects, human_approvals, payload)
}

/// A dry run: which rules were evaluated and how each came out, plus the resulting decision.
pub fn explain(
    policy: &PolicyDocument,
    intent: &Intent,
    effects: &Effects,
    usage: &Usage,
) -> Explanation {
    let run = run(policy, intent, effects, Some(usage), 0, Scope::Full);
    let (decision, quorum) = match kind(&run) {
        Verdict::Deny(_) => (DecisionKind::Deny, None),
        Verdict::RequireApproval(_) => (DecisionKind::RequireApproval, run.quorum),
        Verdict::Allow => (DecisionKind::Allow, None),
    };
    Explanation {
        decision,
        quorum,
        usd_value: run.usd_value,
        rules: run.steps,
    }
}

/// The cheap rules that need neither a built transaction nor the database: action toggle, chain
/// allowlist and the declared recipient. The pipeline runs this before building anything.
pub fn precheck(policy: &PolicyDocument, intent: &Intent) -> Result<(), Vec<Reason>> {
    let run = run(
        policy,
        intent,
        &Effects::default(),
        None,
        0,
        Scope::Precheck,
    );
    match kind(&run) {
        Verdict::Deny(reasons) => Err(reasons),
        _ => Ok(()),
    }
}

/// Every rule a signer can check alone on effects it derived itself from the bytes it is asked to
/// sign: the action toggle, the chain, recipients, programs and contract methods, and control
/// granted to spenders. Not what needs the coordinator's state — `frozen`, rolling caps, velocity,
/// human approvals — nor prices: no USD value, no per-transaction USD cap, no match against the
/// declared amount (a signer has no oracle). The coordinator runs the same rules inside
/// [`evaluate`], so the two agree wherever the signer can judge.
pub fn check_stateless(
    policy: &PolicyDocument,
    intent: &Intent,
    effects: &Effects,
) -> Result<(), Vec<Reason>> {
    let run = run(policy, intent, effects, None, 0, Scope::Stateless);
    match kind(&run) {
        Verdict::Deny(reasons) => Err(reasons),
        _ => Ok(()),
    }
}

/// Which rules a run covers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Everything.
    Full,
    /// What a signer can check alone: no usage, no prices.
    Stateless,
    /// Only what the intent alone decides.
    Precheck,
}

struct Run {
    steps: Vec<RuleOutcome>,
    usd_value: Option<Decimal>,
    quorum: Option<u32>,
}

impl Run {
    fn record(&mut self, rule: impl Into<String>, outcome: Outcome, message: impl Into<String>) {
        self.steps.push(RuleOutcome {
            rule: rule.into(),
            outcome,
            message: message.into(),
        });
    }
}

enum Verdict {
    Allow,
    Deny(Vec<Reason>),
    RequireApproval(Vec<Reason>),
}

fn reasons_with(run: &Run, outcome: Outcome) -> Vec<Reason> {
    run.steps
        .iter()
        .filter(|s| s.outcome == outcome)
        .map(|s| Reason::new(s.rule.clone(), s.message.clone()))
        .collect()
}

fn kind(run: &Run) -> Verdict {
    let denies = reasons_with(run, Outcome::Deny);
    if !denies.is_empty() {
        return Verdict::Deny(denies);
    }
    let asks = reasons_with(run, Outcome::RequireApproval);
    if !asks.is_empty() {
        return Verdict::RequireApproval(asks);
    }
    Verdict::Allow
}

fn decide(
    run: Run,
    intent: &Intent,
    effects: &Effects,
    human_approvals: u32,
    payload: Option<PayloadDigest>,
) -> Decision {
    match kind(&run) {
        Verdict::Deny(reasons) => Decision::Deny { reasons },
        Verdict::RequireApproval(reasons) => match run.quorum {
            Some(quorum) => Decision::RequireApproval { quorum, reasons },
            // An approval request without a quorum would be our bug: fail closed.
            None => Decision::Deny { reasons },
        },
        Verdict::Allow => match run.usd_value {
            Some(usd_value) => Decision::Allow(Box::new(Approved::new(Allowance {
                intent: intent.clone(),
                effects: effects.clone(),
                usd_value,
                human_approvals,
                payload,
            }))),
            // Unreachable when the price rule works; never allow an unvalued action.
            None => Decision::Deny {
                reasons: vec![Reason::new(
                    rules::PRICE_UNAVAILABLE,
                    "the transaction could not be valued in USD",
                )],
            },
        },
    }
}

fn run(
    policy: &PolicyDocument,
    intent: &Intent,
    effects: &Effects,
    usage: Option<&Usage>,
    human_approvals: u32,
    scope: Scope,
) -> Run {
    let mut run = Run {
        steps: Vec::new(),
        usd_value: None,
        quorum: None,
    };
    if let (Scope::Full, Some(u)) = (scope, usage) {
        if u.frozen {
            run.record(
                rules::FROZEN,
                Outcome::Deny,
                "this agent is frozen by an operator",
            );
        } else {
            run.record(rules::FROZEN, Outcome::Pass, "agent is not frozen");
        }
    }
    check_action(&mut run, policy, intent.action);
    check_chain(&mut run, policy, intent.chain);
    check_recipients(&mut run, policy, intent, effects, scope);
    if scope == Scope::Precheck {
        return run;
    }
    check_programs(&mut run, policy, intent, effects);
    check_methods(&mut run, policy, intent, effects);
    check_delegations(&mut run, policy, effects);
    let nets = net_changes(effects);
    check_asset_caps(&mut run, policy, intent.chain, effects, &nets);
    if scope == Scope::Stateless {
        return run;
    }
    check_outflow_match(&mut run, policy, intent, effects, &nets);
    let value = value_of(&mut run, intent, effects, &nets);
    run.usd_value = value;
    check_per_tx(&mut run, policy, value);
    if let (Scope::Full, Some(u)) = (scope, usage) {
        check_daily(&mut run, policy, u, value);
        check_velocity(&mut run, policy, u, intent.action);
        check_approvals(&mut run, policy, value, human_approvals);
    }
    run
}

fn check_action(run: &mut Run, policy: &PolicyDocument, action: Action) {
    let t = &policy.actions;
    let enabled = match action {
        Action::Transfer => t.transfer,
        Action::Trade => t.trade,
        Action::Liquidity => t.liquidity,
        Action::Prediction => t.prediction,
        Action::Sign => t.sign,
        Action::SignMessage => t.sign_message,
    };
    if enabled {
        run.record(rules::action(action), Outcome::Pass, "action is enabled");
    } else {
        run.record(
            rules::action(action),
            Outcome::Deny,
            format!("action `{action}` is not enabled by the policy"),
        );
    }
}

fn check_chain(run: &mut Run, policy: &PolicyDocument, chain: Chain) {
    if policy.chains.contains(&chain) {
        run.record(
            rules::CHAINS,
            Outcome::Pass,
            format!("`{chain}` is allowed"),
        );
    } else {
        run.record(
            rules::CHAINS,
            Outcome::Deny,
            format!("chain `{chain}` is not in the policy's chains"),
        );
    }
}

/// EVM addresses compare case-insensitively (EIP-55 checksums are only a spelling); every other
/// address (base58, bech32 as produced by adapters) compares exactly.
pub(crate) fn same_address(a: &str, b: &str) -> bool {
    if a.starts_with("0x") && b.starts_with("0x") {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

pub(crate) fn listed(list: &[String], address: &str) -> bool {
    list.iter().any(|l| same_address(l, address))
}

fn check_recipients(
    run: &mut Run,
    policy: &PolicyDocument,
    intent: &Intent,
    effects: &Effects,
    scope: Scope,
) {
    let mut receivers: Vec<&str> = intent.recipient.iter().map(String::as_str).collect();
    if scope != Scope::Precheck {
        receivers.extend(effects.recipients.iter().map(String::as_str));
    }
    let mut controllers: Vec<&str> = receivers.clone();
    if scope != Scope::Precheck {
        controllers.extend(effects.delegations.iter().map(|d| d.spender.as_str()));
    }
    let denied: Vec<&str> = dedup(
        controllers
            .into_iter()
            .filter(|a| listed(&policy.recipients.deny, a)),
    );
    if denied.is_empty() {
        run.record(
            rules::RECIPIENTS_DENY,
            Outcome::Pass,
            "no recipient is on the denylist",
        );
    } else {
        run.record(
            rules::RECIPIENTS_DENY,
            Outcome::Deny,
            format!("denylisted recipient: {}", denied.join(", ")),
        );
    }
    match policy.recipients.mode {
        RecipientMode::Any => run.record(
            rules::RECIPIENTS_ALLOW,
            Outcome::Skipped,
            "recipient mode is `any`",
        ),
        RecipientMode::Allowlist => {
            let outside: Vec<&str> = dedup(
                receivers
                    .into_iter()
                    .filter(|a| !listed(&policy.recipients.allow, a)),
            );
            if outside.is_empty() {
                run.record(
                    rules::RECIPIENTS_ALLOW,
                    Outcome::Pass,
                    "every recipient is on the allowlist",
                );
            } else {
                run.record(
                    rules::RECIPIENTS_ALLOW,
                    Outcome::Deny,
                    format!("recipient not on the allowlist: {}", outside.join(", ")),
                );
            }
        }
    }
}

fn dedup<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// The programs (or contracts) in `programs` the policy does not allow for `intent`: the
/// policy's allowlist plus, on Solana, the builtin programs; on EVM chains the declared token's
/// own contract. Lets a caller refuse a transaction from its decoded instructions before
/// simulating it; [`evaluate`] applies the same rule to the simulated effects.
pub fn programs_outside_allowlist(
    policy: &PolicyDocument,
    intent: &Intent,
    programs: &[String],
) -> Vec<String> {
    let allowed = |p: &str| {
        listed(&policy.programs.allow, p)
            || policy.programs.methods.keys().any(|c| same_address(c, p))
            || implied_contract(intent, p)
    };
    dedup(programs.iter().map(String::as_str).filter(|p| !allowed(p)))
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// Programs a transaction may run without being listed: on Solana the builtin system and token
/// programs; on EVM chains, for a `transfer` Custos built itself, the token's own contract (an
/// ERC-20 transfer runs it). A `sign` request's declared asset implies nothing: the agent wrote
/// that transaction.
fn implied_contract(intent: &Intent, program: &str) -> bool {
    match intent.chain {
        Chain::Solana => rules::SOLANA_BUILTIN_PROGRAMS.contains(&program),
        _ => {
            intent.action == Action::Transfer
                && intent
                    .asset
                    .as_ref()
                    .is_some_and(|a| same_address(a.as_str(), program))
        }
    }
}

/// Contract methods outside the policy: a call to a contract listed under `programs.methods`
/// (and not under `programs.allow`) whose selector is not listed for it.
pub fn methods_outside_allowlist(
    policy: &PolicyDocument,
    intent: &Intent,
    methods: &[custos_core::MethodCall],
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in methods {
        if listed(&policy.programs.allow, &m.contract) || implied_contract(intent, &m.contract) {
            continue;
        }
        let Some((_, selectors)) = policy
            .programs
            .methods
            .iter()
            .find(|(c, _)| same_address(c, &m.contract))
        else {
            continue; // not listed at all: programs.allow reports the contract
        };
        let ok = m
            .selector
            .as_deref()
            .is_some_and(|sel| selectors.iter().any(|s| s.eq_ignore_ascii_case(sel)));
        if !ok {
            let d = format!(
                "{} on {}",
                m.selector.as_deref().unwrap_or("a plain value transfer"),
                m.contract
            );
            if !out.contains(&d) {
                out.push(d);
            }
        }
    }
    out
}

fn check_methods(run: &mut Run, policy: &PolicyDocument, intent: &Intent, effects: &Effects) {
    if effects.methods.is_empty() {
        run.record(
            rules::PROGRAMS_METHODS,
            Outcome::Skipped,
            "no contract method is called",
        );
        return;
    }
    let outside = methods_outside_allowlist(policy, intent, &effects.methods);
    if outside.is_empty() {
        run.record(
            rules::PROGRAMS_METHODS,
            Outcome::Pass,
            "every contract method called is allowed",
        );
    } else {
        run.record(
            rules::PROGRAMS_METHODS,
            Outcome::Deny,
            format!(
                "method not on the contract's allowlist: {}",
                outside.join(", ")
            ),
        );
    }
}

fn check_programs(run: &mut Run, policy: &PolicyDocument, intent: &Intent, effects: &Effects) {
    let outside = programs_outside_allowlist(policy, intent, &effects.programs);
    if outside.is_empty() {
        run.record(
            rules::PROGRAMS_ALLOW,
            Outcome::Pass,
            "every program or contract is allowed",
        );
    } else {
        run.record(
            rules::PROGRAMS_ALLOW,
            Outcome::Deny,
            format!(
                "program or contract not on the allowlist: {}",
                outside.join(", ")
            ),
        );
    }
}

fn check_delegations(run: &mut Run, policy: &PolicyDocument, effects: &Effects) {
    let unexpected: Vec<String> = effects
        .delegations
        .iter()
        .filter(|d| !listed(&policy.spenders.allow, &d.spender))
        .map(|d| {
            let asset = d
                .asset
                .as_ref()
                .map_or_else(|| "an asset".to_owned(), |a| format!("`{a}`"));
            let amount = match d.amount {
                DelegationAmount::Limited(n) => format!("{n} base units"),
                DelegationAmount::Unlimited => "unlimited".to_owned(),
            };
            format!("{:?} over {asset} ({amount}) to {}", d.kind, d.spender)
        })
        .collect();
    if unexpected.is_empty() {
        run.record(
            rules::SIMULATION_UNEXPECTED_APPROVAL,
            Outcome::Pass,
            "no approval or delegation to a spender outside spenders.allow",
        );
    } else {
        run.record(
            rules::SIMULATION_UNEXPECTED_APPROVAL,
            Outcome::Deny,
            format!(
                "the transaction grants control the policy does not allow: {}",
                unexpected.join("; ")
            ),
        );
    }
}

/// Net change per asset in base units, with the asset's decimals. Entries that disagree on an
/// asset's decimals are reported, since no honest simulation produces them.
struct Nets {
    by_asset: BTreeMap<AssetId, (i128, u8)>,
    inconsistent: Vec<AssetId>,
    /// Assets whose changes do not sum within the i128 range: refused as out of range.
    overflowed: Vec<AssetId>,
}

fn net_changes(effects: &Effects) -> Nets {
    let mut nets = Nets {
        by_asset: BTreeMap::new(),
        inconsistent: Vec::new(),
        overflowed: Vec::new(),
    };
    for c in &effects.changes {
        let entry = nets
            .by_asset
            .entry(c.asset.clone())
            .or_insert((0, c.decimals));
        if entry.1 != c.decimals && !nets.inconsistent.contains(&c.asset) {
            nets.inconsistent.push(c.asset.clone());
        }
        match entry.0.checked_add(c.delta_atoms) {
            Some(sum) => entry.0 = sum,
            None if !nets.overflowed.contains(&c.asset) => nets.overflowed.push(c.asset.clone()),
            None => {}
        }
    }
    nets
}

/// Base units → whole units, exactly (more than 18 decimals rounds up, so an outflow is never
/// undervalued); `None` when the figure does not fit a [`Decimal`].
fn whole_units(atoms: u128, decimals: u8) -> Option<Decimal> {
    Atoms::from(atoms).to_whole(decimals).ok()
}

fn tolerance(amount: Decimal, bps: u32) -> Decimal {
    let a = amount.atoms();
    let bps = u128::from(bps);
    // Split to avoid overflowing a·bps for large amounts.
    Decimal::from_atoms((a / 10_000).saturating_mul(bps) + (a % 10_000) * bps / 10_000)
}

fn abs_diff(a: Decimal, b: Decimal) -> Decimal {
    if a >= b {
        a.saturating_sub(b)
    } else {
        b.saturating_sub(a)
    }
}

fn check_outflow_match(
    run: &mut Run,
    policy: &PolicyDocument,
    intent: &Intent,
    effects: &Effects,
    nets: &Nets,
) {
    let rule = rules::SIMULATION_OUTFLOW_MISMATCH;
    if !nets.inconsistent.is_empty() {
        let names: Vec<String> = nets.inconsistent.iter().map(ToString::to_string).collect();
        run.record(
            rule,
            Outcome::Deny,
            format!(
                "the simulation reports different decimals for {}",
                names.join(", ")
            ),
        );
        return;
    }
    let cost_of = |asset: &AssetId| effects.network_cost_of(asset);
    let declared = match (&intent.asset, intent.action) {
        (Some(a), _) => Some(a),
        (None, Action::Sign) => None,
        (None, Action::SignMessage) => None,
        // A deposit moves two tokens at once: judged by every simulated outflow's value.
        (None, Action::Liquidity) => None,
        (None, a) => {
            run.record(
                rule,
                Outcome::Deny,
                format!("a `{a}` must declare the asset it moves"),
            );
            return;
        }
    };
    let Some(declared) = declared else {
        let moves = nets.by_asset.values().any(|(net, _)| *net < 0);
        if intent.action == Action::SignMessage && moves {
            run.record(
                rule,
                Outcome::Deny,
                "a message signature must not move funds, but balance changes were reported",
            );
        } else {
            run.record(
                rule,
                Outcome::Skipped,
                "nothing declared: judged by the simulated effects alone",
            );
        }
        return;
    };
    let mut problems = Vec::new();
    let mut declared_seen = false;
    for (asset, (net, decimals)) in &nets.by_asset {
        let out_atoms = if *net < 0 {
            net.unsigned_abs().saturating_sub(cost_of(asset))
        } else {
            0
        };
        let Some(out) = whole_units(out_atoms, *decimals) else {
            problems.push(format!(
                "the outflow of {out_atoms} base units of {asset} cannot be compared exactly"
            ));
            continue;
        };
        if asset == declared {
            declared_seen = true;
            let diff = abs_diff(out, intent.amount);
            if diff > tolerance(intent.amount, policy.simulation.outflow_tolerance_bps) {
                problems.push(format!(
                    "declared {} {asset} but the simulation sends {out}",
                    intent.amount
                ));
            }
        } else if out_atoms > 0 {
            problems.push(format!("undeclared outflow of {out} {asset}"));
        }
    }
    if !declared_seen
        && intent.amount > tolerance(intent.amount, policy.simulation.outflow_tolerance_bps)
    {
        problems.push(format!(
            "declared {} {declared} but the simulation sends none",
            intent.amount
        ));
    }
    if !problems.is_empty() {
        run.record(rule, Outcome::Deny, problems.join("; "));
    } else {
        run.record(
            rule,
            Outcome::Pass,
            "the simulated outflow matches the declared intent",
        );
    }
}

/// The USD value the caps apply to: the larger of the declared value and the value of
/// everything the transaction lets leave the agent — the simulated outflows (costs included) plus
/// every spending allowance it grants, valued at its full amount. `None`, with a denial recorded,
/// when any price that matters is missing or stale (`price.unavailable`) or an amount cannot be
/// valued exactly (`amount.out_of_range`, which includes unlimited allowances) — never valued at
/// zero, never clamped.
fn value_of(run: &mut Run, intent: &Intent, effects: &Effects, nets: &Nets) -> Option<Decimal> {
    let mut unpriced: Vec<String> = Vec::new();
    let mut out_of_range: Vec<String> = nets
        .overflowed
        .iter()
        .map(|a| format!("the net change of {a}"))
        .collect();
    let describe = |v: UsdValue| match v {
        UsdValue::Stale => "stale",
        _ => "missing",
    };
    let declared = match intent.declared_usd {
        UsdValue::Known(v) => v,
        UsdValue::OutOfRange => {
            out_of_range.push("the declared amount".to_owned());
            Decimal::ZERO
        }
        other if intent.amount > Decimal::ZERO => {
            let asset = intent
                .asset
                .as_ref()
                .map_or_else(|| "the declared asset".to_owned(), ToString::to_string);
            unpriced.push(format!(
                "{asset} (declared amount, price {})",
                describe(other)
            ));
            Decimal::ZERO
        }
        _ => Decimal::ZERO,
    };
    let mut simulated = Some(Decimal::ZERO);
    let add = |total: &mut Option<Decimal>, v: Option<Decimal>| {
        *total = total.zip(v).and_then(|(t, v)| t.checked_add(v));
    };
    for (asset, (net, decimals)) in &nets.by_asset {
        if *net >= 0 {
            continue;
        }
        let Some(units) = whole_units(net.unsigned_abs(), *decimals) else {
            out_of_range.push(format!("the outflow of {asset}"));
            continue;
        };
        match effects.price_of(asset) {
            UsdValue::Known(p) => add(&mut simulated, units.checked_mul(p)),
            other => unpriced.push(format!("{asset} (price {})", describe(other))),
        }
    }
    // A spending allowance lets its spender take the amount without another signature from the
    // agent: it is valued as if that amount left now.
    for d in &effects.delegations {
        if d.kind != DelegationKind::Spend {
            continue;
        }
        let asset = d
            .asset
            .as_ref()
            .map_or_else(|| "an unknown asset".to_owned(), ToString::to_string);
        let n = match d.amount {
            DelegationAmount::Unlimited => {
                out_of_range.push(format!(
                    "an unlimited allowance of {asset} to {}",
                    d.spender
                ));
                continue;
            }
            DelegationAmount::Limited(n) => n,
        };
        let (Some(id), Some(decimals)) = (&d.asset, d.decimals) else {
            unpriced.push(format!(
                "an allowance of {n} base units of {asset} (asset or decimals unknown)"
            ));
            continue;
        };
        let units = match n.to_whole(decimals) {
            Ok(u) => u,
            Err(_) => {
                out_of_range.push(format!(
                    "an allowance of {n} base units of {asset} to {}",
                    d.spender
                ));
                continue;
            }
        };
        match effects.price_of(id) {
            UsdValue::Known(p) => add(&mut simulated, units.checked_mul(p)),
            other => unpriced.push(format!("{asset} allowance (price {})", describe(other))),
        }
    }
    let Some(simulated) = simulated else {
        out_of_range.push("the sum of everything the transaction moves".to_owned());
        return deny_value(run, &out_of_range, &unpriced);
    };
    if !out_of_range.is_empty() || !unpriced.is_empty() {
        return deny_value(run, &out_of_range, &unpriced);
    }
    run.record(
        rules::AMOUNT_OUT_OF_RANGE,
        Outcome::Pass,
        "every amount is valued exactly",
    );
    run.record(
        rules::PRICE_UNAVAILABLE,
        Outcome::Pass,
        format!("valued at {declared} USD declared, {simulated} USD simulated"),
    );
    Some(declared.max(simulated))
}

/// Records why a transaction could not be valued; always `None`.
fn deny_value(run: &mut Run, out_of_range: &[String], unpriced: &[String]) -> Option<Decimal> {
    if !out_of_range.is_empty() {
        run.record(
            rules::AMOUNT_OUT_OF_RANGE,
            Outcome::Deny,
            format!(
                "cannot value {} exactly within the USD caps; refusing rather than clamping",
                out_of_range.join(", ")
            ),
        );
    }
    if !unpriced.is_empty() {
        run.record(
            rules::PRICE_UNAVAILABLE,
            Outcome::Deny,
            format!(
                "no usable USD price for {}; refusing rather than valuing at zero",
                unpriced.join(", ")
            ),
        );
    }
    None
}

/// `limits.per_tx_atoms`: for the transaction's chain, the base units of each capped asset that
/// leave the agent (net of what it receives, network cost aside) and every spending allowance
/// granted over it must stay within the cap. An allowance without a known asset, or unlimited,
/// over a chain with caps cannot be bounded and is refused.
fn check_asset_caps(
    run: &mut Run,
    policy: &PolicyDocument,
    chain: Chain,
    effects: &Effects,
    nets: &Nets,
) {
    let rule = rules::LIMITS_PER_TX_ATOMS;
    let caps: Vec<(&str, Atoms)> = policy
        .limits
        .per_tx_atoms
        .iter()
        .filter_map(|(k, cap)| match crate::document::parse_cap_key(k) {
            Ok((c, asset)) if c == chain => Some((asset, *cap)),
            _ => None,
        })
        .collect();
    if caps.is_empty() {
        run.record(rule, Outcome::Skipped, "no per-asset cap for this chain");
        return;
    }
    let key_of = |asset: &AssetId| -> String {
        if effects.native.as_ref() == Some(asset) {
            "native".to_owned()
        } else {
            asset.as_str().to_owned()
        }
    };
    let cap_of = |key: &str| {
        caps.iter()
            .find(|(a, _)| same_address(a, key))
            .map(|(_, c)| *c)
    };
    let cost_of = |asset: &AssetId| effects.network_cost_of(asset);
    let mut over: Vec<String> = Vec::new();
    for (asset, (net, _)) in &nets.by_asset {
        let key = key_of(asset);
        let Some(cap) = cap_of(&key) else { continue };
        let out = net
            .checked_neg()
            .and_then(|o| u128::try_from(o).ok())
            .unwrap_or(0);
        let out = Atoms::from(out.saturating_sub(cost_of(asset)));
        if out > cap {
            over.push(format!(
                "sends {out} base units of {key}, over the cap of {cap}"
            ));
        }
    }
    for asset in &nets.overflowed {
        if cap_of(&key_of(asset)).is_some() {
            over.push(format!("the outflow of {} cannot be summed", key_of(asset)));
        }
    }
    for d in effects
        .delegations
        .iter()
        .filter(|d| d.kind == DelegationKind::Spend)
    {
        let Some(asset) = &d.asset else {
            over.push(format!(
                "grants {} an allowance over an asset it does not name, which no per-asset cap can bound",
                d.spender
            ));
            continue;
        };
        let key = key_of(asset);
        let Some(cap) = cap_of(&key) else { continue };
        match d.amount {
            DelegationAmount::Limited(n) if n <= cap => {}
            DelegationAmount::Limited(n) => over.push(format!(
                "allows {} to take {n} base units of {key}, over the cap of {cap}",
                d.spender
            )),
            DelegationAmount::Unlimited => over.push(format!(
                "allows {} to take unlimited {key}, over the cap of {cap}",
                d.spender
            )),
        }
    }
    if over.is_empty() {
        run.record(
            rule,
            Outcome::Pass,
            "every capped asset is within its per-transaction cap",
        );
    } else {
        run.record(rule, Outcome::Deny, over.join("; "));
    }
}

fn check_per_tx(run: &mut Run, policy: &PolicyDocument, value: Option<Decimal>) {
    let cap = policy.limits.per_tx_usd;
    match value {
        None => run.record(rules::LIMITS_PER_TX_USD, Outcome::Skipped, "value unknown"),
        Some(v) if v > cap => run.record(
            rules::LIMITS_PER_TX_USD,
            Outcome::Deny,
            format!("{v} USD exceeds the per-transaction limit of {cap} USD"),
        ),
        Some(v) => run.record(
            rules::LIMITS_PER_TX_USD,
            Outcome::Pass,
            format!("{v} USD is within the per-transaction limit of {cap} USD"),
        ),
    }
}

fn check_daily(run: &mut Run, policy: &PolicyDocument, usage: &Usage, value: Option<Decimal>) {
    let cap = policy.limits.daily_usd;
    let spent = usage.spent_usd_24h;
    match value {
        None => run.record(rules::LIMITS_DAILY_USD, Outcome::Skipped, "value unknown"),
        Some(v) => {
            let total = spent.saturating_add(v);
            if total > cap {
                run.record(
                    rules::LIMITS_DAILY_USD,
                    Outcome::Deny,
                    format!(
                        "{spent} USD spent or reserved in the last 24 h plus {v} USD exceeds the daily limit of {cap} USD"
                    ),
                );
            } else {
                run.record(
                    rules::LIMITS_DAILY_USD,
                    Outcome::Pass,
                    format!("{total} USD of the daily limit of {cap} USD"),
                );
            }
        }
    }
}

fn check_velocity(run: &mut Run, policy: &PolicyDocument, usage: &Usage, action: Action) {
    let max = policy.limits.max_tx_per_hour;
    if action == Action::SignMessage {
        run.record(
            rules::LIMITS_MAX_TX_PER_HOUR,
            Outcome::Skipped,
            "a message is not a transaction",
        );
    } else if usage.tx_last_hour >= max {
        run.record(
            rules::LIMITS_MAX_TX_PER_HOUR,
            Outcome::Deny,
            format!(
                "{} transactions in the last hour; the limit is {max}",
                usage.tx_last_hour
            ),
        );
    } else {
        run.record(
            rules::LIMITS_MAX_TX_PER_HOUR,
            Outcome::Pass,
            format!(
                "transaction {} of {max} this hour",
                usage.tx_last_hour.saturating_add(1)
            ),
        );
    }
}

fn check_approvals(
    run: &mut Run,
    policy: &PolicyDocument,
    value: Option<Decimal>,
    human_approvals: u32,
) {
    let rule = rules::APPROVALS_ABOVE_USD;
    let Some(a) = &policy.approvals else {
        run.record(rule, Outcome::Skipped, "the policy has no approval rule");
        return;
    };
    match value {
        None => run.record(rule, Outcome::Skipped, "value unknown"),
        Some(v) if v > a.above_usd => {
            if human_approvals >= a.quorum {
                run.record(
                    rule,
                    Outcome::Pass,
                    format!(
                        "{v} USD is above {} USD and {human_approvals} of {} approvals are given",
                        a.above_usd, a.quorum
                    ),
                );
            } else {
                run.quorum = Some(a.quorum);
                run.record(
                    rule,
                    Outcome::RequireApproval,
                    format!(
                        "{v} USD is above {} USD: {} human approval(s) needed",
                        a.above_usd, a.quorum
                    ),
                );
            }
        }
        Some(v) => run.record(
            rule,
            Outcome::Pass,
            format!("{v} USD is not above {} USD", a.above_usd),
        ),
    }
}
