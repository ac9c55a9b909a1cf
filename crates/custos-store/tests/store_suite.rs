//! One behavioural suite, run against every `Store` backend: SQLite in a temporary directory
//! and PostgreSQL in a fresh schema per test. PostgreSQL is expected to be running
//! (`CUSTOS_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`); if it is
//! not, its tests fail rather than skip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use custos_core::audit::{AuditOutcome, ChainVerifier};
use custos_core::ledger::{DAY_MS, HOUR_MS};
use custos_core::{
    AgentId, ApiKeyRecord, ApprovalRecord, ApprovalStatus, AuditEntry, Bucket, Decimal,
    IdempotencyBegin, NewAgent, OperatorRole, OperatorTokenRecord, OtpRecord, Reservation,
    ReserveOutcome, SessionRecord, Store, StoreError, StoredAudit, Usage24h, VoteOutcome,
};
use custos_store::{PostgresStore, SqliteStore};
use sqlx::Connection;
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// Fixtures

enum Db {
    Sqlite {
        dir: tempfile::TempDir,
    },
    Postgres {
        admin_url: String,
        url: String,
        schema: String,
    },
}

struct Fixture {
    store: Arc<dyn Store>,
    db: Db,
}

fn pg_admin_url() -> String {
    std::env::var("CUSTOS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

impl Fixture {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in_dir(dir.path()).await.unwrap();
        assert!(dir.path().join(SqliteStore::FILE_NAME).exists());
        Self {
            store: Arc::new(store),
            db: Db::Sqlite { dir },
        }
    }

    async fn postgres() -> Self {
        let admin_url = pg_admin_url();
        let schema = format!("custos_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL must be reachable at {admin_url}: {e}"));
        sqlx::raw_sql(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let sep = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{sep}options[search_path]={schema}");
        let store = PostgresStore::connect_with_max_connections(&url, 5)
            .await
            .unwrap();
        Self {
            store: Arc::new(store),
            db: Db::Postgres {
                admin_url,
                url,
                schema,
            },
        }
    }

    /// A second, independent store on the same database (another process, in effect).
    async fn reopen(&self) -> Arc<dyn Store> {
        match &self.db {
            Db::Sqlite { dir } => Arc::new(SqliteStore::open_in_dir(dir.path()).await.unwrap()),
            Db::Postgres { url, .. } => Arc::new(
                PostgresStore::connect_with_max_connections(url, 5)
                    .await
                    .unwrap(),
            ),
        }
    }

    /// Runs SQL on a fresh connection that bypasses the store, as a tamperer would.
    async fn raw(&self, sql: &str) -> Result<u64, String> {
        let done = match &self.db {
            Db::Sqlite { dir } => {
                let path = dir.path().join(SqliteStore::FILE_NAME);
                let mut c =
                    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                        .await
                        .unwrap();
                sqlx::raw_sql(sql)
                    .execute(&mut c)
                    .await
                    .map(|d| d.rows_affected())
            }
            Db::Postgres { url, .. } => {
                let mut c = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::raw_sql(sql)
                    .execute(&mut c)
                    .await
                    .map(|d| d.rows_affected())
            }
        };
        done.map_err(|e| e.to_string())
    }

    async fn finish(self) {
        if let Db::Postgres {
            admin_url, schema, ..
        } = self.db
        {
            drop(self.store);
            let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
            sqlx::raw_sql(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut admin)
                .await
                .unwrap();
        }
    }
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let fx = super::Fixture::sqlite().await;
                    super::$name(&fx).await;
                    fx.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let fx = super::Fixture::postgres().await;
                    super::$name(&fx).await;
                    fx.finish().await;
                }
            )*
        }
    };
}

suite!(
    agents_create_lookup_and_conflict,
    agents_list_paginates_in_creation_order,
    agents_freeze_and_policy_versions,
    otp_lifecycle,
    otp_consume_is_single_use_under_concurrency,
    sessions_replace,
    api_keys,
    operator_tokens,
    idempotency_lifecycle,
    idempotency_concurrent_begin_has_one_winner,
    crash_recovery_bookkeeping,
    audit_append_forms_verifiable_chain,
    audit_concurrent_appends_form_one_chain,
    audit_append_after_another_writer,
    audit_rows_cannot_be_changed_or_removed,
    audit_appends_interleave_with_other_writes,
    audit_page_filters_by_agent,
    audit_checkpoints,
    health,
    budget_concurrent_reservations_never_overrun_the_daily_cap,
    budget_release_commit_and_usage,
    budget_settle_lowers_a_committed_amount_only,
    budget_rolling_windows,
    budget_amounts_are_exact,
    budget_buckets_cap_their_share_and_count_in_the_whole,
    approvals_create_read_and_list,
    approvals_quorum_counts_each_operator_once_and_claim_is_single_use,
    approvals_one_rejection_rejects,
    approvals_expire,
    approvals_concurrent_claims_have_one_winner,
    approvals_concurrent_votes_are_atomic,
    webhooks_outbox_cursor_claims_and_log,
    alerts_once_per_key_claims_and_log,
    operator_accounts_compare_and_set_and_sessions,
);

// ---------------------------------------------------------------------------------------------
// Helpers

fn h(n: u8) -> [u8; 32] {
    [n; 32]
}

async fn new_agent(s: &dyn Store, email: &str, created_at_ms: i64) -> AgentId {
    let id = AgentId::new_random();
    s.create_agent(NewAgent {
        id,
        email: email.to_owned(),
        created_at_ms,
        addresses: serde_json::json!({"solana": format!("addr-{email}")}),
    })
    .await
    .unwrap();
    id
}

fn entry(n: u64, agent: Option<AgentId>) -> AuditEntry {
    AuditEntry {
        time_ms: 1_700_000_000_000 + n as i64,
        agent_id: agent,
        operator: if agent.is_none() {
            Some("op-1".into())
        } else {
            None
        },
        endpoint: "POST /v1/wallets/me/actions/{action}".into(),
        action: "transfer".into(),
        // Nested, unsorted keys, floats and big integers: the stored text must hash the same.
        params: serde_json::json!({
            "to": "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin",
            "amount": "1.5",
            "n": n,
            "big": u64::MAX,
            "f": 0.1,
            "nested": {"z": [1, {"b": 2, "a": 1}], "a": null}
        }),
        usd_amount: Some("150.25".into()),
        token_amounts: serde_json::json!([{"asset": "SOL", "amount": "1.5"}]),
        tx: Some(format!("sig{n}")),
        outcome: AuditOutcome::Success,
        status: 200,
        reason: None,
        request_id: format!("req-{n}"),
    }
}

async fn all_audit(s: &dyn Store, agent: Option<AgentId>) -> Vec<StoredAudit> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = s.audit_page(agent, after, 7).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.id;
        out.extend(page);
    }
    out
}

fn verify(records: &[StoredAudit]) {
    let mut v = ChainVerifier::default();
    for r in records {
        v.push(r).unwrap();
    }
    assert_eq!(v.count(), records.len() as u64);
}

// ---------------------------------------------------------------------------------------------
// Behaviours

async fn agents_create_lookup_and_conflict(fx: &Fixture) {
    let s = &*fx.store;
    let id = AgentId::new_random();
    let created = s
        .create_agent(NewAgent {
            id,
            email: "a@example.com".into(),
            created_at_ms: 1000,
            addresses: serde_json::json!({"solana": "S1", "evm": "0xabc"}),
        })
        .await
        .unwrap();
    assert_eq!(created.id, id);
    assert!(!created.frozen);
    assert_eq!(created.policy, None);
    assert_eq!(created.policy_version, 0);

    assert_eq!(s.agent(id).await.unwrap(), Some(created.clone()));
    assert_eq!(
        s.agent_by_email("a@example.com").await.unwrap(),
        Some(created)
    );
    assert_eq!(s.agent_by_email("b@example.com").await.unwrap(), None);
    assert_eq!(s.agent(AgentId::new_random()).await.unwrap(), None);

    let dup_email = s
        .create_agent(NewAgent {
            id: AgentId::new_random(),
            email: "a@example.com".into(),
            created_at_ms: 2000,
            addresses: serde_json::json!({}),
        })
        .await;
    assert!(
        matches!(dup_email, Err(StoreError::Conflict(_))),
        "{dup_email:?}"
    );

    let dup_id = s
        .create_agent(NewAgent {
            id,
            email: "c@example.com".into(),
            created_at_ms: 2000,
            addresses: serde_json::json!({}),
        })
        .await;
    assert!(matches!(dup_id, Err(StoreError::Conflict(_))), "{dup_id:?}");
}

async fn agents_list_paginates_in_creation_order(fx: &Fixture) {
    let s = &*fx.store;
    assert!(s.list_agents(10, None).await.unwrap().is_empty());
    let mut expected = Vec::new();
    for i in 0..7 {
        // Two pairs share a creation time: insertion order breaks the tie.
        let t = 1000 + (i / 2) * 10;
        expected.push(new_agent(s, &format!("agent{i}@example.com"), t).await);
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s.list_agents(3, after).await.unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page.iter().map(|a| a.id));
    }
    assert_eq!(seen, expected);
    assert_eq!(s.list_agents(0, None).await.unwrap(), vec![]);
    assert_eq!(
        s.list_agents(10, Some(AgentId::new_random()))
            .await
            .unwrap(),
        vec![]
    );
}

