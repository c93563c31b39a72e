//! Listeners and the server's lifetime: binds the plain, TLS and admin
//! listeners, applies the connection-level limits (maximum concurrent
//! connections, header read timeout against slow-loris, maximum header
//! size), serves HTTP/1.1 on the gateway's own fast path ([`crate::http1`])
//! and h2 (and what the fast path leaves to it) with hyper's auto builder,
//! starts the table
//! watcher, the certificate watcher, SIGHUP reloads and demo backends, and
//! shuts down gracefully: stop accepting, let in-flight requests finish up
//! to the drain timeout, return. What a request does is [`crate::proxy`]'s.

use crate::admin::access::{AccessError, AdminAccess};
use crate::admin::serve_admin;
use crate::config::{check_override_names, Config, UnknownService};
use crate::demo::{self, DemoBackend};
use crate::forwarding::Peer;
use crate::http1::{self, rewind::Rewind};
use crate::mapping::TableBytes;
use crate::metrics::{ConnectionGuard, Metrics};
use crate::proxy::Gateway;
use crate::reload::{DirWatcher, Reloader, TableStore};
use crate::resolver::DnsCache;
use crate::table::{LoadError, Overrides, Registries};
use crate::tls::{self, ReloadingCert, TlsError};
use crate::upstream::ClientBody;
use crate::upstream::Clients;
use bytes::Bytes;
use http::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("loading the route table: {0}")]
    Table(#[from] LoadError),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("watching files: {0}")]
    Watch(#[from] notify::Error),
    #[error("starting demo backends: {0}")]
    Demo(std::io::Error),
    #[error("admin listener: {0}")]
    AdminAccess(#[from] AccessError),
    #[error(transparent)]
    UnknownService(#[from] UnknownService),
}

/// The gateway, started.
pub struct Server;

/// A running gateway: its addresses, its table store, and how to stop it.
pub struct ServerHandle {
    local_addr: SocketAddr,
    admin_addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    store: Arc<TableStore>,
    shutdown: watch::Sender<bool>,
    listeners: Vec<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
    _watchers: Vec<DirWatcher>,
    reloader: Arc<Reloader>,
    demo_backends: Vec<DemoBackend>,
}

impl ServerHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    pub fn store(&self) -> &Arc<TableStore> {
        &self.store
    }

    /// The reload task every trigger feeds.
    pub fn reloader(&self) -> &Arc<Reloader> {
        &self.reloader
    }

    pub fn demo_backends(&self) -> &[DemoBackend] {
        &self.demo_backends
    }

    /// Stops accepting, waits for in-flight requests up to the drain
    /// timeout, and stops every background task.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for listener in self.listeners.drain(..) {
            let _ = listener.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for task in self.background.iter().chain(&self.listeners) {
            task.abort();
        }
    }
}

/// Open client connections, bounded by the table's `max_connections`.
struct ConnectionSlots {
    metrics: Arc<Metrics>,
    freed: Notify,
}

impl ConnectionSlots {
    /// Waits until a connection may be accepted.
    async fn wait(&self, store: &TableStore) {
        loop {
            let freed = self.freed.notified();
            let max = store.current().limits.max_connections as i64;
            if self.metrics.active_connections() < max {
                return;
            }
            freed.await;
        }
    }
}

struct Slot(Arc<ConnectionSlots>, #[allow(dead_code)] ConnectionGuard);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.freed.notify_one();
    }
}

