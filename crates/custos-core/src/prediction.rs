//! Kalshi Trade API v2 requests as the custody boundary signs them (the `prediction` action).
//!
//! Kalshi authenticates a request with an RSA-PSS (SHA-256, MGF1-SHA-256, 32-byte salt)
//! signature over the UTF-8 text `timestamp_ms + METHOD + path` — the path from the root with
//! the `/trade-api/v2` prefix and without the query string — sent in the `KALSHI-ACCESS-KEY`,
//! `-TIMESTAMP` and `-SIGNATURE` headers. The body is not signed. So the boundary is never given
//! bytes to sign: it is given a [`KalshiRequest`] (timestamp, method, path and, for a new order,
//! the order itself), classifies it ([`KalshiRequest::kind`]), judges the order under the
//! agent's policy, and builds the signed text itself ([`KalshiRequest::message`]).
use crate::amount::{Decimal, SCALE};
use serde::{Deserialize, Serialize};

/// The path prefix of every Trade API v2 request (part of what is signed).
pub const KALSHI_API_PREFIX: &str = "/trade-api/v2";

/// How far (ms) a request's timestamp may be from the boundary's clock before it refuses to
/// sign it: a signature is only good for one request sent now.
pub const KALSHI_MAX_SKEW_MS: i64 = 10_000;

/// The HTTP methods the boundary signs for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum KalshiMethod {
    /// Reads: balance, positions, orders, fills.
    Get,
    /// A new order.
    Post,
    /// A cancellation.
    Delete,
}

impl KalshiMethod {
    /// As signed and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Delete => "DELETE",
        }
    }
}

/// Which outcome a contract pays on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeSide {
    /// Pays $1 if the market resolves yes.
    Yes,
    /// Pays $1 if it resolves no.
    No,
}

impl OutcomeSide {
    /// As Kalshi names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::No => "no",
        }
    }
}

/// A limit order to buy contracts: what the policy judges, and the body the server sends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KalshiOrder {
    /// The market ticker, e.g. `KXFED-26DEC-T4.00`.
    pub ticker: String,
    /// The outcome bought.
    pub side: OutcomeSide,
    /// Contracts (each pays $1 or nothing).
    pub count: u32,
    /// The limit price per contract in cents, 1–99.
    pub price_cents: u32,
    /// Kalshi's idempotency key for the order.
    pub client_order_id: String,
}

impl KalshiOrder {
    /// The most the order can cost in USD: `count × price`.
    pub fn max_cost_usd(&self) -> Decimal {
        let cents = u128::from(self.count) * u128::from(self.price_cents);
        Decimal::from_atoms(cents * 10u128.pow(SCALE - 2))
    }
}

/// One Kalshi request for the boundary to sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KalshiRequest {
    /// Unix milliseconds, sent as `KALSHI-ACCESS-TIMESTAMP`.
    pub timestamp_ms: i64,
    /// The method.
    pub method: KalshiMethod,
    /// The path from the root, `/trade-api/v2/…`, without a query string.
    pub path: String,
    /// For a new order (`POST …/portfolio/orders`): the order the body will carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<KalshiOrder>,
}

/// What a request does, as the boundary classifies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KalshiKind<'a> {
    /// `POST /portfolio/orders` with this order.
    PlaceOrder(&'a KalshiOrder),
    /// `DELETE /portfolio/orders/{order_id}`.
    CancelOrder,
    /// A `GET` of the account's own portfolio: balance, positions, orders, fills.
    Read,
}

/// Why a request is not one the boundary signs for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KalshiRequestError(pub String);

/// Characters an order id or ticker may use (Kalshi's are UUIDs and upper-case tickers).
fn plain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl KalshiRequest {
    /// The text Kalshi's signature covers: `timestamp + METHOD + path`.
    pub fn message(&self) -> String {
        format!("{}{}{}", self.timestamp_ms, self.method.as_str(), self.path)
    }

    /// Classifies the request; anything that is not placing an order, cancelling one or reading
    /// the account's own portfolio is refused (no other path is signed for).
    pub fn kind(&self) -> Result<KalshiKind<'_>, KalshiRequestError> {
        let bad = |m: &str| Err(KalshiRequestError(m.to_string()));
        let Some(rest) = self.path.strip_prefix(KALSHI_API_PREFIX) else {
            return bad("path: must begin with /trade-api/v2");
        };
        let Some(rest) = rest.strip_prefix("/portfolio/") else {
            return bad("path: only /trade-api/v2/portfolio/… requests are signed");
        };
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.iter().any(|p| !plain(p)) {
            return bad(
                "path: segments are letters, digits, '-', '_' or '.' (no query string, no '..')",
            );
        }
        if parts.contains(&"..") || parts.contains(&".") {
            return bad("path: no '.' or '..' segments");
        }
        match (self.method, parts.as_slice(), &self.order) {
            (KalshiMethod::Post, ["orders"], Some(order)) => {
                if !plain(&order.ticker) {
                    return bad("order.ticker: letters, digits, '-', '_' or '.'");
                }
                if !plain(&order.client_order_id) {
                    return bad("order.client_order_id: letters, digits, '-', '_' or '.'");
                }
                if order.count == 0 {
                    return bad("order.count: at least one contract");
                }
                if !(1..=99).contains(&order.price_cents) {
                    return bad("order.price_cents: 1 to 99 cents");
                }
                Ok(KalshiKind::PlaceOrder(order))
            }
            (KalshiMethod::Post, ["orders"], None) => bad("order: a new order must be given"),
            (KalshiMethod::Delete, ["orders", _], None) => Ok(KalshiKind::CancelOrder),
            (KalshiMethod::Get, ["balance" | "positions" | "orders" | "fills"], None)
            | (KalshiMethod::Get, ["orders", _], None) => Ok(KalshiKind::Read),
            (_, _, Some(_)) => bad("order: only a new order (POST /portfolio/orders) carries one"),
            _ => bad("path: not a request the boundary signs for (orders, cancellations and portfolio reads only)"),
        }
    }

    /// Canonical bytes naming the request in a signer's records.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Whether policy entry `entry` (a market ticker, or an event or series ticker that is a prefix
