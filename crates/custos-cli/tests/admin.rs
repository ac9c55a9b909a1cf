//! Operator routes and roles: agent credentials refused on every operator route, operator
//! tokens refused on agent routes, API keys created, used and revoked, freeze and unfreeze.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{assert_error, Server, Session};
use reqwest::Method;
use serde_json::{json, Value};

/// Every operator route with a body it would accept (or at least parse).
fn operator_routes(agent_id: &str) -> Vec<(Method, String, Option<Value>)> {
    let a = agent_id;
    let key = uuid::Uuid::new_v4();
    vec![
        (Method::GET, "/v1/admin/agents".into(), None),
        (Method::GET, format!("/v1/admin/agents/{a}"), None),
        (Method::GET, format!("/v1/admin/agents/{a}/policy"), None),
        (
            Method::PUT,
            format!("/v1/admin/agents/{a}/policy"),
            Some(json!({"version": 1})),
        ),
        (
            Method::POST,
            format!("/v1/admin/agents/{a}/freeze"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/admin/agents/{a}/unfreeze"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/admin/agents/{a}/api-keys"),
            Some(json!({})),
        ),
        (
            Method::DELETE,
            format!("/v1/admin/agents/{a}/api-keys/{key}"),
            None,
        ),
        (Method::GET, "/v1/admin/audit".into(), None),
        (Method::GET, format!("/v1/admin/audit?agent_id={a}"), None),
        (Method::GET, "/v1/admin/audit/verify".into(), None),
    ]
}

async fn create_api_key(srv: &Server, op: &str, agent_id: &str) -> (String, String) {
    let r = srv
        .post(
            &format!("/v1/admin/agents/{agent_id}/api-keys"),
            Some(op),
            &json!({}),
        )
        .await;
    r.expect_status(201);
    let v = r.json();
    let key = v["api_key"].as_str().expect("api_key").to_string();
    let id = v["key_id"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v["key_id"].to_string());
    (key, id)
}

#[tokio::test]
async fn agent_credentials_are_refused_on_every_operator_route() {
    let srv = Server::builder()
        .env("CUSTOS_RATE_LIMIT_PER_IP_PER_MINUTE", "1000")
        .env("CUSTOS_RATE_LIMIT_PER_AGENT_PER_MINUTE", "1000")
        .start()
        .await;
    let s: Session = srv.login("agent@example.com").await;
    let admin = srv.operator_token("admin");
    let (api_key, _) = create_api_key(&srv, &admin, &s.agent_id).await;

    for (method, path, body) in operator_routes(&s.agent_id) {
        let what = format!("{method} {path}");
        let r = srv.call(method.clone(), &path, None, body.as_ref()).await;
        assert_eq!(r.status, 401, "{what} without a token: {}", r.text);
        assert_error(&r, &[401], "unauthorized");

        let r = srv
            .call(method.clone(), &path, Some("garbage-token"), body.as_ref())
            .await;
        assert_error(&r, &[401], "unauthorized");

        let r = srv
            .call(method.clone(), &path, Some(&s.token), body.as_ref())
            .await;
        assert_eq!(r.status, 403, "{what} with an agent JWT: {}", r.text);
        assert_error(&r, &[403], "forbidden");

        let r = srv
            .call(method.clone(), &path, Some(&api_key), body.as_ref())
            .await;
        assert_eq!(r.status, 403, "{what} with an agent API key: {}", r.text);
        assert_error(&r, &[403], "forbidden");
    }

    // The agent was not frozen and no key was made by any of that.
    let me = srv.get("/v1/wallets/me", Some(&s.token)).await;
    me.expect_status(200);
    assert_eq!(me.json()["frozen"], false);

    // The same routes with an admin token are neither 401 nor 403.
    for (method, path, body) in operator_routes(&s.agent_id) {
        if path.ends_with("/freeze") || method == Method::PUT {
            continue;
        }
        let r = srv
            .call(method.clone(), &path, Some(&admin), body.as_ref())
            .await;
        assert!(
            r.status != 401 && r.status != 403 && r.status < 500,
            "{method} {path} with an admin token: {} {}",
            r.status,
            r.text
        );
    }
}

#[tokio::test]
async fn operator_tokens_are_refused_on_agent_routes() {
    let srv = Server::start().await;
    srv.login("someone@example.com").await;
    for role in ["admin", "operator", "viewer"] {
        let op = srv.operator_token(role);
        for (method, path, body) in [
            (Method::GET, "/v1/wallets/me", None),
            (Method::GET, "/v1/wallets/me/audit", None),
            (
                Method::POST,
                "/v1/wallets/me/actions/sign",
                Some(json!({"chain": "message", "message": "x"})),
            ),
        ] {
            let r = srv
                .call(method.clone(), path, Some(&op), body.as_ref())
                .await;
            assert_eq!(r.status, 403, "{role} token on {method} {path}: {}", r.text);
            assert_error(&r, &[403], "forbidden");
        }
    }
}

