//! The gateway's own HTTP/1.1 client against an upstream that answers in
//! every shape RFC 9112 allows (and some it forbids), written byte by byte
//! on a raw socket: chunked bodies with extensions and trailers, lengths in
//! pieces, bodies delimited by close, interim 1xx responses, HEAD, 204,
//! conflicting lengths, truncation; and what the client owes the upstream:
//! request bodies with their framing, keep-alive reuse, and a transparent
//! new connection when a pooled one was closed while idle. Each test counts
//! the connections the upstream accepted, so reuse is checked, not assumed.

mod common;

use common::*;
use dataplane::server::ServerHandle;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One request as the upstream read it.
#[derive(Debug, Clone)]
struct Seen {
    head: String,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// A raw upstream whose answer depends on the request path.
struct Upstream {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    /// Connections this side has closed (its socket dropped).
    closed: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (count, ended, log) = (connections.clone(), closed.clone(), seen.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let (ended, log) = (ended.clone(), log.clone());
                tokio::spawn(async move {
                    // The socket is dropped (closed) when this returns.
                    serve_connection(socket, log).await;
                    ended.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Self {
            addr,
            connections,
            closed,
            seen,
            task,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }

    fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a request")
    }
}

async fn serve_connection(socket: TcpStream, log: Arc<Mutex<Vec<Seen>>>) {
    socket.set_nodelay(true).unwrap();
    let mut reader = BufReader::new(socket);
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let mut seen = Seen {
            head,
            body: Vec::new(),
        };
        if let Some(len) = seen.header("content-length") {
            let mut body = vec![0; len.parse().unwrap()];
            reader.read_exact(&mut body).await.unwrap();
            seen.body = body;
        } else if seen.header("transfer-encoding").as_deref() == Some("chunked") {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).await.unwrap();
                let size = usize::from_str_radix(size.trim(), 16).unwrap();
                let mut chunk = vec![0; size + 2];
                reader.read_exact(&mut chunk).await.unwrap();
                if size == 0 {
                    break;
                }
                seen.body.extend_from_slice(&chunk[..size]);
            }
        }
        let path = seen
            .head
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_owned();
        let method = seen.head.split_whitespace().next().unwrap_or("").to_owned();
        let body = seen.body.clone();
        log.lock().unwrap().push(seen);
        let socket = reader.get_mut();
        let path = path.trim_start_matches("/v1/auth");
        let keep_going = answer(socket, &method, path, &body).await;
        if !keep_going {
            return;
        }
    }
}

/// Writes the answer for `path`; whether the connection stays open.
async fn answer(socket: &mut TcpStream, method: &str, path: &str, body: &[u8]) -> bool {
    match path {
        "/chunked" => {
            let response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                            5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
            // Byte by byte: every state of the decoder meets a short read.
            for byte in response.as_bytes() {
                socket.write_all(&[*byte]).await.unwrap();
                socket.flush().await.unwrap();
            }
            true
        }
        "/length" => {
            socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello")
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            socket.write_all(b" world").await.unwrap();
            true
        }
        "/until-close" => {
            socket
                .write_all(b"HTTP/1.1 200 OK\r\n\r\nuntil ")
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            socket.write_all(b"close").await.unwrap();
            false
        }
        "/connection-close" => {
            socket
                .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
                .await
                .unwrap();
            false
        }
        "/interim" => {
            socket
                .write_all(
                    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
                      HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal",
                )
                .await
                .unwrap();
            true
        }
        "/no-content" => {
            socket
                .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                .await
                .unwrap();
            true
        }
        "/conflicting-lengths" => {
            socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!")
                .await
                .unwrap();
            false
        }
        "/garbage" => {
            socket.write_all(b"HTTP/1.1 2x0 OK\r\n\r\n").await.unwrap();
            false
        }
        "/truncated" => {
            socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
                .await
                .unwrap();
            false
        }
        "/echo" => {
            let mut response =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
            response.extend_from_slice(body);
            socket.write_all(&response).await.unwrap();
            true
        }
        "/stall" => {
            // A head, a tenth of the body, then nothing (a hung upstream).
            socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nten bytes.")
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_secs(60)).await;
            false
        }
        "/idle-close" => {
            // Keep-alive promised, then the connection is closed while it
            // sits idle in the gateway's pool (an upstream's idle timeout).
            socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(30)).await;
            false
        }
        _ => {
            // HEAD gets the length of the body it does not get.
            let body = if method == "HEAD" { "" } else { "ok" };
            socket
                .write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{body}").as_bytes())
                .await
                .unwrap();
            true
        }
    }
}

