// Builds Meteora DLMM liquidity transactions with the official SDK, @meteora-ag/dlmm 1.9.14,
// as the reference for Custos' own builder. Each run builds one fake world from a JSON case and
// serves it from a mock JSON-RPC. The mock listens on 127.0.0.1 on a free port and is closed
// before exit. The SDK then builds add-liquidity, remove-liquidity or claim-fee transactions
// against that mock. Nothing here is Custos code, and no other address is contacted: every
// request web3.js makes goes through a fetch that refuses any URL but the mock's.
//
//   node scripts/meteora_dlmm/build.mjs < case.json
//   METEORA_DLMM_DEBUG=1 node ...    (also logs each RPC call and error stack to stderr)
//
// Reads ONE JSON case on stdin and prints ONE JSON line on stdout:
//   {"instructions": [{"tx": 0, "programId": B58, "keys": [{"pubkey": B58, "isSigner": bool,
//     "isWritable": bool}, …], "data": HEX}, …], "sdkVersion": "1.9.14"}
// This lists every instruction of every transaction the SDK returned, in order. "tx" is the
// transaction's index. There is one transaction per 70-bin chunk of the range, and a position
// here is at most 70 bins wide, so in practice "tx" is always 0.
// Exit codes:
//   0 on success;
//   2 with {"error": MESSAGE} on stdout for a bad case or an SDK refusal (e.g. "Error: No fee to
//     claim", "Error: No liquidity to remove"), or after 60 s;
//   1 only if node cannot start the script at all (e.g. node_modules missing).
// The output is byte-for-byte deterministic for a given case.
//
// ── The case ────────────────────────────────────────────────────────────────────────────────
// Addresses are base58 strings. u64/u128 amounts are decimal strings; a JSON integer
// ≤ 2^53-1 is also accepted. Bin ids are i32. [opt] marks an optional field, with its default.
// {
//   "op": "add" | "remove" | "claim",
//   "pool": {
//     "address", "tokenXMint", "tokenYMint",
//     "binStep": u16, "activeId": i32,
//     "reserveX" [opt: PDA [pool, tokenXMint]], "reserveY" [opt: PDA [pool, tokenYMint]],
//     "oracle" [opt: PDA ["oracle", pool]],
//     "bitmapExtension": bool [opt: false]   — whether the account PDA ["bitmap", pool] exists
//   },
//   "mints": {"<mint>": {"decimals": u8, "program": "token" | "token-2022"}}
//       — both pool mints are required. "token-2022" mints have no extensions, so there are no
//         transfer hooks and no transfer fees.
//   "user": address   — the wallet: sender (signer) and payer of every instruction
//   "userTokenAccounts" [opt: every ATA exists]: {"<mint>": bool}
//       — whether user's ATA (of the mint's token program) exists. Only "add" reads this.
//   "binArrays" [opt: []]: [i64 …]   — indexes of the bin arrays that exist
//   "position": {
//     "address",
//     "owner" [opt: user], "feeOwner" [opt: none = 11111111111111111111111111111111],
//     "lowerBinId": i32, "width": 1..70   — required for remove/claim; "add" never reads the
//                                            position account,
//     "bins" [opt: []]: [{"binId" (within the position), "liquidityShare": u128 [opt "0"],
//       "feeXPending": u64 [opt "0"], "feeYPending": u64 [opt "0"],
//       "binSupply": u128 [opt: = liquidityShare]}]   — unlisted bins are all zero
//   },
//   "add": {"totalXAmount": u64, "totalYAmount": u64,
//           "strategy": {"minBinId", "maxBinId", "strategyType": "Spot" | "Curve" | "BidAsk",
//                        "singleSidedX": bool [opt: false]},
//           "slippage": percent [opt: absent]},                              — required for add
//   "remove": {"fromBinId", "toBinId", "bps": 1..10000,
//              "shouldClaimAndClose": bool [opt: false]},                  — required for remove
//   "claim": {}                                                                 — [opt]
// }
// Unknown fields are refused. The sections of the other two ops may be present; they are
// ignored.
//
// ── The fake world (fixed parts) ────────────────────────────────────────────────────────────
// Program: LBUZKhRxPF3XUpBCjp4YzTKgLccjZhTSDM9YuVaPwxo (the SDK's mainnet-beta id). Every
// account is encoded with the SDK's own Anchor coder, and every field not listed here is zero.
// - LbPair: active_id, bin_step, bin_step_seed (= bin_step LE), mints, reserves, oracle,
//   status 0, pair_type 0, token_mint_{x,y}_program_flag (0 = token, 1 = token-2022),
//   parameters {base_factor 10000, min_bin_id -443636, max_bin_id 443636}. It has no rewards,
//   so the SDK emits no claim_reward2.
// - BinArray (one per "binArrays" index): index, lb_pair, and liquidity_supply = binSupply
//   for the listed position bins. Fee growth is zero, so a position's claimable fee is exactly
//   its feeXPending/feeYPending.
// - PositionV2 at position.address (when lowerBinId/width are given): lb_pair = pool, owner,
//   fee_owner, lower_bin_id, upper_bin_id = lower + width - 1, liquidity_shares[], and
//   fee_infos[].fee_{x,y}_pending.
// - Both mints: supply 10^15, no authorities, owned by their token program.
// - Reserves and the existing user ATAs: initialized token accounts with balance 0.
// - Clock: slot 1000, unix_timestamp 1_700_000_000, epoch 1. Lamports: 10^9 everywhere.
// - Mock RPC methods:
//   - getAccountInfo and getMultipleAccounts, answered from the ledger above;
//   - getLatestBlockhash → GHtXQBsoZHVnNFa9YevAzFr17DJjgHXk3ycTKD5xD3Zi;
//   - simulateTransaction → {err: null, unitsConsumed: 100_000};
//   - getMinimumBalanceForRentExemption and getSlot.
//   Any other method is answered with a JSON-RPC error.
//
// ── Compute budget (deterministic) ──────────────────────────────────────────────────────────
// The SDK sets the limit to units + clamp(units × buffer, 50_000, 200_000), where units comes
// from simulateTransaction (here 100_000). The buffer is 0.1 for add and claim and 0.3 for
// remove, so every op clamps to the minimum: the first instruction of every transaction is
// ComputeBudget111111111111111111111111111111 SetComputeUnitLimit(150_000), with no accounts and
// data 02f0490200. The SDK sets no compute-unit price.
//
// ── SDK calls and what they emit (in order) ─────────────────────────────────────────────────
// add:    DLMM.create(conn, pool) → dlmm.addLiquidityByStrategy({positionPubKey, user,
//         totalXAmount, totalYAmount, strategy, slippage}). It emits one transaction:
//           SetComputeUnitLimit
//           initialize_bin_array(index) for each covering index NOT in binArrays, ascending
//           create-ATA-idempotent for user's X ATA if missing, then Y
//           [wSOL side with a non-zero amount: System transfer(user → user's wSOL ATA, amount),
//            Token SyncNative]
//           add_liquidity_by_strategy2
//           [wSOL pair: Token CloseAccount(user's wSOL ATA → user)]
// remove: DLMM.create → dlmm.removeLiquidity({user, position, fromBinId, toBinId, bps,
//         shouldClaimAndClose}). It emits, per 70-bin chunk:
//           SetComputeUnitLimit
//           [claim+close: create-ATA-idempotent X, Y for the fee wallet]
//           create-ATA-idempotent X, Y for the position owner (always)
//           remove_liquidity_by_range2   (only if some bin has liquidityShare ≠ 0)
//           [claim+close: claim_fee2(chunk) to the fee wallet, then close_position_if_empty]
//           [wSOL pair: CloseAccount]
// claim:  DLMM.create → dlmm.getPosition(position) → dlmm.claimSwapFee({owner: user,
//         position}). It emits, per 70-bin chunk:
//           SetComputeUnitLimit
//           create-ATA-idempotent X, Y for the fee wallet
//           claim_fee2
//           [wSOL pair: CloseAccount]
// "fee wallet" = position.feeOwner if set, else user.
//
// ── Rules the SDK applies (the Rust side must reproduce them) ───────────────────────────────
// - Bin array index = floor(binId / 70). The covering indexes of [lo, hi] are floor(lo/70) ..=
//   floor(hi/70), and they are passed as remaining accounts, writable, ascending.
// - add:
//   - active_id = pool.activeId.
//   - max_active_bin_slippage = ceil(slippage / (binStep / 100)) in f64 arithmetic
//     (0.3 with binStep 10 gives 3). When slippage is absent or 0, it is 3.
//   - strategy_type: Spot → 6 (SpotImBalanced), Curve → 7, BidAsk → 8.
//     parameteres[0] = 1 if singleSidedX, otherwise all 64 bytes are 0.
//   - bin_array_bitmap_extension = PDA ["bitmap", pool] (writable) only if floor(min/70) or
//     floor(max/70) lies outside -512..=511. Otherwise it is the program-id placeholder.
//     Whether the account exists does not matter.
// - remove:
//   - fromBinId/toBinId are clamped to the first/last position bin with liquidityShare ≠ 0.
//     With shouldClaimAndClose, a bin also counts if it has feeXPending or feeYPending ≠ 0.
//   - bin_array_bitmap_extension = the PDA if pool.bitmapExtension, else the placeholder.
//   - user_token_x/y are the position OWNER's ATAs; sender is user.
//   - bps_to_remove = bps (u16).
// - claim:
//   - range = first..last position bin where (the bin's array exists and its binSupply ≠ 0)
//     or feeXPending/feeYPending ≠ 0. A bin is counted even if the position's own share in it
//     is zero.
//   - If all pending fees are 0, the SDK refuses ("No fee to claim").
// - Every ATA is PDA [owner, token_program_of_mint, mint] under
//   ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL (owner may be off-curve).
// - create-ATA-idempotent: program ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL, data 01, keys
//   [payer=user sw, ata w, owner, mint, 11111111111111111111111111111111, token_program].
// - An absent optional account (Anchor) is the DLMM program id, neither signer nor writable.
// - remaining_accounts_info for hook-less mints is always 02000000 00 00 01 00, i.e.
//   slices = [{TransferHookX, 0}, {TransferHookY, 0}]. No hook accounts precede the bin arrays.
// - Anchor discriminator = sha256("global:" + name)[..8].
//
// ── Accounts and data of the DLMM instructions (w = writable, s = signer) ───────────────────
// PDAs under the program:
//   reserve [pool, mint]   (the raw 32-byte keys, no string seed)
//   bin_array ["bin_array", pool, index as i64 LE]
//   bitmap ext ["bitmap", pool]
//   oracle ["oracle", pool]
//   event_authority ["__event_authority"] = D1ZN9Wj1fRSUQfCjhvnu1hqDMT7hzjzBBpi12nVniYD6
//
// add_liquidity_by_strategy2    disc 03dd95da6f8d76d5, data 113 bytes:
//   disc, amount_x u64, amount_y u64, active_id i32, max_active_bin_slippage i32,
//   min_bin_id i32, max_bin_id i32, strategy_type u8, parameteres [u8; 64],
//   remaining_accounts_info (Vec<{accounts_type u8, length u8}>: u32 len + 2 bytes each)
//    0 position                    w      position.address
//    1 lb_pair                     w      pool.address
//    2 bin_array_bitmap_extension  w|—    PDA ["bitmap", pool] (w) or the program id (read-only)
//    3 user_token_x                w      ATA(user, tokenXMint)
//    4 user_token_y                w      ATA(user, tokenYMint)
//    5 reserve_x                   w
//    6 reserve_y                   w
//    7 token_x_mint
//    8 token_y_mint
//    9 sender                      s      user (not writable)
//   10 token_x_program                    Tokenkeg… / Tokenz… (the mint's owner)
//   11 token_y_program
//   12 event_authority                    D1ZN9Wj1fRSUQfCjhvnu1hqDMT7hzjzBBpi12nVniYD6
//   13 program                            LBUZKhRxPF3XUpBCjp4YzTKgLccjZhTSDM9YuVaPwxo
//   14.. bin_array(i)              w      for i = floor(minBinId/70) ..= floor(maxBinId/70)
//
// remove_liquidity_by_range2    disc cc02c391359191cd, data 26 bytes:
//   disc, from_bin_id i32, to_bin_id i32, bps_to_remove u16, remaining_accounts_info
//    0 position                    w
//    1 lb_pair                     w
//    2 bin_array_bitmap_extension  w|—    PDA if the extension account exists, else program id
//    3 user_token_x                w      ATA(position owner, tokenXMint)
//    4 user_token_y                w      ATA(position owner, tokenYMint)
//    5 reserve_x                   w
//    6 reserve_y                   w
//    7 token_x_mint
//    8 token_y_mint
//    9 sender                      s      user
//   10 token_x_program
//   11 token_y_program
//   12 memo_program                       MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr
//   13 event_authority
//   14 program
//   15.. bin_array(i)              w      for the chunk's (clamped) from..to
//
// claim_fee2                    disc 70bf65ab1c907fbb, data 24 bytes:
//   disc, min_bin_id i32, max_bin_id i32, remaining_accounts_info
//    0 lb_pair                     w
//    1 position                    w
//    2 sender                      s      user
//    3 reserve_x                   w
//    4 reserve_y                   w
//    5 user_token_x                w      ATA(fee wallet, tokenXMint)
//    6 user_token_y                w      ATA(fee wallet, tokenYMint)
//    7 token_x_mint
//    8 token_y_mint
//    9 token_program_x
//   10 token_program_y
//   11 memo_program                       MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr
//   12 event_authority
//   13 program
//   14.. bin_array(i)              w      for the chunk's min..max
//
// initialize_bin_array          disc 235613b94ed44bd3, data: disc, index i64
//    0 lb_pair, 1 bin_array w (PDA), 2 funder = user sw, 3 system program
// close_position_if_empty       disc 3b7cd4765b986e9d, no args
//    0 position w, 1 sender = user s, 2 rent_receiver = position owner w, 3 event_authority,
//    4 program
//
// Not covered: transfer-hook / transfer-fee Token-2022 mints, pool rewards (claim_reward2),
// and positions wider than 70 bins (extended positions).
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { Connection, PublicKey, SYSVAR_CLOCK_PUBKEY } from "@solana/web3.js";
import {
  MintLayout, AccountLayout, MINT_SIZE, ACCOUNT_SIZE, TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID,
  getAssociatedTokenAddressSync,
} from "@solana/spl-token";
import BN from "bn.js";

