//! Persistence for Custos: the two implementations of [`custos_core::Store`].
//!
//! - [`SqliteStore`], the embedded default: one file, [`SqliteStore::FILE_NAME`] (`custos.db`),
//!   in the data directory, WAL mode with `synchronous=FULL`, so `custos serve` needs no other
//!   service.
//! - [`PostgresStore`], for several stateless API replicas sharing one database.
//!
//! Both run the same schema (embedded migrations under `migrations/sqlite` and
//! `migrations/postgres`, applied on open) and pass the same test suite
//! (`tests/store_suite.rs`).
//!
//! # The audit log is append-only in the database
//! Audit records live in the table `audit` (one row per record: the entry's fields as columns,
//! `params`/`token_amounts` as JSON text, `status` as an integer, `prev_hash`/`hash` as raw 32
//! bytes). The database itself refuses to change them: the triggers `audit_no_update` and
//! `audit_no_delete` abort any `UPDATE` or `DELETE` (PostgreSQL also has `audit_no_truncate`),
//! and `audit_extends_chain` refuses an insert whose id or `prev_hash` does not continue the
//! chain. Checkpoints live in `audit_checkpoints`, guarded the same way
//! (`audit_checkpoints_no_update`, `audit_checkpoints_no_delete`). A test that wants to
//! simulate tampering has to drop a trigger first, e.g. on the SQLite file:
//! `DROP TRIGGER audit_no_update; UPDATE audit SET status = 299 WHERE id = 2`.
//!
//! Appends are serialized (SQLite: one writer connection and `BEGIN IMMEDIATE`; PostgreSQL:
//! `LOCK TABLE audit IN EXCLUSIVE MODE`), so concurrent callers still produce one gap-free
//! chain that [`custos_core::audit::ChainVerifier`] accepts.
//!
//! # Budget ledger and approvals
//! `budget_reservations` holds one row per action that reserved USD (`reserved`, then
//! `committed` or `released`); amounts are exact (SQLite: decimal text summed in Rust;
//! PostgreSQL: `NUMERIC(39,18)` summed by the database). A reservation reads the agent's
//! rolling 24 h sum and 1 h count and inserts in one transaction, serialized per agent
//! (SQLite: the single writer and `BEGIN IMMEDIATE`; PostgreSQL: `pg_advisory_xact_lock` on the
//! agent id), so concurrent requests, even from several replicas, cannot overrun a cap.
//! `approvals` holds parked actions; votes lock the row (`BEGIN IMMEDIATE` / `FOR UPDATE`),
//! and a claim is one conditional `UPDATE ... RETURNING`, so an approval executes at most once.
//!
//! # What this crate does not do
//! - It never sees a secret: OTPs, session tokens, API keys and operator tokens arrive hashed.
//! - It makes no decisions — no expiry checks, policy evaluation, or rate limiting; it stores
//!   and returns what the pipeline gives it, atomically where the trait says so.
//! - It does not sign or verify audit checkpoints (the custody boundary does), and it does not
//!   prevent someone with write access to the database file from dropping the triggers: that
//!   is what the hash chain and the signed checkpoints detect.
#![forbid(unsafe_code)]

mod ledger;
mod postgres;
mod postgres_in_flight;
mod postgres_operators;
mod postgres_webhooks;
mod rows;
mod sqlite;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
