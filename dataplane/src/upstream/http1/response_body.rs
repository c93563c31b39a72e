//! An upstream's response body, decoded as the client's side of the
//! gateway reads it (by length, chunked, or until close), cut off when it
//! stops arriving for the service's response timeout, and the connection
//! given back to its pool once the body has ended cleanly. After a 101 the
//! connection becomes an [`Upgraded`] tunnel, bytes already read first.

use super::response_head::ResponseFraming;
use crate::upstream::conn::Conn;
use crate::upstream::connect::UpstreamStream;
use crate::upstream::pool::{finish, HostPool};
use bytes::{Buf, Bytes};
use hyper::body::{Body, Frame, SizeHint};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest chunk-size line (size and extensions), and all trailers.
const MAX_CHUNK_LINE: usize = 4 * 1024;
const MAX_TRAILERS: usize = 16 * 1024;

/// Why an upstream response body could not be read to its end.
#[derive(Debug, thiserror::Error)]
pub enum ResponseBodyError {
    #[error("reading the upstream's body: {0}")]
    Io(#[from] io::Error),
    #[error("the upstream closed the connection {0} bytes before the end of the body")]
    Truncated(u64),
    #[error("the upstream closed the connection inside a chunked body")]
    TruncatedChunked,
    #[error("malformed chunked body from the upstream: {0}")]
    BadChunk(&'static str),
    #[error("the upstream sent nothing for {0:?} in the middle of the body")]
    Stalled(Duration),
}

/// A response body from an upstream, read from its connection as the
/// client takes it (or whole, when it came with the head).
pub struct ResponseBody {
    state: BodyState,
}

enum BodyState {
    Full(Option<Bytes>),
    Streaming(Box<Streaming>),
    Upgrade(Option<Box<Conn>>),
}

struct Streaming {
    /// `None` once the body has ended.
    conn: Option<Conn>,
    decoder: Decoder,
    /// Where the connection goes when the body ends; `None` when it must
    /// be closed (read until close, `Connection: close`).
    pool: Option<Arc<HostPool>>,
    /// How long the body may stop arriving before it is cut off (an
    /// upstream that sends a head and stalls would otherwise hold the
    /// client's connection and the request's permits for ever).
    read_timeout: Duration,
    /// Armed the first time a read waits; pushed back by every read.
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
}

#[derive(Debug, Clone, Copy)]
enum Decoder {
    Length(u64),
    /// The chunk state and, for trailers, how many bytes were seen.
    Chunked(Chunk, usize),
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

/// One step of decoding: a piece of the body, the end, or a need for more
/// bytes from the socket.
enum Step {
    Data(Bytes),
    End,
    NeedMore,
}

impl ResponseBody {
    /// No body (what is left of a response whose connection was upgraded).
    pub fn empty() -> Self {
        Self::full(Bytes::new())
    }

    /// The whole body, read with its head.
    pub(super) fn full(bytes: Bytes) -> Self {
        Self {
            state: BodyState::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// A 101: the connection, kept for [`ResponseBody::into_upgraded`].
    pub(super) fn upgrade(conn: Conn) -> Self {
        Self {
            state: BodyState::Upgrade(Some(Box::new(conn))),
        }
    }

    /// A body still to be read from `conn` as `framing` says; the
    /// connection goes back to `pool` at its end when `keep_alive` and the
    /// framing allow.
    pub(super) fn streaming(
        conn: Conn,
        framing: ResponseFraming,
        keep_alive: bool,
        pool: &Arc<HostPool>,
        read_timeout: Duration,
    ) -> Self {
        let decoder = match framing {
            ResponseFraming::Length(len) => Decoder::Length(len),
            ResponseFraming::Chunked => Decoder::Chunked(Chunk::Size, 0),
            _ => Decoder::UntilClose,
        };
        let keep = keep_alive && !matches!(decoder, Decoder::UntilClose);
        Self {
            state: BodyState::Streaming(Box::new(Streaming {
                conn: Some(conn),
                decoder,
                pool: keep.then(|| pool.clone()),
                read_timeout,
                stall: None,
            })),
        }
    }

    /// After a 101 response: the connection, for a tunnel; the bytes the
    /// upstream sent after its head come first.
    pub fn into_upgraded(self) -> Option<Upgraded> {
        match self.state {
            BodyState::Upgrade(Some(conn)) => Some(Upgraded {
                prefix: conn.buf.freeze(),
                io: conn.io,
                _open: conn.open,
            }),
            _ => None,
        }
    }
}

impl Streaming {
    fn step(&mut self) -> Result<Step, ResponseBodyError> {
        let conn = self.conn.as_mut().expect("polled after the end");
        let buf = &mut conn.buf;
        loop {
            match &mut self.decoder {
                Decoder::Length(0) | Decoder::Chunked(Chunk::Done, _) => return Ok(Step::End),
                Decoder::Length(left) | Decoder::Chunked(Chunk::Data(left), _) => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    let n = (*left).min(buf.len() as u64);
                    *left -= n;
                    if let Decoder::Chunked(chunk @ Chunk::Data(0), _) = &mut self.decoder {
                        *chunk = Chunk::DataEnd;
                    }
                    return Ok(Step::Data(buf.split_to(n as usize).freeze()));
                }
                Decoder::UntilClose => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    return Ok(Step::Data(buf.split().freeze()));
                }
                Decoder::Chunked(chunk, trailer_bytes) => {
                    let Some(line_end) = find_crlf(buf)? else {
                        let limit = if *chunk == Chunk::Trailers {
                            MAX_TRAILERS - *trailer_bytes
                        } else {
                            MAX_CHUNK_LINE
                        };
                        if buf.len() > limit {
                            return Err(ResponseBodyError::BadChunk("line too long"));
                        }
                        return Ok(Step::NeedMore);
                    };
                    let line = &buf[..line_end];
                    match *chunk {
                        Chunk::Size => {
                            let size = parse_chunk_size(line)?;
                            *chunk = if size == 0 {
                                Chunk::Trailers
                            } else {
                                Chunk::Data(size)
                            };
                        }
                        Chunk::DataEnd => {
                            if line_end != 0 {
                                return Err(ResponseBodyError::BadChunk(
                                    "chunk data longer than its size",
                                ));
                            }
                            *chunk = Chunk::Size;
                        }
                        Chunk::Trailers => {
                            *trailer_bytes += line_end + 2;
                            if *trailer_bytes > MAX_TRAILERS {
                                return Err(ResponseBodyError::BadChunk("trailers too large"));
                            }
                            // Trailers are not forwarded; the empty line ends the body.
                            if line_end == 0 {
                                *chunk = Chunk::Done;
                            }
                        }
                        Chunk::Data(_) | Chunk::Done => unreachable!("handled above"),
                    }
                    buf.advance(line_end + 2);
                }
            }
        }
    }

    fn ended(&self) -> bool {
        matches!(
            self.decoder,
            Decoder::Length(0) | Decoder::Chunked(Chunk::Done, _)
        )
    }

    /// The body has ended: the connection goes back or is closed.
    fn finish(&mut self) {
        if let Some(conn) = self.conn.take() {
            finish(conn, self.pool.take().as_ref());
        }
    }
}

/// The position of the first CRLF; a bare LF is an error (a lenient
/// reader that takes it as a line end disagrees with a strict one about
/// where a chunk ends).
fn find_crlf(buf: &[u8]) -> Result<Option<usize>, ResponseBodyError> {
    match buf.iter().position(|b| *b == b'\n') {
        Some(0) => Err(ResponseBodyError::BadChunk("bare LF")),
        Some(i) if buf[i - 1] == b'\r' => Ok(Some(i - 1)),
        Some(_) => Err(ResponseBodyError::BadChunk("bare LF")),
        None => Ok(None),
    }
}

fn parse_chunk_size(line: &[u8]) -> Result<u64, ResponseBodyError> {
    // The size, then optional whitespace and `;extensions` (ignored).
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 15 {
        return Err(ResponseBodyError::BadChunk("bad chunk size"));
    }
    let rest = line[digits..].trim_ascii_start();
    if !(rest.is_empty() || rest[0] == b';') || line[digits..].contains(&b'\r') {
        return Err(ResponseBodyError::BadChunk("bad chunk size"));
    }
    let hex = std::str::from_utf8(&line[..digits]).expect("hex digits are ASCII");
    u64::from_str_radix(hex, 16).map_err(|_| ResponseBodyError::BadChunk("bad chunk size"))
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = ResponseBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ResponseBodyError>>> {
        let streaming = match &mut self.get_mut().state {
            BodyState::Full(bytes) => return Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            BodyState::Upgrade(_) => return Poll::Ready(None),
            BodyState::Streaming(streaming) => streaming,
        };
        if streaming.conn.is_none() {
            return Poll::Ready(None);
        }
        loop {
            match streaming.step() {
                Ok(Step::Data(data)) => {
                    if streaming.ended() {
                        streaming.finish();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Ok(Step::End) => {
                    streaming.finish();
                    return Poll::Ready(None);
                }
                Ok(Step::NeedMore) => {}
                Err(e) => {
                    streaming.conn = None;
                    return Poll::Ready(Some(Err(e)));
                }
            }
            let conn = streaming.conn.as_mut().expect("checked above");
            let read = match conn.poll_fill(cx) {
                Poll::Ready(Ok(read)) => read,
                Poll::Ready(Err(e)) => {
                    streaming.conn = None;
                    return Poll::Ready(Some(Err(e.into())));
                }
                Poll::Pending => {
                    let timeout = streaming.read_timeout;
                    let stall = streaming
                        .stall
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                    if stall.as_mut().poll(cx).is_ready() {
                        streaming.conn = None;
                        return Poll::Ready(Some(Err(ResponseBodyError::Stalled(timeout))));
                    }
                    return Poll::Pending;
                }
            };
            if read > 0 {
                if let Some(stall) = streaming.stall.as_mut() {
                    stall
                        .as_mut()
                        .reset(tokio::time::Instant::now() + streaming.read_timeout);
                }
            }
            if read == 0 {
                let error = match streaming.decoder {
                    Decoder::UntilClose => {
                        streaming.conn = None;
                        return Poll::Ready(None);
                    }
                    Decoder::Length(left) => ResponseBodyError::Truncated(left),
                    Decoder::Chunked(..) => ResponseBodyError::TruncatedChunked,
                };
                streaming.conn = None;
                return Poll::Ready(Some(Err(error)));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.state {
            BodyState::Full(bytes) => bytes.is_none(),
            BodyState::Upgrade(_) => true,
            BodyState::Streaming(streaming) => streaming.conn.is_none() || streaming.ended(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            BodyState::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            BodyState::Upgrade(_) => SizeHint::with_exact(0),
            BodyState::Streaming(streaming) => match streaming.decoder {
                Decoder::Length(left) => SizeHint::with_exact(left),
                _ => SizeHint::default(),
            },
        }
    }
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            BodyState::Full(bytes) => {
                format!("full, {} bytes", bytes.as_ref().map_or(0, Bytes::len))
            }
            BodyState::Streaming(streaming) => format!("streaming, {:?}", streaming.decoder),
            BodyState::Upgrade(_) => "upgraded".to_owned(),
        };
        f.debug_struct("ResponseBody")
            .field("state", &state)
            .finish()
    }
}

/// An upstream connection after `101 Switching Protocols`: the bytes the
/// upstream sent right after its head, then the connection itself.
pub struct Upgraded {
    prefix: Bytes,
    io: UpstreamStream,
    /// A tunnel stays one of its pool's open (in use) connections.
    _open: crate::upstream::counts::OpenConn,
}

impl AsyncRead for Upgraded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sizes_are_strict() {
        assert_eq!(parse_chunk_size(b"1a").unwrap(), 26);
        assert_eq!(parse_chunk_size(b"1a;name=value").unwrap(), 26);
        assert_eq!(parse_chunk_size(b"1a ;x").unwrap(), 26);
        for bad in [
            &b""[..],
            b"-1",
            b"0x1a",
            b"1a x",
            b"1234567890abcdef0",
            b" 1a",
        ] {
            assert!(parse_chunk_size(bad).is_err(), "{bad:?}");
        }
        assert!(find_crlf(b"1a\n").is_err());
        assert_eq!(find_crlf(b"1a\r\n").unwrap(), Some(2));
    }
}
