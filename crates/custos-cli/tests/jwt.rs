//! JWT sessions: the token's shape and key publication, and every way a forged, tampered,
//! expired, superseded or algorithm-confused token must be refused.
//!
//! Forgeries are signed with the server's real key (read from `jwt-signing-key.json`) so that the
//! only thing wrong with each is the property under test; a control forgery with the genuine
//! claims must be accepted, which proves the forging itself is right.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{
    assert_error, b64url, b64url_decode, decode_jwt, forge_eddsa, forge_hs256, hmac_sha256,
    now_secs, Server,
};
use serde_json::{json, Value};

async fn assert_refused(srv: &Server, token: &str, what: &str) {
    let r = srv.get("/v1/wallets/me", Some(token)).await;
    assert_eq!(
        r.status, 401,
        "{what}: expected 401, got {}: {}",
        r.status, r.text
    );
    assert_error(&r, &[401], "unauthorized");
}

#[test]
fn hmac_sha256_matches_rfc4231() {
    // RFC 4231 test case 2.
    let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
    assert_eq!(
        hex::encode(mac),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[tokio::test]
async fn token_shape_and_jwks() {
    let srv = Server::start().await;
    let s = srv.login("shape@example.com").await;
    let (header, claims) = decode_jwt(&s.token);
    assert_eq!(header["alg"], "EdDSA", "{header}");
    assert_eq!(header["typ"], "JWT", "{header}");
    assert_eq!(claims["iss"], "custos", "{claims}");
    assert_eq!(claims["aud"], "custos-api", "{claims}");
    assert_eq!(claims["sub"], s.agent_id.as_str(), "{claims}");
    assert!(
        claims["jti"].as_str().is_some_and(|j| !j.is_empty()),
        "{claims}"
    );
    let iat = claims["iat"].as_i64().expect("iat");
    let exp = claims["exp"].as_i64().expect("exp");
    assert!((iat - now_secs()).abs() < 300, "iat {iat} is not now");
    assert_eq!(
        exp - iat,
        168 * 3600,
        "default session_expiration_hours is 168"
    );

    let key = srv.jwt_key();
    assert_eq!(header["kid"], key.kid.as_str());

    let r = srv.get("/v1/auth/jwks", None).await;
    r.expect_status(200);
    let jwks = r.json();
    let keys = jwks["keys"].as_array().expect("keys");
    let jwk = keys
        .iter()
        .find(|k| k["kid"] == key.kid.as_str())
        .unwrap_or_else(|| panic!("kid {} not in JWKS {jwks}", key.kid));
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert_eq!(jwk["alg"], "EdDSA");
    assert_eq!(jwk["use"], "sig");
    let x = jwk["x"].as_str().unwrap();
    assert_eq!(x, b64url(key.signing.verifying_key().as_bytes()));
    for k in keys {
        assert!(
            k.get("d").is_none(),
            "JWKS must never carry the private part: {k}"
        );
    }

    // The token verifies under the published key.
    let pk =
        ed25519_dalek::VerifyingKey::from_bytes(&b64url_decode(x).try_into().unwrap()).unwrap();
    let (input, sig) = s.token.rsplit_once('.').unwrap();
    let sig = ed25519_dalek::Signature::from_slice(&b64url_decode(sig)).unwrap();
    pk.verify_strict(input.as_bytes(), &sig)
        .expect("token signature verifies under JWKS key");

    // The key file is owner-only.
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(srv.data_dir.join("jwt-signing-key.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o077,
        0,
        "jwt-signing-key.json mode {:o}",
        mode & 0o777
    );
}

#[tokio::test]
async fn forged_claims_are_refused_but_genuine_claims_accepted() {
    let srv = Server::start().await;
    let s = srv.login("forge@example.com").await;
    let (header, claims) = decode_jwt(&s.token);
    let key = srv.jwt_key();

    // Control: the same claims re-signed by us are accepted (EdDSA is deterministic, so this is
    // the very same token — a different serialisation would be too).
    let control = forge_eddsa(&key.signing, &header, &claims);
    let r = srv.get("/v1/wallets/me", Some(&control)).await;
    assert_eq!(
        r.status, 200,
        "re-signed genuine claims must be accepted: {}",
        r.text
    );
    let mut reordered = serde_json::Map::new();
    for k in ["jti", "exp", "iat", "sub", "aud", "iss"] {
        reordered.insert(k.to_string(), claims[k].clone());
    }
    let control2 = forge_eddsa(&key.signing, &header, &Value::Object(reordered));
    let r = srv.get("/v1/wallets/me", Some(&control2)).await;
    assert_eq!(
        r.status, 200,
        "same claims in another order must be accepted: {}",
        r.text
    );

    let with = |k: &str, v: Value| {
        let mut c = claims.clone();
        c[k] = v;
        c
    };
    let now = now_secs();
    let cases: Vec<(&str, Value)> = vec![
        ("expired", with("exp", json!(now - 10))),
        ("expired long ago", {
            let mut c = with("exp", json!(now - 3600));
            c["iat"] = json!(now - 7200);
            c
        }),
        ("wrong iss", with("iss", json!("not-custos"))),
        ("wrong aud", with("aud", json!("someone-else"))),
        (
            "aud as list without custos-api",
            with("aud", json!(["other"])),
        ),
        (
            "random jti",
            with("jti", json!(uuid::Uuid::new_v4().to_string())),
        ),
        ("missing jti", {
            let mut c = claims.clone();
            c.as_object_mut().unwrap().remove("jti");
            c
        }),
        ("missing exp", {
            let mut c = claims.clone();
            c.as_object_mut().unwrap().remove("exp");
            c
        }),
        (
            "other sub",
            with("sub", json!(uuid::Uuid::new_v4().to_string())),
        ),
    ];
    for (what, c) in cases {
        let t = forge_eddsa(&key.signing, &header, &c);
        assert_refused(&srv, &t, what).await;
    }

    // Signed by a key that is not the server's.
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    assert_refused(
        &srv,
        &forge_eddsa(&stranger, &header, &claims),
        "foreign key",
    )
    .await;

    // The genuine token is still fine after all that.
    srv.get("/v1/wallets/me", Some(&s.token))
        .await
        .expect_status(200);
}

#[tokio::test]
async fn tampered_tokens_are_refused() {
    let srv = Server::start().await;
    let alice = srv.login("alice@example.com").await;
    let bob = srv.login("bob@example.com").await;
    let parts: Vec<&str> = alice.token.split('.').collect();
    let (_, claims) = decode_jwt(&alice.token);

    // Payload swapped for Bob's identity, Alice's signature kept.
    let mut c = claims.clone();
    c["sub"] = json!(bob.agent_id);
    let t = format!(
        "{}.{}.{}",
        parts[0],
        b64url(c.to_string().as_bytes()),
        parts[2]
    );
    assert_refused(&srv, &t, "payload with another sub").await;

    // Payload with a later expiry.
    let mut c = claims.clone();
    c["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400 * 365);
    let t = format!(
        "{}.{}.{}",
        parts[0],
        b64url(c.to_string().as_bytes()),
        parts[2]
    );
    assert_refused(&srv, &t, "payload with later exp").await;

    // One bit of the signature flipped.
    let mut sig = b64url_decode(parts[2]);
    sig[10] ^= 1;
    let t = format!("{}.{}.{}", parts[0], parts[1], b64url(&sig));
    assert_refused(&srv, &t, "flipped signature bit").await;

    // Signature removed; truncated; extra segment; garbage.
    assert_refused(
        &srv,
        &format!("{}.{}.", parts[0], parts[1]),
        "empty signature",
    )
    .await;
    assert_refused(&srv, &format!("{}.{}", parts[0], parts[1]), "two segments").await;
    assert_refused(&srv, &format!("{}.x", alice.token), "four segments").await;
    assert_refused(&srv, &alice.token[..alice.token.len() - 4], "truncated").await;
    assert_refused(&srv, "a.b.c", "garbage").await;

    srv.get("/v1/wallets/me", Some(&alice.token))
        .await
        .expect_status(200);
}

#[tokio::test]
async fn alg_none_and_hmac_confusion_are_refused() {
    let srv = Server::start().await;
    let s = srv.login("confused@example.com").await;
    let (header, claims) = decode_jwt(&s.token);
    let key = srv.jwt_key();
    let pk = key.signing.verifying_key();
    let x = b64url(pk.as_bytes());

    for alg in ["none", "None", "NONE", "nOnE"] {
        let h = json!({"alg": alg, "typ": "JWT"});
        let input = format!(
            "{}.{}",
            b64url(h.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        assert_refused(&srv, &format!("{input}."), &format!("alg {alg} unsigned")).await;
        // ... and with the original signature attached.
        let sig = s.token.rsplit('.').next().unwrap();
        assert_refused(
            &srv,
            &format!("{input}.{sig}"),
            &format!("alg {alg} with sig"),
        )
        .await;
    }

    // HS256 keyed with the public key in every form a confused verifier might use.
    let jwk_json = json!({"kty": "OKP", "crv": "Ed25519", "x": x}).to_string();
    let hmac_keys: Vec<(&str, Vec<u8>)> = vec![
        ("raw public key", pk.as_bytes().to_vec()),
        ("base64url x", x.as_bytes().to_vec()),
        ("hex public key", hex::encode(pk.as_bytes()).into_bytes()),
        ("jwk json", jwk_json.into_bytes()),
        ("kid", key.kid.as_bytes().to_vec()),
    ];
    for alg in ["HS256", "HS384", "HS512"] {
        for (what, k) in &hmac_keys {
            let mut h = header.clone();
            h["alg"] = json!(alg);
            // Only HS256 is computed; the others carry an HS256 MAC under another label.
            let t = forge_hs256(k, &h, &claims);
            assert_refused(&srv, &t, &format!("{alg} keyed with {what}")).await;
        }
    }

    // A header asking for another asymmetric algorithm with the valid EdDSA signature.
    for alg in ["ES256", "RS256", "ES256K", "Ed25519"] {
        let mut h = header.clone();
        h["alg"] = json!(alg);
        assert_refused(
            &srv,
            &forge_eddsa(&key.signing, &h, &claims),
            &format!("alg {alg}"),
        )
        .await;
    }
    // An embedded key in the header (jwk / jku injection) with a stranger's signature.
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let mut h = header.clone();
    h["jwk"] =
        json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(stranger.verifying_key().as_bytes())});
    h["jku"] = json!("http://127.0.0.1:1/jwks");
    assert_refused(&srv, &forge_eddsa(&stranger, &h, &claims), "embedded jwk").await;

    srv.get("/v1/wallets/me", Some(&s.token))
        .await
        .expect_status(200);
}

#[tokio::test]
async fn new_login_supersedes_previous_token() {
    let srv = Server::start().await;
    let first = srv.login("twice@example.com").await;
    srv.get("/v1/wallets/me", Some(&first.token))
        .await
        .expect_status(200);
    let second = srv.login("twice@example.com").await;
    assert_ne!(first.token, second.token);
    assert_eq!(first.agent_id, second.agent_id);
    assert_refused(&srv, &first.token, "superseded token").await;
    srv.get("/v1/wallets/me", Some(&second.token))
        .await
        .expect_status(200);

    // Re-signing the superseded claims with the real key does not revive them.
    let (header, claims) = decode_jwt(&first.token);
    let key = srv.jwt_key();
    let mut c = claims.clone();
    c["exp"] = json!(now_secs() + 3600);
    assert_refused(
        &srv,
        &forge_eddsa(&key.signing, &header, &c),
        "superseded jti re-signed",
    )
    .await;

    // A third login kills the second.
    let third = srv.login("twice@example.com").await;
    assert_refused(&srv, &second.token, "second token after third login").await;
    srv.get("/v1/wallets/me", Some(&third.token))
        .await
        .expect_status(200);

    // Another agent's login does not touch this one's session.
    srv.login("other@example.com").await;
    srv.get("/v1/wallets/me", Some(&third.token))
        .await
        .expect_status(200);
}

#[tokio::test]
async fn policy_sets_the_session_length() {
    let srv = Server::start().await;
    let s = srv.login("short@example.com").await;
    let admin = srv.operator_token("admin");
    let rb = srv
        .request(
            reqwest::Method::PUT,
            &format!("/v1/admin/agents/{}/policy", s.agent_id),
        )
        .bearer_auth(&admin)
        .json(&json!({"version": 1, "session_expiration_hours": 1}));
    srv.send(rb).await.expect_status(200);
    let s2 = srv.login("short@example.com").await;
    let (_, claims) = decode_jwt(&s2.token);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600,
        "the policy's session_expiration_hours sets the token lifetime: {claims}"
    );
    srv.get("/v1/wallets/me", Some(&s2.token))
        .await
        .expect_status(200);
}
