//! What a client receives: [`GatewayBody`], an upstream's streamed body or a
//! small body the gateway made itself, and [`BodyObserver`], for steps that
//! must see a response body go by (the access log, the cache) without
//! buffering it. What goes upstream is [`crate::upstream::request_body`]'s.

use crate::upstream::ResponseBody;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};

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
