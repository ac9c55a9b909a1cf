//! The interface every chain implements: build a transaction for an intent, decode a
//! transaction, simulate it into effects, attach a signature, submit, confirm, read balances.
//!
//! Amounts here are integers in the asset's base units (lamports, token atoms, wei): the chain
//! layer never rounds. Converting whole-unit decimals from the API into base units is done with
//! [`to_base_units`] once the asset's decimals are known.
//!
//! The effects of a simulation are derived from the state of the agent's accounts before and
//! after the transaction, not from the instruction list: the policy judges what a transaction
//! would do, never what it claims.
use crate::amount::{Decimal, SCALE};
use crate::atoms::{AmountError, Atoms};
use crate::chain::Chain;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// An asset on a chain: the chain's native coin or a token identified by its address (a Solana
/// mint, an ERC-20 contract).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "address", rename_all = "snake_case")]
pub enum AssetRef {
    /// The chain's native coin (SOL, ETH, BTC).
    Native,
    /// A token by its address on the chain.
    Token(String),
}

impl fmt::Display for AssetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Native => f.write_str("native"),
            Self::Token(a) => f.write_str(a),
        }
    }
}

/// Converts a whole-unit decimal into base units for an asset with `decimals` decimals,
/// refusing (never rounding) amounts with more precision than the asset has.
pub fn to_base_units(amount: Decimal, decimals: u8) -> Result<u128, ChainError> {
    let decimals = u32::from(decimals);
    if decimals > SCALE {
        return Err(ChainError::InvalidInput(format!(
            "asset has {decimals} decimals, more than the {SCALE} supported"
        )));
    }
    let divisor = 10u128.pow(SCALE - decimals);
    let atoms = amount.atoms();
    if !atoms.is_multiple_of(divisor) {
        return Err(ChainError::InvalidInput(format!(
            "amount has more than the asset's {decimals} fractional digits"
        )));
    }
    Ok(atoms / divisor)
}

/// Converts base units back into a whole-unit decimal.
pub fn from_base_units(base: u128, decimals: u8) -> Result<Decimal, ChainError> {
    let decimals = u32::from(decimals);
    if decimals > SCALE {
        return Err(ChainError::InvalidInput(format!(
            "asset has {decimals} decimals, more than the {SCALE} supported"
        )));
    }
    base.checked_mul(10u128.pow(SCALE - decimals))
        .map(Decimal::from_atoms)
        .ok_or_else(|| ChainError::InvalidInput("amount is too large".into()))
}

/// A transfer the agent asked for, as the chain layer receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferIntent {
    /// The agent's address (fee payer and source of funds).
    pub from: String,
    /// Recipient address (for tokens: the recipient wallet, not its token account).
    pub to: String,
    /// What to move.
    pub asset: AssetRef,
    /// How much, in whole units (`"1.25"` SOL); the adapter converts it with the asset's decimals.
    pub amount: Decimal,
}

/// A transaction built by an adapter, ready to be signed inside the custody boundary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsignedTx {
    /// The chain.
    pub chain: Chain,
    /// The serialized transaction as it goes on the wire, signature slots zeroed. This is what the
    /// custody boundary receives and decodes.
    #[serde(with = "crate::custody::hex_bytes")]
    pub tx_bytes: Vec<u8>,
    /// The exact bytes the agent's key signs (for Solana: the serialized message).
    #[serde(with = "crate::custody::hex_bytes")]
    pub message: Vec<u8>,
    /// The address whose signature is required.
    pub signer: String,
    /// The amount moved in base units, after decimal conversion.
    pub amount_base_units: u128,
    /// Decimals of the asset moved.
    pub decimals: u8,
    /// Last block height (Solana) at which the transaction is still valid, when known.
    pub last_valid_block_height: Option<u64>,
}

/// A transfer read out of a transaction's instructions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodedTransfer {
    /// Source (a wallet for native transfers, a token account for token transfers).
    pub from: String,
    /// Destination (a wallet or a token account).
    pub to: String,
    /// The token's address where the instruction names it (`TransferChecked`); `None` for the
    /// native coin and for token instructions that do not name the mint.
    pub mint: Option<String>,
    /// True for the native coin.
    pub native: bool,
    /// Amount in base units.
    pub amount: u128,
}

