//! What the engine answers: a decision, the reasons behind it, and — for an allowed action — an
//! [`Approved`] value that only this crate can construct, so code that demands one cannot be
//! reached without going through the policy.
use custos_core::{Decimal, Effects, Intent, PayloadDigest};
use serde::{Deserialize, Serialize};

/// Why a rule denied or asked for approval.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reason {
    /// The rule's stable name (see [`crate::rules`]), e.g. `limits.per_tx_usd`.
    pub rule: String,
    /// A human-readable explanation with the figures involved.
    pub message: String,
}

impl Reason {
    pub(crate) fn new(rule: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            rule: rule.into(),
            message: message.into(),
        }
    }
}

/// Proof that the policy allowed `T`. The field is private and there is no public constructor,
/// no `Clone` and no `Deserialize`: outside this crate an `Approved` can only be obtained from
/// [`crate::evaluate`] (or its variants) returning [`Decision::Allow`].
#[derive(Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Approved<T>(T);

impl<T> Approved<T> {
    pub(crate) fn new(inner: T) -> Self {
        Self(inner)
    }

    /// What was approved.
    pub fn get(&self) -> &T {
        &self.0
    }

    /// Gives up the proof and returns what was approved.
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// What an allowed decision approves: the exact intent and effects judged, and their USD value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Allowance {
    /// The intent judged.
    pub intent: Intent,
    /// The effects judged.
    pub effects: Effects,
    /// The USD value the caps were checked against (the larger of declared and simulated
    /// outflow); this is what the budget ledger reserves.
    pub usd_value: Decimal,
    /// Human approvals counted towards the approval rule (0 when it did not apply).
    pub human_approvals: u32,
    /// The bytes the intent and effects were derived from, when the decision was asked about
    /// bytes ([`crate::evaluate_payload`]). The server's handle on the custody boundary signs
    /// only a payload with this digest; a decision without one (a plain [`crate::evaluate`])
    /// signs nothing.
    pub payload: Option<PayloadDigest>,
}

/// The policy's answer.
#[derive(Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Every rule passed. (Boxed: it carries the judged intent and effects.)
    Allow(Box<Approved<Allowance>>),
    /// At least one rule denied; all denying rules are listed, in evaluation order.
    Deny {
        /// The denying rules.
        reasons: Vec<Reason>,
    },
    /// Nothing denied, but the value needs `quorum` human approvals.
    RequireApproval {
        /// Approvers needed.
        quorum: u32,
        /// The rules that asked for approval.
        reasons: Vec<Reason>,
    },
}

impl Decision {
    /// True for [`Decision::Allow`].
    pub fn is_allow(&self) -> bool {
        matches!(self, Self::Allow(_))
    }

    /// The reasons of a denial or approval request; empty for an allow.
    pub fn reasons(&self) -> &[Reason] {
        match self {
            Self::Allow(_) => &[],
            Self::Deny { reasons } | Self::RequireApproval { reasons, .. } => reasons,
        }
    }
}

/// How one rule came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The rule was checked and passed.
    Pass,
    /// The rule denied.
    Deny,
    /// The rule asks for human approval.
    RequireApproval,
    /// The rule could not be checked (e.g. a cap when the value is unknown, which another rule
    /// already denies) or does not apply to this action.
    Skipped,
}

/// One line of a dry-run explanation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleOutcome {
    /// The rule's stable name.
    pub rule: String,
    /// How it came out.
    pub outcome: Outcome,
    /// Why, with the figures involved.
    pub message: String,
}

/// A dry run: every rule evaluated, in order, and the decision they add up to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    /// `allow`, `deny` or `require_approval`.
    pub decision: DecisionKind,
    /// Approvers needed, for `require_approval`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quorum: Option<u32>,
    /// The USD value judged, when it could be computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usd_value: Option<Decimal>,
    /// Each rule in evaluation order.
    pub rules: Vec<RuleOutcome>,
}

/// The kind of a [`Decision`], without its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// Allowed.
    Allow,
    /// Denied.
    Deny,
    /// Needs human approval.
    RequireApproval,
}
