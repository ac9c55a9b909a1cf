//! What an agent asked for, in the terms the policy judges: the action, the chain, the declared
//! recipient, asset and amount, and the USD value of that declaration.
use crate::amount::Decimal;
use crate::chain::Chain;
use crate::valuation::UsdValue;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An action an agent can request; each has its own policy toggle (`actions.<name>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Move a native coin or a token to a recipient.
    Transfer,
    /// Swap one asset for another on a DEX.
    Trade,
    /// Provide or withdraw liquidity.
    Liquidity,
    /// Trade on a prediction market.
    Prediction,
    /// Sign an arbitrary transaction, judged by its simulated effects.
    Sign,
    /// Sign an off-chain message or typed data.
    SignMessage,
}

impl Action {
    /// Every action, in a fixed order.
    pub const ALL: [Action; 6] = [
        Self::Transfer,
        Self::Trade,
        Self::Liquidity,
        Self::Prediction,
        Self::Sign,
        Self::SignMessage,
    ];

    /// The name used in policy documents (`sign_message`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transfer => "transfer",
            Self::Trade => "trade",
            Self::Liquidity => "liquidity",
            Self::Prediction => "prediction",
            Self::Sign => "sign",
            Self::SignMessage => "sign_message",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown action name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action `{0}`")]
pub struct ActionParseError(pub String);

impl FromStr for Action {
    type Err = ActionParseError;
    /// Accepts the policy name and, for `sign_message`, the URL spelling `sign-message`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sign-message" => Ok(Self::SignMessage),
            _ => Self::ALL
                .into_iter()
                .find(|a| a.as_str() == s)
                .ok_or_else(|| ActionParseError(s.chars().take(40).collect())),
        }
    }
}

/// The pipeline's name for an asset on the intent's chain: the native coin's symbol (`SOL`,
/// `ETH`) or a token's address (a Solana mint, an ERC-20 contract). The same name keys
/// [`crate::Effects::prices`] and is what the price oracle is asked about.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AssetId(String);

impl AssetId {
    /// Wraps a name.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AssetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AssetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AssetId({})", self.0)
    }
}

/// What the agent declared it wants to do. The policy judges this *and* the simulated
/// [`crate::Effects`]; a declaration never makes a transaction look smaller than its effects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intent {
    /// The action.
    pub action: Action,
    /// The chain it runs on.
    pub chain: Chain,
    /// The declared recipient, if the action has one.
    pub recipient: Option<String>,
    /// The declared asset (for a trade: the asset given up); `None` for a `sign` request that
    /// declares nothing and for messages.
    pub asset: Option<AssetId>,
    /// The declared amount in whole units of `asset` (zero when nothing is declared).
    pub amount: Decimal,
    /// The USD value of the declared amount, from the price oracle.
    pub declared_usd: UsdValue,
}
