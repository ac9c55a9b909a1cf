//! The rules that read the audit log: a pure detector fed every new record in order, raising
//! an alert when a record completes a condition. Its windows slide over record times, so the
//! same records give the same alerts (and the same keys) on every replica.
use super::settings::AlertSettings;
use super::Raised;
use custos_core::{AgentId, AuditOutcome, StoredAudit};
use serde_json::json;
use std::collections::{HashMap, VecDeque};

/// Counts events per subject in a sliding window and says when one reaches the threshold;
/// a subject that fired is muted for one window.
#[derive(Debug)]
struct Burst<K> {
    seen: HashMap<K, VecDeque<i64>>,
    muted_until: HashMap<K, i64>,
}

impl<K> Default for Burst<K> {
    fn default() -> Self {
        Self {
            seen: HashMap::new(),
            muted_until: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> Burst<K> {
    /// Records one event of `subject` at `t_ms`; `Some(count)` when it completes a burst.
    fn hit(&mut self, subject: &K, t_ms: i64, count: u32, window_ms: i64) -> Option<usize> {
        if self.muted_until.get(subject).is_some_and(|&u| t_ms < u) {
            return None;
        }
        let q = self.seen.entry(subject.clone()).or_default();
        q.push_back(t_ms);
        while q.front().is_some_and(|&f| f <= t_ms - window_ms) {
            q.pop_front();
        }
        if q.len() < count as usize {
            return None;
        }
        let n = q.len();
        q.clear();
        self.muted_until.insert(subject.clone(), t_ms + window_ms);
        Some(n)
    }

    /// Forgets subjects with nothing in the window at `t_ms` (bounds memory).
    fn prune(&mut self, t_ms: i64, window_ms: i64) {
        self.seen
            .retain(|_, q| q.back().is_some_and(|&b| b > t_ms - window_ms));
        self.muted_until.retain(|_, &mut u| u > t_ms);
    }
}

/// The audit-log rules: `denial_burst`, `failed_logins`, `large_transaction`, `agent_frozen`.
#[derive(Debug, Default)]
pub struct Detector {
    denials: Burst<AgentId>,
    logins: Burst<String>,
}

impl Detector {
    /// The alerts record `r` raises under `s` (in force rules only).
    pub fn observe(&mut self, s: &AlertSettings, r: &StoredAudit) -> Vec<Raised> {
        let e = &r.entry;
        let mut out = Vec::new();
        let t = e.time_ms;
        if let (AuditOutcome::Denied, Some(agent), true) =
            (e.outcome, e.agent_id, s.has("denial_burst"))
        {
            let window = secs_ms(s.denial_burst_seconds);
            if let Some(n) = self.denials.hit(&agent, t, s.denial_burst_count, window) {
                out.push(Raised {
                    rule: "denial_burst",
                    key: format!("denial_burst:{agent}:{}", r.id),
                    summary: format!(
                        "{n} requests of agent {agent} refused within {} s",
                        s.denial_burst_seconds
                    ),
                    data: json!({"agent_id": agent, "count": n, "window_seconds": s.denial_burst_seconds,
                                 "last_action": e.action, "last_reason": e.reason, "audit_id": r.id}),
                    at_ms: t,
                });
            }
        }
        let login = e.action == "auth.verify" || e.action == "console.login";
        if login && e.status == 401 && s.has("failed_logins") {
            let email = e
                .params
                .get("email")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            let window = secs_ms(s.failed_login_seconds);
            if let Some(n) = self.logins.hit(&email, t, s.failed_login_count, window) {
                out.push(Raised {
                    rule: "failed_logins",
                    key: format!("failed_logins:{email}:{}", r.id),
                    summary: format!(
                        "{n} refused login codes for {email} within {} s",
                        s.failed_login_seconds
                    ),
                    data: json!({"email": email, "count": n, "window_seconds": s.failed_login_seconds, "audit_id": r.id}),
                    at_ms: t,
                });
            }
        }
        if e.outcome == AuditOutcome::Success && s.has("large_transaction") {
            let usd = e.usd_amount.as_deref().and_then(|u| u.parse::<f64>().ok());
            if let Some(usd) = usd.filter(|u| *u >= s.large_transaction_usd) {
                let occurrence = e.tx.clone().unwrap_or_else(|| format!("audit-{}", r.id));
                out.push(Raised {
                    rule: "large_transaction",
                    key: format!("large_transaction:{occurrence}"),
                    summary: format!(
                        "{} of {usd} USD by agent {} (threshold {} USD)",
                        e.action,
                        e.agent_id.map(|a| a.to_string()).unwrap_or_default(),
                        s.large_transaction_usd
                    ),
                    data: json!({"agent_id": e.agent_id, "action": e.action, "usd_value": e.usd_amount,
                                 "tx": e.tx, "params": e.params, "audit_id": r.id}),
                    at_ms: t,
                });
            }
        }
        let frozen = match e.action.as_str() {
            "admin.agent.freeze" => Some(e.agent_id.map_or_else(String::new, |a| a.to_string())),
            "admin.kill_switch.engage" => Some("all".to_owned()),
            _ => None,
        };
        if let (Some(which), AuditOutcome::Success, true) =
            (frozen, e.outcome, s.has("agent_frozen"))
        {
            let summary = if which == "all" {
                "kill switch engaged: every agent is frozen".to_owned()
            } else {
                format!("agent {which} frozen")
            };
            out.push(Raised {
                rule: "agent_frozen",
                key: format!("agent_frozen:{}", r.id),
                summary,
                data: json!({"agent_id": which, "operator": e.operator, "audit_id": r.id}),
                at_ms: t,
            });
        }
        out
    }

    /// Forgets subjects with nothing left in their window at `t_ms` (once a pass: bounds
    /// memory without a scan per record).
    pub fn prune(&mut self, s: &AlertSettings, t_ms: i64) {
        self.denials.prune(t_ms, secs_ms(s.denial_burst_seconds));
        self.logins.prune(t_ms, secs_ms(s.failed_login_seconds));
    }
}

fn secs_ms(s: u64) -> i64 {
    i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use custos_core::AuditEntry;

    fn record(
        id: u64,
        t: i64,
        agent: Option<AgentId>,
        action: &str,
        outcome: AuditOutcome,
    ) -> StoredAudit {
        StoredAudit {
            id,
            entry: AuditEntry {
                time_ms: t,
                agent_id: agent,
                operator: None,
                endpoint: "POST /x".into(),
                action: action.into(),
                params: json!({}),
                usd_amount: None,
                token_amounts: json!([]),
                tx: None,
                outcome,
                status: if outcome == AuditOutcome::Denied {
                    403
                } else {
                    200
                },
                reason: None,
                request_id: "r".into(),
            },
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    fn settings() -> AlertSettings {
        AlertSettings {
            url: "http://127.0.0.1:1/a".into(),
            denial_burst_count: 3,
            denial_burst_seconds: 10,
            ..AlertSettings::default()
        }
    }

    #[test]
    fn a_burst_fires_once_per_window_and_only_within_it() {
        let (s, a, b) = (settings(), AgentId::new_random(), AgentId::new_random());
        let mut d = Detector::default();
        let mut fired = vec![];
        // Three refusals 6 s apart never make three within 10 s; another agent's do not count.
        for (i, (t, who)) in [(0, a), (6_000, a), (12_000, a), (13_000, b), (14_000, a)]
            .into_iter()
            .enumerate()
        {
            fired.extend(d.observe(
                &s,
                &record(i as u64 + 1, t, Some(who), "transfer", AuditOutcome::Denied),
            ));
        }
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert_eq!(fired[0].key, format!("denial_burst:{a}:5"));
        assert_eq!(fired[0].data["count"], 3);
        // Muted for a window: more refusals right after raise nothing.
        for i in 0..5 {
            assert!(d
                .observe(
                    &s,
                    &record(
                        10 + i,
                        15_000 + i as i64,
                        Some(a),
                        "transfer",
                        AuditOutcome::Denied
                    )
                )
                .is_empty());
        }
        // After the window, a new burst is a new alert.
        let again: Vec<_> = (0..3)
            .flat_map(|i| {
                d.observe(
                    &s,
                    &record(
                        20 + i,
                        30_000 + i as i64,
                        Some(a),
                        "transfer",
                        AuditOutcome::Denied,
                    ),
                )
            })
            .collect();
        assert_eq!(again.len(), 1);
        // Successes are not refusals.
        assert!((0..5).all(|i| d
            .observe(
                &s,
                &record(40 + i, 60_000, Some(b), "transfer", AuditOutcome::Success)
            )
            .is_empty()));
    }

    #[test]
    fn large_transactions_failed_logins_and_freezes() {
        let s = AlertSettings {
            failed_login_count: 2,
            large_transaction_usd: 100.0,
            ..settings()
        };
        let mut d = Detector::default();
        let a = AgentId::new_random();
        let mut big = record(1, 0, Some(a), "transfer", AuditOutcome::Success);
        big.entry.usd_amount = Some("100.5".into());
        big.entry.tx = Some("sig1".into());
        let mut small = big.clone();
        small.entry.usd_amount = Some("99.99".into());
        let r = d.observe(&s, &big);
        assert_eq!((r.len(), r[0].key.as_str()), (1, "large_transaction:sig1"));
        assert!(d.observe(&s, &small).is_empty());
        let mut login = record(3, 0, None, "auth.verify", AuditOutcome::Denied);
        login.entry.status = 401;
        login.entry.params = json!({"email": "Eve@Example.com"});
        assert!(d.observe(&s, &login).is_empty());
        let r = d.observe(&s, &login);
        assert_eq!(r[0].rule, "failed_logins");
        assert_eq!(r[0].data["email"], "eve@example.com");
        let r = d.observe(
            &s,
            &record(4, 0, Some(a), "admin.agent.freeze", AuditOutcome::Success),
        );
        assert_eq!(
            (r[0].rule, r[0].key.as_str()),
            ("agent_frozen", "agent_frozen:4")
        );
        let r = d.observe(
            &s,
            &record(
                5,
                0,
                None,
                "admin.kill_switch.engage",
                AuditOutcome::Success,
            ),
        );
        assert_eq!(r[0].data["agent_id"], "all");
        // A rule not in force raises nothing.
        let off = AlertSettings {
            rules: vec!["denial_burst".into()],
            ..s.clone()
        };
        assert!(d.observe(&off, &big).is_empty());
        assert!(
            Detector::default()
                .observe(&AlertSettings::default(), &big)
                .is_empty(),
            "no receiver, no alerts"
        );
    }
}