// The package's ESM build (dist/index.mjs) does a directory import that plain node rejects
// (ERR_UNSUPPORTED_DIR_IMPORT in @coral-xyz/anchor), so load its CommonJS build.
const require = createRequire(import.meta.url);
const dlmmPkg = require("@meteora-ag/dlmm");
const DLMM = dlmmPkg.default ?? dlmmPkg;
const { createProgram, deriveReserve, deriveOracle, deriveBinArray, deriveBinArrayBitmapExtension,
  StrategyType, LBCLMM_PROGRAM_IDS } = dlmmPkg;
const SDK_VERSION = JSON.parse(fs.readFileSync(
  path.join(path.dirname(require.resolve("@meteora-ag/dlmm")), "..", "package.json"), "utf8")).version;

// ---------- fixed parts of the fake world ----------
const PROGRAM_ID = new PublicKey(LBCLMM_PROGRAM_IDS["mainnet-beta"]);
const SYSVAR_OWNER = new PublicKey("Sysvar1111111111111111111111111111111111111");
const SIM_UNITS_CONSUMED = 100_000; // every simulateTransaction answer
const BLOCKHASH = "GHtXQBsoZHVnNFa9YevAzFr17DJjgHXk3ycTKD5xD3Zi";
const SLOT = 1000;
const UNIX_TIMESTAMP = 1_700_000_000n;
const EPOCH = 1n;
const LAMPORTS = 1_000_000_000;
const TIMEOUT_MS = 60_000;
const DEBUG = !!process.env.METEORA_DLMM_DEBUG;