async fn agents_freeze_and_policy_versions(fx: &Fixture) {
    let s = &*fx.store;
    let id = new_agent(s, "p@example.com", 1).await;
    let missing = AgentId::new_random();

    assert!(s.set_frozen(id, true).await.unwrap());
    assert!(s.agent(id).await.unwrap().unwrap().frozen);
    assert!(s.set_frozen(id, false).await.unwrap());
    assert!(!s.agent(id).await.unwrap().unwrap().frozen);
    assert!(!s.set_frozen(missing, true).await.unwrap());

    let rotated = serde_json::json!({"solana": "RotatedAddress111", "evm": "0xabc"});
    assert!(s.set_addresses(id, rotated.clone()).await.unwrap());
    assert_eq!(s.agent(id).await.unwrap().unwrap().addresses, rotated);
    assert!(!s.set_addresses(missing, rotated).await.unwrap());

    let p1 = serde_json::json!({"per_tx_usd": "100", "chains": ["solana"]});
    let p2 = serde_json::json!({"per_tx_usd": "50"});
    assert_eq!(s.set_policy(id, p1).await.unwrap(), Some(1));
    assert_eq!(s.set_policy(id, p2.clone()).await.unwrap(), Some(2));
    let a = s.agent(id).await.unwrap().unwrap();
    assert_eq!(a.policy, Some(p2));
    assert_eq!(a.policy_version, 2);
    assert_eq!(
        s.set_policy(missing, serde_json::json!({})).await.unwrap(),
        None
    );

    // Concurrent policy changes each get their own version.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let s = fx.store.clone();
        tasks.spawn(async move { s.set_policy(id, serde_json::json!({"i": i})).await });
    }
    let mut versions = Vec::new();
    while let Some(v) = tasks.join_next().await {
        versions.push(v.unwrap().unwrap().unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (3..=12).collect::<Vec<u64>>());
}

async fn otp_lifecycle(fx: &Fixture) {
    let s = &*fx.store;
    let email = "o@example.com";
    assert!(s.otp(email).await.unwrap().is_none());
    assert_eq!(s.record_otp_failure(email).await.unwrap(), 0);

    s.put_otp(OtpRecord {
        email: email.into(),
        code_hash: h(1),
        expires_at_ms: 10_000,
        attempts: 0,
    })
    .await
    .unwrap();
    assert_eq!(s.record_otp_failure(email).await.unwrap(), 1);
    assert_eq!(s.record_otp_failure(email).await.unwrap(), 2);
    let rec = s.otp(email).await.unwrap().unwrap();
    assert_eq!(
        (rec.code_hash, rec.attempts, rec.expires_at_ms),
        (h(1), 2, 10_000)
    );

    // A new code replaces the old one and resets the count.
    s.put_otp(OtpRecord {
        email: email.into(),
        code_hash: h(2),
        expires_at_ms: 20_000,
        attempts: 0,
    })
    .await
    .unwrap();
    let rec = s.otp(email).await.unwrap().unwrap();
    assert_eq!(
        (rec.code_hash, rec.attempts, rec.expires_at_ms),
        (h(2), 0, 20_000)
    );
    assert!(!s.consume_otp(email, &h(1)).await.unwrap(), "old code");
    assert!(s.consume_otp(email, &h(2)).await.unwrap());
    assert!(!s.consume_otp(email, &h(2)).await.unwrap(), "single use");
    assert!(s.otp(email).await.unwrap().is_none());

    for (i, exp) in [(1u8, 100), (2, 200), (3, 300)] {
        s.put_otp(OtpRecord {
            email: format!("e{i}@example.com"),
            code_hash: h(i),
            expires_at_ms: exp,
            attempts: 0,
        })
        .await
        .unwrap();
    }
    assert_eq!(s.purge_expired_otps(250).await.unwrap(), 2);
    assert!(s.otp("e1@example.com").await.unwrap().is_none());
    assert!(s.otp("e3@example.com").await.unwrap().is_some());
    s.delete_otp("e3@example.com").await.unwrap();
    assert!(s.otp("e3@example.com").await.unwrap().is_none());
    s.delete_otp("e3@example.com").await.unwrap();
}

async fn otp_consume_is_single_use_under_concurrency(fx: &Fixture) {
    let email = "race@example.com";
    fx.store
        .put_otp(OtpRecord {
            email: email.into(),
            code_hash: h(7),
            expires_at_ms: i64::MAX,
            attempts: 0,
        })
        .await
        .unwrap();
    let other = fx.reopen().await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let s = if i % 2 == 0 {
            fx.store.clone()
        } else {
            other.clone()
        };
        tasks.spawn(async move { s.consume_otp(email, &h(7)).await });
    }
    let mut wins = 0;
    while let Some(r) = tasks.join_next().await {
        wins += usize::from(r.unwrap().unwrap());
    }
    assert_eq!(wins, 1);
}

async fn sessions_replace(fx: &Fixture) {
    let s = &*fx.store;
    let id = new_agent(s, "s@example.com", 1).await;
    assert_eq!(s.session(id).await.unwrap(), None);
    let first = SessionRecord {
        agent_id: id,
        session_id: "jti-1".into(),
        expires_at_ms: 100,
    };
    s.replace_session(first.clone()).await.unwrap();
    assert_eq!(s.session(id).await.unwrap(), Some(first));
    let second = SessionRecord {
        agent_id: id,
        session_id: "jti-2".into(),
        expires_at_ms: 200,
    };
    s.replace_session(second.clone()).await.unwrap();
    assert_eq!(s.session(id).await.unwrap(), Some(second.clone()));
    // Read together for authentication: the current session and the agent as it is now.
    assert!(s.set_frozen(id, true).await.unwrap());
    let (session, agent) = s.session_and_agent(id).await.unwrap().unwrap();
    assert_eq!(session, second);
    assert_eq!(
        (agent.id, agent.email.as_str(), agent.frozen),
        (id, "s@example.com", true)
    );
    assert_eq!(agent, s.agent(id).await.unwrap().unwrap());
    // An agent without a session has nothing to authenticate.
    let lone = new_agent(s, "lone@example.com", 2).await;
    assert_eq!(s.session_and_agent(lone).await.unwrap(), None);
}

async fn api_keys(fx: &Fixture) {
    let s = &*fx.store;
    let a = new_agent(s, "k@example.com", 1).await;
    let b = new_agent(s, "k2@example.com", 2).await;
    let key = |id: &str, agent, hash, t| ApiKeyRecord {
        key_id: id.into(),
        agent_id: agent,
        key_hash: hash,
        created_at_ms: t,
        revoked_at_ms: None,
        scopes: None,
    };
    s.create_api_key(key("k1", a, h(1), 10)).await.unwrap();
    s.create_api_key(key("k2", a, h(2), 20)).await.unwrap();
    let dup = s.create_api_key(key("k3", b, h(1), 30)).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");

    assert_eq!(
        s.api_key_by_hash(&h(1)).await.unwrap(),
        Some(key("k1", a, h(1), 10))
    );
    assert_eq!(s.api_key_by_hash(&h(9)).await.unwrap(), None);

    assert!(!s.revoke_api_key(b, "k1", 50).await.unwrap(), "not b's key");
    assert!(s.revoke_api_key(a, "k1", 50).await.unwrap());
    assert!(
        !s.revoke_api_key(a, "k1", 60).await.unwrap(),
        "already revoked"
    );
    assert_eq!(s.api_key_by_hash(&h(1)).await.unwrap(), None);

    let listed = s.list_api_keys(a).await.unwrap();
    let mut revoked = key("k1", a, h(1), 10);
    revoked.revoked_at_ms = Some(50);
    assert_eq!(listed, vec![revoked, key("k2", a, h(2), 20)]);
    assert!(s.list_api_keys(b).await.unwrap().is_empty());

    // A key's scopes come back as they went in, through both lookups.
    let mut scoped = key("k4", b, h(4), 70);
    scoped.scopes = Some(custos_core::Scopes::parse(&["wallet:read", "sign:message"]).unwrap());
    s.create_api_key(scoped.clone()).await.unwrap();
    assert_eq!(
        s.api_key_by_hash(&h(4)).await.unwrap(),
        Some(scoped.clone())
    );
    assert_eq!(s.list_api_keys(b).await.unwrap(), vec![scoped]);
}

async fn operator_tokens(fx: &Fixture) {
    let s = &*fx.store;
    let live = OperatorTokenRecord {
        token_id: "t1".into(),
        token_hash: h(1),
        role: OperatorRole::Admin,
        created_at_ms: 5,
        revoked_at_ms: None,
    };
    let revoked = OperatorTokenRecord {
        token_id: "t2".into(),
        token_hash: h(2),
        role: OperatorRole::Viewer,
        created_at_ms: 6,
        revoked_at_ms: Some(7),
    };
    s.create_operator_token(live.clone()).await.unwrap();
    s.create_operator_token(revoked).await.unwrap();
    assert_eq!(s.operator_token_by_hash(&h(1)).await.unwrap(), Some(live));
    assert_eq!(s.operator_token_by_hash(&h(2)).await.unwrap(), None);
    assert_eq!(s.operator_token_by_hash(&h(3)).await.unwrap(), None);
    let dup = s
        .create_operator_token(OperatorTokenRecord {
            token_id: "t1".into(),
            token_hash: h(4),
            role: OperatorRole::Operator,
            created_at_ms: 8,
            revoked_at_ms: None,
        })
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
}

