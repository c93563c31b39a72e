//! One request on one upstream connection, in the request's own task:
//! the head (and body) written, interim responses skipped, the final head
//! read, and the response handed on with a body that gives the connection
//! back to its pool when it ends. Choosing the instance and retrying are
//! the proxy's job.

use super::error::ExchangeError;
use super::request::{encode_body_piece, encode_request_head, RequestFraming, RequestHead};
use super::response_body::ResponseBody;
use super::response_head::{parse_head, Head, ResponseFraming, MAX_HEAD_BYTES};
use crate::chunked::{SizeLine, LAST_CHUNK};
use crate::upstream::conn::Conn;
use crate::upstream::pool::{finish, HostPool};
use crate::upstream::request_body::UpstreamBody;
use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

impl Conn {
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
                self.io.write_all(LAST_CHUNK).await.map_err(write_error)?;
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
            self.io
                .write_all(SizeLine::new(data.len()).as_bytes())
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
            ResponseFraming::Upgrade => ResponseBody::upgrade(self),
            ResponseFraming::Empty => {
                finish(self, head.keep_alive.then_some(pool));
                ResponseBody::empty()
            }
            ResponseFraming::Length(len) if self.buf.len() as u64 >= len => {
                let whole = self.buf.split_to(len as usize).freeze();
                finish(self, head.keep_alive.then_some(pool));
                ResponseBody::full(whole)
            }
            framing => ResponseBody::streaming(self, framing, head.keep_alive, pool, read_timeout),
        };
        let mut response = Response::new(body);
        *response.status_mut() = head.status;
        *response.version_mut() = head.version;
        *response.headers_mut() = head.headers;
        response
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
