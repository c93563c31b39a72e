//! The typed declarations the AST stage produces: one struct per block of
//! the language, every value wrapped in [`S`] with the span it was written
//! at, and the language's fixed vocabularies (middleware kinds, alert
//! kinds, HTTP methods).
//!
//! This file owns only the shapes. It does not read anything (that is the
//! block readers beside it) and does not judge them across declarations
//! (that is [`check`](crate::check)); it imports nothing from its siblings.

use crate::diagnostic::Span;

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct S<T> {
    pub value: T,
    pub span: Span,
}

impl<T> S<T> {
    pub fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
}

impl S<String> {
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

/// The whole program, by declaration kind, each list in source order.
#[derive(Debug, Clone, Default)]
pub struct Program {
    pub platform: Option<PlatformDecl>,
    pub entrypoints: Vec<EntrypointDecl>,
    pub resolvers: Vec<ResolverDecl>,
    pub dashboard: Option<DashboardDecl>,
    pub gateway: Option<GatewayDecl>,
    pub chains: Vec<ChainDecl>,
    pub services: Vec<ServiceDecl>,
    pub middlewares: Vec<MiddlewareDecl>,
    pub edge_routes: Vec<EdgeRouteDecl>,
    pub databases: Vec<DatabaseDecl>,
    pub alerts: Vec<AlertDecl>,
    pub rate_limit_store: Option<RateLimitStoreDecl>,
}

/// The `rate_limit_store` block: the Redis that `scope shared` rate limits
/// keep their buckets in, by env var names only, and what a limit does
/// when it does not answer in time.
#[derive(Debug, Clone, Default)]
pub struct RateLimitStoreDecl {
    pub head: Span,
    /// `address env NAME`: `host:port` or a `redis://`/`rediss://` URL.
    pub address_env: Option<S<String>>,
    pub username_env: Option<S<String>>,
    pub password_env: Option<S<String>>,
    pub tls: bool,
    /// `timeout 5ms`: the budget of one check.
    pub timeout_ms: Option<S<u64>>,
    /// `on_failure local|open|closed`.
    pub on_failure: Option<S<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct PlatformDecl {
    pub head: Span,
    pub name: S<String>,
    pub domain: S<String>,
    pub network: S<String>,
    pub subnet: S<String>,
    pub edge_subnet: Option<S<String>>,
    pub trusted_proxies: Vec<S<String>>,
    /// `traefik 2|3`: the Traefik major version the edge files target.
    pub traefik: Option<S<u32>>,
    /// `traefik_image "traefik:v3.7"`: the image compose runs.
    pub traefik_image: Option<S<String>>,
    /// `edge_routers file|labels`: the provider that carries edge routers.
    pub edge_routers: Option<S<String>>,
    /// `underscore_headers drop|allow`: client header names with `_`.
    pub underscore_headers: Option<S<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct EntrypointDecl {
    pub name: S<String>,
    pub address: S<String>,
    pub port: u16,
    pub redirect: Option<S<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct ResolverDecl {
    pub name: S<String>,
    pub email: S<String>,
    pub storage: S<String>,
    pub challenge: S<String>,
    pub dns_provider: Option<S<String>>,
    pub domains: Vec<(S<String>, Vec<S<String>>)>,
}

#[derive(Debug, Clone, Default)]
pub struct DashboardDecl {
    pub head: Span,
    pub host: S<String>,
    pub entrypoints: Vec<S<String>>,
    pub resolver: Option<S<String>>,
    pub middlewares: Vec<S<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct GatewayDecl {
    pub head: Span,
    pub image: Option<S<String>>,
    pub port: Option<S<u16>>,
    pub chain: Option<S<String>>,
    pub max_connections: Option<u32>,
    pub max_header_bytes: Option<u64>,
    pub max_body_bytes: Option<u64>,
    pub header_timeout_ms: Option<u64>,
    pub dns_ttl_ms: Option<u64>,
    pub pool_max_total: Option<u32>,
    pub pool_max_per_host: Option<u32>,
    pub pool_idle_timeout_ms: Option<u64>,
    /// `replicas N`: gateway containers sharing the traffic.
    pub replicas: Option<S<u32>>,
}

#[derive(Debug, Clone, Default)]
pub struct ChainDecl {
    pub name: S<String>,
    pub middlewares: Vec<S<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct ServiceDecl {
    pub name: S<String>,
    pub image: Option<S<String>>,
    pub port: Option<S<u16>>,
    pub hostname: Option<S<String>>,
    pub replicas: Option<S<u32>>,
    /// `instances [host:port, ...]`, each with its span.
    pub instances: Option<Vec<S<(String, u16)>>>,
    pub balance: Option<S<String>>,
    pub prefixes: Vec<S<String>>,
    pub websockets: Vec<S<String>>,
    pub priority: Option<S<u32>>,
    pub chain: Option<S<String>>,
    pub database: Option<S<String>>,
    pub health: Option<HealthDecl>,
    pub connect_timeout_ms: Option<u64>,
    pub response_timeout_ms: Option<u64>,
    pub websocket_idle_ms: Option<u64>,
    pub upstream_tls: Option<UpstreamTlsDecl>,
}

#[derive(Debug, Clone, Default)]
pub struct HealthDecl {
    pub head: Span,
    pub path: S<String>,
    pub interval_ms: Option<S<u64>>,
    pub timeout_ms: Option<S<u64>>,
    pub healthy: Option<u32>,
    pub unhealthy: Option<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct UpstreamTlsDecl {
    pub ca_file: S<String>,
    pub cert_file: Option<S<String>>,
    pub key_file: Option<S<String>>,
    pub server_name: Option<S<String>>,
}

#[derive(Debug, Clone)]
pub struct MiddlewareDecl {
    pub name: S<String>,
    /// The span of the kind keyword.
    pub kind_span: Span,
    pub config: MiddlewareDeclConfig,
}

/// A middleware's settings by kind. `Errors { format: None }`: no `format`
/// written; the model takes the table's default.
#[derive(Debug, Clone)]
pub enum MiddlewareDeclConfig {
    StripPrefix { prefixes: Vec<S<String>> },
    AddPrefix { prefix: S<String> },
    Headers(HeadersDecl),
    Cors(CorsDecl),
    BasicAuth { users: Vec<S<String>> },
    Jwt(JwtDecl),
    RateLimit(RateLimitDecl),
    Cache(CacheDecl),
    AccessLog { audit: bool },
    Errors { format: Option<String> },
}

#[derive(Debug, Clone, Default)]
pub struct HeadersDecl {
    pub hsts_max_age_s: Option<u64>,
    pub hsts_subdomains: bool,
    pub hsts_preload: bool,
    pub nosniff: bool,
    pub frame_options: Option<String>,
    pub referrer_policy: Option<String>,
    pub csp: Option<String>,
    pub set_request_headers: Vec<(String, String)>,
    pub remove_request_headers: Vec<String>,
    pub set_response_headers: Vec<(String, String)>,
    pub remove_response_headers: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct CorsDecl {
    pub origins: Vec<S<String>>,
    pub methods: Vec<S<String>>,
    pub headers: Vec<String>,
    pub expose: Vec<String>,
    /// `None`: not written; the model takes the table's default.
    pub max_age_s: Option<u64>,
    pub credentials: Option<S<bool>>,
    /// `websocket_origins [...]`: empty, the `origins`.
    pub websocket_origins: Vec<S<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct JwtDecl {
    pub algorithms: Vec<S<String>>,
    pub key: Option<S<KeyDecl>>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub roles_claim: Option<String>,
    pub leeway_s: Option<u64>,
    pub public: Vec<S<String>>,
    pub require_roles: Vec<(S<String>, Vec<String>)>,
    /// `token_from subprotocol "PREFIX"`.
    pub subprotocol: Option<String>,
    /// `token_from cookie NAME`.
    pub cookie: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub enum KeyDecl {
    #[default]
    Missing,
    Env(String),
    File(String),
}

#[derive(Debug, Clone, Default)]
pub struct RateLimitDecl {
    pub key: Option<S<String>>,
    /// (count, period in ms)
    pub average: Option<S<(u64, u64)>>,
    pub burst: Option<S<u64>>,
    /// `scope shared|local`.
    pub scope: Option<S<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct CacheDecl {
    pub ttl_ms: Option<u64>,
    pub methods: Vec<S<String>>,
    pub max_entries: Option<u64>,
    pub max_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct EdgeRouteDecl {
    pub name: S<String>,
    pub host: Option<S<String>>,
    /// Exactly one of `prefix` / `path`.
    pub prefix: Option<S<String>>,
    pub path: Option<S<String>>,
    pub methods: Vec<S<String>>,
    pub priority: Option<S<u32>>,
    pub target: Option<S<EdgeTargetDecl>>,
    pub middlewares: Vec<S<String>>,
    pub entrypoints: Vec<S<String>>,
    pub tls: Option<S<String>>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub enum EdgeTargetDecl {
    #[default]
    Gateway,
    /// The service's name and its span.
    Service(S<String>),
}

#[derive(Debug, Clone, Default)]
pub struct DatabaseDecl {
    pub name: S<String>,
    pub primary_env: Option<S<String>>,
    pub replica_envs: Vec<S<String>>,
    pub pool_min: Option<S<u32>>,
    pub pool_max: Option<S<u32>>,
    pub command_timeout_ms: Option<u64>,
    pub pool_mode: Option<S<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct AlertDecl {
    pub kind: S<String>,
    pub for_ms: Option<u64>,
    pub severity: Option<S<String>>,
    pub threshold: Option<S<Threshold>>,
    pub quantile: Option<S<f64>>,
}

/// An alert threshold as written; which shape is valid depends on the alert.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Threshold {
    #[default]
    None,
    /// `5%` as 0.05.
    Fraction(f64),
    /// `1s` as seconds.
    Seconds(f64),
    /// `50/s` as per second.
    PerSecond(f64),
}

/// Block kinds that introduce a middleware.
pub const MIDDLEWARE_KINDS: &[&str] = &[
    "strip_prefix",
    "add_prefix",
    "headers",
    "cors",
    "basic_auth",
    "jwt",
    "rate_limit",
    "cache",
    "access_log",
    "errors",
];

pub const ALERT_KINDS: &[&str] = &[
    "service_down",
    "error_ratio",
    "latency",
    "reload_failures",
    "rate_limit_spike",
    "rate_limit_store_down",
    "scrape_down",
    "upstream_pool_exhausted",
];

/// HTTP methods the language accepts.
pub const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];
