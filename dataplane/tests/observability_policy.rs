//! The policy middlewares' counts, through the Dating Platform's real chain
//! (routes.dsl, with its per-IP limit tightened so a short test reaches
//! it): 401s by the jwt step's reason, 429s by route and limiter, and the
//! discovery cache's misses and hits, all read back from `/metrics`.

mod common;
mod observability_support;

use common::*;
use http::{header, Request, StatusCode};
use http_body_util::Empty;
use observability_support::{scrape, set_jwt_secret, JWT_SECRET};
use routetable::MiddlewareConfig;
use std::net::SocketAddr;

fn token(sub: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let claims = serde_json::json!({
        "sub": sub, "roles": [], "iss": "dating-auth", "aud": "dating-api", "exp": exp,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

async fn get_with(client: &HttpClient, addr: SocketAddr, path: &str, auth: Option<&str>) -> Reply {
    let mut request = Request::get(format!("http://{addr}{path}"));
    if let Some(auth) = auth {
        request = request.header(header::AUTHORIZATION, auth);
    }
    send(client, request.body(Empty::new()).unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_cache_verdicts_are_counted_by_route_limiter_and_reason() {
    set_jwt_secret();
    let mut spec = spec_from_model(&platform_model(), 1);
    // Six requests per client IP, then nothing for a minute.
    for middleware in &mut spec.middlewares {
        if let (MiddlewareConfig::RateLimit(limit), "per-ip") =
            (&mut middleware.config, middleware.name.as_str())
        {
            limit.average = 1;
            limit.period_ms = 60_000;
            limit.burst = 6;
            // This replica's own buckets: the counts are what this test
            // reads; sharing them is shared_rate_limit.rs's.
            limit.shared = None;
        }
    }
    let (_dir, table) = table_dir(&spec);
    let mut config = test_config(&table);
    config.demo_backends = true;
    let gateway = start(config).await;
    let addr = gateway.local_addr();
    let client = client();
    let bearer = format!("Bearer {}", token("user-1"));

    // 1-3: refused by the jwt step, for two different reasons.
    for auth in [None, None, Some("Bearer not-a-jwt")] {
        let reply = get_with(&client, addr, "/v1/profiles/me", auth).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    // 4-5: the discovery cache misses, then hits.
    let first = get_with(&client, addr, "/v1/discovery/feed", Some(&bearer)).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.headers["x-cache"], "MISS");
    let second = get_with(&client, addr, "/v1/discovery/feed", Some(&bearer)).await;
    assert_eq!(second.headers["x-cache"], "HIT");
    // 6: the last one the per-IP budget allows; 7-8: refused with 429.
    assert_eq!(
        get_with(&client, addr, "/v1/auth/login", None).await.status,
        StatusCode::OK
    );
    for _ in 0..2 {
        let reply = get_with(&client, addr, "/v1/auth/login", None).await;
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    }

    let scrape = scrape(&client, gateway.admin_addr()).await;
    let auth_failures =
        |reason: &str| scrape.value("gateway_auth_failures_total", &[("reason", reason)]);
    assert_eq!(auth_failures("bearer token required"), Some(2.0));
    assert_eq!(auth_failures("malformed token"), Some(1.0));
    assert_eq!(scrape.series("gateway_auth_failures_total").len(), 2);
    let limited = |endpoint: &str, limiter: &str| {
        scrape.value(
            "gateway_rate_limited_total",
            &[("endpoint", endpoint), ("limiter", limiter)],
        )
    };
    assert_eq!(limited("auth", "per-ip"), Some(2.0));
    // Pre-created at zero for every (route, limiter) of the table.
    assert_eq!(limited("profile", "per-ip"), Some(0.0));
    assert_eq!(limited("profile", "per-user"), Some(0.0));
    let cache = |result: &str| {
        scrape.value(
            "gateway_cache_requests_total",
            &[("endpoint", "discovery"), ("result", result)],
        )
    };
    assert_eq!(cache("miss"), Some(1.0));
    assert_eq!(cache("hit"), Some(1.0));
    // Only the route with a cache step has cache series.
    assert_eq!(scrape.series("gateway_cache_requests_total").len(), 2);
    // The refusals are requests too, under their route's name.
    assert_eq!(
        scrape.value(
            "http_requests_total",
            &[("method", "GET"), ("endpoint", "auth"), ("status", "429")]
        ),
        Some(2.0)
    );
    gateway.shutdown().await;
}
