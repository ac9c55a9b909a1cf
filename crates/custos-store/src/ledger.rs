//! What both backends share for the budget ledger and approvals: the decisions taken inside
//! their transactions (pure functions of what was read), exact decimal conversions, and the
//! approval row shape.
use crate::rows::json_text;
use custos_core::ledger::HOUR_MS;
use custos_core::{
    AgentId, ApprovalRecord, ApprovalStatus, Decimal, DecimalError, Reservation, ReserveOutcome,
    StoreError, VoteOutcome,
};
use std::str::FromStr;

/// Status names of reservations, as stored.
pub(crate) const RESERVED: &str = "reserved";
/// See [`RESERVED`].
pub(crate) const COMMITTED: &str = "committed";
/// See [`RESERVED`].
pub(crate) const RELEASED: &str = "released";

/// Namespace of the PostgreSQL advisory locks that serialize one agent's reservations.
pub(crate) const PG_BUDGET_LOCK_CLASS: i32 = 0x0043_5553;

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

/// A stored decimal string as a [`Decimal`].
pub(crate) fn parse_decimal(s: &str, what: &str) -> Result<Decimal, StoreError> {
    Decimal::from_str(s).map_err(|_| corrupt(what))
}

/// A database-computed sum as a [`Decimal`]: too large to represent saturates to
/// [`Decimal::MAX`] (which every cap refuses) instead of failing.
pub(crate) fn parse_sum(s: &str) -> Result<Decimal, StoreError> {
    match Decimal::from_str(s) {
        Ok(d) => Ok(d),
        Err(DecimalError::Overflow) => Ok(Decimal::MAX),
        Err(_) => Err(corrupt("budget sum")),
    }
}

/// Sums stored reservations `(usd, created_at_ms)` of the 24 h window into the window's
/// spend and the count of those created in the hour before `now_ms`.
pub(crate) fn tally(rows: &[(String, i64)], now_ms: i64) -> Result<(Decimal, u32), StoreError> {
    let hour_start = now_ms.saturating_sub(HOUR_MS);
    let mut spent = Decimal::ZERO;
    let mut count: u32 = 0;
    for (usd, created) in rows {
        spent = spent.saturating_add(parse_decimal(usd, "reserved usd")?);
        if *created > hour_start {
            count = count.saturating_add(1);
        }
    }
    Ok((spent, count))
}

/// The amount a committed reservation holding `held` is settled to for an action that cost
/// `usd`: `usd` when it is lower, `None` (unchanged) when it is not — a settlement never raises
/// what was reserved.
pub(crate) fn settled(held: &str, usd: Decimal) -> Result<Option<Decimal>, StoreError> {
    let held = parse_decimal(held, "reserved usd")?;
    Ok((usd < held).then_some(usd))
}

/// Whether `r` fits beside what its bucket already holds (`spent`, the bucket's 24 h sum);
/// `Reserved` when it has no bucket.
pub(crate) fn bucket_decision(spent: Decimal, r: &Reservation) -> ReserveOutcome {
    match &r.bucket {
        Some(b) if spent.saturating_add(r.usd) > b.daily_cap => {
            ReserveOutcome::OverBucket { spent }
        }
        _ => ReserveOutcome::Reserved,
    }
}

/// Whether `r` fits beside what the window already holds.
pub(crate) fn reserve_decision(spent: Decimal, count: u32, r: &Reservation) -> ReserveOutcome {
    if spent.saturating_add(r.usd) > r.daily_cap {
        ReserveOutcome::OverDaily { spent }
    } else if u64::from(count) + 1 > u64::from(r.max_tx_per_hour) {
        ReserveOutcome::OverHourly { count }
    } else {
        ReserveOutcome::Reserved
    }
}

/// Applies `operator`'s vote to `rec` (read inside the caller's transaction). The record is
/// changed, and must be written back, exactly when [`vote_changes`] is true of the outcome.
pub(crate) fn apply_vote(
    rec: &mut ApprovalRecord,
    operator: &str,
    approve: bool,
    now_ms: i64,
) -> VoteOutcome {
    if rec.status != ApprovalStatus::Pending {
        return VoteOutcome::NotPending { status: rec.status };
    }
    if now_ms >= rec.expires_at_ms {
        rec.status = ApprovalStatus::Expired;
        return VoteOutcome::Expired;
    }
    if rec.approvers.iter().any(|a| a == operator) {
        return VoteOutcome::AlreadyVoted;
    }
    if !approve {
        rec.status = ApprovalStatus::Rejected;
        rec.rejected_by = Some(operator.to_owned());
        return VoteOutcome::Rejected;
    }
    rec.approvers.push(operator.to_owned());
    let approvals = u32::try_from(rec.approvers.len()).unwrap_or(u32::MAX);
    if approvals >= rec.quorum {
        rec.status = ApprovalStatus::Approved;
        VoteOutcome::Approved
    } else {
        VoteOutcome::Counted {
            approvals,
            quorum: rec.quorum,
        }
    }
}

/// Whether [`apply_vote`] changed the record.
pub(crate) fn vote_changes(outcome: &VoteOutcome) -> bool {
    matches!(
        outcome,
        VoteOutcome::Counted { .. }
            | VoteOutcome::Approved
            | VoteOutcome::Rejected
            | VoteOutcome::Expired
    )
}

/// Columns of `approvals`, in the order [`ApprovalColumns`] binds them.
pub(crate) const APPROVAL_COLUMNS: &str = "id, agent_id, action, request, tx_hash, \
     policy_version, usd, quorum, created_at_ms, expires_at_ms, status, approvers, rejected_by";

