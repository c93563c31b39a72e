//! The upstream pool's bound under more concurrent requests than the
//! table's `max_per_host`: every request is served, and once the clients
//! are gone the gateway is back to the tasks it had before (no connect
//! attempt left parked waiting for room in the pool, which is how memory
//! grew with every request that had to wait; see BENCHMARKS.md, "Memory").

mod common;

use common::*;
use dataplane::demo::DemoBackend;
use dataplane::ServerHandle;
use http::StatusCode;
use std::time::Duration;

/// Alive tasks of the test's runtime (the gateway runs in it).
fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// A gateway to one stub of `auth` allowing 2 requests in flight to it
/// (4 in all).
async fn gateway_with_a_pool_of_two() -> (ServerHandle, DemoBackend, tempfile::TempDir) {
    let mut spec = single_service_spec("auth", "/v1/auth/", 1, 1);
    spec.gateway.pool.max_per_host = 2;
    spec.gateway.pool.max_total = 4;
    gateway_with_stub(&spec, "auth", "auth-service-1").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_pool_limit_wait_and_leave_no_task_behind() {
    let (gateway, _auth, _dir) = gateway_with_a_pool_of_two().await;
    let addr = gateway.local_addr();

    // Warm up: the pool holds a connection, the client's is closed again.
    {
        let client = client();
        let reply = get(&client, addr, "/v1/auth/warm").await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
    }
    let settled = settle(alive_tasks(), usize::MAX).await;

    // 40 requests at once, each held 30 ms by the upstream: 38 of them
    // wait for one of the 2 permits.
    {
        let client = client();
        let requests = (0..40).map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                get(&client, addr, &format!("/v1/auth/{i}?delay_ms=30"))
                    .await
                    .map(|reply| reply.status)
            })
        });
        for request in futures_util::future::join_all(requests).await {
            assert_eq!(request.unwrap(), Ok(StatusCode::OK));
        }
    }

    // The client's connections close, the gateway's tasks for them end;
    // what stays is the pool's few idle connections.
    let after = settle(alive_tasks(), settled + 4).await;
    assert!(
        after <= settled + 4,
        "{after} tasks alive after the burst, {settled} before: requests left tasks behind"
    );
}

/// Waits (up to 5 s) for the alive task count to stop falling or to reach
/// `target`; returns it.
async fn settle(mut last: usize, target: usize) -> usize {
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = alive_tasks();
        if now <= target || (target == usize::MAX && now == last) {
            return now;
        }
        last = now;
    }
    last
}

const OPEN: &str = "gateway_upstream_connections_open";
const IDLE: &str = "gateway_upstream_connections_idle";
const IN_USE: &str = "gateway_upstream_connections_in_use";
const MAX: &str = "gateway_upstream_connections_max";

/// The value of `family{service_name="auth",instance=...}` in a scrape.
fn pool_sample(scrape: &str, family: &str, instance: &str) -> f64 {
    let prefix = format!("{family}{{service_name=\"auth\",instance=\"{instance}\"}} ");
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix}in the scrape:\n{scrape}"))
        .parse()
        .unwrap()
}

/// Asserts the `(family, value)`s of `instance` in `scrape`.
fn assert_pool(scrape: &str, instance: &str, expected: &[(&str, f64)]) {
    for (family, value) in expected {
        assert_eq!(
            pool_sample(scrape, family, instance),
            *value,
            "{family} of {instance}:\n{scrape}"
        );
    }
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    let reply = get(&client(), addr, "/metrics").await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    String::from_utf8(reply.body.to_vec()).unwrap()
}

/// `/metrics` shows a slow upstream's pool as it is: both permitted
/// connections in use while the upstream holds their requests and a third
/// request waits, then both idle; the third's wait is in the wait seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scrape_shows_the_pool_in_use_then_idle_and_the_waits() {
    let (gateway, auth, _dir) = gateway_with_a_pool_of_two().await;
    let addr = gateway.local_addr();
    let instance = format!("127.0.0.1:{}", auth.addr.port());

    assert_pool(
        &scrape(addr).await,
        &instance,
        &[
            (OPEN, 0.0),
            (IN_USE, 0.0),
            (IDLE, 0.0),
            (MAX, 2.0),
            ("gateway_upstream_connection_waits_total", 0.0),
        ],
    );

    // Three requests the upstream holds 800 ms each; two fit the limit.
    let client = client();
    let requests: Vec<_> = (0..3)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                get(&client, addr, &format!("/v1/auth/{i}?delay_ms=800"))
                    .await
                    .map(|reply| reply.status)
            })
        })
        .collect();
    let mut during = String::new();
    for _ in 0..30 {
        during = scrape(addr).await;
        if pool_sample(&during, IN_USE, &instance) == 2.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_pool(
        &during,
        &instance,
        &[(IN_USE, 2.0), (OPEN, 2.0), (IDLE, 0.0)],
    );

    for request in futures_util::future::join_all(requests).await {
        assert_eq!(request.unwrap(), Ok(StatusCode::OK));
    }
    let after = scrape(addr).await;
    assert_pool(
        &after,
        &instance,
        &[
            (IN_USE, 0.0),
            (IDLE, 2.0),
            (OPEN, 2.0),
            ("gateway_upstream_connection_waits_total", 3.0),
        ],
    );
    // The third waited for a permit while the upstream held the others.
    let waited = pool_sample(
        &after,
        "gateway_upstream_connection_wait_seconds_total",
        &instance,
    );
    assert!(
        (0.5..5.0).contains(&waited),
        "{waited} s waited in all; the third request alone should have waited ~0.8 s"
    );
    gateway.shutdown().await;
}
