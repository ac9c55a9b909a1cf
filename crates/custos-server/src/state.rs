//! The shared state every handler sees.
use crate::audit::AuditSink;
use crate::auth::jwt::JwtKeys;
use crate::config::Config;
use crate::mailer::Mailer;
use crate::metrics::Metrics;
use crate::ratelimit::Limits;
use custos_core::{Agent, Clock, Custody, Store};
use custos_policy::PolicyDocument;
use std::ops::Deref;
use std::sync::Arc;

/// Cheaply cloneable handle to the server's parts.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The parts.
pub struct Inner {
    /// Validated configuration.
    pub cfg: Config,
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// The custody boundary.
    pub custody: Arc<dyn Custody>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Login mail delivery.
    pub mailer: Mailer,
    /// Session token keys.
    pub jwt: JwtKeys,
    /// Key for one-time-code hashes.
    pub otp_pepper: zeroize::Zeroizing<[u8; 32]>,
    /// Rate limits.
    pub limits: Limits,
    /// The audit writer.
    pub audit: AuditSink,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Policy applied where an agent's document is silent.
    pub default_policy: PolicyDocument,
    /// The chains this server acts on.
    pub chains: crate::chains::Chains,
    /// USD prices.
    pub oracle: Arc<dyn custos_core::PriceOracle>,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Wraps the parts.
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    /// The agent's effective policy: its document over the server default.
    pub fn policy_of(&self, agent: &Agent) -> Result<PolicyDocument, crate::error::ApiError> {
        match &agent.policy {
            None => Ok(self.default_policy.clone()),
            Some(v) => PolicyDocument::from_json_over(v, &self.default_policy).map_err(|e| {
                crate::error::ApiError::internal(format!(
                    "stored policy of {} is invalid: {e}",
                    agent.id
                ))
            }),
        }
    }
}
