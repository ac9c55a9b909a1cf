//! Meteora DLMM (liquidity book) instructions, built from the program's published IDL (0.12.0,
//! as the official SDK `@meteora-ag/dlmm` 1.9.14 ships it) — the three the SDK's high-level API
//! sends for a position that exists: `add_liquidity_by_strategy2`, `remove_liquidity_by_range2`
//! and `claim_fee2`, each Anchor-encoded (an 8-byte discriminator, then Borsh arguments) and
//! ending with the event-CPI pair (`event_authority`, the program), the bin arrays covering the
//! range as remaining accounts. Pools are read from their `LbPair` account ([`Pool::decode`]).
//! Tested byte for byte against the SDK (scripts/meteora_dlmm, run under node in the test).
//!
//! The program itself ships on no package registry (only in Meteora's GitHub repository), so
//! the embedded devnet cannot run these: on-chain execution needs the JSON-RPC back end.
use solana_address::Address;
use solana_instruction::{AccountMeta, Instruction};

/// The DLMM program (mainnet and devnet).
pub const PROGRAM: Address = Address::from_str_const("LBUZKhRxPF3XUpBCjp4YzTKgLccjZhTSDM9YuVaPwxo");
/// Bins per bin array.
pub const BINS_PER_ARRAY: i32 = 70;
/// The most bins one position holds.
pub const MAX_POSITION_WIDTH: i32 = 70;
/// The SPL Memo program (v3), which the "2" instructions take.
const MEMO: Address = Address::from_str_const("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");

/// Anchor discriminators (IDL 0.12.0).
const ADD_BY_STRATEGY2: [u8; 8] = [0x03, 0xdd, 0x95, 0xda, 0x6f, 0x8d, 0x76, 0xd5];
const REMOVE_BY_RANGE2: [u8; 8] = [0xcc, 0x02, 0xc3, 0x91, 0x35, 0x91, 0x91, 0xcd];
const CLAIM_FEE2: [u8; 8] = [0x70, 0xbf, 0x65, 0xab, 0x1c, 0x90, 0x7f, 0xbb];
/// The `LbPair` account's discriminator.
const LB_PAIR: [u8; 8] = [0x21, 0x0b, 0x31, 0x62, 0xb5, 0x65, 0xb1, 0x0d];
/// Size of an `LbPair` account (discriminator included).
const LB_PAIR_LEN: usize = 904;

/// What an instruction is, read back from its discriminator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `add_liquidity_by_strategy2`.
    Add,
    /// `remove_liquidity_by_range2`.
    Remove,
    /// `claim_fee2`.
    Claim,
}

impl Kind {
    /// The instruction `data` encodes, if it is one of these three.
    pub fn of(data: &[u8]) -> Option<Kind> {
        match data.get(..8)? {
            d if d == ADD_BY_STRATEGY2 => Some(Kind::Add),
            d if d == REMOVE_BY_RANGE2 => Some(Kind::Remove),
            d if d == CLAIM_FEE2 => Some(Kind::Claim),
            _ => None,
        }
    }
}

/// A pool, as the instructions need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    /// The `LbPair` account.
    pub address: Address,
    /// Token X's mint.
    pub token_x_mint: Address,
    /// Token Y's mint.
    pub token_y_mint: Address,
    /// The pool's vault of X.
    pub reserve_x: Address,
    /// The pool's vault of Y.
    pub reserve_y: Address,
    /// X's token program (SPL Token or Token-2022, the mint's owner).
    pub token_x_program: Address,
    /// Y's token program.
    pub token_y_program: Address,
    /// The active bin.
    pub active_id: i32,
    /// Basis points between bins.
    pub bin_step: u16,
    /// The bitmap extension account, when the pool has one (a removal passes it then; a
    /// deposit only when its range lies beyond the pool's own bitmap).
    pub bitmap_extension: Option<Address>,
}

