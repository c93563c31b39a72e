//! Shared helpers for the data plane's tests: the Dating Platform's table
//! (compiled from the real `routes.dsl`), tables written by atomic rename,
//! an in-process gateway on OS-picked loopback ports, stub upstreams, and
//! a small HTTP client. Everything here is a real server or a real socket.

#![allow(dead_code)]

pub mod load;
pub mod raw;
pub mod recording;

use bytes::Bytes;
use dataplane::body::GatewayBody;
use dataplane::demo::DemoBackend;
use dataplane::{Config, Server, ServerHandle};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use routec::model::Model;
use routetable::{
    Balance, GatewaySpec, PathMatch, PoolSpec, RouteSpec, ServiceSpec, TableSpec, TimeoutsSpec,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The Dating Platform's checked model, from the repository's routes.dsl.
pub fn platform_model() -> Model {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../routes.dsl");
    let source = std::fs::read_to_string(&path).expect("routes.dsl is readable");
    match routec::compile(&source, "routes.dsl") {
        Ok(compiled) => compiled.model,
        Err(diagnostics) => panic!("routes.dsl does not compile: {diagnostics:?}"),
    }
}

/// The model's gateway table, as `routec build` writes it to routes.bin.
pub fn spec_from_model(model: &Model, generation: u64) -> TableSpec {
    let mut spec = routec::emit::table::spec(model).expect("routes.dsl's table emits");
    spec.generation = generation;
    spec
}

/// A small table: one service `name` with `instances`, one prefix route.
pub fn single_service_spec(
    name: &str,
    prefix: &str,
    instances: usize,
    generation: u64,
) -> TableSpec {
    TableSpec {
        generation,
        gateway: GatewaySpec {
            max_connections: 1000,
            max_header_bytes: 16 * 1024,
            max_body_bytes: 1024 * 1024,
            header_timeout_ms: 10_000,
            dns_ttl_ms: 300_000,
            pool: PoolSpec {
                max_total: 100,
                max_per_host: 20,
                idle_timeout_ms: 90_000,
            },
            trusted_proxies: vec![],
            underscore_headers: false,
        },
        services: vec![ServiceSpec {
            name: name.into(),
            instances: (1..=instances)
                .map(|i| (format!("{name}-service-{i}"), 8080))
                .collect(),
            balance: Balance::RoundRobin,
            health: None,
            timeouts: TimeoutsSpec {
                connect_ms: 2_000,
                response_ms: 10_000,
                websocket_idle_ms: 60_000,
            },
            upstream_tls: None,
        }],
        routes: vec![route(name, prefix, 0)],
        ..TableSpec::default()
    }
}

/// A prefix route to service `service`.
pub fn route(name: &str, prefix: &str, service: u32) -> RouteSpec {
    RouteSpec {
        name: name.into(),
        host: None,
        path: PathMatch::Prefix(prefix.into()),
        methods: vec![],
        priority: 100,
        service,
        chain: None,
        websocket: false,
    }
}

/// Writes `bytes` as `dir/routes.bin` the way `routec build` does: to a
/// temporary file, then renamed over the old one.
pub fn write_atomically(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("bin.tmp");
    std::fs::write(&tmp, bytes).expect("write temporary table");
    std::fs::rename(&tmp, path).expect("rename table into place");
}

pub fn write_table(path: &Path, spec: &TableSpec) {
    write_atomically(path, &routetable::encode(spec));
}

/// A gateway config on OS-picked loopback ports for the table at `table`.
pub fn test_config(table: &Path) -> Config {
    Config {
        table: table.to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        reload_debounce: Duration::from_millis(50),
        drain_timeout: Duration::from_secs(5),
        ..Config::default()
    }
}

pub async fn start(config: Config) -> ServerHandle {
    Server::start(config).await.expect("gateway starts")
}

/// A temp dir holding a table; returns the dir guard and the table path.
pub fn table_dir(spec: &TableSpec) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("routes.bin");
    write_table(&path, spec);
    (dir, path)
}

pub async fn stub(service: &str, instance: &str) -> DemoBackend {
    DemoBackend::start(service, instance, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("stub starts")
}

/// Restarts a stub on the address it had (the port may linger briefly in
/// the kernel after the old listener closed, so binding is retried).
pub async fn restart(addr: SocketAddr, service: &str, instance: &str) -> DemoBackend {
    for _ in 0..100 {
        if let Ok(backend) = DemoBackend::start(service, instance, addr).await {
            return backend;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("could not rebind {addr}");
}

/// A gateway serving `spec`, whose service 0 is `service` answered by one
/// stub. Returns the gateway, the stub and the table's directory guard.
pub async fn gateway_with_stub(
    spec: &TableSpec,
    service: &str,
    instance: &str,
) -> (ServerHandle, DemoBackend, tempfile::TempDir) {
    let backend = stub(service, instance).await;
    let (gateway, dir) = gateway_to_port(spec, service, backend.addr.port()).await;
    (gateway, backend, dir)
}

/// A gateway serving `spec` with `service`'s one instance on
/// 127.0.0.1:`port`. Returns the gateway and the table's directory guard.
pub async fn gateway_to_port(
    spec: &TableSpec,
    service: &str,
    port: u16,
) -> (ServerHandle, tempfile::TempDir) {
    let (dir, table) = table_dir(spec);
    let mut config = test_config(&table);
    config
        .upstreams
        .insert(service.into(), vec![("127.0.0.1".into(), port)]);
    (start(config).await, dir)
}

pub type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

pub async fn get(client: &HttpClient, addr: SocketAddr, path: &str) -> Result<Reply, String> {
    let request = Request::get(format!("http://{addr}{path}"))
        .body(Empty::new())
        .unwrap();
    send(client, request).await
}

pub async fn send(client: &HttpClient, request: Request<Empty<Bytes>>) -> Result<Reply, String> {
    let response = client
        .request(request)
        .await
        .map_err(|e| format!("request failed: {e:?}"))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| format!("body failed: {e}"))?
        .to_bytes();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// Polls `check` every 20 ms, at most `tries` times; whether it came true.
pub async fn eventually<F, Fut>(tries: usize, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..tries {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Keeps the unused import of `GatewayBody` meaningful for tests that
/// need the type.
pub type Body = GatewayBody;
