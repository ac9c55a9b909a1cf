//! Enrolling test agents: a boundary signs nothing for an agent without an owner-signed policy.
#![allow(dead_code, clippy::unwrap_used)]
use custos_core::{AgentId, Custody, PolicyJson};
use custos_policy::PolicyDocument;
use custos_signer::{enrolment, OwnerSigningKey};

/// Enrols `agent` under the default policy with a fresh owner key, unless the boundary already
/// holds a policy for it.
pub async fn enrol(c: &dyn Custody, agent: AgentId) {
    enrol_with(c, agent, PolicyDocument::default()).await;
}

/// Enrols `agent` under `doc` with a fresh owner key (returned), unless already enrolled.
pub async fn enrol_with(
    c: &dyn Custody,
    agent: AgentId,
    doc: PolicyDocument,
) -> Option<OwnerSigningKey> {
    if c.held_policy(agent).await.unwrap().is_some() {
        return None;
    }
    let owner = OwnerSigningKey::generate();
    let env = enrolment(agent, doc, &owner);
    c.submit_policy(PolicyJson::new(&env).unwrap())
        .await
        .unwrap();
    Some(owner)
}
