//! The owned, plain-data description of a route table: what the writer
//! ([`crate::encode`]) takes and what [`crate::TableView::to_spec`] gives
//! back.
//!
//! It mirrors the gateway-relevant part of `routec::model::Model`, with names
//! resolved to indices so the table needs no name lookups at run time. It
//! owns no byte layout (see `layout`) and no matching rules (see `lookup`).

/// Everything the data plane needs to route, as owned data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableSpec {
    /// Bumped by the writer whenever the content changes; see FORMAT.md.
    pub generation: u64,
    /// sha256 of the `routes.dsl` the table was compiled from.
    pub source_sha256: [u8; 32],
    pub gateway: GatewaySpec,
    pub services: Vec<ServiceSpec>,
    pub middlewares: Vec<MiddlewareSpec>,
    pub chains: Vec<ChainSpec>,
    /// Gateway routes, in the writer's order (the model's priority order).
    /// A route's index in this list is its identity in [`crate::Match`].
    pub routes: Vec<RouteSpec>,
}

/// Gateway-wide limits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GatewaySpec {
    pub max_connections: u32,
    pub max_header_bytes: u64,
    pub max_body_bytes: u64,
    pub header_timeout_ms: u64,
    pub dns_ttl_ms: u64,
    pub pool: PoolSpec,
    /// CIDRs whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
    /// Client header names containing `_` are forwarded; `false` (the
    /// default) drops them, as nginx does.
    pub underscore_headers: bool,
}

/// The upstream connection pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolSpec {
    pub max_total: u32,
    pub max_per_host: u32,
    pub idle_timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    pub name: String,
    /// `(host, port)` of every instance, in order.
    pub instances: Vec<(String, u16)>,
    pub balance: Balance,
    pub health: Option<HealthCheckSpec>,
    pub timeouts: TimeoutsSpec,
    pub upstream_tls: Option<UpstreamTlsSpec>,
}