async fn idempotency_lifecycle(fx: &Fixture) {
    let s = &*fx.store;
    use IdempotencyBegin::*;
    assert_eq!(
        s.idempotency_begin("a1", "k", &h(1), 100, "me")
            .await
            .unwrap(),
        Started
    );
    assert_eq!(
        s.idempotency_begin("a1", "k", &h(1), 101, "me")
            .await
            .unwrap(),
        InProgress
    );
    assert_eq!(
        s.idempotency_begin("a1", "k", &h(2), 101, "me")
            .await
            .unwrap(),
        Mismatch
    );
    // Same key in another scope is independent.
    assert_eq!(
        s.idempotency_begin("a2", "k", &h(2), 101, "me")
            .await
            .unwrap(),
        Started
    );

    s.idempotency_complete("a1", "k", 201, b"{\"ok\":true}")
        .await
        .unwrap();
    assert_eq!(
        s.idempotency_begin("a1", "k", &h(1), 102, "me")
            .await
            .unwrap(),
        Replay {
            status: 201,
            body: b"{\"ok\":true}".to_vec()
        }
    );
    assert_eq!(
        s.idempotency_begin("a1", "k", &h(2), 102, "me")
            .await
            .unwrap(),
        Mismatch
    );

    // Abandon frees an in-progress key but never a completed one.
    s.idempotency_abandon("a1", "k").await.unwrap();
    assert!(matches!(
        s.idempotency_begin("a1", "k", &h(1), 103, "me")
            .await
            .unwrap(),
        Replay { status: 201, .. }
    ));
    s.idempotency_abandon("a2", "k").await.unwrap();
    assert_eq!(
        s.idempotency_begin("a2", "k", &h(3), 104, "me")
            .await
            .unwrap(),
        Started
    );

    // An empty body is still a body.
    s.idempotency_complete("a2", "k", 204, b"").await.unwrap();
    assert_eq!(
        s.idempotency_begin("a2", "k", &h(3), 105, "me")
            .await
            .unwrap(),
        Replay {
            status: 204,
            body: vec![]
        }
    );

    assert_eq!(s.purge_idempotency(104).await.unwrap(), 1, "a1/k at 100");
    assert_eq!(
        s.idempotency_begin("a1", "k", &h(9), 106, "me")
            .await
            .unwrap(),
        Started
    );
    // Only answered entries are purged: a1/k is in progress again and survives any purge.
    assert_eq!(s.purge_idempotency(1_000).await.unwrap(), 1);
    assert_eq!(
        s.idempotency_begin("a1", "k", &h(9), 1_001, "me")
            .await
            .unwrap(),
        InProgress
    );
}

/// What crash recovery reads and writes: claims and reservations of a dead owner (or
/// disowned) are orphans unless an in-flight transaction holds them; settling an in-flight
/// transaction resolves its reservation and removes it in one step, once.
async fn crash_recovery_bookkeeping(fx: &Fixture) {
    let s = &*fx.store;
    let agent = new_agent(s, "recovery@example.com", T0).await;
    use IdempotencyBegin::*;
    for (key, owner) in [("dead-1", "dead"), ("dead-2", "dead"), ("mine", "me")] {
        assert_eq!(
            s.idempotency_begin("sc", key, &h(1), T0, owner)
                .await
                .unwrap(),
            Started
        );
    }
    let keys = |v: Vec<custos_core::IdempotencyRef>| -> Vec<String> {
        v.into_iter().map(|r| r.key).collect()
    };
    assert_eq!(
        keys(s.idempotency_orphans("me", T0 + 1, 10).await.unwrap()),
        ["dead-1", "dead-2"]
    );
    assert!(
        s.idempotency_orphans("me", T0, 10)
            .await
            .unwrap()
            .is_empty(),
        "too young"
    );
    s.idempotency_disown("sc", "mine").await.unwrap();
    assert_eq!(
        s.idempotency_orphans("me", T0 + 1, 10).await.unwrap().len(),
        3
    );
    // An answered claim is no orphan.
    s.idempotency_complete("sc", "dead-2", 200, b"{}")
        .await
        .unwrap();
    assert_eq!(
        keys(s.idempotency_orphans("me", T0 + 1, 10).await.unwrap()),
        ["dead-1", "mine"]
    );

    for (id, owner) in [("r-dead", "dead"), ("r-held", "dead"), ("r-mine", "me")] {
        let mut r = reservation(id, agent, "10", T0, "1000", 100);
        r.owner = owner.into();
        assert_eq!(s.budget_reserve(r).await.unwrap(), ReserveOutcome::Reserved);
    }
    assert_eq!(
        s.budget_orphans("me", T0 + 1, 10).await.unwrap(),
        ["r-dead", "r-held"]
    );

    // An in-flight transaction holds its reservation and its claim.
    let tx = custos_core::InFlightTx {
        tx_id: "tx-1".into(),
        chain: custos_core::Chain::Solana,
        agent,
        signed_tx: vec![1, 2, 3],
        last_valid_block_height: Some(42),
        reservation: "r-held".into(),
        idempotency: Some(custos_core::IdempotencyRef {
            scope: "sc".into(),
            key: "dead-1".into(),
        }),
        action: "transfer".into(),
        usd: usd("10"),
        request_id: "req-1".into(),
        endpoint: "POST /v1/wallets/me/actions/{action}".into(),
        created_at_ms: T0,
        owner: "dead".into(),
        replacements: Vec::new(),
    };
    s.in_flight_put(&tx).await.unwrap();
    s.in_flight_put(&tx).await.unwrap();
    assert_eq!(s.in_flight_list(10).await.unwrap(), vec![tx.clone()]);
    assert_eq!(
        s.budget_orphans("me", T0 + 1, 10).await.unwrap(),
        ["r-dead"]
    );
    assert_eq!(
        keys(s.idempotency_orphans("me", T0 + 1, 10).await.unwrap()),
        ["mine"]
    );

    // A replacement joins the entry only if nothing changed the entry since it was read: of two
    // concurrent swaps from the same reading, one wins.
    let mut sped = tx.clone();
    sped.replacements.push(custos_core::Replacement {
        tx_id: "tx-1b".into(),
        kind: custos_core::ReplacementKind::SpeedUp,
        signed_tx: vec![4, 5, 6],
        request_id: "req-2".into(),
        created_at_ms: T0 + 1,
    });
    let mut cancelled = tx.clone();
    cancelled.replacements.push(custos_core::Replacement {
        tx_id: "tx-1c".into(),
        kind: custos_core::ReplacementKind::Cancel,
        signed_tx: vec![7],
        request_id: "req-3".into(),
        created_at_ms: T0 + 1,
    });
    assert!(s.in_flight_swap(&tx, &sped).await.unwrap());
    assert!(!s.in_flight_swap(&tx, &cancelled).await.unwrap(), "stale");
    assert_eq!(s.in_flight_list(10).await.unwrap(), vec![sped.clone()]);
    let mut renamed = sped.clone();
    renamed.tx_id = "tx-other".into();
    assert!(s.in_flight_swap(&sped, &renamed).await.is_err());
    assert!(sped.names("tx-1b") && sped.names("tx-1") && !sped.names("tx-1c"));
    assert!(sped.spends("tx-1b") && !cancelled.spends("tx-1c"));
    assert_eq!(
        sped.candidates()
            .iter()
            .map(|c| c.tx_id)
            .collect::<Vec<_>>(),
        ["tx-1b", "tx-1"],
        "newest first"
    );

    // Settled as landed: committed (still counts, cannot be released), row gone; twice is once.
    s.in_flight_settle("tx-1", true, T0 + 5).await.unwrap();
    s.in_flight_settle("tx-1", true, T0 + 5).await.unwrap();
    assert!(s.in_flight_list(10).await.unwrap().is_empty());
    assert!(!s.budget_release("r-held").await.unwrap(), "committed");
    assert_eq!(
        s.budget_usage(agent, T0 + 10).await.unwrap().spent_usd,
        usd("30")
    );

    // Settled as dropped: released.
    let mut dropped = tx.clone();
    dropped.tx_id = "tx-2".into();
    dropped.reservation = "r-dead".into();
    dropped.idempotency = None;
    s.in_flight_put(&dropped).await.unwrap();
    s.in_flight_settle("tx-2", false, T0 + 6).await.unwrap();
    assert_eq!(
        s.budget_usage(agent, T0 + 10).await.unwrap().spent_usd,
        usd("20")
    );
    assert!(
        !s.budget_commit("r-dead", "tx-2", T0 + 7).await.unwrap(),
        "released"
    );

    // Audit records by transaction.
    s.audit_append(&[entry(1, Some(agent)), entry(2, Some(agent))])
        .await
        .unwrap();
    let found = s.audit_by_tx("sig2").await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].entry.tx.as_deref(), Some("sig2"));
    assert!(s.audit_by_tx("nothing").await.unwrap().is_empty());
    // A signed message's record names its signature in `tx`, but it is not a transaction.
    let mut message = entry(3, Some(agent));
    message.params = serde_json::json!({"chain": "message", "message_len": 5});
    message.tx = Some("sig-of-a-message".into());
    let mut other_chain = entry(4, Some(agent));
    other_chain.tx = Some("sig-of-a-message".into());
    s.audit_append(&[message, other_chain]).await.unwrap();
    let found = s.audit_by_tx("sig-of-a-message").await.unwrap();
    assert_eq!(found.len(), 1, "only the transaction's record");
    assert_eq!(found[0].entry.request_id, "req-4");
}

