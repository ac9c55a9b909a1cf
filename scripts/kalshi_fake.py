#!/usr/bin/env python3
"""kalshi-fake: a local stand-in for the Kalshi Trade API v2 (external-api.kalshi.com/trade-api/v2,
which this machine cannot reach), for Custos' tests. Nothing here is Kalshi or Custos code, and no
real market, money or account is involved: one in-memory account, markets from the config, and an
exchange that fills every crossing order at the configured ask with unlimited depth. Every
response carries the header `X-Custos-Fake: kalshi (a local stand-in for the Kalshi Trade API v2)`.

What it is faithful to is Kalshi's documented authentication: every /portfolio/* and /api_keys
request must carry KALSHI-ACCESS-KEY (an enrolled key id), KALSHI-ACCESS-TIMESTAMP (Unix
milliseconds, within `timestamp_tolerance_ms`, default 30 000: Kalshi documents no tolerance) and
KALSHI-ACCESS-SIGNATURE, the base64 RSA-PSS signature (SHA-256, MGF1-SHA-256, salt length 32 =
the digest length) over the UTF-8 bytes of  timestamp + METHOD + path,  where path is the request
path from the root, /trade-api/v2 prefix included, query string excluded; the body is not signed.
It is verified with the enrolled public key; any failure is a 401 in Kalshi's error shape
{"error": {"code": "authentication_error", "message": ..., "details": ...}}. Market data
(/markets, /events) is public, but a request that does carry the headers is verified the same way.

  python3 scripts/kalshi_fake.py '{"keys": {"<key id>": "<PEM RSA public key>"},
      "markets": [{"ticker": "KXFED-26DEC-T4.00", "event_ticker": "KXFED-26DEC",
                   "series_ticker": "KXFED", "yes_ask": 40, "no_ask": 62, "status": "open"}],
      "balance": 100000, "timestamp_tolerance_ms": 30000}'

Prices in the config are integer cents (yes_bid/no_bid default to 100 - the other side's ask);
`status` is a market-list filter value (open | unopened | paused | closed | settled) or one of the
Market object's own values (active, initialized, inactive, closed, determined, finalized, ...);
only open/active markets trade. `balance` is the available balance in cents. Prints one JSON line
{"url": "http://127.0.0.1:PORT/trade-api/v2"} once it listens on a loopback port of its own
choosing, then logs each request as {"seen": "METHOD PATH", "key": key id or null,
"verified": bool, "status": HTTP status} (+ "replayed": true when a signature was seen before,
+ "refused": the reason of a 401).

Under /trade-api/v2 (responses use Kalshi's current field names: prices as fixed-point dollar
strings "0.4000" (*_dollars), counts as "10.00" (*_fp), balance in integer cents):
  GET    /markets/{ticker}            {"market": {...}}             (public)
  GET    /markets?tickers=&event_ticker=&series_ticker=&status=   {"markets": [...], "cursor": ""}
  GET    /events/{event_ticker}       {"event": {... "series_ticker"}, "markets": [...]}
  POST   /portfolio/orders            CreateOrder (legacy v1 shape): {ticker, side yes|no,
         action buy|sell, count | count_fp, one of yes_price | no_price (cents 1-99) |
         yes_price_dollars | no_price_dollars, client_order_id, time_in_force, buy_max_cost,
         post_only, expiration_ts, ...} -> 201 {"order": {...}}
  POST   /portfolio/events/orders     Create Order (V2): {ticker, client_order_id, side bid|ask,
         count "1.00", price "0.4000", time_in_force, self_trade_prevention_type, ...}
         -> 201 {order_id, client_order_id, fill_count, remaining_count, average_fill_price}
  GET    /portfolio/orders[?ticker=&event_ticker=&status=]   {"orders": [...], "cursor": ""}
  GET    /portfolio/orders/{order_id}  {"order": {...}}
  DELETE /portfolio/orders/{order_id}  resting orders only: {"order": {...}, "reduced_by_fp"}
  DELETE /portfolio/events/orders/{order_id}   {order_id, client_order_id, reduced_by, ts_ms}
  GET    /portfolio/balance           {"balance": cents, "portfolio_value": cents, "updated_ts"}
  GET    /portfolio/positions         {"market_positions": [...], "event_positions": [...],
                                       "cursor": ""}
  POST   /api_keys {name, public_key, scopes}  Kalshi's "create API key with your own public key":
         201 {"api_key_id"}; GET /api_keys {"api_keys": [...]}. A key with scopes ["read"]
         gets 403 on POST/DELETE.
And, test-only and outside Kalshi's API (no authentication; the answer says so):
  POST   /_enrol {"key_id"?: str, "public_key_pem": str, "scopes"?: [...]}   {"key_id", "note"}

The exchange: an order buys one outcome at a limit price (buy yes / sell no / V2 bid buy YES;
buy no / sell yes / V2 ask buy NO at 1 - price). It fills at once and whole at the market's ask
for that outcome when the limit is at or above it, else it rests (immediate_or_cancel,
fill_or_kill or buy_max_cost: canceled instead). The balance is debited count x fill price, or
count x limit price held while resting (given back on cancel); YES against NO in one market nets,
each pair paying 100 cents back. A repeated client_order_id with the same terms answers the
original order again (no second order); with other terms it is a 409. Errors are
{"error": {"code", "message", "details"}}: 400 for invalid orders, 404 unknown ids, 409, 401, 403.
"""
import base64
import binascii
import json
import sys
import threading
import time
import traceback
import uuid
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

