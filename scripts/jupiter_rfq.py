#!/usr/bin/env python3
"""jupiter-rfq: a local stand-in for the Jupiter Swap API (lite-api.jup.ag/swap/v1, which this
machine cannot reach), for Custos' tests; it fills by RFQ on the devnet. Nothing here is Jupiter
or Custos code. It speaks Jupiter's Swap API v1 JSON, but instead of routing through DEXes it
fills like a request-for-quote market maker: the transactions it hands out are real two-leg
swaps (the user pays the maker, the maker pays the user) that the maker key has already
co-signed, and they execute on the given Solana RPC (custos devnet). Every response carries the
header `X-Custos-Fake: jupiter-rfq (...)` saying so.

  python3 scripts/jupiter_rfq.py '{"rpc": "http://127.0.0.1:PORT", "makerKey": [64 ints],
      "rates": {"<inputMint>/<outputMint>": "<whole output units per whole input unit>"},
      "drainMint": "<a second mint, for the drain and swap_mints variants>"}'

Prints one JSON line {"url": "http://127.0.0.1:PORT", "maker": "<maker pubkey>"} once it
listens on a loopback port of its own choosing, then logs each request as {"seen": "METHOD PATH"}.

  GET  /swap/v1/quote?inputMint=&outputMint=&amount=&slippageBps=50&swapMode=ExactIn
       a QuoteResponse; outAmount = floor(amount x rate x 10^(outDecimals - inDecimals)).
  POST /swap/v1/swap {"quoteResponse": {...}, "userPublicKey": "..."}   (other fields ignored)
       {"swapTransaction": base64 v0 transaction, fee payer the user, maker-signed, the user's
        signature slot zeroed; "lastValidBlockHeight"; "prioritizationFeeLamports": 200}.
  POST /_variant {"name": ...}   what /swap/v1/swap builds from now on (quotes stay honest):
       honest | drain (also moves all the user's drainMint to the maker) | third_party (also
       sends 0.01 SOL of the user's to a random address) | approve (also approves the maker as
       delegate of the user's input token account for u64::MAX) | short (leg 2 pays
       otherAmountThreshold // 2) | swap_mints (leg 2 pays drainMint instead of the output).

Native SOL is named by the wrapped-SOL mint, as Jupiter does, but moves as lamports (System
transfer, no wrapping). Errors are {"error": ..., "errorCode": ...} (Jupiter's shape), 4xx for
the client's mistakes, 502 when the RPC fails; never a stack trace.
"""
import base64
import json
import math
import sys
import threading
import time
import traceback
import urllib.request
from fractions import Fraction
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import ID as SYSTEM_PROGRAM
from solders.system_program import TransferParams, transfer
from solders.token.associated import get_associated_token_address
from solders.transaction import VersionedTransaction

FAKE = "jupiter-rfq (a local stand-in for the Jupiter Swap API; fills by RFQ on the devnet)"
LABEL = "Custos RFQ (local stand-in)"
SOL = "So11111111111111111111111111111111111111112"
TOKEN_PROGRAMS = {
    Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"),  # SPL Token
    Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"),  # Token-2022
}
ATA_PROGRAM = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
CU_LIMIT, CU_PRICE = 200_000, 1_000  # micro-lamports per CU: 200 lamports of priority fee
U64_MAX = 2**64 - 1
THIRD_PARTY_LAMPORTS = 10_000_000
VARIANTS = ("honest", "drain", "third_party", "approve", "short", "swap_mints")


class ApiError(Exception):
    def __init__(self, status: int, error: str, code: str):
        super().__init__(error)
        self.status, self.error, self.code = status, error, code


def bad(msg: str) -> ApiError:
    return ApiError(400, msg, "INVALID_REQUEST")


def pubkey(s, what: str) -> Pubkey:
    try:
        return Pubkey.from_string(s)
    except (TypeError, ValueError):
        raise bad(f"{what} is not a valid public key: {s!r}") from None


def base_units(v, what: str) -> int:
    """A u64 amount, given as a decimal string (Jupiter's form) or an integer."""
    s = str(v) if isinstance(v, int) and not isinstance(v, bool) else v
    if not isinstance(s, str) or not s.isdigit() or not 0 < int(s) <= U64_MAX:
        raise bad(f"{what} must be a positive integer amount in base units, got {v!r}")
    return int(s)


# --- SPL instructions (solders has no builders for them; the layouts are the programs') ---

def ata(owner: Pubkey, mint: Pubkey, program: Pubkey) -> Pubkey:
    return get_associated_token_address(owner, mint, program)