/// The kind of control over an account that a transaction hands to someone else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ApprovalKind {
    /// A spending delegation (SPL `Approve`/`ApproveChecked`, ERC-20 `approve`).
    Delegate,
    /// The account's owner changes (SPL `SetAuthority` with `AccountOwner`).
    OwnerChange,
    /// Another authority changes (close authority, mint/freeze authority).
    AuthorityChange,
    /// An operator approval over a whole collection (ERC-721/1155 `setApprovalForAll`).
    Operator,
}

/// A permission granted by a transaction over one of the agent's accounts or assets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalEffect {
    /// What kind of control.
    pub kind: ApprovalKind,
    /// The account the control is over (a token account, a mint).
    pub account: String,
    /// The asset concerned, when known.
    pub asset: Option<AssetRef>,
    /// Who receives the control (delegate, new owner or authority); `None` when it is removed.
    pub grantee: Option<String>,
    /// The amount delegated in base units, exact; `None` for control that has no amount (owner
    /// or authority change, unlimited operator approval, the chain's "unlimited" allowance).
    pub amount: Option<Atoms>,
}

/// A transaction decoded without chain access.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodedTx {
    /// The chain.
    pub chain: Chain,
    /// Addresses that must sign, fee payer first.
    pub signers: Vec<String>,
    /// Programs or contracts the top-level instructions call.
    pub programs: Vec<String>,
    /// Transfers recognised in the instructions (system and token programs).
    pub transfers: Vec<DecodedTransfer>,
    /// Approvals recognised in the instructions.
    pub approvals: Vec<ApprovalEffect>,
}

/// The change of one asset across the agent's accounts caused by a simulated transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceChange {
    /// The asset.
    pub asset: AssetRef,
    /// The asset's decimals.
    pub decimals: u8,
    /// Sum over the agent's accounts before, in base units.
    pub pre: Atoms,
    /// Sum over the agent's accounts after, in base units.
    pub post: Atoms,
}

impl BalanceChange {
    /// Signed change in base units (negative is an outflow), exact;
    /// [`AmountError::OutOfRange`] when it does not fit an `i128` (more than ~1.7·10^38 base
    /// units moved in one transaction), so the policy refuses it instead of misjudging it.
    pub fn delta(&self) -> Result<i128, AmountError> {
        let out_of_range = |atoms: Atoms| AmountError::OutOfRange {
            atoms,
            decimals: self.decimals,
        };
        if self.post >= self.pre {
            let d = self.post.saturating_sub(self.pre);
            d.to_u128()
                .and_then(|v| i128::try_from(v).ok())
                .ok_or_else(|| out_of_range(d))
        } else {
            let d = self.pre.saturating_sub(self.post);
            d.to_u128()
                .and_then(|v| i128::try_from(v).ok())
                .map(|v| -v)
                .ok_or_else(|| out_of_range(d))
        }
    }

    /// The amount that leaves the agent, in base units (zero for an inflow).
    pub fn outflow(&self) -> Atoms {
        self.pre.saturating_sub(self.post)
    }
}

/// What a transaction would do, derived by running it against the chain's current state.
///
/// Defined here by the chain layer; the policy engine reads it as the transaction's effects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimulatedEffects {
    /// The chain.
    pub chain: Chain,
    /// The agent whose accounts the balance changes are computed over.
    pub agent: String,
    /// True when the simulation succeeded. A failed simulation has no balance changes.
    pub success: bool,
    /// The chain's error when it failed.
    pub error: Option<String>,
    /// Per-asset changes of the agent's accounts (native and every token account it owns before
    /// or after), fees included in the native change. Assets that do not change are omitted.
    pub balance_changes: Vec<BalanceChange>,
    /// Every program or contract the transaction runs (top level and, where the backend reports
    /// them, inner calls), deduplicated, in first-seen order.
    pub programs: Vec<String>,
    /// Contract methods the transaction calls (EVM; empty on Solana).
    #[serde(default)]
    pub methods: Vec<crate::effects::MethodCall>,
    /// Control granted over the agent's accounts: from the instructions and from the state diff.
    pub approvals: Vec<ApprovalEffect>,
    /// Accounts that exist after but not before.
    pub accounts_created: Vec<String>,
    /// Accounts that exist before but not after.
    pub accounts_closed: Vec<String>,
    /// Wallets (not token accounts) other than the agent that end up with more of some asset.
    pub recipients: Vec<String>,
    /// Network fee in native base units.
    pub fee: u64,
    /// Native base units the agent deposits into accounts the transaction creates with data
    /// (rent for a recipient's token account), as opposed to plain transfers.
    pub rent_deposits: u64,
    /// Compute units (Solana) or gas used.
    pub units_consumed: u64,
    /// Program logs, for diagnostics.
    pub logs: Vec<String>,
}