FAKE = "kalshi (a local stand-in for the Kalshi Trade API v2)"
PREFIX = "/trade-api/v2"
SERVICE = "kalshi-fake"
DEFAULT_TOLERANCE_MS = 30_000
USER_ID = "00000000-0000-4000-8000-00000000fa4e"  # the one account of this stand-in
PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)  # = digest length
TRADABLE = {"open", "active"}
# The market-list filter values and the Market object's status values (Kalshi's two vocabularies).
STATUS_OBJECT = {"open": "active", "unopened": "initialized", "paused": "inactive",
                 "closed": "closed", "settled": "finalized"}
OBJECT_STATUSES = {"initialized", "inactive", "active", "closed", "determined", "disputed",
                   "amended", "finalized"}
STATUS_FILTER = {"open": {"active"}, "unopened": {"initialized"}, "paused": {"inactive"},
                 "closed": {"closed"}, "settled": {"determined", "finalized", "amended", "disputed"}}
TIME_IN_FORCE = ("fill_or_kill", "good_till_canceled", "immediate_or_cancel")
STP = ("taker_at_cross", "maker")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: str = ""):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def bad(message: str, code: str = "invalid_parameters") -> ApiError:
    return ApiError(400, code, message)


def dollars(cents: int) -> str:
    """Cents as Kalshi's fixed-point dollar string, 4 decimals ("0.4000")."""
    sign = "-" if cents < 0 else ""
    c = abs(int(cents))
    return f"{sign}{c // 100}.{c % 100:02d}00"


def fp(count: int) -> str:
    """A contract count as Kalshi's fixed-point string, 2 decimals ("10.00")."""
    return f"{int(count)}.00"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def int_field(body: dict, key: str, lo=None, hi=None):
    v = body.get(key)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool):
        raise bad(f"{key} must be an integer, got {v!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise bad(f"{key} must be from {lo} to {hi}, got {v}")
    return v


def parse_count_fp(v, key: str) -> int:
    """A fixed-point count string: 0-2 decimals, whole contracts only (no fractional markets)."""
    if not isinstance(v, str):
        raise bad(f"{key} must be a string like \"10.00\", got {v!r}")
    whole, _, frac = v.partition(".")
    if not whole.isdigit() or len(frac) > 2 or (frac and not frac.isdigit()):
        raise bad(f"{key} must be a decimal count with at most 2 decimals, got {v!r}")
    if frac.strip("0"):
        raise bad(f"{key}: fractional contracts are not enabled on this market, got {v!r}")
    return int(whole)


def parse_dollars(v, key: str) -> int:
    """A fixed-point dollar price string as whole cents (the tick here is 1 cent)."""
    if not isinstance(v, str):
        raise bad(f"{key} must be a string like \"0.5600\", got {v!r}")
    whole, _, frac = v.partition(".")
    if not whole.isdigit() or not frac.isdigit() or len(frac) > 6:
        raise bad(f"{key} must be a fixed-point dollar amount like \"0.5600\", got {v!r}")
    if frac[2:].strip("0"):
        raise bad(f"{key}: {v} is not on this market's 1-cent price grid")
    return int(whole) * 100 + int((frac + "00")[:2])


def load_public_key(pem: str):
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError, AttributeError):
        raise bad("public key must be an RSA public key in PEM (SubjectPublicKeyInfo or PKCS#1)") from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 2048:
        raise bad("public key must be an RSA key of at least 2048 bits")
    return key