#[tokio::test]
async fn roles_are_enforced() {
    let srv = Server::start().await;
    let s = srv.login("roles@example.com").await;
    let viewer = srv.operator_token("viewer");
    let operator = srv.operator_token("operator");
    let admin = srv.operator_token("admin");
    assert!(viewer != operator && operator != admin);

    // Viewers read but do not change.
    srv.get("/v1/admin/agents", Some(&viewer))
        .await
        .expect_status(200);
    srv.get(&format!("/v1/admin/agents/{}", s.agent_id), Some(&viewer))
        .await
        .expect_status(200);
    let r = srv
        .post(
            &format!("/v1/admin/agents/{}/api-keys", s.agent_id),
            Some(&viewer),
            &json!({}),
        )
        .await;
    assert_error(&r, &[403], "forbidden");
    let r = srv
        .post(
            &format!("/v1/admin/agents/{}/freeze", s.agent_id),
            Some(&viewer),
            &json!({}),
        )
        .await;
    assert_error(&r, &[403], "forbidden");
    assert_eq!(
        srv.get("/v1/wallets/me", Some(&s.token)).await.json()["frozen"],
        false
    );

    // Operators and admins create keys.
    create_api_key(&srv, &operator, &s.agent_id).await;
    create_api_key(&srv, &admin, &s.agent_id).await;

    // A bad role is refused by the CLI.
    let out = srv.cli(&["admin", "token", "--role", "superuser"]);
    assert!(!out.status.success(), "role superuser must be refused");
}

/// An API key limited to some scopes may ask only for what they cover — whatever the agent's
/// policy would allow — and says which scope is missing; a key without a list, and a session,
/// may ask for everything. Bad lists are refused naming `scopes`, and no key is created.
#[tokio::test]
async fn api_key_scopes_limit_what_a_key_may_ask_for() {
    let srv = Server::start().await;
    let s = srv.login("scoped@example.com").await;
    let op = srv.operator_token("operator");
    let keys_path = format!("/v1/admin/agents/{}/api-keys", s.agent_id);
    let created = srv
        .post(
            &keys_path,
            Some(&op),
            &json!({"scopes": ["wallet:read", "sign:message", "wallet:read"]}),
        )
        .await;
    created.expect_status(201);
    let v = created.json();
    assert_eq!(v["scopes"], json!(["wallet:read", "sign:message"]));
    let reader = v["api_key"].as_str().unwrap().to_owned();

    // Within its scopes.
    srv.get("/v1/wallets/me", Some(&reader))
        .await
        .expect_status(200);
    srv.get("/v1/wallets/me/balances", Some(&reader))
        .await
        .expect_status(200);
    srv.sign(&reader, "a message is sign:message")
        .await
        .expect_status(200);
    // Outside them: refused before anything is parsed, naming the scope.
    for (path, scope) in [
        ("/v1/wallets/me/policy", "policy:read"),
        ("/v1/wallets/me/audit", "audit:read"),
    ] {
        let e = assert_error(&srv.get(path, Some(&reader)).await, &[403], "scope_missing");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains(&format!("`{scope}`")),
            "{e}"
        );
    }
    let transfer = srv
        .post(
            "/v1/wallets/me/actions/transfer",
            Some(&reader),
            &json!({"chain": "solana", "to": "11111111111111111111111111111111", "asset": "SOL", "amount": "0.1"}),
        )
        .await;
    let e = assert_error(&transfer, &[403], "scope_missing");
    assert!(e["message"].as_str().unwrap().contains("`transfer`"), "{e}");
    // A chain transaction's `sign` needs `sign`, not `sign:message`.
    let tx = srv
        .post(
            "/v1/wallets/me/actions/sign",
            Some(&reader),
            &json!({"chain": "solana", "transaction": "AQ=="}),
        )
        .await;
    assert_error(&tx, &[403], "scope_missing");

    // A key without a list, and the session, may ask for everything.
    let (all, _) = create_api_key(&srv, &op, &s.agent_id).await;
    for token in [all.as_str(), s.token.as_str()] {
        srv.get("/v1/wallets/me/policy", Some(token))
            .await
            .expect_status(200);
        srv.get("/v1/wallets/me/audit", Some(token))
            .await
            .expect_status(200);
    }

    // The list shows each key's scopes (null: every scope).
    let listed = srv.get(&keys_path, Some(&op)).await;
    listed.expect_status(200);
    let scopes: Vec<Value> = listed.json()["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["scopes"].clone())
        .collect();
    assert_eq!(
        scopes,
        vec![json!(["wallet:read", "sign:message"]), Value::Null]
    );

    // Bad lists: named, and nothing created.
    for body in [
        json!({"scopes": []}),
        json!({"scopes": ["transfer", "root"]}),
        json!({"scopes": "transfer"}),
        json!({"scope": ["transfer"]}),
    ] {
        let r = srv.post(&keys_path, Some(&op), &body).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text);
    }
    let e = assert_error(
        &srv.post(&keys_path, Some(&op), &json!({"scopes": ["root"]}))
            .await,
        &[422],
        "invalid_request",
    );
    assert_eq!(e["field"], "scopes");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("`root` is not a scope"),
        "{e}"
    );
    let after = srv.get(&keys_path, Some(&op)).await;
    assert_eq!(after.json()["api_keys"].as_array().unwrap().len(), 2);

    // The CLI passes --scope through.
    let home = tempfile::tempdir().unwrap();
    let out = common::custos_command()
        .args([
            "api-keys",
            "create",
            &s.agent_id,
            "--scope",
            "transfer,wallet:read",
            "-o",
            "json",
        ])
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .env("CUSTOSCLI_URL", srv.base())
        .env("CUSTOSCLI_TOKEN", &op)
        .env_remove("CUSTOSCLI_PROFILE")
        .env_remove("CUSTOSCLI_PROFILES")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["scopes"], json!(["wallet:read", "transfer"]));
}

