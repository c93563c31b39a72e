//! Demo backends (`--demo-backends`): an in-process stub for every instance
//! of every service in the table, on a free loopback port, each answering
//! any request with JSON `{service, instance, method, path, headers,
//! cookie_fields}` (`cookie_fields`: every `Cookie` line, in order) and
//! echoing WebSocket messages (the 101 accepts the first subprotocol the
//! client offered; the text `close` makes the stub close the WebSocket
//! itself; `?delay_ms=N` delays the answer), so the whole platform routes
//! on one machine.
//! The tests use the same stubs as real upstreams. They are not a mock of
//! the gateway: they are real HTTP servers.

use crate::body::GatewayBody;
use crate::table::Overrides;
use futures_util::{SinkExt, StreamExt};
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use routetable::TableSpec;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

/// One running stub. [`DemoBackend::stop`] closes the listener and every
/// open connection, like a killed container; dropping it does the same
/// without waiting.
#[derive(Debug)]
pub struct DemoBackend {
    pub service: String,
    pub instance: String,
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Drop for DemoBackend {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl DemoBackend {
    /// Starts a stub on `addr` (port 0 for any free port).
    pub async fn start(service: &str, instance: &str, addr: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let identity = Arc::new((service.to_owned(), instance.to_owned()));
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let stream = tokio::select! {
                    _ = stopped.wait_for(|s| *s) => break,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => continue,
                    },
                };
                let identity = identity.clone();
                connections.spawn(async move {
                    let svc = service_fn(move |req| {
                        let identity = identity.clone();
                        async move {
                            if let Some(delay) = requested_delay(&req) {
                                tokio::time::sleep(delay).await;
                            }
                            Ok::<_, Infallible>(answer(&identity.0, &identity.1, req).await)
                        }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                        .await;
                });
                while connections.try_join_next().is_some() {}
            }
            drop(listener);
            // Aborts every connection and waits until they are gone.
            connections.shutdown().await;
        });
        Ok(Self {
            service: service.to_owned(),
            instance: instance.to_owned(),
            addr,
            stop,
            task: Some(task),
        })
    }

    /// Stops the stub: once this returns, the port refuses connections and
    /// every connection it had is closed, like a killed container.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// `?delay_ms=N` makes the stub wait before answering (a slow upstream).
fn requested_delay(request: &Request<Incoming>) -> Option<std::time::Duration> {
    let query = request.uri().query()?;
    let ms = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("delay_ms="))?;
    ms.parse().ok().map(std::time::Duration::from_millis)
}

async fn answer(
    service: &str,
    instance: &str,
    mut request: Request<Incoming>,
) -> Response<GatewayBody> {
    if crate::websocket::is_handshake(request.headers()) {
        if let Some(key) = request.headers().get(header::SEC_WEBSOCKET_KEY) {
            let accept = derive_accept_key(key.as_bytes());
            let upgrade = hyper::upgrade::on(&mut request);
            tokio::spawn(async move {
                let Ok(upgraded) = upgrade.await else { return };
                let mut ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                while let Some(Ok(message)) = ws.next().await {
                    if message.to_text().is_ok_and(|t| t == "close") {
                        let _ = ws.close(None).await;
                    } else if (message.is_text() || message.is_binary())
                        && ws.send(message).await.is_err()
                    {
                        break;
                    }
                }
            });
            let mut response = Response::new(GatewayBody::empty());
            *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            let headers = response.headers_mut();
            headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            if let Ok(accept) = HeaderValue::from_str(&accept) {
                headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
            }
            // A real service speaks the app's protocol: the first offered.
            let offered = request
                .headers()
                .get(header::SEC_WEBSOCKET_PROTOCOL)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|p| HeaderValue::from_str(p.trim()).ok());
            if let Some(protocol) = offered {
                response
                    .headers_mut()
                    .insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
            }
            return response;
        }
    }
    let (head, body) = request.into_parts();
    // Read the whole body, as a real service would, and say how long it was.
    let body_bytes = match body.collect().await {
        Ok(body) => body.to_bytes().len(),
        Err(_) => return crate::errors::json_error(StatusCode::BAD_REQUEST, "body", ""),
    };
    let headers: BTreeMap<&str, &str> = head
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.to_str().unwrap_or("<binary>")))
        .collect();
    let body = serde_json::json!({
        "service": service,
        "instance": instance,
        "method": head.method.as_str(),
        "path": head.uri.path_and_query().map_or("/", |p| p.as_str()),
        "headers": headers,
        "cookie_fields": head
            .headers
            .get_all(header::COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap_or("<binary>"))
            .collect::<Vec<_>>(),
        "body_bytes": body_bytes,
    });
    let mut response = Response::new(GatewayBody::full(body.to_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Stubs for every instance of every service in `spec` (one per service at
/// least), and the overrides that point the table at them.
pub async fn start_all(spec: &TableSpec) -> io::Result<(Vec<DemoBackend>, Overrides)> {
    let mut backends = Vec::new();
    let mut overrides = Overrides::new();
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("valid address");
    for service in &spec.services {
        let mut addrs = Vec::new();
        let names: Vec<String> = if service.instances.is_empty() {
            vec![format!("{}-1", service.name)]
        } else {
            service
                .instances
                .iter()
                .map(|(host, port)| crate::upstream::connect::authority(host, *port))
                .collect()
        };
        for name in names {
            let backend = DemoBackend::start(&service.name, &name, loopback).await?;
            addrs.push(("127.0.0.1".to_owned(), backend.addr.port()));
            backends.push(backend);
        }
        overrides.insert(service.name.clone(), addrs);
    }
    Ok((backends, overrides))
}