class Market:
    def __init__(self, m: dict):
        if not isinstance(m, dict) or not isinstance(m.get("ticker"), str) or not m["ticker"]:
            raise ValueError("every market needs a ticker")
        self.ticker = m["ticker"]
        self.event_ticker = m.get("event_ticker") or self.ticker.rsplit("-", 1)[0]
        self.series_ticker = m.get("series_ticker") or self.event_ticker.split("-", 1)[0]
        status = m.get("status", "open")
        if status not in STATUS_OBJECT and status not in OBJECT_STATUSES:
            raise ValueError(f"market {self.ticker}: unknown status {status!r}")
        self.status = STATUS_OBJECT.get(status, status)
        self.title = m.get("title", f"{self.ticker} (local stand-in market)")

        def cents(key, default=None):
            v = m.get(key, default)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 99):
                raise ValueError(f"market {self.ticker}: {key} must be integer cents 1-99, got {v!r}")
            return v

        self.yes_ask, self.no_ask = cents("yes_ask"), cents("no_ask")
        self.yes_bid = cents("yes_bid", 100 - self.no_ask if self.no_ask else None)
        self.no_bid = cents("no_bid", 100 - self.yes_ask if self.yes_ask else None)
        self.last_price = cents("last_price", self.yes_ask)
        self.volume = 0
        self.open_time = time.time() - 86_400
        self.close_time = time.time() + 30 * 86_400

    def ask(self, outcome: str):
        return self.yes_ask if outcome == "yes" else self.no_ask

    def json(self) -> dict:
        d = lambda c: dollars(c) if c else "0.0000"  # noqa: E731
        return {
            "ticker": self.ticker, "event_ticker": self.event_ticker, "market_type": "binary",
            "title": self.title, "subtitle": "", "yes_sub_title": "Yes", "no_sub_title": "No",
            "created_time": iso(self.open_time), "updated_time": iso(self.open_time),
            "open_time": iso(self.open_time), "close_time": iso(self.close_time),
            "expected_expiration_time": iso(self.close_time),
            "latest_expiration_time": iso(self.close_time), "settlement_timer_seconds": 300,
            "status": self.status,
            "yes_bid_dollars": d(self.yes_bid), "yes_ask_dollars": d(self.yes_ask),
            "no_bid_dollars": d(self.no_bid), "no_ask_dollars": d(self.no_ask),
            "yes_bid_size_fp": "1000.00" if self.yes_bid else "0.00",
            "yes_ask_size_fp": "1000.00" if self.yes_ask else "0.00",
            "last_price_dollars": d(self.last_price),
            "previous_yes_bid_dollars": d(self.yes_bid), "previous_yes_ask_dollars": d(self.yes_ask),
            "previous_price_dollars": d(self.last_price),
            "volume_fp": fp(self.volume), "volume_24h_fp": fp(self.volume),
            "open_interest_fp": fp(self.volume), "liquidity_dollars": "0.0000",
            "notional_value_dollars": "1.0000", "result": "", "can_close_early": True,
            "fractional_trading_enabled": False, "expiration_value": "",
            "rules_primary": "A market of a local stand-in for Kalshi; nothing settles.",
            "rules_secondary": "", "price_level_structure": "linear_cent",
            "price_ranges": [{"start": "0.0100", "end": "0.9900", "step": "0.0100"}],
        }


class Position:
    def __init__(self, market: Market):
        self.market = market
        self.position = 0        # + YES contracts, - NO contracts
        self.cost = 0            # cents paid for the open contracts
        self.realized = 0        # cents
        self.traded = 0          # cents
        self.updated = time.time()


