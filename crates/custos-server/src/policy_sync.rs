//! The server's copy of each agent's policy follows the owner-signed envelope the custody
//! boundary holds in force — the boundary's copy is the authority, the server's the working
//! copy its price- and usage-dependent rules run on.
//!
//! - A verified **loosening under a delay** (`PUT …/policy` answered `202`) is noted with when it
//!   takes force; the housekeeping tick asks the boundary again once that time has passed and,
//!   when the boundary has promoted it, stores its document (audited `policy.adopted`). No
//!   operator has to send it twice.
//! - **At start** every agent is followed once (in the background): a loosening noted by a
//!   process that has since stopped is found again, and a stored document that differs from the
//!   signed one — a database edited behind the server's back — is replaced by the signed one
//!   and the replacement audited.
use crate::state::AppState;
use custos_core::{AgentId, AuditEntry, AuditOutcome, StoreError};
use custos_policy::PolicyDocument;
use custos_signer::PolicyEnvelope;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Agents whose boundary holds a loosening that is not in force yet, with when it takes force
/// (ms since the epoch).
#[derive(Debug, Default)]
pub struct PendingLoosenings(Mutex<BTreeMap<AgentId, i64>>);

impl PendingLoosenings {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<AgentId, i64>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers that `agent`'s boundary promotes a loosening at `effective_from_ms`.
    pub fn note(&self, agent: AgentId, effective_from_ms: i64) {
        self.map().insert(agent, effective_from_ms);
    }

    /// The agents whose loosening should be in force at `now_ms`.
    fn due(&self, now_ms: i64) -> Vec<AgentId> {
        self.map()
            .iter()
            .filter(|(_, from)| **from <= now_ms)
            .map(|(a, _)| *a)
            .collect()
    }

    fn forget(&self, agent: AgentId) {
        self.map().remove(&agent);
    }
}

/// What following one agent did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Followed {
    /// The boundary holds no envelope for the agent.
    NotEnrolled,
    /// The stored document already is the one in force.
    Unchanged,
    /// The stored document was replaced by the one in force; the new stored version.
    Adopted(u64),
}

/// Makes `agent`'s stored policy the document the boundary holds in force, and notes a
/// loosening the boundary still holds back.
pub async fn follow(state: &AppState, agent: AgentId) -> Result<Followed, String> {
    let held = match state.custody.held_policy(agent).await {
        Ok(Some(h)) => h,
        Ok(None) => return Ok(Followed::NotEnrolled),
        Err(e) => return Err(format!("the custody boundary: {e}")),
    };
    match &held.pending {
        Some((_, from)) => state.owners.pending.note(agent, *from),
        None => state.owners.pending.forget(agent),
    }
    let env = PolicyEnvelope::from_json(&held.current)
        .map_err(|e| format!("the boundary's envelope is unreadable: {e}"))?;
    let stored = state
        .store
        .agent(agent)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no such agent".to_owned())?;
    let working = match &stored.policy {
        None => PolicyDocument::clone(&state.default_policy),
        Some(v) => PolicyDocument::from_json_over(v, &state.default_policy)
            .map_err(|e| format!("stored policy: {e}"))?,
    };
    if working == env.document {
        return Ok(Followed::Unchanged);
    }
    let value = serde_json::to_value(&env.document).map_err(|e| e.to_string())?;
    let version = state
        .store
        .set_policy(agent, value)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no such agent".to_owned())?;
    let entry = AuditEntry {
        time_ms: state.clock.now_ms(),
        agent_id: Some(agent),
        operator: None,
        endpoint: "policy-sync".into(),
        action: "policy.adopted".into(),
        params: json!({"envelope_version": env.version, "stored_version": version}),
        usd_amount: None,
        token_amounts: json!([]),
        tx: None,
        outcome: AuditOutcome::Success,
        status: 200,
        reason: Some(
            "the stored policy now is the owner-signed one the custody boundary holds in force"
                .into(),
        ),
        request_id: format!("policy-sync-{}", uuid::Uuid::new_v4()),
    };
    if let Err(e) = state.audit.append(entry).await {
        tracing::error!(%agent, error = %e, "audit write failed after adopting a policy");
    }
    tracing::info!(%agent, envelope_version = env.version, "stored policy follows the owner-signed one in force");
    Ok(Followed::Adopted(version))
}

/// Follows every agent whose noted loosening is due (the housekeeping tick).
pub async fn pass(state: &AppState) {
    for agent in state.owners.pending.due(state.clock.now_ms()) {
        if let Err(e) = follow(state, agent).await {
            tracing::warn!(%agent, error = %e, "could not follow the boundary's policy");
        }
    }
}

/// Follows every agent once (at start), a page at a time.
pub async fn follow_all(state: &AppState) -> Result<(u32, u32), StoreError> {
    const PAGE: u32 = 200;
    let (mut seen, mut adopted) = (0u32, 0u32);
    let mut after = None;
    loop {
        let page = state.store.list_agents(PAGE, after).await?;
        for a in &page {
            seen += 1;
            // An agent the database holds frozen is frozen in the boundary too (a boundary
            // with a fresh data dir learns it here); nothing is unfrozen this way.
            if a.frozen {
                if let Err(e) = state
                    .custody
                    .set_frozen(custos_core::FreezeTarget::Agent(a.id), true)
                    .await
                {
                    tracing::warn!(agent = %a.id, error = %e, "could not freeze the agent in the boundary");
                }
            }
            match follow(state, a.id).await {
                Ok(Followed::Adopted(_)) => adopted += 1,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(agent = %a.id, error = %e, "could not follow the boundary's policy")
                }
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => after = Some(last.id),
            _ => return Ok((seen, adopted)),
        }
    }
}
