//! Graceful shutdown: once asked to stop, the gateway accepts no new
//! connections but finishes the requests in flight.

mod common;

use common::*;
use http::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_requests_finish_and_new_connections_are_refused() {
    let spec = single_service_spec("auth", "/v1/auth/", 1, 1);
    let (gateway, _auth, _dir) = gateway_with_stub(&spec, "auth", "auth-service-1").await;
    let addr = gateway.local_addr();
    let client = client();
    // The upstream holds the request for 2 s: the window in which the poll
    // below must see it in flight. Half a second was a bet that the test's
    // task is never stalled that long, which a loaded CI machine can lose.
    let slow = {
        let client = client.clone();
        tokio::spawn(async move { get(&client, addr, "/v1/auth/slow?delay_ms=2000").await })
    };
    // Wait until the request is in the upstream's hands.
    let store = gateway.store().clone();
    let in_flight = eventually(500, || async {
        store.current().health()[0].instances[0].health.in_flight == 1
    })
    .await;
    assert!(in_flight);
    gateway.shutdown().await;
    let reply = slow.await.unwrap().expect("the in-flight request finished");
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["path"], "/v1/auth/slow?delay_ms=2000");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}