async fn idempotency_concurrent_begin_has_one_winner(fx: &Fixture) {
    let other = fx.reopen().await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let s = if i % 2 == 0 {
            fx.store.clone()
        } else {
            other.clone()
        };
        tasks.spawn(async move { s.idempotency_begin("agent", "key-1", &h(5), i, "me").await });
    }
    let mut started = 0;
    while let Some(r) = tasks.join_next().await {
        match r.unwrap().unwrap() {
            IdempotencyBegin::Started => started += 1,
            IdempotencyBegin::InProgress => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(started, 1);
}

async fn audit_append_forms_verifiable_chain(fx: &Fixture) {
    let s = &*fx.store;
    assert_eq!(s.audit_head().await.unwrap(), None);
    assert!(s.audit_append(&[]).await.unwrap().is_empty());

    let agent = AgentId::new_random();
    let mut returned = Vec::new();
    let mut n = 0;
    for batch in [1usize, 3, 0, 5, 1] {
        let entries: Vec<_> = (0..batch)
            .map(|_| {
                n += 1;
                entry(n, (n % 2 == 0).then_some(agent))
            })
            .collect();
        let stored = s.audit_append(&entries).await.unwrap();
        assert_eq!(stored.len(), batch);
        for (st, e) in stored.iter().zip(&entries) {
            assert_eq!(&st.entry, e);
        }
        returned.extend(stored);
    }
    let ids: Vec<u64> = returned.iter().map(|r| r.id).collect();
    assert_eq!(ids, (1..=10).collect::<Vec<_>>());
    verify(&returned);

    let read = all_audit(s, None).await;
    assert_eq!(read, returned, "stored records read back exactly");
    let (head_id, head_hash) = s.audit_head().await.unwrap().unwrap();
    assert_eq!(head_id, 10);
    assert_eq!(hex::encode(head_hash), returned[9].hash);
}

async fn audit_concurrent_appends_form_one_chain(fx: &Fixture) {
    let other = fx.reopen().await;
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..6u64 {
        let s = if t % 2 == 0 {
            fx.store.clone()
        } else {
            other.clone()
        };
        tasks.spawn(async move {
            for round in 0..8u64 {
                let batch: Vec<_> = (0..=(round % 3))
                    .map(|i| entry(t * 1000 + round * 10 + i, None))
                    .collect();
                let stored = s.audit_append(&batch).await.unwrap();
                // Each batch is contiguous: nothing interleaves inside it.
                for w in stored.windows(2) {
                    assert_eq!(w[1].id, w[0].id + 1);
                    assert_eq!(w[1].prev_hash, w[0].hash);
                }
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let all = all_audit(&*fx.store, None).await;
    // 6 tasks × (1+2+3+1+2+3+1+2) records.
    assert_eq!(all.len(), 6 * 15);
    verify(&all);
}

/// A store that remembers the chain head from its own last append must not chain onto it once
/// another writer (another process on the same database) has appended since.
async fn audit_append_after_another_writer(fx: &Fixture) {
    let other = fx.reopen().await;
    let first = fx.store.audit_append(&[entry(1, None)]).await.unwrap();
    let theirs = other
        .audit_append(&[entry(2, None), entry(3, None)])
        .await
        .unwrap();
    assert_eq!(theirs[0].prev_hash, first[0].hash);
    let ours = fx
        .store
        .audit_append(&[entry(4, None), entry(5, None)])
        .await
        .unwrap();
    assert_eq!(ours[0].id, theirs[1].id + 1);
    assert_eq!(ours[0].prev_hash, theirs[1].hash);
    let again = fx.store.audit_append(&[entry(6, None)]).await.unwrap();
    assert_eq!(again[0].prev_hash, ours[1].hash);
    let all = all_audit(&*fx.store, None).await;
    assert_eq!(all.len(), 6);
    verify(&all);
}

/// Audit appends (on SQLite, a connection of their own committing on the caller's thread) and
/// the store's other writes, from many tasks and from a second handle on the same database at
/// once: every write lands, none fails for a lock the other holds, and the chain stays one.
async fn audit_appends_interleave_with_other_writes(fx: &Fixture) {
    let agent = new_agent(&*fx.store, "mixed@example.com", 1).await;
    let other = fx.reopen().await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40u64 {
        let s = if i % 4 == 3 {
            other.clone()
        } else {
            fx.store.clone()
        };
        tasks.spawn(async move {
            let r = reservation(&format!("mix-{i}"), agent, "1", T0 + i as i64, "1000", 1000);
            assert_eq!(s.budget_reserve(r).await.unwrap(), ReserveOutcome::Reserved);
            s.audit_append(&[entry(i, Some(agent))]).await.unwrap();
            s.set_frozen(agent, i % 2 == 0).await.unwrap();
            s.audit_append(&[entry(100 + i, None), entry(200 + i, Some(agent))])
                .await
                .unwrap();
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let all = all_audit(&*fx.store, None).await;
    assert_eq!(all.len(), 40 * 3);
    verify(&all);
    assert_eq!(
        fx.store.budget_usage(agent, T0 + 100).await.unwrap(),
        Usage24h {
            spent_usd: usd("40"),
            tx_last_hour: 40
        }
    );
}

async fn audit_rows_cannot_be_changed_or_removed(fx: &Fixture) {
    let s = &*fx.store;
    s.audit_append(&[entry(1, None), entry(2, None), entry(3, None)])
        .await
        .unwrap();
    s.put_audit_checkpoint(3, serde_json::json!({"seq": 3}))
        .await
        .unwrap();

    for sql in [
        "UPDATE audit SET status = 299 WHERE id = 2",
        "DELETE FROM audit WHERE id = 3",
        "DELETE FROM audit",
        "UPDATE audit_checkpoints SET checkpoint = '{}'",
        "DELETE FROM audit_checkpoints",
    ] {
        let err = fx.raw(sql).await.expect_err(sql);
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    if let Db::Postgres { .. } = fx.db {
        for sql in ["TRUNCATE audit", "TRUNCATE audit_checkpoints"] {
            let err = fx.raw(sql).await.expect_err(sql);
            assert!(err.contains("append-only"), "{sql}: {err}");
        }
    }
    // Inserting around the store cannot leave a gap or fork the chain either.
    let zeros = match fx.db {
        Db::Sqlite { .. } => "zeroblob(32)",
        Db::Postgres { .. } => "decode(repeat('00', 32), 'hex')",
    };
    for (id, prev) in [("5", "(SELECT hash FROM audit WHERE id = 3)"), ("4", zeros)] {
        let sql = format!(
            "INSERT INTO audit (id, time_ms, endpoint, action, params, token_amounts, outcome, \
             status, request_id, prev_hash, hash) \
             VALUES ({id}, 0, 'x', 'x', '{{}}', '[]', 'success', 200, 'r', {prev}, {zeros})"
        );
        let err = fx.raw(&sql).await.expect_err(&sql);
        assert!(err.contains("extend the chain"), "{sql}: {err}");
    }

    let all = all_audit(s, None).await;
    assert_eq!(all.len(), 3);
    verify(&all);
    assert_eq!(s.audit_checkpoints().await.unwrap().len(), 1);
}

async fn audit_page_filters_by_agent(fx: &Fixture) {
    let s = &*fx.store;
    let a = AgentId::new_random();
    let b = AgentId::new_random();
    let entries: Vec<_> = (1..=20u64)
        .map(|n| {
            let who = match n % 3 {
                0 => Some(a),
                1 => Some(b),
                _ => None,
            };
            entry(n, who)
        })
        .collect();
    s.audit_append(&entries).await.unwrap();

    let of_a = all_audit(s, Some(a)).await;
    let ids: Vec<u64> = of_a.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![3, 6, 9, 12, 15, 18]);
    assert!(of_a.iter().all(|r| r.entry.agent_id == Some(a)));

    let page = s.audit_page(Some(b), 4, 2).await.unwrap();
    let ids: Vec<u64> = page.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![7, 10]);

    assert!(s
        .audit_page(Some(AgentId::new_random()), 0, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(s.audit_page(None, 20, 10).await.unwrap().is_empty());
    assert_eq!(s.audit_page(None, 0, 5).await.unwrap().len(), 5);
}

async fn audit_checkpoints(fx: &Fixture) {
    let s = &*fx.store;
    assert!(s.audit_checkpoints().await.unwrap().is_empty());
    let c =
        |seq: u64| serde_json::json!({"seq": seq, "head": hex::encode(h(seq as u8)), "sig": "..."});
    s.put_audit_checkpoint(20, c(20)).await.unwrap();
    s.put_audit_checkpoint(10, c(10)).await.unwrap();
    assert_eq!(s.audit_checkpoints().await.unwrap(), vec![c(10), c(20)]);
    let dup = s.put_audit_checkpoint(10, c(11)).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
}

async fn health(fx: &Fixture) {
    fx.store.health().await.unwrap();
}

/// Registrations, the cursor's compare-and-set, one delivery per agent and event, leases that
/// keep a claimed delivery from a second worker, attempts and the per-agent log.
async fn webhooks_outbox_cursor_claims_and_log(fx: &Fixture) {
    use custos_core::{Attempt, DeliveryStatus, NewDelivery, Webhook};
    let s = &*fx.store;
    let a = new_agent(s, "hook-a@example.com", 1).await;
    let b = new_agent(s, "hook-b@example.com", 1).await;
    assert_eq!(s.webhook(a).await.unwrap(), None);
    let hook = Webhook {
        agent: a,
        url: "https://h.example/1".into(),
        key_id: "k1".into(),
        created_at_ms: 5,
    };
    s.webhook_put(&hook).await.unwrap();
    let rotated = Webhook {
        url: "https://h.example/2".into(),
        key_id: "k2".into(),
        ..hook.clone()
    };
    s.webhook_put(&rotated).await.unwrap();
    assert_eq!(s.webhook(a).await.unwrap(), Some(rotated.clone()));

    assert_eq!(s.webhook_cursor().await.unwrap(), None);
    assert!(s.webhook_enqueue(None, 10, &[]).await.unwrap());
    assert_eq!(s.webhook_cursor().await.unwrap(), Some(10));
    let d = |agent, event_id| NewDelivery {
        agent,
        event_id,
        url: "https://h.example/2".into(),
        body: format!("{{\"id\":{event_id}}}"),
        created_at_ms: 100,
    };
    // A stale cursor queues nothing.
    assert!(!s.webhook_enqueue(None, 12, &[d(a, 11)]).await.unwrap());
    assert!(s
        .webhook_enqueue(Some(10), 12, &[d(a, 11), d(b, 12), d(a, 11)])
        .await
        .unwrap());
    // The same event again (another pass over the same records): still one delivery.
    assert!(s.webhook_enqueue(Some(12), 13, &[d(a, 11)]).await.unwrap());
    assert_eq!(s.webhook_cursor().await.unwrap(), Some(13));

    // Claimed deliveries are leased: a second claim at the same time gets none of them.
    let first = s.webhook_claim_due(100, 1000, 10).await.unwrap();
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(s.webhook_claim_due(100, 1000, 10).await.unwrap().is_empty());
    let mine = first.iter().find(|x| x.agent == a).unwrap().clone();
    assert_eq!(mine.status, DeliveryStatus::Pending);
    s.webhook_attempted(
        mine.id,
        &Attempt {
            status: DeliveryStatus::Pending,
            http_status: Some(500),
            error: Some("HTTP 500".into()),
            next_at_ms: 200,
            now_ms: 101,
        },
    )
    .await
    .unwrap();
    assert!(s.webhook_claim_due(150, 1000, 10).await.unwrap().is_empty());
    let again = s.webhook_claim_due(200, 1000, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (mine.id, 1));
    s.webhook_attempted(
        mine.id,
        &Attempt {
            status: DeliveryStatus::Delivered,
            http_status: Some(204),
            error: None,
            next_at_ms: 0,
            now_ms: 201,
        },
    )
    .await
    .unwrap();
    let log = s.webhook_deliveries(a, 0, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].status, DeliveryStatus::Delivered);
    assert_eq!(log[0].attempts, 2);
    assert_eq!(log[0].last_http_status, Some(204));
    assert_eq!(log[0].last_error, None);
    assert!(s
        .webhook_deliveries(a, log[0].id, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.webhook_deliveries(b, 0, 10).await.unwrap().len(), 1);

    // Removing the webhook drops what is still pending, keeps the log of what was delivered.
    assert!(!s.webhook_delete(b).await.unwrap(), "b has none");
    let hb = Webhook {
        agent: b,
        ..rotated.clone()
    };
    s.webhook_put(&hb).await.unwrap();
    assert!(s.webhook_delete(b).await.unwrap());
    assert!(s.webhook_deliveries(b, 0, 10).await.unwrap().is_empty());
    assert!(s
        .webhook_claim_due(10_000, 1000, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.webhook_deliveries(a, 0, 10).await.unwrap().len(), 1);
    assert_eq!(s.webhook(b).await.unwrap(), None);
}

/// Operator alerts: each key once (in one call, across calls, across writers), due ones claimed
/// and leased, attempts recorded, and the whole log in raise order.
async fn alerts_once_per_key_claims_and_log(fx: &Fixture) {
    use custos_core::{Attempt, DeliveryStatus};
    let s = &*fx.store;
    let alert = |key: &str, at: i64| custos_core::NewAlert {
        rule: "denial_burst".into(),
        key: key.into(),
        url: "http://127.0.0.1:9/alerts".into(),
        body: format!("{{\"id\":\"{key}\"}}"),
        created_at_ms: at,
    };
    assert!(s.alert_deliveries(0, 10).await.unwrap().is_empty());
    // A key is raised once: again in the same call, in a later call, by another writer.
    assert_eq!(
        s.alert_raise(&[alert("k1", 100), alert("k2", 100), alert("k1", 100)])
            .await
            .unwrap(),
        2
    );
    assert_eq!(s.alert_raise(&[alert("k1", 150)]).await.unwrap(), 0);
    let other = fx.reopen().await;
    assert_eq!(
        other
            .alert_raise(&[alert("k2", 160), alert("k3", 300)])
            .await
            .unwrap(),
        1
    );

    // Due at 100: k1 and k2, leased; k3 waits for its time.
    let first = s.alert_claim_due(100, 1000, 10).await.unwrap();
    let keys: Vec<&str> = first.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, ["k1", "k2"]);
    assert!(other
        .alert_claim_due(100, 1000, 10)
        .await
        .unwrap()
        .is_empty());
    s.alert_attempted(
        first[0].id,
        &Attempt {
            status: DeliveryStatus::Pending,
            http_status: Some(503),
            error: Some("HTTP 503".into()),
            next_at_ms: 400,
            now_ms: 101,
        },
    )
    .await
    .unwrap();
    s.alert_attempted(
        first[1].id,
        &Attempt {
            status: DeliveryStatus::Delivered,
            http_status: Some(200),
            error: None,
            next_at_ms: 0,
            now_ms: 102,
        },
    )
    .await
    .unwrap();
    let due = s.alert_claim_due(400, 1000, 10).await.unwrap();
    let keys: Vec<&str> = due.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, ["k3", "k1"], "oldest due first");
    assert_eq!(due[1].attempts, 1);

    // The log: every alert in raise order with its attempts.
    let log = s.alert_deliveries(0, 10).await.unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(
        (
            log[0].key.as_str(),
            log[0].attempts,
            log[0].last_http_status
        ),
        ("k1", 1, Some(503))
    );
    assert_eq!(log[0].last_error.as_deref(), Some("HTTP 503"));
    assert_eq!(log[0].status, DeliveryStatus::Pending);
    assert_eq!(log[1].status, DeliveryStatus::Delivered);
    assert_eq!(log[1].body, "{\"id\":\"k2\"}");
    assert_eq!(log[1].rule, "denial_burst");
    let rest = s.alert_deliveries(log[0].id, 1).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].key, "k2");
}

/// Operator accounts: unique emails, lookups by id and email, compare-and-set updates (a stale
/// version loses, even from another writer), paging by email; console sessions: put, get,
/// freshness, delete, and all of one operator's ended at once.
async fn operator_accounts_compare_and_set_and_sessions(fx: &Fixture) {
    use custos_core::{ConsoleSession, OperatorAccount, StoredPasskey, TotpState};
    let s = &*fx.store;
    let account = |id: &str, email: &str| OperatorAccount {
        id: id.into(),
        email: email.into(),
        role: OperatorRole::Viewer,
        created_at_ms: 1,
        disabled: false,
        passkeys: vec![],
        totp: None,
        failed_logins: 0,
        locked_until_ms: 0,
        version: 0,
    };
    s.operator_account_create(&account("opr_b", "b@example.com"))
        .await
        .unwrap();
    s.operator_account_create(&account("opr_a", "a@example.com"))
        .await
        .unwrap();
    assert!(matches!(
        s.operator_account_create(&account("opr_c", "a@example.com"))
            .await,
        Err(StoreError::Conflict(_))
    ));
    let a = s.operator_account("opr_a").await.unwrap().unwrap();
    assert_eq!((a.email.as_str(), a.version), ("a@example.com", 1));
    assert_eq!(
        s.operator_account_by_email("a@example.com").await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(s.operator_account("opr_z").await.unwrap(), None);

    // Two writers read version 1; the first wins, the second must re-read.
    let other = fx.reopen().await;
    let mut first = a.clone();
    first.passkeys.push(StoredPasskey {
        credential_id: "cred".into(),
        record: "{}".into(),
        created_at_ms: 2,
        last_used_ms: None,
    });
    let mut second = a.clone();
    second.totp = Some(TotpState {
        sealed_secret: "00".into(),
        confirmed: true,
        last_step: Some(7),
    });
    assert!(s.operator_account_update(&first).await.unwrap());
    assert!(!other.operator_account_update(&second).await.unwrap());
    let now = other.operator_account("opr_a").await.unwrap().unwrap();
    assert_eq!(
        (now.version, now.passkeys.len(), now.totp.is_none()),
        (2, 1, true)
    );
    let mut again = now.clone();
    again.totp = second.totp.clone();
    assert!(other.operator_account_update(&again).await.unwrap());
    let now = s.operator_account("opr_a").await.unwrap().unwrap();
    assert_eq!(now.totp.as_ref().and_then(|t| t.last_step), Some(7));
    assert_eq!(now.version, 3);

    let page = s.operator_accounts(1, None).await.unwrap();
    assert_eq!(page[0].email, "a@example.com");
    let rest = s
        .operator_accounts(10, Some("a@example.com"))
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].email, "b@example.com");

    let session = |n: u8, op: &str| ConsoleSession {
        id_hash: h(n),
        operator_id: op.into(),
        created_at_ms: 10,
        expires_at_ms: 20,
        totp_fresh_until_ms: None,
    };
    s.console_session_put(&session(1, "opr_a")).await.unwrap();
    s.console_session_put(&session(2, "opr_a")).await.unwrap();
    s.console_session_put(&session(3, "opr_b")).await.unwrap();
    assert_eq!(
        s.console_session(&h(1)).await.unwrap(),
        Some(session(1, "opr_a"))
    );
    assert!(s.console_session_fresh(&h(1), 99).await.unwrap());
    assert!(!s.console_session_fresh(&h(9), 99).await.unwrap());
    assert_eq!(
        other
            .console_session(&h(1))
            .await
            .unwrap()
            .unwrap()
            .totp_fresh_until_ms,
        Some(99)
    );
    s.console_session_delete(&h(3)).await.unwrap();
    assert_eq!(s.console_session(&h(3)).await.unwrap(), None);
    assert_eq!(s.console_sessions_end("opr_a").await.unwrap(), 2);
    assert_eq!(s.console_session(&h(2)).await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// SQLite only: the file in the data directory, and the tampering recipe other crates use.

/// The writer never checkpoints inside a commit; a background connection copies committed WAL
/// frames into the database file while the store stays open, and restarts the WAL once it is
/// long, so neither file only grows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wal_is_checkpointed_in_the_background_while_open() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open_in_dir(dir.path()).await.unwrap();
    let db = dir.path().join(SqliteStore::FILE_NAME);
    let wal = dir.path().join(format!("{}-wal", SqliteStore::FILE_NAME));
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let before = size(&db);
    // Enough single-record commits (about two WAL frames each) to pass the restart mark.
    let big = "x".repeat(3000);
    for n in 0..2500u64 {
        let mut e = entry(n, None);
        e.params = serde_json::json!({ "pad": big });
        s.audit_append(&[e]).await.unwrap();
    }
    let mut grown = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if size(&db) > before + 4 * 1024 * 1024 {
            grown = true;
            break;
        }
    }
    assert!(
        grown,
        "database file did not grow: {} → {}",
        before,
        size(&db)
    );
    // 5,000 commits wrote well over 10,000 frames; restarted at 4,000, the WAL holds far fewer
    // (a frame is a 4 KiB page plus a 24-byte header).
    for n in 2500..5000u64 {
        let mut e = entry(n, None);
        e.params = serde_json::json!({ "pad": big });
        s.audit_append(&[e]).await.unwrap();
    }
    let frames = size(&wal) / 4120;
    assert!(frames < 7000, "the WAL holds {frames} frames");
    verify(&all_audit(&s, None).await);
    s.close().await;
}

/// The WAL is written full of zeros at open (a commit's sync then overwrites allocated blocks
/// instead of growing the file), and a copy of the files taken while the store is open — what a
/// power cut leaves — still recovers every committed record, with nothing read from the zeros.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_preallocated_wal_recovers_every_commit_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open_in_dir(dir.path()).await.unwrap();
    let wal = dir.path().join(format!("{}-wal", SqliteStore::FILE_NAME));
    let frame = 4096 + 24;
    let preallocated = std::fs::metadata(&wal).unwrap().len();
    assert!(
        preallocated >= 5000 * frame,
        "WAL is {preallocated} bytes at open"
    );
    for n in 0..40u64 {
        s.audit_append(&[entry(n, None)]).await.unwrap();
    }
    new_agent(&s, "crash@example.com", 2).await;
    // The commits went into the preallocated space: the file did not grow.
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), preallocated);

    let copy = tempfile::tempdir().unwrap();
    for suffix in ["", "-wal"] {
        let name = format!("{}{suffix}", SqliteStore::FILE_NAME);
        std::fs::copy(dir.path().join(&name), copy.path().join(&name)).unwrap();
    }
    let recovered = SqliteStore::open_in_dir(copy.path()).await.unwrap();
    let records = all_audit(&recovered, None).await;
    assert_eq!(records.len(), 40);
    verify(&records);
    assert!(recovered
        .agent_by_email("crash@example.com")
        .await
        .unwrap()
        .is_some());
    // And the recovered store keeps appending onto the same chain.
    recovered.audit_append(&[entry(40, None)]).await.unwrap();
    verify(&all_audit(&recovered, None).await);
    recovered.close().await;
    s.close().await;
}

#[tokio::test]
async fn sqlite_data_persists_across_reopen_and_tampering_is_detectable() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = SqliteStore::open_in_dir(dir.path()).await.unwrap();
        new_agent(&s, "persist@example.com", 1).await;
        s.audit_append(&[entry(1, None), entry(2, None), entry(3, None)])
            .await
            .unwrap();
        s.close().await;
    }
    let s = SqliteStore::open_in_dir(dir.path()).await.unwrap();
    assert!(s
        .agent_by_email("persist@example.com")
        .await
        .unwrap()
        .is_some());
    verify(&all_audit(&s, None).await);

    let path = dir.path().join(SqliteStore::FILE_NAME);
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::raw_sql("DROP TRIGGER audit_no_update; UPDATE audit SET status = 299 WHERE id = 2")
        .execute(&mut c)
        .await
        .unwrap();
    let mut v = ChainVerifier::default();
    let broken = all_audit(&s, None)
        .await
        .iter()
        .try_for_each(|r| v.push(r))
        .unwrap_err();
    assert_eq!(broken.id, 2);
}