#[tokio::test]
async fn api_key_create_use_revoke() {
    let srv = Server::start().await;
    let s = srv.login("keyed@example.com").await;
    let op = srv.operator_token("operator");
    let (key, key_id) = create_api_key(&srv, &op, &s.agent_id).await;
    assert!(key.starts_with("cka_"), "api key format: {key}");
    assert!(key.len() >= 4 + 40, "a 256-bit key is long: {key}");
    let (key2, key_id2) = create_api_key(&srv, &op, &s.agent_id).await;
    assert_ne!(key, key2);
    assert_ne!(key_id, key_id2);

    // Used exactly like a JWT.
    let me = srv.get("/v1/wallets/me", Some(&key)).await;
    me.expect_status(200);
    assert_eq!(me.json()["agent_id"], s.agent_id.as_str());
    assert_eq!(me.json()["email"], s.email.as_str());
    srv.sign(&key, "signed with an api key")
        .await
        .expect_status(200);
    // The key survives a new JWT login (it is not a session).
    let s2 = srv.login("keyed@example.com").await;
    srv.get("/v1/wallets/me", Some(&key))
        .await
        .expect_status(200);

    // Near misses are refused.
    let mut tampered = key.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_error(
        &srv.get("/v1/wallets/me", Some(&tampered)).await,
        &[401],
        "unauthorized",
    );
    assert_error(
        &srv.get("/v1/wallets/me", Some(&format!("{key}x"))).await,
        &[401],
        "unauthorized",
    );
    assert_error(
        &srv.get("/v1/wallets/me", Some("cka_")).await,
        &[401],
        "unauthorized",
    );
    assert_error(
        &srv.get(&format!("/v1/wallets/me?api_key={key}"), None)
            .await,
        &[401],
        "unauthorized",
    );

    // The key's hash, not the key, is stored (the database, its WAL, anything in the data dir).
    let leaks = common::files_containing(&srv.data_dir, key.as_bytes());
    assert!(
        leaks.is_empty(),
        "the API key is stored in the clear in {leaks:?}"
    );

    // Revoke the first: it stops working, the second still works.
    let rb = srv
        .request(
            Method::DELETE,
            &format!("/v1/admin/agents/{}/api-keys/{key_id}", s.agent_id),
        )
        .bearer_auth(&op);
    let r = srv.send(rb).await;
    assert_eq!(r.status, 204, "revoke: {}", r.text);
    assert_error(
        &srv.get("/v1/wallets/me", Some(&key)).await,
        &[401],
        "unauthorized",
    );
    assert_error(
        &srv.sign(&key, "after revoke").await,
        &[401],
        "unauthorized",
    );
    srv.get("/v1/wallets/me", Some(&key2))
        .await
        .expect_status(200);
    srv.get("/v1/wallets/me", Some(&s2.token))
        .await
        .expect_status(200);

    // Revoking an unknown key, or a key of another agent, is 404.
    let other = srv.login("other@example.com").await;
    let rb = srv
        .request(
            Method::DELETE,
            &format!("/v1/admin/agents/{}/api-keys/{key_id2}", other.agent_id),
        )
        .bearer_auth(&op);
    assert_error(&srv.send(rb).await, &[404], "not_found");
    srv.get("/v1/wallets/me", Some(&key2))
        .await
        .expect_status(200);
    // An id of the right form that names no key.
    let unknown_key_id = {
        let mut k = key_id2.clone();
        let last = k.pop().unwrap();
        k.push(if last == '0' { '1' } else { '0' });
        k
    };
    let rb = srv
        .request(
            Method::DELETE,
            &format!("/v1/admin/agents/{}/api-keys/{unknown_key_id}", s.agent_id),
        )
        .bearer_auth(&op);
    assert_error(&srv.send(rb).await, &[404], "not_found");

    // Creating a key for an agent that does not exist is 404.
    let r = srv
        .post(
            &format!("/v1/admin/agents/{}/api-keys", uuid::Uuid::new_v4()),
            Some(&op),
            &json!({}),
        )
        .await;
    assert_error(&r, &[404], "not_found");
}

