//! The upstream pool's bound under more concurrent requests than the
//! table's `max_per_host`: every request is served, and once the clients
//! are gone the gateway is back to the tasks it had before (no connect
//! attempt left parked waiting for room in the pool, which is how memory
//! grew with every request that had to wait; see BENCHMARKS.md, "Memory").

mod common;

use common::*;
use http::StatusCode;
use std::time::Duration;

/// Alive tasks of the test's runtime (the gateway runs in it).
fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_pool_limit_wait_and_leave_no_task_behind() {
    let mut spec = single_service_spec("auth", "/v1/auth/", 1, 1);
    spec.gateway.pool.max_per_host = 2;
    spec.gateway.pool.max_total = 4;
    let (gateway, _auth, _dir) = gateway_with_stub(&spec, "auth", "auth-service-1").await;
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
