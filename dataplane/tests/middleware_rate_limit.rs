//! Rate limiting through a running gateway, on tables with small limits
//! (one request a minute refills, so nothing here depends on timing): 429
//! after the burst with `Retry-After`, `RateLimit-*` and a JSON body;
//! buckets keyed by the client IP, which a client cannot move with a
//! spoofed `X-Forwarded-For`, while a trusted proxy's is believed
//! (right-most untrusted entry); per-user buckets keyed by the verified
//! token; the chain's order (a request the limiter refuses never reaches
//! the JWT check, a CORS preflight never needs a token); buckets that
//! survive a reload with unchanged settings.

mod common;
mod middleware_support;

use common::*;
use http::StatusCode;
use middleware_support::*;
use routetable::{MiddlewareConfig, RateKey, TableSpec};

const MINUTE_MS: u64 = 60_000;

/// The Dating Platform's chain with small limits: per-IP burst 3,
/// per-user burst 2.
fn platform_like(trusted: &[&str], generation: u64) -> TableSpec {
    set_secret();
    chain_table(
        &[
            ("cors", platform_cors()),
            ("per-ip", rate_limit(RateKey::ClientIp, 1, MINUTE_MS, 3)),
            ("auth", MiddlewareConfig::Jwt(platform_jwt())),
            ("per-user", rate_limit(RateKey::User, 1, MINUTE_MS, 2)),
            ("request-log", MiddlewareConfig::AccessLog { audit: true }),
            (
                "json-errors",
                MiddlewareConfig::Errors {
                    format: "json".into(),
                },
            ),
            ("security", security_headers()),
        ],
        trusted,
        generation,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_burst_passes_then_429_with_retry_after() {
    let origin = Origin::start().await;
    let (gateway, _dir) = gateway_for(&platform_like(&[], 1), &origin).await;
    let client = client();
    let token = bearer(&user_token("alice", &["user"]));
    let auth = [("authorization", token.as_str())];
    for remaining in ["1", "0"] {
        let reply = request(&client, "GET", gateway.local_addr(), "/v1/x", &auth).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.headers["ratelimit-remaining"], remaining);
    }
    // Per-user is spent (burst 2); per-IP still has one.
    let reply = request(&client, "GET", gateway.local_addr(), "/v1/x", &auth).await;
    assert_limited(&reply, "2");
    assert_eq!(origin.hits(), 2, "a refused request reached the upstream");
    // The per-IP bucket (burst 3) took that request too: now it refuses
    // anyone from this address, even with another user's token.
    let other = bearer(&user_token("bob", &["user"]));
    let reply = request(
        &client,
        "GET",
        gateway.local_addr(),
        "/v1/x",
        &[("authorization", &other)],
    )
    .await;
    assert_limited(&reply, "3");
    assert_eq!(origin.hits(), 2);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_limiter_refuses_never_reaches_the_jwt_check() {
    capture_logs();
    let origin = Origin::start().await;
    let (gateway, _dir) = gateway_for(&platform_like(&[], 1), &origin).await;
    let client = client();
    // No token: the first three pass the limiter and fail authentication.
    for _ in 0..3 {
        let reply = request(&client, "GET", gateway.local_addr(), "/v1/x", &[]).await;
        assert_json_error(&reply, StatusCode::UNAUTHORIZED);
    }
    // The fourth is refused by the limiter, before the JWT check.
    let bad = bearer("not.a.token");
    let reply = request(
        &client,
        "GET",
        gateway.local_addr(),
        "/v1/x",
        &[("authorization", &bad)],
    )
    .await;
    assert_limited(&reply, "3");
    assert!(!reply.headers.contains_key("www-authenticate"));
    let line = access_line(reply.headers["x-request-id"].to_str().unwrap()).await;
    assert_eq!(line["stopped_by"], "per-ip", "{line}");
    assert_eq!(line["reason"], "rate limit exceeded");
    // A CORS preflight is answered before the limiter and the JWT check.
    let reply = request(
        &client,
        "OPTIONS",
        gateway.local_addr(),
        "/v1/x",
        &[
            ("origin", "https://dating.serge.cc"),
            ("access-control-request-method", "DELETE"),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(origin.hits(), 0);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_peer_cannot_move_its_bucket_with_x_forwarded_for() {
    let origin = Origin::start().await;
    // Only the edge subnet is trusted; the test client is 127.0.0.1.
    let (gateway, _dir) = gateway_for(&platform_like(&["172.21.0.0/16"], 1), &origin).await;
    let client = client();
    let spoofs = ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"];
    let mut statuses = Vec::new();
    for spoof in spoofs {
        let reply = request(
            &client,
            "GET",
            gateway.local_addr(),
            "/v1/auth/login",
            &[("x-forwarded-for", spoof)],
        )
        .await;
        statuses.push(reply.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_names_the_client_by_its_rightmost_untrusted_hop() {
    let origin = Origin::start().await;
    // The test client plays Traefik: loopback is trusted.
    let (gateway, _dir) = gateway_for(&platform_like(&["127.0.0.0/8"], 1), &origin).await;
    let client = client();
    let login = |xff: &'static str| {
        let client = client.clone();
        let addr = gateway.local_addr();
        async move {
            request(
                &client,
                "GET",
                addr,
                "/v1/auth/login",
                &[("x-forwarded-for", xff)],
            )
            .await
            .status
            .as_u16()
        }
    };
    // One client behind the proxy, whatever it prepends: one bucket.
    let mut one_client = Vec::new();
    for xff in [
        "9.9.9.1, 203.0.113.7",
        "9.9.9.2, 203.0.113.7",
        "203.0.113.7",
        "9.9.9.3,203.0.113.7",
    ] {
        one_client.push(login(xff).await);
    }
    assert_eq!(one_client, [200, 200, 200, 429]);
    // Other clients behind the same proxy have their own buckets.
    assert_eq!(login("203.0.113.8").await, 200);
    assert_eq!(
        login("203.0.113.7, 127.0.0.5").await,
        429,
        "trusted hops are skipped"
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_survive_a_reload_with_unchanged_settings() {
    let origin = Origin::start().await;
    let spec = chain_table(
        &[("per-ip", rate_limit(RateKey::ClientIp, 1, MINUTE_MS, 2))],
        &[],
        1,
    );
    let (dir, table) = table_dir(&spec);
    let mut config = test_config(&table);
    config
        .upstreams
        .insert("api".into(), vec![("127.0.0.1".into(), origin.addr.port())]);
    let gateway = start(config).await;
    let client = client();
    let addr = gateway.local_addr();
    for _ in 0..2 {
        assert_eq!(
            get(&client, addr, "/v1/x").await.unwrap().status,
            StatusCode::OK
        );
    }
    assert_eq!(
        get(&client, addr, "/v1/x").await.unwrap().status,
        StatusCode::TOO_MANY_REQUESTS
    );

    // A new generation, same limit: the spent bucket stays spent.
    let mut same = spec.clone();
    same.generation = 2;
    write_table(&table, &same);
    assert!(eventually(200, || async { gateway.store().current().generation == 2 }).await);
    assert_eq!(
        get(&client, addr, "/v1/x").await.unwrap().status,
        StatusCode::TOO_MANY_REQUESTS
    );

    // A changed limit starts from a full bucket.
    let changed = chain_table(
        &[("per-ip", rate_limit(RateKey::ClientIp, 1, MINUTE_MS, 3))],
        &[],
        3,
    );
    write_table(&table, &changed);
    assert!(eventually(200, || async { gateway.store().current().generation == 3 }).await);
    assert_eq!(
        get(&client, addr, "/v1/x").await.unwrap().status,
        StatusCode::OK
    );
    gateway.shutdown().await;
    drop(dir);
}
