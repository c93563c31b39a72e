//! A raw HTTP/1.1 client for requests no well-behaved client library will
//! send (smuggling shapes, obs-folded headers, invalid methods, NUL bytes,
//! oversized request lines): it writes the bytes as given on a plain
//! `TcpStream` and splits whatever comes back into responses, so a test can
//! count them (two answers to one request means a smuggled request was
//! served). It owns no knowledge of the gateway.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One response read off the wire.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// The head, lines as sent (without the status line).
    pub head: String,
    pub body: Vec<u8>,
}

/// Everything the server sent back on one connection.
#[derive(Debug, Clone, Default)]
pub struct RawReply {
    pub responses: Vec<RawResponse>,
    /// Bytes after the last complete response (a cut-off answer).
    pub trailing: Vec<u8>,
    /// Whether the server closed the connection before `wait` ran out.
    pub closed: bool,
}

impl RawReply {
    pub fn status(&self) -> Option<u16> {
        self.responses.first().map(|r| r.status)
    }
}

/// Sends `request` and reads until the server closes the connection or
/// `wait` passes. Write errors are ignored: a server may refuse and close
/// before it has read everything, and what it answered is still read.
pub async fn exchange(addr: SocketAddr, request: &[u8], wait: Duration) -> RawReply {
    let mut stream = TcpStream::connect(addr).await.expect("connect to gateway");
    let (mut reader, mut writer) = stream.split();
    let mut received = Vec::new();
    let mut closed = false;
    let read_all = async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    let write_all = async {
        let _ = writer.write_all(request).await;
        let _ = writer.flush().await;
    };
    let both = async {
        let (_, eof) = tokio::join!(write_all, read_all);
        eof
    };
    if let Ok(eof) = tokio::time::timeout(wait, both).await {
        closed = eof;
    }
    let (responses, trailing) = split_responses(&received);
    RawReply {
        responses,
        trailing,
        closed,
    }
}

/// Splits a byte stream into HTTP/1.x responses framed by `Content-Length`
/// or chunked encoding (or running to the end, for neither).
pub fn split_responses(mut bytes: &[u8]) -> (Vec<RawResponse>, Vec<u8>) {
    let mut responses = Vec::new();
    while let Some(end) = find(bytes, b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok());
        let Some(status) = status else { break };
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let rest = &bytes[end + 4..];
        let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let (body, consumed) = if header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            match dechunk(rest) {
                Some(done) => done,
                None => break,
            }
        } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
            if rest.len() < len {
                break;
            }
            (rest[..len].to_vec(), len)
        } else if status == 204 || status == 304 || (100..200).contains(&status) {
            (Vec::new(), 0)
        } else {
            (rest.to_vec(), rest.len())
        };
        responses.push(RawResponse {
            status,
            head: head
                .split_once("\r\n")
                .map_or(String::new(), |(_, h)| h.to_owned()),
            body,
        });
        bytes = &rest[consumed..];
    }
    (responses, bytes.to_vec())
}

fn dechunk(mut bytes: &[u8]) -> Option<(Vec<u8>, usize)> {
    let start = bytes.len();
    let mut body = Vec::new();
    loop {
        let line_end = find(bytes, b"\r\n")?;
        let size_text = std::str::from_utf8(&bytes[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        bytes = &bytes[line_end + 2..];
        if size == 0 {
            // Trailers (none expected), then the final CRLF.
            let end = find(bytes, b"\r\n")?;
            bytes = &bytes[end + 2..];
            return Some((body, start - bytes.len()));
        }
        if bytes.len() < size + 2 {
            return None;
        }
        body.extend_from_slice(&bytes[..size]);
        bytes = &bytes[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