/// Why an `LbPair` account could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a DLMM pool: {0}")]
pub struct NotAPool(pub &'static str);

impl Pool {
    /// Reads `data`, the `LbPair` account at `address` (owned by [`PROGRAM`]); the token
    /// programs and the bitmap extension are the caller's to fill from the chain.
    pub fn decode(address: Address, data: &[u8]) -> Result<Pool, NotAPool> {
        if data.len() != LB_PAIR_LEN {
            return Err(NotAPool("wrong size"));
        }
        if data.get(..8) != Some(&LB_PAIR[..]) {
            return Err(NotAPool("wrong discriminator"));
        }
        let key = |at: usize| -> Result<Address, NotAPool> {
            let b: [u8; 32] = data
                .get(at..at + 32)
                .and_then(|s| s.try_into().ok())
                .ok_or(NotAPool("short"))?;
            Ok(Address::new_from_array(b))
        };
        let active_id = data
            .get(76..80)
            .and_then(|s| s.try_into().ok())
            .map(i32::from_le_bytes)
            .ok_or(NotAPool("short"))?;
        let bin_step = data
            .get(80..82)
            .and_then(|s| s.try_into().ok())
            .map(u16::from_le_bytes)
            .ok_or(NotAPool("short"))?;
        let token = super::token::token_program();
        Ok(Pool {
            address,
            token_x_mint: key(88)?,
            token_y_mint: key(120)?,
            reserve_x: key(152)?,
            reserve_y: key(184)?,
            token_x_program: token,
            token_y_program: token,
            active_id,
            bin_step,
            bitmap_extension: None,
        })
    }

    /// The pool's bitmap-extension address (the account may not exist).
    pub fn bitmap_extension_address(&self) -> Address {
        pda(&[b"bitmap", self.address.as_ref()])
    }

    /// The bin array holding bins `index × 70 …`.
    pub fn bin_array(&self, index: i64) -> Address {
        pda(&[b"bin_array", self.address.as_ref(), &index.to_le_bytes()])
    }

    /// The bin arrays covering `min ..= max`, in order.
    pub fn bin_arrays(&self, min: i32, max: i32) -> Vec<Address> {
        (bin_array_index(min)..=bin_array_index(max))
            .map(|i| self.bin_array(i))
            .collect()
    }
}

/// The bin array a bin lies in: floor(bin / 70).
pub fn bin_array_index(bin_id: i32) -> i64 {
    i64::from(bin_id.div_euclid(BINS_PER_ARRAY))
}

fn pda(seeds: &[&[u8]]) -> Address {
    Address::find_program_address(seeds, &PROGRAM).0
}

/// The program's event authority (`["__event_authority"]`).
pub fn event_authority() -> Address {
    pda(&[b"__event_authority"])
}

/// How liquidity is spread over the range (the SDK's `StrategyType`, as the "imbalanced"
/// variants it sends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// The same in every bin.
    Spot,
    /// Most near the active bin.
    Curve,
    /// Most far from the active bin.
    BidAsk,
}

impl Strategy {
    /// The IDL's `StrategyType` the SDK sends (`SpotImBalanced` = 6, …).
    fn wire(self) -> u8 {
        match self {
            Strategy::Spot => 6,
            Strategy::Curve => 7,
            Strategy::BidAsk => 8,
        }
    }
}

/// The wallet's side of an instruction: its position and the accounts it pays from and is paid
/// to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// The position (a `PositionV2` account the sender owns).
    pub position: Address,
    /// The wallet: signer, owner of the position and of the token accounts.
    pub sender: Address,
    /// Its token account of X.
    pub user_token_x: Address,
    /// Its token account of Y.
    pub user_token_y: Address,
}

/// An addition to an existing position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Add {
    /// Base units of X deposited at most.
    pub amount_x: u64,
    /// Base units of Y deposited at most.
    pub amount_y: u64,
    /// The active bin the deposit was computed against.
    pub active_id: i32,
    /// How many bins the active bin may move before the deposit is refused.
    pub max_active_bin_slippage: i32,
    /// The lowest bin.
    pub min_bin_id: i32,
    /// The highest bin.
    pub max_bin_id: i32,
    /// The spread.
    pub strategy: Strategy,
    /// A one-sided deposit of X (the SDK's `singleSidedX`, the first strategy parameter).
    pub favor_x: bool,
}