impl Server {
    /// Loads the table, binds every listener and starts serving.
    pub async fn start(config: Config) -> Result<ServerHandle, StartError> {
        // Before anything binds: a public admin API without a token is refused.
        let admin_access = Arc::new(AdminAccess::for_listener(
            config.admin_listen,
            config.admin_token.clone(),
        )?);
        let dns = DnsCache::new(Duration::from_millis(routetable::defaults::DNS_TTL_MS));
        let mut background = vec![tokio::spawn(dns.clone().refresh_loop())];
        let mut overrides: Overrides = config.upstreams.clone();
        let mut demo_backends = Vec::new();
        if config.demo_backends {
            let (backends, demo_overrides) = start_demo_backends(&config).await?;
            demo_backends = backends;
            for (service, instances) in demo_overrides {
                overrides.entry(service).or_insert(instances);
            }
        }
        let registries = Registries::new(Clients::new(dns), overrides, config.passive);
        let store = TableStore::open(&config.table, registries)?;
        {
            let table = store.current();
            let services: Vec<&str> = table.services.iter().map(|s| s.name.as_str()).collect();
            check_override_names(config.upstreams.keys(), &services)?;
        }
        tracing::info!(table = %config.table.display(), generation = store.current().generation, "route table loaded");

        // Every trigger feeds the one reload task; none reloads itself.
        let reloader = Arc::new(Reloader::spawn(store.clone()));
        let on_change = reloader.clone();
        let mut watchers = vec![DirWatcher::spawn(
            std::slice::from_ref(&config.table),
            config.reload_debounce,
            move || on_change.trigger(false),
        )?];

        let (shutdown, shutdown_rx) = watch::channel(false);
        let gateway = Arc::new(Gateway {
            store: store.clone(),
        });
        let slots = Arc::new(ConnectionSlots {
            metrics: store.metrics().clone(),
            freed: Notify::new(),
        });

        let listener = bind(config.listen).await?;
        let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let mut listeners = vec![tokio::spawn(accept_loop(
            listener,
            gateway.clone(),
            None,
            slots.clone(),
            shutdown_rx.clone(),
            config.drain_timeout,
        ))];

        let mut tls_addr = None;
        let mut certs = None;
        if let Some(tls_listen) = &config.tls {
            let cert = ReloadingCert::load(&tls_listen.cert, &tls_listen.key)?;
            let acceptor = TlsAcceptor::from(tls::server_config(cert.clone())?);
            let listener = bind(tls_listen.addr).await?;
            tls_addr = Some(listener.local_addr().map_err(|source| StartError::Bind {
                addr: tls_listen.addr,
                source,
            })?);
            listeners.push(tokio::spawn(accept_loop(
                listener,
                gateway.clone(),
                Some(acceptor),
                slots.clone(),
                shutdown_rx.clone(),
                config.drain_timeout,
            )));
            let reloading = cert.clone();
            watchers.push(DirWatcher::spawn(
                &[tls_listen.cert.clone(), tls_listen.key.clone()],
                config.reload_debounce,
                move || reload_cert(&reloading),
            )?);
            certs = Some(cert);
        }

        let admin = bind(config.admin_listen).await?;
        let admin_addr = admin.local_addr().map_err(|source| StartError::Bind {
            addr: config.admin_listen,
            source,
        })?;
        listeners.push(tokio::spawn(admin_loop(
            admin,
            store.clone(),
            reloader.clone(),
            admin_access,
            shutdown_rx.clone(),
        )));
        background.push(tokio::spawn(sighup_loop(reloader.clone(), certs)));

        tracing::info!(%local_addr, %admin_addr, ?tls_addr, "dataplane listening");
        Ok(ServerHandle {
            local_addr,
            admin_addr,
            tls_addr,
            store,
            shutdown,
            listeners,
            background,
            _watchers: watchers,
            reloader,
            demo_backends,
        })
    }
}

async fn start_demo_backends(config: &Config) -> Result<(Vec<DemoBackend>, Overrides), StartError> {
    let bytes = TableBytes::map(&config.table).map_err(|source| {
        StartError::Table(LoadError::Read {
            path: config.table.clone(),
            source,
        })
    })?;
    let spec = routetable::Table::from_bytes(&bytes)
        .map_err(|e| StartError::Table(e.into()))?
        .to_spec();
    let (backends, overrides) = demo::start_all(&spec).await.map_err(StartError::Demo)?;
    for backend in &backends {
        tracing::info!(service = %backend.service, instance = %backend.instance, addr = %backend.addr, "demo backend");
    }
    Ok((backends, overrides))
}

