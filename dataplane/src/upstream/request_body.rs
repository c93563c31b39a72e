//! What goes upstream as a request's body: [`ClientBody`] is the body a
//! client's connection handed in (hyper's stream, or none at all from the
//! gateway's own HTTP/1.1 fast path, which serves only bodiless requests);
//! [`UpstreamBody`] streams it, counted against the size limit, and hands it
//! back through [`Reclaim`] if it was never read, so the request can move to
//! another instance. It never buffers a body. What the client receives is
//! [`crate::body`]'s business.

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::oneshot;

/// Why a request body could not be streamed upstream.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("reading the client's body: {0}")]
    Client(#[from] hyper::Error),
    #[error("request body exceeds {limit} bytes")]
    TooLarge { limit: u64 },
}

/// The body of a client's request as its connection delivered it.
#[derive(Debug)]
pub enum ClientBody {
    /// Streamed by hyper's server (HTTP/2, and HTTP/1.1 requests outside
    /// the fast path's subset).
    Streamed(Incoming),
    /// A request that has no body by its framing (no `Content-Length`, no
    /// `Transfer-Encoding`).
    Empty,
}

impl ClientBody {
    /// Whether nothing more will come.
    pub fn is_end_stream(&self) -> bool {
        match self {
            ClientBody::Streamed(body) => body.is_end_stream(),
            ClientBody::Empty => true,
        }
    }
}

/// A request body for an upstream: the client's body, streamed, with a size
/// limit. Dropped unread, it hands the client's body back through
/// [`Reclaim`].
#[derive(Debug)]
pub struct UpstreamBody {
    inner: Option<Incoming>,
    give_back: Option<oneshot::Sender<Incoming>>,
    limit: u64,
    seen: u64,
}

/// The other end of an [`UpstreamBody`]: yields the client's body if the
/// attempt that owned it never read a byte of it.
#[derive(Debug)]
pub struct Reclaim(Option<oneshot::Receiver<Incoming>>);

impl Reclaim {
    /// The body for another attempt: `Some` when the previous attempt sent
    /// nothing (or there was no body at all).
    pub fn take(&mut self, limit: u64) -> Option<(UpstreamBody, Reclaim)> {
        match self.0.as_mut() {
            None => Some((UpstreamBody::empty(), Reclaim(None))),
            Some(rx) => rx
                .try_recv()
                .ok()
                .map(|body| UpstreamBody::streaming(ClientBody::Streamed(body), limit)),
        }
    }
}

impl UpstreamBody {
    /// No body: the request can be repeated freely.
    pub fn empty() -> Self {
        Self {
            inner: None,
            give_back: None,
            limit: 0,
            seen: 0,
        }
    }

    /// Streams `body` upstream, failing once more than `limit` bytes passed.
    /// An ended body (`GET` without content) becomes [`UpstreamBody::empty`].
    pub fn streaming(body: ClientBody, limit: u64) -> (Self, Reclaim) {
        let body = match body {
            ClientBody::Streamed(body) if !body.is_end_stream() => body,
            _ => return (Self::empty(), Reclaim(None)),
        };
        let (tx, rx) = oneshot::channel();
        (
            Self {
                inner: Some(body),
                give_back: Some(tx),
                limit,
                seen: 0,
            },
            Reclaim(Some(rx)),
        )
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        if let (Some(tx), Some(body)) = (self.give_back.take(), self.inner.take()) {
            let _ = tx.send(body);
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        // Once read, the body can no longer be handed back whole.
        this.give_back = None;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.seen += data.len() as u64;
                    if this.seen > this.limit {
                        return Poll::Ready(Some(Err(BodyError::TooLarge { limit: this.limit })));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}
