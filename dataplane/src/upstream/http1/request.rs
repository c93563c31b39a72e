//! The request head and body as they go on the wire to an upstream:
//! the framing this hop chooses (`Content-Length` kept, chunked otherwise,
//! `Transfer-Encoding` decided here, never forwarded) and the encoding.

use crate::chunked::push_chunk;
use crate::upstream::request_body::UpstreamBody;
use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::Method;
use hyper::body::Body;

/// Appends `data` to `out` as it goes on the wire, leaving `data` empty.
pub(super) fn encode_body_piece(out: &mut Vec<u8>, framing: RequestFraming, data: &mut Bytes) {
    if data.is_empty() {
        return;
    }
    if framing == RequestFraming::Chunked {
        push_chunk(out, data);
    } else {
        out.extend_from_slice(data);
    }
    *data = Bytes::new();
}

/// How the request body is delimited upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RequestFraming {
    /// No body at all.
    None,
    /// `Content-Length` as the client sent it (the server side validated it).
    Length,
    /// A body of unknown length, sent chunked.
    Chunked,
}

impl RequestFraming {
    pub(super) fn of(headers: &HeaderMap, body: &UpstreamBody) -> Self {
        if headers.contains_key(header::CONTENT_LENGTH) {
            if body.is_end_stream() {
                Self::None
            } else {
                Self::Length
            }
        } else if body.is_end_stream() {
            Self::None
        } else {
            Self::Chunked
        }
    }
}

pub(super) fn encode_request_head(
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    framing: RequestFraming,
) -> Vec<u8> {
    let mut size = method.as_str().len() + path_and_query.len() + 16 + 28;
    for (name, value) in headers {
        size += name.as_str().len() + value.len() + 4;
    }
    let mut head = Vec::with_capacity(size);
    head.extend_from_slice(method.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(path_and_query.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        // The framing is this hop's, written below.
        if name == header::TRANSFER_ENCODING {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if framing == RequestFraming::Chunked {
        head.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// What goes in a request's head upstream.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    pub method: &'a Method,
    /// The request target, in origin form (`/path?query`).
    pub path_and_query: &'a str,
    /// Sent as they are, except `Transfer-Encoding`, which this hop decides.
    pub headers: &'a HeaderMap,
}
