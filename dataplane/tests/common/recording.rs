//! Recording upstreams for the reliability suite: one real HTTP/1.1 server
//! per instance of every service in a table, on OS-picked loopback ports,
//! each writing what it received (service, instance, method, path, headers,
//! body length) to one shared log before it answers `200` with JSON naming
//! itself. Hostile-request tests read the log to tell which upstream (if
//! any) a request reached and in which shape; the demo stubs only echo,
//! which cannot show a request the client never saw an answer to (a
//! smuggled one). The gateway's own health probes (the service's health
//! path, without the `X-Forwarded-For` every proxied request carries) are
//! answered but not logged. This module does not start the gateway.

use bytes::Bytes;
use dataplane::table::Overrides;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use routetable::TableSpec;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// One request as an upstream received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub service: String,
    pub instance: String,
    pub method: String,
    /// Path and query, as sent on the upstream request line.
    pub path: String,
    pub headers: HeaderMap,
    pub body_bytes: usize,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Every upstream of a table, recording into one log. Dropping it stops
/// the servers.
pub struct Recorder {
    log: Arc<Mutex<Vec<Seen>>>,
    /// Points each service of the table at its recording servers.
    pub overrides: Overrides,
    _servers: JoinSet<()>,
}

impl Recorder {
    /// Starts one recording server per instance of each service of `spec`
    /// (one at least per service).
    pub async fn for_spec(spec: &TableSpec) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut servers = JoinSet::new();
        let mut overrides = Overrides::new();
        for service in &spec.services {
            let count = service.instances.len().max(1);
            let mut addrs = Vec::with_capacity(count);
            for i in 1..=count {
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind a recording upstream");
                addrs.push((
                    "127.0.0.1".to_owned(),
                    listener.local_addr().unwrap().port(),
                ));
                let identity = Arc::new(Identity {
                    service: service.name.clone(),
                    instance: format!("{}-{i}", service.name),
                    health_path: service.health.as_ref().map(|h| h.path.clone()),
                });
                servers.spawn(serve(listener, identity, log.clone()));
            }
            overrides.insert(service.name.clone(), addrs);
        }
        Self {
            log,
            overrides,
            _servers: servers,
        }
    }

    /// Everything recorded since the last call, emptying the log.
    pub fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

struct Identity {
    service: String,
    instance: String,
    health_path: Option<String>,
}

impl Identity {
    fn is_probe(&self, path: &str, headers: &HeaderMap) -> bool {
        self.health_path.as_deref() == Some(path) && !headers.contains_key("x-forwarded-for")
    }
}

async fn serve(listener: TcpListener, identity: Arc<Identity>, log: Arc<Mutex<Vec<Seen>>>) {
    let mut connections = JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        let (identity, log) = (identity.clone(), log.clone());
        connections.spawn(async move {
            let service = service_fn(move |request| {
                let (identity, log) = (identity.clone(), log.clone());
                async move { Ok::<_, Infallible>(record(&identity, &log, request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

async fn record(
    identity: &Identity,
    log: &Mutex<Vec<Seen>>,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (head, body) = request.into_parts();
    let body_bytes = body.collect().await.map_or(0, |b| b.to_bytes().len());
    let path = head
        .uri
        .path_and_query()
        .map_or_else(|| head.uri.to_string(), |p| p.as_str().to_owned());
    let answer = serde_json::json!({
        "service": identity.service,
        "instance": identity.instance,
        "path": path,
    });
    if !identity.is_probe(&path, &head.headers) {
        log.lock().unwrap_or_else(|e| e.into_inner()).push(Seen {
            service: identity.service.clone(),
            instance: identity.instance.clone(),
            method: head.method.to_string(),
            path,
            headers: head.headers,
            body_bytes,
        });
    }
    let mut response = Response::new(Full::new(Bytes::from(answer.to_string())));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
