//! What an API key may do: capability scopes.
//!
//! An agent's API key carries a set of scopes; a request it authenticates is refused (`403`,
//! naming the scope) when its endpoint needs a scope the key lacks. A key created without a
//! list, and a session from an email login, may do everything the agent's policy allows — the
//! scopes narrow what a key can *ask for*; the policy still decides what is *allowed*. No scope
//! lets an agent change its own policy: that is an operator's act.
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// One capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ApiScope {
    /// The wallet, its balances and its transactions (`GET /v1/wallets/me…`).
    #[serde(rename = "wallet:read")]
    WalletRead,
    /// The agent's own policy (`GET /v1/wallets/me/policy`).
    #[serde(rename = "policy:read")]
    PolicyRead,
    /// The agent's own audit trail (`GET /v1/wallets/me/audit`).
    #[serde(rename = "audit:read")]
    AuditRead,
    /// The `transfer` action.
    #[serde(rename = "transfer")]
    Transfer,
    /// The `trade` action.
    #[serde(rename = "trade")]
    Trade,
    /// The `sign` action (transactions the agent built).
    #[serde(rename = "sign")]
    Sign,
    /// The `sign-message` action (messages and typed data).
    #[serde(rename = "sign:message")]
    SignMessage,
    /// The `liquidity` action.
    #[serde(rename = "liquidity")]
    Liquidity,
    /// The `prediction` action.
    #[serde(rename = "prediction")]
    Prediction,
    /// Tightening the agent's own policy (`PATCH /v1/wallets/me/policy`); loosening is never
    /// the agent's, whatever its scopes.
    #[serde(rename = "policy:tighten")]
    PolicyTighten,
    /// The `pay` action (x402 payments for HTTP resources).
    #[serde(rename = "x402:pay")]
    Pay,
}

impl ApiScope {
    /// Every scope, in a stable order.
    pub const ALL: [ApiScope; 11] = [
        ApiScope::WalletRead,
        ApiScope::PolicyRead,
        ApiScope::AuditRead,
        ApiScope::Transfer,
        ApiScope::Trade,
        ApiScope::Sign,
        ApiScope::SignMessage,
        ApiScope::Liquidity,
        ApiScope::Prediction,
        ApiScope::PolicyTighten,
        ApiScope::Pay,
    ];

    /// The scope's name, as requests and responses spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::WalletRead => "wallet:read",
            ApiScope::PolicyRead => "policy:read",
            ApiScope::AuditRead => "audit:read",
            ApiScope::Transfer => "transfer",
            ApiScope::Trade => "trade",
            ApiScope::Sign => "sign",
            ApiScope::SignMessage => "sign:message",
            ApiScope::Liquidity => "liquidity",
            ApiScope::Prediction => "prediction",
            ApiScope::PolicyTighten => "policy:tighten",
            ApiScope::Pay => "x402:pay",
        }
    }

    /// The scope named `name`, if any.
    pub fn parse(name: &str) -> Option<ApiScope> {
        ApiScope::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The scope the action named `action` (the `{action}` of `/v1/wallets/me/actions/{action}`)
    /// needs, or `None` for a name that is not an action.
    pub fn for_action(action: &str) -> Option<ApiScope> {
        match action {
            "transfer" => Some(ApiScope::Transfer),
            "trade" => Some(ApiScope::Trade),
            "sign" => Some(ApiScope::Sign),
            "sign-message" => Some(ApiScope::SignMessage),
            "liquidity" => Some(ApiScope::Liquidity),
            "prediction" => Some(ApiScope::Prediction),
            "pay" => Some(ApiScope::Pay),
            _ => None,
        }
    }
}

impl fmt::Display for ApiScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A non-empty set of scopes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Scopes(BTreeSet<ApiScope>);

/// A scope list that cannot be one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopesError {
    /// No scope at all (omit the list for a key that may do everything).
    #[error("at least one scope is required (omit `scopes` for a key with every scope)")]
    Empty,
    /// A name that is not a scope.
    #[error("`{0}` is not a scope; scopes are {list}", list = scope_names())]
    Unknown(String),
}

fn scope_names() -> String {
    ApiScope::ALL
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Scopes {
    /// The scopes named in `names` (duplicates collapse).
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, ScopesError> {
        let mut set = BTreeSet::new();
        for n in names {
            let n = n.as_ref();
            set.insert(ApiScope::parse(n).ok_or_else(|| ScopesError::Unknown(n.to_owned()))?);
        }
        if set.is_empty() {
            return Err(ScopesError::Empty);
        }
        Ok(Self(set))
    }

    /// Whether `scope` is in the set.
    pub fn allows(&self, scope: ApiScope) -> bool {
        self.0.contains(&scope)
    }

    /// The names, in [`ApiScope::ALL`]'s order.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|s| s.as_str()).collect()
    }

    /// The names joined by spaces (how the stores keep them).
    pub fn to_text(&self) -> String {
        self.names().join(" ")
    }

    /// Parses [`Scopes::to_text`]'s form.
    pub fn from_text(text: &str) -> Result<Self, ScopesError> {
        Self::parse(&text.split_whitespace().collect::<Vec<_>>())
    }
}

impl TryFrom<Vec<String>> for Scopes {
    type Error = ScopesError;
    fn try_from(v: Vec<String>) -> Result<Self, ScopesError> {
        Self::parse(&v)
    }
}

impl From<Scopes> for Vec<String> {
    fn from(s: Scopes) -> Vec<String> {
        s.names().into_iter().map(str::to_owned).collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_or_empty_lists_are_refused() {
        for s in ApiScope::ALL {
            assert_eq!(ApiScope::parse(s.as_str()), Some(s));
            let json = serde_json::to_value(s).unwrap();
            assert_eq!(json, serde_json::json!(s.as_str()));
        }
        let set = Scopes::parse(&["transfer", "wallet:read", "transfer"]).unwrap();
        assert_eq!(set.names(), vec!["wallet:read", "transfer"]);
        assert_eq!(Scopes::from_text(&set.to_text()).unwrap(), set);
        assert!(set.allows(ApiScope::Transfer) && !set.allows(ApiScope::Sign));
        assert_eq!(
            Scopes::parse(&["transfer", "admin"]).unwrap_err(),
            ScopesError::Unknown("admin".into())
        );
        assert!(Scopes::parse(&["admin"])
            .unwrap_err()
            .to_string()
            .contains("wallet:read, policy:read"));
        assert_eq!(Scopes::parse::<&str>(&[]).unwrap_err(), ScopesError::Empty);
        let bad: Result<Scopes, _> = serde_json::from_str(r#"["sign", "root"]"#);
        assert!(bad
            .unwrap_err()
            .to_string()
            .contains("`root` is not a scope"));
    }

    #[test]
    fn every_action_has_its_scope() {
        for a in [
            "transfer",
            "trade",
            "sign",
            "sign-message",
            "liquidity",
            "prediction",
        ] {
            assert!(ApiScope::for_action(a).is_some(), "{a}");
        }
        assert_eq!(ApiScope::for_action("policy"), None);
    }
}
