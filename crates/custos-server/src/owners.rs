//! Policy authority on the coordinator's side: the bootstrap owner key, the authority new
//! agents are enrolled under, and the envelopes the server builds for an operator who sends a
//! plain document. The server is not trusted by the boundary: whatever it builds here takes
//! effect only if the boundary verifies it against the owners it enrolled.
//!
//! The **bootstrap owner key** (`<data-dir>/owner-bootstrap.key`, created on first start) is
//! the boundary's enrolment key: it signs each new agent's first envelope. With
//! `owners.bootstrap = true` (the development default) it is also one of every new agent's
//! owners, so the server can sign policy changes an operator sends as a plain document. In
//! production it is left out (`owners.bootstrap = false`, operator keys in `owners.keys`):
//! then only envelopes the operators sign with `custos policy sign` change a policy.
use crate::config::Config;
use crate::error::ApiError;
use crate::signing::Boundary;
use custos_core::{AgentId, PolicyApplied, PolicyJson};
use custos_policy::PolicyDocument;
use custos_signer::{Authority, OwnerKey, OwnerSigningKey, PolicyEnvelope};
use std::path::{Path, PathBuf};

/// Where the bootstrap owner key lives.
pub fn bootstrap_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("owner-bootstrap.key")
}

/// Reads the bootstrap owner key, creating it on first start.
pub fn bootstrap_key(data_dir: &Path) -> Result<OwnerSigningKey, String> {
    let (key, created) = OwnerSigningKey::read_or_create(&bootstrap_key_path(data_dir))?;
    if created {
        tracing::warn!(public_key = %key.public(),
            "bootstrap owner key created: it enrols new agents' policies (and, with owners.bootstrap = true, can change them); enrol operator keys and set owners.bootstrap = false for production");
    }
    Ok(key)
}

/// The server's side of policy authority.
pub struct Owners {
    bootstrap: OwnerSigningKey,
    authority: Authority,
    /// Loosenings the boundary holds back until their delay has passed.
    pub pending: crate::policy_sync::PendingLoosenings,
}

impl Owners {
    /// Loads the bootstrap key and the authority for new agents from the configuration.
    pub fn load(cfg: &Config) -> Result<Self, String> {
        let bootstrap = bootstrap_key(&cfg.server.data_dir)?;
        let mut owners: Vec<OwnerKey> = cfg.owners.operator_keys().map_err(|e| e.to_string())?;
        if cfg.owners.bootstrap {
            owners.push(bootstrap.public());
        }
        owners.sort();
        owners.dedup();
        Ok(Self {
            bootstrap,
            authority: Authority {
                owners,
                quorum: cfg.owners.quorum,
                loosen_delay_seconds: cfg.owners.loosen_delay_seconds,
            },
            pending: Default::default(),
        })
    }

    /// Enrols `agent` with `doc` as version 1 under the configured authority, signed by the
    /// bootstrap (enrolment) key.
    pub async fn enrol(
        &self,
        custody: &Boundary,
        agent: AgentId,
        doc: &PolicyDocument,
        now_ms: i64,
    ) -> Result<PolicyApplied, ApiError> {
        let mut env = PolicyEnvelope::new(
            agent,
            1,
            [0; 32],
            now_ms,
            self.authority.clone(),
            doc.clone(),
        );
        env.sign(&self.bootstrap);
        submit(custody, &env).await
    }

    /// The next envelope for an operator's plain `doc`, chained on what the boundary holds and
    /// signed with the bootstrap key — possible only while that key is one of the agent's
    /// owners. An agent the boundary holds nothing for is enrolled with `doc` instead.
    pub async fn change(
        &self,
        custody: &Boundary,
        agent: AgentId,
        doc: &PolicyDocument,
        now_ms: i64,
    ) -> Result<PolicyApplied, ApiError> {
        let Some(held) = held(custody, agent).await? else {
            return self.enrol(custody, agent, doc, now_ms).await;
        };
        let env = self.draft(&held, doc, now_ms).ok_or_else(|| {
            ApiError::invalid(
                "policy",
                "this agent's policy is changed only by its owners: sign the document with \
                 `custos policy sign` and PUT the envelope",
            )
        })?;
        submit(custody, &env).await
    }

    /// The envelope the server would put in force for an operator's plain `doc`: chained on
    /// `held` and signed with the bootstrap key — `None` when that key is not one of the
    /// agent's owners.
    pub fn draft(
        &self,
        held: &PolicyEnvelope,
        doc: &PolicyDocument,
        now_ms: i64,
    ) -> Option<PolicyEnvelope> {
        if !held.authority.owners.contains(&self.bootstrap.public()) {
            return None;
        }
        let mut env = PolicyEnvelope::new(
            held.wallet,
            held.version + 1,
            held.hash(),
            now_ms,
            held.authority.clone(),
            doc.clone(),
        );
        env.sign(&self.bootstrap);
        Some(env)
    }
}

/// The envelope the boundary holds for `agent`, parsed.
pub async fn held(custody: &Boundary, agent: AgentId) -> Result<Option<PolicyEnvelope>, ApiError> {
    let Some(h) = custody.held_policy(agent).await? else {
        return Ok(None);
    };
    PolicyEnvelope::from_json(&h.current)
        .map(Some)
        .map_err(|e| ApiError::internal(format!("the boundary's envelope is unreadable: {e}")))
}

/// Hands `env` to the boundary; a refusal is the operator's to fix (422, naming the reason).
pub async fn submit(custody: &Boundary, env: &PolicyEnvelope) -> Result<PolicyApplied, ApiError> {
    let json = PolicyJson::new(env).map_err(ApiError::internal)?;
    custody.submit_policy(json).await.map_err(|e| match e {
        custos_core::CustodyError::EnvelopeRefused(m) => ApiError::invalid("envelope", m),
        other => other.into(),
    })
}
