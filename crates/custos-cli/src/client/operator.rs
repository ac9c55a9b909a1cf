//! Operator commands against a server: agents, policies, freezes, approvals, API keys, signing
//! keys, the audit log (tail, export, verify over the API) and the boundary's attestation.
use super::args::{
    AgentsCmd, ApiKeysCmd, ApprovalsCmd, AttestationCmd, KeysCmd, PolicyRemoteCmd, Which,
};
use super::render::{cell, list, out, outln, show, time, Output, Table};
use super::{enc, read_document, Remote};
use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};
use std::io::Write as _;
use std::process::ExitCode;

/// Exit code of a verification that failed (a broken log, a document that does not verify).
const BROKEN: u8 = 2;

fn agents_table(agents: &[Value]) -> Table {
    let mut t = Table::new(&["agent_id", "email", "frozen", "policy", "solana", "evm"]);
    for a in agents {
        t.row(&[
            &a["agent_id"],
            &a["email"],
            &a["frozen"],
            &a["policy_version"],
            &a["addresses"]["solana"],
            &a["addresses"]["evm"],
        ]);
    }
    t
}

/// Every agent, following the `after` cursor.
async fn all_agents(r: &Remote) -> Result<Vec<Value>> {
    let mut out = vec![];
    let mut after: Option<String> = None;
    loop {
        let q = match &after {
            Some(a) => format!("?limit=1000&after={}", enc(a)),
            None => "?limit=1000".into(),
        };
        let page = r.get(&format!("/v1/admin/agents{q}")).await?;
        let agents = list(&page, "agents").to_vec();
        let Some(last) = agents.last() else { break };
        after = last["agent_id"].as_str().map(str::to_owned);
        let done = agents.len() < 1000;
        out.extend(agents);
        if done || after.is_none() {
            break;
        }
    }
    Ok(out)
}

