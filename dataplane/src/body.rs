//! The two body types of the proxy: [`GatewayBody`], what a client receives
//! (an upstream's streamed body or a small body the gateway made itself), and
//! [`UpstreamBody`], what goes upstream (the client's streamed body, counted
//! against the size limit, and given back if it was never read so the
//! request can move to another instance). Neither type buffers a body.

use crate::upstream::ResponseBody;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::oneshot;

/// The error of a body handed to the client's connection: what broke an
/// upstream's body, or a middleware's.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body for a client.
#[derive(Debug)]
pub enum GatewayBody {
    /// Streamed from an upstream as it arrives.
    Upstream(ResponseBody),
    /// The same, holding the request's upstream permits until the body
    /// ends or is dropped (see [`crate::upstream::ConnectionLimits`]).
    Limited(ResponseBody, crate::upstream::RequestPermits),
    /// Made by the gateway (errors, admin, demo backends); `None` once sent.
    Full(Option<Bytes>),
    /// Another body, watched or copied by a middleware as it streams (the
    /// access log counts bytes, the cache keeps a copy).
    Wrapped(UnsyncBoxBody<Bytes, BoxError>),
}

impl GatewayBody {
    pub fn empty() -> Self {
        Self::Full(None)
    }

    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        Self::Full((!bytes.is_empty()).then_some(bytes))
    }

    /// This body, reporting what streams through it to `observer`.
    pub fn observe(self, observer: impl BodyObserver) -> Self {
        Self::Wrapped(UnsyncBoxBody::new(Observed {
            inner: self,
            observer: Some(observer),
        }))
    }

    /// Reads the whole body; for tests and middlewares that need it whole.
    pub async fn collect_bytes(self) -> Result<Bytes, BoxError> {
        Ok(self.collect().await?.to_bytes())
    }
}

impl Body for GatewayBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Upstream(body) | Self::Limited(body, _) => {
                Pin::new(body).poll_frame(cx).map_err(BoxError::from)
            }
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Wrapped(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Upstream(body) | Self::Limited(body, _) => body.is_end_stream(),
            Self::Full(bytes) => bytes.is_none(),
            Self::Wrapped(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Upstream(body) | Self::Limited(body, _) => body.size_hint(),
            Self::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Wrapped(body) => body.size_hint(),
        }
    }
}

/// Watches a response body stream by (the access log counts it, the cache
/// copies it) without holding it up.
pub trait BodyObserver: Send + Unpin + 'static {
    fn on_data(&mut self, _data: &Bytes) {}

    /// Called once: the body ended whole (`complete`), failed, or was
    /// dropped unfinished (the client went away). An empty body that was
    /// never polled counts as complete.
    fn on_end(&mut self, complete: bool);
}

struct Observed<O: BodyObserver> {
    inner: GatewayBody,
    observer: Option<O>,
}

impl<O: BodyObserver> Observed<O> {
    fn end(&mut self, complete: bool) {
        if let Some(mut observer) = self.observer.take() {
            observer.on_end(complete);
        }
    }
}

impl<O: BodyObserver> Drop for Observed<O> {
    fn drop(&mut self) {
        let complete = self.inner.is_end_stream();
        self.end(complete);
    }
}

impl<O: BodyObserver> Body for Observed<O> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(observer)) = (frame.data_ref(), this.observer.as_mut()) {
                    observer.on_data(data);
                }
                if this.inner.is_end_stream() {
                    this.end(true);
                }
            }
            Poll::Ready(None) => this.end(true),
            Poll::Ready(Some(Err(_))) => this.end(false),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Why a request body could not be streamed upstream.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("reading the client's body: {0}")]
    Client(#[from] hyper::Error),
    #[error("request body exceeds {limit} bytes")]
    TooLarge { limit: u64 },
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
                .map(|body| UpstreamBody::streaming(body, limit)),
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
    pub fn streaming(body: Incoming, limit: u64) -> (Self, Reclaim) {
        if body.is_end_stream() {
            return (Self::empty(), Reclaim(None));
        }
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