class Exchange:
    def __init__(self, cfg: dict):
        if not isinstance(cfg, dict):
            raise ValueError("the config must be a JSON object")
        self.lock = threading.Lock()
        self.tolerance_ms = cfg.get("timestamp_tolerance_ms", DEFAULT_TOLERANCE_MS)
        if not isinstance(self.tolerance_ms, int) or self.tolerance_ms <= 0:
            raise ValueError("timestamp_tolerance_ms must be a positive integer")
        self.keys = {}           # key id -> {"key": public key, "name", "scopes"}
        for key_id, pem in (cfg.get("keys") or {}).items():
            self.keys[key_id] = {"key": load_public_key(pem), "name": key_id, "scopes": ["read", "write"]}
        self.markets = {}
        for m in cfg.get("markets") or []:
            market = Market(m)
            self.markets[market.ticker] = market
        self.balance = cfg.get("balance", 0)
        if not isinstance(self.balance, int) or self.balance < 0:
            raise ValueError("balance must be a non-negative integer of cents")
        self.orders = {}          # order id -> order dict (internal form)
        self.by_client_id = {}    # client_order_id -> order id
        self.positions = {}       # ticker -> Position
        self.seen_signatures = set()
        self.updated = time.time()

    # --- authentication ---

    def authenticate(self, method: str, path: str, headers) -> tuple:
        """(key id, replayed) for a request whose three headers verify; else a 401."""
        key_id = headers.get("KALSHI-ACCESS-KEY")
        ts = headers.get("KALSHI-ACCESS-TIMESTAMP")
        sig = headers.get("KALSHI-ACCESS-SIGNATURE")

        def refuse(reason: str, details: str):
            raise ApiError(401, "authentication_error", "authentication_error",
                           f"{reason}: {details}")

        if not key_id or not ts or not sig:
            missing = [h for h, v in (("KALSHI-ACCESS-KEY", key_id), ("KALSHI-ACCESS-TIMESTAMP", ts),
                                      ("KALSHI-ACCESS-SIGNATURE", sig)) if not v]
            refuse("MISSING_AUTH_HEADERS", "missing " + ", ".join(missing))
        entry = self.keys.get(key_id)
        if entry is None:
            refuse("INCORRECT_API_KEY", f"no enrolled key {key_id!r}")
        if not ts.isdigit():
            refuse("INVALID_TIMESTAMP", "KALSHI-ACCESS-TIMESTAMP must be Unix milliseconds")
        skew = int(ts) - int(time.time() * 1000)
        if abs(skew) > self.tolerance_ms:
            refuse("STALE_TIMESTAMP", f"timestamp is {skew} ms from now; the tolerance is "
                                      f"{self.tolerance_ms} ms")
        try:
            raw = base64.b64decode(sig, validate=True)
        except (binascii.Error, ValueError):
            refuse("INCORRECT_API_KEY_SIGNATURE", "KALSHI-ACCESS-SIGNATURE is not base64")
        message = f"{ts}{method}{path}"
        try:
            entry["key"].verify(raw, message.encode(), PSS, hashes.SHA256())
        except InvalidSignature:
            refuse("INCORRECT_API_KEY_SIGNATURE",
                   f"the signature does not verify as RSA-PSS-SHA256 over {message!r}")
        with self.lock:
            replayed = raw in self.seen_signatures
            self.seen_signatures.add(raw)
        return key_id, replayed

    def enrol(self, body, scopes_default=("read", "write")) -> dict:
        if not isinstance(body, dict):
            raise bad("the body must be a JSON object")
        pem = body.get("public_key_pem", body.get("public_key"))
        if not isinstance(pem, str):
            raise bad("public_key_pem (a PEM RSA public key) is required")
        key = load_public_key(pem)
        key_id = body.get("key_id") or str(uuid.uuid4())
        if not isinstance(key_id, str) or not key_id.strip():
            raise bad("key_id must be a non-empty string")
        scopes = body.get("scopes") or list(scopes_default)
        if not isinstance(scopes, list) or not set(scopes) <= {"read", "write"} or \
                ("write" in scopes and "read" not in scopes):
            raise bad("scopes must be ['read'] or ['read', 'write']")
        with self.lock:
            if key_id in self.keys:
                raise ApiError(409, "already_exists", f"a key {key_id!r} is already enrolled")
            self.keys[key_id] = {"key": key, "name": body.get("name") or key_id, "scopes": scopes}
        return {"key_id": key_id}

    # --- markets ---

    def market(self, ticker: str) -> Market:
        m = self.markets.get(ticker)
        if m is None:
            raise ApiError(404, "not_found", f"market {ticker} not found")
        return m

    def list_markets(self, q: dict) -> dict:
        def arg(k):
            return q.get(k, [None])[0]

        out = list(self.markets.values())
        if arg("tickers"):
            wanted = set(arg("tickers").split(","))
            out = [m for m in out if m.ticker in wanted]
        if arg("event_ticker"):
            out = [m for m in out if m.event_ticker == arg("event_ticker")]
        if arg("series_ticker"):
            out = [m for m in out if m.series_ticker == arg("series_ticker")]
        if arg("status"):
            if arg("status") not in STATUS_FILTER:
                raise bad(f"status must be one of {', '.join(STATUS_FILTER)}")
            out = [m for m in out if m.status in STATUS_FILTER[arg("status")]]
        return {"markets": [m.json() for m in out], "cursor": ""}

    def event(self, event_ticker: str) -> dict:
        markets = [m for m in self.markets.values() if m.event_ticker == event_ticker]
        if not markets:
            raise ApiError(404, "not_found", f"event {event_ticker} not found")
        return {"event": {"event_ticker": event_ticker, "series_ticker": markets[0].series_ticker,
                          "title": f"{event_ticker} (local stand-in event)", "sub_title": "",
                          "collateral_return_type": "", "mutually_exclusive": False,
                          "category": "", "available_on_brokers": False, "product_metadata": {}},
                "markets": [m.json() for m in markets]}

    # --- orders ---

    def parse_v1(self, body) -> dict:
        """A legacy CreateOrder body as (ticker, outcome bought, price of that outcome, ...)."""
        if not isinstance(body, dict):
            raise bad("the body must be a JSON object")
        ticker = body.get("ticker")
        if not isinstance(ticker, str) or not ticker:
            raise bad("ticker is required")
        side, action = body.get("side"), body.get("action")
        if side not in ("yes", "no"):
            raise bad(f"side must be yes or no, got {side!r}")
        if action not in ("buy", "sell"):
            raise bad(f"action must be buy or sell, got {action!r}")
        if "type" in body and body["type"] != "limit":
            raise bad(f"type {body['type']!r} is not offered; orders are limit orders")
        count = int_field(body, "count", 1)
        if body.get("count_fp") is not None:
            c = parse_count_fp(body["count_fp"], "count_fp")
            if count is not None and c != count:
                raise bad("count and count_fp must match")
            count = c
        if count is None or count < 1:
            raise bad("count (or count_fp) must be at least 1")
        yes_price = int_field(body, "yes_price", 1, 99)
        no_price = int_field(body, "no_price", 1, 99)
        for k, name in (("yes_price_dollars", "yes"), ("no_price_dollars", "no")):
            if body.get(k) is not None:
                c = parse_dollars(body[k], k)
                if not 1 <= c <= 99:
                    raise bad(f"{k} must be from 0.01 to 0.99")
                cur = yes_price if name == "yes" else no_price
                if cur is not None and cur != c:
                    raise bad(f"{name}_price and {k} must match")
                if name == "yes":
                    yes_price = c
                else:
                    no_price = c
        if yes_price is not None and no_price is not None and yes_price + no_price != 100:
            raise bad("yes_price and no_price must add up to 100 cents")
        if yes_price is None and no_price is None:
            raise bad("a limit price is required: one of yes_price, no_price, yes_price_dollars, "
                      "no_price_dollars")
        yes = yes_price if yes_price is not None else 100 - no_price
        # Buying YES or selling NO is long YES at the YES price; the rest is long NO at 1 - it.
        outcome = "yes" if (side, action) in (("yes", "buy"), ("no", "sell")) else "no"
        tif = body.get("time_in_force")
        if tif is not None and tif not in TIME_IN_FORCE:
            raise bad(f"time_in_force must be one of {', '.join(TIME_IN_FORCE)}")
        stp = body.get("self_trade_prevention_type")
        if stp is not None and stp not in STP:
            raise bad(f"self_trade_prevention_type must be one of {', '.join(STP)}")
        buy_max_cost = int_field(body, "buy_max_cost", 1)
        expiration_ts = int_field(body, "expiration_ts", 0)
        cid = body.get("client_order_id")
        if cid is not None and (not isinstance(cid, str) or not cid or len(cid) > 64):
            raise bad("client_order_id must be a non-empty string of at most 64 characters")
        return {"ticker": ticker, "outcome": outcome, "price": yes if outcome == "yes" else 100 - yes,
                "count": count, "side": side, "action": action, "client_order_id": cid,
                "tif": tif, "fok": tif == "fill_or_kill" or buy_max_cost is not None,
                "buy_max_cost": buy_max_cost, "post_only": bool(body.get("post_only")),
                "expiration_ts": expiration_ts, "stp": stp or "taker_at_cross"}

    def parse_v2(self, body) -> dict:
        if not isinstance(body, dict):
            raise bad("the body must be a JSON object")
        for k in ("ticker", "client_order_id", "side", "count", "price", "time_in_force",
                  "self_trade_prevention_type"):
            if body.get(k) is None:
                raise bad(f"{k} is required")
        ticker, cid, side = body["ticker"], body["client_order_id"], body["side"]
        if not isinstance(ticker, str) or not ticker:
            raise bad("ticker must be a non-empty string")
        if not isinstance(cid, str) or not cid or len(cid) > 64:
            raise bad("client_order_id must be a non-empty string of at most 64 characters")
        if side not in ("bid", "ask"):
            raise bad(f"side must be bid or ask, got {side!r}")
        count = parse_count_fp(body["count"], "count")
        if count < 1:
            raise bad("count must be at least 1")
        yes = parse_dollars(body["price"], "price")
        if not 1 <= yes <= 99:
            raise bad("price must be from 0.0100 to 0.9900")
        if body["time_in_force"] not in TIME_IN_FORCE:
            raise bad(f"time_in_force must be one of {', '.join(TIME_IN_FORCE)}")
        if body["self_trade_prevention_type"] not in STP:
            raise bad(f"self_trade_prevention_type must be one of {', '.join(STP)}")
        expiration = int_field(body, "expiration_time", 0)
        if expiration is not None and body["time_in_force"] == "immediate_or_cancel":
            raise bad("immediate_or_cancel cannot be combined with expiration_time")
        # bid buys YES at price; ask sells YES at price, i.e. buys NO at 1 - price.
        outcome = "yes" if side == "bid" else "no"
        return {"ticker": ticker, "outcome": outcome, "price": yes if side == "bid" else 100 - yes,
                "count": count, "side": "yes" if side == "bid" else "no",
                "action": "buy", "client_order_id": cid, "tif": body["time_in_force"],
                "fok": body["time_in_force"] == "fill_or_kill", "buy_max_cost": None,
                "post_only": bool(body.get("post_only")), "expiration_ts": expiration,
                "stp": body["self_trade_prevention_type"]}

    @staticmethod
    def terms(o: dict) -> tuple:
        return (o["ticker"], o["outcome"], o["price"], o["count"])

    def create(self, req: dict) -> tuple:
        """(order, created): a new order, or the existing one for a repeated client_order_id."""
        with self.lock:
            cid = req["client_order_id"] or str(uuid.uuid4())
            if cid in self.by_client_id:
                prior = self.orders[self.by_client_id[cid]]
                if self.terms(prior) == self.terms(req):
                    return prior, False
                raise ApiError(409, "order_already_exists",
                               f"client_order_id {cid} is already used by order {prior['order_id']} "
                               "with other terms")
            market = self.markets.get(req["ticker"])
            if market is None:
                raise ApiError(404, "market_not_found", f"market {req['ticker']} not found")
            if market.status not in TRADABLE:
                raise bad(f"market {market.ticker} is {market.status}, not open for trading",
                          "market_closed")
            n, limit, outcome = req["count"], req["price"], req["outcome"]
            ask = market.ask(outcome)
            crosses = ask is not None and limit >= ask
            if req["post_only"] and crosses:
                raise bad("a post-only order would cross the book", "post_only_cross")
            if req["buy_max_cost"] is not None and crosses and n * ask > req["buy_max_cost"]:
                crosses = False  # more than the buyer allows: fill-or-kill kills it
            if n * limit > self.balance:
                raise bad(f"the order needs up to {n * limit} cents; the available balance is "
                          f"{self.balance}", "insufficient_balance")
            now = time.time()
            order = {"order_id": str(uuid.uuid4()), "client_order_id": cid, **req,
                     "created": now, "updated": now, "filled": 0, "fill_cost": 0,
                     "remaining": 0, "status": "resting"}
            if crosses:
                self.fill(market, outcome, n, ask)
                order.update(filled=n, fill_cost=n * ask, status="executed")
            elif req["fok"] or req["tif"] == "immediate_or_cancel":
                order.update(status="canceled")
            else:
                self.balance -= n * limit  # held while the order rests
                order.update(remaining=n)
            self.orders[order["order_id"]] = order
            self.by_client_id[cid] = order["order_id"]
            self.updated = now
            return order, True

    def fill(self, market: Market, outcome: str, n: int, price: int) -> None:
        """Buys n contracts of outcome at price: debits, nets YES against NO, records."""
        pos = self.positions.setdefault(market.ticker, Position(market))
        self.balance -= n * price
        pos.traded += n * price
        market.volume += n
        market.last_price = price if outcome == "yes" else 100 - price
        held = pos.position if outcome == "no" else -pos.position  # the opposite side's holding
        netted = min(n, max(held, 0))
        if netted:
            basis = pos.cost if netted == held else pos.cost * netted // held
            pos.cost -= basis
            pos.realized += netted * 100 - netted * price - basis
            self.balance += netted * 100  # each YES+NO pair pays $1 back
        rest = n - netted
        sign = 1 if outcome == "yes" else -1
        pos.position += sign * n
        pos.cost += rest * price
        pos.updated = time.time()

    def cancel(self, order_id: str) -> tuple:
        with self.lock:
            o = self.orders.get(order_id)
            if o is None or o["status"] != "resting":
                raise ApiError(404, "not_found", f"no resting order {order_id}")
            reduced = o["remaining"]
            self.balance += reduced * o["price"]
            o.update(remaining=0, status="canceled", updated=time.time())
            self.updated = o["updated"]
            return o, reduced

    def order(self, order_id: str) -> dict:
        o = self.orders.get(order_id)
        if o is None:
            raise ApiError(404, "not_found", f"order {order_id} not found")
        return o

    @staticmethod
    def order_json(o: dict) -> dict:
        yes = o["price"] if o["outcome"] == "yes" else 100 - o["price"]
        fee = "0.0000"
        return {
            "order_id": o["order_id"], "user_id": USER_ID, "client_order_id": o["client_order_id"],
            "ticker": o["ticker"], "side": o["side"], "action": o["action"], "type": "limit",
            "outcome_side": o["outcome"], "book_side": "bid" if o["outcome"] == "yes" else "ask",
            "status": o["status"],
            "yes_price_dollars": dollars(yes), "no_price_dollars": dollars(100 - yes),
            "fill_count_fp": fp(o["filled"]), "remaining_count_fp": fp(o["remaining"]),
            "initial_count_fp": fp(o["count"]),
            "taker_fill_cost_dollars": dollars(o["fill_cost"]), "maker_fill_cost_dollars": "0.0000",
            "taker_fees_dollars": fee, "maker_fees_dollars": fee,
            "expiration_time": iso(o["expiration_ts"]) if o["expiration_ts"] else None,
            "created_time": iso(o["created"]), "last_update_time": iso(o["updated"]),
            "self_trade_prevention_type": o["stp"], "cancel_order_on_pause": False,
            "subaccount_number": 0, "exchange_index": 0,
        }

    @staticmethod
    def order_v2_json(o: dict) -> dict:
        out = {"order_id": o["order_id"], "client_order_id": o["client_order_id"],
               "fill_count": fp(o["filled"]), "remaining_count": fp(o["remaining"])}
        if o["filled"]:
            avg = o["fill_cost"] // o["filled"]
            out["average_fill_price"] = dollars(avg if o["outcome"] == "yes" else 100 - avg)
            out["average_fee_paid"] = "0.0000"
        return out

    def list_orders(self, q: dict) -> dict:
        def arg(k):
            return q.get(k, [None])[0]

        with self.lock:
            out = sorted(self.orders.values(), key=lambda o: o["created"], reverse=True)
        if arg("ticker"):
            out = [o for o in out if o["ticker"] == arg("ticker")]
        if arg("event_ticker"):
            events = set(arg("event_ticker").split(","))
            out = [o for o in out if self.markets[o["ticker"]].event_ticker in events]
        if arg("status"):
            out = [o for o in out if o["status"] == arg("status")]
        return {"orders": [self.order_json(o) for o in out], "cursor": ""}

    # --- portfolio ---

    def balance_json(self) -> dict:
        with self.lock:
            value = sum(abs(p.position) * ((p.market.yes_bid or 0) if p.position > 0 else
                                           (p.market.no_bid or 0))
                        for p in self.positions.values())
            return {"balance": self.balance, "balance_dollars": dollars(self.balance),
                    "portfolio_value": value, "updated_ts": int(self.updated)}

    def positions_json(self, q: dict) -> dict:
        def arg(k):
            return q.get(k, [None])[0]

        with self.lock:
            resting = {}
            for o in self.orders.values():
                if o["status"] == "resting":
                    resting[o["ticker"]] = resting.get(o["ticker"], 0) + o["remaining"]
            tickers = set(self.positions) | set(resting)
            if arg("ticker"):
                tickers &= {arg("ticker")}
            if arg("event_ticker"):
                tickers = {t for t in tickers if self.markets[t].event_ticker == arg("event_ticker")}
            market_positions, events = [], {}
            for t in sorted(tickers):
                p = self.positions.get(t) or Position(self.markets[t])
                market_positions.append({
                    "ticker": t, "total_traded_dollars": dollars(p.traded),
                    "position_fp": f"{p.position}.00", "market_exposure_dollars": dollars(p.cost),
                    "realized_pnl_dollars": dollars(p.realized),
                    "resting_orders_count": resting.get(t, 0), "fees_paid_dollars": "0.0000",
                    "last_updated_ts": iso(p.updated)})
                e = events.setdefault(p.market.event_ticker, [0, 0, 0, 0])
                e[0] += p.traded
                e[1] += abs(p.position)
                e[2] += p.cost
                e[3] += p.realized
            event_positions = [{"event_ticker": k, "total_cost_dollars": dollars(v[0]),
                                "total_cost_shares_fp": fp(v[1]),
                                "event_exposure_dollars": dollars(v[2]),
                                "realized_pnl_dollars": dollars(v[3]), "fees_paid_dollars": "0.0000"}
                               for k, v in sorted(events.items())]
            return {"market_positions": market_positions, "event_positions": event_positions,
                    "cursor": ""}