impl SimulatedEffects {
    /// The policy's view of these effects: assets named as the pipeline names them (the native
    /// coin by `native_symbol`, tokens by address), fee and rent as the network cost, prices
    /// left for the pipeline to fill (and delegations' decimals, where the simulation did not see
    /// the asset move). A Solana delegation of `u64::MAX` counts as unlimited. A balance change
    /// too large to judge exactly is [`AmountError::OutOfRange`].
    pub fn to_policy_effects(
        &self,
        native_symbol: &str,
    ) -> Result<crate::effects::Effects, AmountError> {
        use crate::effects::{
            AssetDelta, Delegation, DelegationAmount, DelegationKind, Effects, NetworkCost,
        };
        use crate::intent::AssetId;
        let id = |a: &AssetRef| match a {
            AssetRef::Native => AssetId::new(native_symbol),
            AssetRef::Token(t) => AssetId::new(t.clone()),
        };
        let unlimited_at = match self.chain {
            Chain::Solana => Some(Atoms::from(u64::MAX)),
            _ => None,
        };
        let decimals_of = |asset: &AssetRef| {
            self.balance_changes
                .iter()
                .find(|c| &c.asset == asset)
                .map(|c| c.decimals)
        };
        let cost = u128::from(self.fee) + u128::from(self.rent_deposits);
        let mut changes = Vec::with_capacity(self.balance_changes.len());
        for c in &self.balance_changes {
            changes.push(AssetDelta {
                asset: id(&c.asset),
                decimals: c.decimals,
                delta_atoms: c.delta()?,
            });
        }
        Ok(Effects {
            changes,
            programs: self.programs.clone(),
            methods: self.methods.clone(),
            delegations: self
                .approvals
                .iter()
                .filter_map(|a| {
                    let spender = a.grantee.clone()?;
                    let kind = match a.kind {
                        ApprovalKind::Delegate => DelegationKind::Spend,
                        ApprovalKind::Operator => DelegationKind::Operator,
                        ApprovalKind::OwnerChange | ApprovalKind::AuthorityChange => {
                            DelegationKind::Authority
                        }
                    };
                    let amount = match a.amount {
                        Some(n) if unlimited_at.is_none_or(|u| n < u) => {
                            DelegationAmount::Limited(n)
                        }
                        _ => DelegationAmount::Unlimited,
                    };
                    Some(Delegation {
                        kind,
                        spender,
                        asset: a.asset.as_ref().map(id),
                        decimals: a.asset.as_ref().and_then(decimals_of),
                        amount,
                    })
                })
                .collect(),
            recipients: self.recipients.clone(),
            network_cost: (cost > 0).then(|| NetworkCost {
                asset: AssetId::new(native_symbol),
                atoms: cost,
            }),
            native: Some(AssetId::new(native_symbol)),
            prices: Default::default(),
        })
    }

    /// The outflow of `asset` from the agent, in base units.
    pub fn outflow(&self, asset: &AssetRef) -> Atoms {
        self.balance_changes
            .iter()
            .filter(|c| &c.asset == asset)
            .map(BalanceChange::outflow)
            .sum()
    }
}

/// How final a transaction must be before it counts as confirmed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Commitment {
    /// Processed by the node the request went to.
    Processed,
    /// Voted on by a supermajority (the default).
    #[default]
    Confirmed,
    /// Rooted.
    Finalized,
}

impl Commitment {
    /// The name JSON-RPC uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processed => "processed",
            Self::Confirmed => "confirmed",
            Self::Finalized => "finalized",
        }
    }
}

