//! Custos' Meteora DLMM instructions (`custos_chains::solana::meteora`) against Meteora's own
//! SDK: for the same pool and inputs, the instruction `@meteora-ag/dlmm` 1.9.14 builds
//! (scripts/meteora_dlmm/build.mjs, the SDK under node over a local mock RPC serving the pool,
//! bin arrays and position) must equal Custos' byte for byte — program, every account with its
//! signer and writable flags, in order, and the data. Cases: deposits with the three
//! strategies, one- and two-sided, over one or two bin arrays, with a missing bin array and a
//! missing token account, beyond the pool's own bitmap (the extension passed), on a Token-2022
//! mint; a 50 % removal with and without the bitmap extension; a fee claim.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use custos_chains::solana::meteora::{self, Add, Holder, Pool, Remove, Strategy};
use serde_json::{json, Value};
use solana_address::Address;
use solana_instruction::Instruction;
use std::io::Write as _;
use std::process::{Command, Stdio};

const TOKEN: &str = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA";
const TOKEN_2022: &str = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb";

fn key(n: u8) -> Address {
    // Distinct, valid-looking addresses (any 32 bytes name an account).
    let mut b = [n; 32];
    b[0] = 0x42;
    Address::new_from_array(b)
}

fn program(name: &str) -> Address {
    Address::from_str_const(if name == "token" { TOKEN } else { TOKEN_2022 })
}

/// The SDK's instructions for `case`.
fn sdk(case: &Value) -> Vec<Value> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    assert!(
        root.join("scripts/meteora_dlmm/node_modules").exists(),
        "run scripts/test-deps.sh meteora_dlmm (npm ci of scripts/meteora_dlmm)"
    );
    let mut child = Command::new("node")
        .arg(root.join("scripts/meteora_dlmm/build.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(case.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("build.mjs: {e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert!(out.status.success(), "build.mjs: {v}");
    assert_eq!(v["sdkVersion"], "1.9.14");
    v["instructions"].as_array().unwrap().clone()
}

/// The SDK's instruction of the DLMM program whose data starts like `ours` (the main one; the
/// setup instructions around it are not Custos' to build the same way).
fn main_of<'a>(sdk: &'a [Value], ours: &Instruction) -> &'a Value {
    sdk.iter()
        .find(|ix| {
            ix["programId"] == meteora::PROGRAM.to_string()
                && ix["data"]
                    .as_str()
                    .unwrap()
                    .starts_with(&hex::encode(&ours.data[..8]))
        })
        .unwrap_or_else(|| panic!("the SDK built no such instruction: {sdk:?}"))
}

fn assert_same(sdk_ix: &Value, ours: &Instruction, label: &str) {
    assert_eq!(sdk_ix["programId"], ours.program_id.to_string(), "{label}");
    let theirs: Vec<(String, bool, bool)> = sdk_ix["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["pubkey"].as_str().unwrap().to_owned(),
                k["isSigner"].as_bool().unwrap(),
                k["isWritable"].as_bool().unwrap(),
            )
        })
        .collect();
    let mine: Vec<(String, bool, bool)> = ours
        .accounts
        .iter()
        .map(|a| (a.pubkey.to_string(), a.is_signer, a.is_writable))
        .collect();
    assert_eq!(mine, theirs, "{label}: accounts");
    assert_eq!(
        hex::encode(&ours.data),
        sdk_ix["data"].as_str().unwrap(),
        "{label}: data"
    );
}

/// A pool of X (9 decimals) and Y (6 decimals) with its bitmap extension or not.
struct World {
    pool: Pool,
    user: Address,
    position: Address,
    x_program: &'static str,
    y_program: &'static str,
}

impl World {
    fn new(active_id: i32, y_program: &'static str, extension: bool) -> World {
        let address = key(1);
        let (x, y) = (key(2), key(3));
        let reserve = |m: &Address| {
            Address::find_program_address(&[address.as_ref(), m.as_ref()], &meteora::PROGRAM).0
        };
        let mut pool = Pool {
            address,
            token_x_mint: x,
            token_y_mint: y,
            reserve_x: reserve(&x),
            reserve_y: reserve(&y),
            token_x_program: program("token"),
            token_y_program: program(y_program),
            active_id,
            bin_step: 10,
            bitmap_extension: None,
        };
        if extension {
            pool.bitmap_extension = Some(pool.bitmap_extension_address());
        }
        World {
            pool,
            user: key(7),
            position: key(8),
            x_program: "token",
            y_program,
        }
    }

    fn ata(&self, mint: &Address, program_name: &str) -> Address {
        spl_associated_token_account_interface::address::get_associated_token_address_with_program_id(
            &self.user,
            mint,
            &program(program_name),
        )
    }

    fn user_x(&self) -> Address {
        self.ata(&self.pool.token_x_mint, self.x_program)
    }

    fn user_y(&self) -> Address {
        self.ata(&self.pool.token_y_mint, self.y_program)
    }