OUT = threading.Lock()


def emit(obj: dict) -> None:
    with OUT:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def handler(ex: Exchange):
    class Handler(BaseHTTPRequestHandler):
        server_version = "kalshi-fake"

        def log_message(self, *args):  # the JSON "seen" lines are the log
            pass

        def read_body(self) -> bytes:
            """The whole request body, read before anything can refuse the request."""
            try:
                n = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                raise bad("Content-Length is not a number") from None
            if n < 0 or n > 1 << 20:
                raise bad("request body too large")
            return self.rfile.read(n) if n else b""

        def body(self):
            try:
                return json.loads(self.raw_body or b"null")
            except ValueError:
                raise bad("the body is not JSON") from None

        def route(self, method: str, path: str, query: dict, log: dict):
            if method == "POST" and path == "/_enrol":
                out = ex.enrol(self.body())
                out["note"] = ("test-only endpoint of the local Kalshi stand-in; Kalshi enrols "
                               "keys in its web UI or with POST /trade-api/v2/api_keys")
                return 200, out
            if not path.startswith(PREFIX + "/"):
                raise ApiError(404, "not_found", f"no route {method} {path}")
            sub = path[len(PREFIX):]
            parts = [unquote(p) for p in sub.strip("/").split("/")]
            private = parts[0] in ("portfolio", "api_keys")
            key_id = None
            if private or self.headers.get("KALSHI-ACCESS-KEY"):
                log["key"] = self.headers.get("KALSHI-ACCESS-KEY")
                key_id, replayed = ex.authenticate(method, path, self.headers)
                log["verified"] = True
                if replayed:
                    log["replayed"] = True
                if method in ("POST", "DELETE") and "write" not in ex.keys[key_id]["scopes"]:
                    raise ApiError(403, "forbidden", f"key {key_id} has no write scope")

            if method == "GET" and parts == ["markets"]:
                return 200, ex.list_markets(query)
            if method == "GET" and len(parts) == 2 and parts[0] == "markets":
                return 200, {"market": ex.market(parts[1]).json()}
            if method == "GET" and len(parts) == 2 and parts[0] == "events":
                return 200, ex.event(parts[1])
            if parts == ["api_keys"]:
                if method == "GET":
                    return 200, {"api_keys": [{"api_key_id": k, "name": v["name"], "scopes": v["scopes"]}
                                              for k, v in ex.keys.items()]}
                if method == "POST":
                    b = self.body()
                    if not isinstance(b, dict) or not isinstance(b.get("name"), str):
                        raise bad("name and public_key are required")
                    out = ex.enrol({"public_key_pem": b.get("public_key"), "name": b["name"],
                                    "scopes": b.get("scopes")})
                    return 201, {"api_key_id": out["key_id"]}
            if parts == ["portfolio", "orders"]:
                if method == "POST":
                    order, created = ex.create(ex.parse_v1(self.body()))
                    log["order"] = order["order_id"] if created else f"{order['order_id']} (repeat)"
                    return 201, {"order": ex.order_json(order)}
                if method == "GET":
                    return 200, ex.list_orders(query)
            if parts == ["portfolio", "events", "orders"] and method == "POST":
                order, created = ex.create(ex.parse_v2(self.body()))
                log["order"] = order["order_id"] if created else f"{order['order_id']} (repeat)"
                return 201, ex.order_v2_json(order)
            if len(parts) == 3 and parts[:2] == ["portfolio", "orders"]:
                if method == "GET":
                    return 200, {"order": ex.order_json(ex.order(parts[2]))}
                if method == "DELETE":
                    order, reduced = ex.cancel(parts[2])
                    return 200, {"order": ex.order_json(order), "reduced_by_fp": fp(reduced)}
            if len(parts) == 4 and parts[:3] == ["portfolio", "events", "orders"] and method == "DELETE":
                order, reduced = ex.cancel(parts[3])
                return 200, {"order_id": order["order_id"], "client_order_id": order["client_order_id"],
                             "reduced_by": fp(reduced), "ts_ms": int(time.time() * 1000)}
            if method == "GET" and parts == ["portfolio", "balance"]:
                return 200, ex.balance_json()
            if method == "GET" and parts == ["portfolio", "positions"]:
                return 200, ex.positions_json(query)
            raise ApiError(404, "not_found", f"no route {method} {path}")

        def handle_any(self, method: str):
            url = urlsplit(self.path)
            log = {"seen": f"{method} {url.path}", "key": None, "verified": False}
            try:
                self.raw_body = self.read_body()
                status, out = self.route(method, url.path, parse_qs(url.query), log)
            except ApiError as e:
                if e.status == 401:
                    log["refused"] = e.details
                status = e.status
                out = {"error": {"code": e.code, "message": e.message, "details": e.details,
                                 "service": SERVICE}}
            except Exception as e:  # a bug here: the trace goes to stderr, not to the client
                traceback.print_exc()
                status = 500
                out = {"error": {"code": "internal_server_error",
                                 "message": f"internal error ({type(e).__name__})", "details": "",
                                 "service": SERVICE}}
            log["status"] = status
            emit(log)
            self.reply(status, out)

        def reply(self, status: int, out: dict):
            data = json.dumps(out).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Custos-Fake", FAKE)
            self.end_headers()
            self.wfile.write(data)

        def send_error(self, code, message=None, explain=None):
            # http.server's own errors (a malformed request, an unsupported method), as JSON too.
            self.close_connection = True
            code = 405 if code == 501 else code
            self.reply(code, {"error": {"code": "invalid_request",
                                        "message": message or HTTPStatus(code).phrase,
                                        "details": "", "service": SERVICE}})

        def do_GET(self):
            self.handle_any("GET")

        def do_POST(self):
            self.handle_any("POST")

        def do_DELETE(self):
            self.handle_any("DELETE")

    return Handler


def main() -> int:
    try:
        ex = Exchange(json.loads(sys.argv[1]))
    except (IndexError, ValueError, ApiError) as e:
        msg = e.message if isinstance(e, ApiError) else e
        print(f"usage: kalshi_fake.py '<json config>' (see the docstring): {msg}", file=sys.stderr)
        return 2
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(ex))
    server.daemon_threads = True
    emit({"url": f"http://127.0.0.1:{server.server_address[1]}{PREFIX}"})
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