/// The outcome of waiting for a submitted transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// Transaction id (Solana signature, EVM hash).
    pub tx_id: String,
    /// Slot or block number it landed in, when the backend reports it.
    pub slot: Option<u64>,
    /// The commitment reached.
    pub commitment: Commitment,
    /// The chain's error when the transaction landed but failed.
    pub error: Option<String>,
}

/// What became of a signed transaction, as [`ChainAdapter::reconcile`] finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxFate {
    /// It is on chain (succeeded, or failed with [`Confirmation::error`]).
    Landed(Confirmation),
    /// Not on chain yet, and it still can be: it has been (re-)broadcast.
    Pending,
    /// It can never land: the chain refused it for good (expired blockhash, used nonce).
    Dropped(String),
}

/// Rejections after which a transaction can never land: Solana's expired blockhash, an EVM
/// nonce already used by another transaction.
fn rejection_is_final(message: &str) -> bool {
    blockhash_expired(message) || message.to_ascii_lowercase().contains("nonce too low")
}

/// Whether a rejection says the transaction's blockhash has expired (Solana: it can never
/// land, and the same message on a fresh blockhash can).
pub fn blockhash_expired(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    ["blockhash not found", "blockhashnotfound"]
        .iter()
        .any(|p| m.contains(p))
}

/// One balance of an address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetBalance {
    /// The asset.
    pub asset: AssetRef,
    /// Amount in base units.
    pub amount: u128,
    /// The asset's decimals.
    pub decimals: u8,
}

/// Why a chain operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The caller's mistake: bad address, amount, asset or transaction bytes.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The chain refused the transaction (failed simulation, bad signature, expired blockhash).
    #[error("rejected by the chain: {0}")]
    Rejected(String),
    /// The chain backend could not be reached or answered nonsense.
    #[error("chain backend unavailable: {0}")]
    Unavailable(String),
    /// The transaction was not confirmed in time.
    #[error("not confirmed within {0:?}")]
    Timeout(Duration),
    /// Our own bug or a broken invariant.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A sequence number (EVM nonce) held for one transaction by [`ChainAdapter::sequence`]. Until
/// it is committed nobody else gets it; dropped uncommitted (signing or submission failed, or the
/// process died) it is handed out again, so no number is ever skipped.
pub trait SequenceLease: Send {
    /// The number held.
    fn number(&self) -> u64;
    /// The transaction was accepted by the chain: the next lease gets the next number.
    fn commit(self: Box<Self>);
}

/// A durable-nonce account of a signer (Solana): transactions built on it stay valid until the
/// nonce is used, however long they wait for an approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NonceAccount {
    /// Its address.
    pub address: String,
    /// Its current nonce (what a transaction built on it carries as its blockhash); `None`
    /// while the account does not exist.
    pub nonce: Option<String>,
}

/// A transaction with its sequence number filled in, and the lease to commit once it is sent.
pub struct Sequenced {
    /// The unsigned transaction to sign (for chains without sequence numbers, unchanged).
    pub tx_bytes: Vec<u8>,
    /// The lease, for chains that have sequence numbers.
    pub lease: Option<Box<dyn SequenceLease>>,
}

impl fmt::Debug for Sequenced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sequenced")
            .field("tx_bytes", &self.tx_bytes.len())
            .field("lease", &self.lease.as_ref().map(|l| l.number()))
            .finish()
    }
}

/// A chain: everything the pipeline needs from it. Implementations are `Send + Sync` and cheap
/// to share behind an `Arc`.
#[async_trait::async_trait]
pub trait ChainAdapter: Send + Sync {
    /// The chain this adapter serves.
    fn chain(&self) -> Chain;

    /// The key that signs for this chain.
    fn key_scheme(&self) -> crate::KeyScheme;

    /// The key under which an agent's address for this chain is stored (`solana`, `evm`).
    fn address_family(&self) -> &'static str;

    /// How the native coin is named in requests, prices and policy (`SOL`, `ETH`).
    fn native_symbol(&self) -> &str;

    /// What the custody boundary is asked to sign for `tx_bytes`.
    fn sign_payload(&self, tx_bytes: &[u8]) -> crate::SignPayload;

    /// What a policy decision about `tx_bytes` is bound to: the digest of its sign payload with
    /// the sequence number [`Self::sequence`] writes left out (EVM: the nonce set to zero), so an
    /// approval covers the transaction it judged at whichever nonce it is given, and nothing else.
    fn judged_digest(&self, tx_bytes: &[u8]) -> Result<crate::PayloadDigest, ChainError> {
        Ok(self.sign_payload(tx_bytes).digest())
    }