def create_ata_idempotent(funder: Pubkey, owner: Pubkey, mint: Pubkey, program: Pubkey) -> Instruction:
    """Associated Token Account program, CreateIdempotent (1): the funder pays the rent."""
    metas = [AccountMeta(funder, True, True), AccountMeta(ata(owner, mint, program), False, True),
             AccountMeta(owner, False, False), AccountMeta(mint, False, False),
             AccountMeta(SYSTEM_PROGRAM, False, False), AccountMeta(program, False, False)]
    return Instruction(ATA_PROGRAM, bytes([1]), metas)


def transfer_checked(program, src, mint, dst, authority, amount: int, decimals: int) -> Instruction:
    """Token program TransferChecked (12): amount u64 LE, decimals u8."""
    data = bytes([12]) + amount.to_bytes(8, "little") + bytes([decimals])
    metas = [AccountMeta(src, False, True), AccountMeta(mint, False, False),
             AccountMeta(dst, False, True), AccountMeta(authority, True, False)]
    return Instruction(program, data, metas)


def approve(program, account, delegate, owner, amount: int) -> Instruction:
    """Token program Approve (4): amount u64 LE."""
    metas = [AccountMeta(account, False, True), AccountMeta(delegate, False, False),
             AccountMeta(owner, True, False)]
    return Instruction(program, bytes([4]) + amount.to_bytes(8, "little"), metas)


class Rpc:
    def __init__(self, url: str):
        self.url = url

    def call(self, method: str, params: list, tolerate_error: bool = False):
        """The JSON-RPC result; on a JSON-RPC error, None if tolerated, else a 502."""
        req = urllib.request.Request(
            self.url, headers={"Content-Type": "application/json"},
            data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode())
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                answer = json.loads(r.read())
        except Exception as e:
            raise ApiError(502, f"the Solana RPC failed on {method}: {e}", "RPC_ERROR") from None
        if "error" in answer:
            if tolerate_error:
                return None
            raise ApiError(502, f"the Solana RPC refused {method}: {answer['error']}", "RPC_ERROR")
        return answer["result"]


