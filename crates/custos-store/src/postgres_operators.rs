//! PostgreSQL: operator accounts (one JSON document each, compare-and-set on `version`) and console
//! sessions (`custos_core::operator`).
use crate::postgres::PostgresStore;
use crate::rows::{account, account_doc, console_session, db_err, to_i64, ConsoleSessionRow};
use custos_core::{ConsoleSession, OperatorAccount, StoreError};

const SESSION_COLUMNS: &str =
    "id_hash, operator_id, created_at_ms, expires_at_ms, totp_fresh_until_ms";

impl PostgresStore {
    pub(crate) async fn create_operator_account(
        &self,
        a: &OperatorAccount,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO operator_accounts (id, email, doc, version) VALUES ($1, $2, $3, 1)",
        )
        .bind(&a.id)
        .bind(&a.email)
        .bind(account_doc(a)?)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn get_operator_account(
        &self,
        column: &str,
        value: &str,
    ) -> Result<Option<OperatorAccount>, StoreError> {
        let column = if column == "email" { "email" } else { "id" };
        sqlx::query_as::<_, (String, i64)>(&format!(
            "SELECT doc, version FROM operator_accounts WHERE {column} = $1"
        ))
        .bind(value)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .map(account)
        .transpose()
    }

    pub(crate) async fn update_operator_account(
        &self,
        a: &OperatorAccount,
    ) -> Result<bool, StoreError> {
        let version = to_i64(a.version, "version")?;
        let done = sqlx::query(
            "UPDATE operator_accounts SET doc = $1, version = version + 1 \
             WHERE id = $2 AND version = $3",
        )
        .bind(account_doc(a)?)
        .bind(&a.id)
        .bind(version)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn list_operator_accounts(
        &self,
        limit: u32,
        after: Option<&str>,
    ) -> Result<Vec<OperatorAccount>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT doc, version FROM operator_accounts WHERE email > $1 ORDER BY email LIMIT $2",
        )
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.into_iter().map(account).collect()
    }

    pub(crate) async fn put_console_session(&self, s: &ConsoleSession) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO console_sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
        ))
        .bind(s.id_hash.as_slice())
        .bind(&s.operator_id)
        .bind(s.created_at_ms)
        .bind(s.expires_at_ms)
        .bind(s.totp_fresh_until_ms)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn get_console_session(
        &self,
        id_hash: &[u8; 32],
    ) -> Result<Option<ConsoleSession>, StoreError> {
        sqlx::query_as::<_, ConsoleSessionRow>(&format!(
            "SELECT {SESSION_COLUMNS} FROM console_sessions WHERE id_hash = $1"
        ))
        .bind(id_hash.as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .map(console_session)
        .transpose()
    }

    pub(crate) async fn fresh_console_session(
        &self,
        id_hash: &[u8; 32],
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE console_sessions SET totp_fresh_until_ms = $1 WHERE id_hash = $2")
                .bind(until_ms)
                .bind(id_hash.as_slice())
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn delete_console_session(
        &self,
        id_hash: &[u8; 32],
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash.as_slice())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    pub(crate) async fn end_console_sessions(&self, operator_id: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM console_sessions WHERE operator_id = $1")
            .bind(operator_id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected())
    }
}
