//! Durable nonces: the accounts Custos keeps for a signer (created with a seed, so the signer
//! alone signs their creation) and transactions rebuilt on them. A transaction whose first
//! instruction is the System program's `AdvanceNonceAccount` and whose blockhash is the
//! account's stored nonce stays valid until that nonce is used — what a transfer parked for a
//! human approval needs, since a blockhash expires within about a minute.
//!
//! A nonce account is 80 bytes owned by the System program: `u32` version (1 = current), `u32`
//! state (1 = initialised), the authority (32 bytes), the durable nonce (32 bytes), the fee per
//! signature (`u64`).
use solana_account::Account;
use solana_address::Address;
use solana_instruction::{AccountMeta, Instruction};
use solana_message::{Message, VersionedMessage};

/// Size of a nonce account.
pub const NONCE_ACCOUNT_LEN: usize = 80;
/// `AdvanceNonceAccount`'s index in the System program's instruction enum.
pub const ADVANCE_NONCE: [u8; 4] = [4, 0, 0, 0];

/// The seed of a signer's nonce account `index`.
pub fn seed(index: u32) -> String {
    format!("custos-nonce-{index}")
}

/// The address of `authority`'s nonce account `index` (`create_with_seed` under the System
/// program).
pub fn address(authority: &Address, index: u32) -> Address {
    use sha2::Digest as _;
    let system = solana_sdk_ids::system_program::ID;
    Address::new_from_array(
        sha2::Sha256::new()
            .chain_update(authority.as_ref())
            .chain_update(seed(index))
            .chain_update(system.as_ref())
            .finalize()
            .into(),
    )
}

/// `(authority, nonce)` of an initialised nonce account.
pub fn parse(a: &Account) -> Option<(&[u8], &[u8])> {
    let d = &a.data;
    (a.owner == solana_sdk_ids::system_program::ID
        && d.len() == NONCE_ACCOUNT_LEN
        && d.get(0..4)? == [1, 0, 0, 0]
        && d.get(4..8)? == [1, 0, 0, 0])
    .then(|| (&d[8..40], &d[40..72]))
}

/// The instructions creating `authority`'s nonce account `index` with `rent` lamports.
pub fn create(authority: &Address, index: u32, rent: u64) -> Vec<Instruction> {
    solana_system_interface::instruction::create_nonce_account_with_seed(
        authority,
        &address(authority, index),
        authority,
        &seed(index),
        authority,
        rent,
    )
}

/// The nonce account a message is built on: its first instruction advances it.
pub fn advanced_by(message: &VersionedMessage) -> Option<Address> {
    let keys = message.static_account_keys();
    let ix = message.instructions().first()?;
    if keys.get(usize::from(ix.program_id_index))? != &solana_sdk_ids::system_program::ID
        || ix.data.get(..4)? != ADVANCE_NONCE
    {
        return None;
    }
    keys.get(usize::from(*ix.accounts.first()?)).copied()
}

/// A legacy message's instructions, with their accounts' signer and writable flags.
fn decompile(m: &Message) -> Option<Vec<Instruction>> {
    m.instructions
        .iter()
        .map(|ci| {
            let key = |i: u8| m.account_keys.get(usize::from(i)).copied();
            Some(Instruction {
                program_id: key(ci.program_id_index)?,
                accounts: ci
                    .accounts
                    .iter()
                    .map(|&i| {
                        Some(AccountMeta {
                            pubkey: key(i)?,
                            is_signer: m.is_signer(usize::from(i)),
                            is_writable: m.is_maybe_writable(usize::from(i), None),
                        })
                    })
                    .collect::<Option<Vec<_>>>()?,
                data: ci.data.clone(),
            })
        })
        .collect()
}

/// `message` (legacy) rebuilt on the durable nonce `nonce` of `account`, whose authority is the
/// fee payer: `AdvanceNonceAccount` first, the nonce as the blockhash.
pub fn rebuild(
    message: &VersionedMessage,
    account: &Address,
    nonce: &solana_hash::Hash,
) -> Option<Message> {
    let VersionedMessage::Legacy(m) = message else {
        return None;
    };
    let payer = *m.account_keys.first()?;
    let mut ixs = vec![solana_system_interface::instruction::advance_nonce_account(
        account, &payer,
    )];
    ixs.extend(decompile(m)?);
    Some(Message::new_with_blockhash(&ixs, Some(&payer), nonce))
}
