//! HTTP/1.1 on one upstream connection, spoken in the request's own task:
//! the request head and body written out, the response head parsed
//! (httparse), and the response body decoded as the client's side of the
//! gateway reads it. There is no connection task and no channel between
//! the request and its connection, so a proxied request costs one task's
//! wake-ups, not three; a small response that arrives with its head is
//! handed on whole and its connection is back in the pool before the client
//! sees a byte. Framing follows RFC 9112 section 6 strictly (chunked must
//! be last, conflicting lengths and bare LFs in chunk lines are errors, a
//! response with both `Transfer-Encoding` and `Content-Length` is read by
//! the former and its connection not reused). Choosing the instance and
//! retrying are the proxy's job; keeping connections is [`super::pool`]'s.

use super::connect::UpstreamStream;
use super::pool::HostPool;
use super::RequestHead;
use crate::body::{BodyError, UpstreamBody};
use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

/// The largest response head accepted (status line and headers).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most header fields a response head may have.
const MAX_HEADERS: usize = 128;
/// The longest chunk-size line (size and extensions), and all trailers.
const MAX_CHUNK_LINE: usize = 4 * 1024;
const MAX_TRAILERS: usize = 16 * 1024;
/// How much is read at once; a read that leaves room is a short read,
/// which tells the reactor the socket is drained (see
/// [`UpstreamStream::looks_idle`]).
const READ_CHUNK: usize = 16 * 1024;

/// What went wrong between the gateway and an upstream, after connecting.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("writing the request: {source}")]
    Write { source: io::Error, reused: bool },
    /// The client's body broke off or was too large; the upstream is not
    /// to blame.
    #[error(transparent)]
    Body(BodyError),
    #[error("reading the response head: {source}")]
    Read {
        source: io::Error,
        reused: bool,
        /// Whether any byte of a response had arrived.
        answered: bool,
    },
    #[error("the upstream closed the connection before answering")]
    Closed { reused: bool },
    #[error("malformed response from the upstream: {0}")]
    Malformed(&'static str),
}

impl ExchangeError {
    /// Whether this is a pooled connection that the upstream had closed
    /// while it sat idle: nothing was answered, so (for a request that may
    /// be repeated) a fresh connection to the same instance is owed before
    /// the instance is blamed. A failed write means the request was never
    /// read, so any method qualifies; a close after a complete write only
    /// an idempotent one.
    pub fn is_stale_connection(&self, idempotent: bool) -> bool {
        match self {
            Self::Write { reused, .. } => *reused,
            Self::Closed { reused } => *reused && idempotent,
            Self::Read {
                reused, answered, ..
            } => *reused && !answered && idempotent,
            Self::Body(_) | Self::Malformed(_) => false,
        }
    }
}

/// An upstream connection with what has been read from it but not used.
pub struct Conn {
    io: UpstreamStream,
    buf: BytesMut,
    /// Whether this connection carried a request before this one.
    reused: bool,
}

impl Conn {
    pub fn new(io: UpstreamStream) -> Self {
        Self {
            io,
            buf: BytesMut::new(),
            reused: false,
        }
    }