// ---------------------------------------------------------------------------------------------
// Budget ledger

fn usd(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn reservation(
    id: &str,
    agent: AgentId,
    amount: &str,
    now_ms: i64,
    cap: &str,
    per_hour: u32,
) -> Reservation {
    Reservation {
        id: id.to_owned(),
        agent,
        usd: usd(amount),
        now_ms,
        daily_cap: usd(cap),
        max_tx_per_hour: per_hour,
        owner: "me".into(),
        bucket: None,
    }
}

const T0: i64 = 1_700_000_000_000;

async fn budget_settle_lowers_a_committed_amount_only(fx: &Fixture) {
    let s = &*fx.store;
    let agent = new_agent(s, "settle@example.com", 1).await;
    let other = new_agent(s, "settle-other@example.com", 1).await;
    for (id, amount) in [("s-0", "4.5"), ("s-1", "3")] {
        let r = reservation(id, agent, amount, T0, "100", 10);
        assert_eq!(s.budget_reserve(r).await.unwrap(), ReserveOutcome::Reserved);
    }
    assert!(s.budget_commit("s-0", "kalshi:o-0", T0 + 1).await.unwrap());
    // Reserved but not committed, another agent's, an unknown tx: nothing settles.
    assert!(!s.budget_settle(agent, "s-1", usd("0")).await.unwrap());
    assert!(!s
        .budget_settle(other, "kalshi:o-0", usd("0"))
        .await
        .unwrap());
    assert!(!s
        .budget_settle(agent, "kalshi:none", usd("0"))
        .await
        .unwrap());
    // Lowered to what it cost; a higher figure never raises it back.
    assert!(s
        .budget_settle(agent, "kalshi:o-0", usd("4"))
        .await
        .unwrap());
    assert!(s
        .budget_settle(agent, "kalshi:o-0", usd("9"))
        .await
        .unwrap());
    assert_eq!(
        s.budget_usage(agent, T0 + 2).await.unwrap().spent_usd,
        usd("7")
    );
    assert!(s
        .budget_settle(agent, "kalshi:o-0", usd("0"))
        .await
        .unwrap());
    let u = s.budget_usage(agent, T0 + 2).await.unwrap();
    assert_eq!(u.spent_usd, usd("3"));
    assert_eq!(
        u.tx_last_hour, 2,
        "a settled order still counts as a transaction"
    );
}

async fn budget_concurrent_reservations_never_overrun_the_daily_cap(fx: &Fixture) {
    let agent = new_agent(&*fx.store, "spender@example.com", 1).await;
    let bystander = new_agent(&*fx.store, "other@example.com", 2).await;
    let other = fx.reopen().await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let s = if i % 2 == 0 {
            fx.store.clone()
        } else {
            other.clone()
        };
        tasks.spawn(async move {
            let r = reservation(&format!("r-{i}"), agent, "30", T0 + i, "1000", 1000);
            (i, s.budget_reserve(r).await.unwrap())
        });
    }
    let mut reserved = Vec::new();
    let mut refused = 0;
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            (i, ReserveOutcome::Reserved) => reserved.push(i),
            (_, ReserveOutcome::OverDaily { spent }) => {
                // A refusal saw the window already too full for one more.
                assert!(spent > usd("970"), "refused at {spent}");
                assert!(spent <= usd("990"));
                refused += 1;
            }
            (_, other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(reserved.len(), 33, "exactly floor(1000 / 30) fit");
    assert_eq!(refused, 17);
    let now = T0 + 100;
    assert_eq!(
        fx.store.budget_usage(agent, now).await.unwrap(),
        Usage24h {
            spent_usd: usd("990"),
            tx_last_hour: 33
        }
    );
    // Another agent's window is its own.
    assert_eq!(
        other.budget_usage(bystander, now).await.unwrap(),
        Usage24h::default()
    );
    assert_eq!(
        other
            .budget_reserve(reservation("b-1", bystander, "1000", now, "1000", 1))
            .await
            .unwrap(),
        ReserveOutcome::Reserved
    );

    // Releasing one frees room for exactly one more.
    let freed = format!("r-{}", reserved[0]);
    assert!(fx.store.budget_release(&freed).await.unwrap());
    assert!(!fx.store.budget_release(&freed).await.unwrap(), "once");
    assert_eq!(
        fx.store.budget_usage(agent, now).await.unwrap().spent_usd,
        usd("960")
    );
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..6 {
        let s = if i % 2 == 0 {
            fx.store.clone()
        } else {
            other.clone()
        };
        tasks.spawn(async move {
            s.budget_reserve(reservation(
                &format!("again-{i}"),
                agent,
                "30",
                now,
                "1000",
                1000,
            ))
            .await
            .unwrap()
        });
    }
    let mut again = 0;
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            ReserveOutcome::Reserved => again += 1,
            ReserveOutcome::OverDaily { spent } => assert_eq!(spent, usd("990")),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(again, 1);
    assert_eq!(
        fx.store.budget_usage(agent, now).await.unwrap().spent_usd,
        usd("990")
    );
}

async fn budget_release_commit_and_usage(fx: &Fixture) {
    let s = &*fx.store;
    let agent = new_agent(s, "ledger@example.com", 1).await;
    for (i, amount) in ["100", "200", "300"].iter().enumerate() {
        let r = reservation(&format!("c-{i}"), agent, amount, T0 + i as i64, "1000", 10);
        assert_eq!(s.budget_reserve(r).await.unwrap(), ReserveOutcome::Reserved);
    }
    // A reused id is refused and changes nothing.
    let dup = s
        .budget_reserve(reservation("c-0", agent, "1", T0 + 5, "1000", 10))
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");

    // Committed reservations keep counting; released ones stop.
    assert!(s.budget_commit("c-0", "sig-0", T0 + 10).await.unwrap());
    assert!(
        !s.budget_commit("c-0", "sig-0", T0 + 11).await.unwrap(),
        "once"
    );
    assert!(
        !s.budget_release("c-0").await.unwrap(),
        "a committed one stays"
    );
    assert!(s.budget_release("c-1").await.unwrap());
    assert!(
        !s.budget_commit("c-1", "sig-1", T0 + 12).await.unwrap(),
        "released"
    );
    assert!(!s.budget_commit("missing", "sig", T0 + 12).await.unwrap());
    assert!(!s.budget_release("missing").await.unwrap());
    assert_eq!(
        s.budget_usage(agent, T0 + 20).await.unwrap(),
        Usage24h {
            spent_usd: usd("400"),
            tx_last_hour: 2
        }
    );
    let full = s
        .budget_reserve(reservation(
            "c-3",
            agent,
            "600.000000000000000001",
            T0 + 20,
            "1000",
            10,
        ))
        .await
        .unwrap();
    assert_eq!(full, ReserveOutcome::OverDaily { spent: usd("400") });
    let fits = s
        .budget_reserve(reservation("c-4", agent, "600", T0 + 20, "1000", 10))
        .await
        .unwrap();
    assert_eq!(fits, ReserveOutcome::Reserved, "exactly at the cap fits");
    // A refused reservation stored nothing: its id is still free.
    assert_eq!(
        s.budget_reserve(reservation("c-3", agent, "0", T0 + 21, "1000", 10))
            .await
            .unwrap(),
        ReserveOutcome::Reserved
    );
}

async fn budget_rolling_windows(fx: &Fixture) {
    let s = &*fx.store;
    let agent = new_agent(s, "window@example.com", 1).await;
    // Daily: a reservation counts while it is younger than 24 h.
    let r = reservation("d-0", agent, "600", T0, "1000", 100);
    assert_eq!(s.budget_reserve(r).await.unwrap(), ReserveOutcome::Reserved);
    let almost = T0 + DAY_MS - 1;
    assert_eq!(
        s.budget_reserve(reservation("d-1", agent, "500", almost, "1000", 100))
            .await
            .unwrap(),
        ReserveOutcome::OverDaily { spent: usd("600") }
    );
    assert_eq!(
        s.budget_usage(agent, almost).await.unwrap().spent_usd,
        usd("600")
    );
    let day_later = T0 + DAY_MS;
    assert_eq!(
        s.budget_usage(agent, day_later).await.unwrap(),
        Usage24h::default()
    );
    assert_eq!(
        s.budget_reserve(reservation("d-2", agent, "1000", day_later, "1000", 100))
            .await
            .unwrap(),
        ReserveOutcome::Reserved
    );

    // Hourly: the count trips at exactly max_tx_per_hour.
    let h = new_agent(s, "hourly@example.com", 2).await;
    for i in 0..3 {
        let r = reservation(&format!("h-{i}"), h, "1", T0 + i, "1000", 3);
        assert_eq!(s.budget_reserve(r).await.unwrap(), ReserveOutcome::Reserved);
    }
    assert_eq!(
        s.budget_reserve(reservation("h-3", h, "1", T0 + 3, "1000", 3))
            .await
            .unwrap(),
        ReserveOutcome::OverHourly { count: 3 }
    );
    // A released one stops counting.
    assert!(s.budget_release("h-1").await.unwrap());
    assert_eq!(
        s.budget_reserve(reservation("h-4", h, "1", T0 + 4, "1000", 3))
            .await
            .unwrap(),
        ReserveOutcome::Reserved
    );
    assert_eq!(
        s.budget_reserve(reservation("h-5", h, "1", T0 + 5, "1000", 3))
            .await
            .unwrap(),
        ReserveOutcome::OverHourly { count: 3 }
    );
    // One hour after h-0 it has left the hour (but not the day).
    let later = T0 + HOUR_MS;
    assert_eq!(
        s.budget_usage(h, later).await.unwrap(),
        Usage24h {
            spent_usd: usd("3"),
            tx_last_hour: 2
        }
    );
    assert_eq!(
        s.budget_reserve(reservation("h-6", h, "1", later, "1000", 3))
            .await
            .unwrap(),
        ReserveOutcome::Reserved
    );
    assert_eq!(
        s.budget_reserve(reservation("h-7", h, "1", later, "1000", 3))
            .await
            .unwrap(),
        ReserveOutcome::OverHourly { count: 3 }
    );
    // A zero hourly limit refuses everything.
    assert_eq!(
        s.budget_reserve(reservation("h-8", h, "0", later, "1000", 0))
            .await
            .unwrap(),
        ReserveOutcome::OverHourly { count: 3 }
    );
}

async fn budget_buckets_cap_their_share_and_count_in_the_whole(fx: &Fixture) {
    let agent = new_agent(&*fx.store, "buckets@example.com", 1).await;
    let other = fx.reopen().await;
    let in_bucket = |id: &str, key: &str, amount: &str, at: i64| {
        let mut r = reservation(id, agent, amount, at, "100", 1000);
        r.bucket = Some(Bucket {
            key: key.into(),
            daily_cap: usd("1"),
        });
        r
    };
    // 20 concurrent 0.1 USD reservations in one bucket capped at 1 USD, split across two store
    // handles: exactly ten fit.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let s = if i % 2 == 0 {
            fx.store.clone()
        } else {
            other.clone()
        };
        let id = format!("b-{i}");
        let r = in_bucket(&id, "x402:a.example", "0.1", T0 + i);
        tasks.spawn(async move { (id, s.budget_reserve(r).await.unwrap()) });
    }
    let mut fitted = vec![];
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            (id, ReserveOutcome::Reserved) => fitted.push(id),
            (_, ReserveOutcome::OverBucket { spent }) => assert_eq!(spent, usd("1")),
            (_, other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(fitted.len(), 10);
    let s = &*fx.store;
    // Another bucket has its own share; a release frees room in its bucket.
    assert_eq!(
        s.budget_reserve(in_bucket("c-1", "x402:b.example", "1", T0 + 30))
            .await
            .unwrap(),
        ReserveOutcome::Reserved
    );
    assert!(s.budget_release(&fitted[0]).await.unwrap());
    assert_eq!(
        s.budget_reserve(in_bucket("b-20", "x402:a.example", "0.1", T0 + 31))
            .await
            .unwrap(),
        ReserveOutcome::Reserved
    );
    // Bucketed spend counts against the agent's whole budget too (2 USD of it now)...
    assert_eq!(
        s.budget_usage(agent, T0 + 40).await.unwrap().spent_usd,
        usd("2")
    );
    let whole = s
        .budget_reserve(reservation(
            "w-1",
            agent,
            "98.000000000000000001",
            T0 + 40,
            "100",
            1000,
        ))
        .await
        .unwrap();
    assert_eq!(whole, ReserveOutcome::OverDaily { spent: usd("2") });
    // ...and a day later the bucket is empty again.
    assert_eq!(
        s.budget_reserve(in_bucket("b-21", "x402:a.example", "1", T0 + DAY_MS + 32))
            .await
            .unwrap(),
        ReserveOutcome::Reserved
    );
}