fn reload_cert(cert: &ReloadingCert) {
    match cert.reload() {
        Ok(()) => tracing::info!(cert = %cert.cert_path.display(), "TLS certificate reloaded"),
        Err(e) => {
            tracing::error!(error = %e, "refused the new TLS certificate; the previous one keeps serving")
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

#[cfg(unix)]
async fn sighup_loop(reloader: Arc<Reloader>, certs: Option<Arc<ReloadingCert>>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        return;
    };
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading");
        reloader.trigger(true);
        if let Some(cert) = &certs {
            reload_cert(cert);
        }
    }
}

#[cfg(not(unix))]
async fn sighup_loop(_reloader: Arc<Reloader>, _certs: Option<Arc<ReloadingCert>>) {}

/// Accepts client connections until shutdown, then drains.
async fn accept_loop(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    tls: Option<TlsAcceptor>,
    slots: Arc<ConnectionSlots>,
    mut shutdown: watch::Receiver<bool>,
    drain_timeout: Duration,
) {
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            accepted = async {
                slots.wait(&gateway.store).await;
                listener.accept().await
            } => accepted,
        };
        let (stream, peer_addr) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let slot = Slot(
            slots.clone(),
            ConnectionGuard::new(gateway.store.metrics().clone()),
        );
        let limits = gateway.store.current().limits.clone();
        let peer = Peer {
            ip: peer_addr.ip(),
            tls: tls.is_some(),
        };
        let connection = Connection {
            gateway: gateway.clone(),
            peer,
            limits,
            shutdown: shutdown.clone(),
        };
        match &tls {
            None => {
                connections.spawn(async move {
                    connection.serve(stream, true).await;
                    drop(slot);
                });
            }
            Some(acceptor) => {
                // The handshake counts against the header timeout too.
                let handshake =
                    tokio::time::timeout(connection.limits.header_timeout, acceptor.accept(stream));
                connections.spawn(async move {
                    let Ok(Ok(stream)) = handshake.await else {
                        return;
                    };
                    // A client that chose h2 goes to hyper at once.
                    let h1 = stream.get_ref().1.alpn_protocol() != Some(b"h2");
                    connection.serve(stream, h1).await;
                    drop(slot);
                });
            }
        }
    }
    drop(listener);
    connections.close();
    tokio::select! {
        () = connections.wait() => {}
        () = tokio::time::sleep(drain_timeout) => tracing::warn!(?drain_timeout, "drain timeout: closing remaining connections"),
    }
}

/// One accepted client connection and what serving it needs.
struct Connection {
    gateway: Arc<Gateway>,
    peer: Peer,
    limits: crate::table::Limits,
    shutdown: watch::Receiver<bool>,
}

impl Connection {
    /// Serves the connection: on the own HTTP/1.1 fast path first when
    /// `fast_path`, then (or else) with hyper, which speaks h2 and
    /// everything the fast path leaves to it.
    async fn serve<S>(mut self, stream: S, fast_path: bool)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (stream, read) = if fast_path {
            let settings = http1::conn::Settings {
                header_timeout: self.limits.header_timeout,
                // As much as hyper's buffer would hold before its 431.
                max_head_bytes: self.limits.max_header_bytes.max(8192),
            };
            match http1::conn::serve(
                stream,
                &self.gateway,
                self.peer,
                settings,
                &mut self.shutdown,
            )
            .await
            {
                http1::conn::Ended::Closed => return,
                http1::conn::Ended::HandOff(stream, read) => {
                    self.gateway.store.metrics().http1_handed_off();
                    (stream, read)
                }
            }
        } else {
            (stream, Bytes::new())
        };
        let builder = connection_builder(&self.limits);
        let (gateway, peer) = (self.gateway.clone(), self.peer);
        let service = service_fn(move |request: Request<Incoming>| {
            let gateway = gateway.clone();
            async move {
                Ok::<_, Infallible>(
                    gateway
                        .handle(peer, request.map(ClientBody::Streamed))
                        .await,
                )
            }
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(Rewind::new(stream, read)), service);
        tokio::pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = async { let _ = self.shutdown.wait_for(|stop| *stop).await; } => {
                // Finish what is in flight, then close.
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "client connection ended with an error");
        }
    }
}

fn connection_builder(limits: &crate::table::Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // hyper answers 431 when the head outgrows the buffer; it needs 8 KiB at least.
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    builder
}

/// The admin listener: HTTP/1.1, a handful of endpoints.
async fn admin_loop(
    listener: TcpListener,
    store: Arc<TableStore>,
    reloader: Arc<Reloader>,
    access: Arc<AdminAccess>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        tokio::spawn(serve_admin_connection(
            stream,
            store.clone(),
            reloader.clone(),
            access.clone(),
        ));
    }
}

async fn serve_admin_connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    store: Arc<TableStore>,
    reloader: Arc<Reloader>,
    access: Arc<AdminAccess>,
) {
    let service = service_fn(move |request| {
        let (store, reloader, access) = (store.clone(), reloader.clone(), access.clone());
        async move {
            let response = serve_admin(&store, &reloader, &access, &request).await;
            Ok::<_, Infallible>(response)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