// stdout carries the one JSON result only: anything the SDK logs goes to stderr.
console.log = console.info = console.warn = console.debug = (...args) => console.error(...args);

class CaseError extends Error {}
const fail = (msg) => { throw new CaseError(msg); };

// ---------- case parsing ----------
function obj(v, what, required = true) {
  if (v === undefined || v === null) return required ? fail(`${what} is required`) : undefined;
  if (typeof v !== "object" || Array.isArray(v)) fail(`${what} must be an object`);
  return v;
}
// Unknown keys are refused, so a misspelt field cannot silently fall back to its default.
function known(o, keys, what) {
  for (const k of Object.keys(o)) if (!keys.includes(k)) fail(`${what} has an unknown field "${k}"`);
}
function pk(v, what) {
  if (typeof v !== "string") fail(`${what} must be a base58 address string`);
  try {
    return new PublicKey(v);
  } catch {
    return fail(`${what} is not a valid address: ${v}`);
  }
}
function int(v, what, { min = -(2 ** 31), max = 2 ** 31 - 1 } = {}) {
  if (!Number.isInteger(v)) fail(`${what} must be an integer`);
  if (v < min || v > max) fail(`${what} must be in ${min}..${max}`);
  return v;
}
// u64 / u128 amounts: a decimal string, or a JSON integer no larger than 2^53 - 1
function uint(v, what, bits) {
  if (Number.isSafeInteger(v)) v = String(v);
  if (typeof v !== "string" || !/^\d+$/.test(v)) fail(`${what} must be an unsigned decimal string`);
  if (BigInt(v) >= 1n << BigInt(bits)) fail(`${what} does not fit in u${bits}`);
  return new BN(v);
}
function bool(v, what, dflt) {
  if (v === undefined) return dflt;
  if (typeof v !== "boolean") fail(`${what} must be true or false`);
  return v;
}