    pub(super) fn looks_idle(&self) -> bool {
        self.buf.is_empty() && self.io.looks_idle()
    }

    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf)
    }

    async fn fill(&mut self) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_fill(cx)).await
    }

    /// Sends one request and reads the response head. `pool` gets the
    /// connection back once the response has been read to its end (at
    /// once if it came whole with its head). A body that then stops
    /// arriving for `read_timeout` is cut off with an error.
    pub async fn exchange(
        mut self,
        head: RequestHead<'_>,
        body: UpstreamBody,
        pool: &Arc<HostPool>,
        read_timeout: Duration,
    ) -> Result<Response<ResponseBody>, ExchangeError> {
        let RequestHead {
            method,
            path_and_query,
            headers,
        } = head;
        let reused = std::mem::replace(&mut self.reused, true);
        let mut body = body;
        let framing = RequestFraming::of(headers, &body);
        let mut head = encode_request_head(method, path_and_query, headers, framing);
        let write_error = |source| ExchangeError::Write { source, reused };
        if framing != RequestFraming::None {
            // Nothing goes upstream until the body's first bytes have
            // arrived whole: a body that is broken from its start (bad
            // chunk framing, a smuggling attempt) never sends its head on.
            // A small body leaves with its head in one write.
            let first = next_data(&mut body).await?;
            let mut rest = first.unwrap_or_default();
            if rest.len() <= COALESCE_BODY_BYTES {
                encode_body_piece(&mut head, framing, &mut rest);
            }
            self.io.write_all(&head).await.map_err(write_error)?;
            if !rest.is_empty() {
                self.write_piece(framing, rest, reused).await?;
            }
            while let Some(data) = next_data(&mut body).await? {
                self.write_piece(framing, data, reused).await?;
            }
            if framing == RequestFraming::Chunked {
                self.io.write_all(b"0\r\n\r\n").await.map_err(write_error)?;
            }
        } else {
            self.io.write_all(&head).await.map_err(write_error)?;
        }
        self.io.flush().await.map_err(write_error)?;
        let head = self.read_head(method == Method::HEAD, reused).await?;
        Ok(self.into_response(head, pool, read_timeout))
    }

    async fn write_piece(
        &mut self,
        framing: RequestFraming,
        mut data: Bytes,
        reused: bool,
    ) -> Result<(), ExchangeError> {
        let write_error = |source| ExchangeError::Write { source, reused };
        if framing == RequestFraming::Chunked {
            let size = format!("{:x}\r\n", data.len());
            self.io
                .write_all(size.as_bytes())
                .await
                .map_err(write_error)?;
            self.io
                .write_all_buf(&mut data)
                .await
                .map_err(write_error)?;
            self.io.write_all(b"\r\n").await.map_err(write_error)
        } else {
            self.io.write_all_buf(&mut data).await.map_err(write_error)
        }
    }

    /// Reads the next final response head, skipping 1xx interim responses
    /// other than 101.
    async fn read_head(&mut self, head_request: bool, reused: bool) -> Result<Head, ExchangeError> {
        let mut answered = false;
        loop {
            if let Some(head) = parse_head(&mut self.buf, head_request)? {
                if head.status.is_informational() && head.status != StatusCode::SWITCHING_PROTOCOLS
                {
                    answered = true;
                    continue;
                }
                return Ok(head);
            }
            if self.buf.len() >= MAX_HEAD_BYTES {
                return Err(ExchangeError::Malformed("response head too large"));
            }
            let read = self.fill().await.map_err(|source| ExchangeError::Read {
                source,
                reused,
                answered: answered || !self.buf.is_empty(),
            })?;
            if read == 0 {
                return Err(if answered || !self.buf.is_empty() {
                    ExchangeError::Malformed("connection closed inside the response head")
                } else {
                    ExchangeError::Closed { reused }
                });
            }
        }
    }

    fn into_response(
        mut self,
        head: Head,
        pool: &Arc<HostPool>,
        read_timeout: Duration,
    ) -> Response<ResponseBody> {
        let body = match head.framing {
            ResponseFraming::Upgrade => ResponseBody {
                state: BodyState::Upgrade(Some(Box::new(self))),
            },
            ResponseFraming::Empty => {
                self.finish(head.keep_alive.then_some(pool));
                ResponseBody::full(Bytes::new())
            }
            ResponseFraming::Length(len) if self.buf.len() as u64 >= len => {
                let whole = self.buf.split_to(len as usize).freeze();
                self.finish(head.keep_alive.then_some(pool));
                ResponseBody::full(whole)
            }
            framing => {
                let decoder = match framing {
                    ResponseFraming::Length(len) => Decoder::Length(len),
                    ResponseFraming::Chunked => Decoder::Chunked(Chunk::Size, 0),
                    _ => Decoder::UntilClose,
                };
                let keep = head.keep_alive && !matches!(decoder, Decoder::UntilClose);
                ResponseBody {
                    state: BodyState::Streaming(Box::new(Streaming {
                        conn: Some(self),
                        decoder,
                        pool: keep.then(|| pool.clone()),
                        read_timeout,
                        stall: None,
                    })),
                }
            }
        };
        let mut response = Response::new(body);
        *response.status_mut() = head.status;
        *response.version_mut() = head.version;
        *response.headers_mut() = head.headers;
        response
    }

    /// The response has been read to its end: back to the pool when it
    /// can carry another request, closed otherwise.
    fn finish(self, pool: Option<&Arc<HostPool>>) {
        match pool {
            // Bytes beyond the response are a protocol violation.
            Some(pool) if self.buf.is_empty() => pool.put(self),
            _ => {}
        }
    }
}

