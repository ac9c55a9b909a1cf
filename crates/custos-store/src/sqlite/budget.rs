//! SQLite: the budget ledger (reservations in the rolling 24 h window) and approvals (quorum
//! votes, single-use claims, expiry) — the transactions that must see and exclude every other
//! writer, so each starts with `BEGIN IMMEDIATE` under the store's write gate.
use super::SqliteStore;
use crate::ledger::{
    apply_vote, bucket_decision, reserve_decision, tally, vote_changes, ApprovalColumns,
    ApprovalRow, APPROVAL_COLUMNS, COMMITTED, RELEASED, RESERVED,
};
use crate::rows::db_err;
use custos_core::ledger::DAY_MS;
use custos_core::{
    AgentId, ApprovalRecord, ApprovalStatus, Reservation, ReserveOutcome, StoreError, Usage24h,
    VoteOutcome,
};

impl SqliteStore {
    pub(super) async fn reserve_budget(
        &self,
        r: Reservation,
    ) -> Result<ReserveOutcome, StoreError> {
        // The one writer connection plus BEGIN IMMEDIATE: the read and the insert below see
        // and exclude every other writer, in this process or another.
        let gate = self.write().await;
        let mut tx = gate.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT usd, created_at_ms FROM budget_reservations \
             WHERE agent_id = ?1 AND status IN (?2, ?3) AND created_at_ms > ?4",
        )
        .bind(r.agent.to_string())
        .bind(RESERVED)
        .bind(COMMITTED)
        .bind(r.now_ms.saturating_sub(DAY_MS))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let (spent, count) = tally(&rows, r.now_ms)?;
        let mut outcome = reserve_decision(spent, count, &r);
        if let (ReserveOutcome::Reserved, Some(b)) = (outcome, &r.bucket) {
            let rows: Vec<(String, i64)> = sqlx::query_as(
                "SELECT usd, created_at_ms FROM budget_reservations \
                 WHERE agent_id = ?1 AND bucket = ?2 AND status IN (?3, ?4) AND created_at_ms > ?5",
            )
            .bind(r.agent.to_string())
            .bind(&b.key)
            .bind(RESERVED)
            .bind(COMMITTED)
            .bind(r.now_ms.saturating_sub(DAY_MS))
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
            outcome = bucket_decision(tally(&rows, r.now_ms)?.0, &r);
        }
        if outcome == ReserveOutcome::Reserved {
            sqlx::query(
                "INSERT INTO budget_reservations (id, agent_id, usd, status, created_at_ms, owner, bucket) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .bind(&r.id)
            .bind(r.agent.to_string())
            .bind(r.usd.to_string())
            .bind(RESERVED)
            .bind(r.now_ms)
            .bind(&r.owner)
            .bind(r.bucket.as_ref().map(|b| b.key.as_str()))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(outcome)
    }

    pub(super) async fn commit_budget(
        &self,
        id: &str,
        tx: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE budget_reservations SET status = ?1, tx = ?2, committed_at_ms = ?3 \
             WHERE id = ?4 AND status = ?5",
        )
        .bind(COMMITTED)
        .bind(tx)
        .bind(now_ms)
        .bind(id)
        .bind(RESERVED)
        .execute(&*self.write().await)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn release_budget(&self, id: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE budget_reservations SET status = ?1 WHERE id = ?2 AND status = ?3")
                .bind(RELEASED)
                .bind(id)
                .bind(RESERVED)
                .execute(&*self.write().await)
                .await
                .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn settle_budget(
        &self,
        agent: AgentId,
        tx_id: &str,
        usd: custos_core::Decimal,
    ) -> Result<bool, StoreError> {
        let gate = self.write().await;
        let mut tx = gate.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT id, usd FROM budget_reservations WHERE agent_id = ?1 AND tx = ?2 AND status = ?3",
        )
        .bind(agent.to_string())
        .bind(tx_id)
        .bind(COMMITTED)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some((id, held)) = row else {
            return Ok(false);
        };
        if let Some(lower) = crate::ledger::settled(&held, usd)? {
            sqlx::query("UPDATE budget_reservations SET usd = ?1 WHERE id = ?2")
                .bind(lower.to_string())
                .bind(&id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    pub(super) async fn usage_24h(
        &self,
        agent: AgentId,
        now_ms: i64,
    ) -> Result<Usage24h, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT usd, created_at_ms FROM budget_reservations \
             WHERE agent_id = ?1 AND status IN (?2, ?3) AND created_at_ms > ?4",
        )
        .bind(agent.to_string())
        .bind(RESERVED)
        .bind(COMMITTED)
        .bind(now_ms.saturating_sub(DAY_MS))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        let (spent_usd, tx_last_hour) = tally(&rows, now_ms)?;
        Ok(Usage24h {
            spent_usd,
            tx_last_hour,
        })
    }

    pub(super) async fn insert_approval(&self, rec: ApprovalRecord) -> Result<(), StoreError> {
        let c = ApprovalColumns::of(&rec)?;
        sqlx::query(&format!(
            "INSERT INTO approvals ({APPROVAL_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
        ))
        .bind(&rec.id)
        .bind(&c.agent_id)
        .bind(&rec.action)
        .bind(&c.request)
        .bind(&rec.tx_hash)
        .bind(c.policy_version)
        .bind(c.usd.as_deref())
        .bind(c.quorum)
        .bind(rec.created_at_ms)
        .bind(rec.expires_at_ms)
        .bind(rec.status.as_str())
        .bind(&c.approvers)
        .bind(rec.rejected_by.as_deref())
        .execute(&*self.write().await)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    pub(super) async fn approval_by_id(
        &self,
        id: &str,
    ) -> Result<Option<ApprovalRecord>, StoreError> {
        sqlx::query_as::<_, ApprovalRow>(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?
        .map(ApprovalRow::into_record)
        .transpose()
    }

    pub(super) async fn approvals_page(
        &self,
        status: Option<ApprovalStatus>,
        limit: u32,
    ) -> Result<Vec<ApprovalRecord>, StoreError> {
        sqlx::query_as::<_, ApprovalRow>(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE (?1 IS NULL OR status = ?1) \
             ORDER BY created_at_ms, id LIMIT ?2"
        ))
        .bind(status.map(ApprovalStatus::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(ApprovalRow::into_record)
        .collect()
    }

    pub(super) async fn vote_on_approval(
        &self,
        id: &str,
        operator: &str,
        approve: bool,
        now_ms: i64,
    ) -> Result<VoteOutcome, StoreError> {
        let gate = self.write().await;
        let mut tx = gate.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        let row = sqlx::query_as::<_, ApprovalRow>(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(mut rec) = row.map(ApprovalRow::into_record).transpose()? else {
            return Ok(VoteOutcome::NotFound);
        };
        let outcome = apply_vote(&mut rec, operator, approve, now_ms);
        if vote_changes(&outcome) {
            let c = ApprovalColumns::of(&rec)?;
            sqlx::query(
                "UPDATE approvals SET status = ?1, approvers = ?2, rejected_by = ?3 \
                 WHERE id = ?4 AND status = 'pending'",
            )
            .bind(rec.status.as_str())
            .bind(&c.approvers)
            .bind(rec.rejected_by.as_deref())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
        }
        Ok(outcome)
    }

    pub(super) async fn claim_approved(
        &self,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<ApprovalRecord>, StoreError> {
        sqlx::query_as::<_, ApprovalRow>(&format!(
            "UPDATE approvals SET status = 'executed' \
             WHERE id = ?1 AND status = 'approved' AND expires_at_ms > ?2 \
             RETURNING {APPROVAL_COLUMNS}"
        ))
        .bind(id)
        .bind(now_ms)
        .fetch_optional(&*self.write().await)
        .await
        .map_err(db_err)?
        .map(ApprovalRow::into_record)
        .transpose()
    }

    pub(super) async fn expire_pending_approvals(&self, now_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE approvals SET status = 'expired' \
             WHERE status IN ('pending', 'approved') AND expires_at_ms <= ?1",
        )
        .bind(now_ms)
        .execute(&*self.write().await)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }
}
