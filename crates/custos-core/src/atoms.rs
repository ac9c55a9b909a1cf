//! Exact amounts in an asset's base units (lamports, wei, token atoms) over the whole 256-bit
//! range an EVM token can name, and their exact conversion to and from whole-unit [`Decimal`]s.
//!
//! Every amount that comes from a chain or a signed document is an [`Atoms`]; nothing on the path
//! from decoding to valuation narrows it. Where a value cannot be represented further on (a
//! whole-unit figure beyond what a [`Decimal`] holds, a USD product that overflows), the
//! conversion fails with [`AmountError::OutOfRange`] and the policy denies — it never clamps,
//! wraps or values at zero.
use crate::amount::{Decimal, SCALE};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The 256-bit unsigned integer Custos counts base units in.
pub type U256 = ruint::aliases::U256;

/// A non-negative count of an asset's base units, exact over `0 ..= 2^256 - 1`. Serialized as a
/// decimal string, since JSON numbers lose precision past 2^53 in many readers and past 2^64 in
/// `serde_json`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Atoms(U256);

/// Why an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// Not a plain non-negative integer in decimal digits.
    #[error("must be a non-negative whole number of base units in decimal digits")]
    Malformed,
    /// More than 2^256 - 1.
    #[error("is larger than 2^256 - 1")]
    Overflow,
    /// Representable in base units, but not as a whole-unit figure Custos can value exactly.
    #[error("{atoms} base units at {decimals} decimals is beyond the largest amount Custos values exactly")]
    OutOfRange {
        /// The amount.
        atoms: Atoms,
        /// The asset's decimals.
        decimals: u8,
    },
    /// A whole-unit amount with more fractional digits than the asset has.
    #[error("has more than the asset's {0} fractional digits")]
    TooPrecise(u8),
}

impl Atoms {
    /// Zero.
    pub const ZERO: Atoms = Atoms(U256::ZERO);
    /// `2^256 - 1`, the "unlimited" allowance of ERC-20 convention.
    pub const MAX: Atoms = Atoms(U256::MAX);

    /// From a 256-bit integer.
    pub const fn from_u256(v: U256) -> Self {
        Self(v)
    }

    /// The 256-bit integer.
    pub const fn as_u256(self) -> U256 {
        self.0
    }

    /// As a `u128`, when it fits.
    pub fn to_u128(self) -> Option<u128> {
        u128::try_from(self.0).ok()
    }

    /// True for zero.
    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// Parses decimal digits only: no sign, no `0x`, no exponent, no spaces, not empty.
    pub fn parse_decimal(s: &str) -> Result<Self, AmountError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AmountError::Malformed);
        }
        U256::from_str_radix(s, 10)
            .map(Self)
            .map_err(|_| AmountError::Overflow)
    }

    /// Checked sum.
    pub fn checked_add(self, o: Self) -> Option<Self> {
        self.0.checked_add(o.0).map(Self)
    }

    /// Checked difference (`None` below zero).
    pub fn checked_sub(self, o: Self) -> Option<Self> {
        self.0.checked_sub(o.0).map(Self)
    }

    /// `self - o` when `self ≥ o`, else zero.
    pub fn saturating_sub(self, o: Self) -> Self {
        Self(self.0.saturating_sub(o.0))
    }

    /// The whole-unit figure for an asset with `decimals` decimals: exact for up to 18 decimals;
    /// for more, rounded *up* to the 18th fractional digit, so an amount is never undervalued.
    /// [`AmountError::OutOfRange`] when the figure exceeds [`Decimal::MAX`].
    pub fn to_whole(self, decimals: u8) -> Result<Decimal, AmountError> {
        let out_of_range = AmountError::OutOfRange {
            atoms: self,
            decimals,
        };
        let d = u32::from(decimals);
        let scaled = if d <= SCALE {
            let factor = U256::from(10u8).pow(U256::from(SCALE - d));
            self.0.checked_mul(factor).ok_or(out_of_range.clone())?
        } else {
            match U256::from(10u8).checked_pow(U256::from(d - SCALE)) {
                Some(div) => self.0.div_ceil(div),
                // 10^(d-18) exceeds every U256: any non-zero amount is below one 10^-18 unit.
                None => U256::from(u8::from(!self.0.is_zero())),
            }
        };
        u128::try_from(scaled)
            .map(Decimal::from_atoms)
            .map_err(|_| out_of_range)
    }

    /// The base units of a whole-unit `amount` for an asset with `decimals` decimals, refusing
    /// (never rounding) an amount more precise than the asset.
    pub fn from_whole(amount: Decimal, decimals: u8) -> Result<Self, AmountError> {
        let d = u32::from(decimals);
        let atoms = U256::from(amount.atoms());
        if d <= SCALE {
            let div = U256::from(10u8).pow(U256::from(SCALE - d));
            if !(atoms % div).is_zero() {
                return Err(AmountError::TooPrecise(decimals));
            }
            Ok(Self(atoms / div))
        } else {
            U256::from(10u8)
                .checked_pow(U256::from(d - SCALE))
                .and_then(|f| atoms.checked_mul(f))
                .map(Self)
                .ok_or(AmountError::Overflow)
        }
    }
}

