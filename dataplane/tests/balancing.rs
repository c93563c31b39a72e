//! Load balancing over real stub instances: round-robin alternates between
//! `auth-service-1` and `-2`; killing one mid-test moves all traffic to the
//! other with no failed idempotent request; bringing it back restores the
//! rotation once the active health check sees it; with every instance down
//! the gateway answers 503.

mod common;

use common::*;
use http::StatusCode;
use routetable::HealthCheckSpec;
use std::collections::BTreeSet;

/// Probes every 100 ms. A probe of a live stub is answered in well under a
/// millisecond, but a loaded CI machine can stall one past a tight timeout;
/// with a single failed probe taking an instance out, such a stall breaks the
/// strict alternation below. So a probe gets the whole interval to answer
/// and two failures in a row mark an instance down (a dead port is refused
/// at once, so a killed instance is still marked down within ~200 ms).
fn auth_spec() -> routetable::TableSpec {
    let mut spec = single_service_spec("auth", "/v1/auth/", 2, 1);
    spec.services[0].health = Some(HealthCheckSpec {
        path: "/health".into(),
        interval_ms: 100,
        timeout_ms: 100,
        healthy_threshold: 2,
        unhealthy_threshold: 2,
    });
    spec
}

/// A loopback port nothing listens on: connections to it are refused.
fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

async fn instance_of(client: &HttpClient, gateway: std::net::SocketAddr) -> String {
    let reply = get(client, gateway, "/v1/auth/login")
        .await
        .expect("idempotent request succeeds");
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.json()["instance"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_survives_an_instance_dying_and_coming_back() {
    let one = stub("auth", "auth-service-1").await;
    let two = stub("auth", "auth-service-2").await;
    let two_addr = two.addr;
    let (_dir, table) = table_dir(&auth_spec());
    let mut config = test_config(&table);
    config.upstreams.insert(
        "auth".into(),
        vec![
            ("127.0.0.1".into(), one.addr.port()),
            ("127.0.0.1".into(), two.addr.port()),
        ],
    );
    let gateway = start(config).await;
    let client = client();

    // Strict alternation while both are up.
    let mut sequence = Vec::new();
    for _ in 0..6 {
        sequence.push(instance_of(&client, gateway.local_addr()).await);
    }
    for pair in sequence.windows(2) {
        assert_ne!(pair[0], pair[1], "not alternating: {sequence:?}");
    }
    assert_eq!(sequence.iter().collect::<BTreeSet<_>>().len(), 2);

    // Kill instance 2: every request still succeeds, all on instance 1.
    two.stop().await;
    for _ in 0..20 {
        assert_eq!(
            instance_of(&client, gateway.local_addr()).await,
            "auth-service-1"
        );
    }
    // Keep the traffic going until the active check has marked it down.
    let marked_down = eventually(500, || async {
        assert_eq!(
            instance_of(&client, gateway.local_addr()).await,
            "auth-service-1"
        );
        !gateway.store().current().health()[0].instances[1].health.up
    })
    .await;
    assert!(marked_down, "{:?}", gateway.store().current().health());

    // Bring it back on the same address: the health check restores it.
    let _two = restart(two_addr, "auth", "auth-service-2").await;
    let back = eventually(500, || async {
        let a = instance_of(&client, gateway.local_addr()).await;
        let b = instance_of(&client, gateway.local_addr()).await;
        a != b
    })
    .await;
    assert!(back, "instance 2 never rejoined the rotation");
    gateway.shutdown().await;
    drop(one);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_available_instance_is_a_json_503() {
    let (gateway, _dir) = gateway_to_port(&auth_spec(), "auth", dead_port()).await;
    let client = client();
    let first = get(&client, gateway.local_addr(), "/v1/auth/x")
        .await
        .unwrap();
    // The first request races the health checker's first probe, which starts
    // with the gateway: either the proxy tried the instance and was refused
    // (502), or the probe had already marked it down (503). Both are JSON.
    assert!(
        first.status == StatusCode::BAD_GATEWAY || first.status == StatusCode::SERVICE_UNAVAILABLE,
        "{:?} {:?}",
        first.status,
        first.body
    );
    assert_eq!(first.json()["status"], first.status.as_u16());
    // Once the health check has marked it down, nothing is tried at all.
    let down = eventually(500, || async {
        get(&client, gateway.local_addr(), "/v1/auth/x")
            .await
            .unwrap()
            .status
            == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    assert!(down);
    let reply = get(&client, gateway.local_addr(), "/v1/auth/x")
        .await
        .unwrap();
    assert_eq!(reply.json()["status"], 503);
    assert_eq!(reply.json()["error"], "no healthy instance");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_without_health_checks_is_a_json_502() {
    // No health check configured: nothing can mark the instance down before
    // the request, so the proxy must try it and report the refusal itself.
    let mut spec = single_service_spec("auth", "/v1/auth/", 1, 1);
    spec.services[0].health = None;
    let (gateway, _dir) = gateway_to_port(&spec, "auth", dead_port()).await;
    let client = client();
    let first = get(&client, gateway.local_addr(), "/v1/auth/x")
        .await
        .unwrap();
    assert_eq!(first.status, StatusCode::BAD_GATEWAY, "{:?}", first.body);
    assert_eq!(first.json()["status"], 502);
    gateway.shutdown().await;
}