/// Load-balancing policy across a service's instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    RoundRobin,
    LeastRequests,
    Random,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckSpec {
    pub path: String,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeoutsSpec {
    pub connect_ms: u64,
    pub response_ms: u64,
    pub websocket_idle_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTlsSpec {
    pub ca_file: String,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub server_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiddlewareSpec {
    pub name: String,
    pub config: MiddlewareConfig,
}

/// A gateway middleware's configuration; mirrors
/// `routec::model::MiddlewareConfig` without `basic_auth`, which runs only at
/// the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MiddlewareConfig {
    StripPrefix { prefixes: Vec<String> },
    AddPrefix { prefix: String },
    Headers(HeadersConfig),
    Cors(CorsConfig),
    Jwt(JwtConfig),
    RateLimit(RateLimitConfig),
    Cache(CacheConfig),
    AccessLog { audit: bool },
    Errors { format: String },
}

impl MiddlewareConfig {
    pub fn kind(&self) -> MiddlewareKind {
        match self {
            Self::StripPrefix { .. } => MiddlewareKind::StripPrefix,
            Self::AddPrefix { .. } => MiddlewareKind::AddPrefix,
            Self::Headers(_) => MiddlewareKind::Headers,
            Self::Cors(_) => MiddlewareKind::Cors,
            Self::Jwt(_) => MiddlewareKind::Jwt,
            Self::RateLimit(_) => MiddlewareKind::RateLimit,
            Self::Cache(_) => MiddlewareKind::Cache,
            Self::AccessLog { .. } => MiddlewareKind::AccessLog,
            Self::Errors { .. } => MiddlewareKind::Errors,
        }
    }
}

/// The kind of a middleware, as stored in its record. The discriminants are
/// the on-disk codes (FORMAT.md), so never reorder them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MiddlewareKind {
    StripPrefix = 0,
    AddPrefix = 1,
    Headers = 2,
    Cors = 3,
    Jwt = 4,
    RateLimit = 5,
    Cache = 6,
    AccessLog = 7,
    Errors = 8,
}

impl MiddlewareKind {
    pub const ALL: [MiddlewareKind; 9] = [
        Self::StripPrefix,
        Self::AddPrefix,
        Self::Headers,
        Self::Cors,
        Self::Jwt,
        Self::RateLimit,
        Self::Cache,
        Self::AccessLog,
        Self::Errors,
    ];

    /// The DSL keyword of this kind.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::StripPrefix => "strip_prefix",
            Self::AddPrefix => "add_prefix",
            Self::Headers => "headers",
            Self::Cors => "cors",
            Self::Jwt => "jwt",
            Self::RateLimit => "rate_limit",
            Self::Cache => "cache",
            Self::AccessLog => "access_log",
            Self::Errors => "errors",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeadersConfig {
    pub hsts_max_age_s: Option<u64>,
    pub hsts_include_subdomains: bool,
    pub hsts_preload: bool,
    pub content_type_nosniff: bool,
    pub frame_options: Option<String>,
    pub referrer_policy: Option<String>,
    pub content_security_policy: Option<String>,
    pub set_request_headers: Vec<(String, String)>,
    pub remove_request_headers: Vec<String>,
    pub set_response_headers: Vec<(String, String)>,
    pub remove_response_headers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CorsConfig {
    pub origins: Vec<String>,
    pub methods: Vec<String>,
    pub headers: Vec<String>,
    pub expose: Vec<String>,
    pub max_age_s: u64,
    pub credentials: bool,
    /// Origins a WebSocket handshake may come from; empty: `origins`.
    pub websocket_origins: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    pub algorithms: Vec<String>,
    /// Where the key comes from; the table holds only the name, never a key.
    pub key: KeySource,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub roles_claim: String,
    pub leeway_s: u64,
    pub public: Vec<String>,
    pub require_roles: Vec<RoleRule>,
    /// On WebSocket handshakes, a `Sec-WebSocket-Protocol` entry starting
    /// with this prefix carries the token, base64url-encoded after it.
    pub subprotocol: Option<String>,
    /// On WebSocket handshakes, this cookie carries the token.
    pub cookie: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// An environment variable's name.
    Env(String),
    /// A file's path.
    File(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRule {
    pub prefix: String,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateKey {
    ClientIp,
    User,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    pub key: RateKey,
    pub average: u64,
    pub period_ms: u64,
    pub burst: u64,
    /// `scope shared`: the buckets live in the platform's rate-limit store
    /// (Redis), one for every gateway replica; `None`: this replica's own.
    pub shared: Option<SharedLimitSpec>,
}

/// Where a shared rate limit's buckets live and what to do when that store
/// fails. Names env vars, never their values (an address or a password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedLimitSpec {
    /// The first part of every key (the platform's name), so platforms
    /// sharing one Redis never share a bucket.
    pub key_prefix: String,
    /// The env var holding `host:port` or a `redis://`/`rediss://` URL.
    pub address_env: String,
    pub username_env: Option<String>,
    pub password_env: Option<String>,
    /// TLS to the store (`rediss://`).
    pub tls: bool,
    /// Milliseconds one check may take before the store counts as down.
    pub timeout_ms: u64,
    pub on_failure: StoreFailure,
    /// Gateway replicas sharing the limit: the local fallback allows
    /// `average / replicas` and `burst / replicas` on each.
    pub replicas: u32,
}

/// What a shared rate limit does while its store is slow, refusing or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFailure {
    /// This replica's own buckets, at the limit divided by the replicas.
    Local,
    /// Let every request through.
    Open,
    /// Refuse every request (503).
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CacheConfig {
    pub ttl_ms: u64,
    pub methods: Vec<String>,
    pub max_entries: u64,
    pub max_bytes: u64,
}

/// A middleware chain: indices into [`TableSpec::middlewares`], in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSpec {
    pub name: String,
    pub middlewares: Vec<u32>,
}

/// How a gateway route matches the (normalized) request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// The path equals this, byte for byte.
    Exact(String),
    /// The path is this prefix on a segment boundary (FORMAT.md, "Matching").
    Prefix(String),
}

impl PathMatch {
    pub fn path(&self) -> &str {
        match self {
            Self::Exact(p) | Self::Prefix(p) => p,
        }
    }

    pub fn is_prefix(&self) -> bool {
        matches!(self, Self::Prefix(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// The route's name (the `endpoint` metrics label).
    pub name: String,
    /// `None`: any host.
    pub host: Option<String>,
    pub path: PathMatch,
    /// Empty: every method.
    pub methods: Vec<String>,
    pub priority: u32,
    /// Index into [`TableSpec::services`].
    pub service: u32,
    /// Index into [`TableSpec::chains`].
    pub chain: Option<u32>,
    pub websocket: bool,
}
