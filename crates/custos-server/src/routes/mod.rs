//! HTTP handlers, one module per audience: agent login, the agent's wallet and standing, operators (agents
//! and approvals, policies, keys), the agent's transactions and status webhook, its Kalshi
//! account, and the
//! unauthenticated system endpoints.
pub mod admin;
pub mod agent;
pub mod alerts;
pub mod auth;
pub mod dev;
pub mod keys;
pub mod policy;
pub mod prediction;
pub mod system;
pub mod tighten;
pub mod transactions;
pub mod wallet;
pub mod webhook;

use crate::error::ApiError;
use crate::extract::parse_json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// Query parameters parsed strictly (unknown parameters refused, errors name the parameter).
pub struct StrictQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for StrictQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or("")).map(StrictQuery)
    }
}

/// Parses a query string strictly: each parameter at most once, unknown ones refused, errors
/// naming the parameter.
pub fn parse_query<T: DeserializeOwned>(q: &str) -> Result<T, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q)
        .map_err(|e| ApiError::bad_request(format!("malformed query string: {e}")))?;
    let mut map = serde_json::Map::new();
    for (k, v) in pairs {
        if map
            .insert(k.clone(), serde_json::Value::String(v))
            .is_some()
        {
            return Err(ApiError::invalid(k, "given more than once"));
        }
    }
    parse_json(&serde_json::to_vec(&map).unwrap_or_default())
}

/// Serde helper: a decimal number carried as a query-string string.
pub mod num {
    use serde::{Deserialize, Deserializer};
    /// Parses an optional unsigned integer from a string.
    pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| {
            s.parse::<u64>().map_err(|_| {
                serde::de::Error::custom(format!("`{s}` is not a non-negative integer"))
            })
        })
        .transpose()
    }
}

/// `limit` and `after` for paged lists.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// At most this many (1..=1000, default 100).
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub limit: Option<u64>,
    /// After this id.
    #[serde(default, deserialize_with = "num::opt_u64")]
    pub after: Option<u64>,
}

impl Page {
    /// The validated limit.
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(100),
            Some(n @ 1..=1000) => Ok(n as u32),
            Some(_) => Err(ApiError::invalid("limit", "must be between 1 and 1000")),
        }
    }

    /// The validated cursor: record ids are at most `i64::MAX` in every store.
    pub fn after(&self) -> Result<u64, ApiError> {
        match self.after {
            None => Ok(0),
            Some(n) if i64::try_from(n).is_ok() => Ok(n),
            Some(_) => Err(ApiError::invalid(
                "after",
                "must be between 0 and 9223372036854775807",
            )),
        }
    }
}
