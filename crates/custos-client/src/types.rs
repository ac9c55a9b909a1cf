//! The request and answer bodies this client sends and reads, as the API's OpenAPI document
//! names them (`components.schemas`). `custos-cli`'s tests compare each one's fields with the
//! document the server serves, so they cannot drift from it.
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `OtpRequest`: ask for a login code.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OtpRequest {
    /// The agent's email.
    pub email: String,
}

/// `VerifyRequest`: exchange the code for a session.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct VerifyRequest {
    /// The agent's email.
    pub email: String,
    /// The 6-digit code.
    pub code: String,
}

impl std::fmt::Debug for VerifyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyRequest")
            .field("email", &self.email)
            .field("code", &"<redacted>")
            .finish()
    }
}

/// `VerifyResponse` without its token (which the logged-in [`crate::Client`] keeps).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Session {
    /// The agent.
    pub agent_id: String,
    /// RFC 3339 expiry.
    pub expires_at: String,
    /// Whether this login provisioned the agent.
    #[serde(default)]
    pub new_agent: bool,
}

/// `TransferBody`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TransferBody {
    /// `solana` or `evm:<chain id>`.
    pub chain: String,
    /// Recipient address.
    pub to: String,
    /// `SOL`, a mint, the native symbol or an ERC-20 address.
    pub asset: String,
    /// Whole units as a decimal string.
    pub amount: String,
}

/// `SignMessageBody`: an off-chain message (`chain: "message"`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SignMessageBody {
    /// `message`.
    pub chain: String,
    /// UTF-8 text.
    pub message: String,
}

/// `Confirmed`: a transaction that landed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Confirmed {
    /// `confirmed`.
    pub status: String,
    /// Solana signature or EVM transaction hash.
    pub tx: String,
    /// What it was valued at, USD.
    pub usd_value: String,
    /// Its audit record.
    pub audit_id: u64,
    /// Solana: the slot.
    #[serde(default)]
    pub slot: Option<u64>,
    /// EVM: the block.
    #[serde(default)]
    pub block: Option<u64>,
    /// Answered by crash recovery rather than by the request itself.
    #[serde(default)]
    pub recovered: Option<bool>,
}

/// `PendingApproval`: parked for a human.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PendingApproval {
    /// `pending_approval`.
    pub status: String,
    /// Poll it with [`crate::Client::approval`].
    pub approval_id: String,
    /// Approvals needed.
    pub quorum: u32,
}

/// `SignedMessage`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SignedMessage {
    /// `signed`.
    pub status: String,
    /// `ed25519`.
    pub scheme: String,
    /// Hex signature.
    pub signature: String,
    /// Hex public key.
    pub public_key: String,
    /// Hex of the exact bytes signed.
    pub signed_bytes: String,
    /// Its audit record.
    pub audit_id: u64,
}

/// `WalletView`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WalletView {
    /// Id.
    pub agent_id: String,
    /// Login email.
    pub email: String,
    /// Addresses by chain family.
    pub addresses: Value,
    /// Whether actions are refused.
    pub frozen: bool,
}

/// What an action came to.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome<T> {
    /// Done.
    Done(T),
    /// A human must approve first.
    PendingApproval(PendingApproval),
}

/// Each type above as (schema name, a value with every field set), for the drift test.
#[doc(hidden)]
pub fn samples() -> Vec<(&'static str, Value)> {
    let s = |v: &dyn erased::Sample| v.json();
    vec![
        (
            "OtpRequest",
            s(&OtpRequest {
                email: "a@b.c".into(),
            }),
        ),
        (
            "VerifyRequest",
            s(&VerifyRequest {
                email: "a@b.c".into(),
                code: "000000".into(),
            }),
        ),
        (
            "TransferBody",
            s(&TransferBody {
                chain: "solana".into(),
                to: "x".into(),
                asset: "SOL".into(),
                amount: "1".into(),
            }),
        ),
        (
            "SignMessageBody",
            s(&SignMessageBody {
                chain: "message".into(),
                message: "m".into(),
            }),
        ),
        (
            "Confirmed",
            s(&Confirmed {
                status: "confirmed".into(),
                tx: "t".into(),
                usd_value: "1".into(),
                audit_id: 1,
                slot: Some(1),
                block: Some(1),
                recovered: Some(false),
            }),
        ),
        (
            "PendingApproval",
            s(&PendingApproval {
                status: "pending_approval".into(),
                approval_id: "a".into(),
                quorum: 1,
            }),
        ),
        (
            "SignedMessage",
            s(&SignedMessage {
                status: "signed".into(),
                scheme: "ed25519".into(),
                signature: "s".into(),
                public_key: "p".into(),
                signed_bytes: "b".into(),
                audit_id: 1,
            }),
        ),
        (
            "WalletView",
            s(&WalletView {
                agent_id: "a".into(),
                email: "e".into(),
                addresses: Value::Null,
                frozen: false,
            }),
        ),
    ]
}

mod erased {
    /// Serializes any of the sample types.
    pub trait Sample {
        fn json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Sample for T {
        fn json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or_default()
        }
    }
}
