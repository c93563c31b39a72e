//! Opening one connection to an upstream instance: resolving its host
//! through the [`DnsCache`], connecting within the service's connect
//! timeout (trying each address in turn), and the TLS handshake when the
//! service speaks TLS. [`UpstreamStream`] is the resulting byte stream,
//! plain or TLS. What is said over it is [`super::http1`]'s business;
//! keeping it for the next request is [`super::pool`]'s.

use crate::resolver::DnsCache;
use crate::tls::UpstreamTls;
use rustls::pki_types::ServerName;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Why no connection to an upstream could be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("resolving {host}: {source}")]
    Resolve { host: String, source: io::Error },
    #[error("connecting to {authority}: {source}")]
    Connect {
        authority: String,
        source: io::Error,
    },
    #[error("connecting to {authority}: timed out after {timeout:?}")]
    Timeout {
        authority: String,
        timeout: Duration,
    },
    #[error("TLS handshake with {authority}: {source}")]
    Tls {
        authority: String,
        source: io::Error,
    },
}

/// One upstream connection: TCP, maybe TLS.
pub struct UpstreamStream {
    io: StreamKind,
}

enum StreamKind {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl UpstreamStream {
    fn tcp(&self) -> &TcpStream {
        match &self.io {
            StreamKind::Plain(tcp) => tcp,
            StreamKind::Tls(tls) => tls.get_ref().0,
        }
    }

    /// Whether an idle connection can carry another request: nothing has
    /// arrived on it since its last response ended. A peer's close (FIN or
    /// RST) or stray bytes make the socket readable, which the reactor
    /// records without anyone reading; asking costs no system call. The
    /// reader clears that readiness whenever a read leaves the socket
    /// empty (a short read), so a response read to its end leaves it clear.
    pub fn looks_idle(&self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        self.tcp().poll_read_ready(&mut cx).is_pending()
    }
}

macro_rules! delegate_io {
    ($self:ident, $io:ident => $e:expr) => {
        match &mut $self.get_mut().io {
            StreamKind::Plain($io) => {
                let $io = Pin::new($io);
                $e
            }
            StreamKind::Tls($io) => {
                let $io = Pin::new($io.as_mut());
                $e
            }
        }
    };
}

impl AsyncRead for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate_io!(self, io => io.poll_read(cx, buf))
    }
}

impl AsyncWrite for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate_io!(self, io => io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate_io!(self, io => io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            StreamKind::Plain(io) => io.is_write_vectored(),
            StreamKind::Tls(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate_io!(self, io => io.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate_io!(self, io => io.poll_shutdown(cx))
    }
}

/// Opens connections for one set of settings (connect timeout, TLS).
#[derive(Clone)]
pub struct Connector {
    dns: Arc<DnsCache>,
    connect_timeout: Duration,
    tls: Option<UpstreamTls>,
}

impl Connector {
    pub fn new(dns: Arc<DnsCache>, connect_timeout: Duration, tls: Option<UpstreamTls>) -> Self {
        Self {
            dns,
            connect_timeout,
            tls,
        }
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Connects to `host:port` (`authority` is the same, as written in
    /// errors), trying every address the host resolves to in turn, all
    /// within the connect timeout.
    pub async fn connect(
        &self,
        host: &str,
        port: u16,
        authority: &str,
    ) -> Result<UpstreamStream, ConnectError> {
        let timeout = self.connect_timeout;
        let attempt = async {
            let addrs = self
                .dns
                .resolve(host)
                .await
                .map_err(|source| ConnectError::Resolve {
                    host: host.to_owned(),
                    source,
                })?;
            let mut last = io::Error::new(io::ErrorKind::NotFound, "no addresses");
            for ip in addrs.iter() {
                match TcpStream::connect((*ip, port)).await {
                    Ok(tcp) => {
                        // Heads and bodies are written whole; Nagle would
                        // only hold the last segment back.
                        let _ = tcp.set_nodelay(true);
                        return self.wrap(tcp, host, authority).await;
                    }
                    Err(e) => last = e,
                }
            }
            Err(ConnectError::Connect {
                authority: authority.to_owned(),
                source: last,
            })
        };
        let io =
            tokio::time::timeout(timeout, attempt)
                .await
                .map_err(|_| ConnectError::Timeout {
                    authority: authority.to_owned(),
                    timeout,
                })??;
        Ok(UpstreamStream { io })
    }

    async fn wrap(
        &self,
        tcp: TcpStream,
        host: &str,
        authority: &str,
    ) -> Result<StreamKind, ConnectError> {
        let Some(tls) = &self.tls else {
            return Ok(StreamKind::Plain(tcp));
        };
        let tls_error = |source| ConnectError::Tls {
            authority: authority.to_owned(),
            source,
        };
        let name = match &tls.server_name {
            Some(name) => name.clone(),
            None => ServerName::try_from(host.to_owned())
                .map_err(|e| tls_error(io::Error::new(io::ErrorKind::InvalidInput, e)))?,
        };
        let stream = tokio_rustls::TlsConnector::from(tls.config.clone())
            .connect(name, tcp)
            .await
            .map_err(tls_error)?;
        Ok(StreamKind::Tls(Box::new(stream)))
    }
}

/// `host:port`, with an IPv6 host in brackets (`[::1]:8080`): the one
/// spelling of an instance's name in metrics, logs, `/health` and the
/// per-host limits.
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