async fn budget_amounts_are_exact(fx: &Fixture) {
    let s = &*fx.store;
    let agent = new_agent(s, "exact@example.com", 1).await;
    for (i, a) in ["0.1", "0.2"].iter().enumerate() {
        let r = reservation(&format!("e-{i}"), agent, a, T0, "0.3", 10);
        assert_eq!(s.budget_reserve(r).await.unwrap(), ReserveOutcome::Reserved);
    }
    assert_eq!(
        s.budget_reserve(reservation(
            "e-2",
            agent,
            "0.000000000000000001",
            T0,
            "0.3",
            10
        ))
        .await
        .unwrap(),
        ReserveOutcome::OverDaily { spent: usd("0.3") }
    );
    // Amounts far beyond 64-bit atoms (10^12 USD = 10^30 atoms) sum exactly.
    let big = new_agent(s, "big@example.com", 2).await;
    let cap = "3000000000000.000000000000000002";
    for (i, a) in [
        "1000000000000.000000000000000001",
        "2000000000000.000000000000000001",
    ]
    .iter()
    .enumerate()
    {
        let r = reservation(&format!("big-{i}"), big, a, T0, cap, 10);
        assert_eq!(s.budget_reserve(r).await.unwrap(), ReserveOutcome::Reserved);
    }
    assert_eq!(
        s.budget_usage(big, T0).await.unwrap().spent_usd,
        usd("3000000000000.000000000000000002")
    );
    assert_eq!(
        s.budget_reserve(reservation(
            "big-2",
            big,
            "0.000000000000000001",
            T0,
            cap,
            10
        ))
        .await
        .unwrap(),
        ReserveOutcome::OverDaily {
            spent: usd("3000000000000.000000000000000002")
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Approvals

fn approval(id: &str, agent: AgentId, quorum: u32, created: i64, expires: i64) -> ApprovalRecord {
    ApprovalRecord {
        id: id.to_owned(),
        agent,
        action: "transfer".into(),
        request: serde_json::json!({
            "intent": {"chain": "solana", "to": "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin",
                       "amount": "1.5", "asset": "SOL"},
            "tx": "AQIDBA==",
            "nested": {"z": [1, {"b": 2, "a": 1}], "f": 0.1, "big": u64::MAX}
        }),
        tx_hash: hex::encode(custos_core::sha256(id.as_bytes())),
        policy_version: 7,
        usd: Some(usd("612.123456789012345678")),
        quorum,
        created_at_ms: created,
        expires_at_ms: expires,
        status: ApprovalStatus::Pending,
        approvers: Vec::new(),
        rejected_by: None,
    }
}

async fn approvals_create_read_and_list(fx: &Fixture) {
    let s = &*fx.store;
    let agent = new_agent(s, "parked@example.com", 1).await;
    let a = approval("ap-a", agent, 1, T0 + 2, T0 + HOUR_MS);
    let mut b = approval("ap-b", agent, 2, T0 + 1, T0 + HOUR_MS);
    b.usd = None;
    b.request = serde_json::json!({"message": "hello"});
    s.create_approval(a.clone()).await.unwrap();
    s.create_approval(b.clone()).await.unwrap();
    assert!(matches!(
        s.create_approval(a.clone()).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.approval("ap-a").await.unwrap(), Some(a.clone()));
    assert_eq!(s.approval("ap-b").await.unwrap(), Some(b.clone()));
    assert_eq!(s.approval("nope").await.unwrap(), None);

    // Oldest first, filtered by status, limited.
    assert_eq!(
        s.list_approvals(None, 10).await.unwrap(),
        vec![b.clone(), a.clone()]
    );
    assert_eq!(s.list_approvals(None, 1).await.unwrap(), vec![b.clone()]);
    assert_eq!(
        s.list_approvals(Some(ApprovalStatus::Pending), 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        s.vote_approval("ap-a", "op-1", true, T0 + 3).await.unwrap(),
        VoteOutcome::Approved
    );
    let approved = s
        .list_approvals(Some(ApprovalStatus::Approved), 10)
        .await
        .unwrap();
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0].id, "ap-a");
    assert_eq!(approved[0].approvers, vec!["op-1".to_owned()]);
    assert_eq!(
        s.list_approvals(Some(ApprovalStatus::Pending), 10)
            .await
            .unwrap(),
        vec![b]
    );
    assert!(s
        .list_approvals(Some(ApprovalStatus::Executed), 10)
        .await
        .unwrap()
        .is_empty());
}

async fn approvals_quorum_counts_each_operator_once_and_claim_is_single_use(fx: &Fixture) {
    let s = &*fx.store;
    let agent = new_agent(s, "quorum@example.com", 1).await;
    let rec = approval("ap-q", agent, 2, T0, T0 + HOUR_MS);
    s.create_approval(rec.clone()).await.unwrap();
    assert_eq!(
        s.vote_approval("nope", "op-a", true, T0).await.unwrap(),
        VoteOutcome::NotFound
    );
    assert_eq!(
        s.claim_approval("ap-q", T0).await.unwrap(),
        None,
        "not approved yet"
    );
    assert_eq!(
        s.vote_approval("ap-q", "op-a", true, T0 + 1).await.unwrap(),
        VoteOutcome::Counted {
            approvals: 1,
            quorum: 2
        }
    );
    // The same operator again — approving or rejecting — does not count.
    for approve in [true, false] {
        assert_eq!(
            s.vote_approval("ap-q", "op-a", approve, T0 + 2)
                .await
                .unwrap(),
            VoteOutcome::AlreadyVoted
        );
    }
    let still = s.approval("ap-q").await.unwrap().unwrap();
    assert_eq!(still.status, ApprovalStatus::Pending);
    assert_eq!(still.approvers, vec!["op-a".to_owned()]);
    assert_eq!(still.rejected_by, None);

    assert_eq!(
        s.vote_approval("ap-q", "op-b", true, T0 + 3).await.unwrap(),
        VoteOutcome::Approved
    );
    assert_eq!(
        s.vote_approval("ap-q", "op-c", false, T0 + 4)
            .await
            .unwrap(),
        VoteOutcome::NotPending {
            status: ApprovalStatus::Approved
        }
    );
    let claimed = s.claim_approval("ap-q", T0 + 5).await.unwrap().unwrap();
    assert_eq!(
        claimed,
        ApprovalRecord {
            status: ApprovalStatus::Executed,
            approvers: vec!["op-a".into(), "op-b".into()],
            ..rec
        }
    );
    assert_eq!(
        s.claim_approval("ap-q", T0 + 6).await.unwrap(),
        None,
        "single use"
    );
    assert_eq!(
        s.approval("ap-q").await.unwrap().unwrap().status,
        ApprovalStatus::Executed
    );
    assert_eq!(
        s.vote_approval("ap-q", "op-d", true, T0 + 7).await.unwrap(),
        VoteOutcome::NotPending {
            status: ApprovalStatus::Executed
        }
    );
}

async fn approvals_one_rejection_rejects(fx: &Fixture) {
    let s = &*fx.store;
    let agent = new_agent(s, "reject@example.com", 1).await;
    s.create_approval(approval("ap-r", agent, 3, T0, T0 + HOUR_MS))
        .await
        .unwrap();
    assert_eq!(
        s.vote_approval("ap-r", "op-a", true, T0 + 1).await.unwrap(),
        VoteOutcome::Counted {
            approvals: 1,
            quorum: 3
        }
    );
    assert_eq!(
        s.vote_approval("ap-r", "op-b", false, T0 + 2)
            .await
            .unwrap(),
        VoteOutcome::Rejected
    );
    assert_eq!(
        s.vote_approval("ap-r", "op-c", true, T0 + 3).await.unwrap(),
        VoteOutcome::NotPending {
            status: ApprovalStatus::Rejected
        }
    );
    let rec = s.approval("ap-r").await.unwrap().unwrap();
    assert_eq!(rec.status, ApprovalStatus::Rejected);
    assert_eq!(rec.rejected_by.as_deref(), Some("op-b"));
    assert_eq!(rec.approvers, vec!["op-a".to_owned()]);
    assert_eq!(s.claim_approval("ap-r", T0 + 4).await.unwrap(), None);
}

async fn approvals_expire(fx: &Fixture) {
    let s = &*fx.store;
    let agent = new_agent(s, "expire@example.com", 1).await;
    let end = T0 + 1000;
    // A vote at the expiry instant is refused and marks the record expired.
    s.create_approval(approval("ap-vote", agent, 1, T0, end))
        .await
        .unwrap();
    assert_eq!(
        s.vote_approval("ap-vote", "op-a", true, end).await.unwrap(),
        VoteOutcome::Expired
    );
    let rec = s.approval("ap-vote").await.unwrap().unwrap();
    assert_eq!(rec.status, ApprovalStatus::Expired);
    assert!(rec.approvers.is_empty());
    assert_eq!(
        s.vote_approval("ap-vote", "op-b", true, end).await.unwrap(),
        VoteOutcome::NotPending {
            status: ApprovalStatus::Expired
        }
    );

    // An approved record can only be claimed before its expiry.
    s.create_approval(approval("ap-late", agent, 1, T0, end))
        .await
        .unwrap();
    assert_eq!(
        s.vote_approval("ap-late", "op-a", true, end - 1)
            .await
            .unwrap(),
        VoteOutcome::Approved
    );
    assert_eq!(s.claim_approval("ap-late", end).await.unwrap(), None);

    // The sweep expires pending and approved records due at or before now, nothing else.
    s.create_approval(approval("ap-pending", agent, 2, T0, end))
        .await
        .unwrap();
    s.create_approval(approval("ap-future", agent, 1, T0, end + 1))
        .await
        .unwrap();
    s.create_approval(approval("ap-done", agent, 1, T0, end))
        .await
        .unwrap();
    s.vote_approval("ap-done", "op-a", false, T0).await.unwrap();
    assert_eq!(s.expire_approvals(end - 1).await.unwrap(), 0);
    assert_eq!(
        s.expire_approvals(end).await.unwrap(),
        2,
        "ap-late and ap-pending"
    );
    assert_eq!(s.expire_approvals(end).await.unwrap(), 0);
    let status = |id: &'static str| async move { s.approval(id).await.unwrap().unwrap().status };
    assert_eq!(status("ap-late").await, ApprovalStatus::Expired);
    assert_eq!(status("ap-pending").await, ApprovalStatus::Expired);
    assert_eq!(status("ap-future").await, ApprovalStatus::Pending);
    assert_eq!(status("ap-done").await, ApprovalStatus::Rejected);
    assert_eq!(
        s.claim_approval("ap-late", end - 1).await.unwrap(),
        None,
        "expired is final"
    );
}

async fn approvals_concurrent_claims_have_one_winner(fx: &Fixture) {
    let agent = new_agent(&*fx.store, "claim@example.com", 1).await;
    fx.store
        .create_approval(approval("ap-c", agent, 1, T0, T0 + HOUR_MS))
        .await
        .unwrap();
    assert_eq!(
        fx.store
            .vote_approval("ap-c", "op-a", true, T0)
            .await
            .unwrap(),
        VoteOutcome::Approved
    );
    let other = fx.reopen().await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let s = if i % 2 == 0 {
            fx.store.clone()
        } else {
            other.clone()
        };
        tasks.spawn(async move { s.claim_approval("ap-c", T0 + i).await.unwrap() });
    }
    let mut winners = 0;
    while let Some(r) = tasks.join_next().await {
        if let Some(rec) = r.unwrap() {
            assert_eq!(rec.status, ApprovalStatus::Executed);
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

async fn approvals_concurrent_votes_are_atomic(fx: &Fixture) {
    let agent = new_agent(&*fx.store, "votes@example.com", 1).await;
    let other = fx.reopen().await;
    let pick = |i: usize| {
        if i.is_multiple_of(2) {
            fx.store.clone()
        } else {
            other.clone()
        }
    };

    // One operator voting many times at once is counted once.
    fx.store
        .create_approval(approval("ap-dup", agent, 2, T0, T0 + HOUR_MS))
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let s = pick(i);
        tasks.spawn(async move { s.vote_approval("ap-dup", "op-a", true, T0).await.unwrap() });
    }
    let mut counted = 0;
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            VoteOutcome::Counted {
                approvals: 1,
                quorum: 2,
            } => counted += 1,
            VoteOutcome::AlreadyVoted => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(counted, 1);
    let rec = fx.store.approval("ap-dup").await.unwrap().unwrap();
    assert_eq!(rec.status, ApprovalStatus::Pending);
    assert_eq!(rec.approvers, vec!["op-a".to_owned()]);

    // Many operators at once: exactly one vote reaches quorum, no vote is lost or extra.
    fx.store
        .create_approval(approval("ap-many", agent, 3, T0, T0 + HOUR_MS))
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let s = pick(i);
        tasks.spawn(async move {
            s.vote_approval("ap-many", &format!("op-{i}"), true, T0)
                .await
                .unwrap()
        });
    }
    let (mut approved, mut counted, mut late) = (0, Vec::new(), 0);
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            VoteOutcome::Approved => approved += 1,
            VoteOutcome::Counted { approvals, .. } => counted.push(approvals),
            VoteOutcome::NotPending {
                status: ApprovalStatus::Approved,
            } => late += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    counted.sort_unstable();
    assert_eq!((approved, counted, late), (1, vec![1, 2], 5));
    let rec = fx.store.approval("ap-many").await.unwrap().unwrap();
    assert_eq!(rec.status, ApprovalStatus::Approved);
    assert_eq!(rec.approvers.len(), 3);
}
