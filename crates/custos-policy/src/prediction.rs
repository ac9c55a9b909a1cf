//! Rules for `prediction` (Kalshi): which markets the agent may trade, how many contracts and how
//! many USD one order may risk, and how many USD a day — and the one check both the API server
//! and the custody boundary run on a Kalshi request before it is signed ([`check_request`]).
//!
//! An order's cost is known without an oracle: a contract costs its limit price in cents and
//! pays $1 or nothing, so `count × price` is the most the order can spend.
use crate::decision::{Approved, DecisionKind, Explanation, Outcome, Reason, RuleOutcome};
use crate::document::PolicyDocument;
use custos_core::prediction::{market_matches, KalshiKind, KalshiOrder, KalshiRequest};
use custos_core::{Action, Decimal};
use serde::{Deserialize, Serialize};

/// `actions.prediction` is off.
pub const ACTION: &str = "actions.prediction";
/// The market is not covered by `prediction.markets`.
pub const MARKETS: &str = "prediction.markets";
/// More contracts than `prediction.max_contracts`.
pub const MAX_CONTRACTS: &str = "prediction.max_contracts";
/// The order may cost more than `prediction.max_usd_per_order`.
pub const MAX_USD_PER_ORDER: &str = "prediction.max_usd_per_order";
/// Orders in a rolling 24 h would exceed `prediction.daily_usd`.
pub const DAILY_USD: &str = "prediction.daily_usd";
/// A request the boundary does not sign for (not an order, a cancellation or a portfolio read).
pub const REQUEST: &str = "prediction.request";

/// Rules for `prediction`, beyond the `actions.prediction` toggle. Nothing is allowed by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictionRules {
    /// Markets the agent may buy contracts in: a market ticker (`KXFED-26DEC-T4.00`), or an
    /// event (`KXFED-26DEC`) or series (`KXFED`) ticker covering every market under it. Empty:
    /// none.
    #[serde(default)]
    pub markets: Vec<String>,
    /// The most contracts one order may buy.
    #[serde(default)]
    pub max_contracts: u32,
    /// The most one order may cost, USD (`count × limit price`).
    #[serde(default)]
    pub max_usd_per_order: Decimal,
    /// The most the agent's orders may cost in a rolling 24 hours, USD — counted in the same
    /// budget ledger as `limits.daily_usd`, which still bounds everything together. Unset: only
    /// that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_usd: Option<Decimal>,
    /// The Kalshi API key id under which the owner registered the agent's boundary-held public
    /// key (sent as `KALSHI-ACCESS-KEY`). Unset: the agent cannot reach Kalshi.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kalshi_key_id: Option<String>,
}

impl PredictionRules {
    /// True when nothing is set, so the section is left out of serialized documents.
    pub fn is_default(&self) -> bool {
        self == &Self::default()
    }

