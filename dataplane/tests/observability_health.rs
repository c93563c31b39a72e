//! The aggregated `/health` document against real stubs: healthy (200)
//! while the service's only instance answers its probes, 503 with the
//! service and instance marked unhealthy once it dies, 200 again once it
//! comes back; the same on the admin listener; `/live` regardless.

mod common;
mod observability_support;

use common::*;
use http::StatusCode;
use observability_support::{gateway_routing, refused_port};
use routetable::HealthCheckSpec;
use std::net::SocketAddr;

fn probed_spec() -> routetable::TableSpec {
    let mut spec = single_service_spec("auth", "/v1/auth/", 1, 1);
    spec.services[0].health = Some(HealthCheckSpec {
        path: "/health".into(),
        interval_ms: 50,
        timeout_ms: 40,
        healthy_threshold: 1,
        unhealthy_threshold: 1,
    });
    spec
}

async fn health(client: &HttpClient, addr: SocketAddr) -> (StatusCode, serde_json::Value) {
    let reply = get(client, addr, "/health").await.expect("/health answers");
    assert_eq!(
        reply.headers[http::header::CONTENT_TYPE],
        "application/json"
    );
    (reply.status, reply.json())
}

/// Polls (every 20 ms, at most 500 times) until `/health` on `addr`
/// answers `status`; the document it answered with.
async fn health_becomes(
    client: &HttpClient,
    addr: SocketAddr,
    status: StatusCode,
) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    for _ in 0..500 {
        let (got, doc) = health(client, addr).await;
        if got == status {
            return doc;
        }
        last = doc;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("/health never answered {status}; last: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_flips_to_503_when_the_only_instance_dies_and_back_when_it_returns() {
    let (gateway, backend, _dir) =
        gateway_with_stub(&probed_spec(), "auth", "auth-service-1").await;
    let addr = gateway.local_addr();
    let client = client();
    let instance = format!("127.0.0.1:{}", backend.addr.port());

    // Healthy, with the probe's duration once a probe has run.
    let doc = health_becomes(&client, addr, StatusCode::OK).await;
    assert_eq!(doc["status"], "healthy");
    assert_eq!(doc["services"]["auth"]["status"], "healthy");
    let instances = doc["services"]["auth"]["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 1);
    assert_eq!(instances[0]["instance"], instance.as_str());
    assert_eq!(instances[0]["status"], "healthy");
    let timestamp = doc["timestamp"].as_str().unwrap();
    humantime::parse_rfc3339(timestamp).expect("RFC 3339 timestamp");
    let probed = eventually(250, || async {
        health(&client, addr).await.1["services"]["auth"]["response_time"].is_number()
    })
    .await;
    assert!(probed, "no probe duration reported");

    // The only instance dies: unhealthy, on both listeners.
    let addr_of_backend = backend.addr;
    backend.stop().await;
    let doc = health_becomes(&client, addr, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(doc["status"], "unhealthy");
    assert_eq!(doc["services"]["auth"]["status"], "unhealthy");
    assert_eq!(
        doc["services"]["auth"]["instances"][0]["status"],
        "unhealthy"
    );
    assert_eq!(doc["services"]["auth"]["instances"][0]["up"], false);
    let (status, _) = health(&client, gateway.admin_addr()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    // Liveness does not depend on upstreams.
    let live = get(&client, gateway.admin_addr(), "/live").await.unwrap();
    assert_eq!(live.status, StatusCode::OK);

    // It comes back on the same address: healthy again, on both listeners.
    // Each is polled: with a 40 ms probe timeout and one failure enough to
    // mark it down, a probe stalled on a loaded machine can flip the
    // verdict back for a moment between the two reads.
    let _backend = restart(addr_of_backend, "auth", "auth-service-1").await;
    let doc = health_becomes(&client, addr, StatusCode::OK).await;
    assert_eq!(doc["services"]["auth"]["instances"][0]["status"], "healthy");
    health_becomes(&client, gateway.admin_addr(), StatusCode::OK).await;
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_unhealthy_service_among_healthy_ones_makes_the_gateway_unhealthy() {
    let auth = stub("auth", "auth-service-1").await;
    let mut spec = probed_spec();
    let mut chat = spec.services[0].clone();
    chat.name = "chat".into();
    spec.services.push(chat);
    spec.routes.push(route("chat", "/v1/chat/", 1));
    // chat's only instance refuses connections from the start.
    let upstreams = [
        ("auth", vec![auth.addr.port()]),
        ("chat", vec![refused_port()]),
    ];
    let (gateway, _dir) = gateway_routing(&spec, &upstreams, |_| {}).await;
    let client = client();
    // Polled until chat's probes have marked it down while auth is up: a
    // single auth probe stalled past its 40 ms timeout on a loaded machine
    // takes auth down too for a moment, and that document says nothing
    // about one unhealthy service among healthy ones.
    let last = std::sync::Mutex::new((StatusCode::OK, serde_json::Value::Null));
    let seen = eventually(500, || async {
        let (status, doc) = health(&client, gateway.local_addr()).await;
        let wanted = doc["services"]["chat"]["status"] == "unhealthy"
            && doc["services"]["auth"]["status"] == "healthy";
        *last.lock().unwrap() = (status, doc);
        wanted
    })
    .await;
    let (status, doc) = last.into_inner().unwrap();
    assert!(seen, "never chat unhealthy with auth healthy; last: {doc}");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{doc}");
    assert_eq!(doc["status"], "unhealthy");
    gateway.shutdown().await;
}
