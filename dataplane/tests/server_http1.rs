//! The client side of HTTP/1.1 as the gateway serves it, over raw TCP so
//! that the bytes on the wire are what is checked: the own fast path serves
//! pipelined bodiless requests in order and keeps the connection alive; the
//! first request outside its subset hands the connection, and every byte
//! already read from it, to hyper, which answers it and the ones after it;
//! `HEAD` gets a head only; draining closes an idle connection.

mod common;

use common::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One response as read off the wire.
#[derive(Debug)]
struct Wire {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Wire {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// Reads responses off one connection, keeping what arrives early.
struct Reader {
    tcp: TcpStream,
    buf: Vec<u8>,
}

impl Reader {
    async fn fill(&mut self) {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), self.tcp.read(&mut chunk))
            .await
            .expect("the gateway answered within 5 s")
            .expect("read");
        assert!(n > 0, "the gateway closed the connection mid-response");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// The next response; `head_request` when it answers a `HEAD`.
    async fn response(&mut self, head_request: bool) -> Wire {
        let (status, headers, len) = loop {
            let mut fields = [httparse::EMPTY_HEADER; 64];
            let mut parsed = httparse::Response::new(&mut fields);
            if let httparse::Status::Complete(len) = parsed.parse(&self.buf).expect("a valid head")
            {
                let headers = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect::<Vec<_>>();
                break (parsed.code.unwrap(), headers, len);
            }
            self.fill().await;
        };
        self.buf.drain(..len);
        let mut wire = Wire {
            status,
            headers,
            body: Vec::new(),
        };
        if head_request || status == 204 || status == 304 {
            return wire;
        }
        if let Some(length) = wire.header("content-length") {
            let length: usize = length.parse().unwrap();
            while self.buf.len() < length {
                self.fill().await;
            }
            wire.body = self.buf.drain(..length).collect();
        } else {
            assert_eq!(
                wire.header("transfer-encoding"),
                Some("chunked"),
                "{wire:?}"
            );
            loop {
                let line_end = loop {
                    if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                        break at;
                    }
                    self.fill().await;
                };
                let size =
                    usize::from_str_radix(std::str::from_utf8(&self.buf[..line_end]).unwrap(), 16)
                        .unwrap();
                while self.buf.len() < line_end + 2 + size + 2 {
                    self.fill().await;
                }
                wire.body
                    .extend_from_slice(&self.buf[line_end + 2..line_end + 2 + size]);
                self.buf.drain(..line_end + 2 + size + 2);
                if size == 0 {
                    break;
                }
            }
        }
        wire
    }

    /// Whether the gateway closes the connection within 5 s.
    async fn closes(&mut self) -> bool {
        let mut chunk = [0u8; 64];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), self.tcp.read(&mut chunk)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

async fn connect(addr: std::net::SocketAddr) -> Reader {
    Reader {
        tcp: TcpStream::connect(addr).await.unwrap(),
        buf: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order_and_a_body_hands_the_connection_to_hyper() {
    let spec = single_service_spec("auth", "/v1/auth/", 1, 1);
    let (gateway, _auth, _dir) = gateway_with_stub(&spec, "auth", "auth-service-1").await;
    let metrics = gateway.store().metrics().clone();
    let mut conn = connect(gateway.local_addr()).await;

    // Three bodiless requests in one segment, one split across two.
    conn.tcp
        .write_all(
            b"GET /v1/auth/one HTTP/1.1\r\nHost: example\r\n\r\n\
              GET /v1/auth/two?x=1 HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n\
              DELETE /v1/auth/three HTTP/1.1\r\nHost: example\r\n\r\nGET /v1/au",
        )
        .await
        .unwrap();
    for (path, method) in [
        ("/v1/auth/one", "GET"),
        ("/v1/auth/two?x=1", "GET"),
        ("/v1/auth/three", "DELETE"),
    ] {
        let reply = conn.response(false).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.json()["path"], path);
        assert_eq!(reply.json()["method"], method);
        assert!(reply.header("date").is_some(), "no Date: {reply:?}");
        assert!(reply.header("x-request-id").is_some(), "{reply:?}");
    }
    conn.tcp
        .write_all(b"th/four HTTP/1.1\r\nHost: example\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(conn.response(false).await.json()["path"], "/v1/auth/four");
    assert_eq!(
        metrics.http1_handoffs(),
        0,
        "bodiless requests left the fast path"
    );

    // A body: hyper's from here on, with the bytes already read.
    conn.tcp
        .write_all(
            b"POST /v1/auth/five HTTP/1.1\r\nHost: example\r\nContent-Length: 5\r\n\r\nhello\
              GET /v1/auth/six HTTP/1.1\r\nHost: example\r\n\r\n",
        )
        .await
        .unwrap();
    let posted = conn.response(false).await;
    assert_eq!(posted.status, 200, "{posted:?}");
    assert_eq!(posted.json()["path"], "/v1/auth/five");
    assert_eq!(posted.json()["body_bytes"], 5);
    assert_eq!(conn.response(false).await.json()["path"], "/v1/auth/six");
    assert_eq!(metrics.http1_handoffs(), 1);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_gets_a_head_and_malformed_heads_are_refused_as_before() {
    let spec = single_service_spec("auth", "/v1/auth/", 1, 1);
    let (gateway, _auth, _dir) = gateway_with_stub(&spec, "auth", "auth-service-1").await;
    let mut conn = connect(gateway.local_addr()).await;
    conn.tcp
        .write_all(b"HEAD /v1/auth/h HTTP/1.1\r\nHost: example\r\n\r\nGET /v1/auth/after HTTP/1.1\r\nHost: example\r\n\r\n")
        .await
        .unwrap();
    let head = conn.response(true).await;
    assert_eq!(head.status, 200, "{head:?}");
    // The next response starts right after the head: no body came between.
    let after = conn.response(false).await;
    assert_eq!(after.json()["path"], "/v1/auth/after", "{after:?}");

    // A gateway error page on the fast path: framed and kept alive.
    conn.tcp
        .write_all(b"GET /nowhere HTTP/1.1\r\nHost: example\r\n\r\n")
        .await
        .unwrap();
    let missing = conn.response(false).await;
    assert_eq!(missing.status, 404, "{missing:?}");
    assert_eq!(missing.header("content-type"), Some("application/json"));

    // Whitespace before the colon: not the fast path's to guess about;
    // hyper refuses it as it always has, and closes.
    conn.tcp
        .write_all(b"GET /v1/auth/x HTTP/1.1\r\nHost : example\r\n\r\n")
        .await
        .unwrap();
    let refused = conn.response(false).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(conn.closes().await);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_closes_an_idle_keep_alive_connection() {
    let spec = single_service_spec("auth", "/v1/auth/", 1, 1);
    let (gateway, _auth, _dir) = gateway_with_stub(&spec, "auth", "auth-service-1").await;
    let mut conn = connect(gateway.local_addr()).await;
    conn.tcp
        .write_all(b"GET /v1/auth/a HTTP/1.1\r\nHost: example\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(conn.response(false).await.status, 200);
    let shutdown = tokio::spawn(gateway.shutdown());
    assert!(
        conn.closes().await,
        "the idle connection outlived the drain"
    );
    tokio::time::timeout(Duration::from_secs(5), shutdown)
        .await
        .expect("shutdown waited on a closed connection")
        .unwrap();
}
