//! Durable nonces on the embedded devnet, as a node handles them: a transaction whose first
//! instruction is the System program's `AdvanceNonceAccount` on an initialised nonce account
//! whose stored nonce is the transaction's recent blockhash, signed by the account's authority,
//! passes the age check however old its "blockhash" is ([`durable_nonce`]); and one that lands
//! with an error still uses its nonce up ([`advance`]), as on a cluster.
//!
//! A nonce account is 80 bytes owned by the System program: `u32` version (1 = current), `u32`
//! state (1 = initialised), the authority (32 bytes), the durable nonce (32 bytes), the fee per
//! signature (`u64`).
use litesvm::LiteSVM;
use solana_account::Account;
use solana_address::Address;
use solana_transaction::versioned::VersionedTransaction;

/// Size of a nonce account.
const NONCE_ACCOUNT_LEN: usize = 80;
/// `AdvanceNonceAccount`'s index in the System program's instruction enum.
const ADVANCE_NONCE: [u8; 4] = [4, 0, 0, 0];
/// Prefix of the hash a durable nonce is derived with (`DurableNonce::from_blockhash`).
const DURABLE_NONCE_PREFIX: &[u8] = b"DURABLE_NONCE";

/// The nonce account `tx` advances, if it is a durable-nonce transaction whose nonce is current.
pub fn durable_nonce(svm: &LiteSVM, tx: &VersionedTransaction) -> Option<Address> {
    let msg = &tx.message;
    let keys = msg.static_account_keys();
    let ix = msg.instructions().first()?;
    if keys.get(usize::from(ix.program_id_index))? != &solana_sdk_ids::system_program::ID
        || ix.data.get(..4)? != ADVANCE_NONCE
    {
        return None;
    }
    let account = *keys.get(usize::from(*ix.accounts.first()?))?;
    let data = svm.get_account(&account)?;
    let (authority, nonce) = initialised(&data)?;
    if nonce != msg.recent_blockhash().as_ref() {
        return None;
    }
    // The authority signs the transaction (and so the instruction).
    let signers = usize::from(msg.header().num_required_signatures);
    keys.iter()
        .take(signers)
        .any(|k| k.as_ref() == authority)
        .then_some(account)
}

/// `(authority, nonce)` of an initialised nonce account.
fn initialised(a: &Account) -> Option<(&[u8], &[u8])> {
    let d = &a.data;
    (a.owner == solana_sdk_ids::system_program::ID
        && d.len() == NONCE_ACCOUNT_LEN
        && d.get(0..4)? == [1, 0, 0, 0]
        && d.get(4..8)? == [1, 0, 0, 0])
    .then(|| (&d[8..40], &d[40..72]))
}

/// Moves the nonce of `account` on (as a failed durable-nonce transaction does on a cluster):
/// the new nonce is derived from the old one, so the transaction that held it can never land.
pub fn advance(svm: &mut LiteSVM, account: &Address) {
    use sha2::Digest as _;
    let Some(mut a) = svm.get_account(account) else {
        return;
    };
    let Some((_, old)) = initialised(&a) else {
        return;
    };
    let next: [u8; 32] = sha2::Sha256::new()
        .chain_update(DURABLE_NONCE_PREFIX)
        .chain_update(old)
        .finalize()
        .into();
    a.data[40..72].copy_from_slice(&next);
    if let Err(e) = svm.set_account(*account, a) {
        tracing::warn!(error = %e, "devnet: could not advance a nonce");
    }
}