/// `RemainingAccountsInfo` for mints without transfer hooks: empty X and Y hook slices.
fn no_hooks(data: &mut Vec<u8>) {
    data.extend_from_slice(&2u32.to_le_bytes());
    data.extend_from_slice(&[0, 0, 1, 0]);
}

/// Bin-array indexes the pool's own bitmap covers; beyond them the bitmap extension does.
const BITMAP_RANGE: std::ops::RangeInclusive<i64> = -512..=511;

/// The optional bitmap extension, or Anchor's placeholder for an absent one (the program).
fn bitmap(ext: Option<Address>) -> AccountMeta {
    match ext {
        Some(a) => AccountMeta::new(a, false),
        None => AccountMeta::new_readonly(PROGRAM, false),
    }
}

impl Pool {
    /// The extension a deposit over `min ..= max` passes: only when a covering bin array lies
    /// beyond the pool's own bitmap (as the SDK does), else none.
    fn extension_for(&self, min: i32, max: i32) -> Option<Address> {
        let outside = !BITMAP_RANGE.contains(&bin_array_index(min))
            || !BITMAP_RANGE.contains(&bin_array_index(max));
        outside.then(|| self.bitmap_extension_address())
    }
}

/// The accounts `add_liquidity_by_strategy2` and `remove_liquidity_by_range2` open with, up to
/// the token programs.
fn position_accounts(pool: &Pool, h: &Holder, extension: Option<Address>) -> Vec<AccountMeta> {
    vec![
        AccountMeta::new(h.position, false),
        AccountMeta::new(pool.address, false),
        bitmap(extension),
        AccountMeta::new(h.user_token_x, false),
        AccountMeta::new(h.user_token_y, false),
        AccountMeta::new(pool.reserve_x, false),
        AccountMeta::new(pool.reserve_y, false),
        AccountMeta::new_readonly(pool.token_x_mint, false),
        AccountMeta::new_readonly(pool.token_y_mint, false),
        AccountMeta::new_readonly(h.sender, true),
        AccountMeta::new_readonly(pool.token_x_program, false),
        AccountMeta::new_readonly(pool.token_y_program, false),
    ]
}

/// The event-CPI pair, then the bin arrays covering `min ..= max`, writable.
fn close(pool: &Pool, accounts: &mut Vec<AccountMeta>, min: i32, max: i32) {
    accounts.push(AccountMeta::new_readonly(event_authority(), false));
    accounts.push(AccountMeta::new_readonly(PROGRAM, false));
    for b in pool.bin_arrays(min, max) {
        accounts.push(AccountMeta::new(b, false));
    }
}

/// `add_liquidity_by_strategy2`.
pub fn add(pool: &Pool, h: &Holder, a: &Add) -> Instruction {
    let mut data = ADD_BY_STRATEGY2.to_vec();
    data.extend_from_slice(&a.amount_x.to_le_bytes());
    data.extend_from_slice(&a.amount_y.to_le_bytes());
    data.extend_from_slice(&a.active_id.to_le_bytes());
    data.extend_from_slice(&a.max_active_bin_slippage.to_le_bytes());
    data.extend_from_slice(&a.min_bin_id.to_le_bytes());
    data.extend_from_slice(&a.max_bin_id.to_le_bytes());
    data.push(a.strategy.wire());
    let mut params = [0u8; 64];
    params[0] = u8::from(a.favor_x);
    data.extend_from_slice(&params);
    no_hooks(&mut data);
    let mut accounts = position_accounts(pool, h, pool.extension_for(a.min_bin_id, a.max_bin_id));
    close(pool, &mut accounts, a.min_bin_id, a.max_bin_id);
    Instruction {
        program_id: PROGRAM,
        accounts,
        data,
    }
}

/// A removal from an existing position: `bps` (1–10000) of the liquidity in `from ..= to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remove {
    /// The lowest bin.
    pub from_bin_id: i32,
    /// The highest bin.
    pub to_bin_id: i32,
    /// Basis points of the liquidity removed.
    pub bps: u16,
}

