//! Shared helpers for the data plane's tests: the Dating Platform's table
//! (compiled from the real `routes.dsl`), tables written by atomic rename,
//! an in-process gateway on OS-picked loopback ports, stub upstreams, and
//! a small HTTP client. Everything here is a real server or a real socket.

#![allow(dead_code)]

use bytes::Bytes;
use dataplane::body::GatewayBody;
use dataplane::demo::DemoBackend;
use dataplane::{Config, Server, ServerHandle};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use routec::model::{self, Model};
use routetable::{
    Balance, CacheConfig, ChainSpec, CorsConfig, GatewaySpec, HeadersConfig, HealthCheckSpec,
    JwtConfig, KeySource, MiddlewareConfig, MiddlewareSpec, PathMatch, PoolSpec, RateKey,
    RateLimitConfig, RoleRule, RouteSpec, ServiceSpec, TableSpec, TimeoutsSpec, UpstreamTlsSpec,
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

/// The model's gateway part as a table spec (what `routec build` writes to
/// routes.bin): services, gateway middlewares, chains and routes by index.
pub fn spec_from_model(model: &Model, generation: u64) -> TableSpec {
    let services: Vec<ServiceSpec> = model.services.iter().map(service_spec).collect();
    let middlewares: Vec<MiddlewareSpec> = model
        .middlewares
        .iter()
        .filter_map(|m| {
            Some(MiddlewareSpec {
                name: m.name.clone(),
                config: middleware_config(&m.config)?,
            })
        })
        .collect();
    let mw_index = |name: &str| {
        middlewares
            .iter()
            .position(|m| m.name == name)
            .map(|i| i as u32)
    };
    let chains: Vec<ChainSpec> = model
        .chains
        .iter()
        .map(|c| ChainSpec {
            name: c.name.clone(),
            middlewares: c.middlewares.iter().filter_map(|m| mw_index(m)).collect(),
        })
        .collect();
    let routes = model
        .gateway_routes
        .iter()
        .map(|r| RouteSpec {
            name: r.name.clone(),
            host: r.host.clone(),
            path: match &r.path {
                model::PathMatch::Exact(p) => PathMatch::Exact(p.clone()),
                model::PathMatch::Prefix(p) => PathMatch::Prefix(p.clone()),
            },
            methods: r.methods.clone(),
            priority: r.priority,
            service: model
                .services
                .iter()
                .position(|s| s.name == r.service)
                .expect("route's service exists") as u32,
            chain: r
                .chain
                .as_ref()
                .and_then(|c| chains.iter().position(|x| &x.name == c))
                .map(|i| i as u32),
            websocket: r.websocket,
        })
        .collect();
    let g = &model.gateway;
    TableSpec {
        generation,
        source_sha256: [7; 32],
        gateway: GatewaySpec {
            max_connections: g.max_connections,
            max_header_bytes: g.max_header_bytes,
            max_body_bytes: g.max_body_bytes,
            header_timeout_ms: g.header_timeout_ms,
            dns_ttl_ms: g.dns_ttl_ms,
            pool: PoolSpec {
                max_total: g.pool.max_total,
                max_per_host: g.pool.max_per_host,
                idle_timeout_ms: g.pool.idle_timeout_ms,
            },
            trusted_proxies: g.trusted_proxies.clone(),
        },
        services,
        middlewares,
        chains,
        routes,
    }
}

fn service_spec(s: &model::Service) -> ServiceSpec {
    ServiceSpec {
        name: s.name.clone(),
        instances: s
            .instances
            .iter()
            .map(|i| (i.host.clone(), i.port))
            .collect(),
        balance: match s.balance {
            model::Balance::RoundRobin => Balance::RoundRobin,
            model::Balance::LeastRequests => Balance::LeastRequests,
            model::Balance::Random => Balance::Random,
        },
        health: s.health.as_ref().map(|h| HealthCheckSpec {
            path: h.path.clone(),
            interval_ms: h.interval_ms,
            timeout_ms: h.timeout_ms,
            healthy_threshold: h.healthy_threshold,
            unhealthy_threshold: h.unhealthy_threshold,
        }),
        timeouts: TimeoutsSpec {
            connect_ms: s.timeouts.connect_ms,
            response_ms: s.timeouts.response_ms,
            websocket_idle_ms: s.timeouts.websocket_idle_ms,
        },
        upstream_tls: s.upstream_tls.as_ref().map(|t| UpstreamTlsSpec {
            ca_file: t.ca_file.clone(),
            cert_file: t.cert_file.clone(),
            key_file: t.key_file.clone(),
            server_name: t.server_name.clone(),
        }),
    }
}

fn middleware_config(c: &model::MiddlewareConfig) -> Option<MiddlewareConfig> {
    use model::MiddlewareConfig as M;
    Some(match c {
        M::StripPrefix { prefixes } => MiddlewareConfig::StripPrefix {
            prefixes: prefixes.clone(),
        },
        M::AddPrefix { prefix } => MiddlewareConfig::AddPrefix {
            prefix: prefix.clone(),
        },
        M::Headers(h) => MiddlewareConfig::Headers(HeadersConfig {
            hsts_max_age_s: h.hsts_max_age_s,
            hsts_include_subdomains: h.hsts_include_subdomains,
            hsts_preload: h.hsts_preload,
            content_type_nosniff: h.content_type_nosniff,
            frame_options: h.frame_options.clone(),
            referrer_policy: h.referrer_policy.clone(),
            content_security_policy: h.content_security_policy.clone(),
            set_request_headers: h.set_request_headers.clone(),
            remove_request_headers: h.remove_request_headers.clone(),
            set_response_headers: h.set_response_headers.clone(),
            remove_response_headers: h.remove_response_headers.clone(),
        }),
        M::Cors(c) => MiddlewareConfig::Cors(CorsConfig {
            origins: c.origins.clone(),
            methods: c.methods.clone(),
            headers: c.headers.clone(),
            expose: c.expose.clone(),
            max_age_s: c.max_age_s,
            credentials: c.credentials,
        }),
        M::BasicAuth { .. } => return None,
        M::Jwt(j) => MiddlewareConfig::Jwt(JwtConfig {
            algorithms: j.algorithms.clone(),
            key: match &j.key {
                model::KeySource::Env(n) => KeySource::Env(n.clone()),
                model::KeySource::File(n) => KeySource::File(n.clone()),
            },
            issuer: j.issuer.clone(),
            audience: j.audience.clone(),
            roles_claim: j.roles_claim.clone(),
            leeway_s: j.leeway_s,
            public: j.public.clone(),
            require_roles: j
                .require_roles
                .iter()
                .map(|r| RoleRule {
                    prefix: r.prefix.clone(),
                    roles: r.roles.clone(),
                })
                .collect(),
        }),
        M::RateLimit(r) => MiddlewareConfig::RateLimit(RateLimitConfig {
            key: match r.key {
                model::RateKey::ClientIp => RateKey::ClientIp,
                model::RateKey::User => RateKey::User,
            },
            average: r.average,
            period_ms: r.period_ms,
            burst: r.burst,
        }),
        M::Cache(c) => MiddlewareConfig::Cache(CacheConfig {
            ttl_ms: c.ttl_ms,
            methods: c.methods.clone(),
            max_entries: c.max_entries,
            max_bytes: c.max_bytes,
        }),
        M::AccessLog { audit } => MiddlewareConfig::AccessLog { audit: *audit },
        M::Errors { format } => MiddlewareConfig::Errors {
            format: format.clone(),
        },
    })
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
    let (dir, table) = table_dir(spec);
    let mut config = test_config(&table);
    config.upstreams.insert(
        service.into(),
        vec![("127.0.0.1".into(), backend.addr.port())],
    );
    (start(config).await, backend, dir)
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
