//! The echo upstream of the end-to-end tests: answers every HTTP/1.1
//! request `200` with a plain-text account of what arrived (the service
//! name it serves as, the path, the method, the socket peer, the instance,
//! the forwarded client address, the identity headers a gateway set, and
//! whether credentials reached it), and echoes WebSocket messages after a
//! handshake. `two_tier.rs` runs it in-process on loopback; `echo-stub`
//! (`bin/echo_stub.rs`) runs it as every service container of
//! `containers.rs`. It never refuses anything, so every refusal a test
//! sees comes from the tiers in front of it.

use std::net::SocketAddr;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Serves `listener` forever as `name`; `instance` tells two instances of
/// one service apart.
pub async fn serve(listener: TcpListener, name: String, instance: String) {
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
        // The head byte by byte: a test upstream, not a fast one, and it
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