/// A gateway whose `auth` service is `upstream`, with no health check (so
/// every connection the upstream counts carried traffic).
async fn gateway_to(upstream: &Upstream) -> (ServerHandle, tempfile::TempDir) {
    let mut spec = single_service_spec("auth", "/v1/auth/", 1, 1);
    spec.services[0].health = None;
    gateway_to_port(&spec, "auth", upstream.addr.port()).await
}

/// Sends `request` on a new connection and reads the answer to the end
/// (`Connection: close` is added): the status, the decoded body, or what
/// went wrong.
async fn raw(gateway: SocketAddr, request: &str) -> Result<(u16, Vec<u8>), String> {
    let mut socket = TcpStream::connect(gateway).await.unwrap();
    let request = request.replacen("\r\n", "\r\nConnection: close\r\n", 1);
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    socket
        .read_to_end(&mut raw)
        .await
        .map_err(|e| e.to_string())?;
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head_len) = response.parse(&raw).map_err(|e| e.to_string())?
    else {
        return Err(format!(
            "incomplete head: {:?}",
            String::from_utf8_lossy(&raw)
        ));
    };
    let status = response.code.unwrap();
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    let rest = &raw[head_len..];
    let body = if header("transfer-encoding").is_some() {
        dechunk(rest)?
    } else if let Some(len) = header("content-length") {
        let len: usize = len.parse().unwrap();
        if rest.len() < len {
            return Err(format!("body cut short: {} of {len} bytes", rest.len()));
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok((status, body))
}

fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunked body cut short")?;
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).unwrap(), 16)
            .map_err(|e| e.to_string())?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if raw.len() < size + 2 {
            return Err("chunk cut short".into());
        }
        body.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

fn get_request(path: &str) -> String {
    format!("GET /v1/auth{path} HTTP/1.1\r\nHost: api.test\r\n\r\n")
}

