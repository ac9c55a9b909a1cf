//! The kill switch and freezes in the custody boundary, through the API and the CLI: an admin
//! engages the switch and every agent's signature is refused by the boundary itself (the
//! server's own records do not say the agents are frozen — the refusal comes from the
//! boundary); a viewer may look but not touch; releasing it leaves an agent frozen one by one
//! frozen; what the boundary holds survives a restart, and a boundary that lost its list is
//! told again at start which agents the database holds frozen.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{assert_error, Server};
use serde_json::json;

#[tokio::test]
async fn the_kill_switch_stops_every_signature_in_the_boundary() {
    let mut srv = Server::start().await;
    let (a, b) = (
        srv.login("switch-a@example.com").await,
        srv.login("switch-b@example.com").await,
    );
    let admin = srv.operator_token("admin");
    let viewer = srv.operator_token("viewer");
    let switch = |token: &str, engaged: bool| {
        let srv = &srv;
        let token = token.to_owned();
        async move {
            srv.call(
                reqwest::Method::POST,
                "/v1/admin/kill-switch",
                Some(&token),
                Some(&json!({ "engaged": engaged })),
            )
            .await
        }
    };

    // A viewer reads the state but cannot engage the switch.
    let r = srv.get("/v1/admin/kill-switch", Some(&viewer)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), json!({"engaged": false, "frozen_agents": []}));
    assert_error(&switch(&viewer, true).await, &[403], "forbidden");
    srv.sign(&b.token, "before").await.expect_status(200);

    // Engaged: nobody signs; the boundary is what refuses.
    let r = switch(&admin, true).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["engaged"], true);
    for s in [&a, &b] {
        let r = srv.sign(&s.token, "during").await;
        let e = assert_error(&r, &[403], "policy_denied");
        let reasons = e["details"]["reasons"].to_string();
        assert!(
            reasons.contains("custody_boundary") && reasons.contains("kill switch"),
            "{reasons}"
        );
        // The server's own record of the agent is not frozen: this is the boundary's doing.
        let me = srv.get("/v1/wallets/me", Some(&s.token)).await.json();
        assert_eq!(me["frozen"], false, "{me}");
    }
    // A bad body names the field, and changes nothing.
    let r = srv
        .call(
            reqwest::Method::POST,
            "/v1/admin/kill-switch",
            Some(&admin),
            Some(&json!({"engaged": "yes"})),
        )
        .await;
    assert_error(&r, &[422], "invalid_request");

    // One agent frozen on its own; the switch released: the other signs again, it does not.
    srv.freeze(&a.agent_id, &admin).await;
    let r = switch(&admin, false).await;
    assert_eq!(
        r.json(),
        json!({"engaged": false, "frozen_agents": [a.agent_id]})
    );
    srv.sign(&b.token, "after").await.expect_status(200);
    assert_error(&srv.sign(&a.token, "after").await, &[403], "policy_denied");

    // The CLI speaks it too.
    let out = common::custos_command()
        .args(["kill-switch", "status", "-o", "json"])
        .env("CUSTOSCLI_URL", srv.base())
        .env("CUSTOSCLI_TOKEN", &viewer)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, json!({"engaged": false, "frozen_agents": [a.agent_id]}));

    // A boundary that lost its list (a fresh enclave data dir) learns the frozen agent again at
    // start, from the database.
    srv.stop();
    std::fs::remove_file(srv.data_dir.join("enclave/frozen.json")).unwrap();
    srv.restart_with(None, &[]).await;
    let r = srv.get("/v1/admin/kill-switch", Some(&viewer)).await;
    assert_eq!(
        r.json(),
        json!({"engaged": false, "frozen_agents": [a.agent_id]}),
        "{}",
        r.text
    );

    // Audited, engage and release both.
    let r = srv
        .get("/v1/admin/audit?limit=1000", Some(&admin))
        .await
        .json();
    let actions: Vec<String> = r["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["action"].as_str().map(str::to_owned))
        .collect();
    assert!(
        actions.iter().any(|x| x == "admin.kill_switch.engage"),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|x| x == "admin.kill_switch.release"),
        "{actions:?}"
    );
}