impl From<u128> for Atoms {
    fn from(v: u128) -> Self {
        Self(U256::from(v))
    }
}

impl From<u64> for Atoms {
    fn from(v: u64) -> Self {
        Self(U256::from(v))
    }
}

impl std::iter::Sum for Atoms {
    /// Saturates at `2^256 - 1`: a sum of outflows that large is refused by every later check.
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        Self(iter.fold(U256::ZERO, |a, b| a.saturating_add(b.0)))
    }
}

impl fmt::Display for Atoms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Atoms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Atoms({})", self.0)
    }
}

impl std::str::FromStr for Atoms {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_decimal(s)
    }
}

impl Serialize for Atoms {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Atoms {
    /// A decimal string; a JSON integer is also read, for records written before amounts were
    /// strings.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Int(u64),
        }
        match Raw::deserialize(d)? {
            Raw::Text(s) => Self::parse_decimal(&s).map_err(serde::de::Error::custom),
            Raw::Int(n) => Ok(Self::from(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn parses_only_plain_digits_over_the_full_range() {
        let max = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
        assert_eq!(Atoms::parse_decimal(max), Ok(Atoms::MAX));
        assert_eq!(
            Atoms::parse_decimal(
                "115792089237316195423570985008687907853269984665640564039457584007913129639936"
            ),
            Err(AmountError::Overflow)
        );
        for bad in ["", "0x", "0x10", "-1", "+1", "1e3", " 1", "1.0", "１"] {
            assert_eq!(
                Atoms::parse_decimal(bad),
                Err(AmountError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(Atoms::parse_decimal("007"), Ok(Atoms::from(7u64)));
    }

    #[test]
    fn whole_units_are_exact_or_refused() {
        let e18 = Atoms::from(1_000_000_000_000_000_000u128);
        assert_eq!(e18.to_whole(18), Ok(dec("1")));
        assert_eq!(Atoms::from(1_250_000_000u64).to_whole(9), Ok(dec("1.25")));
        // 2^128 wei is 340282366920938463463.374607431768211456 ETH: more 10^-18 units than a
        // u128 holds, so it cannot be valued and is refused rather than clamped.
        let two128 = Atoms::parse_decimal("340282366920938463463374607431768211456").unwrap();
        assert!(matches!(
            two128.to_whole(18),
            Err(AmountError::OutOfRange { .. })
        ));
        assert!(Atoms::MAX.to_whole(0).is_err());
        // More than 18 decimals rounds up, never down.
        assert_eq!(Atoms::from(1u64).to_whole(30), Ok(Decimal::from_atoms(1)));
        assert_eq!(Atoms::ZERO.to_whole(255), Ok(Decimal::ZERO));
        assert_eq!(Atoms::MAX.to_whole(255), Ok(Decimal::from_atoms(1)));
    }

    #[test]
    fn from_whole_refuses_what_the_asset_cannot_hold() {
        assert_eq!(
            Atoms::from_whole(dec("1.25"), 9),
            Ok(Atoms::from(1_250_000_000u64))
        );
        assert_eq!(
            Atoms::from_whole(dec("0.0000000001"), 9),
            Err(AmountError::TooPrecise(9))
        );
        assert_eq!(
            Atoms::from_whole(dec("2"), 30),
            Ok(Atoms::from_u256(
                U256::from(2u8) * U256::from(10u8).pow(U256::from(30u8))
            ))
        );
    }

    #[test]
    fn serializes_as_a_string_and_reads_old_integers() {
        let a = Atoms::parse_decimal("19000000000000000000").unwrap();
        let j = serde_json::to_string(&a).unwrap();
        assert_eq!(j, "\"19000000000000000000\"");
        assert_eq!(serde_json::from_str::<Atoms>(&j).unwrap(), a);
        assert_eq!(
            serde_json::from_str::<Atoms>("42").unwrap(),
            Atoms::from(42u64)
        );
        assert!(serde_json::from_str::<Atoms>("\"0x1\"").is_err());
    }
}
