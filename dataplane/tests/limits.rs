//! Connection and request limits from the table: slow-loris connections are
//! closed at the header read timeout while normal requests are served;
//! oversized headers get 431 and oversized bodies 413 (declared or
//! streamed).

mod common;

use bytes::Bytes;
use common::*;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn gateway(
    header_timeout_ms: u64,
) -> (
    dataplane::ServerHandle,
    dataplane::demo::DemoBackend,
    tempfile::TempDir,
) {
    let mut spec = single_service_spec("auth", "/v1/auth/", 1, 1);
    spec.gateway.header_timeout_ms = header_timeout_ms;
    spec.gateway.max_body_bytes = 64 * 1024;
    spec.gateway.max_header_bytes = 16 * 1024;
    gateway_with_stub(&spec, "auth", "auth-service-1").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_is_closed_at_the_header_timeout_while_others_are_served() {
    let (gateway, _auth, _dir) = gateway(1_000).await;
    let addr = gateway.local_addr();
    let head =
        b"GET /v1/auth/slow HTTP/1.1\r\nHost: example\r\nX-Padding: aaaaaaaaaaaaaaaa\r\n\r\n";
    let loris = tokio::spawn(async move {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        // One byte a second; the head would take over a minute to arrive.
        for (sent, byte) in head.iter().enumerate() {
            if tcp.write_all(&[*byte]).await.is_err() {
                return sent;
            }
            let mut buf = [0u8; 512];
            match tokio::time::timeout(Duration::from_secs(1), tcp.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return sent + 1,
                // Any response before the head is complete is a failure.
                Ok(Ok(_)) => panic!("the gateway answered an incomplete request"),
                Err(_) => {}
            }
        }
        panic!("the slow connection was never closed");
    });
    // Meanwhile, normal requests are served.
    let client = client();
    for _ in 0..5 {
        let reply = get(&client, addr, "/v1/auth/fast").await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
    }
    let sent = loris.await.unwrap();
    assert!(
        sent < head.len(),
        "closed only after the whole head: {sent}"
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_get_431() {
    let (gateway, _auth, _dir) = gateway(10_000).await;
    let client = client();
    let request = Request::get(format!("http://{}/v1/auth/x", gateway.local_addr()))
        .header("x-big", "a".repeat(20 * 1024))
        .body(http_body_util::Empty::new())
        .unwrap();
    let reply = send(&client, request).await.unwrap();
    assert_eq!(reply.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413_declared_or_streamed() {
    let (gateway, _auth, _dir) = gateway(10_000).await;
    let url = format!("http://{}/v1/auth/upload", gateway.local_addr());
    let full: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let declared = full
        .request(
            Request::post(&url)
                .body(Full::from(vec![b'x'; 100 * 1024]))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(declared.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let json: serde_json::Value =
        serde_json::from_slice(&declared.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(json["status"], 413);
    let small = full
        .request(
            Request::post(&url)
                .body(Full::from(vec![b'x'; 1024]))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(small.status(), StatusCode::OK);

    // No Content-Length: the limit is enforced while streaming.
    type Chunks = StreamBody<
        futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, std::io::Error>>>,
    >;
    let chunked: Client<_, Chunks> = Client::builder(TokioExecutor::new()).build_http();
    let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = (0..10)
        .map(|_| Ok(Frame::data(Bytes::from(vec![b'y'; 16 * 1024]))))
        .collect();
    let body = StreamBody::new(futures_util::stream::iter(frames));
    let streamed = chunked
        .request(Request::post(&url).body(body).unwrap())
        .await
        .unwrap();
    assert_eq!(streamed.status(), StatusCode::PAYLOAD_TOO_LARGE);
    gateway.shutdown().await;
}
