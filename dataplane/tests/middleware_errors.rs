//! Error handling through a running gateway: an upstream's non-JSON error
//! page becomes the gateway's JSON error shape (its own JSON errors pass
//! untouched), connection failures and timeouts are JSON too, and a panic
//! while handling a request is answered with a JSON 500 while the server
//! keeps serving.

mod common;
mod middleware_support;

use bytes::Bytes;
use common::*;
use dataplane::body::GatewayBody;
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use middleware_support::*;
use routetable::{MiddlewareConfig, TableSpec};
use std::convert::Infallible;

fn errors_table(generation: u64) -> TableSpec {
    chain_table(
        &[(
            "json-errors",
            MiddlewareConfig::Errors {
                format: "json".into(),
            },
        )],
        &[],
        generation,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_error_pages_become_json_errors() {
    let origin = Origin::start().await;
    let (gateway, _dir) = gateway_for(&errors_table(1), &origin).await;
    let client = client();
    let addr = gateway.local_addr();
    for (query, status) in [
        ("status=500&ct=text/html", StatusCode::INTERNAL_SERVER_ERROR),
        ("status=404&ct=text/plain", StatusCode::NOT_FOUND),
        ("status=503&ct=text/html", StatusCode::SERVICE_UNAVAILABLE),
    ] {
        let reply = get(&client, addr, &format!("/v1/x?{query}")).await.unwrap();
        assert_json_error(&reply, status);
        assert!(!String::from_utf8_lossy(&reply.body).contains("plain answer"));
    }
    // A JSON error from the service is its own business.
    let reply = get(&client, addr, "/v1/x?status=409").await.unwrap();
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert!(reply.json()["n"].is_number(), "{:?}", reply.body);
    // Successes are untouched, whatever their type.
    let reply = get(&client, addr, "/v1/x?ct=text/plain").await.unwrap();
    assert!(String::from_utf8_lossy(&reply.body).starts_with("plain answer"));
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_failures_and_timeouts_are_json_errors() {
    let mut spec = errors_table(1);
    spec.services[0].timeouts.response_ms = 300;
    // A port that refuses connections: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (dir, table) = table_dir(&spec);
    let mut config = test_config(&table);
    config
        .upstreams
        .insert("api".into(), vec![("127.0.0.1".into(), closed.port())]);
    let gateway = start(config).await;
    let client = client();
    let reply = get(&client, gateway.local_addr(), "/v1/x").await.unwrap();
    assert!(reply.status.is_server_error(), "{}", reply.status);
    assert_json_error(&reply, reply.status);
    gateway.shutdown().await;
    drop(dir);

    let origin = Origin::start().await;
    let (gateway, _dir) = gateway_for(&spec, &origin).await;
    let reply = get(&client, gateway.local_addr(), "/v1/slow?delay_ms=5000")
        .await
        .unwrap();
    assert_json_error(&reply, StatusCode::GATEWAY_TIMEOUT);
    gateway.shutdown().await;
}

/// A server whose handler panics on `/panic`, guarded like the gateway's.
async fn panicking_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(|request: Request<Incoming>| async move {
                    let id = HeaderValue::from_static("panic-test-1");
                    let handled = async {
                        if request.uri().path() == "/panic" {
                            panic!("a bug in a request handler");
                        }
                        Response::new(GatewayBody::full(Bytes::from_static(b"fine")))
                    };
                    Ok::<_, Infallible>(dataplane::policy::errors::catch_panic(handled, &id).await)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_request_is_answered_500_and_the_server_lives_on() {
    let addr = panicking_server().await;
    let client = client();
    // The same keep-alive connection serves on after the panic.
    let reply = get(&client, addr, "/panic").await.unwrap();
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    let json = reply.json();
    assert_eq!(json["status"], 500);
    assert_eq!(json["request_id"], "panic-test-1");
    assert!(
        !json["error"].as_str().unwrap().contains("bug"),
        "panic text leaked: {json}"
    );
    let reply = get(&client, addr, "/fine").await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(&reply.body[..], b"fine");
}
