//! The response cache through a running gateway and a counting upstream:
//! hits are served without the upstream and say `X-Cache: HIT`; what the
//! upstream marks `no-store`, `private`, `no-cache` or `max-age=0`, sets a
//! cookie on or varies is never stored; only GET and HEAD are cached, each
//! under its own key; a request with credentials no step verified bypasses
//! the cache; entries are bounded by count and by size; and they survive a
//! reload with unchanged settings. An upstream's own `X-Cache` on a request
//! the cache step ignored is passed on but never counted as the gateway's.

mod common;
mod middleware_support;

use common::*;
use http::StatusCode;
use middleware_support::*;
use routetable::{CacheConfig, MiddlewareConfig, TableSpec};

fn cache_table(max_entries: u64, max_bytes: u64, generation: u64) -> TableSpec {
    chain_table(
        &[(
            "cache",
            MiddlewareConfig::Cache(CacheConfig {
                ttl_ms: 300_000,
                methods: vec!["GET".into(), "HEAD".into()],
                max_entries,
                max_bytes,
            }),
        )],
        &[],
        generation,
    )
}

async fn fetch(client: &HttpClient, addr: std::net::SocketAddr, method: &str, path: &str) -> Reply {
    request(client, method, addr, path, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_skip_the_upstream_and_uncacheable_answers_are_never_stored() {
    let origin = Origin::start().await;
    let (gateway, _dir) = gateway_for(&cache_table(1000, 1 << 20, 1), &origin).await;
    let client = client();
    let addr = gateway.local_addr();

    let first = fetch(&client, addr, "GET", "/v1/feed?page=1").await;
    assert_eq!(first.headers["x-cache"], "MISS");
    let hit = fetch(&client, addr, "GET", "/v1/feed?page=1").await;
    assert_eq!(hit.headers["x-cache"], "HIT");
    assert_eq!(hit.body, first.body);
    assert!(hit.headers.contains_key("age"));
    assert_eq!(origin.hits(), 1);
    // Another query is another key.
    assert_eq!(
        fetch(&client, addr, "GET", "/v1/feed?page=2").await.headers["x-cache"],
        "MISS"
    );

    for query in [
        "cc=no-store",
        "cc=private",
        "cc=no-cache",
        "cc=max-age=0",
        "cc=public,%20max-age=0",
        "cookie=1",
        "vary=accept",
        "status=404",
    ] {
        let path = format!("/v1/uncacheable?{query}");
        let before = origin.hits();
        for _ in 0..2 {
            let reply = fetch(&client, addr, "GET", &path).await;
            assert_eq!(reply.headers["x-cache"], "MISS", "{query}");
        }
        assert_eq!(
            origin.hits(),
            before + 2,
            "{query} was served from the cache"
        );
    }
    // max-age within the ttl is stored.
    fetch(&client, addr, "GET", "/v1/short?cc=max-age=60").await;
    assert_eq!(
        fetch(&client, addr, "GET", "/v1/short?cc=max-age=60")
            .await
            .headers["x-cache"],
        "HIT"
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_get_and_head_are_cached_each_under_its_own_key() {
    let origin = Origin::start().await;
    let (gateway, _dir) = gateway_for(&cache_table(1000, 1 << 20, 1), &origin).await;
    let client = client();
    let addr = gateway.local_addr();
    for _ in 0..2 {
        let reply = fetch(&client, addr, "POST", "/v1/items").await;
        assert!(!reply.headers.contains_key("x-cache"));
    }
    assert_eq!(origin.hits(), 2);
    assert_eq!(
        fetch(&client, addr, "GET", "/v1/items").await.headers["x-cache"],
        "MISS"
    );
    let head = fetch(&client, addr, "HEAD", "/v1/items").await;
    assert_eq!(
        head.headers["x-cache"], "MISS",
        "HEAD must not reuse the GET entry"
    );
    let head = fetch(&client, addr, "HEAD", "/v1/items").await;
    assert_eq!(head.headers["x-cache"], "HIT");
    assert!(head.body.is_empty());
    assert_eq!(origin.hits(), 4);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unverified_credentials_bypass_the_cache() {
    let origin = Origin::start().await;
    // No jwt step before the cache: nobody verified the token.
    let (gateway, _dir) = gateway_for(&cache_table(1000, 1 << 20, 1), &origin).await;
    let client = client();
    let addr = gateway.local_addr();
    fetch(&client, addr, "GET", "/v1/me").await;
    for credentials in [
        ("authorization", "Bearer anything"),
        ("cookie", "session=abc"),
    ] {
        let reply = request(&client, "GET", addr, "/v1/me", &[credentials]).await;
        assert_eq!(reply.headers["x-cache"], "MISS", "{credentials:?}");
    }
    assert_eq!(origin.hits(), 3);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_are_bounded_by_count_and_by_size() {
    let origin = Origin::start().await;
    // Two entries at most.
    let (gateway, _dir) = gateway_for(&cache_table(2, 1 << 20, 1), &origin).await;
    let client = client();
    let addr = gateway.local_addr();
    let paths: Vec<String> = (0..6).map(|i| format!("/v1/item/{i}")).collect();
    for path in &paths {
        fetch(&client, addr, "GET", path).await;
    }
    let mut hits = 0;
    for path in &paths {
        if fetch(&client, addr, "GET", path).await.headers["x-cache"] == "HIT" {
            hits += 1;
        }
    }
    assert!(hits <= 2, "{hits} entries held with max_entries 2");
    gateway.shutdown().await;

    // 1000 bytes in all: a ~600-byte answer exceeds the per-entry share.
    let (gateway, _dir) = gateway_for(&cache_table(100, 1000, 1), &origin).await;
    let addr = gateway.local_addr();
    let first = fetch(&client, addr, "GET", "/v1/big").await;
    assert!(first.body.len() > 1000 / 8, "{}", first.body.len());
    assert_eq!(
        fetch(&client, addr, "GET", "/v1/big").await.headers["x-cache"],
        "MISS"
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_survive_a_reload_with_unchanged_settings() {
    let origin = Origin::start().await;
    let spec = cache_table(1000, 1 << 20, 1);
    let (gateway, dir) = gateway_for(&spec, &origin).await;
    let table = dir.path().join("routes.bin");
    let client = client();
    let addr = gateway.local_addr();
    fetch(&client, addr, "GET", "/v1/kept").await;
    let mut next = spec.clone();
    next.generation = 2;
    write_table(&table, &next);
    assert!(eventually(200, || async { gateway.store().current().generation == 2 }).await);
    assert_eq!(
        fetch(&client, addr, "GET", "/v1/kept").await.headers["x-cache"],
        "HIT"
    );
    // Changed settings start empty.
    write_table(&table, &cache_table(999, 1 << 20, 3));
    assert!(eventually(200, || async { gateway.store().current().generation == 3 }).await);
    assert_eq!(
        fetch(&client, addr, "GET", "/v1/kept").await.headers["x-cache"],
        "MISS"
    );
    assert_eq!(
        StatusCode::OK,
        fetch(&client, addr, "GET", "/v1/kept").await.status
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstreams_own_x_cache_is_not_counted_as_the_gateways() {
    let origin = Origin::start().await;
    let (gateway, _dir) = gateway_for(&cache_table(1000, 1 << 20, 1), &origin).await;
    let client = client();
    let addr = gateway.local_addr();
    // The cache step ignores POST; the upstream's header reaches the client
    // untouched, but it is the upstream's verdict, not the gateway's.
    for _ in 0..3 {
        let reply = fetch(&client, addr, "POST", "/v1/items?xcache=HIT").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.headers["x-cache"], "HIT");
    }
    assert_eq!(origin.hits(), 3);
    let scrape = fetch(&client, gateway.admin_addr(), "GET", "/metrics").await;
    let text = String::from_utf8_lossy(&scrape.body);
    let counted: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("gateway_cache_requests_total{"))
        .filter(|l| !l.ends_with(" 0"))
        .collect();
    assert!(
        counted.is_empty(),
        "POSTs the cache step ignored were counted: {counted:?}"
    );
    gateway.shutdown().await;
}
