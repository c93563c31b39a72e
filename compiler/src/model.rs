//! The checked model: what `routes.dsl` means, with every default applied and
//! every reference resolved.
//!
//! This is the one input of every emitter (Traefik, compose, Prometheus,
//! PgBouncer, `routes.bin`, `model.json`) and of `routec explain`. It is built
//! only from a program that passed the checks, so emitters may rely on its
//! invariants (names are unique, references exist, numbers are in range)
//! instead of re-validating. It owns no source spans: diagnostics belong to
//! the earlier stages. Collections keep source order, which is also the
//! output order, so output is deterministic.
//!
//! Durations are whole milliseconds (`*_ms`), sizes whole bytes (`*_bytes`).

use serde::{Deserialize, Serialize};

/// Everything `routes.dsl` says, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Where the model came from: file name and the sha256 of its bytes.
    pub source: SourceInfo,
    pub platform: Platform,
    pub entrypoints: Vec<Entrypoint>,
    pub resolvers: Vec<Resolver>,
    pub dashboard: Option<Dashboard>,
    pub gateway: Gateway,
    pub services: Vec<Service>,
    pub middlewares: Vec<Middleware>,
    pub chains: Vec<Chain>,
    pub edge_routes: Vec<EdgeRoute>,
    /// The gateway's routing table, derived from the services' `prefix` and
    /// `websocket` statements, in priority order (highest first; at equal
    /// priority exact paths before prefixes, then longer paths first).
    pub gateway_routes: Vec<GatewayRoute>,
    pub databases: Vec<Database>,
    pub alerts: Vec<Alert>,
    /// The Redis of `scope shared` rate limits, when the file has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_store: Option<RateLimitStore>,
}

/// Where shared rate limits keep their buckets: env var names only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateLimitStore {
    pub address_env: String,
    pub username_env: Option<String>,
    pub password_env: Option<String>,
    pub tls: bool,
    /// The budget of one check.
    pub timeout_ms: u64,
    pub on_failure: StoreFailure,
}

/// What a shared rate limit does while its store misses the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreFailure {
    /// This replica's own buckets at the limit divided by the replicas.
    Local,
    Open,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// The file name as given on the command line, e.g. `routes.dsl`.
    pub file: String,
    /// Lower-case hex sha256 of the source bytes.
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Platform {
    pub name: String,
    /// The primary domain; the default host of every edge route.
    pub domain: String,
    /// Docker network name for the internal network.
    pub network: String,
    /// The internal network's subnet, e.g. `172.20.0.0/16`.
    pub subnet: String,
    /// The edge network's subnet (Traefik and the gateway), if pinned; the
    /// gateway trusts `X-Forwarded-For` from Traefik only when it is.
    pub edge_subnet: Option<String>,
    /// Peers whose `X-Forwarded-For` the gateway believes (CIDRs).
    pub trusted_proxies: Vec<String>,
    /// The Traefik the edge files are written for.
    pub traefik: TraefikTarget,
}

/// The edge proxy the generated Traefik files target: its major version
/// (rule syntax and options), the image compose runs, and which provider
/// carries the edge routers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraefikTarget {
    /// `3` (the default) or `2` (v2.11, for teams not yet on 3).
    pub version: u8,
    pub image: String,
    pub routers: RouterHome,
}

/// Where the edge routers, their middlewares and services live: exactly one
/// provider, so each router exists once in the running Traefik.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouterHome {
    /// `traefik/dynamic.yml` through the file provider; no docker provider.
    File,
    /// Docker labels on the containers; `dynamic.yml` is not loaded.
    Labels,
}