#[tokio::test]
async fn keep_alive_connections_are_reused() {
    let upstream = Upstream::start().await;
    let (gateway, _dir) = gateway_to(&upstream).await;
    for path in ["/a", "/chunked", "/length", "/interim", "/no-content", "/b"] {
        let (status, _) = raw(gateway.local_addr(), &get_request(path)).await.unwrap();
        assert!(status == 200 || status == 204, "{path}: {status}");
    }
    assert_eq!(
        upstream.connections(),
        1,
        "six requests, each read to its end, should share one connection"
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn every_response_framing_arrives_whole() {
    let upstream = Upstream::start().await;
    let (gateway, _dir) = gateway_to(&upstream).await;
    let addr = gateway.local_addr();
    let cases: [(&str, u16, &[u8]); 6] = [
        ("/chunked", 200, b"hello world"),
        ("/length", 200, b"hello world"),
        ("/until-close", 200, b"until close"),
        ("/connection-close", 200, b"ok"),
        ("/interim", 200, b"final"),
        ("/no-content", 204, b""),
    ];
    for (path, status, body) in cases {
        let reply = raw(addr, &get_request(path)).await;
        assert_eq!(reply, Ok((status, body.to_vec())), "{path}");
    }
    // The two that end by closing could not be reused; the others were.
    let before = upstream.connections();
    raw(addr, &get_request("/a")).await.unwrap();
    assert_eq!(
        upstream.connections(),
        before,
        "a kept connection is reused"
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_closing_response_is_not_reused() {
    let upstream = Upstream::start().await;
    let (gateway, _dir) = gateway_to(&upstream).await;
    let addr = gateway.local_addr();
    for path in ["/until-close", "/a", "/connection-close", "/a"] {
        raw(addr, &get_request(path)).await.unwrap();
    }
    // until-close ends the first connection; /a opens a second, which
    // connection-close reuses and ends; the last /a needs a third.
    assert_eq!(upstream.connections(), 3);
    gateway.shutdown().await;
}

#[tokio::test]
async fn head_responses_carry_no_body_and_keep_the_connection() {
    let upstream = Upstream::start().await;
    let (gateway, _dir) = gateway_to(&upstream).await;
    let addr = gateway.local_addr();
    let head = "HEAD /v1/auth/a HTTP/1.1\r\nHost: api.test\r\n\r\n";
    // `raw` would wait for a 2-byte body a HEAD answer never has: read
    // until the gateway closes.
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(
            head.replacen("\r\n", "\r\nConnection: close\r\n", 1)
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("content-length: 2"),
        "{answer}"
    );
    assert!(
        answer.ends_with("\r\n\r\n"),
        "no body after a HEAD answer: {answer:?}"
    );
    assert_eq!(
        raw(addr, &get_request("/a")).await,
        Ok((200, b"ok".to_vec()))
    );
    assert_eq!(upstream.connections(), 1);
    gateway.shutdown().await;
}

#[tokio::test]
async fn malformed_responses_are_a_502() {
    let upstream = Upstream::start().await;
    let (gateway, _dir) = gateway_to(&upstream).await;
    for path in ["/conflicting-lengths", "/garbage"] {
        let (status, body) = raw(gateway.local_addr(), &get_request(path)).await.unwrap();
        assert_eq!(status, 502, "{path}: {:?}", String::from_utf8_lossy(&body));
    }
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_truncated_body_is_never_passed_off_as_whole() {
    let upstream = Upstream::start().await;
    let (gateway, _dir) = gateway_to(&upstream).await;
    let reply = raw(gateway.local_addr(), &get_request("/truncated")).await;
    // The head (and its length) went out before the upstream failed; the
    // client must see a body cut short, never a complete 100-byte body.
    assert!(reply.is_err(), "{reply:?}");
    gateway.shutdown().await;
}

#[tokio::test]
async fn request_bodies_keep_their_framing() {
    let upstream = Upstream::start().await;
    let (gateway, _dir) = gateway_to(&upstream).await;
    let addr = gateway.local_addr();

    let with_length =
        "POST /v1/auth/echo HTTP/1.1\r\nHost: api.test\r\nContent-Length: 11\r\n\r\nhello world";
    assert_eq!(
        raw(addr, with_length).await,
        Ok((200, b"hello world".to_vec()))
    );
    let seen = upstream.last();
    assert_eq!(seen.header("content-length").as_deref(), Some("11"));
    assert_eq!(seen.header("transfer-encoding"), None);

    let chunked = "POST /v1/auth/echo HTTP/1.1\r\nHost: api.test\r\n\
                   Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    assert_eq!(raw(addr, chunked).await, Ok((200, b"hello world".to_vec())));
    let seen = upstream.last();
    assert_eq!(seen.header("transfer-encoding").as_deref(), Some("chunked"));
    assert_eq!(seen.header("content-length"), None);

    let empty = "POST /v1/auth/echo HTTP/1.1\r\nHost: api.test\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(raw(addr, empty).await, Ok((200, Vec::new())));
    assert_eq!(upstream.last().header("transfer-encoding"), None);
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_pooled_connection_closed_while_idle_is_replaced() {
    let upstream = Upstream::start().await;
    let (gateway, _dir) = gateway_to(&upstream).await;
    let addr = gateway.local_addr();
    for round in 0..3 {
        assert_eq!(
            raw(addr, &get_request("/idle-close")).await,
            Ok((200, b"ok".to_vec())),
            "round {round}"
        );
        // The upstream closes its side 30 ms after answering; the next
        // request goes out once it has (a fixed wait was a bet on timers).
        let closed = eventually(500, || async { upstream.closed() > round }).await;
        assert!(closed, "round {round}: the upstream never closed its side");
    }
    // A POST on top: its body must not be lost to a dead connection.
    let post = "POST /v1/auth/echo HTTP/1.1\r\nHost: api.test\r\nContent-Length: 4\r\n\r\nping";
    assert_eq!(raw(addr, post).await, Ok((200, b"ping".to_vec())));
    assert_eq!(upstream.connections(), 4, "one new connection per request");
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_cut_off_at_the_read_timeout() {
    let upstream = Upstream::start().await;
    let mut spec = single_service_spec("auth", "/v1/auth/", 1, 1);
    spec.services[0].health = None;
    spec.services[0].timeouts.response_ms = 300;
    let (gateway, _dir) = gateway_to_port(&spec, "auth", upstream.addr.port()).await;
    let addr = gateway.local_addr();
    // The upstream holds the connection for 60 s; the gateway must give up
    // after 300 ms of silence, well inside this test's 10 s of patience.
    let reply = tokio::time::timeout(Duration::from_secs(10), raw(addr, &get_request("/stall")))
        .await
        .expect("the gateway kept a stalled body open");
    assert!(
        reply.is_err(),
        "a stalled body passed off as whole: {reply:?}"
    );
    // The instance and the gateway carry on.
    assert_eq!(
        raw(addr, &get_request("/a")).await,
        Ok((200, b"ok".to_vec()))
    );
    gateway.shutdown().await;
}
