//! Exact decimal amounts as they appear on the wire: non-negative decimal strings such as
//! `"1.25"`. No floats anywhere: a value is an integer count of 10^-18 units.
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Fractional digits a [`Decimal`] keeps. Amounts with more digits are refused, never rounded.
pub const SCALE: u32 = 18;
const ONE: u128 = 1_000_000_000_000_000_000;

/// A non-negative decimal with 18 fractional digits, parsed strictly from a string.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Decimal(u128);

/// Why a decimal string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecimalError {
    /// Empty string.
    #[error("must not be empty")]
    Empty,
    /// A sign, exponent, space or other character.
    #[error("must be a plain non-negative decimal such as \"1.25\"")]
    Malformed,
    /// More fractional digits than allowed.
    #[error("has more than {0} fractional digits")]
    TooPrecise(u32),
    /// Too large to represent.
    #[error("is too large")]
    Overflow,
}

impl Decimal {
    /// Zero.
    pub const ZERO: Decimal = Decimal(0);

    /// The raw count of 10^-18 units.
    pub fn atoms(self) -> u128 {
        self.0
    }

    /// From a raw count of 10^-18 units.
    pub fn from_atoms(a: u128) -> Self {
        Self(a)
    }

    /// Parses `s`, allowing at most `max_decimals` fractional digits (≤ 18).
    pub fn parse_with_precision(s: &str, max_decimals: u32) -> Result<Self, DecimalError> {
        if s.is_empty() {
            return Err(DecimalError::Empty);
        }
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (s, None),
        };
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || frac.is_some_and(|f| !digits(f)) {
            return Err(DecimalError::Malformed);
        }
        let frac = frac.unwrap_or("");
        let max = max_decimals.min(SCALE);
        if frac.len() > max as usize {
            return Err(DecimalError::TooPrecise(max));
        }
        let int_v: u128 = int.parse().map_err(|_| DecimalError::Overflow)?;
        let mut frac_v: u128 = 0;
        for b in frac.bytes() {
            frac_v = frac_v * 10 + u128::from(b - b'0');
        }
        frac_v *= 10u128.pow(SCALE - frac.len() as u32);
        int_v
            .checked_mul(ONE)
            .and_then(|v| v.checked_add(frac_v))
            .map(Self)
            .ok_or(DecimalError::Overflow)
    }

    /// Checked addition.
    pub fn checked_add(self, o: Self) -> Option<Self> {
        self.0.checked_add(o.0).map(Self)
    }

    /// Saturating subtraction.
    pub fn saturating_sub(self, o: Self) -> Self {
        Self(self.0.saturating_sub(o.0))
    }

    /// Checked subtraction (`None` below zero).
    pub fn checked_sub(self, o: Self) -> Option<Self> {
        self.0.checked_sub(o.0).map(Self)
    }

    /// Saturating addition: a sum too large to represent becomes the largest value, which every
    /// cap refuses.
    pub fn saturating_add(self, o: Self) -> Self {
        Self(self.0.saturating_add(o.0))
    }

    /// Checked product of two decimals (`1.5 × 2.25 = 3.375`). Digits beyond the 18th fractional
    /// one are cut off; `None` when the product does not fit.
    pub fn checked_mul(self, o: Self) -> Option<Self> {
        // a·b / 10^18 without a 256-bit intermediate: split both into whole and fractional parts.
        let (ai, af) = (self.0 / ONE, self.0 % ONE);
        let (bi, bf) = (o.0 / ONE, o.0 % ONE);
        let whole = ai.checked_mul(o.0)?;
        let cross = af.checked_mul(bi)?;
        // af, bf < 10^18, so af·bf < 10^36 fits in a u128.
        let frac = af * bf / ONE;
        whole.checked_add(cross)?.checked_add(frac).map(Self)
    }

    /// Saturating product, see [`Decimal::checked_mul`].
    pub fn saturating_mul(self, o: Self) -> Self {
        self.checked_mul(o).unwrap_or(Self(u128::MAX))
    }

    /// The largest representable value.
    pub const MAX: Decimal = Decimal(u128::MAX);
}

impl FromStr for Decimal {
    type Err = DecimalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_with_precision(s, SCALE)
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let int = self.0 / ONE;
        let frac = self.0 % ONE;
        if frac == 0 {
            return write!(f, "{int}");
        }
        let s = format!("{frac:018}");
        write!(f, "{int}.{}", s.trim_end_matches('0'))
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({self})")
    }
}

impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in [
            "0",
            "1",
            "1.25",
            "100",
            "0.000000000000000001",
            "340282366920",
        ] {
            assert_eq!(
                s.parse::<Decimal>().map(|d| d.to_string()).as_deref(),
                Ok(s)
            );
        }
        assert_eq!(
            "1.50".parse::<Decimal>().map(|d| d.to_string()).as_deref(),
            Ok("1.5")
        );
    }

    #[test]
    fn multiplies_exactly() {
        let d = |s: &str| s.parse::<Decimal>().unwrap_or_default();
        assert_eq!(d("1.5").checked_mul(d("2.25")), Some(d("3.375")));
        assert_eq!(
            d("0.000000001").checked_mul(d("150")),
            Some(d("0.00000015"))
        );
        assert_eq!(
            d("1000000").checked_mul(d("150.23456789")),
            Some(d("150234567.89"))
        );
        assert_eq!(
            d("0.5").checked_mul(d("0.000000000000000001")),
            Some(d("0"))
        );
        assert_eq!(Decimal::MAX.checked_mul(d("2")), None);
        assert_eq!(Decimal::MAX.saturating_mul(d("2")), Decimal::MAX);
        assert_eq!(d("1").checked_sub(d("2")), None);
    }

    #[test]
    fn refuses_what_is_not_a_plain_amount() {
        for bad in [
            "", "-1", "+1", "1e3", " 1", "1.", ".5", "1.2.3", "0x10", "NaN", "1,5",
        ] {
            assert!(bad.parse::<Decimal>().is_err(), "{bad}");
        }
        assert_eq!(
            "1.1234567890123456789".parse::<Decimal>(),
            Err(DecimalError::TooPrecise(18))
        );
        assert_eq!(
            Decimal::parse_with_precision("1.123", 2),
            Err(DecimalError::TooPrecise(2))
        );
        assert_eq!(
            "999999999999999999999999".parse::<Decimal>(),
            Err(DecimalError::Overflow)
        );
    }
}
