//! Custos policy: the per-agent policy document and its pure, deterministic evaluation. The same
//! crate runs in the API server and inside every custody boundary.
//!
//! [`evaluate`] judges an [`Intent`](custos_core::Intent) together with its simulated
//! [`Effects`](custos_core::Effects) and the agent's [`Usage`](custos_core::Usage), and answers
//! `Allow` (carrying an [`Approved`] value only this crate can make), `Deny` with every reason,
//! or `RequireApproval`. Anything the policy does not allow is denied; a missing or stale price
//! is a denial, never a zero value. [`explain`] is the dry run.
//!
//! It deliberately performs no I/O, reads no clock, and never sees key material: prices, usage
//! and effects are inputs, gathered by the caller.
#![forbid(unsafe_code)]

pub mod change;
pub mod decision;
pub mod document;
pub mod engine;
pub mod prediction;
pub mod rules;

pub use change::{changes, loosenings};
pub use decision::{
    Allowance, Approved, Decision, DecisionKind, Explanation, Outcome, Reason, RuleOutcome,
};
pub use document::{
    ActionToggles, Approvals, Limits, Payments, PolicyDocument, PolicyError, Programs,
    RecipientMode, Recipients, SimulationRules, Spenders, TypedDataRules,
};
pub use engine::{
    check_stateless, evaluate, evaluate_payload, evaluate_with_approvals, explain, precheck,
    programs_outside_allowlist,
};
pub use prediction::PredictionRules;
