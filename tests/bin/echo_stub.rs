//! `echo-stub`: the stand-in for every service instance of the container
//! test (`tests/tests/containers.rs`), one small HTTP/1.1 and WebSocket
//! server run as the image of each `dating/<service>` container.
//!
//! Every request is answered `200` with a plain-text account of what
//! arrived — the service name it was started with, the path, the socket
//! peer (which gateway replica, or Traefik, sent it), the forwarded client
//! address, the identity headers the gateway set, and whether credentials
//! reached it — so the test can tell from a response who routed it and
//! how. A WebSocket handshake is accepted and every text or binary message
//! echoed back. It owns no routing and no policy: it never refuses
//! anything, so every refusal the test sees comes from Traefik or the
//! gateway.
//!
//! `echo-stub --name SERVICE --port PORT` (listens on 0.0.0.0:PORT).

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn main() {
    let mut name = String::from("stub");
    let mut port = 8080u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--name" => name = args.next().expect("--name SERVICE"),
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("--port PORT")
            }
            other => panic!("echo-stub: unknown argument {other:?}"),
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(serve(name, port));
}

async fn serve(name: String, port: u16) {
    let listener = TcpListener::bind(("0.0.0.0", port))
        .await
        .unwrap_or_else(|e| panic!("echo-stub: bind 0.0.0.0:{port}: {e}"));
    eprintln!("echo-stub: {name} listening on 0.0.0.0:{port}");
    // The container's hostname is its id: it tells two instances apart.
    let instance = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let name = name.clone();
        let instance = instance.clone();
        tokio::spawn(async move {
            let _ = connection(stream, peer, &name, &instance).await;
        });
    }
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    name: &str,
    instance: &str,
) -> std::io::Result<()> {
    let mut peek = [0u8; 4096];
    let n = stream.peek(&mut peek).await?;
    if String::from_utf8_lossy(&peek[..n])
        .to_ascii_lowercase()
        .contains("upgrade: websocket")
    {
        let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
            return Ok(());
        };
        while let Some(Ok(message)) = ws.next().await {
            if message.is_text() || message.is_binary() {
                let _ = ws.send(message).await;
            }
        }
        return Ok(());
    }
    loop {
        // The head byte by byte: a stub for correctness, not speed, and it
        // must never read into the next pipelined request.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).await? == 0 {
                return Ok(());
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_string();
        let method = head.split(' ').next().unwrap_or_default().to_string();
        let target = head.split(' ').nth(1).unwrap_or_default().to_string();
        let header = |wanted: &str| {
            head.lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(wanted))
                .map(|(_, v)| v.trim().to_string())
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).await?;
        let text = format!(
            "service={name}\npath={target}\nmethod={method}\npeer={}\ninstance={instance}\n\
             xff={}\nuser={}\nroles={}\nauthorization={}\n",
            peer.ip(),
            header("x-forwarded-for").unwrap_or_default(),
            header("x-user-id").unwrap_or_default(),
            header("x-user-roles").unwrap_or_default(),
            header("authorization").is_some()
        );
        let body = if method == "HEAD" { "" } else { text.as_str() };
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{body}",
            text.len()
        );
        stream.write_all(response.as_bytes()).await?;
    }
}