function parseCase(c) {
  obj(c, "the case");
  known(c, ["op", "pool", "mints", "user", "userTokenAccounts", "binArrays", "position", "add", "remove", "claim"],
    "the case");
  const op = c.op;
  if (!["add", "remove", "claim"].includes(op)) fail(`op must be "add", "remove" or "claim"`);

  const p = obj(c.pool, "pool");
  known(p, ["address", "tokenXMint", "tokenYMint", "binStep", "activeId", "reserveX", "reserveY", "oracle",
    "bitmapExtension"], "pool");
  const address = pk(p.address, "pool.address");
  const tokenXMint = pk(p.tokenXMint, "pool.tokenXMint");
  const tokenYMint = pk(p.tokenYMint, "pool.tokenYMint");
  const pool = {
    address, tokenXMint, tokenYMint,
    binStep: int(p.binStep, "pool.binStep", { min: 1, max: 65535 }),
    activeId: int(p.activeId, "pool.activeId"),
    reserveX: p.reserveX === undefined ? deriveReserve(tokenXMint, address, PROGRAM_ID)[0] : pk(p.reserveX, "pool.reserveX"),
    reserveY: p.reserveY === undefined ? deriveReserve(tokenYMint, address, PROGRAM_ID)[0] : pk(p.reserveY, "pool.reserveY"),
    oracle: p.oracle === undefined ? deriveOracle(address, PROGRAM_ID)[0] : pk(p.oracle, "pool.oracle"),
    bitmapExtension: bool(p.bitmapExtension, "pool.bitmapExtension", false),
  };

  const m = obj(c.mints, "mints");
  const mints = new Map();
  for (const [k, v] of Object.entries(m)) {
    const key = pk(k, "a mints key").toBase58();
    obj(v, `mints.${k}`);
    known(v, ["decimals", "program"], `mints.${k}`);
    if (!["token", "token-2022"].includes(v.program)) fail(`mints.${k}.program must be "token" or "token-2022"`);
    mints.set(key, { decimals: int(v.decimals, `mints.${k}.decimals`, { min: 0, max: 255 }),
      program: v.program === "token" ? TOKEN_PROGRAM_ID : TOKEN_2022_PROGRAM_ID });
  }
  for (const mint of [tokenXMint, tokenYMint]) {
    if (!mints.has(mint.toBase58())) fail(`mints has no entry for pool mint ${mint.toBase58()}`);
  }

  const user = pk(c.user, "user");
  const uta = obj(c.userTokenAccounts, "userTokenAccounts", false) ?? {};
  const userTokenAccounts = new Map();
  for (const [k, v] of Object.entries(uta)) {
    userTokenAccounts.set(pk(k, "a userTokenAccounts key").toBase58(), bool(v, `userTokenAccounts.${k}`));
  }

  if (c.binArrays !== undefined && !Array.isArray(c.binArrays)) fail("binArrays must be an array of integers");
  const binArrays = [...new Set((c.binArrays ?? []).map((i) => int(i, "binArrays[]", { min: -(2 ** 40), max: 2 ** 40 })))];

  const q = obj(c.position, "position");
  known(q, ["address", "owner", "feeOwner", "lowerBinId", "width", "bins"], "position");
  const position = {
    address: pk(q.address, "position.address"),
    owner: q.owner === undefined ? user : pk(q.owner, "position.owner"),
    feeOwner: q.feeOwner === undefined ? PublicKey.default : pk(q.feeOwner, "position.feeOwner"),
    lowerBinId: undefined, width: undefined, bins: [],
  };
  if (q.lowerBinId !== undefined || q.width !== undefined || op !== "add") {
    position.lowerBinId = int(q.lowerBinId, "position.lowerBinId");
    position.width = int(q.width, "position.width", { min: 1, max: 70 });
    if (q.bins !== undefined && !Array.isArray(q.bins)) fail("position.bins must be an array");
    const upper = position.lowerBinId + position.width - 1;
    const seen = new Set();
    for (const [i, b] of (q.bins ?? []).entries()) {
      obj(b, `position.bins[${i}]`);
      known(b, ["binId", "liquidityShare", "feeXPending", "feeYPending", "binSupply"], `position.bins[${i}]`);
      const binId = int(b.binId, `position.bins[${i}].binId`, { min: position.lowerBinId, max: upper });
      if (seen.has(binId)) fail(`position.bins lists bin ${binId} twice`);
      seen.add(binId);
      const liquidityShare = uint(b.liquidityShare ?? "0", `position.bins[${i}].liquidityShare`, 128);
      position.bins.push({
        binId, liquidityShare,
        feeXPending: uint(b.feeXPending ?? "0", `position.bins[${i}].feeXPending`, 64),
        feeYPending: uint(b.feeYPending ?? "0", `position.bins[${i}].feeYPending`, 64),
        binSupply: b.binSupply === undefined ? liquidityShare : uint(b.binSupply, `position.bins[${i}].binSupply`, 128),
      });
    }
  }

  const out = { op, pool, mints, user, userTokenAccounts, binArrays, position };
  if (op === "add") {
    const a = obj(c.add, "add");
    known(a, ["totalXAmount", "totalYAmount", "strategy", "slippage"], "add");
    const s = obj(a.strategy, "add.strategy");
    known(s, ["minBinId", "maxBinId", "strategyType", "singleSidedX"], "add.strategy");
    const types = { Spot: StrategyType.Spot, Curve: StrategyType.Curve, BidAsk: StrategyType.BidAsk };
    if (!(s.strategyType in types)) fail(`add.strategy.strategyType must be "Spot", "Curve" or "BidAsk"`);
    const minBinId = int(s.minBinId, "add.strategy.minBinId");
    const maxBinId = int(s.maxBinId, "add.strategy.maxBinId");
    if (maxBinId < minBinId) fail("add.strategy.maxBinId is below minBinId");
    if (a.slippage !== undefined && (typeof a.slippage !== "number" || !(a.slippage >= 0))) {
      fail("add.slippage must be a non-negative number (percent)");
    }
    out.add = {
      totalXAmount: uint(a.totalXAmount, "add.totalXAmount", 64),
      totalYAmount: uint(a.totalYAmount, "add.totalYAmount", 64),
      strategy: { minBinId, maxBinId, strategyType: types[s.strategyType],
        singleSidedX: bool(s.singleSidedX, "add.strategy.singleSidedX", false) },
      slippage: a.slippage,
    };
  } else if (op === "remove") {
    const r = obj(c.remove, "remove");
    known(r, ["fromBinId", "toBinId", "bps", "shouldClaimAndClose"], "remove");
    out.remove = {
      fromBinId: int(r.fromBinId, "remove.fromBinId"),
      toBinId: int(r.toBinId, "remove.toBinId"),
      bps: new BN(int(r.bps, "remove.bps", { min: 1, max: 10000 })),
      shouldClaimAndClose: bool(r.shouldClaimAndClose, "remove.shouldClaimAndClose", false),
    };
  } else {
    known(obj(c.claim, "claim", false) ?? {}, [], "claim");
  }
  return out;
}

