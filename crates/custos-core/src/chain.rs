//! Chains Custos signs for, named as in the API: `solana`, `evm:<chain id>`, `bitcoin`.
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A chain (network family plus, for EVM, the chain id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Chain {
    /// Solana (the cluster is configuration, not part of the name).
    Solana,
    /// An EVM chain by EIP-155 chain id.
    Evm(u64),
    /// Bitcoin.
    Bitcoin,
}

/// Why a chain name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown chain `{0}`: expected `solana`, `bitcoin` or `evm:<chain id>`")]
pub struct ChainParseError(pub String);

impl FromStr for Chain {
    type Err = ChainParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "solana" => Ok(Self::Solana),
            "bitcoin" => Ok(Self::Bitcoin),
            _ => {
                let id = s
                    .strip_prefix("evm:")
                    .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|d| d.parse::<u64>().ok())
                    .filter(|id| *id > 0)
                    .ok_or_else(|| ChainParseError(s.chars().take(40).collect()))?;
                Ok(Self::Evm(id))
            }
        }
    }
}

impl fmt::Display for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Solana => f.write_str("solana"),
            Self::Bitcoin => f.write_str("bitcoin"),
            Self::Evm(id) => write!(f, "evm:{id}"),
        }
    }
}

impl Serialize for Chain {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Chain {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for s in ["solana", "bitcoin", "evm:1", "evm:42161", "evm:31337"] {
            assert_eq!(s.parse::<Chain>().map(|c| c.to_string()).as_deref(), Ok(s));
        }
        for bad in [
            "",
            "evm:",
            "evm:0",
            "evm:-1",
            "evm:1x",
            "Solana",
            "evm:99999999999999999999",
        ] {
            assert!(bad.parse::<Chain>().is_err(), "{bad}");
        }
    }
}