/// A body piece this small is copied behind the head and sent with it.
const COALESCE_BODY_BYTES: usize = 16 * 1024;

/// The next non-empty piece of the client's body; trailers are dropped.
async fn next_data(body: &mut UpstreamBody) -> Result<Option<Bytes>, ExchangeError> {
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(ExchangeError::Body)?;
        if let Ok(data) = frame.into_data() {
            if !data.is_empty() {
                return Ok(Some(data));
            }
        }
    }
    Ok(None)
}

/// Appends `data` to `out` as it goes on the wire, leaving `data` empty.
fn encode_body_piece(out: &mut Vec<u8>, framing: RequestFraming, data: &mut Bytes) {
    if data.is_empty() {
        return;
    }
    if framing == RequestFraming::Chunked {
        out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(data);
    }
    *data = Bytes::new();
}

/// How the request body is delimited upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestFraming {
    /// No body at all.
    None,
    /// `Content-Length` as the client sent it (the server side validated it).
    Length,
    /// A body of unknown length, sent chunked.
    Chunked,
}

impl RequestFraming {
    fn of(headers: &HeaderMap, body: &UpstreamBody) -> Self {
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

fn encode_request_head(
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

/// How a response body is delimited (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResponseFraming {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
    /// 101: the connection now speaks another protocol.
    Upgrade,
}

struct Head {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    framing: ResponseFraming,
    keep_alive: bool,
}

/// Parses a complete response head off the front of `buf`; `None` when
/// more bytes are needed.
fn parse_head(buf: &mut BytesMut, head_request: bool) -> Result<Option<Head>, ExchangeError> {
    // Uninitialised slots: zeroing 128 of them cost more than parsing a
    // typical head.
    let mut slots =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut parsed,
        buf,
        &mut slots,
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ExchangeError::Malformed("too many response headers"))
        }
        Err(_) => return Err(ExchangeError::Malformed("unparseable response head")),
    };
    let status = parsed
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or(ExchangeError::Malformed("bad status code"))?;
    let version = match parsed.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    // Where each field's name and value sit in the head, so the values
    // can share the head's bytes instead of being copied.
    let base = buf.as_ptr() as usize;
    let mut fields = Vec::with_capacity(parsed.headers.len());
    for field in parsed.headers.iter() {
        let start = field.value.as_ptr() as usize - base;
        let name = HeaderName::from_bytes(field.name.as_bytes())
            .map_err(|_| ExchangeError::Malformed("bad header name"))?;
        fields.push((name, start..start + field.value.len()));
    }
    let head = buf.split_to(len).freeze();
    let mut headers = HeaderMap::with_capacity(fields.len());
    let mut content_length: Option<u64> = None;
    let mut transfer_encoding = false;
    let mut chunked_last = false;
    let mut close = version == Version::HTTP_10;
    for (name, range) in fields {
        let value = HeaderValue::from_maybe_shared(head.slice(range))
            .map_err(|_| ExchangeError::Malformed("bad header value"))?;
        if name == header::CONTENT_LENGTH {
            let length = parse_content_length(value.as_bytes())
                .ok_or(ExchangeError::Malformed("bad content-length"))?;
            if content_length.is_some_and(|seen| seen != length) {
                return Err(ExchangeError::Malformed("conflicting content-length"));
            }
            content_length = Some(length);
        } else if name == header::TRANSFER_ENCODING {
            transfer_encoding = true;
            // Only the last coding decides; `chunked` anywhere else is an
            // error (RFC 9112 section 6.3).
            for coding in value.as_bytes().split(|b| *b == b',') {
                let coding = coding.trim_ascii();
                if coding.is_empty() {
                    continue;
                }
                if chunked_last {
                    return Err(ExchangeError::Malformed("chunked is not the last coding"));
                }
                chunked_last = coding.eq_ignore_ascii_case(b"chunked");
            }
        } else if name == header::CONNECTION {
            for token in value.as_bytes().split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && version == Version::HTTP_10 {
                    close = false;
                }
            }
        }
        headers.append(name, value);
    }
    let framing = if status == StatusCode::SWITCHING_PROTOCOLS {
        ResponseFraming::Upgrade
    } else if head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        ResponseFraming::Empty
    } else if transfer_encoding {
        // With both, the length is a smuggling attempt or a broken server:
        // read by the coding, then do not trust the connection again.
        if content_length.is_some() {
            close = true;
        }
        if chunked_last {
            ResponseFraming::Chunked
        } else {
            ResponseFraming::UntilClose
        }
    } else {
        match content_length {
            Some(0) => ResponseFraming::Empty,
            Some(len) => ResponseFraming::Length(len),
            None => ResponseFraming::UntilClose,
        }
    };
    Ok(Some(Head {
        status,
        version,
        headers,
        framing,
        keep_alive: !close,
    }))
}

