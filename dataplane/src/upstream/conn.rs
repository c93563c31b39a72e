//! One upstream connection as the gateway holds it: the stream and what
//! has been read from it but not yet used, and whether it carried a
//! request before. Speaking HTTP/1.1 on it is [`super::http1`]'s job,
//! keeping it between requests [`super::pool`]'s.

use super::connect::UpstreamStream;
use super::counts::{OpenConn, PoolCounts};
use bytes::BytesMut;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// How much is read at once; a read that leaves room is a short read,
/// which tells the reactor the socket is drained (see
/// [`UpstreamStream::looks_idle`]).
const READ_CHUNK: usize = 16 * 1024;

/// An upstream connection with what has been read from it but not used.
pub struct Conn {
    pub(super) io: UpstreamStream,
    pub(super) buf: BytesMut,
    /// Whether this connection carried a request before this one.
    pub(super) reused: bool,
    /// Counts it among its pool's open connections until it is dropped.
    pub(super) open: OpenConn,
}

impl Conn {
    /// A new connection of the pool that `counts` belongs to.
    pub fn new(io: UpstreamStream, counts: &Arc<PoolCounts>) -> Self {
        Self {
            io,
            buf: BytesMut::new(),
            reused: false,
            open: OpenConn::new(counts),
        }
    }

    pub(super) fn looks_idle(&self) -> bool {
        self.buf.is_empty() && self.io.looks_idle()
    }

    pub(super) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf)
    }

    pub(super) async fn fill(&mut self) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_fill(cx)).await
    }
}
