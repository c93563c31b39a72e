//! WebSocket tunnels: once both the client (hyper's upgrade mechanism) and
//! the upstream (our client's [`Upgraded`] connection) have switched
//! protocols, bytes are copied both ways
//! untouched, so text, binary, ping/pong and close frames all pass through.
//! When one side closes, its half-close is passed on and the tunnel ends when
//! both directions are done; a tunnel with no traffic for the idle timeout is
//! closed. Deciding that a request is a WebSocket handshake is the proxy's
//! job.

use crate::clock::now_ms;
use crate::upstream::Upgraded;
use http::header::{self, HeaderMap};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Whether the headers ask to switch to WebSocket.
pub fn is_handshake(headers: &HeaderMap) -> bool {
    let has_token = |name, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    has_token(header::UPGRADE, "websocket") && has_token(header::CONNECTION, "upgrade")
}

/// Runs a tunnel between the client's connection, once hyper hands it
/// over, and the upstream's, until both sides are done or `idle` passes
/// without a byte either way.
pub async fn tunnel(client: OnUpgrade, upstream: Upgraded, idle: Duration) {
    let client = match client.await {
        Ok(client) => client,
        Err(e) => {
            tracing::debug!(error = %e, "WebSocket upgrade did not complete");
            return;
        }
    };
    let last_activity = Arc::new(AtomicU64::new(now_ms()));
    let mut client = Activity {
        io: TokioIo::new(client),
        last: last_activity.clone(),
    };
    let mut upstream = Activity {
        io: upstream,
        last: last_activity.clone(),
    };
    let copy = tokio::io::copy_bidirectional(&mut client, &mut upstream);
    tokio::pin!(copy);
    let idle_ms = idle.as_millis().max(1) as u64;
    loop {
        let quiet_for = now_ms().saturating_sub(last_activity.load(Ordering::Relaxed));
        let wait = Duration::from_millis(idle_ms.saturating_sub(quiet_for).max(1));
        tokio::select! {
            result = &mut copy => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "WebSocket tunnel ended with an error");
                }
                return;
            }
            () = tokio::time::sleep(wait) => {
                if now_ms().saturating_sub(last_activity.load(Ordering::Relaxed)) >= idle_ms {
                    tracing::debug!(?idle, "closing idle WebSocket tunnel");
                    return;
                }
            }
        }
    }
}

/// An I/O stream that stamps the shared clock on every byte read.
struct Activity<T> {
    io: T,
    last: Arc<AtomicU64>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Activity<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.last.store(now_ms(), Ordering::Relaxed);
        }
        poll
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Activity<T> {
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
