//! What a change from one policy document to another loosens. A signer applies a change that
//! only tightens on one owner signature, at once; anything that loosens needs the wallet's quorum
//! and its delay. This is the one place that decides which is which, so it errs on the side of
//! "loosens": a field it cannot order (the format version) counts as loosening.
use crate::document::{PolicyDocument, RecipientMode};
use crate::engine::{listed as contains, same_address as same};

/// Every field of `new` that allows something `old` did not, as dotted paths with what changed
/// (`"limits.per_tx_usd: 25 → 2500"`). Empty when `new` is at least as strict as `old` in every
/// rule.
pub fn loosenings(old: &PolicyDocument, new: &PolicyDocument) -> Vec<String> {
    let mut out = Vec::new();
    let mut more = |field: &str, what: String| out.push(format!("{field}: {what}"));
    if new.version != old.version {
        more(
            "version",
            format!("{} → {} (cannot be ordered)", old.version, new.version),
        );
    }
    if new.session_expiration_hours > old.session_expiration_hours {
        more(
            "session_expiration_hours",
            format!(
                "{} → {}",
                old.session_expiration_hours, new.session_expiration_hours
            ),
        );
    }
    let (a, b) = (&old.actions, &new.actions);
    for (name, was, now) in [
        ("transfer", a.transfer, b.transfer),
        ("trade", a.trade, b.trade),
        ("liquidity", a.liquidity, b.liquidity),
        ("prediction", a.prediction, b.prediction),
        ("sign", a.sign, b.sign),
        ("sign_message", a.sign_message, b.sign_message),
        ("sign_raw_hash", a.sign_raw_hash, b.sign_raw_hash),
    ] {
        if now && !was {
            more(&format!("actions.{name}"), "turned on".into());
        }
    }
    for c in &new.chains {
        if !old.chains.contains(c) {
            more("chains", format!("adds {c}"));
        }
    }
    let (a, b) = (&old.limits, &new.limits);
    if b.per_tx_usd > a.per_tx_usd {
        more(
            "limits.per_tx_usd",
            format!("{} → {}", a.per_tx_usd, b.per_tx_usd),
        );
    }
    if b.daily_usd > a.daily_usd {
        more(
            "limits.daily_usd",
            format!("{} → {}", a.daily_usd, b.daily_usd),
        );
    }
    if b.max_tx_per_hour > a.max_tx_per_hour {
        more(
            "limits.max_tx_per_hour",
            format!("{} → {}", a.max_tx_per_hour, b.max_tx_per_hour),
        );
    }
    let (a, b) = (&old.recipients, &new.recipients);
    match (a.mode, b.mode) {
        (RecipientMode::Allowlist, RecipientMode::Any) => {
            more("recipients.mode", "allowlist → any".into());
        }
        (RecipientMode::Allowlist, RecipientMode::Allowlist) => {
            for r in added(&a.allow, &b.allow) {
                more("recipients.allow", format!("adds {r}"));
            }
        }
        _ => {}
    }
    for r in added(&b.deny, &a.deny) {
        more("recipients.deny", format!("removes {r}"));
    }
    match (&old.approvals, &new.approvals) {
        (Some(_), None) => more("approvals", "removed".into()),
        (Some(a), Some(b)) => {
            if b.above_usd > a.above_usd {
                more(
                    "approvals.above_usd",
                    format!("{} → {}", a.above_usd, b.above_usd),
                );
            }
            if b.quorum < a.quorum {
                more("approvals.quorum", format!("{} → {}", a.quorum, b.quorum));
            }
        }
        _ => {}
    }
    for p in added(&old.programs.allow, &new.programs.allow) {
        more("programs.allow", format!("adds {p}"));
    }
    for (contract, selectors) in &new.programs.methods {
        if contains(&old.programs.allow, contract) {
            continue; // every method was already allowed
        }
        let before = old
            .programs
            .methods
            .iter()
            .find(|(c, _)| same(c, contract))
            .map_or(&[][..], |(_, s)| s.as_slice());
        for s in added(before, selectors) {
            more(&format!("programs.methods.{contract}"), format!("adds {s}"));
        }
    }
    for s in added(&old.spenders.allow, &new.spenders.allow) {
        more("spenders.allow", format!("adds {s}"));
    }
    if new.simulation.outflow_tolerance_bps > old.simulation.outflow_tolerance_bps {
        more(
            "simulation.outflow_tolerance_bps",
            format!(
                "{} → {}",
                old.simulation.outflow_tolerance_bps, new.simulation.outflow_tolerance_bps
            ),
        );
    }
    if new.typed_data.allow_missing_chain_id && !old.typed_data.allow_missing_chain_id {
        more("typed_data.allow_missing_chain_id", "turned on".into());
    }
    let (a, b) = (&old.payments, &new.payments);
    for d in added(&a.domains, &b.domains) {
        more("payments.domains", format!("adds {d}"));
    }
    if b.max_per_payment_usd > a.max_per_payment_usd {
        more(
            "payments.max_per_payment_usd",
            format!("{} → {}", a.max_per_payment_usd, b.max_per_payment_usd),
        );
    }
    match (a.daily_usd_per_domain, b.daily_usd_per_domain) {
        (Some(was), None) => more("payments.daily_usd_per_domain", format!("{was} → unset")),
        (Some(was), Some(now)) if now > was => {
            more("payments.daily_usd_per_domain", format!("{was} → {now}"))
        }
        _ => {}
    }
    if b.max_validity_seconds > a.max_validity_seconds {
        more(
            "payments.max_validity_seconds",
            format!("{} → {}", a.max_validity_seconds, b.max_validity_seconds),
        );
    }
    let (a, b) = (&old.liquidity, &new.liquidity);
    for p in added(&a.pools, &b.pools) {
        more("liquidity.pools", format!("adds {p}"));
    }
    if b.max_usd_per_tx > a.max_usd_per_tx {
        more(
            "liquidity.max_usd_per_tx",
            format!("{} → {}", a.max_usd_per_tx, b.max_usd_per_tx),
        );
    }
    match (a.daily_usd, b.daily_usd) {
        (Some(was), None) => more("liquidity.daily_usd", format!("{was} → unset")),
        (Some(was), Some(now)) if now > was => {
            more("liquidity.daily_usd", format!("{was} → {now}"))
        }
        _ => {}
    }
    let (a, b) = (&old.prediction, &new.prediction);
    for m in added(&a.markets, &b.markets) {
        more("prediction.markets", format!("adds {m}"));
    }
    if b.max_contracts > a.max_contracts {
        more(
            "prediction.max_contracts",
            format!("{} → {}", a.max_contracts, b.max_contracts),
        );
    }
    if b.max_usd_per_order > a.max_usd_per_order {
        more(
            "prediction.max_usd_per_order",
            format!("{} → {}", a.max_usd_per_order, b.max_usd_per_order),
        );
    }
    match (a.daily_usd, b.daily_usd) {
        (Some(was), None) => more("prediction.daily_usd", format!("{was} → unset")),
        (Some(was), Some(now)) if now > was => {
            more("prediction.daily_usd", format!("{was} → {now}"))
        }
        _ => {}
    }
    if b.kalshi_key_id.is_some() && b.kalshi_key_id != a.kalshi_key_id {
        more(
            "prediction.kalshi_key_id",
            "names another Kalshi API key".to_string(),
        );
    }
    if new.trading.max_slippage_bps > old.trading.max_slippage_bps {
        more(
            "trading.max_slippage_bps",
            format!(
                "{} → {}",
                old.trading.max_slippage_bps, new.trading.max_slippage_bps
            ),
        );
    }
    out
}