/// An approval's column values, ready to bind.
pub(crate) struct ApprovalColumns {
    pub(crate) agent_id: String,
    pub(crate) request: String,
    pub(crate) policy_version: i64,
    pub(crate) usd: Option<String>,
    pub(crate) quorum: i64,
    pub(crate) approvers: String,
}

impl ApprovalColumns {
    /// Encodes `rec`'s non-trivial columns.
    pub(crate) fn of(rec: &ApprovalRecord) -> Result<Self, StoreError> {
        if rec.quorum == 0 {
            return Err(StoreError::Database(
                "approval quorum must be at least 1".into(),
            ));
        }
        Ok(Self {
            agent_id: rec.agent.to_string(),
            request: json_text(&rec.request)?,
            policy_version: i64::try_from(rec.policy_version)
                .map_err(|_| StoreError::Database("policy version out of range".into()))?,
            usd: rec.usd.map(|d| d.to_string()),
            quorum: i64::from(rec.quorum),
            approvers: approvers_text(&rec.approvers)?,
        })
    }
}

/// The stored form of an approver list.
pub(crate) fn approvers_text(approvers: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(approvers)
        .map_err(|e| StoreError::Database(format!("encoding approvers: {e}")))
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApprovalRow {
    id: String,
    agent_id: String,
    action: String,
    request: String,
    tx_hash: String,
    policy_version: i64,
    usd: Option<String>,
    quorum: i64,
    created_at_ms: i64,
    expires_at_ms: i64,
    status: String,
    approvers: String,
    rejected_by: Option<String>,
}

impl ApprovalRow {
    pub(crate) fn into_record(self) -> Result<ApprovalRecord, StoreError> {
        Ok(ApprovalRecord {
            id: self.id,
            agent: AgentId::from_str(&self.agent_id).map_err(|_| corrupt("agent id"))?,
            action: self.action,
            request: serde_json::from_str(&self.request)
                .map_err(|_| corrupt("approval request"))?,
            tx_hash: self.tx_hash,
            policy_version: u64::try_from(self.policy_version)
                .map_err(|_| corrupt("approval policy version"))?,
            usd: self
                .usd
                .as_deref()
                .map(|u| parse_decimal(u, "approval usd"))
                .transpose()?,
            quorum: u32::try_from(self.quorum).map_err(|_| corrupt("approval quorum"))?,
            created_at_ms: self.created_at_ms,
            expires_at_ms: self.expires_at_ms,
            status: ApprovalStatus::parse(&self.status)
                .ok_or_else(|| corrupt("approval status"))?,
            approvers: serde_json::from_str(&self.approvers)
                .map_err(|_| corrupt("approval approvers"))?,
            rejected_by: self.rejected_by,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn reservation(usd: &str, cap: &str, per_hour: u32) -> Reservation {
        Reservation {
            id: "r".into(),
            agent: AgentId::new_random(),
            usd: d(usd),
            now_ms: 0,
            daily_cap: d(cap),
            max_tx_per_hour: per_hour,
            bucket: None,
            owner: "me".into(),
        }
    }

    #[test]
    fn reserve_decision_is_exact_at_the_caps() {
        let r = reservation("0.1", "0.3", 3);
        assert_eq!(reserve_decision(d("0.2"), 0, &r), ReserveOutcome::Reserved);
        assert_eq!(
            reserve_decision(d("0.200000000000000001"), 0, &r),
            ReserveOutcome::OverDaily {
                spent: d("0.200000000000000001")
            }
        );
        assert_eq!(reserve_decision(d("0"), 2, &r), ReserveOutcome::Reserved);
        assert_eq!(
            reserve_decision(d("0"), 3, &r),
            ReserveOutcome::OverHourly { count: 3 }
        );
        // Daily is judged first; a zero hourly limit refuses everything.
        assert_eq!(
            reserve_decision(d("1"), 9, &r),
            ReserveOutcome::OverDaily { spent: d("1") }
        );
        let none = reservation("0", "1", 0);
        assert_eq!(
            reserve_decision(d("0"), 0, &none),
            ReserveOutcome::OverHourly { count: 0 }
        );
        // A sum that would overflow is over any cap.
        let huge = reservation("1", "340282366920938463463", 9);
        assert_eq!(
            reserve_decision(Decimal::MAX, 0, &huge),
            ReserveOutcome::OverDaily {
                spent: Decimal::MAX
            }
        );
    }

    #[test]
    fn tally_counts_the_hour_strictly() {
        let now = 10 * HOUR_MS;
        let rows = vec![
            ("1.5".to_owned(), now - HOUR_MS),
            ("2.25".to_owned(), now - HOUR_MS + 1),
            ("0.000000000000000001".to_owned(), now),
        ];
        assert_eq!(tally(&rows, now).unwrap(), (d("3.750000000000000001"), 2));
        assert!(tally(&[("1e3".to_owned(), now)], now).is_err());
    }

    #[test]
    fn sums_saturate_but_garbage_is_corrupt() {
        assert_eq!(parse_sum("990.000000000000000000").unwrap(), d("990"));
        assert_eq!(parse_sum("0").unwrap(), Decimal::ZERO);
        assert_eq!(
            parse_sum("9999999999999999999999999999999").unwrap(),
            Decimal::MAX
        );
        assert!(parse_sum("-1").is_err());
    }
}