// ---------- account encoders ----------
// Only the coder of this program object is used; it never connects.
const coderProgram = createProgram(new Connection("http://127.0.0.1:9"), {});
const coder = coderProgram.coder.accounts; // camelCase coder, the one the SDK decodes with
const idlTypes = Object.fromEntries(coderProgram.idl.types.map((t) => [t.name, t]));

// A zero value of any IDL type (every field of every account starts zeroed).
function zero(ty) {
  if (typeof ty === "string") {
    if (ty === "pubkey") return PublicKey.default;
    if (ty === "bool") return false;
    if (/^[iu](8|16|32)$/.test(ty)) return 0;
    if (/^[iu](64|128|256)$/.test(ty)) return new BN(0);
    fail(`internal: IDL type ${ty}`);
  }
  if (ty.array) return Array.from({ length: ty.array[1] }, () => zero(ty.array[0]));
  if (ty.vec) return [];
  if (ty.option || ty.coption) return null;
  if (ty.defined) {
    const def = idlTypes[ty.defined.name].type;
    if (def.kind === "struct") return Object.fromEntries(def.fields.map((f) => [f.name, zero(f.type)]));
    if (def.kind === "enum") return { [def.variants[0].name]: {} };
  }
  return fail(`internal: IDL type ${JSON.stringify(ty)}`);
}
const zeroAccount = (name) => zero({ defined: { name } });

