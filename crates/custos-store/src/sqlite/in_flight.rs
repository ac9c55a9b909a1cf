//! SQLite: idempotency ownership, orphaned claims and reservations, and the in-flight
//! transaction journal (`custos_core::in_flight`), for the server's crash recovery.
use super::SqliteStore;
use crate::ledger::{COMMITTED, RELEASED, RESERVED};
use crate::rows::{db_err, AuditRow};
use custos_core::{IdempotencyRef, InFlightTx, StoreError};

impl SqliteStore {
    pub(super) async fn disown(&self, scope: &str, key: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE idempotency SET owner = NULL \
             WHERE scope = ?1 AND idem_key = ?2 AND status IS NULL",
        )
        .bind(scope)
        .bind(key)
        .execute(&*self.write().await)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    pub(super) async fn idem_orphans(
        &self,
        owner: &str,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<IdempotencyRef>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT i.scope, i.idem_key FROM idempotency i \
             WHERE i.status IS NULL AND (i.owner IS NULL OR i.owner <> ?1) \
               AND i.created_at_ms < ?2 \
               AND NOT EXISTS (SELECT 1 FROM in_flight_tx f \
                               WHERE f.idem_scope = i.scope AND f.idem_key = i.idem_key) \
             ORDER BY i.created_at_ms LIMIT ?3",
        )
        .bind(owner)
        .bind(before_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|(scope, key)| IdempotencyRef { scope, key })
            .collect())
    }

    pub(super) async fn reservation_orphans(
        &self,
        owner: &str,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT r.id FROM budget_reservations r \
             WHERE r.status = ?1 AND (r.owner IS NULL OR r.owner <> ?2) AND r.created_at_ms < ?3 \
               AND NOT EXISTS (SELECT 1 FROM in_flight_tx f WHERE f.reservation = r.id) \
             ORDER BY r.created_at_ms LIMIT ?4",
        )
        .bind(RESERVED)
        .bind(owner)
        .bind(before_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    pub(super) async fn swap_in_flight(
        &self,
        current: &InFlightTx,
        next: &InFlightTx,
    ) -> Result<bool, StoreError> {
        if current.tx_id != next.tx_id {
            return Err(StoreError::Database(
                "in-flight swap: an entry keeps its transaction id".into(),
            ));
        }
        let text = |t: &InFlightTx| {
            serde_json::to_string(t)
                .map_err(|e| StoreError::Database(format!("in-flight record: {e}")))
        };
        let done =
            sqlx::query("UPDATE in_flight_tx SET record = ?1 WHERE tx_id = ?2 AND record = ?3")
                .bind(text(next)?)
                .bind(&next.tx_id)
                .bind(text(current)?)
                .execute(&*self.write().await)
                .await
                .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn put_in_flight(&self, tx: &InFlightTx) -> Result<(), StoreError> {
        let record = serde_json::to_string(tx)
            .map_err(|e| StoreError::Database(format!("in-flight record: {e}")))?;
        let idem = tx.idempotency.as_ref();
        sqlx::query(
            "INSERT INTO in_flight_tx (tx_id, reservation, idem_scope, idem_key, record, created_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (tx_id) DO NOTHING",
        )
        .bind(&tx.tx_id)
        .bind(&tx.reservation)
        .bind(idem.map(|i| i.scope.as_str()))
        .bind(idem.map(|i| i.key.as_str()))
        .bind(record)
        .bind(tx.created_at_ms)
        .execute(&*self.write().await)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    pub(super) async fn list_in_flight(&self, limit: u32) -> Result<Vec<InFlightTx>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT record FROM in_flight_tx ORDER BY created_at_ms, tx_id LIMIT ?1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|(r,)| {
                serde_json::from_str(r).map_err(|_| StoreError::Corrupt("in_flight_tx".into()))
            })
            .collect()
    }

    pub(super) async fn settle_in_flight(
        &self,
        tx_id: &str,
        landed: bool,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let gate = self.write().await;
        let mut tx = gate.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        let reservation: Option<(String,)> =
            sqlx::query_as("SELECT reservation FROM in_flight_tx WHERE tx_id = ?1")
                .bind(tx_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        let Some((reservation,)) = reservation else {
            return Ok(());
        };
        if landed {
            sqlx::query(
                "UPDATE budget_reservations SET status = ?1, tx = ?2, committed_at_ms = ?3 \
                 WHERE id = ?4 AND status = ?5",
            )
            .bind(COMMITTED)
            .bind(tx_id)
            .bind(now_ms)
            .bind(&reservation)
            .bind(RESERVED)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        } else {
            sqlx::query("UPDATE budget_reservations SET status = ?1 WHERE id = ?2 AND status = ?3")
                .bind(RELEASED)
                .bind(&reservation)
                .bind(RESERVED)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        sqlx::query("DELETE FROM in_flight_tx WHERE tx_id = ?1")
            .bind(tx_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    pub(super) async fn by_tx(
        &self,
        tx: &str,
    ) -> Result<Vec<custos_core::StoredAudit>, StoreError> {
        // The filter repeats the partial index's own (migration 0004), so SQLite uses it.
        let rows = sqlx::query_as::<_, AuditRow>(
            "SELECT * FROM audit WHERE tx = ?1 \
             AND json_extract(params, '$.chain') IS NOT 'message' ORDER BY id",
        )
        .bind(tx)
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(AuditRow::into_stored).collect()
    }
}
