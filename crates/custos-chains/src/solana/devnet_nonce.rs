//! Durable nonces on the embedded devnet, as a node handles them: a transaction whose first
//! instruction is the System program's `AdvanceNonceAccount` on an initialised nonce account
//! whose stored nonce is the transaction's recent blockhash, signed by the account's authority,
//! passes the age check however old its "blockhash" is ([`durable_nonce`]); and one that lands
//! with an error still uses its nonce up ([`advance`]), as on a cluster.
//!
//! The account layout: [`super::nonce`].
use litesvm::LiteSVM;
use solana_address::Address;
use solana_transaction::versioned::VersionedTransaction;

/// Prefix of the hash a durable nonce is derived with (`DurableNonce::from_blockhash`).
const DURABLE_NONCE_PREFIX: &[u8] = b"DURABLE_NONCE";

/// The nonce account `tx` advances, if it is a durable-nonce transaction whose nonce is current.
pub fn durable_nonce(svm: &LiteSVM, tx: &VersionedTransaction) -> Option<Address> {
    let msg = &tx.message;
    let keys = msg.static_account_keys();
    let account = super::nonce::advanced_by(msg)?;
    let data = svm.get_account(&account)?;
    let (authority, nonce) = super::nonce::parse(&data)?;
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

/// Moves the nonce of `account` on (as a failed durable-nonce transaction does on a cluster):
/// the new nonce is derived from the old one, so the transaction that held it can never land.
pub fn advance(svm: &mut LiteSVM, account: &Address) {
    use sha2::Digest as _;
    let Some(mut a) = svm.get_account(account) else {
        return;
    };
    let Some((_, old)) = super::nonce::parse(&a) else {
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
