//! The agent's live state that the policy's stateful rules need, read by the server from its
//! store just before evaluation.
use crate::amount::Decimal;
use serde::{Deserialize, Serialize};

/// Spend and velocity counters of one agent, plus its freeze flag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    /// An operator froze the agent: every action is denied.
    pub frozen: bool,
    /// USD confirmed or reserved (in flight) in the rolling 24 hours, excluding this request.
    pub spent_usd_24h: Decimal,
    /// Transactions confirmed or reserved in the rolling hour, excluding this request.
    pub tx_last_hour: u32,
}
