//! WebSockets end to end through the gateway: text and binary echo, ping and
//! pong, a close started by either side reaching the other, and the idle
//! timeout closing a quiet tunnel.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use routetable::{PathMatch, RouteSpec};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{client_async, WebSocketStream};

async fn gateway_with_chat(
    idle_ms: u64,
) -> (
    dataplane::ServerHandle,
    dataplane::demo::DemoBackend,
    tempfile::TempDir,
) {
    let mut spec = single_service_spec("chat", "/v1/chat/", 1, 1);
    spec.services[0].timeouts.websocket_idle_ms = idle_ms;
    let ws_route = RouteSpec {
        path: PathMatch::Exact("/v1/chat/ws".into()),
        websocket: true,
        ..route("chat-ws", "/", 0)
    };
    spec.routes.insert(0, ws_route);
    gateway_with_stub(&spec, "chat", "chat-service-1").await
}

async fn connect(gateway: &dataplane::ServerHandle) -> WebSocketStream<TcpStream> {
    let tcp = TcpStream::connect(gateway.local_addr()).await.unwrap();
    let url = format!("ws://{}/v1/chat/ws", gateway.local_addr());
    let (ws, response) = client_async(url, tcp)
        .await
        .expect("handshake through the gateway");
    assert_eq!(response.status(), http::StatusCode::SWITCHING_PROTOCOLS);
    ws
}

/// The next data or control message, skipping nothing.
async fn next(ws: &mut WebSocketStream<TcpStream>) -> Option<Message> {
    ws.next().await.and_then(Result::ok)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_binary_ping_and_client_close_pass_through() {
    let (gateway, _chat, _dir) = gateway_with_chat(60_000).await;
    let mut ws = connect(&gateway).await;
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(next(&mut ws).await, Some(Message::text("hello")));
    ws.send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    assert_eq!(
        next(&mut ws).await,
        Some(Message::binary(vec![0u8, 1, 2, 255]))
    );
    ws.send(Message::Ping(b"p".to_vec().into())).await.unwrap();
    assert_eq!(
        next(&mut ws).await,
        Some(Message::Pong(b"p".to_vec().into()))
    );
    // The client closes: the upstream answers the close, then the stream ends.
    ws.close(None).await.unwrap();
    let mut saw_close = false;
    while let Some(message) = next(&mut ws).await {
        saw_close |= message.is_close();
    }
    assert!(saw_close, "the upstream's close reply never came back");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_close_reaches_the_client() {
    let (gateway, _chat, _dir) = gateway_with_chat(60_000).await;
    let mut ws = connect(&gateway).await;
    ws.send(Message::text("close")).await.unwrap();
    let got = ws.next().await;
    assert!(matches!(got, Some(Ok(Message::Close(_)))), "{got:?}");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_tunnel_is_closed_at_the_idle_timeout() {
    let (gateway, _chat, _dir) = gateway_with_chat(200).await;
    let mut ws = connect(&gateway).await;
    ws.send(Message::text("still there")).await.unwrap();
    assert_eq!(next(&mut ws).await, Some(Message::text("still there")));
    // Nothing more is sent: the gateway drops the tunnel, the stream ends.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while next(&mut ws).await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the idle tunnel was never closed");
    gateway.shutdown().await;
}
