//! Operator accounts: the people who run a Custos server and log in to its console — each with
//! a role, the passkeys they log in with, an optional TOTP authenticator for admin actions, and
//! their failed-login count — and their console sessions.
//!
//! An account is one typed document updated by compare-and-set on its `version`, so two
//! replicas (or two tabs) that both change it cannot lose one change, and a TOTP step recorded
//! as used stays used.
use crate::store::OperatorRole;
use serde::{Deserialize, Serialize};

/// An operator account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorAccount {
    /// `opr_<32 hex>`.
    pub id: String,
    /// Lower-case email: where enrolment codes go; unique.
    pub email: String,
    /// What the operator may do.
    pub role: OperatorRole,
    /// When it was created (invited).
    pub created_at_ms: i64,
    /// A disabled account cannot log in or act.
    pub disabled: bool,
    /// Registered passkeys.
    pub passkeys: Vec<StoredPasskey>,
    /// The TOTP authenticator, once one is set up.
    pub totp: Option<TotpState>,
    /// Refused logins since the last successful one.
    pub failed_logins: u32,
    /// Logins are refused until then (after too many failures).
    pub locked_until_ms: i64,
    /// Compare-and-set version: [`crate::Store::operator_account_update`] stores the account
    /// only if the stored one still has this version, and bumps it.
    pub version: u64,
}

/// A passkey as the WebAuthn library keeps it (its JSON: public key, counter, backup state).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPasskey {
    /// The credential id, base64url.
    pub credential_id: String,
    /// The library's credential record, JSON (public: no secret in it).
    pub record: String,
    /// When it was registered.
    pub created_at_ms: i64,
    /// When it last logged in.
    pub last_used_ms: Option<i64>,
}

/// A TOTP authenticator: the secret sealed under the server's key, whether the operator has
/// proved they hold it, and the last step used (a code is good once).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpState {
    /// `nonce ‖ AES-256-GCM(secret)` in hex, bound to the account id.
    pub sealed_secret: String,
    /// The operator entered a correct code after setting it up.
    pub confirmed: bool,
    /// The last 30-second step a code was accepted for.
    pub last_step: Option<i64>,
}

/// A console session (the cookie's hash is its key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleSession {
    /// SHA-256 of the cookie value.
    pub id_hash: [u8; 32],
    /// The account.
    pub operator_id: String,
    /// When it began.
    pub created_at_ms: i64,
    /// When it ends.
    pub expires_at_ms: i64,
    /// Admin actions are allowed until then (a TOTP code was entered).
    pub totp_fresh_until_ms: Option<i64>,
}
