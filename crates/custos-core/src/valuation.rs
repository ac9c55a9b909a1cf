//! USD valuations as the policy receives them: a figure, or the reason there is none. A missing
//! or stale price is carried as such, so nothing downstream can mistake it for zero.
use crate::amount::Decimal;
use crate::oracle::{OracleError, Price};
use serde::{Deserialize, Serialize};

/// A USD figure (a unit price or the value of an amount), or why it is unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", content = "usd", rename_all = "snake_case")]
pub enum UsdValue {
    /// Known, in USD.
    Known(Decimal),
    /// No price could be obtained. The default, so a value nobody filled in fails closed.
    #[default]
    Missing,
    /// The only price available is older than the configured maximum age.
    Stale,
    /// The value exceeds what Custos represents exactly ([`Decimal::MAX`] USD): refused by the
    /// policy as `amount.out_of_range`, never clamped.
    OutOfRange,
}

impl UsdValue {
    /// The figure, if known.
    pub fn known(self) -> Option<Decimal> {
        match self {
            Self::Known(v) => Some(v),
            Self::Missing | Self::Stale | Self::OutOfRange => None,
        }
    }

    /// The unit price an oracle answer gives: stale answers stay [`UsdValue::Stale`], every
    /// other failure is [`UsdValue::Missing`].
    pub fn from_quote(quote: &Result<Price, OracleError>) -> Self {
        match quote {
            Ok(p) => Self::Known(p.usd),
            Err(OracleError::Stale { .. }) => Self::Stale,
            Err(_) => Self::Missing,
        }
    }

    /// `amount` whole units at this unit price: exact, or [`UsdValue::OutOfRange`] when the
    /// product does not fit; unknown stays unknown.
    pub fn times(self, amount: Decimal) -> Self {
        match self {
            Self::Known(p) => p.checked_mul(amount).map_or(Self::OutOfRange, Self::Known),
            other => other,
        }
    }
}