impl TraefikTarget {
    /// Percent-encodings every generated entrypoint refuses in a path
    /// (Traefik 3 and v2.11 both have the options), with what each decodes to: `traefik.yml` turns off the matching
    /// `encodedCharacters` options.
    pub const REFUSED_ENCODINGS: &'static [(&'static str, &'static str)] = &[
        ("%2F", "/"),
        ("%5C", "\\"),
        ("%00", "NUL"),
        ("%3B", ";"),
        ("%3F", "?"),
        ("%23", "#"),
        ("%25", "%"),
    ];

    /// The first encoding in `path` the edge refuses (400), if any.
    pub fn refused_encoding(&self, path: &str) -> Option<(&'static str, &'static str)> {
        let upper = path.to_ascii_uppercase();
        Self::REFUSED_ENCODINGS
            .iter()
            .copied()
            .filter_map(|(code, decoded)| upper.find(code).map(|at| (at, code, decoded)))
            .min()
            .map(|(_, code, decoded)| (code, decoded))
    }

    /// The image of each supported major version: a supported minor pinned.
    pub fn default_image(version: u8) -> &'static str {
        match version {
            2 => "traefik:v2.11",
            _ => "traefik:v3.7",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entrypoint {
    pub name: String,
    /// As written, e.g. `:443`.
    pub address: String,
    pub port: u16,
    /// Another entrypoint that this one redirects every request to (HTTP ->
    /// HTTPS). A redirecting entrypoint serves no routes.
    pub redirect_to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolver {
    pub name: String,
    pub email: String,
    pub storage: String,
    /// `tls` (TLS-ALPN-01), `http` (HTTP-01) or `dns` (DNS-01).
    pub challenge: String,
    /// The DNS provider (a Traefik/lego provider name) for `dns`.
    pub dns_provider: Option<String>,
    pub domains: Vec<CertDomain>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertDomain {
    pub main: String,
    pub sans: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    pub host: String,
    pub entrypoints: Vec<String>,
    pub resolver: Option<String>,
    pub middlewares: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gateway {
    pub image: String,
    /// The port the gateway listens on inside its container.
    pub port: u16,
    /// The default chain of gateway routes whose service names none.
    pub chain: Option<String>,
    pub max_connections: u32,
    pub max_header_bytes: u64,
    pub max_body_bytes: u64,
    pub header_timeout_ms: u64,
    pub dns_ttl_ms: u64,
    pub pool: Pool,
    /// CIDRs whose `X-Forwarded-For` is believed (from the platform).
    pub trusted_proxies: Vec<String>,
    /// Client header names with `_` are forwarded (the platform's
    /// `underscore_headers allow`); dropped otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub underscore_headers: bool,
    /// Gateway containers behind the edge (`replicas N`, default 1).
    #[serde(default = "one")]
    pub replicas: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pool {
    pub max_total: u32,
    pub max_per_host: u32,
    pub idle_timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub image: Option<String>,
    pub port: u16,
    /// Expanded instances: `replicas N` becomes `HOSTNAME-1..N` on `port`
    /// (`hostname` defaults to the service name); `instances [...]` is
    /// taken as written.
    pub instances: Vec<Instance>,
    pub balance: Balance,
    pub health: Option<HealthCheck>,
    /// Gateway path prefixes; empty for services only the edge routes to.
    pub prefixes: Vec<String>,
    /// Exact paths proxied as WebSockets.
    pub websockets: Vec<String>,
    pub timeouts: Timeouts,
    /// The chain applied to this service's gateway routes, resolved.
    pub chain: Option<String>,
    pub database: Option<String>,
    /// Upstream TLS (service-to-service encryption), if the DSL asks for it.
    pub upstream_tls: Option<UpstreamTls>,
}

impl Service {
    /// Whether the gateway routes to this service (it has gateway paths).
    pub fn behind_gateway(&self) -> bool {
        !self.prefixes.is_empty() || !self.websockets.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    RoundRobin,
    LeastRequests,
    Random,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub path: String,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    /// Consecutive successes before an instance is healthy again.
    pub healthy_threshold: u32,
    /// Consecutive failures before an instance is marked down.
    pub unhealthy_threshold: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeouts {
    pub connect_ms: u64,
    pub response_ms: u64,
    pub websocket_idle_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamTls {
    /// PEM file of the CA that signed the service's certificate.
    pub ca_file: String,
    /// Client certificate and key (mutual TLS), if any.
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    /// The name to verify the service's certificate against.
    pub server_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chain {
    pub name: String,
    pub middlewares: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Middleware {
    pub name: String,
    pub config: MiddlewareConfig,
}

impl Middleware {
    pub fn kind(&self) -> MiddlewareKind {
        self.config.kind()
    }
}

/// Which tier a middleware may run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MiddlewareKind {
    StripPrefix,
    AddPrefix,
    Headers,
    Cors,
    BasicAuth,
    Jwt,
    RateLimit,
    Cache,
    AccessLog,
    Errors,
}

impl MiddlewareKind {
    /// The keyword that introduces this kind in the DSL.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::StripPrefix => "strip_prefix",
            Self::AddPrefix => "add_prefix",
            Self::Headers => "headers",
            Self::Cors => "cors",
            Self::BasicAuth => "basic_auth",
            Self::Jwt => "jwt",
            Self::RateLimit => "rate_limit",
            Self::Cache => "cache",
            Self::AccessLog => "access_log",
            Self::Errors => "errors",
        }
    }

    /// Traefik (the edge) has a native equivalent.
    pub fn runs_at_edge(self) -> bool {
        matches!(
            self,
            Self::StripPrefix
                | Self::AddPrefix
                | Self::Headers
                | Self::Cors
                | Self::BasicAuth
                | Self::RateLimit
        )
    }

    /// The gateway (`dataplane`) implements it.
    pub fn runs_in_gateway(self) -> bool {
        !matches!(self, Self::BasicAuth)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MiddlewareConfig {
    StripPrefix {
        prefixes: Vec<String>,
    },
    AddPrefix {
        prefix: String,
    },
    Headers(HeadersConfig),
    Cors(CorsConfig),
    BasicAuth {
        /// htpasswd lines (`user:hash`); hashes only, never passwords.
        users: Vec<String>,
    },
    Jwt(JwtConfig),
    RateLimit(RateLimitConfig),
    Cache(CacheConfig),
    AccessLog {
        /// Also write an audit line for every rejected request.
        audit: bool,
    },
    Errors {
        /// Only `json` in this version.
        format: String,
    },
}

impl MiddlewareConfig {
    pub fn kind(&self) -> MiddlewareKind {
        match self {
            Self::StripPrefix { .. } => MiddlewareKind::StripPrefix,
            Self::AddPrefix { .. } => MiddlewareKind::AddPrefix,
            Self::Headers(_) => MiddlewareKind::Headers,
            Self::Cors(_) => MiddlewareKind::Cors,
            Self::BasicAuth { .. } => MiddlewareKind::BasicAuth,
            Self::Jwt(_) => MiddlewareKind::Jwt,
            Self::RateLimit(_) => MiddlewareKind::RateLimit,
            Self::Cache(_) => MiddlewareKind::Cache,
            Self::AccessLog { .. } => MiddlewareKind::AccessLog,
            Self::Errors { .. } => MiddlewareKind::Errors,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HeadersConfig {
    /// `Strict-Transport-Security: max-age=...`, in seconds.
    pub hsts_max_age_s: Option<u64>,
    pub hsts_include_subdomains: bool,
    pub hsts_preload: bool,
    /// `X-Content-Type-Options: nosniff`.
    pub content_type_nosniff: bool,
    /// `X-Frame-Options`, e.g. `DENY`.
    pub frame_options: Option<String>,
    pub referrer_policy: Option<String>,
    pub content_security_policy: Option<String>,
    /// Headers set on the request going upstream, in source order.
    pub set_request_headers: Vec<(String, String)>,
    pub remove_request_headers: Vec<String>,
    /// Headers set on the response going to the client, in source order.
    pub set_response_headers: Vec<(String, String)>,
    pub remove_response_headers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorsConfig {
    /// Exact origins, or the single entry `*` (never with credentials).
    pub origins: Vec<String>,
    pub methods: Vec<String>,
    pub headers: Vec<String>,
    pub expose: Vec<String>,
    pub max_age_s: u64,
    pub credentials: bool,
    /// Origins a WebSocket handshake may come from; empty: `origins`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub websocket_origins: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JwtConfig {
    /// Allowed `alg` values, e.g. `HS256`.
    pub algorithms: Vec<String>,
    /// Where the verification key comes from; never the key itself.
    pub key: KeySource,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// The claim holding the roles array.
    pub roles_claim: String,
    pub leeway_s: u64,
    /// Path prefixes (segment boundaries, normalized paths) that need no token.
    pub public: Vec<String>,
    /// Path prefixes that need roles, in source order.
    pub require_roles: Vec<RoleRule>,
    /// `token_from subprotocol "PREFIX"`: on WebSocket handshakes, the
    /// `Sec-WebSocket-Protocol` entry `PREFIX<base64url token>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subprotocol: Option<String>,
    /// `token_from cookie NAME`: on WebSocket handshakes, this cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "from", content = "name", rename_all = "snake_case")]
pub enum KeySource {
    /// The key's bytes are the value of this environment variable.
    Env(String),
    /// A PEM file (or a JWKS file when it ends in `.json`).
    File(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleRule {
    pub prefix: String,
    /// Every listed role is required.
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateKey {
    ClientIp,
    User,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateLimitConfig {
    pub key: RateKey,
    /// Requests allowed per `period_ms` on average.
    pub average: u64,
    pub period_ms: u64,
    pub burst: u64,
    /// `scope shared`: one bucket per key for every gateway replica, in
    /// the [`RateLimitStore`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheConfig {
    pub ttl_ms: u64,
    pub methods: Vec<String>,
    pub max_entries: u64,
    pub max_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "path", rename_all = "snake_case")]
pub enum PathMatch {
    /// The path equals this.
    Exact(String),
    /// The path starts with this. At the edge (Traefik) with no segment
    /// boundary; in the gateway on segment boundaries.
    Prefix(String),
}

impl PathMatch {
    pub fn path(&self) -> &str {
        match self {
            Self::Exact(p) | Self::Prefix(p) => p,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum EdgeTarget {
    /// The API gateway (`dataplane`).
    Gateway,
    /// A service the edge reaches directly (the webapp, the admin panel).
    Service(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeRoute {
    pub name: String,
    pub host: String,
    pub path: PathMatch,
    /// Empty means every method.
    pub methods: Vec<String>,
    pub priority: u32,
    pub target: EdgeTarget,
    pub middlewares: Vec<String>,
    pub entrypoints: Vec<String>,
    pub resolver: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayRoute {
    /// `SERVICE` for a service's (first) prefix, `SERVICE-N` for the N-th
    /// further prefix, `SERVICE-ws` / `SERVICE-ws-N` for WebSocket paths. The
    /// name is the `endpoint` label of the gateway's metrics.
    pub name: String,
    /// `None`: any host.
    pub host: Option<String>,
    pub path: PathMatch,
    /// Empty means every method.
    pub methods: Vec<String>,
    pub priority: u32,
    pub service: String,
    /// Name of the chain, if any.
    pub chain: Option<String>,
    /// The chain's middlewares, resolved, in order.
    pub middlewares: Vec<String>,
    pub websocket: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Database {
    pub name: String,
    /// Env var holding the primary's DSN.
    pub primary_env: String,
    /// Env vars holding the replicas' DSNs; empty: reads go to the primary.
    pub replica_envs: Vec<String>,
    pub pool_min: u32,
    pub pool_max: u32,
    pub command_timeout_ms: u64,
    /// `transaction`, `session` or `statement` (PgBouncer's pool modes).
    pub pool_mode: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub kind: AlertKind,
    pub for_ms: u64,
    pub severity: String,
    /// `error_ratio`: a fraction (0.05 for 5%); `latency`: seconds;
    /// `rate_limit_spike`: rejected requests per second.
    pub threshold: Option<f64>,
    /// `latency`: the quantile, e.g. 0.99.
    pub quantile: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    ServiceDown,
    ErrorRatio,
    Latency,
    ReloadFailures,
    RateLimitSpike,
    /// `rate_limit_store_down`: a shared rate limit's store missed its
    /// checks on some gateway replica.
    RateLimitStoreDown,
    /// `scrape_down`: a gateway replica or Traefik not scraped (`up == 0`),
    /// or no target of theirs at all (`absent(up)`).
    ScrapeDown,
    /// `upstream_pool_exhausted`: on some gateway replica, an instance of
    /// the service has every connection its per-host limit allows in use.
    UpstreamPoolExhausted,
}

/// The environment-variable spelling of a name: ASCII letters and digits
/// upper-cased, everything else `_` (`read-replica` -> `READ_REPLICA`).
pub fn env_var_spelling(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

impl Model {
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    pub fn middleware(&self, name: &str) -> Option<&Middleware> {
        self.middlewares.iter().find(|m| m.name == name)
    }

    pub fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains.iter().find(|c| c.name == name)
    }

    pub fn database(&self, name: &str) -> Option<&Database> {
        self.databases.iter().find(|d| d.name == name)
    }
}
