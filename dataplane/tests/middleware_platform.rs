//! The Dating Platform's policy, end to end: a gateway serving the table
//! compiled from the real routes.dsl (`chain api [cors, per-ip, auth,
//! per-user, request-log, json-errors, security]`, discovery with the
//! 5-minute cache), with demo stubs as the services. JWT attacks are 401s
//! with a challenge, roles are 403s, identity headers cannot be forged,
//! CORS preflights are answered without a token, responses carry the
//! security headers, and the discovery cache never serves one user's
//! response to another. Header names with `_` are dropped unless the
//! table's platform allows them.

mod common;
mod middleware_support;

use common::*;
use http::StatusCode;
use middleware_support::*;
use serde_json::{json, Value};

async fn platform() -> (dataplane::ServerHandle, tempfile::TempDir) {
    set_secret();
    let (dir, table) = table_dir(&spec_from_model(&platform_model(), 1));
    let mut config = test_config(&table);
    config.demo_backends = true;
    (start(config).await, dir)
}

/// A header as the demo stub saw it (it echoes the headers it got).
fn upstream_header(reply: &Reply, name: &str) -> Option<String> {
    reply.json()["headers"][name].as_str().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_attacks_are_401_with_a_json_body_and_a_challenge() {
    let (gateway, _dir) = platform().await;
    let client = client();
    let addr = gateway.local_addr();
    let valid = claims("user-7", &["user"]);
    let with = |changes: Value| {
        let mut c = valid.clone();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let other_secret = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &valid,
        &jsonwebtoken::EncodingKey::from_secret(b"another-secret-0123456789-0123456789"),
    )
    .unwrap();
    let hs512 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &valid,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("basic credentials", Some("Basic dXNlcjpwYXNz".into())),
        ("alg none", Some(bearer(&alg_none(&valid)))),
        (
            "expired",
            Some(bearer(&token(&with(json!({"exp": now() - 3600}))))),
        ),
        ("no exp", Some(bearer(&token(&with(json!({"exp": null})))))),
        (
            "future nbf",
            Some(bearer(&token(&with(json!({"nbf": now() + 3600}))))),
        ),
        (
            "wrong issuer",
            Some(bearer(&token(&with(json!({"iss": "evil-auth"}))))),
        ),
        (
            "wrong audience",
            Some(bearer(&token(&with(json!({"aud": "other-api"}))))),
        ),
        (
            "no audience",
            Some(bearer(&token(&with(json!({"aud": null}))))),
        ),
        (
            "no subject",
            Some(bearer(&token(&with(json!({"sub": null}))))),
        ),
        ("another secret", Some(bearer(&other_secret))),
        ("algorithm outside the allow list", Some(bearer(&hs512))),
        ("garbage", Some("Bearer not.a.jwt".into())),
    ];
    for (name, authorization) in &cases {
        let headers: Vec<(&str, &str)> = authorization
            .iter()
            .map(|a| ("authorization", a.as_str()))
            .collect();
        let reply = request(&client, "GET", addr, "/v1/profiles/me", &headers).await;
        assert_json_error(&reply, StatusCode::UNAUTHORIZED);
        let challenge = reply.headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with("Bearer realm=\"dating-api\""),
            "{name}: {challenge}"
        );
        assert!(
            reply.json().get("service").is_none(),
            "{name} reached a service"
        );
    }
    // Within the 30 s leeway an expired token still passes.
    let late = token(&with(json!({"exp": now() - 10})));
    let reply = request(
        &client,
        "GET",
        addr,
        "/v1/profiles/me",
        &[("authorization", &bearer(&late))],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_paths_need_the_admin_role_on_the_normalized_path() {
    let (gateway, _dir) = platform().await;
    let client = client();
    let addr = gateway.local_addr();
    let user = bearer(&user_token("user-7", &["user"]));
    let admin = bearer(&user_token("admin-1", &["admin", "user"]));
    for path in [
        "/v1/admin/users",
        "/v1/admin",
        "/v1/auth/../admin/users",
        "/v1/profiles/%2e%2e/admin/x",
    ] {
        let reply = request(&client, "GET", addr, path, &[("authorization", &user)]).await;
        assert_json_error(&reply, StatusCode::FORBIDDEN);
        assert!(reply.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope"));
    }
    let reply = request(
        &client,
        "GET",
        addr,
        "/v1/admin/users",
        &[("authorization", &admin)],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        upstream_header(&reply, "x-user-id").as_deref(),
        Some("admin-1")
    );
    assert_eq!(
        upstream_header(&reply, "x-user-roles").as_deref(),
        Some("admin,user")
    );
    // A public path needs no token, and a traversal out of it is not public.
    let reply = request(&client, "POST", addr, "/v1/auth/login", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["service"], "auth");
    let reply = request(&client, "GET", addr, "/v1/auth/../profiles/me", &[]).await;
    assert_json_error(&reply, StatusCode::UNAUTHORIZED);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_identity_headers_never_reach_a_service() {
    let (gateway, _dir) = platform().await;
    let client = client();
    let addr = gateway.local_addr();
    let alice = bearer(&user_token("alice", &["user"]));
    let forged = [("x-user-id", "admin-1"), ("x-user-roles", "admin")];
    let mut headers = vec![("authorization", alice.as_str())];
    headers.extend(forged);
    let reply = request(&client, "GET", addr, "/v1/profiles/me", &headers).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        upstream_header(&reply, "x-user-id").as_deref(),
        Some("alice")
    );
    assert_eq!(
        upstream_header(&reply, "x-user-roles").as_deref(),
        Some("user")
    );
    // Public paths forward no identity at all, forged or not.
    let reply = request(&client, "GET", addr, "/v1/auth/session", &forged).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(upstream_header(&reply, "x-user-id").as_deref(), None);
    assert_eq!(upstream_header(&reply, "x-user-roles").as_deref(), None);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflights_are_answered_by_the_gateway_without_a_token() {
    let (gateway, _dir) = platform().await;
    let client = client();
    let addr = gateway.local_addr();
    let origin = "https://dating.serge.cc";
    let preflight = |origin: &'static str| {
        [
            ("origin", origin),
            ("access-control-request-method", "PATCH"),
            (
                "access-control-request-headers",
                "authorization, content-type",
            ),
        ]
    };
    let reply = request(
        &client,
        "OPTIONS",
        addr,
        "/v1/profiles/me",
        &preflight(origin),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{:?}", reply.body);
    assert!(
        reply.body.is_empty(),
        "a service answered: {:?}",
        reply.body
    );
    let h = &reply.headers;
    assert_eq!(h["access-control-allow-origin"], origin);
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("PATCH"));
    assert!(h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("Authorization"));
    assert_eq!(h["access-control-max-age"], "3600");
    assert!(h["vary"].to_str().unwrap().contains("origin"));

    // A foreign origin's preflight is refused here too, with no CORS header.
    for foreign in [
        "https://evil.example",
        "https://dating.serge.cc.evil.example",
        "null",
    ] {
        let reply = request(
            &client,
            "OPTIONS",
            addr,
            "/v1/profiles/me",
            &preflight(foreign),
        )
        .await;
        assert_json_error(&reply, StatusCode::FORBIDDEN);
        assert!(
            !reply.headers.contains_key("access-control-allow-origin"),
            "{foreign}"
        );
        assert!(!reply
            .headers
            .contains_key("access-control-allow-credentials"));
    }

    // Actual requests: the allowed origin is echoed, a foreign one is not.
    let token = bearer(&user_token("user-7", &["user"]));
    let reply = request(
        &client,
        "GET",
        addr,
        "/v1/profiles/me",
        &[("origin", origin), ("authorization", &token)],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["access-control-allow-origin"], origin);
    assert_eq!(reply.headers["access-control-allow-credentials"], "true");
    let exposed = reply.headers["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(exposed.contains("RateLimit-Remaining"), "{exposed}");
    assert!(reply.headers["vary"].to_str().unwrap().contains("origin"));
    let reply = request(
        &client,
        "GET",
        addr,
        "/v1/profiles/me",
        &[
            ("origin", "https://evil.example"),
            ("authorization", &token),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(!reply.headers.contains_key("access-control-allow-origin"));
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_carry_security_and_rate_limit_headers() {
    let (gateway, _dir) = platform().await;
    let client = client();
    let token = bearer(&user_token("user-7", &["user"]));
    let reply = request(
        &client,
        "GET",
        gateway.local_addr(),
        "/v1/chat/rooms",
        &[("authorization", &token)],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let h = &reply.headers;
    assert_eq!(
        h["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "strict-origin-when-cross-origin");
    // The strictest of the two limits: per-user's burst of 40. Both are
    // shared, and this test runs no Redis (RATE_LIMIT_REDIS_ADDR unset), so
    // the failure policy, `local`, checks this replica's third: 40 / 3.
    assert_eq!(h["ratelimit-limit"], "13");
    let remaining: u32 = h["ratelimit-remaining"].to_str().unwrap().parse().unwrap();
    assert!(remaining < 13, "{remaining}");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_discovery_cache_never_serves_one_users_response_to_another() {
    let (gateway, _dir) = platform().await;
    let client = client();
    let addr = gateway.local_addr();
    let alice = bearer(&user_token("alice", &["user"]));
    let bob = bearer(&user_token("bob", &["user"]));
    let get = |auth: &str| {
        let auth = auth.to_owned();
        let client = client.clone();
        async move {
            request(
                &client,
                "GET",
                addr,
                "/v1/discovery/feed?page=1",
                &[("authorization", &auth)],
            )
            .await
        }
    };
    let first = get(&alice).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.headers["x-cache"], "MISS");
    assert_eq!(
        upstream_header(&first, "x-user-id").as_deref(),
        Some("alice")
    );
    let again = get(&alice).await;
    assert_eq!(again.headers["x-cache"], "HIT");
    assert_eq!(again.body, first.body, "a hit is the stored response");
    // The request id is this request's, not the stored one's.
    assert_ne!(again.headers["x-request-id"], first.headers["x-request-id"]);
    let for_bob = get(&bob).await;
    assert_eq!(for_bob.headers["x-cache"], "MISS");
    assert_eq!(
        upstream_header(&for_bob, "x-user-id").as_deref(),
        Some("bob")
    );
    let bob_again = get(&bob).await;
    assert_eq!(bob_again.headers["x-cache"], "HIT");
    assert_eq!(
        upstream_header(&bob_again, "x-user-id").as_deref(),
        Some("bob")
    );
    assert_eq!(
        upstream_header(&get(&alice).await, "x-user-id").as_deref(),
        Some("alice")
    );
    // Routes without the cache say nothing about it.
    let reply = request(
        &client,
        "GET",
        addr,
        "/v1/profiles/me",
        &[("authorization", &alice)],
    )
    .await;
    assert!(!reply.headers.contains_key("x-cache"));
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn underscored_names_pass_only_where_the_platform_allows_them() {
    let origin = Origin::start().await;
    let client = client();
    for allow in [false, true] {
        let mut spec = chain_table(&[], &[], 1);
        spec.gateway.underscore_headers = allow;
        let (gateway, _dir) = gateway_for(&spec, &origin).await;
        let reply = request(
            &client,
            "GET",
            gateway.local_addr(),
            "/v1/x",
            &[("x_tenant", "blue"), ("x_user_id", "admin")],
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
        let headers = &reply.json()["headers"];
        let tenant = if allow { json!("blue") } else { Value::Null };
        assert_eq!(headers["x_tenant"], tenant, "allow {allow}: {headers}");
        // An alias of an identity header is dropped either way.
        assert_eq!(
            headers["x_user_id"],
            Value::Null,
            "allow {allow}: {headers}"
        );
        gateway.shutdown().await;
    }
}