/// `custos agents list|show`.
pub async fn agents(r: &Remote, cmd: AgentsCmd) -> Result<ExitCode> {
    match cmd {
        AgentsCmd::List => {
            let agents = all_agents(r).await?;
            show(r.output, &json!({"agents": agents}), |v| {
                agents_table(list(v, "agents"))
            });
        }
        AgentsCmd::Show { agent } => {
            let mut a = r.get(&format!("/v1/admin/agents/{}", enc(&agent))).await?;
            let keys = r
                .get(&format!("/v1/admin/agents/{}/keys", enc(&agent)))
                .await?;
            a["keys"] = keys["keys"].clone();
            show(r.output, &a, |v| {
                let mut t = Table::new(&["field", "value"]);
                for k in ["agent_id", "email", "frozen", "policy_version"] {
                    t.text_row(vec![k.into(), cell(&v[k])]);
                }
                t.text_row(vec!["created".into(), time(&v["created_at_ms"])]);
                if let Some(m) = v["addresses"].as_object() {
                    for (chain, addr) in m {
                        t.text_row(vec![format!("address.{chain}"), cell(addr)]);
                    }
                }
                for k in list(v, "keys") {
                    t.text_row(vec![
                        format!("key.{}", cell(&k["scheme"])),
                        format!(
                            "{} age {} d{}",
                            cell(&k["key_id"]),
                            cell(&k["age_days"]),
                            if k["rotation_due"] == json!(true) {
                                ", rotation due"
                            } else {
                                ""
                            }
                        ),
                    ]);
                }
                for k in list(v, "api_keys") {
                    let state = if k["revoked_at_ms"].is_null() {
                        "live".to_string()
                    } else {
                        format!("revoked {}", time(&k["revoked_at_ms"]))
                    };
                    t.text_row(vec![format!("api_key.{}", cell(&k["key_id"])), state]);
                }
                t
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `custos freeze|unfreeze AGENT|--all`.
pub async fn freeze(r: &Remote, which: Which, frozen: bool) -> Result<ExitCode> {
    let verb = if frozen { "freeze" } else { "unfreeze" };
    let ids: Vec<String> = match which.agent {
        Some(a) => vec![a],
        None => all_agents(r)
            .await?
            .iter()
            .filter(|a| a["frozen"] != json!(frozen))
            .filter_map(|a| a["agent_id"].as_str().map(str::to_owned))
            .collect(),
    };
    let mut done = vec![];
    for id in &ids {
        let rep = r
            .post(&format!("/v1/admin/agents/{}/{verb}", enc(id)), &json!({}))
            .await?;
        done.push(rep.body);
    }
    show(r.output, &json!({"agents": done}), |v| {
        let mut t = Table::new(&["agent_id", "frozen"]);
        for a in list(v, "agents") {
            t.row(&[&a["agent_id"], &a["frozen"]]);
        }
        t
    });
    Ok(ExitCode::SUCCESS)
}

/// `custos kill-switch engage|release|status`.
pub async fn kill_switch(r: &Remote, action: &str) -> Result<ExitCode> {
    let v = match action {
        "status" => r.get("/v1/admin/kill-switch").await?,
        other => {
            r.post(
                "/v1/admin/kill-switch",
                &json!({"engaged": other == "engage"}),
            )
            .await?
            .body
        }
    };
    show(r.output, &v, Table::fields);
    Ok(ExitCode::SUCCESS)
}

/// `custos alerts log|test`.
pub async fn alerts(r: &Remote, action: &str, after: u64) -> Result<ExitCode> {
    if action == "test" {
        let rep = r.post("/v1/admin/alerts/test", &json!({})).await?;
        show(r.output, &rep.body, Table::fields);
        return Ok(ExitCode::SUCCESS);
    }
    let v = r.get(&format!("/v1/admin/alerts?after={after}")).await?;
    show(r.output, &v, |v| {
        let mut t = Table::new(&[
            "id",
            "rule",
            "status",
            "attempts",
            "last_http_status",
            "key",
        ]);
        for a in list(v, "alerts") {
            t.row(&[
                &a["id"],
                &a["rule"],
                &a["status"],
                &a["attempts"],
                &a["last_http_status"],
                &a["key"],
            ]);
        }
        t
    });
    Ok(ExitCode::SUCCESS)
}

/// The decoded effects of a parked transaction, one line each.
fn effects_lines(e: &Value) -> Vec<(String, String)> {
    let mut out = vec![];
    for c in list(e, "changes") {
        let price = match &c["usd_price"] {
            Value::Null => " (no USD price)".to_string(),
            p => format!(" (at {} USD each)", cell(p)),
        };
        out.push((
            "balance change".into(),
            format!("{} {}{price}", cell(&c["delta"]), cell(&c["asset"])),
        ));
    }
    for r in list(e, "recipients") {
        out.push(("pays".into(), cell(r)));
    }
    for p in list(e, "programs") {
        out.push(("runs".into(), cell(p)));
    }
    for m in list(e, "methods") {
        out.push((
            "calls".into(),
            format!("{} on {}", cell(&m["selector"]), cell(&m["contract"])),
        ));
    }
    for d in list(e, "delegations") {
        out.push(("grants".into(), d.to_string()));
    }
    if !e["network_cost"].is_null() {
        out.push((
            "network cost".into(),
            format!(
                "{} base units of {}",
                cell(&e["network_cost"]["base_units"]),
                cell(&e["network_cost"]["asset"])
            ),
        ));
    }
    out
}

fn approval_table(v: &Value) -> Table {
    let mut t = Table::new(&["field", "value"]);
    for k in [
        "approval_id",
        "agent_id",
        "action",
        "status",
        "usd_value",
        "policy_version",
        "tx_hash",
    ] {
        t.text_row(vec![k.into(), cell(&v[k])]);
    }
    t.text_row(vec![
        "approvals".into(),
        format!("{} of {}", list(v, "approvers").len(), cell(&v["quorum"])),
    ]);
    t.text_row(vec!["created".into(), time(&v["created_at_ms"])]);
    t.text_row(vec!["expires".into(), time(&v["expires_at_ms"])]);
    if let Some(req) = v["request"].as_object() {
        for (k, x) in req.iter().filter(|(k, _)| *k != "effects") {
            t.text_row(vec![format!("request.{k}"), cell(x)]);
        }
    }
    for (k, x) in effects_lines(&v["request"]["effects"]) {
        t.text_row(vec![k, x]);
    }
    t
}

/// `custos approvals list|show|approve|reject`.
pub async fn approvals(r: &Remote, cmd: ApprovalsCmd) -> Result<ExitCode> {
    match cmd {
        ApprovalsCmd::List { status } => {
            let v = r
                .get(&format!("/v1/admin/approvals?status={}", enc(&status)))
                .await?;
            show(r.output, &v, |v| {
                let mut t = Table::new(&[
                    "approval_id",
                    "agent_id",
                    "action",
                    "usd",
                    "status",
                    "votes",
                    "expires",
                ]);
                for a in list(v, "approvals") {
                    t.text_row(vec![
                        cell(&a["approval_id"]),
                        cell(&a["agent_id"]),
                        cell(&a["action"]),
                        cell(&a["usd_value"]),
                        cell(&a["status"]),
                        format!("{}/{}", list(a, "approvers").len(), cell(&a["quorum"])),
                        time(&a["expires_at_ms"]),
                    ]);
                }
                t
            });
        }
        ApprovalsCmd::Show { id } => {
            let v = r.get(&format!("/v1/admin/approvals/{}", enc(&id))).await?;
            show(r.output, &v, approval_table);
        }
        ApprovalsCmd::Approve { id } => {
            let rep = r
                .post(
                    &format!("/v1/admin/approvals/{}/approve", enc(&id)),
                    &json!({}),
                )
                .await?;
            show(r.output, &rep.body, Table::fields);
        }
        ApprovalsCmd::Reject { id } => {
            let rep = r
                .post(
                    &format!("/v1/admin/approvals/{}/reject", enc(&id)),
                    &json!({}),
                )
                .await?;
            show(r.output, &rep.body, Table::fields);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `custos api-keys create|list|revoke`.
pub async fn api_keys(r: &Remote, cmd: ApiKeysCmd) -> Result<ExitCode> {
    match cmd {
        ApiKeysCmd::Create { agent, scopes } => {
            let body = if scopes.is_empty() {
                json!({})
            } else {
                json!({ "scopes": scopes })
            };
            let rep = r
                .post(&format!("/v1/admin/agents/{}/api-keys", enc(&agent)), &body)
                .await?;
            if r.output == Output::Table {
                eprintln!("the API key is shown once: store it now");
            }
            show(r.output, &rep.body, Table::fields);
        }
        ApiKeysCmd::List { agent } => {
            let v = r
                .get(&format!("/v1/admin/agents/{}/api-keys", enc(&agent)))
                .await?;
            show(r.output, &v, |v| {
                let mut t = Table::new(&["key_id", "created", "revoked", "scopes"]);
                for k in list(v, "api_keys") {
                    t.text_row(vec![
                        cell(&k["key_id"]),
                        time(&k["created_at_ms"]),
                        if k["revoked_at_ms"].is_null() {
                            "-".into()
                        } else {
                            time(&k["revoked_at_ms"])
                        },
                        match k["scopes"].as_array() {
                            None => "all".into(),
                            Some(s) => s.iter().map(cell).collect::<Vec<_>>().join(","),
                        },
                    ]);
                }
                t
            });
        }
        ApiKeysCmd::Revoke { agent, key_id } => {
            r.send(
                reqwest::Method::DELETE,
                &format!("/v1/admin/agents/{}/api-keys/{}", enc(&agent), enc(&key_id)),
                None,
                &[],
            )
            .await?;
            show(r.output, &json!({"revoked": key_id}), Table::fields);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `custos keys list|rotate`.
pub async fn keys(r: &Remote, cmd: KeysCmd) -> Result<ExitCode> {
    let table = |v: &Value| {
        let mut t = Table::new(&[
            "scheme",
            "key_id",
            "address",
            "age_days",
            "rotation_due",
            "status",
        ]);
        for k in list(v, "keys") {
            t.row(&[
                &k["scheme"],
                &k["key_id"],
                &k["address"],
                &k["age_days"],
                &k["rotation_due"],
                &k["status"],
            ]);
        }
        t
    };
    match cmd {
        KeysCmd::List { agent } => {
            let v = r
                .get(&format!("/v1/admin/agents/{}/keys", enc(&agent)))
                .await?;
            show(r.output, &v, table);
        }
        KeysCmd::Rotate { agent, scheme } => {
            let rep = r
                .post(
                    &format!(
                        "/v1/admin/agents/{}/keys/{}/rotate",
                        enc(&agent),
                        enc(&scheme)
                    ),
                    &json!({}),
                )
                .await?;
            show(r.output, &rep.body, Table::fields);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `custos policy get|set|diff|dry-run`.
pub async fn policy(r: &Remote, cmd: PolicyRemoteCmd) -> Result<ExitCode> {
    match cmd {
        PolicyRemoteCmd::Get { agent, envelope } => {
            let path = if envelope {
                "policy/envelope"
            } else {
                "policy"
            };
            let v = r
                .get(&format!("/v1/admin/agents/{}/{path}", enc(&agent)))
                .await?;
            // A policy reads best as the JSON it is, tables or not.
            outln!("{}", serde_json::to_string_pretty(&v)?);
        }
        PolicyRemoteCmd::Set { agent, file } => {
            let body = read_document(&file)?;
            let rep = r
                .send(
                    reqwest::Method::PUT,
                    &format!("/v1/admin/agents/{}/policy", enc(&agent)),
                    Some(&body),
                    &[],
                )
                .await?;
            if r.output == Output::Table && rep.status == 202 {
                eprintln!("accepted, not yet in force: it loosens the policy and waits out the owners' delay");
            }
            show(r.output, &rep.body, Table::fields);
        }
        PolicyRemoteCmd::Diff { agent, file } => {
            let v = dry_run(r, &agent, &file).await?;
            match r.output {
                Output::Json => outln!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"changes": v["changes"], "loosens": v["loosens"]})
                    )?
                ),
                Output::Table => {
                    let loosens: Vec<String> = list(&v, "loosens").iter().map(cell).collect();
                    let changes = list(&v, "changes");
                    if changes.is_empty() {
                        outln!("no change");
                    }
                    for c in changes {
                        let c = cell(c);
                        let field = c.split(':').next().unwrap_or("");
                        let mark = if loosens
                            .iter()
                            .any(|l| l == field || l.starts_with(&format!("{field}.")))
                        {
                            "+"
                        } else {
                            "~"
                        };
                        outln!("{mark} {c}");
                    }
                    if !loosens.is_empty() {
                        outln!("(+ loosens: needs the owners' quorum and waits out their delay)");
                    }
                }
            }
        }
        PolicyRemoteCmd::DryRun { agent, file } => {
            let v = dry_run(r, &agent, &file).await?;
            show(r.output, &v, Table::fields);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn dry_run(r: &Remote, agent: &str, file: &std::path::Path) -> Result<Value> {
    let body = read_document(file)?;
    Ok(r.post(
        &format!("/v1/admin/agents/{}/policy/dry-run", enc(agent)),
        &body,
    )
    .await?
    .body)
}

/// Every audit record after `after`, page by page, as the server returns them.
async fn audit_pages(
    r: &Remote,
    agent: Option<&str>,
    mut after: u64,
    mut each: impl FnMut(Value) -> Result<()>,
) -> Result<u64> {
    loop {
        let mut q = format!("/v1/admin/audit?limit=1000&after={after}");
        if let Some(a) = agent {
            q.push_str(&format!("&agent_id={}", enc(a)));
        }
        let page = r.get(&q).await?;
        let recs = list(&page, "records").to_vec();
        let n = recs.len();
        for rec in recs {
            after = rec["id"]
                .as_u64()
                .context("an audit record without an id")?;
            each(rec)?;
        }
        if n < 1000 {
            return Ok(after);
        }
    }
}

/// `custos audit export --remote`: every record as one JSON line.
pub async fn audit_export(r: &Remote, out: Option<std::path::PathBuf>) -> Result<ExitCode> {
    let mut w: Box<dyn std::io::Write> = match &out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    audit_pages(r, None, 0, |rec| {
        serde_json::to_writer(&mut w, &rec)?;
        w.write_all(b"\n")?;
        Ok(())
    })
    .await?;
    w.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn audit_line(rec: &Value) -> Vec<String> {
    vec![
        cell(&rec["id"]),
        time(&rec["time_ms"]),
        cell(&rec["action"]),
        cell(&rec["outcome"]),
        cell(&rec["status"]),
        cell(&rec["agent_id"]),
        cell(&rec["usd_amount"]),
        cell(&rec["tx"]),
    ]
}

/// `custos audit tail --remote`. Every read of the log is itself audited: the records of this
/// command's own reads are left out (matched by request id), or `--follow` would print its own
/// polling forever.
pub async fn audit_tail(
    r: &Remote,
    agent: Option<&str>,
    n: usize,
    follow: bool,
) -> Result<ExitCode> {
    let own = std::cell::RefCell::new(std::collections::HashSet::<String>::new());
    tail(r.output, n, follow, async |after| {
        let mut q = format!("/v1/admin/audit?limit=1000&after={after}");
        if let Some(a) = agent {
            q.push_str(&format!("&agent_id={}", enc(a)));
        }
        let rep = r.send(reqwest::Method::GET, &q, None, &[]).await?;
        if let Some(id) = rep.request_id {
            own.borrow_mut().insert(id);
        }
        let own = own.borrow();
        Ok(list(&rep.body, "records")
            .iter()
            .filter(|rec| {
                !rec["request_id"]
                    .as_str()
                    .is_some_and(|id| own.contains(id))
            })
            .cloned()
            .collect())
    })
    .await
}

/// `audit tail` from any source of the log: `page(after)` returns up to 1000 records after id
/// `after`. Prints the last `n`, then (with `follow`) new ones every second.
pub async fn tail(
    output: Output,
    n: usize,
    follow: bool,
    mut page: impl AsyncFnMut(u64) -> Result<Vec<Value>>,
) -> Result<ExitCode> {
    let headers = [
        "id", "time", "action", "outcome", "status", "agent_id", "usd", "tx",
    ];
    let print = |recs: &[Value], with_header: bool| match output {
        Output::Json => {
            for rec in recs {
                outln!("{rec}");
            }
        }
        Output::Table => {
            let mut t = Table::new(&headers);
            for rec in recs {
                t.text_row(audit_line(rec));
            }
            let s = t.to_string();
            let body = if with_header {
                s.as_str()
            } else {
                s.split_once('\n').map(|x| x.1).unwrap_or("")
            };
            out(body);
        }
    };
    let mut after = 0;
    let mut last: std::collections::VecDeque<Value> = Default::default();
    let mut first = true;
    loop {
        loop {
            let recs = page(after).await?;
            let full = recs.len() == 1000;
            for rec in recs {
                after = rec["id"]
                    .as_u64()
                    .context("an audit record without an id")?;
                last.push_back(rec);
                if first && last.len() > n {
                    last.pop_front();
                }
            }
            if !full {
                break;
            }
            if !first {
                print(last.make_contiguous(), false);
                last.clear();
            }
        }
        if first || !last.is_empty() {
            print(last.make_contiguous(), first);
        }
        last.clear();
        first = false;
        if !follow {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// `custos audit verify --remote`: fetches the whole log and the signed checkpoints and checks
/// them here — the chain, and every checkpoint against the trusted boundary key (`trusted`, or
/// else the key of a fresh attestation the server returns) — then reports the server's own
/// verdict beside it.
pub async fn audit_verify(r: &Remote, trusted: Option<String>) -> Result<ExitCode> {
    let (key, whence) = match trusted {
        Some(k) => (k, "the trusted key"),
        None => {
            let (doc, _) = fetch_attestation(r).await?;
            (
                doc.public_key.to_ascii_lowercase(),
                "the key of the server's attestation",
            )
        }
    };
    let checkpoints = r.get("/v1/admin/audit/checkpoints").await?;
    let checkpoints = list(&checkpoints, "checkpoints").to_vec();
    let ended = std::cell::Cell::new(false);
    let out = custos_server::audit::verify_pages(
        |after| {
            let ended = &ended;
            async move {
                // Each page read is audited too, so the log grows while it is read: it ends at
                // the first short page.
                if ended.get() {
                    return Ok::<_, anyhow::Error>(vec![]);
                }
                let page = r
                    .get(&format!("/v1/admin/audit?limit=1000&after={after}"))
                    .await?;
                let recs: Vec<custos_core::StoredAudit> =
                    serde_json::from_value(page["records"].clone())
                        .context("the server sent audit records this client cannot read")?;
                ended.set(recs.len() < 1000);
                Ok(recs)
            }
        },
        &checkpoints,
        custos_server::audit::Trust::Key(&key),
        |cp| custos_custody::verify_checkpoint(cp).is_ok(),
    )
    .await?;
    let server = r.get("/v1/admin/audit/verify").await?;
    let (ok, report) = match &out {
        Ok(rep) => (
            true,
            json!({"ok": true, "records": rep.records, "checkpoints": rep.checkpoints, "covered": rep.covered, "key": key, "server": server}),
        ),
        Err(b) => (
            false,
            json!({"ok": false, "broken_at": b.id, "reason": b.reason, "server": server}),
        ),
    };
    match r.output {
        Output::Json => outln!("{}", serde_json::to_string_pretty(&report)?),
        Output::Table => match &out {
            Ok(rep) => {
                let mut line = format!(
                    "ok: {} records, {} signed checkpoints by {whence} {key} (checked here)",
                    rep.records, rep.checkpoints
                );
                if rep.covered < rep.records {
                    line.push_str(&format!(
                        "; records {}-{} are not covered by a signed checkpoint yet",
                        rep.covered + 1,
                        rep.records
                    ));
                }
                outln!("{line}");
                outln!("server's own verdict: {}", server);
            }
            Err(b) => eprintln!("BROKEN at record {}: {}", b.id, b.reason),
        },
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(BROKEN)
    })
}

/// Fetches `GET /v1/attestation` with a fresh random nonce and checks that the document verifies
/// and echoes that nonce; returns it and its raw JSON.
async fn fetch_attestation(r: &Remote) -> Result<(custos_core::AttestationDocument, Value)> {
    let nonce: [u8; 32] = rand::random();
    let nonce_hex = hex::encode(nonce);
    let raw = r.get(&format!("/v1/attestation?nonce={nonce_hex}")).await?;
    let doc: custos_core::AttestationDocument = serde_json::from_value(raw.clone())
        .context("the server's answer is not an attestation document")?;
    if !doc.nonce.eq_ignore_ascii_case(&nonce_hex) {
        bail!("the attestation does not echo the nonce sent: it is not fresh");
    }
    crate::commands::verify_attestation(&doc, &nonce)
        .map_err(|e| anyhow::anyhow!("the attestation does not verify: {e}"))?;
    Ok((doc, raw))
}

/// `custos attestation verify`.
pub async fn attestation(r: &Remote, cmd: AttestationCmd) -> Result<ExitCode> {
    let AttestationCmd::Verify {
        expect_measurement,
        save,
    } = cmd;
    let (doc, raw) = match fetch_attestation(r).await {
        Ok(x) => x,
        Err(e)
            if e.downcast_ref::<super::ApiFailure>().is_some()
                || e.downcast_ref::<super::Unreachable>().is_some() =>
        {
            return Err(e)
        }
        Err(e) => {
            eprintln!("NOT VERIFIED: {e:#}");
            return Ok(ExitCode::from(BROKEN));
        }
    };
    let measured = match &expect_measurement {
        Some(m) if !m.trim().eq_ignore_ascii_case(&doc.measurement) => {
            eprintln!(
                "NOT VERIFIED: measurement {} is not the expected {}",
                doc.measurement,
                m.trim()
            );
            return Ok(ExitCode::from(BROKEN));
        }
        Some(_) => "matches the expected measurement",
        None => "not compared (give --expect-measurement)",
    };
    if let Some(p) = save {
        std::fs::write(&p, serde_json::to_vec_pretty(&raw)?)
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    let report = json!({
        "verified": true,
        "format": doc.format,
        "hardware_backed": doc.hardware_backed,
        "measurement": doc.measurement,
        "measurement_check": measured,
        "public_key": doc.public_key,
        "timestamp_ms": doc.timestamp_ms,
    });
    show(r.output, &report, Table::fields);
    if !doc.hardware_backed && r.output == Output::Table {
        eprintln!(
            "note: a `{}` document is signed by the boundary's own key; no hardware vouches for it",
            doc.format
        );
    }
    Ok(ExitCode::SUCCESS)
}