/// `remove_liquidity_by_range2` (the tokens go to the holder's token accounts).
pub fn remove(pool: &Pool, h: &Holder, r: &Remove) -> Instruction {
    let mut data = REMOVE_BY_RANGE2.to_vec();
    data.extend_from_slice(&r.from_bin_id.to_le_bytes());
    data.extend_from_slice(&r.to_bin_id.to_le_bytes());
    data.extend_from_slice(&r.bps.to_le_bytes());
    no_hooks(&mut data);
    let mut accounts = position_accounts(pool, h, pool.bitmap_extension);
    accounts.push(AccountMeta::new_readonly(MEMO, false));
    close(pool, &mut accounts, r.from_bin_id, r.to_bin_id);
    Instruction {
        program_id: PROGRAM,
        accounts,
        data,
    }
}

/// `claim_fee2`: the swap fees the holder's position earned in `min ..= max`, to its token
/// accounts.
pub fn claim(pool: &Pool, h: &Holder, min: i32, max: i32) -> Instruction {
    let mut data = CLAIM_FEE2.to_vec();
    data.extend_from_slice(&min.to_le_bytes());
    data.extend_from_slice(&max.to_le_bytes());
    no_hooks(&mut data);
    let mut accounts = vec![
        AccountMeta::new(pool.address, false),
        AccountMeta::new(h.position, false),
        AccountMeta::new_readonly(h.sender, true),
        AccountMeta::new(pool.reserve_x, false),
        AccountMeta::new(pool.reserve_y, false),
        AccountMeta::new(h.user_token_x, false),
        AccountMeta::new(h.user_token_y, false),
        AccountMeta::new_readonly(pool.token_x_mint, false),
        AccountMeta::new_readonly(pool.token_y_mint, false),
        AccountMeta::new_readonly(pool.token_x_program, false),
        AccountMeta::new_readonly(pool.token_y_program, false),
        AccountMeta::new_readonly(MEMO, false),
    ];
    close(pool, &mut accounts, min, max);
    Instruction {
        program_id: PROGRAM,
        accounts,
        data,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bin_arrays_floor_toward_negative_infinity() {
        assert_eq!(bin_array_index(0), 0);
        assert_eq!(bin_array_index(69), 0);
        assert_eq!(bin_array_index(70), 1);
        assert_eq!(bin_array_index(-1), -1);
        assert_eq!(bin_array_index(-70), -1);
        assert_eq!(bin_array_index(-71), -2);
    }

    #[test]
    fn data_has_the_idl_layout_and_reads_back() {
        let k = |n: u8| Address::new_from_array([n; 32]);
        let pool = Pool {
            address: k(1),
            token_x_mint: k(2),
            token_y_mint: k(3),
            reserve_x: k(4),
            reserve_y: k(5),
            token_x_program: super::super::token::token_program(),
            token_y_program: super::super::token::token_program(),
            active_id: 5,
            bin_step: 10,
            bitmap_extension: None,
        };
        let h = Holder {
            position: k(6),
            sender: k(7),
            user_token_x: k(8),
            user_token_y: k(9),
        };
        let ix = add(
            &pool,
            &h,
            &Add {
                amount_x: 1_000_000_000,
                amount_y: 2_000_000,
                active_id: 5,
                max_active_bin_slippage: 4,
                min_bin_id: 0,
                max_bin_id: 9,
                strategy: Strategy::Spot,
                favor_x: false,
            },
        );
        assert_eq!(ix.data.len(), 113);
        assert_eq!(Kind::of(&ix.data), Some(Kind::Add));
        assert_eq!(ix.accounts.len(), 15);
        let r = remove(
            &pool,
            &h,
            &Remove {
                from_bin_id: 0,
                to_bin_id: 140,
                bps: 5000,
            },
        );
        assert_eq!(r.data.len(), 26);
        assert_eq!(Kind::of(&r.data), Some(Kind::Remove));
        // Three bin arrays cover bins 0..=140.
        assert_eq!(r.accounts.len(), 15 + 3);
        let c = claim(&pool, &h, 0, 9);
        assert_eq!(c.data.len(), 24);
        assert_eq!(Kind::of(&c.data), Some(Kind::Claim));
        assert!(Pool::decode(k(1), &[0; 10]).is_err());
    }
}