// BorshAccountsCoder.encode() writes into a fixed 1000-byte buffer, too small for BinArray and
// PositionV2, so encode with the coder's own layout and prepend the discriminator.
function encodeAccount(name, value) {
  const { discriminator, layout } = coder.accountLayouts.get(name);
  const buf = Buffer.alloc(32_768);
  const len = layout.encode(value, buf);
  return Buffer.concat([Buffer.from(discriminator), buf.subarray(0, len)]);
}
function mintData(decimals) {
  const b = Buffer.alloc(MINT_SIZE);
  MintLayout.encode({ mintAuthorityOption: 0, mintAuthority: PublicKey.default, supply: 10n ** 15n,
    decimals, isInitialized: true, freezeAuthorityOption: 0, freezeAuthority: PublicKey.default }, b);
  return b;
}
function tokenAccountData(mint, owner) {
  const b = Buffer.alloc(ACCOUNT_SIZE);
  AccountLayout.encode({ mint, owner, amount: 0n, delegateOption: 0, delegate: PublicKey.default, state: 1,
    isNativeOption: 0, isNative: 0n, delegatedAmount: 0n, closeAuthorityOption: 0,
    closeAuthority: PublicKey.default }, b);
  return b;
}
function clockData() {
  const b = Buffer.alloc(40); // slot, epoch_start_timestamp, epoch, leader_schedule_epoch, unix_timestamp
  b.writeBigUInt64LE(BigInt(SLOT), 0); b.writeBigInt64LE(UNIX_TIMESTAMP, 8); b.writeBigUInt64LE(EPOCH, 16);
  b.writeBigUInt64LE(EPOCH + 1n, 24); b.writeBigInt64LE(UNIX_TIMESTAMP, 32);
  return b;
}