/// Entries of `new` that `old` does not hold.
fn added<'a>(old: &[String], new: &'a [String]) -> impl Iterator<Item = &'a String> {
    let old = old.to_vec();
    new.iter().filter(move |n| !contains(&old, n))
}

/// Every field that differs between `old` and `new`, loosening or not, as dotted paths with
/// both values (`"limits.per_tx_usd: \"25\" → \"10\""`), in document order: what an owner is
/// shown before signing. Lists are compared whole.
pub fn changes(old: &PolicyDocument, new: &PolicyDocument) -> Vec<String> {
    fn walk(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
        use serde_json::Value::Object;
        match (a, b) {
            (Object(x), Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                let null = serde_json::Value::Null;
                for k in keys {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(
                        &p,
                        x.get(k).unwrap_or(&null),
                        y.get(k).unwrap_or(&null),
                        out,
                    );
                }
            }
            _ if a != b => out.push(format!("{path}: {a} → {b}")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    match (serde_json::to_value(old), serde_json::to_value(new)) {
        (Ok(a), Ok(b)) => walk("", &a, &b, &mut out),
        // A document always serializes; should it not, say so rather than claim no change.
        _ => out.push("(the documents could not be compared)".into()),
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::document::Approvals;
    use custos_core::{Chain, Decimal};

    fn base() -> PolicyDocument {
        let mut p = PolicyDocument::default();
        p.recipients.mode = RecipientMode::Allowlist;
        p.recipients.allow = vec!["A".into()];
        p.recipients.deny = vec!["D".into()];
        p.approvals = Some(Approvals {
            above_usd: Decimal::from_atoms(10u128.pow(19)),
            quorum: 2,
        });
        p.payments.daily_usd_per_domain = Some(Decimal::from_atoms(10u128.pow(18)));
        p.liquidity.daily_usd = Some(Decimal::from_atoms(10u128.pow(18)));
        p.prediction.daily_usd = Some(Decimal::from_atoms(10u128.pow(18)));
        p
    }

    #[test]
    fn the_same_document_loosens_nothing_and_tightening_is_not_loosening() {
        let old = base();
        assert!(loosenings(&old, &old).is_empty());
        let mut new = old.clone();
        new.limits.per_tx_usd = Decimal::from_atoms(1);
        new.actions.transfer = false;
        new.recipients.allow.clear();
        new.recipients.deny.push("E".into());
        new.chains.clear();
        new.approvals.as_mut().unwrap().quorum = 3;
        assert!(loosenings(&old, &new).is_empty());
    }

    #[test]
    fn each_loosening_is_named() {
        let old = base();
        type Edit = Box<dyn Fn(&mut PolicyDocument)>;
        let cases: Vec<(&str, Edit)> = vec![
            (
                "limits.per_tx_usd",
                Box::new(|p| p.limits.per_tx_usd = Decimal::from_atoms(10u128.pow(30))),
            ),
            (
                "limits.daily_usd",
                Box::new(|p| p.limits.daily_usd = Decimal::from_atoms(10u128.pow(30))),
            ),
            (
                "limits.max_tx_per_hour",
                Box::new(|p| p.limits.max_tx_per_hour += 1),
            ),
            ("actions.trade", Box::new(|p| p.actions.trade = true)),
            ("chains", Box::new(|p| p.chains.push(Chain::Evm(1)))),
            (
                "recipients.mode",
                Box::new(|p| p.recipients.mode = RecipientMode::Any),
            ),
            (
                "recipients.allow",
                Box::new(|p| p.recipients.allow.push("B".into())),
            ),
            ("recipients.deny", Box::new(|p| p.recipients.deny.clear())),
            ("approvals", Box::new(|p| p.approvals = None)),
            (
                "approvals.quorum",
                Box::new(|p| p.approvals.as_mut().unwrap().quorum = 1),
            ),
            (
                "programs.allow",
                Box::new(|p| p.programs.allow.push("P".into())),
            ),
            (
                "spenders.allow",
                Box::new(|p| p.spenders.allow.push("S".into())),
            ),
            (
                "simulation.outflow_tolerance_bps",
                Box::new(|p| p.simulation.outflow_tolerance_bps = 5),
            ),
            (
                "typed_data.allow_missing_chain_id",
                Box::new(|p| p.typed_data.allow_missing_chain_id = true),
            ),
            (
                "payments.domains",
                Box::new(|p| p.payments.domains.push("pay.example".into())),
            ),
            (
                "payments.max_per_payment_usd",
                Box::new(|p| p.payments.max_per_payment_usd = Decimal::from_atoms(1)),
            ),
            (
                "trading.max_slippage_bps",
                Box::new(|p| p.trading.max_slippage_bps += 1),
            ),
            (
                "liquidity.pools",
                Box::new(|p| p.liquidity.pools.push("pool".into())),
            ),
            (
                "liquidity.max_usd_per_tx",
                Box::new(|p| p.liquidity.max_usd_per_tx = Decimal::from_atoms(1)),
            ),
            (
                "liquidity.daily_usd",
                Box::new(|p| p.liquidity.daily_usd = None),
            ),
            (
                "payments.max_validity_seconds",
                Box::new(|p| p.payments.max_validity_seconds += 1),
            ),
            (
                "prediction.markets",
                Box::new(|p| p.prediction.markets.push("KXFED".into())),
            ),
            (
                "prediction.max_contracts",
                Box::new(|p| p.prediction.max_contracts = 1),
            ),
            (
                "prediction.max_usd_per_order",
                Box::new(|p| p.prediction.max_usd_per_order = Decimal::from_atoms(1)),
            ),
            (
                "prediction.daily_usd",
                Box::new(|p| p.prediction.daily_usd = None),
            ),
            (
                "prediction.kalshi_key_id",
                Box::new(|p| p.prediction.kalshi_key_id = Some("k-1".into())),
            ),
            (
                "payments.daily_usd_per_domain",
                Box::new(|p| p.payments.daily_usd_per_domain = None),
            ),
            (
                "session_expiration_hours",
                Box::new(|p| p.session_expiration_hours += 1),
            ),
            (
                "programs.methods.0xabc",
                Box::new(|p| {
                    p.programs
                        .methods
                        .insert("0xabc".into(), vec!["0x12345678".into()]);
                }),
            ),
        ];
        for (field, change) in cases {
            let mut new = old.clone();
            change(&mut new);
            let l = loosenings(&old, &new);
            assert_eq!(l.len(), 1, "{field}: {l:?}");
            assert!(l[0].starts_with(field), "{field}: {l:?}");
        }
    }

    #[test]
    fn addresses_compare_like_the_engine() {
        let mut old = base();
        old.spenders.allow = vec!["0xAbCd".into()];
        let mut new = old.clone();
        new.spenders.allow = vec!["0xabcd".into()];
        assert!(loosenings(&old, &new).is_empty());
    }

    #[test]
    fn changes_lists_every_differing_field_tightening_or_not() {
        let old = PolicyDocument::default();
        let mut new = old.clone();
        assert!(changes(&old, &new).is_empty());
        new.limits.max_tx_per_hour = 5;
        new.actions.trade = true;
        let c = changes(&old, &new);
        assert_eq!(c.len(), 2, "{c:?}");
        assert!(
            c.iter().any(|l| l == "actions.trade: false → true"),
            "{c:?}"
        );
        assert!(
            c.iter().any(|l| l == "limits.max_tx_per_hour: 20 → 5"),
            "{c:?}"
        );
        // Only turning trade on loosens.
        assert_eq!(loosenings(&old, &new).len(), 1);
    }
}
