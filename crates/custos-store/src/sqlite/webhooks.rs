//! SQLite: status webhooks — registrations, the delivery outbox and the audit cursor
//! (`custos_core::webhook`) — and the operator alerts' outbox (`custos_core::alert`).
//! Claims and the cursor move under `BEGIN IMMEDIATE`.
use super::SqliteStore;
use crate::rows::{
    alert, db_err, delivery, to_i64, webhook, AlertRow, DeliveryRow, Outbox, ALERT_COLUMNS,
    DELIVERY_COLUMNS,
};
use custos_core::{
    AgentId, AlertDelivery, Attempt, Delivery, NewAlert, NewDelivery, StoreError, Webhook,
};

impl SqliteStore {
    pub(super) async fn put_webhook(&self, w: &Webhook) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webhooks (agent_id, url, key_id, created_at_ms) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (agent_id) DO UPDATE SET url = excluded.url, key_id = excluded.key_id, \
             created_at_ms = excluded.created_at_ms",
        )
        .bind(w.agent.to_string())
        .bind(&w.url)
        .bind(&w.key_id)
        .bind(w.created_at_ms)
        .execute(&*self.write().await)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    pub(super) async fn get_webhook(&self, agent: AgentId) -> Result<Option<Webhook>, StoreError> {
        sqlx::query_as::<_, (String, String, String, i64)>(
            "SELECT agent_id, url, key_id, created_at_ms FROM webhooks WHERE agent_id = ?1",
        )
        .bind(agent.to_string())
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?
        .map(webhook)
        .transpose()
    }

    pub(super) async fn delete_webhook(&self, agent: AgentId) -> Result<bool, StoreError> {
        let gate = self.write().await;
        let mut tx = gate.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        let gone = sqlx::query("DELETE FROM webhooks WHERE agent_id = ?1")
            .bind(agent.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        sqlx::query("DELETE FROM webhook_deliveries WHERE agent_id = ?1 AND status = 'pending'")
            .bind(agent.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(gone == 1)
    }

    pub(super) async fn get_webhook_cursor(&self) -> Result<Option<u64>, StoreError> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT audit_id FROM webhook_cursor WHERE id = 1")
                .fetch_optional(&self.reader)
                .await
                .map_err(db_err)?;
        row.map(|(v,)| u64::try_from(v).map_err(|_| StoreError::Corrupt("webhook_cursor".into())))
            .transpose()
    }

    pub(super) async fn enqueue_webhooks(
        &self,
        from: Option<u64>,
        to: u64,
        deliveries: &[NewDelivery],
    ) -> Result<bool, StoreError> {
        let gate = self.write().await;
        let mut tx = gate.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        let now: Option<(i64,)> =
            sqlx::query_as("SELECT audit_id FROM webhook_cursor WHERE id = 1")
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        let now = now.map(|(v,)| v);
        let from = from.map(|f| to_i64(f, "cursor")).transpose()?;
        if now != from {
            return Ok(false);
        }
        for d in deliveries {
            sqlx::query(
                "INSERT INTO webhook_deliveries (agent_id, event_id, url, body, status, attempts, \
                 next_at_ms, created_at_ms, updated_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5, ?5) \
                 ON CONFLICT (agent_id, event_id) DO NOTHING",
            )
            .bind(d.agent.to_string())
            .bind(to_i64(d.event_id, "event id")?)
            .bind(&d.url)
            .bind(&d.body)
            .bind(d.created_at_ms)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        sqlx::query(
            "INSERT INTO webhook_cursor (id, audit_id) VALUES (1, ?1) \
             ON CONFLICT (id) DO UPDATE SET audit_id = excluded.audit_id",
        )
        .bind(to_i64(to, "cursor")?)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    pub(super) async fn claim_due_webhooks(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows: Vec<DeliveryRow> = self
            .claim_due(
                Outbox::Webhooks,
                now_ms,
                lease_ms,
                limit,
                |r: &DeliveryRow| r.0,
            )
            .await?;
        rows.into_iter().map(delivery).collect()
    }

    pub(super) async fn claim_due_alerts(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<AlertDelivery>, StoreError> {
        let rows: Vec<AlertRow> = self
            .claim_due(Outbox::Alerts, now_ms, lease_ms, limit, |r: &AlertRow| r.0)
            .await?;
        rows.into_iter().map(alert).collect()
    }

    /// Pending rows of `outbox` due at `now_ms`, oldest first, their next attempt moved past
    /// the lease (`id` reads a row's id).
    async fn claim_due<R>(
        &self,
        outbox: Outbox,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
        id: fn(&R) -> i64,
    ) -> Result<Vec<R>, StoreError>
    where
        R: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
    {
        let gate = self.write().await;
        let mut tx = gate.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        let (table, columns) = (outbox.table(), outbox.columns());
        let rows: Vec<R> = sqlx::query_as(&format!(
            "SELECT {columns} FROM {table} \
             WHERE status = 'pending' AND next_at_ms <= ?1 ORDER BY next_at_ms, id LIMIT ?2"
        ))
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        for r in &rows {
            sqlx::query(&format!("UPDATE {table} SET next_at_ms = ?1 WHERE id = ?2"))
                .bind(now_ms.saturating_add(lease_ms))
                .bind(id(r))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(rows)
    }

    /// Records an attempt on row `id` of `outbox`.
    pub(super) async fn record_attempt(
        &self,
        outbox: Outbox,
        id: u64,
        a: &Attempt,
    ) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "UPDATE {} SET status = ?1, attempts = attempts + 1, next_at_ms = ?2, \
             last_http_status = ?3, last_error = ?4, updated_at_ms = ?5 WHERE id = ?6",
            outbox.table()
        ))
        .bind(a.status.as_str())
        .bind(a.next_at_ms)
        .bind(a.http_status.map(i64::from))
        .bind(a.error.as_deref())
        .bind(a.now_ms)
        .bind(to_i64(id, "delivery id")?)
        .execute(&*self.write().await)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    pub(super) async fn raise_alerts(&self, alerts: &[NewAlert]) -> Result<u32, StoreError> {
        let gate = self.write().await;
        let mut tx = gate.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        let mut new = 0u32;
        for a in alerts {
            let done = sqlx::query(
                "INSERT INTO alert_deliveries (rule, alert_key, url, body, status, attempts, \
                 next_at_ms, created_at_ms, updated_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5, ?5) \
                 ON CONFLICT (alert_key) DO NOTHING",
            )
            .bind(&a.rule)
            .bind(&a.key)
            .bind(&a.url)
            .bind(&a.body)
            .bind(a.created_at_ms)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            new += u32::from(done.rows_affected() == 1);
        }
        tx.commit().await.map_err(db_err)?;
        Ok(new)
    }

    pub(super) async fn list_alerts(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<AlertDelivery>, StoreError> {
        let rows: Vec<AlertRow> = sqlx::query_as(&format!(
            "SELECT {ALERT_COLUMNS} FROM alert_deliveries WHERE id > ?1 ORDER BY id LIMIT ?2"
        ))
        .bind(to_i64(after, "after")?)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(alert).collect()
    }

    pub(super) async fn list_webhook_deliveries(
        &self,
        agent: AgentId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
             WHERE agent_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
        ))
        .bind(agent.to_string())
        .bind(to_i64(after, "after")?)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(delivery).collect()
    }
}