// ---------- the fake ledger ----------
function buildLedger(w) {
  const accounts = new Map(); // base58 -> { owner, data }
  const put = (key, owner, data) => accounts.set(key.toBase58(), { owner: owner.toBase58(), data });
  const { pool } = w;
  const mintX = w.mints.get(pool.tokenXMint.toBase58());
  const mintY = w.mints.get(pool.tokenYMint.toBase58());

  const lbPair = zeroAccount("lbPair");
  Object.assign(lbPair, {
    activeId: pool.activeId, binStep: pool.binStep, binStepSeed: [pool.binStep & 0xff, pool.binStep >> 8],
    tokenXMint: pool.tokenXMint, tokenYMint: pool.tokenYMint, reserveX: pool.reserveX, reserveY: pool.reserveY,
    oracle: pool.oracle, status: 0, pairType: 0,
    tokenMintXProgramFlag: mintX.program.equals(TOKEN_PROGRAM_ID) ? 0 : 1,
    tokenMintYProgramFlag: mintY.program.equals(TOKEN_PROGRAM_ID) ? 0 : 1,
  });
  Object.assign(lbPair.parameters, { baseFactor: 10000, minBinId: -443636, maxBinId: 443636 });
  put(pool.address, PROGRAM_ID, encodeAccount("lbPair", lbPair));
  if (pool.bitmapExtension) {
    const ext = zeroAccount("binArrayBitmapExtension");
    ext.lbPair = pool.address;
    put(deriveBinArrayBitmapExtension(pool.address, PROGRAM_ID)[0], PROGRAM_ID,
      encodeAccount("binArrayBitmapExtension", ext));
  }
  put(SYSVAR_CLOCK_PUBKEY, SYSVAR_OWNER, clockData());
  for (const [mint, { decimals, program }] of w.mints) put(new PublicKey(mint), program, mintData(decimals));
  put(pool.reserveX, mintX.program, tokenAccountData(pool.tokenXMint, pool.address));
  put(pool.reserveY, mintY.program, tokenAccountData(pool.tokenYMint, pool.address));

  for (const [mint, m] of [[pool.tokenXMint, mintX], [pool.tokenYMint, mintY]]) {
    if (w.userTokenAccounts.get(mint.toBase58()) === false) continue;
    put(getAssociatedTokenAddressSync(mint, w.user, true, m.program), m.program, tokenAccountData(mint, w.user));
  }

  const bins = new Map(w.position.bins.map((b) => [b.binId, b]));
  for (const idx of w.binArrays) {
    const ba = zeroAccount("binArray");
    ba.index = new BN(idx);
    ba.lbPair = pool.address;
    ba.bins.forEach((bin, i) => {
      const b = bins.get(idx * 70 + i);
      if (b) bin.liquiditySupply = b.binSupply;
    });
    put(deriveBinArray(pool.address, new BN(idx), PROGRAM_ID)[0], PROGRAM_ID, encodeAccount("binArray", ba));
  }

  if (w.position.lowerBinId !== undefined) {
    const pos = zeroAccount("positionV2");
    Object.assign(pos, { lbPair: pool.address, owner: w.position.owner, feeOwner: w.position.feeOwner,
      lowerBinId: w.position.lowerBinId, upperBinId: w.position.lowerBinId + w.position.width - 1 });
    for (const b of w.position.bins) {
      const i = b.binId - w.position.lowerBinId;
      pos.liquidityShares[i] = b.liquidityShare;
      pos.feeInfos[i].feeXPending = b.feeXPending;
      pos.feeInfos[i].feeYPending = b.feeYPending;
    }
    put(w.position.address, PROGRAM_ID, encodeAccount("positionV2", pos));
  }
  return accounts;
}

