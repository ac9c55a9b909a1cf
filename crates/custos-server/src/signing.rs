//! The server's handle on the custody boundary. Key management passes straight through; a
//! signature can be asked for only with the policy engine's `Approved` decision — a value only
//! `custos-policy` can make — and the action the boundary is told is that decision's, not the
//! caller's. Handlers never hold the `Custody` trait object itself, so there is no path from a
//! handler to a signature that skips the policy.
use custos_core::{
    AgentId, AttestationDocument, Custody, CustodyError, HeldPolicy, KeyScheme, PolicyApplied,
    PolicyJson, PublicKeyInfo, SignPayload, SignRequest, Signature,
};
use custos_policy::{Allowance, Approved};
use std::sync::Arc;

/// The boundary, as handlers see it.
pub struct Boundary(Arc<dyn Custody>);

impl Boundary {
    /// Wraps the configured backend.
    pub fn new(custody: Arc<dyn Custody>) -> Self {
        Self(custody)
    }

    /// Signs `payload` with `agent`'s `scheme` key for what `approved` allowed. The boundary
    /// still judges the bytes itself under its own owner-signed policy.
    pub async fn sign(
        &self,
        approved: &Approved<Allowance>,
        agent: AgentId,
        scheme: KeyScheme,
        payload: SignPayload,
    ) -> Result<Signature, CustodyError> {
        self.0
            .sign(SignRequest {
                agent_id: agent,
                scheme,
                payload,
                action: Some(approved.get().intent.action),
            })
            .await
    }

    /// See [`Custody::create_key`].
    pub async fn create_key(
        &self,
        agent: AgentId,
        scheme: KeyScheme,
    ) -> Result<PublicKeyInfo, CustodyError> {
        self.0.create_key(agent, scheme).await
    }

    /// See [`Custody::public_key`].
    pub async fn public_key(
        &self,
        agent: AgentId,
        scheme: KeyScheme,
    ) -> Result<Option<PublicKeyInfo>, CustodyError> {
        self.0.public_key(agent, scheme).await
    }

    /// See [`Custody::rotate`].
    pub async fn rotate(
        &self,
        agent: AgentId,
        scheme: KeyScheme,
    ) -> Result<PublicKeyInfo, CustodyError> {
        self.0.rotate(agent, scheme).await
    }

    /// See [`Custody::attestation`].
    pub async fn attestation(&self, nonce: &[u8]) -> Result<AttestationDocument, CustodyError> {
        self.0.attestation(nonce).await
    }

    /// See [`Custody::health`].
    pub async fn health(&self) -> Result<(), CustodyError> {
        self.0.health().await
    }

    /// See [`Custody::submit_policy`].
    pub async fn submit_policy(&self, envelope: PolicyJson) -> Result<PolicyApplied, CustodyError> {
        self.0.submit_policy(envelope).await
    }

    /// See [`Custody::held_policy`].
    pub async fn held_policy(&self, agent: AgentId) -> Result<Option<HeldPolicy>, CustodyError> {
        self.0.held_policy(agent).await
    }
}