    /// Takes the sender's next sequence number and writes it into the transaction. Chains
    /// without sequence numbers return the bytes unchanged and no lease.
    async fn sequence(&self, tx_bytes: &[u8], signer: &str) -> Result<Sequenced, ChainError>;

    /// The id of a signed transaction (Solana: the first signature in base58; EVM: the hash).
    fn tx_id(&self, signed_tx: &[u8]) -> Result<String, ChainError>;

    /// Checks that the backend serves this chain (an EVM node's chain id); called at start.
    async fn check_chain(&self) -> Result<(), ChainError> {
        Ok(())
    }

    /// Builds an unsigned transfer (native or token) from the agent's address.
    async fn build_transfer(&self, intent: &TransferIntent) -> Result<UnsignedTx, ChainError>;

    /// Decodes a serialized transaction without chain access.
    fn decode(&self, tx_bytes: &[u8]) -> Result<DecodedTx, ChainError>;

    /// Runs the transaction against current chain state without committing it, and derives the
    /// effects on `agent`'s accounts. Signatures are not required.
    async fn simulate(&self, tx_bytes: &[u8], agent: &str) -> Result<SimulatedEffects, ChainError>;

    /// Puts `signature` by `signer` into its slot of the serialized transaction.
    fn attach_signature(
        &self,
        tx_bytes: &[u8],
        signer: &str,
        signature: &[u8],
    ) -> Result<Vec<u8>, ChainError>;

    /// Submits a signed transaction; returns its id.
    async fn submit(&self, signed_tx: &[u8]) -> Result<String, ChainError>;

    /// Waits until the transaction reaches `commitment` or `timeout` passes.
    async fn confirm(
        &self,
        tx_id: &str,
        commitment: Commitment,
        timeout: Duration,
    ) -> Result<Confirmation, ChainError>;

    /// Native and token balances of `address`.
    async fn balances(&self, address: &str) -> Result<Vec<AssetBalance>, ChainError>;

    /// The decimals of `asset` (the native coin's, a mint's, an ERC-20's `decimals()`), so an
    /// allowance of an asset that the transaction does not move can still be valued.
    async fn asset_decimals(&self, asset: &AssetRef) -> Result<u8, ChainError>;

    /// Whether the chain holds `tx_id` as sent but not yet included (an EVM node's pool). A
    /// chain without such a state (Solana: a transaction lands or expires) answers `false`.
    async fn is_pending(&self, tx_id: &str) -> Result<bool, ChainError> {
        let _ = tx_id;
        Ok(false)
    }

    /// Durable-nonce account `index` of `authority` (a chain without durable nonces: refused).
    async fn nonce_account(&self, authority: &str, index: u32) -> Result<NonceAccount, ChainError> {
        let _ = (authority, index);
        Err(ChainError::InvalidInput(format!(
            "{} has no durable nonces",
            self.chain()
        )))
    }

    /// An unsigned transaction creating durable-nonce account `index` of `authority`, paid by
    /// it (rent it can withdraw again) and signed by it alone.
    async fn build_nonce_account(
        &self,
        authority: &str,
        index: u32,
    ) -> Result<UnsignedTx, ChainError> {
        let _ = (authority, index);
        Err(ChainError::InvalidInput(format!(
            "{} has no durable nonces",
            self.chain()
        )))
    }

    /// `tx` rebuilt on the durable nonce of `account` (its signer the nonce's authority): it
    /// then stays valid until that nonce is used.
    fn on_durable_nonce(
        &self,
        tx: &UnsignedTx,
        account: &NonceAccount,
    ) -> Result<UnsignedTx, ChainError> {
        let _ = (tx, account);
        Err(ChainError::InvalidInput(format!(
            "{} has no durable nonces",
            self.chain()
        )))
    }

    /// `tx` (signed by `tx.signer` alone, the fee payer) with the same message on a fresh
    /// blockhash, unsigned: what to send instead of a transaction whose blockhash expired
    /// before the cluster took it. Only chains with expiring blockhashes have it (Solana).
    async fn on_fresh_blockhash(&self, tx: &UnsignedTx) -> Result<UnsignedTx, ChainError> {
        let _ = tx;
        Err(ChainError::InvalidInput(format!(
            "{} transactions do not expire by blockhash",
            self.chain()
        )))
    }

