//! The audit log: a record per authenticated request with the documented fields, a hash chain
//! linking them, append-only in the database, and `custos audit verify` naming an edited record.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{assert_error, Server};
use serde_json::{json, Value};
use sqlx::Connection as _;
use std::time::Duration;

const FIELDS: &[&str] = &[
    "id",
    "time_ms",
    "agent_id",
    "endpoint",
    "action",
    "params",
    "usd_amount",
    "token_amounts",
    "tx",
    "outcome",
    "status",
    "reason",
    "request_id",
    "prev_hash",
    "hash",
];

fn is_hex32(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether `text` names record `id` ("record 2", "record #2", "id 2", "id=2", "#2").
fn names_record(text: &str, id: u64) -> bool {
    let lower = text.to_lowercase();
    ["record ", "record #", "id ", "id=", "id: ", "#"]
        .iter()
        .any(|p| {
            let pat = format!("{p}{id}");
            lower
                .match_indices(&pat)
                .any(|(i, m)| !lower[i + m.len()..].starts_with(|c: char| c.is_ascii_digit()))
        })
}

/// All records through the operator API, oldest first.
async fn all_records(srv: &Server, op: &str) -> Vec<Value> {
    let r = srv.get("/v1/admin/audit?limit=1000", Some(op)).await;
    r.expect_status(200);
    let mut recs = r.json()["records"].as_array().expect("records").clone();
    recs.sort_by_key(|r| r["id"].as_u64().unwrap());
    recs
}

/// Polls until the server reports at least `n` records (group commit may lag a request).
async fn wait_records(srv: &Server, op: &str, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let recs = all_records(srv, op).await;
        if recs.len() >= n {
            return recs;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    all_records(srv, op).await
}

#[tokio::test]
async fn records_have_documented_fields_and_form_a_chain() {
    let srv = Server::start().await;
    let s = srv.login("audited@example.com").await;
    srv.get("/v1/wallets/me", Some(&s.token))
        .await
        .expect_status(200);
    let signed = srv.sign(&s.token, "audit me").await;
    signed.expect_status(200);
    let audit_id = signed.json()["audit_id"].as_u64().expect("audit_id");

    let mine = srv.my_audit(&s.token).await;
    assert!(!mine.is_empty());
    for rec in &mine {
        let obj = rec.as_object().expect("record is an object");
        for f in FIELDS {
            assert!(obj.contains_key(*f), "record lacks {f}: {rec}");
        }
        assert_eq!(
            rec["agent_id"],
            s.agent_id.as_str(),
            "only the agent's own records: {rec}"
        );
        assert!(
            is_hex32(&rec["hash"]) && is_hex32(&rec["prev_hash"]),
            "{rec}"
        );
        assert!(
            rec["request_id"].as_str().is_some_and(|r| !r.is_empty()),
            "{rec}"
        );
        assert!(
            rec["time_ms"]
                .as_i64()
                .is_some_and(|t| t > 1_600_000_000_000),
            "{rec}"
        );
    }
    let sign_rec = mine
        .iter()
        .find(|r| r["id"].as_u64() == Some(audit_id))
        .unwrap_or_else(|| {
            panic!("no record with the audit_id {audit_id} the sign response gave: {mine:?}")
        });
    assert_eq!(sign_rec["action"], "sign");
    assert_eq!(sign_rec["outcome"], "success");
    assert_eq!(sign_rec["status"], 200);
    assert!(
        sign_rec["endpoint"]
            .as_str()
            .unwrap()
            .contains("/v1/wallets/me/actions"),
        "{sign_rec}"
    );
    assert!(
        mine.iter().any(|r| r["endpoint"]
            .as_str()
            .is_some_and(|e| e.contains("/v1/wallets/me"))
            && r["action"] != "sign"),
        "the GET /v1/wallets/me is recorded too: {mine:?}"
    );

    // The full chain through the operator API: ids 1..N without gaps, each linked to the last.
    let op = srv.operator_token("viewer");
    let all = wait_records(&srv, &op, mine.len()).await;
    assert_eq!(all[0]["id"], 1);
    assert_eq!(all[0]["prev_hash"].as_str().unwrap(), "0".repeat(64));
    for w in all.windows(2) {
        assert_eq!(
            w[1]["id"].as_u64().unwrap(),
            w[0]["id"].as_u64().unwrap() + 1,
            "gap in ids"
        );
        assert_eq!(
            w[1]["prev_hash"], w[0]["hash"],
            "broken link at {}",
            w[1]["id"]
        );
    }

    let v = srv.get("/v1/admin/audit/verify", Some(&op)).await;
    v.expect_status(200);
    let v = v.json();
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["records"].as_u64().unwrap() >= all.len() as u64, "{v}");
}

#[tokio::test]
async fn agent_sees_only_its_own_records_and_pagination_works() {
    let srv = Server::start().await;
    let alice = srv.login("alice@example.com").await;
    let bob = srv.login("bob@example.com").await;
    for i in 0..3 {
        srv.sign(&alice.token, &format!("a{i}"))
            .await
            .expect_status(200);
        srv.sign(&bob.token, &format!("b{i}"))
            .await
            .expect_status(200);
    }
    let a = srv.my_audit(&alice.token).await;
    let b = srv.my_audit(&bob.token).await;
    assert!(a.len() >= 3 && b.len() >= 3);
    assert!(
        a.iter().all(|r| r["agent_id"] == alice.agent_id.as_str()),
        "{a:?}"
    );
    assert!(
        b.iter().all(|r| r["agent_id"] == bob.agent_id.as_str()),
        "{b:?}"
    );

    let r = srv
        .get("/v1/wallets/me/audit?limit=2", Some(&alice.token))
        .await;
    r.expect_status(200);
    let page = r.json()["records"].as_array().unwrap().clone();
    assert_eq!(page.len(), 2, "limit=2");
    let mut ids: Vec<u64> = a.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    ids.sort_unstable();
    let after = ids[0];
    let r = srv
        .get(
            &format!("/v1/wallets/me/audit?after={after}&limit=1000"),
            Some(&alice.token),
        )
        .await;
    r.expect_status(200);
    let rest = r.json()["records"].as_array().unwrap().clone();
    assert!(
        rest.iter().all(|r| r["id"].as_u64().unwrap() > after),
        "after={after}: {rest:?}"
    );
    // Every earlier-seen record after the first is there (reading the audit log is itself
    // audited, so newer records may follow).
    let rest_ids: Vec<u64> = rest.iter().map(|r| r["id"].as_u64().unwrap()).collect();
    for id in &ids[1..] {
        assert!(
            rest_ids.contains(id),
            "after={after} lacks record {id}: {rest_ids:?}"
        );
    }
    assert!(!rest_ids.contains(&after));

    // Operator filter by agent.
    let op = srv.operator_token("viewer");
    let r = srv
        .get(
            &format!("/v1/admin/audit?agent_id={}&limit=1000", bob.agent_id),
            Some(&op),
        )
        .await;
    r.expect_status(200);
    let recs = r.json()["records"].as_array().unwrap().clone();
    assert!(!recs.is_empty());
    assert!(
        recs.iter().all(|r| r["agent_id"] == bob.agent_id.as_str()),
        "{recs:?}"
    );
}

#[tokio::test]
async fn rejections_after_authentication_are_audited() {
    let srv = Server::start().await;
    let s = srv.login("rejected@example.com").await;
    let r = srv
        .post(
            "/v1/wallets/me/actions/sign",
            Some(&s.token),
            &json!({"chain": "message", "message": "x", "unexpected": true}),
        )
        .await;
    let status = r.status;
    assert_error(&r, &[400, 422], "invalid_request");

    let op = srv.operator_token("admin");
    let fr = srv
        .post(
            &format!("/v1/admin/agents/{}/freeze", s.agent_id),
            Some(&op),
            &json!({}),
        )
        .await;
    assert!(
        (200..300).contains(&fr.status),
        "freeze: {} {}",
        fr.status,
        fr.text
    );
    let denied = srv.sign(&s.token, "while frozen").await;
    assert_eq!(denied.status, 403, "{}", denied.text);

    let recs = srv.my_audit(&s.token).await;
    assert!(
        recs.iter()
            .any(|r| r["outcome"] == "invalid" && r["status"] == status),
        "a validation error is recorded with outcome invalid: {recs:?}"
    );
    assert!(
        recs.iter()
            .any(|r| r["outcome"] == "denied" && r["status"] == 403),
        "a frozen denial is recorded with outcome denied: {recs:?}"
    );
}

#[tokio::test]
async fn edited_record_is_detected_by_audit_verify() {
    let srv = Server::start().await;
    let s = srv.login("tamper@example.com").await;
    for i in 0..3 {
        srv.sign(&s.token, &format!("m{i}"))
            .await
            .expect_status(200);
    }
    let op = srv.operator_token("admin");
    let before = wait_records(&srv, &op, 4).await;
    assert!(before.len() >= 4, "need several records: {before:?}");

    // Intact: exit 0 and the record count.
    let out = srv.cli(&["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "verify of an intact log failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let count = srv.get("/v1/admin/audit/verify", Some(&op)).await.json()["records"]
        .as_u64()
        .unwrap();
    assert!(
        stdout
            .split(|c: char| !c.is_ascii_digit())
            .any(|w| w == count.to_string()),
        "audit verify prints the record count {count}: {stdout:?}"
    );

    // Export: one JSON record per line, ids in order.
    let out = srv.cli(&["audit", "export"]);
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("export line is JSON"))
        .collect();
    assert!(
        lines.len() as u64 >= count,
        "export has {} lines, verify counted {count}",
        lines.len()
    );
    for (i, rec) in lines.iter().enumerate() {
        assert_eq!(rec["id"].as_u64(), Some(i as u64 + 1), "{rec}");
        assert!(is_hex32(&rec["hash"]), "{rec}");
    }

    // The database itself refuses edits and deletions.
    let url = format!("sqlite://{}", srv.data_dir.join("custos.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open custos.db");
    sqlx::query("PRAGMA busy_timeout = 10000")
        .execute(&mut db)
        .await
        .unwrap();
    let upd = sqlx::query("UPDATE audit SET status = 299 WHERE id = 2")
        .execute(&mut db)
        .await;
    assert!(upd.is_err(), "UPDATE on audit must fail");
    let del = sqlx::query("DELETE FROM audit WHERE id = 3")
        .execute(&mut db)
        .await;
    assert!(del.is_err(), "DELETE on audit must fail");
    let out = srv.cli(&["audit", "verify"]);
    assert!(out.status.success(), "still intact after refused edits");

    // An attacker with the file drops the trigger and edits record 2.
    sqlx::query("DROP TRIGGER audit_no_update")
        .execute(&mut db)
        .await
        .unwrap();
    let done = sqlx::query("UPDATE audit SET status = 299 WHERE id = 2")
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
    db.close().await.unwrap();

    let out = srv.cli(&["audit", "verify"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "verify must fail after an edit: {text}"
    );
    assert!(names_record(&text, 2), "verify names record 2: {text:?}");
    let v = srv.get("/v1/admin/audit/verify", Some(&op)).await;
    assert_ne!(
        v.json()["ok"],
        true,
        "the API's verify also sees the edit: {}",
        v.text
    );
}

/// SIGTERM to the whole process group (systemd's default, Ctrl-C, test harnesses) used to reach
/// the enclave at the same moment as the server, so the server's final checkpoint found the
/// custody boundary gone and a short-lived server never wrote a signed checkpoint. The enclave
/// now outlives the drain: the final checkpoint is signed and the chain verifies with it.
#[tokio::test]
async fn sigterm_to_the_process_group_still_signs_the_final_checkpoint() {
    let mut srv = Server::start().await;
    let s = srv.login("group-term@example.com").await;
    srv.sign(&s.token, "before shutdown")
        .await
        .expect_status(200);
    let status = srv.terminate_group(std::time::Duration::from_secs(20));
    assert!(
        status.is_some_and(|st| st.success()),
        "exit: {status:?}\n{}",
        srv.stderr()
    );
    assert!(
        !srv.stderr().contains("custody boundary unavailable"),
        "{}",
        srv.stderr()
    );
    let out = srv.cli(&["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.starts_with("ok: "), "{stdout}");
    assert!(!stdout.contains(" 0 signed checkpoints"), "{stdout}");
}

/// `custos audit verify` with its output as one text, and its exit code.
fn verify_cli(srv: &Server, extra: &[&str]) -> (Option<i32>, String, String) {
    let mut args = vec!["audit", "verify"];
    args.extend_from_slice(extra);
    let out = srv.cli(&args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whoever can write the database can re-chain the whole log and re-sign every checkpoint with
/// a key of their own. `audit verify` without a trusted key still passes such a log (and says
/// loudly that it only checked the key the database holds); with the enclave's identity key,
/// from `--trust-key` or from a saved attestation document, it fails naming the first
/// checkpoint's record.
#[tokio::test]
async fn a_log_re_signed_with_another_key_fails_against_the_trusted_key() {
    use custos_core::{AttestationDocument, AuditCheckpoint, StoredAudit};
    use ed25519_dalek::Signer as _;
    use sqlx::Row as _;

    // Checkpoints every 2 records, so the log has several and "the first" means something.
    let mut srv = Server::builder()
        .env("CUSTOS_AUDIT_CHECKPOINT_EVERY", "2")
        .start()
        .await;
    let s = srv.login("resigned@example.com").await;
    for i in 0..3 {
        srv.sign(&s.token, &format!("r{i}"))
            .await
            .expect_status(200);
    }
    // The enclave identity key, from the attestation endpoint; the document is kept in a file.
    let r = srv.get("/v1/attestation?nonce=0a0b0c0d", None).await;
    r.expect_status(200);
    let doc: AttestationDocument = serde_json::from_str(&r.text).expect("attestation document");
    let real_key = doc.public_key.clone();
    assert_eq!(real_key.len(), 64, "{}", r.text);
    let att_file = srv.root.join("attestation.json");
    std::fs::write(&att_file, &r.text).unwrap();
    let att = att_file.to_str().unwrap();
    // Stopping signs the final checkpoint, and no writer races the rewrite below.
    srv.stop();

    // (a) The intact log verifies under the enclave's key, and under the attestation.
    let (code, out, err) = verify_cli(&srv, &["--trust-key", &real_key]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with("ok: "), "{out}");
    assert!(out.contains(&format!("trusted key {real_key}")), "{out}");
    assert!(
        !out.contains("warning") && !err.contains("warning"),
        "{out}{err}"
    );
    assert!(!out.contains(" 0 signed checkpoints"), "{out}");
    let (code, out, err) = verify_cli(&srv, &["--trust-key", &real_key.to_uppercase()]);
    assert_eq!(code, Some(0), "uppercase hex is the same key: {out}{err}");
    let (code, out, err) = verify_cli(&srv, &["--trust-attestation", att]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains(&format!("trusted key {real_key}")), "{out}");
    // Without a trusted key: ok, with the warning on stderr and in the ok line.
    let (code, out, err) = verify_cli(&srv, &[]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.starts_with("ok: ") && out.contains("warning: no --trust-key"),
        "{out}"
    );
    assert!(err.contains("warning: no --trust-key"), "{err}");

    // (c) Bad trust inputs are refused, naming the flag and the reason, before any check.
    let mut bad = doc.clone();
    let mut sig = hex::decode(&bad.signature).unwrap();
    sig[0] ^= 1;
    bad.signature = hex::encode(sig);
    let bad_file = srv.root.join("attestation-bad.json");
    std::fs::write(&bad_file, serde_json::to_string(&bad).unwrap()).unwrap();
    let mut swapped = doc.clone();
    swapped.public_key = hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&[1u8; 32])
            .verifying_key()
            .to_bytes(),
    );
    let swapped_file = srv.root.join("attestation-swapped.json");
    std::fs::write(&swapped_file, serde_json::to_string(&swapped).unwrap()).unwrap();
    let not_json = srv.root.join("attestation-not-json.json");
    std::fs::write(&not_json, "not json").unwrap();
    let missing = srv.root.join("no-such-file.json");
    let not_hex = "g".repeat(64);
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec!["--trust-attestation", bad_file.to_str().unwrap()],
            "--trust-attestation",
            "bad signature",
        ),
        (
            vec!["--trust-attestation", swapped_file.to_str().unwrap()],
            "--trust-attestation",
            "does not verify",
        ),
        (
            vec!["--trust-attestation", not_json.to_str().unwrap()],
            "--trust-attestation",
            "not an attestation document",
        ),
        (
            vec!["--trust-attestation", missing.to_str().unwrap()],
            "--trust-attestation",
            "cannot read",
        ),
        (
            vec!["--trust-key", "abcd"],
            "--trust-key",
            "expected 64 hex characters",
        ),
        (
            vec!["--trust-key", &not_hex],
            "--trust-key",
            "not hexadecimal",
        ),
        (
            vec!["--trust-key", &real_key, "--trust-attestation", att],
            "--trust-key and --trust-attestation",
            "not both",
        ),
    ];
    for (args, flag, reason) in &cases {
        let (code, out, err) = verify_cli(&srv, args);
        assert_eq!(code, Some(1), "{args:?}: {out}{err}");
        assert!(
            err.contains(flag) && err.contains(reason),
            "{args:?} names {flag:?} and {reason:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(!out.starts_with("ok"), "{out}");
    }

    // (b) Rewrite the log as someone with write access to the database would: edit record 2,
    // re-chain every record after it, and re-sign every checkpoint with a key of their own.
    let out = srv.cli(&["audit", "export"]);
    assert!(out.status.success());
    let mut records: Vec<StoredAudit> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("export line is a record"))
        .collect();
    assert!(records.len() >= 4, "{records:?}");
    records[1].entry.status = 299;
    records[1].entry.reason = Some("rewritten".into());
    let mut prev = custos_core::audit::GENESIS_HASH;
    for r in &mut records {
        let h = r.entry.chain_hash(r.id, &prev);
        r.prev_hash = hex::encode(prev);
        r.hash = hex::encode(h);
        prev = h;
    }
    let url = format!("sqlite://{}", srv.data_dir.join("custos.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open custos.db");
    sqlx::query("PRAGMA busy_timeout = 10000")
        .execute(&mut db)
        .await
        .unwrap();
    for trigger in ["audit_no_update", "audit_checkpoints_no_update"] {
        sqlx::query(&format!("DROP TRIGGER {trigger}"))
            .execute(&mut db)
            .await
            .unwrap();
    }
    for r in &records {
        let done = sqlx::query(
            "UPDATE audit SET status = ?1, reason = ?2, prev_hash = ?3, hash = ?4 WHERE id = ?5",
        )
        .bind(i64::from(r.entry.status))
        .bind(r.entry.reason.clone())
        .bind(hex::decode(&r.prev_hash).unwrap())
        .bind(hex::decode(&r.hash).unwrap())
        .bind(r.id as i64)
        .execute(&mut db)
        .await
        .unwrap();
        assert_eq!(done.rows_affected(), 1);
    }
    let forger = ed25519_dalek::SigningKey::from_bytes(&[42u8; 32]);
    let forger_key = hex::encode(forger.verifying_key().to_bytes());
    let rows = sqlx::query("SELECT seq, checkpoint FROM audit_checkpoints ORDER BY seq")
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert!(
        rows.len() >= 2,
        "the server signed {} checkpoints",
        rows.len()
    );
    let first_seq: i64 = rows[0].get("seq");
    for row in &rows {
        let seq: i64 = row.get("seq");
        let old: AuditCheckpoint =
            serde_json::from_str(&row.get::<String, _>("checkpoint")).unwrap();
        assert_eq!(
            old.public_key, real_key,
            "stored checkpoints name the enclave key"
        );
        let head_hash = records[seq as usize - 1].hash.clone();
        let sig = forger.sign(&AuditCheckpoint::signed_bytes(
            old.seq,
            &head_hash,
            old.timestamp_ms,
        ));
        let forged = AuditCheckpoint {
            seq: old.seq,
            head_hash,
            timestamp_ms: old.timestamp_ms,
            public_key: forger_key.clone(),
            signature: hex::encode(sig.to_bytes()),
        };
        sqlx::query("UPDATE audit_checkpoints SET checkpoint = ?1 WHERE seq = ?2")
            .bind(serde_json::to_string(&forged).unwrap())
            .bind(seq)
            .execute(&mut db)
            .await
            .unwrap();
    }
    db.close().await.unwrap();

    // Internally consistent: plain verify passes, but says it only checked the database's key.
    let (code, out, err) = verify_cli(&srv, &[]);
    assert_eq!(code, Some(0), "the re-signed log is consistent: {out}{err}");
    assert!(out.starts_with("ok: "), "{out}");
    assert!(out.contains(&format!("by key {forger_key}")), "{out}");
    assert!(
        out.contains(
            "warning: no --trust-key or --trust-attestation given: checkpoints were checked only \
             against the first key found in the database"
        ),
        "{out}"
    );
    assert!(err.contains("warning: no --trust-key"), "{err}");

    // Against the enclave's key it fails, naming the first checkpoint's record and both keys.
    let first_seq = first_seq as u64;
    for args in [
        ["--trust-key", real_key.as_str()],
        ["--trust-attestation", att],
    ] {
        let (code, out, err) = verify_cli(&srv, &args);
        let text = format!("{out}{err}");
        assert_eq!(code, Some(2), "{args:?}: {text}");
        assert!(
            names_record(&text, first_seq),
            "{args:?} names record {first_seq}: {text}"
        );
        assert!(
            text.contains(&format!(
                "checkpoint signed by key {forger_key}, not the trusted key {real_key}"
            )),
            "{args:?}: {text}"
        );
    }
    // The forger's own key, given as trusted, passes: the flag pins, it does not guess.
    let (code, out, err) = verify_cli(&srv, &["--trust-key", &forger_key]);
    assert_eq!(code, Some(0), "{out}{err}");
}
