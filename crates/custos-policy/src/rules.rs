//! The stable names of the policy's rules, as they appear in `Reason::rule` and in dry-run
//! explanations, and the programs every Solana transaction may use without being listed.

/// The agent is frozen by an operator.
pub const FROZEN: &str = "frozen";
/// The action's toggle (`actions.transfer`, `actions.sign_message`, …); see [`action`].
pub const ACTIONS_PREFIX: &str = "actions.";
/// The chain is not in `chains`.
pub const CHAINS: &str = "chains";
/// A recipient is on `recipients.deny`.
pub const RECIPIENTS_DENY: &str = "recipients.deny";
/// In allowlist mode, a recipient is not on `recipients.allow`.
pub const RECIPIENTS_ALLOW: &str = "recipients.allow";
/// A program or contract outside the allowlist runs.
pub const PROGRAMS_ALLOW: &str = "programs.allow";
/// A contract listed under `programs.methods` is called with a selector not listed for it.
pub const PROGRAMS_METHODS: &str = "programs.methods";
/// The simulated outflow does not match the declared intent.
pub const SIMULATION_OUTFLOW_MISMATCH: &str = "simulation.outflow_mismatch";
/// The transaction grants an approval, delegation or authority to a spender not allowed.
pub const SIMULATION_UNEXPECTED_APPROVAL: &str = "simulation.unexpected_approval";
/// A price needed to value the transaction is missing or stale.
pub const PRICE_UNAVAILABLE: &str = "price.unavailable";
/// An amount (an outflow, an allowance, a declared value) cannot be valued exactly: it is beyond
/// what Custos represents, or it is an unlimited allowance, which no USD cap can bound.
pub const AMOUNT_OUT_OF_RANGE: &str = "amount.out_of_range";
/// An EIP-712 domain without `chainId`, which the policy does not opt into.
pub const TYPED_DATA_MISSING_CHAIN_ID: &str = "typed_data.allow_missing_chain_id";
/// The transaction's USD value exceeds `limits.per_tx_usd`.
pub const LIMITS_PER_TX_USD: &str = "limits.per_tx_usd";
/// The transaction sends (or allows a spender) more of an asset than `limits.per_tx_atoms`.
pub const LIMITS_PER_TX_ATOMS: &str = "limits.per_tx_atoms";
/// Spend in the rolling 24 h plus this transaction exceeds `limits.daily_usd`.
pub const LIMITS_DAILY_USD: &str = "limits.daily_usd";
/// Transactions in the rolling hour would exceed `limits.max_tx_per_hour`.
pub const LIMITS_MAX_TX_PER_HOUR: &str = "limits.max_tx_per_hour";
/// The USD value is above `approvals.above_usd`: human approval needed.
pub const APPROVALS_ABOVE_USD: &str = "approvals.above_usd";

/// The rule name of an action's toggle, e.g. `actions.transfer`.
pub fn action(action: custos_core::Action) -> String {
    format!("{ACTIONS_PREFIX}{}", action.as_str())
}

/// Solana programs that a transfer needs and that every policy allows: System, SPL Token,
/// Token-2022, Associated Token Account, Compute Budget, Memo.
pub const SOLANA_BUILTIN_PROGRAMS: [&str; 6] = [
    "11111111111111111111111111111111",
    "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
    "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb",
    "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL",
    "ComputeBudget111111111111111111111111111111",
    "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr",
];