/// of it up to a `-`) covers `ticker`.
pub fn market_matches(entry: &str, ticker: &str) -> bool {
    ticker == entry
        || ticker
            .strip_prefix(entry)
            .is_some_and(|rest| rest.starts_with('-'))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn order() -> KalshiOrder {
        KalshiOrder {
            ticker: "KXFED-26DEC-T4.00".into(),
            side: OutcomeSide::Yes,
            count: 10,
            price_cents: 40,
            client_order_id: "c1".into(),
        }
    }

    fn req(method: KalshiMethod, path: &str, order: Option<KalshiOrder>) -> KalshiRequest {
        KalshiRequest {
            timestamp_ms: 1_700_000_000_123,
            method,
            path: path.into(),
            order,
        }
    }

    #[test]
    fn the_signed_text_is_timestamp_method_path() {
        let r = req(KalshiMethod::Get, "/trade-api/v2/portfolio/balance", None);
        assert_eq!(
            r.message(),
            "1700000000123GET/trade-api/v2/portfolio/balance"
        );
        assert_eq!(order().max_cost_usd(), "4".parse::<Decimal>().unwrap());
    }

    #[test]
    fn only_orders_cancels_and_portfolio_reads_are_classified() {
        let o = order();
        let place = req(
            KalshiMethod::Post,
            "/trade-api/v2/portfolio/orders",
            Some(o.clone()),
        );
        assert_eq!(place.kind().unwrap(), KalshiKind::PlaceOrder(&o));
        let cancel = req(
            KalshiMethod::Delete,
            "/trade-api/v2/portfolio/orders/ab-12",
            None,
        );
        assert_eq!(cancel.kind().unwrap(), KalshiKind::CancelOrder);
        for p in ["balance", "positions", "orders", "fills", "orders/x-1"] {
            let r = req(
                KalshiMethod::Get,
                &format!("/trade-api/v2/portfolio/{p}"),
                None,
            );
            assert_eq!(r.kind().unwrap(), KalshiKind::Read, "{p}");
        }
        for (m, p, o) in [
            (KalshiMethod::Post, "/trade-api/v2/portfolio/orders", None),
            (KalshiMethod::Post, "/trade-api/v2/api_keys", None),
            (KalshiMethod::Delete, "/trade-api/v2/api_keys/k", None),
            (
                KalshiMethod::Get,
                "/trade-api/v2/portfolio/balance?x=1",
                None,
            ),
            (
                KalshiMethod::Get,
                "/trade-api/v2/portfolio/../api_keys",
                None,
            ),
            (
                KalshiMethod::Post,
                "/trade-api/v2/portfolio/events/orders",
                Some(order()),
            ),
            (
                KalshiMethod::Get,
                "/trade-api/v2/portfolio/balance",
                Some(order()),
            ),
            (KalshiMethod::Delete, "/trade-api/v2/portfolio/orders", None),
            (KalshiMethod::Get, "/v1/portfolio/balance", None),
        ] {
            assert!(req(m, p, o).kind().is_err(), "{m:?} {p}");
        }
        let mut bad = order();
        bad.price_cents = 100;
        assert!(req(
            KalshiMethod::Post,
            "/trade-api/v2/portfolio/orders",
            Some(bad)
        )
        .kind()
        .is_err());
        let mut zero = order();
        zero.count = 0;
        assert!(req(
            KalshiMethod::Post,
            "/trade-api/v2/portfolio/orders",
            Some(zero)
        )
        .kind()
        .is_err());
    }

    #[test]
    fn market_entries_cover_their_own_series_and_events_only() {
        assert!(market_matches("KXFED", "KXFED-26DEC-T4.00"));
        assert!(market_matches("KXFED-26DEC", "KXFED-26DEC-T4.00"));
        assert!(market_matches("KXFED-26DEC-T4.00", "KXFED-26DEC-T4.00"));
        assert!(!market_matches("KXFED", "KXFEDX-26DEC-T4.00"));
        assert!(!market_matches("KXFED-26DEC-T4", "KXFED-26DEC-T4.00"));
        assert!(!market_matches("", "KXFED"));
    }
}