    /// The durable-nonce account a transaction is built on, if it is.
    fn durable_nonce_of(&self, tx_bytes: &[u8]) -> Option<String> {
        let _ = tx_bytes;
        None
    }

    /// Why the pending `tx_id` is not being included, when the chain can tell (EVM: its fee cap
    /// is below the current base fee, or it waits behind a missing earlier nonce): a sentence
    /// for the agent, or `None` when nothing holds it back (or the chain cannot say).
    async fn why_stuck(&self, tx_id: &str) -> Result<Option<String>, ChainError> {
        let _ = tx_id;
        Ok(None)
    }

    /// An unsigned replacement for the pending `signed_tx`, sent by `sender`: the same
    /// transaction (or, for a cancel, nothing sent to the sender itself) under the same
    /// sequence number with fees raised by at least `bump_percent` %, so the chain takes it
    /// instead. Only chains whose pending transactions can be replaced have one (EVM); the
    /// default refuses, naming `tx`.
    async fn replacement(
        &self,
        signed_tx: &[u8],
        sender: &str,
        kind: crate::ReplacementKind,
        bump_percent: u32,
    ) -> Result<UnsignedTx, ChainError> {
        let _ = (signed_tx, sender, kind, bump_percent);
        Err(ChainError::InvalidInput(format!(
            "tx: a {} transaction cannot be replaced (it lands or expires on its own)",
            self.chain()
        )))
    }

    /// Finds out what became of `signed_tx` (id `tx_id`) after whoever sent it lost track (a
    /// crash, a confirmation timeout): landed, dropped for good, or still pending — in which
    /// case it is broadcast again, which is always safe, since it is the same transaction and
    /// can land at most once.
    async fn reconcile(
        &self,
        signed_tx: &[u8],
        tx_id: &str,
        commitment: Commitment,
    ) -> Result<TxFate, ChainError> {
        match self.confirm(tx_id, commitment, Duration::ZERO).await {
            Ok(c) => return Ok(TxFate::Landed(c)),
            Err(ChainError::Timeout(_)) => {}
            Err(e) => return Err(e),
        }
        let refused = match self.submit(signed_tx).await {
            Ok(_) => return Ok(TxFate::Pending),
            Err(ChainError::Rejected(m)) => m,
            Err(e) => return Err(e),
        };
        // It may have landed between the two calls (a refusal as a duplicate, a used nonce).
        match self.confirm(tx_id, commitment, Duration::ZERO).await {
            Ok(c) => Ok(TxFate::Landed(c)),
            Err(ChainError::Timeout(_)) if rejection_is_final(&refused) => {
                Ok(TxFate::Dropped(refused))
            }
            Err(ChainError::Timeout(_)) => Ok(TxFate::Pending),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_units_round_trip_and_refuse_excess_precision() {
        let d: Decimal = "1.25".parse().unwrap_or_default();
        assert_eq!(to_base_units(d, 9), Ok(1_250_000_000));
        assert_eq!(
            from_base_units(1_250_000_000, 9).map(|d| d.to_string()),
            Ok("1.25".into())
        );
        let fine: Decimal = "0.0000000001".parse().unwrap_or_default();
        assert!(to_base_units(fine, 9).is_err());
        assert_eq!(to_base_units(fine, 10), Ok(1));
    }

    #[test]
    fn outflow_and_delta() {
        let c = BalanceChange {
            asset: AssetRef::Native,
            decimals: 9,
            pre: Atoms::from(10u64),
            post: Atoms::from(3u64),
        };
        assert_eq!(c.delta(), Ok(-7));
        assert_eq!(c.outflow(), Atoms::from(7u64));
        // A change past the i128 range is refused, not clamped.
        let huge = BalanceChange {
            asset: AssetRef::Native,
            decimals: 18,
            pre: Atoms::MAX,
            post: Atoms::ZERO,
        };
        assert!(matches!(huge.delta(), Err(AmountError::OutOfRange { .. })));
        assert_eq!(huge.outflow(), Atoms::MAX);
    }
}