#[tokio::test]
async fn agents_listing_and_lookup() {
    let srv = Server::start().await;
    let a = srv.login("list-a@example.com").await;
    let b = srv.login("list-b@example.com").await;
    let op = srv.operator_token("viewer");
    let r = srv.get("/v1/admin/agents", Some(&op)).await;
    r.expect_status(200);
    assert!(
        r.text.contains(&a.agent_id) && r.text.contains(&b.agent_id),
        "{}",
        r.text
    );
    let r = srv
        .get(&format!("/v1/admin/agents/{}", a.agent_id), Some(&op))
        .await;
    r.expect_status(200);
    assert!(
        r.text.contains(&a.agent_id) && r.text.contains("list-a@example.com"),
        "{}",
        r.text
    );
    assert!(!r.text.contains(&b.agent_id));
    let r = srv
        .get(
            &format!("/v1/admin/agents/{}", uuid::Uuid::new_v4()),
            Some(&op),
        )
        .await;
    assert_error(&r, &[404], "not_found");
}

#[tokio::test]
async fn freeze_denies_actions_and_unfreeze_restores_them() {
    let srv = Server::start().await;
    let s = srv.login("frozen@example.com").await;
    let op = srv.operator_token("operator");
    srv.sign(&s.token, "before").await.expect_status(200);

    let r = srv
        .post(
            &format!("/v1/admin/agents/{}/freeze", s.agent_id),
            Some(&op),
            &json!({}),
        )
        .await;
    assert!(
        (200..300).contains(&r.status),
        "freeze: {} {}",
        r.status,
        r.text
    );
    assert_eq!(
        srv.get("/v1/wallets/me", Some(&s.token)).await.json()["frozen"],
        true
    );

    let r = srv.sign(&s.token, "during").await;
    assert_eq!(r.status, 403, "{}", r.text);
    let code = r.json()["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(code == "policy_denied" || code == "forbidden", "{}", r.text);
    assert_error(&r, &[403], &code);
    assert!(
        r.text.to_lowercase().contains("frozen"),
        "the reason mentions frozen: {}",
        r.text
    );
    assert!(r.json().get("signature").is_none());

    let r = srv
        .post(
            &format!("/v1/admin/agents/{}/unfreeze", s.agent_id),
            Some(&op),
            &json!({}),
        )
        .await;
    assert!(
        (200..300).contains(&r.status),
        "unfreeze: {} {}",
        r.status,
        r.text
    );
    assert_eq!(
        srv.get("/v1/wallets/me", Some(&s.token)).await.json()["frozen"],
        false
    );
    srv.sign(&s.token, "after").await.expect_status(200);
}

#[tokio::test]
async fn policy_get_and_invalid_put() {
    let srv = Server::start().await;
    let s = srv.login("policy@example.com").await;
    let op = srv.operator_token("admin");
    let path = format!("/v1/admin/agents/{}/policy", s.agent_id);
    let r = srv.get(&path, Some(&op)).await;
    r.expect_status(200);
    assert_eq!(r.json()["version"], 1, "{}", r.text);

    let rb = srv
        .request(Method::PUT, &path)
        .bearer_auth(&op)
        .json(&json!({"version": 1, "bogus_rule": true}));
    let r = srv.send(rb).await;
    let err = assert_error(&r, &[400, 422], "invalid_request");
    assert!(
        err["field"]
            .as_str()
            .is_some_and(|f| f.contains("bogus_rule")),
        "names the unknown field: {}",
        r.text
    );
    let rb = srv
        .request(Method::PUT, &path)
        .bearer_auth(&op)
        .json(&json!({"version": 1, "limits": {"per_tx_usd": -5}}));
    let r = srv.send(rb).await;
    let err = assert_error(&r, &[400, 422], "invalid_request");
    assert!(
        err["field"]
            .as_str()
            .is_some_and(|f| f.contains("per_tx_usd")),
        "names the bad field: {}",
        r.text
    );
}
