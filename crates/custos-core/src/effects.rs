//! What a transaction would really do to the agent, as the policy judges it: balance changes of
//! the agent's accounts, programs touched, control granted to others, who receives funds, and
//! the unit prices used to value all that.
//!
//! The pipeline fills this from the chain adapter's simulation and the price oracle; the custody
//! boundary fills it from its own decoding. It never comes from the agent.
use crate::atoms::Atoms;
use crate::intent::AssetId;
use crate::valuation::UsdValue;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The net change of one asset across the agent's accounts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetDelta {
    /// The asset.
    pub asset: AssetId,
    /// The asset's decimals (9 for SOL, 6 for USDC, 18 for ETH).
    pub decimals: u8,
    /// Signed change in base units; negative is an outflow. Fees are included.
    pub delta_atoms: i128,
}

/// The kind of control a transaction hands to someone else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DelegationKind {
    /// A spending allowance (SPL `Approve`, ERC-20 `approve`, Permit/Permit2).
    Spend,
    /// An owner or authority change over one of the agent's accounts.
    Authority,
    /// An operator approval over a whole collection (`setApprovalForAll`).
    Operator,
}

/// How much a delegation lets the spender take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "atoms", rename_all = "snake_case")]
pub enum DelegationAmount {
    /// Up to this many base units, exact over the full 256-bit range.
    Limited(Atoms),
    /// Without limit (including authority changes, which have no amount).
    Unlimited,
}

/// Control over the agent's assets granted by the transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delegation {
    /// What kind of control.
    pub kind: DelegationKind,
    /// Who receives it.
    pub spender: String,
    /// The asset concerned, when known.
    pub asset: Option<AssetId>,
    /// The asset's decimals, when known: a limited spend allowance is valued like an outflow of
    /// its amount, which needs them.
    #[serde(default)]
    pub decimals: Option<u8>,
    /// How much.
    pub amount: DelegationAmount,
}

/// One contract method a transaction calls (EVM): the contract and the 4-byte selector read
/// from the calldata, including the calls inside a `multicall`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodCall {
    /// Contract address.
    pub contract: String,
    /// `0x` and 8 hex digits; `None` for a plain value transfer to a contract (empty calldata).
    pub selector: Option<String>,
}

/// What the chain charges the agent for the transaction itself (fees, and rent deposits for
/// accounts it must create), in base units of one asset. It is part of the balance changes; the
/// policy uses it only to tell costs from transfers when matching outflows to the intent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkCost {
    /// The asset charged (the native coin).
    pub asset: AssetId,
    /// Base units charged.
    pub atoms: u128,
}

/// The simulated effects of one transaction on the agent, with the prices used to value them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Effects {
    /// Balance changes of the agent's accounts, one entry per asset (entries for the same asset
    /// are summed).
    pub changes: Vec<AssetDelta>,
    /// Every program or contract the transaction runs.
    pub programs: Vec<String>,
    /// Contract methods called (EVM), for the policy's method allowlist.
    #[serde(default)]
    pub methods: Vec<MethodCall>,
    /// Control granted over the agent's accounts.
    pub delegations: Vec<Delegation>,
    /// Addresses (wallets, not token accounts) that receive funds from the agent.
    pub recipients: Vec<String>,
    /// What the chain charges, if anything.
    pub network_cost: Option<NetworkCost>,
    /// The chain's native coin as named in `changes` (what per-asset caps call `native`).
    #[serde(default)]
    pub native: Option<AssetId>,
    /// USD price of one whole unit of each asset above. An asset without an entry is unpriced.
    pub prices: BTreeMap<AssetId, UsdValue>,
}

impl Effects {
    /// The unit price of `asset`, [`UsdValue::Missing`] when none was supplied.
    pub fn price_of(&self, asset: &AssetId) -> UsdValue {
        self.prices.get(asset).copied().unwrap_or_default()
    }

    /// Base units of `asset` the chain charges for the transaction itself (0 when it charges in
    /// another asset, or nothing).
    pub fn network_cost_of(&self, asset: &AssetId) -> u128 {
        self.network_cost
            .as_ref()
            .filter(|c| &c.asset == asset)
            .map_or(0, |c| c.atoms)
    }

    /// Every asset the policy needs a unit price for: those whose balance changes and those a
    /// delegation grants (an allowance is valued like an outflow), each once.
    pub fn assets_to_price(&self) -> std::collections::BTreeSet<AssetId> {
        self.changes
            .iter()
            .map(|c| c.asset.clone())
            .chain(self.delegations.iter().filter_map(|d| d.asset.clone()))
            .collect()
    }
}
