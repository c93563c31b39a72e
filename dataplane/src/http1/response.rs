//! A response as the fast path writes it: the status line, the fields, the
//! `Date` a server must send, and the framing this hop chooses
//! (`Content-Length` kept or added when the length is known, chunked
//! otherwise, none for `HEAD`, 204 and 304), as hyper's server chooses it.
//! It writes into the connection's own buffer and owns no I/O; the driver
//! in [`super::conn`] sends the bytes.

use crate::chunked::push_chunk;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;
use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// How the body goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Nothing after the head, whatever the body yields (`HEAD`, 204, 304).
    NoBody,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding, ended by a zero-length chunk.
    Chunked,
}

/// What the head said about the connection and the body.
#[derive(Debug, Clone, Copy)]
pub struct Encoded {
    pub framing: Framing,
    /// Whether the connection closes after this response.
    pub close: bool,
}

/// Appends the response head to `out`. `head_request` says the request was
/// a `HEAD`; `exact_len` is the body's length if it knows it; `close` asks for `Connection: close` (the gateway is
/// draining). The head's own `Transfer-Encoding` is dropped: the framing is
/// this hop's to choose.
pub fn encode_head(
    out: &mut Vec<u8>,
    head_request: bool,
    status: StatusCode,
    headers: &mut HeaderMap,
    exact_len: Option<u64>,
    close: bool,
) -> Encoded {
    let may_have_body = !matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED)
        && !status.is_informational();
    headers.remove(header::TRANSFER_ENCODING);
    if !may_have_body && status != StatusCode::NOT_MODIFIED {
        headers.remove(header::CONTENT_LENGTH);
    }
    let declared = match headers.get(header::CONTENT_LENGTH) {
        Some(value) => match parse_length(value) {
            Some(len) => Some(len),
            None => {
                // Not a length any client could trust: say what the body is.
                headers.remove(header::CONTENT_LENGTH);
                None
            }
        },
        None => None,
    };
    let close = close
        || headers
            .get(header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    let framing = if !may_have_body || head_request {
        Framing::NoBody
    } else if let Some(len) = declared.or(exact_len) {
        Framing::Length(len)
    } else {
        Framing::Chunked
    };

    out.extend_from_slice(b"HTTP/1.1 ");
    if status == StatusCode::OK {
        out.extend_from_slice(b"200 OK\r\n");
    } else {
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in headers.iter() {
        if close && name == header::CONNECTION {
            continue;
        }
        write_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if !headers.contains_key(header::DATE) {
        with_date(|date| write_field(out, b"date", date));
    }
    if declared.is_none() && may_have_body {
        match (framing, exact_len) {
            // A `HEAD` answered with an empty body says no length, as
            // hyper's server does: the length of the `GET` is not known.
            (Framing::Length(len), _) | (Framing::NoBody, Some(len @ 1..)) => {
                let mut digits = itoa::Buffer::new();
                write_field(out, b"content-length", digits.format(len).as_bytes());
            }
            (Framing::Chunked, _) => write_field(out, b"transfer-encoding", b"chunked"),
            (Framing::NoBody, _) => {}
        }
    }
    if close {
        write_field(out, b"connection", b"close");
    }
    out.extend_from_slice(b"\r\n");
    Encoded { framing, close }
}

/// Appends one piece of the body as `framing` puts it on the wire.
pub fn encode_data(out: &mut Vec<u8>, framing: Framing, data: &Bytes) {
    match framing {
        Framing::NoBody => {}
        Framing::Length(_) => out.extend_from_slice(data),
        Framing::Chunked => push_chunk(out, data),
    }
}

fn write_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// A `Content-Length` value: digits only, as RFC 9110 8.6 has it.
fn parse_length(value: &HeaderValue) -> Option<u64> {
    let bytes = value.as_bytes();
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// The IMF-fixdate of the current second, formatted once a second per
/// thread rather than once per response.
fn with_date(f: impl FnOnce(&[u8])) {
    thread_local! {
        static CACHED: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != second {
            *cached = (second, httpdate::fmt_http_date(now));
        }
        f(cached.1.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(
        method: http::Method,
        status: StatusCode,
        fields: &[(&str, &str)],
        exact_len: Option<u64>,
        close: bool,
    ) -> (String, Encoded) {
        let mut headers = HeaderMap::new();
        for (name, value) in fields {
            headers.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let mut out = Vec::new();
        let encoded = encode_head(
            &mut out,
            method == http::Method::HEAD,
            status,
            &mut headers,
            exact_len,
            close,
        );
        (String::from_utf8(out).unwrap(), encoded)
    }

    #[test]
    fn a_known_length_is_written_once() {
        let (text, encoded) = head(
            http::Method::GET,
            StatusCode::OK,
            &[("x-a", "1")],
            Some(5),
            false,
        );
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\nx-a: 1\r\ndate: "),
            "{text}"
        );
        assert!(text.ends_with("content-length: 5\r\n\r\n"), "{text}");
        assert_eq!(encoded.framing, Framing::Length(5));
        let (text, encoded) = head(
            http::Method::GET,
            StatusCode::OK,
            &[("content-length", "7")],
            None,
            false,
        );
        assert_eq!(text.matches("content-length").count(), 1, "{text}");
        assert_eq!(encoded.framing, Framing::Length(7));
    }

    #[test]
    fn an_unknown_length_is_chunked_and_the_upstream_coding_is_not_kept() {
        let (text, encoded) = head(
            http::Method::GET,
            StatusCode::BAD_GATEWAY,
            &[("transfer-encoding", "gzip, chunked")],
            None,
            false,
        );
        assert!(text.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{text}");
        assert!(!text.contains("gzip"), "{text}");
        assert!(
            text.ends_with("transfer-encoding: chunked\r\n\r\n"),
            "{text}"
        );
        assert_eq!(encoded.framing, Framing::Chunked);
        let mut out = Vec::new();
        encode_data(&mut out, Framing::Chunked, &Bytes::from_static(&[b'x'; 26]));
        assert_eq!(out, b"1a\r\nxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n");
    }

    #[test]
    fn head_204_and_304_carry_no_body() {
        let (text, encoded) = head(http::Method::HEAD, StatusCode::OK, &[], Some(12), false);
        assert!(text.contains("content-length: 12\r\n"), "{text}");
        assert_eq!(encoded.framing, Framing::NoBody);
        let (text, encoded) = head(
            http::Method::GET,
            StatusCode::NO_CONTENT,
            &[("content-length", "0")],
            Some(0),
            false,
        );
        assert!(!text.contains("content-length"), "{text}");
        assert!(!text.contains("transfer-encoding"), "{text}");
        assert_eq!(encoded.framing, Framing::NoBody);
        let (text, _) = head(
            http::Method::GET,
            StatusCode::NOT_MODIFIED,
            &[],
            None,
            false,
        );
        assert!(!text.contains("transfer-encoding"), "{text}");
    }

    #[test]
    fn a_bad_length_is_replaced_by_this_hops_framing() {
        let (text, encoded) = head(
            http::Method::GET,
            StatusCode::OK,
            &[("content-length", "+5")],
            None,
            false,
        );
        assert!(!text.contains("+5"), "{text}");
        assert_eq!(encoded.framing, Framing::Chunked);
    }

    #[test]
    fn closing_is_said_once() {
        let (text, encoded) = head(
            http::Method::GET,
            StatusCode::OK,
            &[("connection", "close")],
            Some(0),
            true,
        );
        assert_eq!(text.matches("connection: close").count(), 1, "{text}");
        assert!(encoded.close);
        let (_, encoded) = head(
            http::Method::GET,
            StatusCode::OK,
            &[("connection", "close")],
            Some(0),
            false,
        );
        assert!(encoded.close, "a response that says close closes");
    }
}