// ---------- mock JSON-RPC (127.0.0.1 only) ----------
function startMock(accounts) {
  const ctx = { context: { slot: SLOT, apiVersion: "2.0.0" } };
  const info = (k) => {
    const a = accounts.get(k);
    return a ? { data: [a.data.toString("base64"), "base64"], executable: false, lamports: LAMPORTS,
      owner: a.owner, rentEpoch: 0, space: a.data.length } : null;
  };
  const handle = ({ jsonrpc, id, method, params }) => {
    if (DEBUG) console.error("rpc:", method, method.startsWith("get") && params ? JSON.stringify(params[0]) : "");
    let result;
    switch (method) {
      case "getAccountInfo": result = { ...ctx, value: info(params[0]) }; break;
      case "getMultipleAccounts": result = { ...ctx, value: params[0].map(info) }; break;
      case "getLatestBlockhash":
        result = { ...ctx, value: { blockhash: BLOCKHASH, lastValidBlockHeight: SLOT + 150 } }; break;
      case "simulateTransaction":
        result = { ...ctx, value: { err: null, logs: [], accounts: null, unitsConsumed: SIM_UNITS_CONSUMED,
          returnData: null } };
        break;
      case "getMinimumBalanceForRentExemption": result = 890_880 + 6_960 * (params?.[0] ?? 0); break;
      case "getSlot": result = SLOT; break;
      default:
        return { jsonrpc, id, error: { code: -32601, message: `mock RPC: method not served: ${method}` } };
    }
    return { jsonrpc, id, result };
  };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      let reply;
      try {
        const msg = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        reply = Array.isArray(msg) ? msg.map(handle) : handle(msg);
      } catch (e) {
        reply = { jsonrpc: "2.0", id: null, error: { code: -32700, message: String(e) } };
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(reply));
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

// ---------- drive the SDK ----------
function ixJson(tx, ix) {
  return {
    tx,
    programId: ix.programId.toBase58(),
    keys: ix.keys.map((k) => ({ pubkey: k.pubkey.toBase58(), isSigner: k.isSigner, isWritable: k.isWritable })),
    data: Buffer.from(ix.data).toString("hex"),
  };
}

async function run(w, url) {
  // Every request web3.js makes goes through this fetch, which refuses anything but the mock.
  const guardedFetch = (input, init) => {
    const target = typeof input === "string" ? input : input.url ?? String(input);
    if (target !== url && target !== url + "/") throw new Error(`refused a request to ${target}`);
    return fetch(input, init);
  };
  const connection = new Connection(url, { commitment: "confirmed", fetch: guardedFetch,
    wsEndpoint: url.replace("http", "ws"), disableRetryOnRateLimit: true });
  const dlmm = await DLMM.create(connection, w.pool.address);
  let txs;
  if (w.op === "add") {
    txs = [await dlmm.addLiquidityByStrategy({ positionPubKey: w.position.address, user: w.user,
      totalXAmount: w.add.totalXAmount, totalYAmount: w.add.totalYAmount, strategy: w.add.strategy,
      slippage: w.add.slippage })];
  } else if (w.op === "remove") {
    txs = await dlmm.removeLiquidity({ user: w.user, position: w.position.address, fromBinId: w.remove.fromBinId,
      toBinId: w.remove.toBinId, bps: w.remove.bps, shouldClaimAndClose: w.remove.shouldClaimAndClose });
  } else {
    const position = await dlmm.getPosition(w.position.address);
    txs = await dlmm.claimSwapFee({ owner: w.user, position });
  }
  return { instructions: txs.flatMap((t, i) => t.instructions.map((ix) => ixJson(i, ix))), sdkVersion: SDK_VERSION };
}

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks).toString("utf8");
}

let finished = false;
function finish(code, value) {
  if (finished) return;
  finished = true;
  process.stdout.write(JSON.stringify(value) + "\n", () => process.exit(code));
}

let server;
const timer = setTimeout(() => {
  server?.closeAllConnections?.();
  server?.close();
  finish(2, { error: `timed out after ${TIMEOUT_MS} ms` });
}, TIMEOUT_MS);
try {
  let input;
  try {
    input = JSON.parse(await readStdin());
  } catch (e) {
    fail(`stdin is not one JSON case: ${e.message}`);
  }
  const world = parseCase(input);
  const accounts = buildLedger(world);
  server = await startMock(accounts);
  const result = await run(world, `http://127.0.0.1:${server.address().port}`);
  clearTimeout(timer);
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  finish(0, result);
} catch (e) {
  clearTimeout(timer);
  if (server) {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  if (DEBUG) console.error(e);
  finish(2, { error: e instanceof CaseError ? e.message : `${e?.name ?? "Error"}: ${e?.message ?? e}` });
}
