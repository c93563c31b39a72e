//! One client connection on the gateway's own HTTP/1.1 fast path: read a
//! head into the connection's buffer, let [`super::head`] decide whether it
//! is one the fast path serves, hand the request to the [`Gateway`], write
//! the response with [`super::response`], and go round again while the
//! connection is kept alive. The first request outside the subset ends the
//! fast path: the connection goes to hyper with every byte already read
//! (see [`Ended::HandOff`]), and hyper serves it from there on, as it
//! serves every connection that never took the fast path (HTTP/2, TLS
//! connections that chose h2).
//!
//! Semantics kept from hyper's server: the header timeout runs from the
//! moment a head is awaited (idle keep-alive time counts) and closes the
//! connection; a client that goes away while its request is in flight has
//! the request dropped; draining answers the request in flight with
//! `Connection: close` and closes idle connections. Unlike hyper's, the
//! timer is armed once per connection: its deadline moves with each
//! request, and the sleep is re-armed only when it fires early.

use super::head::{self, Parsed};
use super::response::{encode_data, encode_head, Framing};
use crate::body::GatewayBody;
use crate::chunked::LAST_CHUNK;
use crate::forwarding::Peer;
use crate::proxy::Gateway;
use crate::upstream::ClientBody;
use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use http::{Method, Request};
use http_body_util::BodyExt;
use hyper::body::Body;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

/// Room read at a time, and kept for the next head.
const READ_CAPACITY: usize = 8 * 1024;
/// Fields in a head, as many as hyper's server accepts.
const MAX_HEADERS: usize = 100;
/// Body pieces at least this large are written as they are, not copied
/// behind the head.
const DIRECT_WRITE: usize = 16 * 1024;

/// The connection-level limits the fast path applies.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long a head may take to arrive, idle keep-alive time included.
    pub header_timeout: Duration,
    /// A head that grows past this without ending goes to hyper, which
    /// answers 431 as it would have.
    pub max_head_bytes: usize,
}

/// How a connection left the fast path.
pub enum Ended<I> {
    /// Closed, by either side, at the header timeout, for a body that
    /// broke off, or for draining: nothing more to do.
    Closed,
    /// A request the fast path leaves to hyper: the connection, and the
    /// bytes already read from it, from the first byte of that request.
    HandOff(I, Bytes),
}

/// Serves `io` until it closes or meets a request outside the subset.
pub async fn serve<I>(
    mut io: I,
    gateway: &Gateway,
    peer: Peer,
    settings: Settings,
    shutdown: &mut watch::Receiver<bool>,
) -> Ended<I>
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = BytesMut::with_capacity(READ_CAPACITY);
    let mut out: Vec<u8> = Vec::with_capacity(READ_CAPACITY);
    let mut deadline = Instant::now() + settings.header_timeout;
    let timer = tokio::time::sleep_until(deadline);
    tokio::pin!(timer);
    loop {
        // The head: what a pipelining client already sent, or read now.
        let mut unparsed = !buf.is_empty();
        let head = loop {
            if unparsed {
                unparsed = false;
                let frozen = buf.split().freeze();
                match head::parse(&frozen, MAX_HEADERS) {
                    Parsed::Complete { head, len } => {
                        if len < frozen.len() {
                            buf.extend_from_slice(&frozen[len..]);
                        }
                        break head;
                    }
                    Parsed::Partial if frozen.len() < settings.max_head_bytes => {
                        buf.extend_from_slice(&frozen);
                    }
                    _ => return Ended::HandOff(io, frozen),
                }
            }
            if *shutdown.borrow() {
                return Ended::Closed;
            }
            buf.reserve(READ_CAPACITY);
            tokio::select! {
                biased;
                read = io.read_buf(&mut buf) => match read {
                    Ok(0) | Err(_) => return Ended::Closed,
                    Ok(_) => unparsed = true,
                },
                () = &mut timer => {
                    if Instant::now() >= deadline {
                        tracing::debug!(peer = %peer.ip, "header timeout: closing the connection");
                        return Ended::Closed;
                    }
                    // Armed for an earlier request: catch up.
                    timer.as_mut().reset(deadline);
                }
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        return Ended::Closed;
                    }
                }
            }
        };

        let head_request = head.method == Method::HEAD;
        let mut request = Request::new(ClientBody::Empty);
        *request.method_mut() = head.method;
        *request.uri_mut() = head.uri;
        *request.headers_mut() = head.headers;
        let handling = gateway.handle(peer, request);
        tokio::pin!(handling);
        let response = loop {
            tokio::select! {
                biased;
                response = &mut handling => break response,
                // A client that closes while its request is in flight has
                // it dropped, as hyper's server does; a pipelined head is
                // kept for its turn.
                read = io.read_buf(&mut buf), if buf.len() < settings.max_head_bytes => match read {
                    Ok(0) | Err(_) => return Ended::Closed,
                    Ok(_) => {}
                },
            }
        };

        let draining = *shutdown.borrow();
        let (mut parts, body) = response.into_parts();
        let encoded = encode_head(
            &mut out,
            head_request,
            parts.status,
            &mut parts.headers,
            body.size_hint().exact(),
            draining,
        );
        drop(parts);
        if !write_body(&mut io, &mut out, body, encoded.framing).await {
            return Ended::Closed;
        }
        if encoded.close {
            let _ = io.shutdown().await;
            return Ended::Closed;
        }
        deadline = Instant::now() + settings.header_timeout;
    }
}

/// Writes the head in `out` and the body behind it, in as few writes as
/// the body allows: a body that is already there goes out with its head.
/// `false` when the connection cannot go on (the write failed, or the body
/// broke off or did not match its length, which only closing can tell the
/// client).
async fn write_body<I>(
    io: &mut I,
    out: &mut Vec<u8>,
    mut body: GatewayBody,
    framing: Framing,
) -> bool
where
    I: AsyncWrite + Unpin,
{
    let mut sent: u64 = 0;
    let complete = loop {
        let frame = match body.frame().now_or_never() {
            Some(frame) => frame,
            None => {
                if flush(io, out).await.is_err() {
                    return false;
                }
                body.frame().await
            }
        };
        let data = match frame {
            None => break true,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "response body broke off");
                break false;
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                // Trailers are not forwarded over HTTP/1.1.
                Err(_) => continue,
            },
        };
        sent += data.len() as u64;
        if matches!(framing, Framing::Length(len) if sent > len) {
            tracing::debug!("response body longer than its Content-Length");
            break false;
        }
        if data.len() >= DIRECT_WRITE && matches!(framing, Framing::Length(_)) {
            if flush(io, out).await.is_err() || io.write_all(&data).await.is_err() {
                return false;
            }
        } else {
            encode_data(out, framing, &data);
        }
    };
    drop(body);
    let complete = complete && !matches!(framing, Framing::Length(len) if sent < len);
    if complete && framing == Framing::Chunked {
        // Trailers are not forwarded over HTTP/1.1.
        out.extend_from_slice(LAST_CHUNK);
    }
    // What there is goes out even when the body broke off: the client
    // learns it from the connection closing short of the framing's end.
    flush(io, out).await.is_ok() && complete
}

async fn flush<I: AsyncWrite + Unpin>(io: &mut I, out: &mut Vec<u8>) -> std::io::Result<()> {
    if !out.is_empty() {
        io.write_all(out).await?;
        out.clear();
    }
    io.flush().await
}
