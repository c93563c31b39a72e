//! `/metrics` after a known sequence of requests, scraped from a real
//! gateway on loopback: exact request counts per (method, endpoint,
//! status), the route name (never the path) as `endpoint`, `none` for
//! unrouted requests, `OTHER` for unknown methods, the histogram's buckets
//! exactly, upstream latency, health and table info, open connections,
//! and retries and ejections per service and instance.

mod common;
mod observability_support;

use common::*;
use dataplane::metrics::LATENCY_BUCKETS;
use http::{Method, Request, StatusCode};
use http_body_util::Empty;
use observability_support::{gateway_routing, refused_port, scrape as fetch_metrics, Scrape};

async fn request(
    client: &HttpClient,
    method: Method,
    addr: std::net::SocketAddr,
    path: &str,
) -> StatusCode {
    let request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .body(Empty::new())
        .unwrap();
    send(client, request).await.expect("request answers").status
}

fn requests_total(scrape: &Scrape, method: &str, endpoint: &str, status: &str) -> Option<f64> {
    scrape.value(
        "http_requests_total",
        &[
            ("method", method),
            ("endpoint", endpoint),
            ("status", status),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_sequence_of_requests_is_counted_exactly() {
    let spec = single_service_spec("auth", "/v1/auth/", 1, 7);
    let (gateway, backend, _dir) = gateway_with_stub(&spec, "auth", "auth-service-1").await;
    let addr = gateway.local_addr();
    let client = client();

    // Three slow GETs (the stub waits 30 ms), two POSTs, a PURGE, two
    // unrouted paths under different methods.
    for i in 0..3 {
        let path = format!("/v1/auth/users/{i}?delay_ms=30");
        assert_eq!(
            request(&client, Method::GET, addr, &path).await,
            StatusCode::OK
        );
    }
    for _ in 0..2 {
        assert_eq!(
            request(&client, Method::POST, addr, "/v1/auth/login").await,
            StatusCode::OK
        );
    }
    let purge = Method::from_bytes(b"PURGE").unwrap();
    assert_eq!(
        request(&client, purge, addr, "/v1/auth/x").await,
        StatusCode::OK
    );
    assert_eq!(
        request(&client, Method::GET, addr, "/nowhere/1").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        request(&client, Method::DELETE, addr, "/nowhere/2").await,
        StatusCode::NOT_FOUND
    );

    let scrape = fetch_metrics(&client, gateway.admin_addr()).await;
    assert_eq!(requests_total(&scrape, "GET", "auth", "200"), Some(3.0));
    assert_eq!(requests_total(&scrape, "POST", "auth", "200"), Some(2.0));
    assert_eq!(requests_total(&scrape, "OTHER", "auth", "200"), Some(1.0));
    assert_eq!(requests_total(&scrape, "GET", "none", "404"), Some(1.0));
    assert_eq!(requests_total(&scrape, "DELETE", "none", "404"), Some(1.0));
    // Nothing else: no raw paths, no series for the scrape itself.
    assert_eq!(
        scrape.series("http_requests_total").len(),
        5,
        "{:#?}",
        scrape.series("http_requests_total")
    );
    assert_eq!(scrape.types["http_requests"], "counter");
    assert_eq!(scrape.types["http_request_duration_seconds"], "histogram");

    // The duration histogram: exactly the gateway's buckets, cumulative,
    // every request in +Inf, and none of the 30 ms requests under 25 ms.
    let labels = [("method", "GET"), ("endpoint", "auth")];
    let buckets = scrape.buckets("http_request_duration_seconds", &labels);
    let bounds: Vec<f64> = buckets.iter().map(|(le, _)| *le).collect();
    let mut want: Vec<f64> = LATENCY_BUCKETS.to_vec();
    want.push(f64::INFINITY);
    assert_eq!(bounds, want);
    assert_eq!(LATENCY_BUCKETS.first(), Some(&0.001));
    assert_eq!(LATENCY_BUCKETS.last(), Some(&10.0));
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
    assert_eq!(buckets.last().unwrap().1, 3.0);
    assert!(
        buckets
            .iter()
            .filter(|(le, _)| *le <= 0.025)
            .all(|(_, n)| *n == 0.0),
        "{buckets:?}"
    );
    let count = |name: &str, labels: &[(&str, &str)]| scrape.value(name, labels);
    assert_eq!(
        count("http_request_duration_seconds_count", &labels),
        Some(3.0)
    );
    assert!(count("http_request_duration_seconds_sum", &labels).unwrap() >= 0.09);
    assert_eq!(
        count(
            "http_request_duration_seconds_count",
            &[("method", "POST"), ("endpoint", "auth")]
        ),
        Some(2.0)
    );

    // Upstream latency: six forwarded requests, three of them slow.
    let service = [("service_name", "auth")];
    assert_eq!(
        count("service_response_time_seconds_count", &service),
        Some(6.0)
    );
    let upstream = scrape.buckets("service_response_time_seconds", &service);
    let fast = upstream.iter().find(|(le, _)| *le == 0.025).unwrap().1;
    assert!(fast <= 3.0, "{upstream:?}");
    assert_eq!(upstream.last().unwrap().1, 6.0);

    // State-derived gauges and the zeroed per-service counters.
    assert_eq!(count("service_health_status", &service), Some(1.0));
    let instance = format!("127.0.0.1:{}", backend.addr.port());
    let instance_labels = [("service_name", "auth"), ("instance", instance.as_str())];
    assert_eq!(
        count("service_instance_health_status", &instance_labels),
        Some(1.0)
    );
    assert_eq!(count("gateway_upstream_retries_total", &service), Some(0.0));
    assert_eq!(
        count("gateway_upstream_ejections_total", &instance_labels),
        Some(0.0)
    );
    let sha = "00".repeat(32);
    assert_eq!(
        count(
            "gateway_table_info",
            &[("generation", "7"), ("source_sha256", sha.as_str())]
        ),
        Some(1.0)
    );
    assert_eq!(count("gateway_table_reloads_total", &[]), Some(0.0));
    assert_eq!(count("gateway_table_reload_failures_total", &[]), Some(0.0));

    // The gateway listener serves the same families (the edge routes
    // /metrics there), and a scrape is not itself counted as a request.
    let again = fetch_metrics(&client, addr).await;
    assert_eq!(again.types, scrape.types);
    assert_eq!(again.series("http_requests_total").len(), 5);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_connections_are_a_gauge() {
    let spec = single_service_spec("auth", "/v1/auth/", 1, 1);
    let (gateway, _backend, _dir) = gateway_with_stub(&spec, "auth", "auth-service-1").await;
    let admin = gateway.admin_addr();
    let client = client();
    let active = |s: Scrape| s.value("http_active_connections", &[]);
    assert_eq!(active(fetch_metrics(&client, admin).await), Some(0.0));

    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(
            tokio::net::TcpStream::connect(gateway.local_addr())
                .await
                .unwrap(),
        );
    }
    let counted = eventually(250, || async {
        active(fetch_metrics(&client, admin).await) == Some(3.0)
    })
    .await;
    assert!(counted, "three open connections never showed");
    drop(open);
    let released = eventually(250, || async {
        active(fetch_metrics(&client, admin).await) == Some(0.0)
    })
    .await;
    assert!(released, "closed connections still counted");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_and_ejections_are_counted_per_service_and_instance() {
    let alive = stub("auth", "auth-service-1").await;
    let dead_port = refused_port();
    let spec = single_service_spec("auth", "/v1/auth/", 2, 1);
    let upstreams = [("auth", vec![alive.addr.port(), dead_port])];
    // Three failures eject; the ejection outlasts the test.
    let (gateway, _dir) = gateway_routing(&spec, &upstreams, |config| {
        config.passive.max_failures = 3;
        config.passive.base_ejection_ms = 600_000;
    })
    .await;
    let client = client();
    for _ in 0..12 {
        let reply = get(&client, gateway.local_addr(), "/v1/auth/me")
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK);
    }
    let scrape = fetch_metrics(&client, gateway.admin_addr()).await;
    let service = [("service_name", "auth")];
    let dead = format!("127.0.0.1:{dead_port}");
    let live = format!("127.0.0.1:{}", alive.addr.port());
    // Every failed attempt on the dead instance was retried on the live
    // one, until the third failure ejected it.
    assert_eq!(
        scrape.value("gateway_upstream_retries_total", &service),
        Some(3.0)
    );
    assert_eq!(
        scrape.value(
            "gateway_upstream_ejections_total",
            &[("service_name", "auth"), ("instance", dead.as_str())]
        ),
        Some(1.0)
    );
    assert_eq!(
        scrape.value(
            "gateway_upstream_ejections_total",
            &[("service_name", "auth"), ("instance", live.as_str())]
        ),
        Some(0.0)
    );
    assert_eq!(
        scrape.value(
            "service_instance_health_status",
            &[("service_name", "auth"), ("instance", dead.as_str())]
        ),
        Some(0.0)
    );
    assert_eq!(scrape.value("service_health_status", &service), Some(1.0));
    assert_eq!(gateway.store().current().upstream_retries(), 3);
    // Only answered requests count: 12 GETs, all 200.
    assert_eq!(
        scrape.value(
            "http_requests_total",
            &[("method", "GET"), ("endpoint", "auth"), ("status", "200")]
        ),
        Some(12.0)
    );
    gateway.shutdown().await;
}