    /// The case's common part.
    fn case(&self, op: &str, bin_arrays: &[i64]) -> Value {
        let p = &self.pool;
        json!({
            "op": op,
            "pool": {"address": p.address.to_string(), "tokenXMint": p.token_x_mint.to_string(),
                     "tokenYMint": p.token_y_mint.to_string(), "binStep": p.bin_step,
                     "activeId": p.active_id, "bitmapExtension": p.bitmap_extension.is_some()},
            "mints": {
                p.token_x_mint.to_string(): {"decimals": 9, "program": self.x_program},
                p.token_y_mint.to_string(): {"decimals": 6, "program": self.y_program},
            },
            "user": self.user.to_string(),
            "binArrays": bin_arrays,
            "position": {"address": self.position.to_string()},
        })
    }

    fn holder(&self) -> Holder {
        Holder {
            position: self.position,
            sender: self.user,
            user_token_x: self.user_x(),
            user_token_y: self.user_y(),
        }
    }

    fn add(
        &self,
        amount_x: u64,
        amount_y: u64,
        min: i32,
        max: i32,
        strategy: Strategy,
    ) -> Instruction {
        meteora::add(
            &self.pool,
            &self.holder(),
            &Add {
                amount_x,
                amount_y,
                active_id: self.pool.active_id,
                max_active_bin_slippage: 3,
                min_bin_id: min,
                max_bin_id: max,
                strategy,
                favor_x: amount_y == 0,
            },
        )
    }
}

fn strategy_name(s: Strategy) -> &'static str {
    match s {
        Strategy::Spot => "Spot",
        Strategy::Curve => "Curve",
        Strategy::BidAsk => "BidAsk",
    }
}

/// One deposit compared.
struct Deposit {
    label: &'static str,
    active: i32,
    y_program: &'static str,
    extension: bool,
    x: u64,
    y: u64,
    min: i32,
    max: i32,
    strategy: Strategy,
    /// Bin arrays that exist.
    arrays: &'static [i64],
    /// Whether the user's Y token account exists.
    y_account: bool,
}

#[test]
fn deposits_are_the_sdks_byte_for_byte() {
    let d =
        |label, active, y_program, extension, (x, y), (min, max), strategy, arrays, y_account| {
            Deposit {
                label,
                active,
                y_program,
                extension,
                x,
                y,
                min,
                max,
                strategy,
                arrays,
                y_account,
            }
        };
    let cases = [
        d(
            "spot, two-sided, one bin array",
            5,
            "token",
            false,
            (1_000_000_000, 2_000_000),
            (0, 9),
            Strategy::Spot,
            &[0][..],
            true,
        ),
        d(
            "bid-ask, X only, two bin arrays, one missing, no Y account",
            65,
            "token",
            false,
            (1_000_000_000, 0),
            (60, 79),
            Strategy::BidAsk,
            &[0][..],
            false,
        ),
        d(
            "curve, Token-2022 Y",
            -3,
            "token-2022",
            false,
            (5_000, 7_000),
            (-10, 4),
            Strategy::Curve,
            &[-1, 0][..],
            true,
        ),
        d(
            "spot beyond the pool's own bitmap",
            -40_000,
            "token",
            true,
            (1, 1),
            (-40_010, -39_995),
            Strategy::Spot,
            &[][..],
            true,
        ),
        d(
            "spot in range with an extension that exists",
            5,
            "token",
            true,
            (10, 20),
            (0, 9),
            Strategy::Spot,
            &[0][..],
            true,
        ),
    ];
    for c in cases {
        let w = World::new(c.active, c.y_program, c.extension);
        let mut case = w.case("add", c.arrays);
        case["add"] = json!({"totalXAmount": c.x.to_string(), "totalYAmount": c.y.to_string(),
            "strategy": {"minBinId": c.min, "maxBinId": c.max, "strategyType": strategy_name(c.strategy),
                         "singleSidedX": c.y == 0}});
        if !c.y_account {
            case["userTokenAccounts"] = json!({w.pool.token_y_mint.to_string(): false});
        }
        let ours = w.add(c.x, c.y, c.min, c.max, c.strategy);
        let theirs = sdk(&case);
        assert_same(main_of(&theirs, &ours), &ours, c.label);
    }
}

#[test]
fn removals_and_claims_are_the_sdks_byte_for_byte() {
    for ext in [false, true] {
        let w = World::new(5, "token", ext);
        let bins: Vec<Value> = (0..10)
            .map(|b| json!({"binId": b, "liquidityShare": "1000000", "feeXPending": "5", "feeYPending": "7"}))
            .collect();
        let mut case = w.case("remove", &[0]);
        case["position"] =
            json!({"address": w.position.to_string(), "lowerBinId": 0, "width": 10, "bins": bins});
        case["remove"] = json!({"fromBinId": 0, "toBinId": 9, "bps": 5000});
        let ours = meteora::remove(
            &w.pool,
            &w.holder(),
            &Remove {
                from_bin_id: 0,
                to_bin_id: 9,
                bps: 5000,
            },
        );
        let theirs = sdk(&case);
        assert_same(
            main_of(&theirs, &ours),
            &ours,
            &format!("remove 50 % (extension {ext})"),
        );

        let mut case = case.clone();
        case["op"] = json!("claim");
        case["claim"] = json!({});
        let ours = meteora::claim(&w.pool, &w.holder(), 0, 9);
        let theirs = sdk(&case);
        assert_same(
            main_of(&theirs, &ours),
            &ours,
            &format!("claim (extension {ext})"),
        );
    }
}