class Rfq:
    def __init__(self, cfg: dict):
        self.rpc = Rpc(cfg["rpc"])
        try:
            self.maker = Keypair.from_bytes(bytes(cfg["makerKey"]))
        except Exception:
            raise ValueError("makerKey must be 64 bytes: a secret seed, then its public key") from None
        self.rates = {}
        for pair, rate in cfg.get("rates", {}).items():
            i, o = pair.split("/")
            Pubkey.from_string(i), Pubkey.from_string(o)  # fail at start on a malformed pair
            self.rates[(i, o)] = Fraction(str(rate))
            if self.rates[(i, o)] <= 0:
                raise ValueError(f"the rate of {pair} must be positive")
        self.drain_mint = cfg.get("drainMint")
        if self.drain_mint is not None:
            Pubkey.from_string(self.drain_mint)
        self.variant = "honest"
        self.mints = {}  # mint -> (token program, decimals); a mint's decimals never change

    def mint(self, mint: str):
        """(token program, decimals) of a mint; (None, 9) for native SOL."""
        if mint == SOL:
            return None, 9
        if mint not in self.mints:
            info = self.rpc.call("getAccountInfo", [mint, {"encoding": "base64"}])["value"]
            data = base64.b64decode(info["data"][0]) if info else b""
            owner = Pubkey.from_string(info["owner"]) if info else None
            if owner not in TOKEN_PROGRAMS or len(data) < 82 or data[45] != 1:
                raise ApiError(400, f"The token {mint} is not tradable", "TOKEN_NOT_TRADABLE")
            self.mints[mint] = (owner, data[44])
        return self.mints[mint]

    # --- GET /swap/v1/quote ---

    def quote(self, input_mint: str, output_mint: str, amount: int, slippage_bps: int) -> dict:
        started = time.monotonic()
        pubkey(input_mint, "inputMint"), pubkey(output_mint, "outputMint")
        if input_mint == output_mint:
            raise ApiError(400, "Circular arbitrage is disabled", "CIRCULAR_ARBITRAGE_IS_DISABLED")
        rate = self.rates.get((input_mint, output_mint))
        if rate is None:
            raise ApiError(400, "Could not find any route", "COULD_NOT_FIND_ANY_ROUTE")
        in_dec, out_dec = self.mint(input_mint)[1], self.mint(output_mint)[1]
        out = math.floor(amount * rate * Fraction(10) ** (out_dec - in_dec))
        if not 0 < out <= U64_MAX:
            raise ApiError(400, "Could not find any route (amount out of range)", "COULD_NOT_FIND_ANY_ROUTE")
        threshold = out * (10_000 - slippage_bps) // 10_000
        slot = self.rpc.call("getSlot", [])
        return {
            "inputMint": input_mint, "inAmount": str(amount),
            "outputMint": output_mint, "outAmount": str(out),
            "otherAmountThreshold": str(threshold), "swapMode": "ExactIn",
            "slippageBps": slippage_bps, "platformFee": None, "priceImpactPct": "0",
            "routePlan": [{"swapInfo": {
                "ammKey": str(self.maker.pubkey()), "label": LABEL,
                "inputMint": input_mint, "outputMint": output_mint,
                "inAmount": str(amount), "outAmount": str(out),
                "feeAmount": "0", "feeMint": output_mint}, "percent": 100, "bps": 10_000}],
            "contextSlot": slot, "timeTaken": round(time.monotonic() - started, 6),
        }

    def quote_query(self, q: dict) -> dict:
        def arg(k, default=None):
            return q.get(k, [default])[0]

        if arg("inputMint") is None or arg("outputMint") is None or arg("amount") is None:
            raise bad("inputMint, outputMint and amount are required")
        if arg("swapMode", "ExactIn") != "ExactIn":
            raise bad("only swapMode=ExactIn is supported by this stand-in")
        slippage = arg("slippageBps", "50")
        if not slippage.isdigit() or int(slippage) > 10_000:
            raise bad(f"slippageBps must be an integer from 0 to 10000, got {slippage!r}")
        return self.quote(arg("inputMint"), arg("outputMint"),
                          base_units(arg("amount"), "amount"), int(slippage))

    # --- POST /swap/v1/swap ---

    def move(self, mint: str, frm: Pubkey, to: Pubkey, amount: int) -> Instruction:
        """One leg: lamports by System transfer for SOL, else TransferChecked between the ATAs."""
        if mint == SOL:
            return transfer(TransferParams(from_pubkey=frm, to_pubkey=to, lamports=amount))
        program, decimals = self.mint(mint)
        m = Pubkey.from_string(mint)
        return transfer_checked(program, ata(frm, m, program), m, ata(to, m, program), frm, amount, decimals)

    def create_ata(self, owner: Pubkey, mint: str) -> list:
        """CreateIdempotent of owner's ATA for an SPL mint, funded by the maker; none for SOL."""
        if mint == SOL:
            return []
        program = self.mint(mint)[0]
        return [create_ata_idempotent(self.maker.pubkey(), owner, Pubkey.from_string(mint), program)]

    def swap(self, body) -> dict:
        if not isinstance(body, dict) or not isinstance(body.get("quoteResponse"), dict):
            raise bad("the body must be a JSON object with quoteResponse and userPublicKey")
        q = body["quoteResponse"]
        user = pubkey(body.get("userPublicKey"), "userPublicKey")
        maker = self.maker.pubkey()
        if user == maker:
            raise bad("userPublicKey is the market maker itself")
        if q.get("swapMode", "ExactIn") != "ExactIn":
            raise bad("only ExactIn quotes are supported by this stand-in")
        slippage = q.get("slippageBps")
        if not isinstance(slippage, int) or isinstance(slippage, bool) or not 0 <= slippage <= 10_000:
            raise bad("quoteResponse.slippageBps must be an integer from 0 to 10000")
        in_mint, out_mint = q.get("inputMint"), q.get("outputMint")
        in_amount = base_units(q.get("inAmount"), "quoteResponse.inAmount")
        # An RFQ maker fills only at its own price: the quote must be what it quotes now.
        fresh = self.quote(in_mint, out_mint, in_amount, slippage)
        for k in ("outAmount", "otherAmountThreshold"):
            if str(q.get(k)) != fresh[k]:
                raise ApiError(400, f"quoteResponse.{k} {q.get(k)!r} is not this maker's price "
                                    f"(a fresh quote gives {fresh[k]}); quote again", "INVALID_QUOTE_RESPONSE")
        out_amount, threshold = int(fresh["outAmount"]), int(fresh["otherAmountThreshold"])

        variant = self.variant
        paid_mint = self.drain_mint if variant == "swap_mints" else out_mint
        paid_amount = threshold // 2 if variant == "short" else out_amount
        ixs = [set_compute_unit_limit(CU_LIMIT), set_compute_unit_price(CU_PRICE)]
        ixs += self.create_ata(user, paid_mint)      # the user's output account, maker-funded
        ixs += self.create_ata(maker, in_mint)       # the maker's input account, maker-funded
        ixs.append(self.move(in_mint, user, maker, in_amount))    # leg 1: user -> maker
        ixs.append(self.move(paid_mint, maker, user, paid_amount))  # leg 2: maker -> user

        # The misbehaviours: each an instruction or two more, after the honest legs.
        if variant == "drain":
            program = self.mint(self.drain_mint)[0]
            source = ata(user, Pubkey.from_string(self.drain_mint), program)
            bal = self.rpc.call("getTokenAccountBalance", [str(source)], tolerate_error=True)
            amount = int(bal["value"]["amount"]) if bal else 0
            ixs += self.create_ata(maker, self.drain_mint)
            ixs.append(self.move(self.drain_mint, user, maker, amount or 1))
        elif variant == "third_party":
            ixs.append(transfer(TransferParams(from_pubkey=user, to_pubkey=Keypair().pubkey(),
                                               lamports=THIRD_PARTY_LAMPORTS)))
        elif variant == "approve":
            mint = in_mint if in_mint != SOL else paid_mint
            program = self.mint(mint)[0]
            ixs.append(approve(program, ata(user, Pubkey.from_string(mint), program), maker, user, U64_MAX))

        latest = self.rpc.call("getLatestBlockhash", [{"commitment": "confirmed"}])["value"]
        msg = MessageV0.try_compile(user, ixs, [], Hash.from_string(latest["blockhash"]))
        # The maker signs now; every other signer's slot (the user's) stays 64 zero bytes.
        maker_sig = self.maker.sign_message(to_bytes_versioned(msg))
        signers = msg.account_keys[: msg.header.num_required_signatures]
        tx = VersionedTransaction.populate(
            msg, [maker_sig if k == maker else Signature.default() for k in signers])
        return {"swapTransaction": base64.b64encode(bytes(tx)).decode(),
                "lastValidBlockHeight": latest["lastValidBlockHeight"],
                "prioritizationFeeLamports": CU_LIMIT * CU_PRICE // 1_000_000}

    def set_variant(self, body) -> dict:
        name = body.get("name") if isinstance(body, dict) else None
        if name not in VARIANTS:
            raise bad(f"unknown variant {name!r}; one of {', '.join(VARIANTS)}")
        if name in ("drain", "swap_mints") and (self.drain_mint is None or self.drain_mint == SOL):
            raise bad(f"variant {name} needs an SPL drainMint in the config")
        self.variant = name
        return {"variant": name}


OUT = threading.Lock()


def emit(obj: dict) -> None:
    with OUT:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def handler(rfq: Rfq):
    class Handler(BaseHTTPRequestHandler):
        server_version = "jupiter-rfq"

        def log_message(self, *args):  # the JSON "seen" lines are the log
            pass

        def body(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n > 1 << 20:
                raise ApiError(413, "request body too large", "INVALID_REQUEST")
            try:
                return json.loads(self.rfile.read(n) or b"null")
            except ValueError:
                raise bad("the body is not JSON") from None

        def handle_any(self, method: str):
            url = urlsplit(self.path)
            emit({"seen": f"{method} {url.path}"})
            try:
                if method == "GET" and url.path == "/swap/v1/quote":
                    status, out = 200, rfq.quote_query(parse_qs(url.query))
                elif method == "POST" and url.path == "/swap/v1/swap":
                    status, out = 200, rfq.swap(self.body())
                elif method == "POST" and url.path == "/_variant":
                    status, out = 200, rfq.set_variant(self.body())
                else:
                    raise ApiError(404, f"no route {method} {url.path}", "NOT_FOUND")
            except ApiError as e:
                status, out = e.status, {"error": e.error, "errorCode": e.code}
            except Exception as e:  # a bug here: the trace goes to stderr, not to the client
                traceback.print_exc()
                status, out = 500, {"error": f"internal error ({type(e).__name__})", "errorCode": "INTERNAL_ERROR"}
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
            code = 405 if code == 501 else code  # an unsupported method: a 4xx, as the rest
            self.reply(code, {"error": message or HTTPStatus(code).phrase, "errorCode": "INVALID_REQUEST"})

        def do_GET(self):
            self.handle_any("GET")

        def do_POST(self):
            self.handle_any("POST")

    return Handler


def main() -> int:
    try:
        rfq = Rfq(json.loads(sys.argv[1]))
    except Exception as e:
        print(f"usage: jupiter_rfq.py '<json config>' (see the docstring): {e}", file=sys.stderr)
        return 2
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(rfq))
    server.daemon_threads = True
    emit({"url": f"http://127.0.0.1:{server.server_address[1]}", "maker": str(rfq.maker.pubkey())})
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
