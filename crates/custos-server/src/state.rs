//! The shared state every handler sees.
use crate::audit::AuditSink;
use crate::auth::jwt::JwtKeys;
use crate::config::Config;
use crate::mailer::Mailer;
use crate::metrics::Metrics;
use crate::ratelimit::Limits;
use custos_core::{Agent, AgentId, Clock, Store};
use custos_policy::PolicyDocument;
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

/// Agents' effective policies as parsed, by agent and policy version. A stored document only
/// changes through `set_policy`, which bumps the version, so an entry is valid exactly as long
/// as the agent row read for the request carries the same version.
#[derive(Default)]
pub struct PolicyCache(Mutex<HashMap<AgentId, (u64, Arc<EffectivePolicy>)>>);

/// A policy as the server enforces it, parsed once per policy version. (The custody boundary
/// enforces its own owner-signed copy; nothing here is sent to it.)
pub struct EffectivePolicy {
    doc: PolicyDocument,
}

impl EffectivePolicy {
    /// Wraps `doc`.
    pub fn new(doc: PolicyDocument) -> Self {
        Self { doc }
    }
}

impl Deref for EffectivePolicy {
    type Target = PolicyDocument;
    fn deref(&self) -> &PolicyDocument {
        &self.doc
    }
}

/// Entries kept before the cache starts over (a bound, not a working-set estimate).
const POLICY_CACHE_MAX: usize = 10_000;

/// Cheaply cloneable handle to the server's parts.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The parts.
pub struct Inner {
    /// This server process's id, fixed at start: the owner of the idempotency claims and budget
    /// reservations it makes, so that recovery can tell a dead owner's from a live one's.
    pub instance: String,
    /// Validated configuration.
    pub cfg: Config,
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// The custody boundary: key management, and signatures only for an `Approved` decision.
    pub custody: crate::signing::Boundary,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Login mail delivery.
    pub mailer: Mailer,
    /// Session token keys.
    pub jwt: JwtKeys,
    /// Key for one-time-code hashes.
    pub otp_pepper: zeroize::Zeroizing<[u8; 32]>,
    /// Root key the webhook secrets are derived from (`crate::webhooks`).
    pub webhook_root: zeroize::Zeroizing<[u8; 32]>,
    /// The operator alert watcher (`crate::alerts`).
    pub alerts: crate::alerts::Alerts,
    /// Rate limits.
    pub limits: Limits,
    /// The audit writer.
    pub audit: AuditSink,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Policy applied where an agent's document is silent.
    pub default_policy: Arc<EffectivePolicy>,
    /// Parsed agent policies (see [`PolicyCache`]).
    pub policies: PolicyCache,
    /// The chains this server acts on.
    pub chains: crate::chains::Chains,
    /// USD prices.
    pub oracle: Arc<dyn custos_core::PriceOracle>,
    /// The bootstrap owner key and the authority new agents are enrolled under.
    pub owners: crate::owners::Owners,
    /// `/skill.md`, rendered on its first request (it depends only on the build and `cfg`).
    pub skill_md: std::sync::OnceLock<String>,
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
    pub fn policy_of(&self, agent: &Agent) -> Result<Arc<EffectivePolicy>, crate::error::ApiError> {
        let Some(v) = &agent.policy else {
            return Ok(self.default_policy.clone());
        };
        let cached = self.policies.get(agent.id, agent.policy_version);
        if let Some(p) = cached {
            return Ok(p);
        }
        let parsed = PolicyDocument::from_json_over(v, &self.default_policy)
            .map(EffectivePolicy::new)
            .map_err(|e| {
                crate::error::ApiError::internal(format!(
                    "stored policy of {} is invalid: {e}",
                    agent.id
                ))
            })?;
        Ok(self.policies.put(agent.id, agent.policy_version, parsed))
    }
}

impl PolicyCache {
    /// The parsed document of `agent` at `version`, if cached.
    pub fn get(&self, agent: AgentId, version: u64) -> Option<Arc<EffectivePolicy>> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&agent)
            .filter(|(v, _)| *v == version)
            .map(|(_, p)| p.clone())
    }

    /// Caches `doc` as `agent`'s policy at `version` and returns it shared. An older version
    /// never replaces a newer one (two requests may race with rows read before and after a
    /// change).
    pub fn put(&self, agent: AgentId, version: u64, doc: EffectivePolicy) -> Arc<EffectivePolicy> {
        let doc = Arc::new(doc);
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= POLICY_CACHE_MAX && !map.contains_key(&agent) {
            map.clear();
        }
        match map.get(&agent) {
            Some((v, _)) if *v > version => {}
            _ => {
                map.insert(agent, (version, doc.clone()));
            }
        }
        doc
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn doc(hours: u32) -> EffectivePolicy {
        EffectivePolicy::new(PolicyDocument {
            session_expiration_hours: hours,
            ..Default::default()
        })
    }

    #[test]
    fn a_cached_policy_serves_only_its_version_and_never_goes_back() {
        let cache = PolicyCache::default();
        let agent = AgentId::new_random();
        assert!(cache.get(agent, 1).is_none());
        cache.put(agent, 1, doc(1));
        assert_eq!(
            cache.get(agent, 1).map(|p| p.session_expiration_hours),
            Some(1)
        );
        // A row read after a policy change carries a newer version: not served from the cache.
        assert!(cache.get(agent, 2).is_none());
        cache.put(agent, 2, doc(2));
        // A request that read the row before the change finishes later: it gets its own
        // document, but the cache keeps the newer one.
        let old = cache.put(agent, 1, doc(1));
        assert_eq!(old.session_expiration_hours, 1);
        assert_eq!(
            cache.get(agent, 2).map(|p| p.session_expiration_hours),
            Some(2)
        );
        assert!(cache.get(agent, 1).is_none());
        // Another agent's entry is its own.
        assert!(cache.get(AgentId::new_random(), 2).is_none());
    }
}
