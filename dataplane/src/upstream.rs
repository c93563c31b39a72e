//! The pooled client to upstreams: hyper-util's legacy client over our own
//! connector, which resolves through the [`DnsCache`], applies the service's
//! connect timeout and speaks TLS when the service asks for it; and the
//! [`ConnectionLimits`] that bound the requests in flight upstream (in all
//! and per host), which bounds the connections the pool opens. Clients are
//! kept per distinct settings and survive table reloads, so a reload does
//! not drop warm connections. Choosing the instance is [`crate::balancer`]'s
//! job.

use crate::body::UpstreamBody;
use crate::resolver::DnsCache;
use crate::tls::{upstream_tls, TlsError, UpstreamTls, UpstreamTlsSettings};
use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why no connection to an upstream could be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("upstream URI has no host")]
    NoHost,
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

/// Caps on upstream requests in flight: `max_total` in all, `max_per_host`
/// per `host:port`. A request holds its permits until its response body
/// ends, so an HTTP/1.1 pool needs no more connections than that (plus the
/// idle ones it keeps). The permits are not taken in the connector: the
/// legacy client races a connect against the pool's next idle connection
/// and, when the idle one wins, finishes the connect in a background task,
/// so a connector waiting for a permit left one parked task per waiting
/// request, forever while the pool was full (memory grew ~2 KB a request;
/// see BENCHMARKS.md, "Memory").
#[derive(Debug)]
pub struct ConnectionLimits {
    total: Arc<Semaphore>,
    max_per_host: usize,
    per_host: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl ConnectionLimits {
    pub fn new(max_total: usize, max_per_host: usize) -> Arc<Self> {
        Arc::new(Self {
            total: Arc::new(Semaphore::new(max_total.max(1))),
            max_per_host: max_per_host.max(1),
            per_host: Mutex::new(HashMap::new()),
        })
    }

    /// Waits for room for one more request to `authority` (`host:port`).
    pub async fn acquire(&self, authority: &str) -> RequestPermits {
        let host = {
            let mut map = self.per_host.lock().unwrap_or_else(|e| e.into_inner());
            match map.get(authority) {
                Some(host) => host.clone(),
                None => map
                    .entry(authority.to_owned())
                    .or_insert_with(|| Arc::new(Semaphore::new(self.max_per_host)))
                    .clone(),
            }
        };
        // Never closed, so acquiring cannot fail.
        let host = host
            .acquire_owned()
            .await
            .expect("semaphore is never closed");
        let total = self
            .total
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore is never closed");
        [host, total]
    }
}

/// The permits of one request in flight upstream (per host, in all).
pub type RequestPermits = [OwnedSemaphorePermit; 2];

/// One upstream connection: TCP, maybe TLS.
pub struct UpstreamStream {
    io: StreamKind,
}

enum StreamKind {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Connection for UpstreamStream {
    fn connected(&self) -> Connected {
        Connected::new()
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

/// Connects to `scheme://host:port` URIs for the legacy client.
#[derive(Clone)]
pub struct UpstreamConnector {
    dns: Arc<DnsCache>,
    connect_timeout: Duration,
    tls: Option<UpstreamTls>,
}

impl UpstreamConnector {
    async fn connect(self, uri: Uri) -> Result<TokioIo<UpstreamStream>, ConnectError> {
        let host = uri.host().ok_or(ConnectError::NoHost)?.to_owned();
        let port = uri
            .port_u16()
            .unwrap_or(if self.tls.is_some() { 443 } else { 80 });
        let authority = format!("{host}:{port}");
        let timeout = self.connect_timeout;
        let attempt = async {
            let addrs = self
                .dns
                .resolve(&host)
                .await
                .map_err(|source| ConnectError::Resolve {
                    host: host.clone(),
                    source,
                })?;
            let mut last = io::Error::new(io::ErrorKind::NotFound, "no addresses");
            for ip in addrs.iter() {
                match TcpStream::connect((*ip, port)).await {
                    Ok(tcp) => {
                        let _ = tcp.set_nodelay(true);
                        return self.wrap(tcp, &host, &authority).await;
                    }
                    Err(e) => last = e,
                }
            }
            Err(ConnectError::Connect {
                authority: authority.clone(),
                source: last,
            })
        };
        let io =
            tokio::time::timeout(timeout, attempt)
                .await
                .map_err(|_| ConnectError::Timeout {
                    authority: authority.clone(),
                    timeout,
                })??;
        Ok(TokioIo::new(UpstreamStream { io }))
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

impl tower_service::Service<Uri> for UpstreamConnector {
    type Response = TokioIo<UpstreamStream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(self.clone().connect(uri))
    }
}

pub type HttpClient = Client<UpstreamConnector, UpstreamBody>;

/// A client for one set of upstream settings.
#[derive(Clone)]
pub struct UpstreamClient {
    pub http: HttpClient,
    /// `http` or `https`, for building upstream URIs.
    pub scheme: &'static str,
    /// The traffic client's caps on requests in flight; `None` for probes.
    pub limits: Option<Arc<ConnectionLimits>>,
}

/// The pool settings that come from the table's gateway block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolSettings {
    pub max_total: u32,
    pub max_per_host: u32,
    pub idle_timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    pool: PoolSettings,
    connect_timeout_ms: u64,
    tls: Option<UpstreamTlsSettings>,
    limited: bool,
}

/// Every upstream client in use, by settings; lives across reloads.
pub struct Clients {
    dns: Arc<DnsCache>,
    limits: Mutex<Option<(PoolSettings, Arc<ConnectionLimits>)>>,
    clients: Mutex<HashMap<ClientKey, UpstreamClient>>,
}

impl Clients {
    pub fn new(dns: Arc<DnsCache>) -> Self {
        Self {
            dns,
            limits: Mutex::new(None),
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub fn dns(&self) -> &Arc<DnsCache> {
        &self.dns
    }

    /// The client for a service's traffic: bounded by the pool limits.
    pub fn for_traffic(
        &self,
        pool: PoolSettings,
        connect_timeout: Duration,
        tls: Option<&UpstreamTlsSettings>,
    ) -> Result<UpstreamClient, TlsError> {
        self.get(pool, connect_timeout, tls, true)
    }

    /// The client for health probes: not bounded by the pool limits, so a
    /// busy pool cannot make a healthy instance look dead.
    pub fn for_probes(
        &self,
        pool: PoolSettings,
        connect_timeout: Duration,
        tls: Option<&UpstreamTlsSettings>,
    ) -> Result<UpstreamClient, TlsError> {
        self.get(pool, connect_timeout, tls, false)
    }

    fn get(
        &self,
        pool: PoolSettings,
        connect_timeout: Duration,
        tls: Option<&UpstreamTlsSettings>,
        limited: bool,
    ) -> Result<UpstreamClient, TlsError> {
        let key = ClientKey {
            pool,
            connect_timeout_ms: connect_timeout.as_millis() as u64,
            tls: tls.cloned(),
            limited,
        };
        if let Some(client) = self
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(client.clone());
        }
        let limits = limited.then(|| self.limits(pool));
        let connector = UpstreamConnector {
            dns: self.dns.clone(),
            connect_timeout,
            tls: tls.map(upstream_tls).transpose()?,
        };
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_millis(pool.idle_timeout_ms))
            .pool_max_idle_per_host(if limited {
                pool.max_per_host as usize
            } else {
                0
            })
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        let client = UpstreamClient {
            http,
            scheme: if tls.is_some() { "https" } else { "http" },
            limits,
        };
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, client.clone());
        Ok(client)
    }

    /// One set of limits for all traffic clients; new limits when the
    /// table changes them.
    fn limits(&self, pool: PoolSettings) -> Arc<ConnectionLimits> {
        let mut current = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        match &*current {
            Some((settings, limits))
                if settings.max_total == pool.max_total
                    && settings.max_per_host == pool.max_per_host =>
            {
                limits.clone()
            }
            _ => {
                let limits =
                    ConnectionLimits::new(pool.max_total as usize, pool.max_per_host as usize);
                *current = Some((pool, limits.clone()));
                limits
            }
        }
    }
}
