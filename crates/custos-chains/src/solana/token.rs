//! SPL Token / Token-2022 account and mint layouts, read by hand (the base layouts are shared by
//! both programs; Token-2022 extensions follow the base and are ignored here).
use solana_address::Address;

/// Size of the base token-account layout.
pub const ACCOUNT_LEN: usize = 165;
/// Size of the base mint layout.
pub const MINT_LEN: usize = 82;

/// The SPL Token program id.
pub fn token_program() -> Address {
    Address::from_str_const(crate::solana_wire::TOKEN_PROGRAM)
}

/// The SPL Token-2022 program id.
pub fn token_2022_program() -> Address {
    Address::from_str_const(crate::solana_wire::TOKEN_2022_PROGRAM)
}

/// True for either token program.
pub fn is_token_program(p: &Address) -> bool {
    *p == token_program() || *p == token_2022_program()
}

/// The fields of a token account Custos reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenAccount {
    /// The mint.
    pub mint: Address,
    /// The owner (wallet) of the account.
    pub owner: Address,
    /// Balance in base units.
    pub amount: u64,
    /// Delegate, if any.
    pub delegate: Option<Address>,
    /// Amount the delegate may move.
    pub delegated_amount: u64,
    /// Close authority, if any.
    pub close_authority: Option<Address>,
}

fn key(d: &[u8], at: usize) -> Option<Address> {
    let b: [u8; 32] = d.get(at..at + 32)?.try_into().ok()?;
    Some(Address::new_from_array(b))
}

fn coption_key(d: &[u8], at: usize) -> Option<Option<Address>> {
    let tag: [u8; 4] = d.get(at..at + 4)?.try_into().ok()?;
    match u32::from_le_bytes(tag) {
        0 => Some(None),
        1 => Some(Some(key(d, at + 4)?)),
        _ => None,
    }
}

fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(at..at + 8)?.try_into().ok()?))
}

/// Reads a token account owned by a token program; `None` if the data is not one (a mint, an
/// uninitialised account, or anything else).
pub fn parse_token_account(program_owner: &Address, data: &[u8]) -> Option<TokenAccount> {
    if !is_token_program(program_owner) || data.len() < ACCOUNT_LEN {
        return None;
    }
    // Token-2022 marks extended accounts with an account-type byte at 165 (2 = account).
    if data.len() > ACCOUNT_LEN && data.get(ACCOUNT_LEN) != Some(&2) {
        return None;
    }
    // state: 0 uninitialised, 1 initialised, 2 frozen
    let state = *data.get(108)?;
    if state == 0 || state > 2 {
        return None;
    }
    Some(TokenAccount {
        mint: key(data, 0)?,
        owner: key(data, 32)?,
        amount: u64_at(data, 64)?,
        delegate: coption_key(data, 72)?,
        delegated_amount: u64_at(data, 121)?,
        close_authority: coption_key(data, 129)?,
    })
}

/// Reads a mint's supply and decimals; `None` if the data is not an initialised mint.
pub fn parse_mint_supply(program_owner: &Address, data: &[u8]) -> Option<(u64, u8)> {
    let decimals = parse_mint_decimals(program_owner, data)?;
    Some((u64_at(data, 36)?, decimals))
}

/// Reads a mint's decimals; `None` if the data is not an initialised mint.
pub fn parse_mint_decimals(program_owner: &Address, data: &[u8]) -> Option<u8> {
    if !is_token_program(program_owner) || data.len() < MINT_LEN || data.len() == ACCOUNT_LEN {
        return None;
    }
    if data.len() > ACCOUNT_LEN && data.get(ACCOUNT_LEN) != Some(&1) {
        return None;
    }
    if data.get(45) != Some(&1) {
        return None;
    }
    data.get(44).copied()
}