    /// The range rules serde cannot express: `(field, message)` of the first one broken.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.markets.len() > 1_000 {
            return Err(("prediction.markets".into(), "at most 1000 entries".into()));
        }
        for (i, m) in self.markets.iter().enumerate() {
            let ok = !m.is_empty()
                && m.len() <= 100
                && m.bytes().all(|b| {
                    b.is_ascii_uppercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'_')
                });
            if !ok {
                return Err((
                    format!("prediction.markets[{i}]"),
                    "a Kalshi market, event or series ticker (upper-case letters, digits, '-', '.', '_')".into(),
                ));
            }
        }
        if self.max_contracts > 1_000_000 {
            return Err(("prediction.max_contracts".into(), "at most 1000000".into()));
        }
        if let Some(d) = self.daily_usd {
            if d < self.max_usd_per_order {
                return Err((
                    "prediction.daily_usd".into(),
                    "must not be below prediction.max_usd_per_order".into(),
                ));
            }
        }
        if let Some(k) = &self.kalshi_key_id {
            let ok = !k.is_empty()
                && k.len() <= 100
                && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !ok {
                return Err((
                    "prediction.kalshi_key_id".into(),
                    "a Kalshi API key id (letters, digits and '-')".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Every rule on a new order, in order: the toggle, the market allowlist, the contract and
/// per-order USD caps, `limits.per_tx_usd`, and `approvals.above_usd` (an order that would need
/// a human is refused: orders are not parked, the book moves meanwhile). With the order's
/// maximum cost.
fn steps(policy: &PolicyDocument, order: &KalshiOrder) -> (Decimal, Vec<RuleOutcome>) {
    let rules = &policy.prediction;
    let cost = order.max_cost_usd();
    let mut out = Vec::new();
    let mut rule = |name: &str, ok: bool, pass: String, deny: String| {
        out.push(RuleOutcome {
            rule: name.into(),
            outcome: if ok { Outcome::Pass } else { Outcome::Deny },
            message: if ok { pass } else { deny },
        });
    };
    rule(
        ACTION,
        policy.actions.prediction,
        "prediction markets are on".into(),
        "prediction markets are off for this agent".into(),
    );
    rule(
        MARKETS,
        rules
            .markets
            .iter()
            .any(|m| market_matches(m, &order.ticker)),
        format!("{} is covered by prediction.markets", order.ticker),
        format!(
            "{} is not a market this agent may trade (prediction.markets)",
            order.ticker
        ),
    );
    rule(
        MAX_CONTRACTS,
        order.count <= rules.max_contracts,
        format!("{} contracts, at most {}", order.count, rules.max_contracts),
        format!(
            "{} contracts is more than the {} one order may buy",
            order.count, rules.max_contracts
        ),
    );
    rule(
        MAX_USD_PER_ORDER,
        cost <= rules.max_usd_per_order,
        format!("may cost {cost} USD, at most {}", rules.max_usd_per_order),
        format!(
            "the order may cost {cost} USD, more than the {} USD one order may",
            rules.max_usd_per_order
        ),
    );
    rule(
        crate::rules::LIMITS_PER_TX_USD,
        cost <= policy.limits.per_tx_usd,
        format!("{cost} USD, at most {}", policy.limits.per_tx_usd),
        format!(
            "the order may cost {cost} USD, more than the per-transaction cap of {} USD",
            policy.limits.per_tx_usd
        ),
    );
    if let Some(a) = &policy.approvals {
        rule(
            crate::rules::APPROVALS_ABOVE_USD,
            cost <= a.above_usd,
            format!("{cost} USD needs no approval (above {} USD would)", a.above_usd),
            format!(
                "the order may cost {cost} USD, above {} USD, which needs human approval; prediction orders are not parked for approval (the book moves meanwhile): send a smaller order",
                a.above_usd
            ),
        );
    }
    (cost, out)
}

/// Judges a new order (see [`steps`]). Every rule that refuses is named. On success, the
/// order's maximum cost.
pub fn check_order(policy: &PolicyDocument, order: &KalshiOrder) -> Result<Decimal, Vec<Reason>> {
    let (cost, steps) = steps(policy, order);
    let reasons: Vec<Reason> = steps
        .into_iter()
        .filter(|s| s.outcome == Outcome::Deny)
        .map(|s| Reason::new(s.rule, s.message))
        .collect();
    if reasons.is_empty() {
        Ok(cost)
    } else {
        Err(reasons)
    }
}

/// The dry run of a new order: each rule of [`check_order`] and the decision. (The rolling caps
/// are checked when the order's cost is reserved.)
pub fn explain_order(policy: &PolicyDocument, order: &KalshiOrder) -> Explanation {
    let (cost, rules) = steps(policy, order);
    let denied = rules.iter().any(|r| r.outcome == Outcome::Deny);
    Explanation {
        decision: if denied {
            DecisionKind::Deny
        } else {
            DecisionKind::Allow
        },
        quorum: None,
        usd_value: Some(cost),
        rules,
    }
}

/// What the custody boundary (and the server, before it asks) checks of a Kalshi request: it
/// must be an order, a cancellation or a portfolio read; an order must pass [`check_order`];
/// the others need `actions.prediction`.
pub fn check_request(policy: &PolicyDocument, request: &KalshiRequest) -> Result<(), Vec<Reason>> {
    match request.kind() {
        Err(e) => Err(vec![Reason::new(REQUEST, e.0)]),
        Ok(KalshiKind::PlaceOrder(order)) => check_order(policy, order).map(|_| ()),
        Ok(KalshiKind::CancelOrder | KalshiKind::Read) => {
            if policy.actions.prediction {
                Ok(())
            } else {
                Err(vec![Reason::new(
                    crate::rules::action(Action::Prediction),
                    "prediction markets are off for this agent",
                )])
            }
        }
    }
}

/// [`check_request`], answering with the proof the check ran: the only value the server's
/// boundary handle signs a Kalshi request for.
pub fn approve(
    policy: &PolicyDocument,
    request: KalshiRequest,
) -> Result<Approved<KalshiRequest>, Vec<Reason>> {
    check_request(policy, &request)?;
    Ok(Approved::new(request))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use custos_core::prediction::{KalshiMethod, OutcomeSide};
    use proptest::prelude::*;
    use serde_json::json;

    fn policy() -> PolicyDocument {
        PolicyDocument::from_json_over(
            &json!({"actions": {"prediction": true},
                    "prediction": {"markets": ["KXFED", "INXD-26DEC31-B6000"], "max_contracts": 50,
                                   "max_usd_per_order": "20", "daily_usd": "50"}}),
            &PolicyDocument::default(),
        )
        .unwrap()
    }

    fn order(ticker: &str, count: u32, price_cents: u32) -> KalshiOrder {
        KalshiOrder {
            ticker: ticker.into(),
            side: OutcomeSide::Yes,
            count,
            price_cents,
            client_order_id: "c".into(),
        }
    }

    fn rules(r: Result<impl std::fmt::Debug, Vec<Reason>>) -> Vec<String> {
        r.unwrap_err().into_iter().map(|r| r.rule).collect()
    }

    #[test]
    fn an_order_inside_every_cap_is_allowed_at_its_cost() {
        let cost = check_order(&policy(), &order("KXFED-26DEC-T4.00", 40, 50)).unwrap();
        assert_eq!(cost, "20".parse().unwrap());
    }

    #[test]
    fn each_cap_names_itself() {
        let p = policy();
        assert_eq!(
            rules(check_order(&p, &order("KXBTC-26DEC-B1", 1, 5))),
            [MARKETS]
        );
        assert_eq!(
            rules(check_order(&p, &order("KXFED-X", 51, 1))),
            [MAX_CONTRACTS]
        );
        assert_eq!(
            rules(check_order(&p, &order("KXFED-X", 41, 50))),
            [MAX_USD_PER_ORDER]
        );
        let mut off = p.clone();
        off.actions.prediction = false;
        assert_eq!(rules(check_order(&off, &order("KXFED-X", 1, 1))), [ACTION]);
        let mut tight = p.clone();
        tight.limits.per_tx_usd = "1".parse().unwrap();
        assert_eq!(
            rules(check_order(&tight, &order("KXFED-X", 10, 50))),
            [crate::rules::LIMITS_PER_TX_USD]
        );
        assert!(PolicyDocument::default().prediction.markets.is_empty());
        assert_eq!(
            rules(check_order(
                &PolicyDocument::default(),
                &order("KXFED-X", 1, 1)
            ))
            .len(),
            4
        );
    }

    #[test]
    fn an_order_needing_approval_is_refused_and_the_dry_run_lists_every_rule() {
        let mut p = policy();
        p.approvals = Some(crate::Approvals {
            above_usd: "2".parse().unwrap(),
            quorum: 1,
        });
        let o = order("KXFED-X", 10, 30);
        assert_eq!(rules(check_order(&p, &o)), ["approvals.above_usd"]);
        let e = explain_order(&p, &o);
        assert_eq!(e.decision, DecisionKind::Deny);
        assert_eq!(e.usd_value, Some("3".parse().unwrap()));
        assert_eq!(e.rules.len(), 6);
        assert_eq!(explain_order(&policy(), &o).decision, DecisionKind::Allow);
    }

    #[test]
    fn requests_other_than_orders_need_the_toggle_and_a_known_path() {
        let p = policy();
        let r = |method, path: &str| KalshiRequest {
            timestamp_ms: 1,
            method,
            path: path.into(),
            order: None,
        };
        assert!(
            check_request(&p, &r(KalshiMethod::Get, "/trade-api/v2/portfolio/balance")).is_ok()
        );
        assert!(check_request(
            &p,
            &r(KalshiMethod::Delete, "/trade-api/v2/portfolio/orders/o-1")
        )
        .is_ok());
        assert_eq!(
            rules(check_request(
                &p,
                &r(KalshiMethod::Post, "/trade-api/v2/api_keys")
            )),
            [REQUEST]
        );
        let mut off = p;
        off.actions.prediction = false;
        assert_eq!(
            rules(check_request(
                &off,
                &r(KalshiMethod::Get, "/trade-api/v2/portfolio/balance")
            )),
            ["actions.prediction"]
        );
    }

    #[test]
    fn bad_rules_name_their_field() {
        let bad = |v: serde_json::Value| {
            PolicyDocument::from_json_over(&json!({"prediction": v}), &PolicyDocument::default())
                .unwrap_err()
                .field
        };
        assert_eq!(bad(json!({"markets": ["kxfed"]})), "prediction.markets[0]");
        assert_eq!(
            bad(json!({"max_usd_per_order": "10", "daily_usd": "5"})),
            "prediction.daily_usd"
        );
        assert_eq!(
            bad(json!({"kalshi_key_id": "a b"})),
            "prediction.kalshi_key_id"
        );
        assert_eq!(
            bad(json!({"max_contracts": 2_000_000})),
            "prediction.max_contracts"
        );
    }

    proptest! {
        /// Whatever the order, an allowed one is on a listed market and inside both caps.
        #[test]
        fn an_allowed_order_never_exceeds_a_cap(count in 0u32..200, price in 1u32..100, series in 0usize..3) {
            let ticker = ["KXFED-26DEC-T4.00", "INXD-26DEC31-B6000", "KXBTC-1"][series];
            let o = order(ticker, count, price);
            if let Ok(cost) = check_order(&policy(), &o) {
                prop_assert!(series < 2);
                prop_assert!(count <= 50);
                prop_assert!(cost <= "20".parse().unwrap());
                prop_assert_eq!(cost.atoms(), u128::from(count * price) * 10u128.pow(16));
            }
        }
    }
}