fn parse_content_length(value: &[u8]) -> Option<u64> {
    // Digits only: no sign, no spaces, no list.
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

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

    fn full(bytes: Bytes) -> Self {
        Self {
            state: BodyState::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// After a 101 response: the connection, for a tunnel; the bytes the
    /// upstream sent after its head come first.
    pub fn into_upgraded(self) -> Option<Upgraded> {
        match self.state {
            BodyState::Upgrade(Some(conn)) => Some(Upgraded {
                prefix: conn.buf.freeze(),
                io: conn.io,
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
            conn.finish(self.pool.take().as_ref());
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

    fn head(raw: &str) -> Result<Option<Head>, ExchangeError> {
        parse_head(&mut BytesMut::from(raw), false)
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let framing = |raw: &str| head(raw).unwrap().unwrap().framing;
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
            ResponseFraming::Length(5)
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            ResponseFraming::Chunked
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"),
            ResponseFraming::UntilClose
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\n\r\n"),
            ResponseFraming::UntilClose
        );
        assert_eq!(
            framing("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"),
            ResponseFraming::Empty
        );
        assert_eq!(
            framing("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"),
            ResponseFraming::Upgrade
        );
        let both =
            head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!(both.framing, ResponseFraming::Chunked);
        assert!(!both.keep_alive, "a response with both is never reused");
    }

    #[test]
    fn ambiguous_lengths_are_refused() {
        for raw in [
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        ] {
            assert!(head(raw).is_err(), "{raw:?}");
        }
        let same = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(same.unwrap().unwrap().framing, ResponseFraming::Length(5));
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection() {
        let keep = |raw: &str| head(raw).unwrap().unwrap().keep_alive;
        assert!(keep("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(!keep(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(!keep("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(keep(
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"
        ));
    }

    #[test]
    fn a_partial_head_waits_for_more() {
        assert!(head("HTTP/1.1 200 OK\r\nContent-Len").unwrap().is_none());
    }

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
