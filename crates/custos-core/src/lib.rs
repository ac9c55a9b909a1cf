//! Custos domain core: the types every other crate speaks (agent ids, chains, amounts, audit
//! records, key schemes), the wrappers that keep secrets out of logs, and the small traits the
//! rest of the system is built from: [`Custody`], [`Store`], [`Clock`] and [`PriceOracle`].
//! It also defines the policy's inputs: [`Intent`], [`Effects`], [`Usage`] and [`UsdValue`].
//!
//! This crate performs no I/O and holds no policy logic. Implementations of its traits live in
//! their own crates (`custos-custody`, `custos-store`), so dependencies point one way:
//! core ← {policy, custody, store} ← server ← cli.
#![forbid(unsafe_code)]

pub mod alert;
pub mod amount;
pub mod atoms;
pub mod audit;
pub mod chain;
pub mod chain_adapter;
pub mod clock;
pub mod custody;
pub mod ids;
pub mod in_flight;
pub mod ledger;
pub mod operator;
pub mod prediction;
pub mod scope;
pub mod secret;
pub mod store;
pub mod webhook;

// Policy inputs and the price oracle interface.
pub mod effects;
pub mod intent;
pub mod oracle;
pub mod usage;
pub mod valuation;

pub use alert::{AlertDelivery, NewAlert};
pub use amount::{Decimal, DecimalError};
pub use atoms::{AmountError, Atoms, U256};
pub use audit::{AuditEntry, AuditOutcome, StoredAudit, GENESIS_HASH};
pub use chain::{Chain, ChainParseError};
pub use chain_adapter::{
    blockhash_expired, from_base_units, to_base_units, ApprovalEffect, ApprovalKind, AssetBalance,
    AssetRef, BalanceChange, ChainAdapter, ChainError, Commitment, Confirmation, DecodedTransfer,
    DecodedTx, NonceAccount, SequenceLease, Sequenced, SimulatedEffects, TransferIntent, TxFate,
    UnsignedTx,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use custody::{
    AttestationDocument, AuditCheckpoint, Custody, CustodyError, FreezeState, FreezeTarget,
    HeldPolicy, KeyScheme, KeyStatus, PayloadDigest, PolicyApplied, PolicyJson, PublicKeyInfo,
    SignPayload, SignRequest, Signature,
};
pub use ids::AgentId;
pub use in_flight::{Candidate, IdempotencyRef, InFlightTx, Replacement, ReplacementKind};
pub use ledger::{
    ApprovalRecord, ApprovalStatus, Bucket, Reservation, ReserveOutcome, Usage24h, VoteOutcome,
};
pub use operator::{ConsoleSession, OperatorAccount, StoredPasskey, TotpState};
pub use prediction::{KalshiMethod, KalshiOrder, KalshiRequest, OutcomeSide};
pub use scope::{ApiScope, Scopes, ScopesError};
pub use secret::{SecretBytes, SecretString};
pub use store::{
    Agent, ApiKeyRecord, IdempotencyBegin, NewAgent, OperatorRole, OperatorTokenRecord, OtpRecord,
    SessionRecord, Store, StoreError,
};
pub use webhook::{Attempt, Delivery, DeliveryStatus, NewDelivery, Webhook};

pub use effects::{
    AssetDelta, Delegation, DelegationAmount, DelegationKind, Effects, MethodCall, NetworkCost,
};
pub use intent::{Action, ActionParseError, AssetId, Intent};
pub use oracle::{OracleError, Price, PriceOracle};
pub use usage::Usage;
pub use valuation::UsdValue;

/// SHA-256 of `data`, the digest used for token hashes, request hashes and the audit chain.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}
