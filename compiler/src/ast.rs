//! The AST stage: the generic syntax tree -> typed declarations, every value
//! with its span.
//!
//! This module owns the vocabulary of the language: which blocks exist, which
//! keys each block takes, and which value types each key accepts (durations,
//! rates, sizes, CIDRs, ports, env var names). It reports what a single
//! declaration gets wrong on its own: unknown or repeated keys, wrong value
//! types, values out of range, missing required keys, inline secrets. It does
//! not look across declarations (references, duplicates, overlaps): that is
//! [`check`](crate::check). Declarations with errors are still returned, with
//! defaults in place of the bad values, so that later checks can report more
//! than the first problem; the model is only built when there are no errors.

use std::collections::HashMap;

use crate::diagnostic::{did_you_mean, Code, Diagnostic, Span};
use crate::syntax::{Block, File, Node, Statement, Value, ValueKind, Word};

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
    Errors { format: String },
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
    pub max_age_s: u64,
    pub credentials: Option<S<bool>>,
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

const TOP_LEVEL: &[&str] = &[
    "platform",
    "entrypoint",
    "resolver",
    "dashboard",
    "gateway",
    "chain",
    "service",
    "edge_route",
    "database",
    "alert",
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
];

/// HTTP methods the language accepts.
pub const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];

/// Lower a syntax tree into declarations, reporting what each one gets
/// wrong on its own into `diags`.
pub fn lower(file: &File, diags: &mut Vec<Diagnostic>) -> Program {
    let mut cx = Lower { diags };
    let mut program = Program::default();
    for node in &file.items {
        match node {
            Node::Block(block) => cx.top_block(block, &mut program),
            Node::Statement(st) if st.key.text == "chain" => {
                if let Some(chain) = cx.chain(st) {
                    program.chains.push(chain);
                }
            }
            Node::Statement(st) => {
                let mut d = Diagnostic::error(
                    Code::UnknownStatement,
                    st.key.span,
                    format!("unknown statement `{}`", st.key.text),
                )
                .label("not a top-level statement");
                d = match did_you_mean(&st.key.text, TOP_LEVEL.iter().copied()) {
                    Some(h) => d.help(h),
                    None => d.help("at the top level only `chain NAME [...]` statements and blocks are allowed"),
                };
                cx.diags.push(d);
            }
            Node::Comment(..) | Node::Blank => {}
        }
    }
    program
}

struct Lower<'d> {
    diags: &'d mut Vec<Diagnostic>,
}

/// Tracks keys already seen in one block, for "repeated key" errors.
#[derive(Default)]
struct Seen<'a>(HashMap<&'a str, Span>);

impl Lower<'_> {
    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    // ------------------------------------------------------------ blocks --

    fn top_block(&mut self, block: &Block, program: &mut Program) {
        match block.kind.text.as_str() {
            "platform" => {
                let decl = self.platform(block);
                if let Some(first) = &program.platform {
                    self.push(repeated_block("platform", block.head_span(), first.head));
                } else {
                    program.platform = Some(decl);
                }
            }
            "entrypoint" => program.entrypoints.push(self.entrypoint(block)),
            "resolver" => program.resolvers.push(self.resolver(block)),
            "dashboard" => {
                let decl = self.dashboard(block);
                if let Some(first) = &program.dashboard {
                    self.push(repeated_block("dashboard", block.head_span(), first.head));
                } else {
                    program.dashboard = Some(decl);
                }
            }
            "gateway" => {
                let decl = self.gateway(block);
                if let Some(first) = &program.gateway {
                    self.push(repeated_block("gateway", block.head_span(), first.head));
                } else {
                    program.gateway = Some(decl);
                }
            }
            "service" => program.services.push(self.service(block)),
            "edge_route" => program.edge_routes.push(self.edge_route(block)),
            "database" => program.databases.push(self.database(block)),
            "alert" => program.alerts.push(self.alert(block)),
            "chain" => self.push(
                Diagnostic::error(
                    Code::ChainSyntax,
                    block.head_span(),
                    "a chain is a statement, not a block",
                )
                .help("write `chain NAME [first, second, ...]` on one line"),
            ),
            kind if MIDDLEWARE_KINDS.contains(&kind) => {
                if let Some(m) = self.middleware(block) {
                    program.middlewares.push(m);
                }
            }
            other => {
                let mut d = Diagnostic::error(
                    Code::UnknownBlock,
                    block.kind.span,
                    format!("unknown block kind `{other}`"),
                );
                d = match did_you_mean(other, TOP_LEVEL.iter().copied()) {
                    Some(h) => d.label("not a kind of block").help(h),
                    None => d
                        .label("not a kind of block")
                        .help(format!("the kinds are: {}", TOP_LEVEL.join(", "))),
                };
                self.push(d);
            }
        }
    }

    /// The block's name, or an error when it has none.
    fn block_name(&mut self, block: &Block) -> S<String> {
        match &block.name {
            Some(name) => {
                self.check_name(name);
                S::new(name.text.clone(), name.span)
            }
            None => {
                self.push(
                    Diagnostic::error(
                        Code::MissingName,
                        block.kind.span,
                        format!("`{}` needs a name", block.kind.text),
                    )
                    .label("name expected after this")
                    .help(format!("write `{} NAME {{`", block.kind.text)),
                );
                S::new(String::new(), block.kind.span)
            }
        }
    }

    fn no_name(&mut self, block: &Block) {
        if let Some(name) = &block.name {
            self.push(
                Diagnostic::error(
                    Code::UnexpectedName,
                    name.span,
                    format!("`{}` takes no name", block.kind.text),
                )
                .label("remove this")
                .help(format!("there is one `{}` block per file", block.kind.text)),
            );
        }
    }

    /// Names become container names, Traefik router names and metric labels:
    /// keep them to lower-case letters, digits and `-`.
    fn check_name(&mut self, name: &Word) {
        let ok = name
            .text
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase())
            && name
                .text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            self.push(
                Diagnostic::error(Code::InvalidName, name.span, format!("invalid name `{}`", name.text))
                    .label("not a valid name")
                    .help("names are lower-case letters, digits and `-`, starting with a letter (they become container, router and metric label names)"),
            );
        }
    }

    /// Report statements and nested blocks the caller did not handle.
    fn unknown_key(&mut self, word: &Word, what: &str, keys: &[&str]) {
        let mut d = Diagnostic::error(
            Code::UnknownKey,
            word.span,
            format!("unknown key `{}` in {what}", word.text),
        )
        .label("unknown key");
        d = match did_you_mean(&word.text, keys.iter().copied()) {
            Some(h) => d.help(h),
            None => d.help(format!("{what} takes: {}", keys.join(", "))),
        };
        self.push(d);
    }

    /// False (and an error) when `st.key` was already given in this block.
    fn first<'a>(&mut self, seen: &mut Seen<'a>, key: &'a Word) -> bool {
        if let Some(first) = seen.0.get(key.text.as_str()) {
            self.push(
                Diagnostic::error(
                    Code::RepeatedKey,
                    key.span,
                    format!("`{}` is given twice", key.text),
                )
                .label("repeated here")
                .with_secondary(*first, "first given here"),
            );
            return false;
        }
        seen.0.insert(&key.text, key.span);
        true
    }

    fn platform(&mut self, block: &Block) -> PlatformDecl {
        const KEYS: &[&str] = &[
            "domain",
            "network",
            "subnet",
            "edge_subnet",
            "trusted_proxies",
            "traefik",
            "traefik_image",
            "edge_routers",
        ];
        let mut decl = PlatformDecl {
            head: block.head_span(),
            name: self.block_name(block),
            ..Default::default()
        };
        let mut seen = Seen::default();
        let mut domain = None;
        let mut network = None;
        let mut subnet = None;
        for node in &block.body {
            let Some(st) = self.statement_only(node, "platform", KEYS) else {
                continue;
            };
            if !self.first(&mut seen, &st.key) {
                continue;
            }
            match st.key.text.as_str() {
                "domain" => domain = self.hostname(st),
                "network" => network = self.ident(st),
                "subnet" => subnet = self.cidr(st),
                "edge_subnet" => decl.edge_subnet = self.cidr(st),
                "trusted_proxies" => decl.trusted_proxies = self.list(st, Self::cidr_value),
                "traefik" => decl.traefik = self.count(st),
                "traefik_image" => decl.traefik_image = self.string(st),
                "edge_routers" => decl.edge_routers = self.one_of(st, &["file", "labels"]),
                _ => self.unknown_key(&st.key, "platform", KEYS),
            }
        }
        decl.domain = self.required(domain, block, "domain", "domain \"example.com\"");
        decl.network = self.required(network, block, "network", "network my-net");
        decl.subnet = self.required(subnet, block, "subnet", "subnet 172.20.0.0/16");
        decl
    }

    fn entrypoint(&mut self, block: &Block) -> EntrypointDecl {
        const KEYS: &[&str] = &["address", "redirect"];
        let name = self.block_name(block);
        let mut seen = Seen::default();
        let mut address = None;
        let mut redirect = None;
        for node in &block.body {
            let Some(st) = self.statement_only(node, "entrypoint", KEYS) else {
                continue;
            };
            if !self.first(&mut seen, &st.key) {
                continue;
            }
            match st.key.text.as_str() {
                "address" => address = self.address(st),
                "redirect" => redirect = self.ident(st),
                _ => self.unknown_key(&st.key, "entrypoint", KEYS),
            }
        }
        let (address, port) = match address {
            Some(a) => (S::new(a.value.0.clone(), a.span), a.value.1),
            None => {
                self.missing(block, "address", "address :443");
                (S::default(), 0)
            }
        };
        EntrypointDecl {
            name,
            address,
            port,
            redirect,
        }
    }

    fn resolver(&mut self, block: &Block) -> ResolverDecl {
        const KEYS: &[&str] = &["email", "storage", "challenge", "domain"];
        let name = self.block_name(block);
        let mut seen = Seen::default();
        let (mut email, mut storage, mut challenge, mut dns_provider) = (None, None, None, None);
        let mut domains = Vec::new();
        for node in &block.body {
            let Some(st) = self.statement_only(node, "resolver", KEYS) else {
                continue;
            };
            if st.key.text != "domain" && !self.first(&mut seen, &st.key) {
                continue;
            }
            match st.key.text.as_str() {
                "email" => email = self.string(st),
                "storage" => storage = self.string(st),
                "challenge" => match st.values.as_slice() {
                    [kind]
                        if kind.kind == ValueKind::Ident
                            && matches!(kind.raw.as_str(), "tls" | "http") =>
                    {
                        challenge = Some(S::new(kind.raw.clone(), kind.span));
                    }
                    [kind, provider] if kind.kind == ValueKind::Ident && kind.raw == "dns" => {
                        challenge = Some(S::new(kind.raw.clone(), kind.span));
                        dns_provider = self.ident_value(provider);
                    }
                    _ => self.push(arity(
                        st,
                        "`tls`, `http` or `dns PROVIDER` (e.g. `challenge dns cloudflare`)",
                    )),
                },
                "domain" => {
                    if let Some(d) = self.domain_with_sans(st) {
                        domains.push(d);
                    }
                }
                _ => self.unknown_key(&st.key, "resolver", KEYS),
            }
        }
        if let Some(e) = &email {
            if !e.value.contains('@') {
                self.push(
                    Diagnostic::error(Code::InvalidValue, e.span, "an ACME email needs an `@`")
                        .label("not an email address"),
                );
            }
        }
        ResolverDecl {
            name,
            email: self.required(email, block, "email", "email \"admin@example.com\""),
            storage: self.required(
                storage,
                block,
                "storage",
                "storage \"/letsencrypt/acme.json\"",
            ),
            challenge: challenge.unwrap_or_else(|| S::new("tls".into(), block.head_span())),
            dns_provider,
            domains,
        }
    }

    /// `domain "main" ["san", ...]`
    fn domain_with_sans(&mut self, st: &Statement) -> Option<(S<String>, Vec<S<String>>)> {
        let (main, sans) = match st.values.as_slice() {
            [main] => (main, None),
            [main, sans] => (main, Some(sans)),
            _ => {
                self.push(arity(st, "a domain and an optional list of alternative names: `domain \"example.com\" [\"*.example.com\"]`"));
                return None;
            }
        };
        let main = self.hostname_value(main)?;
        let sans = match sans {
            Some(v) => self.list_value(v, Self::hostname_value),
            None => Vec::new(),
        };
        Some((main, sans))
    }

    fn dashboard(&mut self, block: &Block) -> DashboardDecl {
        const KEYS: &[&str] = &["host", "entrypoints", "tls", "middlewares"];
        self.no_name(block);
        let mut decl = DashboardDecl {
            head: block.head_span(),
            ..Default::default()
        };
        let mut seen = Seen::default();
        let mut host = None;
        for node in &block.body {
            let Some(st) = self.statement_only(node, "dashboard", KEYS) else {
                continue;
            };
            if !self.first(&mut seen, &st.key) {
                continue;
            }
            match st.key.text.as_str() {
                "host" => host = self.hostname(st),
                "entrypoints" => decl.entrypoints = self.list(st, Self::ident_value),
                "tls" => decl.resolver = self.ident(st),
                "middlewares" => decl.middlewares = self.list(st, Self::ident_value),
                _ => self.unknown_key(&st.key, "dashboard", KEYS),
            }
        }
        decl.host = self.required(host, block, "host", "host \"traefik.example.com\"");
        decl
    }

    fn gateway(&mut self, block: &Block) -> GatewayDecl {
        const KEYS: &[&str] = &[
            "image",
            "port",
            "chain",
            "max_connections",
            "max_header_size",
            "max_body_size",
            "header_timeout",
            "dns_ttl",
            "pool",
        ];
        const POOL_KEYS: &[&str] = &["max_total", "max_per_host", "idle_timeout"];
        self.no_name(block);
        let mut decl = GatewayDecl {
            head: block.head_span(),
            ..Default::default()
        };
        let mut seen = Seen::default();
        for node in &block.body {
            match node {
                Node::Block(pool) if pool.kind.text == "pool" => {
                    if !self.first(&mut seen, &pool.kind) {
                        continue;
                    }
                    self.no_name(pool);
                    let mut pool_seen = Seen::default();
                    for node in &pool.body {
                        let Some(st) = self.statement_only(node, "pool", POOL_KEYS) else {
                            continue;
                        };
                        if !self.first(&mut pool_seen, &st.key) {
                            continue;
                        }
                        match st.key.text.as_str() {
                            "max_total" => decl.pool_max_total = self.count(st).map(|c| c.value),
                            "max_per_host" => {
                                decl.pool_max_per_host = self.count(st).map(|c| c.value)
                            }
                            "idle_timeout" => {
                                decl.pool_idle_timeout_ms = self.duration(st).map(|d| d.value)
                            }
                            _ => self.unknown_key(&st.key, "pool", POOL_KEYS),
                        }
                    }
                }
                _ => {
                    let Some(st) = self.statement_only(node, "gateway", KEYS) else {
                        continue;
                    };
                    if !self.first(&mut seen, &st.key) {
                        continue;
                    }
                    match st.key.text.as_str() {
                        "image" => decl.image = self.string(st),
                        "port" => decl.port = self.port(st),
                        "chain" => decl.chain = self.ident(st),
                        "max_connections" => decl.max_connections = self.count(st).map(|c| c.value),
                        "max_header_size" => decl.max_header_bytes = self.size(st),
                        "max_body_size" => decl.max_body_bytes = self.size(st),
                        "header_timeout" => {
                            decl.header_timeout_ms = self.duration(st).map(|d| d.value)
                        }
                        "dns_ttl" => decl.dns_ttl_ms = self.duration(st).map(|d| d.value),
                        _ => self.unknown_key(&st.key, "gateway", KEYS),
                    }
                }
            }
        }
        decl
    }

    /// `chain NAME [a, b, c]`
    fn chain(&mut self, st: &Statement) -> Option<ChainDecl> {
        let [name, list] = st.values.as_slice() else {
            self.push(arity(
                st,
                "a name and a list of middlewares: `chain api [cors, auth]`",
            ));
            return None;
        };
        let name = self.ident_value(name)?;
        self.check_name(&Word {
            text: name.value.clone(),
            span: name.span,
        });
        let middlewares = self.list_value(list, Self::ident_value);
        if middlewares.is_empty() {
            self.push(
                Diagnostic::error(
                    Code::EmptyChain,
                    list.span,
                    format!("chain `{}` is empty", name.value),
                )
                .label("no middlewares"),
            );
        }
        Some(ChainDecl { name, middlewares })
    }

    fn service(&mut self, block: &Block) -> ServiceDecl {
        const KEYS: &[&str] = &[
            "image",
            "port",
            "hostname",
            "replicas",
            "instances",
            "balance",
            "prefix",
            "websocket",
            "priority",
            "chain",
            "database",
            "health",
            "timeouts",
            "upstream_tls",
        ];
        const REPEATABLE: &[&str] = &["prefix", "websocket"];
        let mut decl = ServiceDecl {
            name: self.block_name(block),
            ..Default::default()
        };
        let mut seen = Seen::default();
        for node in &block.body {
            match node {
                Node::Block(inner) => {
                    if !self.first(&mut seen, &inner.kind) {
                        continue;
                    }
                    self.no_name(inner);
                    match inner.kind.text.as_str() {
                        "health" => decl.health = Some(self.health(inner)),
                        "timeouts" => self.timeouts(inner, &mut decl),
                        "upstream_tls" => decl.upstream_tls = Some(self.upstream_tls(inner)),
                        _ => self.unknown_key(&inner.kind, "service", KEYS),
                    }
                }
                Node::Statement(st) => {
                    if !REPEATABLE.contains(&st.key.text.as_str())
                        && !self.first(&mut seen, &st.key)
                    {
                        continue;
                    }
                    match st.key.text.as_str() {
                        "image" => decl.image = self.string(st),
                        "port" => decl.port = self.port(st),
                        "hostname" => decl.hostname = self.ident(st),
                        "replicas" => decl.replicas = self.count(st),
                        "instances" => {
                            decl.instances = Some(self.list(st, Self::address_value_with_host))
                        }
                        "balance" => {
                            decl.balance =
                                self.one_of(st, &["round_robin", "least_requests", "random"])
                        }
                        "prefix" => decl.prefixes.extend(self.path(st)),
                        "websocket" => decl.websockets.extend(self.path(st)),
                        "priority" => decl.priority = self.count(st),
                        "chain" => decl.chain = self.ident(st),
                        "database" => decl.database = self.ident(st),
                        "health" | "timeouts" | "upstream_tls" => self.push(
                            Diagnostic::error(
                                Code::ExpectedBlock,
                                st.key.span,
                                format!("`{}` is a block", st.key.text),
                            )
                            .help(format!(
                                "write `{} {{`, its settings one per line, then `}}`",
                                st.key.text
                            )),
                        ),
                        _ => self.unknown_key(&st.key, "service", KEYS),
                    }
                }
                Node::Comment(..) | Node::Blank => {}
            }
        }
        if decl.replicas.is_some() && decl.instances.is_some() {
            let r = decl.replicas.as_ref().map(|r| r.span).unwrap_or_default();
            self.push(
                Diagnostic::error(
                    Code::ReplicasAndInstances,
                    r,
                    "a service takes `replicas` or `instances`, not both",
                )
                .label("replicas given here")
                .help(
                    "`replicas N` names the instances HOSTNAME-1..N; `instances [...]` lists them",
                ),
            );
        }
        if decl.port.is_none() && decl.instances.is_none() && decl.replicas.is_none() {
            self.missing(block, "port", "port 8080");
        }
        decl
    }

    fn health(&mut self, block: &Block) -> HealthDecl {
        const KEYS: &[&str] = &["path", "interval", "timeout", "healthy", "unhealthy"];
        let mut decl = HealthDecl {
            head: block.head_span(),
            ..Default::default()
        };
        let mut seen = Seen::default();
        let mut path = None;
        for node in &block.body {
            let Some(st) = self.statement_only(node, "health", KEYS) else {
                continue;
            };
            if !self.first(&mut seen, &st.key) {
                continue;
            }
            match st.key.text.as_str() {
                "path" => path = self.path(st),
                "interval" => decl.interval_ms = self.duration(st),
                "timeout" => decl.timeout_ms = self.duration(st),
                "healthy" => decl.healthy = self.count(st).map(|c| c.value),
                "unhealthy" => decl.unhealthy = self.count(st).map(|c| c.value),
                _ => self.unknown_key(&st.key, "health", KEYS),
            }
        }
        decl.path = self.required(path, block, "path", "path \"/health\"");
        decl
    }

    fn timeouts(&mut self, block: &Block, decl: &mut ServiceDecl) {
        const KEYS: &[&str] = &["connect", "response", "websocket_idle"];
        self.statements(block, KEYS, &[], |cx, st| match st.key.text.as_str() {
            "connect" => decl.connect_timeout_ms = cx.duration(st).map(|d| d.value),
            "response" => decl.response_timeout_ms = cx.duration(st).map(|d| d.value),
            "websocket_idle" => decl.websocket_idle_ms = cx.duration(st).map(|d| d.value),
            // Unknown keys were reported by `statements`.
            _ => {}
        });
    }

    fn upstream_tls(&mut self, block: &Block) -> UpstreamTlsDecl {
        const KEYS: &[&str] = &["ca", "cert", "key", "server_name"];
        let mut decl = UpstreamTlsDecl::default();
        let mut seen = Seen::default();
        let mut ca = None;
        for node in &block.body {
            let Some(st) = self.statement_only(node, "upstream_tls", KEYS) else {
                continue;
            };
            if !self.first(&mut seen, &st.key) {
                continue;
            }
            match st.key.text.as_str() {
                "ca" => ca = self.file_ref(st),
                "cert" => decl.cert_file = self.file_ref(st),
                "key" => decl.key_file = self.file_ref(st),
                "server_name" => decl.server_name = self.hostname(st),
                _ => self.unknown_key(&st.key, "upstream_tls", KEYS),
            }
        }
        if decl.cert_file.is_some() != decl.key_file.is_some() {
            self.push(
                Diagnostic::error(
                    Code::IncompleteClientCert,
                    block.head_span(),
                    "a client certificate needs both `cert` and `key`",
                )
                .label("in this block"),
            );
        }
        decl.ca_file = self.required(ca, block, "ca", "ca file \"/certs/ca.pem\"");
        decl
    }

    /// `file "/path"`: a file reference (never inline key material).
    fn file_ref(&mut self, st: &Statement) -> Option<S<String>> {
        match st.values.as_slice() {
            [kw, path] if kw.kind == ValueKind::Ident && kw.raw == "file" => {
                self.string_value(path)
            }
            _ => {
                self.push(arity(st, "`file \"PATH\"`"));
                None
            }
        }
    }

    fn edge_route(&mut self, block: &Block) -> EdgeRouteDecl {
        const KEYS: &[&str] = &[
            "host",
            "prefix",
            "path",
            "methods",
            "priority",
            "to",
            "middlewares",
            "entrypoints",
            "tls",
        ];
        let mut decl = EdgeRouteDecl {
            name: self.block_name(block),
            ..Default::default()
        };
        self.statements(block, KEYS, &[], |cx, st| match st.key.text.as_str() {
            "host" => decl.host = cx.hostname(st),
            "prefix" => decl.prefix = cx.path(st),
            "path" => decl.path = cx.path(st),
            "methods" => decl.methods = cx.methods(st),
            "priority" => decl.priority = cx.count(st),
            "to" => decl.target = cx.edge_target(st),
            "middlewares" => decl.middlewares = cx.list(st, Self::ident_value),
            "entrypoints" => decl.entrypoints = cx.list(st, Self::ident_value),
            "tls" => decl.tls = cx.ident(st),
            // Unknown keys were reported by `statements`.
            _ => {}
        });
        match (&decl.prefix, &decl.path) {
            (Some(_), Some(path)) => self.push(
                Diagnostic::error(
                    Code::PrefixAndPath,
                    path.span,
                    "an edge route matches a `prefix` or an exact `path`, not both",
                )
                .label("second match"),
            ),
            (None, None) => self.missing(block, "prefix", "prefix \"/v1\"` or `path \"/health\""),
            _ => {}
        }
        if decl.priority.is_none()
            && !block.statements().any(|st| {
                st.key.text == "priority"
                    || crate::diagnostic::suggest(&st.key.text, ["priority"]).is_some()
            })
        {
            self.push(
                Diagnostic::error(Code::MissingPriority, decl.name.span, format!("edge route `{}` has no explicit priority", decl.name.value))
                    .label("priority missing")
                    .help("Traefik's default priority is the rule's length, which routes by accident; write `priority N` (higher wins)"),
            );
        }
        if decl.target.is_none() {
            self.missing(block, "to", "to gateway` or `to service NAME");
        }
        decl
    }

    /// `to gateway` | `to service NAME`
    fn edge_target(&mut self, st: &Statement) -> Option<S<EdgeTargetDecl>> {
        let span = st.values_span();
        match st.values.as_slice() {
            [v] if v.kind == ValueKind::Ident && v.raw == "gateway" => {
                Some(S::new(EdgeTargetDecl::Gateway, span))
            }
            [kw, name] if kw.kind == ValueKind::Ident && kw.raw == "service" => {
                let name = self.ident_value(name)?;
                Some(S::new(EdgeTargetDecl::Service(name), span))
            }
            _ => {
                self.push(arity(st, "`to gateway` or `to service NAME`"));
                None
            }
        }
    }

    fn middleware(&mut self, block: &Block) -> Option<MiddlewareDecl> {
        let name = self.block_name(block);
        let kind = block.kind.text.as_str();
        let config = match kind {
            "strip_prefix" => {
                let mut prefixes = None;
                self.statements(block, &["prefixes"], &[], |cx, st| {
                    prefixes = Some(cx.list(st, Self::path_value))
                });
                let prefixes = prefixes.unwrap_or_default();
                if prefixes.is_empty() {
                    self.missing(block, "prefixes", "prefixes [\"/api\"]");
                }
                MiddlewareDeclConfig::StripPrefix { prefixes }
            }
            "add_prefix" => {
                let mut prefix = None;
                self.statements(block, &["prefix"], &[], |cx, st| prefix = cx.path(st));
                MiddlewareDeclConfig::AddPrefix {
                    prefix: self.required(prefix, block, "prefix", "prefix \"/v2\""),
                }
            }
            "headers" => MiddlewareDeclConfig::Headers(self.headers(block)),
            "cors" => MiddlewareDeclConfig::Cors(self.cors(block)),
            "basic_auth" => {
                let mut users = Vec::new();
                self.statements(block, &["users"], &[], |cx, st| {
                    users = cx.list(st, Self::htpasswd_value)
                });
                if users.is_empty() {
                    self.missing(block, "users", "users [\"admin:$apr1$...\"]");
                }
                MiddlewareDeclConfig::BasicAuth { users }
            }
            "jwt" => MiddlewareDeclConfig::Jwt(self.jwt(block)),
            "rate_limit" => MiddlewareDeclConfig::RateLimit(self.rate_limit(block)),
            "cache" => MiddlewareDeclConfig::Cache(self.cache(block)),
            "access_log" => {
                let mut audit = false;
                self.statements(block, &["audit"], &[], |cx, st| {
                    audit = cx.bool(st).is_some_and(|b| b.value)
                });
                MiddlewareDeclConfig::AccessLog { audit }
            }
            "errors" => {
                let mut format = "json".to_string();
                self.statements(block, &["format"], &[], |cx, st| {
                    if let Some(f) = cx.one_of(st, &["json"]) {
                        format = f.value;
                    }
                });
                MiddlewareDeclConfig::Errors { format }
            }
            _ => return None,
        };
        Some(MiddlewareDecl {
            name,
            kind_span: block.kind.span,
            config,
        })
    }

    /// Walk a block of plain, non-repeatable statements, handing known keys
    /// to `f` and reporting the rest.
    /// Hand each statement of `block` whose key is in `keys` to `f` (once
    /// per key, unless the key is `repeatable`), reporting nested blocks,
    /// unknown keys (with "did you mean") and repeated keys. The one loop
    /// every block of plain statements goes through.
    fn statements(
        &mut self,
        block: &Block,
        keys: &[&str],
        repeatable: &[&str],
        mut f: impl FnMut(&mut Self, &Statement),
    ) {
        let what = block.kind.text.clone();
        let mut seen = Seen::default();
        for node in &block.body {
            let Some(st) = self.statement_only(node, &what, keys) else {
                continue;
            };
            let key = st.key.text.as_str();
            if !keys.contains(&key) {
                self.unknown_key(&st.key, &what, keys);
            } else if repeatable.contains(&key) || self.first(&mut seen, &st.key) {
                f(self, st);
            }
        }
    }

    fn headers(&mut self, block: &Block) -> HeadersDecl {
        const KEYS: &[&str] = &[
            "hsts",
            "hsts_subdomains",
            "hsts_preload",
            "nosniff",
            "frame_options",
            "referrer_policy",
            "csp",
            "set_request_header",
            "remove_request_header",
            "set_response_header",
            "remove_response_header",
        ];
        const REPEATABLE: &[&str] = &[
            "set_request_header",
            "remove_request_header",
            "set_response_header",
            "remove_response_header",
        ];
        let mut decl = HeadersDecl::default();
        self.statements(block, KEYS, REPEATABLE, |cx, st| match st.key.text.as_str() {
            "hsts" => decl.hsts_max_age_s = cx.duration(st).map(|d| d.value / 1000),
            "hsts_subdomains" => decl.hsts_subdomains = cx.bool(st).is_some_and(|b| b.value),
            "hsts_preload" => decl.hsts_preload = cx.bool(st).is_some_and(|b| b.value),
            "nosniff" => decl.nosniff = cx.bool(st).is_some_and(|b| b.value),
            "frame_options" => {
                decl.frame_options = cx.string(st).map(|s| s.value);
                if let Some(v) = &decl.frame_options {
                    if !matches!(v.as_str(), "DENY" | "SAMEORIGIN") {
                        cx.push(
                            Diagnostic::error(Code::InvalidValue, st.values_span(), format!("invalid X-Frame-Options `{v}`"))
                                .help("use \"DENY\" or \"SAMEORIGIN\" (ALLOW-FROM is obsolete; use a CSP frame-ancestors)"),
                        );
                    }
                }
            }
            "referrer_policy" => decl.referrer_policy = cx.string(st).map(|s| s.value),
            "csp" => decl.csp = cx.string(st).map(|s| s.value),
            "set_request_header" => decl.set_request_headers.extend(cx.header_pair(st)),
            "set_response_header" => decl.set_response_headers.extend(cx.header_pair(st)),
            "remove_request_header" => decl.remove_request_headers.extend(cx.header_name(st)),
            "remove_response_header" => {
                decl.remove_response_headers.extend(cx.header_name(st))
            }
            // Unknown keys were reported by `statements`.
            _ => {}
        });
        decl
    }

    fn header_pair(&mut self, st: &Statement) -> Option<(String, String)> {
        let [name, value] = st.values.as_slice() else {
            self.push(arity(
                st,
                "a header name and value: `set_response_header \"X-Frame-Options\" \"DENY\"`",
            ));
            return None;
        };
        let name = self.header_name_value(name)?;
        let value = self.string_value(value)?;
        Some((name.value, value.value))
    }

    fn header_name(&mut self, st: &Statement) -> Option<String> {
        let [name] = st.values.as_slice() else {
            self.push(arity(st, "one header name"));
            return None;
        };
        self.header_name_value(name).map(|n| n.value)
    }

    fn header_name_value(&mut self, v: &Value) -> Option<S<String>> {
        let name = self.string_value(v)?;
        let token = !name.value.is_empty()
            && name
                .value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            self.push(
                Diagnostic::error(
                    Code::InvalidHeaderName,
                    v.span,
                    format!("invalid header name {:?}", name.value),
                )
                .label("not an HTTP token"),
            );
            return None;
        }
        Some(name)
    }

    fn cors(&mut self, block: &Block) -> CorsDecl {
        const KEYS: &[&str] = &[
            "origins",
            "methods",
            "headers",
            "expose",
            "max_age",
            "credentials",
        ];
        let mut decl = CorsDecl {
            max_age_s: 600,
            ..Default::default()
        };
        self.statements(block, KEYS, &[], |cx, st| match st.key.text.as_str() {
            "origins" => decl.origins = cx.list(st, Self::origin_value),
            "methods" => decl.methods = cx.methods(st),
            "headers" => {
                decl.headers = cx
                    .list(st, Self::header_name_value)
                    .into_iter()
                    .map(|s| s.value)
                    .collect()
            }
            "expose" => {
                decl.expose = cx
                    .list(st, Self::header_name_value)
                    .into_iter()
                    .map(|s| s.value)
                    .collect()
            }
            "max_age" => decl.max_age_s = cx.duration(st).map_or(600, |d| d.value / 1000),
            "credentials" => decl.credentials = cx.bool(st),
            // Unknown keys were reported by `statements`.
            _ => {}
        });
        if decl.origins.is_empty() {
            self.missing(block, "origins", "origins [\"https://example.com\"]");
        }
        decl
    }

    fn origin_value(&mut self, v: &Value) -> Option<S<String>> {
        let origin = self.string_value(v)?;
        let o = origin.value.as_str();
        let valid = o == "*"
            || ((o.starts_with("https://") || o.starts_with("http://"))
                && !o.ends_with('/')
                && o.split_once("://")
                    .is_some_and(|(_, host)| !host.is_empty() && !host.contains('/')));
        if !valid {
            self.push(
                Diagnostic::error(Code::InvalidOrigin, v.span, format!("invalid CORS origin {o:?}"))
                    .label("not an origin")
                    .help("an origin is `scheme://host[:port]` with no path or trailing slash, e.g. \"https://example.com\""),
            );
            return None;
        }
        Some(origin)
    }

    fn jwt(&mut self, block: &Block) -> JwtDecl {
        const KEYS: &[&str] = &[
            "algorithms",
            "key",
            "issuer",
            "audience",
            "roles_claim",
            "leeway",
            "public",
            "require_roles",
        ];
        const ALGORITHMS: &[&str] = &[
            "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA",
        ];
        let mut decl = JwtDecl::default();
        self.statements(block, KEYS, &["require_roles"], |cx, st| match st.key.text.as_str() {
            "algorithms" => {
                decl.algorithms = cx.list(st, Self::ident_value);
                for alg in &decl.algorithms {
                    if alg.value.eq_ignore_ascii_case("none") {
                        cx.push(
                            Diagnostic::error(
                                Code::InsecureAlgorithm,
                                alg.span,
                                "`none` is not a signature algorithm",
                            )
                            .label("would accept unsigned tokens"),
                        );
                    } else if !ALGORITHMS.contains(&alg.value.as_str()) {
                        let mut d = Diagnostic::error(
                            Code::UnknownAlgorithm,
                            alg.span,
                            format!("unknown JWT algorithm `{}`", alg.value),
                        );
                        d = match did_you_mean(&alg.value, ALGORITHMS.iter().copied()) {
                            Some(h) => d.help(h),
                            None => {
                                d.help(format!("the algorithms are: {}", ALGORITHMS.join(", ")))
                            }
                        };
                        cx.push(d);
                    }
                }
            }
            "key" => decl.key = cx.key_source(st),
            "issuer" => decl.issuer = cx.string(st).map(|s| s.value),
            "audience" => decl.audience = cx.string(st).map(|s| s.value),
            "roles_claim" => decl.roles_claim = cx.ident(st).map(|s| s.value),
            "leeway" => decl.leeway_s = cx.duration(st).map(|d| d.value / 1000),
            "public" => decl.public = cx.list(st, Self::path_value),
            "require_roles" => {
                if let [path, roles] = st.values.as_slice() {
                    if let Some(path) = cx.path_value(path) {
                        let roles = cx
                            .list_value(roles, Self::ident_value)
                            .into_iter()
                            .map(|r| r.value)
                            .collect();
                        decl.require_roles.push((path, roles));
                    }
                } else {
                    cx.push(arity(st, "a path prefix and a list of roles: `require_roles \"/v1/admin/\" [admin]`"));
                }
            }
            // Unknown keys were reported by `statements`.
            _ => {}
        });
        if decl.algorithms.is_empty() {
            self.missing(block, "algorithms", "algorithms [HS256]");
        }
        if decl.key.is_none() {
            self.missing(block, "key", "key env JWT_SECRET");
        }
        decl
    }

    /// `key env NAME` | `key file "PATH"`; an inline string is an error:
    /// secrets never go into generated files.
    fn key_source(&mut self, st: &Statement) -> Option<S<KeyDecl>> {
        let span = st.values_span();
        match st.values.as_slice() {
            [kw, name] if kw.kind == ValueKind::Ident && kw.raw == "env" => {
                let name = self.env_var_value(name)?;
                Some(S::new(KeyDecl::Env(name.value), span))
            }
            [kw, path] if kw.kind == ValueKind::Ident && kw.raw == "file" => {
                let path = self.string_value(path)?;
                Some(S::new(KeyDecl::File(path.value), span))
            }
            [v] if matches!(v.kind, ValueKind::Str(_)) => {
                self.push(
                    Diagnostic::error(Code::InlineSecret, v.span, "a JWT key is written inline")
                        .label("secret in the source")
                        .help("secrets never go into routes.dsl or generated files: use `key env JWT_SECRET` or `key file \"/run/secrets/jwt.pem\"`"),
                );
                None
            }
            _ => {
                self.push(arity(st, "`key env NAME` or `key file \"PATH\"`"));
                None
            }
        }
    }

    fn rate_limit(&mut self, block: &Block) -> RateLimitDecl {
        let mut decl = RateLimitDecl::default();
        self.statements(block, &["key", "average", "burst"], &[], |cx, st| match st
            .key
            .text
            .as_str()
        {
            "key" => decl.key = cx.one_of(st, &["client_ip", "user"]),
            "average" => decl.average = cx.rate(st),
            _ => decl.burst = cx.count(st).map(|c| S::new(u64::from(c.value), c.span)),
        });
        if decl.key.is_none() {
            self.missing(block, "key", "key client_ip` or `key user");
        }
        if decl.average.is_none() {
            self.missing(block, "average", "average 100/s");
        }
        decl
    }

    fn cache(&mut self, block: &Block) -> CacheDecl {
        let mut decl = CacheDecl::default();
        self.statements(
            block,
            &["ttl", "methods", "max_entries", "max_size"],
            &[],
            |cx, st| match st.key.text.as_str() {
                "ttl" => decl.ttl_ms = cx.duration(st).map(|d| d.value),
                "methods" => decl.methods = cx.methods(st),
                "max_entries" => decl.max_entries = cx.count(st).map(|c| u64::from(c.value)),
                _ => decl.max_bytes = cx.size(st),
            },
        );
        for m in &decl.methods {
            if !matches!(m.value.as_str(), "GET" | "HEAD") {
                self.push(
                    Diagnostic::error(
                        Code::UncacheableMethod,
                        m.span,
                        format!("{} responses are not cached", m.value),
                    )
                    .label("not cacheable")
                    .help("the response cache serves GET and HEAD only"),
                );
            }
        }
        if decl.ttl_ms.is_none() {
            self.missing(block, "ttl", "ttl 5m");
        }
        decl
    }

    fn database(&mut self, block: &Block) -> DatabaseDecl {
        const KEYS: &[&str] = &[
            "primary",
            "replicas",
            "pool_min",
            "pool_max",
            "command_timeout",
            "pool_mode",
        ];
        let mut decl = DatabaseDecl {
            name: self.block_name(block),
            ..Default::default()
        };
        self.statements(block, KEYS, &[], |cx, st| match st.key.text.as_str() {
            "primary" => decl.primary_env = cx.env_ref(st, false).and_then(|mut v| v.pop()),
            "replicas" => decl.replica_envs = cx.env_ref(st, true).unwrap_or_default(),
            "pool_min" => decl.pool_min = cx.count(st),
            "pool_max" => decl.pool_max = cx.count(st),
            "command_timeout" => decl.command_timeout_ms = cx.duration(st).map(|d| d.value),
            "pool_mode" => decl.pool_mode = cx.one_of(st, &["transaction", "session", "statement"]),
            // Unknown keys were reported by `statements`.
            _ => {}
        });
        if decl.primary_env.is_none() {
            self.missing(block, "primary", "primary env DATABASE_URL");
        }
        decl
    }

    /// `env NAME` or, with `list`, `env [A, B]`. A literal DSN is an error.
    fn env_ref(&mut self, st: &Statement, list: bool) -> Option<Vec<S<String>>> {
        match st.values.as_slice() {
            [kw, v] if kw.kind == ValueKind::Ident && kw.raw == "env" => {
                if list {
                    Some(self.list_value(v, Self::env_var_value))
                } else {
                    self.env_var_value(v).map(|n| vec![n])
                }
            }
            [v] if matches!(v.kind, ValueKind::Str(_)) => {
                self.push(
                    Diagnostic::error(
                        Code::InlineSecret,
                        v.span,
                        "a connection string is written inline",
                    )
                    .label("may hold a password")
                    .help(format!(
                        "name the env var that holds it: `{} env {}`",
                        st.key.text,
                        if list {
                            "[DATABASE_READ_URL_1]"
                        } else {
                            "DATABASE_URL"
                        }
                    )),
                );
                None
            }
            _ => {
                let form = if list {
                    "`replicas env [NAME, ...]`"
                } else {
                    "`primary env NAME`"
                };
                self.push(arity(st, form));
                None
            }
        }
    }

    fn alert(&mut self, block: &Block) -> AlertDecl {
        const KEYS: &[&str] = &["for", "severity", "threshold", "quantile"];
        let kind = match &block.name {
            Some(name) => {
                if !ALERT_KINDS.contains(&name.text.as_str()) {
                    let mut d = Diagnostic::error(
                        Code::UnknownAlert,
                        name.span,
                        format!("unknown alert `{}`", name.text),
                    )
                    .label("not an alert kind");
                    d = match did_you_mean(&name.text, ALERT_KINDS.iter().copied()) {
                        Some(h) => d.help(h),
                        None => d.help(format!("the alerts are: {}", ALERT_KINDS.join(", "))),
                    };
                    self.push(d);
                }
                S::new(name.text.clone(), name.span)
            }
            None => {
                self.push(
                    Diagnostic::error(Code::MissingName, block.kind.span, "`alert` needs a kind")
                        .help(format!(
                            "write `alert KIND {{` with KIND one of: {}",
                            ALERT_KINDS.join(", ")
                        )),
                );
                S::new(String::new(), block.kind.span)
            }
        };
        let mut decl = AlertDecl {
            kind,
            ..Default::default()
        };
        self.statements(block, KEYS, &[], |cx, st| match st.key.text.as_str() {
            "for" => decl.for_ms = cx.duration(st).map(|d| d.value),
            "severity" => decl.severity = cx.one_of(st, &["critical", "warning", "info"]),
            "threshold" => decl.threshold = cx.threshold(st),
            "quantile" => {
                if let Some(q) = cx.number(st) {
                    if !(q.value > 0.0 && q.value < 1.0) {
                        cx.push(
                            Diagnostic::error(
                                Code::OutOfRange,
                                q.span,
                                "a quantile is between 0 and 1",
                            )
                            .label("e.g. 0.99"),
                        );
                    }
                    decl.quantile = Some(q);
                }
            }
            // Unknown keys were reported by `statements`.
            _ => {}
        });
        if decl.for_ms.is_none() {
            self.missing(block, "for", "for 5m");
        }
        decl
    }

    fn threshold(&mut self, st: &Statement) -> Option<S<Threshold>> {
        let v = self.single(st, "a threshold: `5%`, `1s` or `50/s`")?;
        let t = match v.kind {
            ValueKind::Quantity => {
                let (number, unit) = split_quantity(&v.raw);
                match unit {
                    "%" => Threshold::Fraction(number / 100.0),
                    "" => Threshold::Fraction(number),
                    _ => Threshold::Seconds(self.duration_value(v)?.value as f64 / 1000.0),
                }
            }
            ValueKind::Rate => {
                let r = self.rate_value(v)?;
                Threshold::PerSecond(r.value.0 as f64 * 1000.0 / r.value.1 as f64)
            }
            _ => {
                self.push(type_error(
                    v,
                    "threshold",
                    "a threshold: `5%`, `1s` or `50/s`",
                ));
                return None;
            }
        };
        Some(S::new(t, v.span))
    }

    // ------------------------------------------------ statement helpers --

    /// The statement in `node`, reporting a nested block that `what` does
    /// not take. Comments and blank lines yield `None` silently.
    fn statement_only<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        keys: &[&str],
    ) -> Option<&'n Statement> {
        match node {
            Node::Statement(st) => Some(st),
            Node::Block(b) => {
                let mut d = Diagnostic::error(
                    Code::UnexpectedBlock,
                    b.head_span(),
                    format!("{what} takes no `{}` block", b.kind.text),
                );
                if let Some(h) = did_you_mean(&b.kind.text, keys.iter().copied()) {
                    d = d.help(h);
                }
                self.push(d);
                None
            }
            Node::Comment(..) | Node::Blank => None,
        }
    }

    fn required<T: Default>(
        &mut self,
        value: Option<S<T>>,
        block: &Block,
        key: &str,
        example: &str,
    ) -> S<T> {
        value.unwrap_or_else(|| {
            self.missing(block, key, example);
            S::new(T::default(), block.head_span())
        })
    }

    /// The statement's only value, or an arity error.
    fn single<'v>(&mut self, st: &'v Statement, expected: &str) -> Option<&'v Value> {
        match st.values.as_slice() {
            [v] => Some(v),
            _ => {
                self.push(arity(st, expected));
                None
            }
        }
    }

    fn string(&mut self, st: &Statement) -> Option<S<String>> {
        let v = self.single(st, "one string")?;
        self.string_value(v)
    }

    fn string_value(&mut self, v: &Value) -> Option<S<String>> {
        match &v.kind {
            ValueKind::Str(s) => Some(S::new(s.clone(), v.span)),
            _ => {
                self.push(
                    type_error(v, "", "a string in double quotes")
                        .help(format!("write \"{}\"", v.raw)),
                );
                None
            }
        }
    }

    fn ident(&mut self, st: &Statement) -> Option<S<String>> {
        let v = self.single(st, "one name")?;
        self.ident_value(v)
    }

    fn ident_value(&mut self, v: &Value) -> Option<S<String>> {
        match &v.kind {
            ValueKind::Ident => Some(S::new(v.raw.clone(), v.span)),
            ValueKind::Str(s) => {
                self.push(type_error(v, "", "a name, without quotes").help(format!("write {s}")));
                None
            }
            _ => {
                self.push(type_error(v, "", "a name"));
                None
            }
        }
    }

    fn one_of(&mut self, st: &Statement, choices: &[&str]) -> Option<S<String>> {
        let v = self.ident(st)?;
        if choices.contains(&v.value.as_str()) {
            return Some(v);
        }
        let mut d = Diagnostic::error(
            Code::InvalidValue,
            v.span,
            format!("`{}` is not a valid `{}`", v.value, st.key.text),
        )
        .label("unexpected value");
        d = match did_you_mean(&v.value, choices.iter().copied()) {
            Some(h) => d.help(h),
            None => d.help(format!(
                "`{}` is one of: {}",
                st.key.text,
                choices.join(", ")
            )),
        };
        self.push(d);
        None
    }

    fn bool(&mut self, st: &Statement) -> Option<S<bool>> {
        let v = self.single(st, "`true` or `false`")?;
        match (&v.kind, v.raw.as_str()) {
            (ValueKind::Ident, "true") => Some(S::new(true, v.span)),
            (ValueKind::Ident, "false") => Some(S::new(false, v.span)),
            _ => {
                self.push(type_error(v, &st.key.text, "`true` or `false`"));
                None
            }
        }
    }

    fn number(&mut self, st: &Statement) -> Option<S<f64>> {
        let v = self.single(st, "one number")?;
        let (n, unit) = split_quantity(&v.raw);
        if v.kind != ValueKind::Quantity || !unit.is_empty() {
            self.push(type_error(v, &st.key.text, "a plain number"));
            return None;
        }
        Some(S::new(n, v.span))
    }

    /// A whole number with no unit, at least 1.
    fn count(&mut self, st: &Statement) -> Option<S<u32>> {
        let v = self.single(st, "one whole number")?;
        let (_, unit) = split_quantity(&v.raw);
        if v.kind != ValueKind::Quantity || !unit.is_empty() || v.raw.contains('.') {
            self.push(type_error(v, &st.key.text, "a whole number"));
            return None;
        }
        match v.raw.parse::<u32>() {
            Ok(0) if st.key.text != "priority" => {
                self.push(
                    Diagnostic::error(
                        Code::OutOfRange,
                        v.span,
                        format!("`{}` must be at least 1", st.key.text),
                    )
                    .label("zero"),
                );
                None
            }
            Ok(n) => Some(S::new(n, v.span)),
            Err(_) => {
                self.push(
                    Diagnostic::error(
                        Code::OutOfRange,
                        v.span,
                        format!("`{}` is too large", v.raw),
                    )
                    .label("at most 4294967295"),
                );
                None
            }
        }
    }

    fn port(&mut self, st: &Statement) -> Option<S<u16>> {
        let v = self.single(st, "one port number")?;
        self.port_text(
            &v.raw,
            v.span,
            v.kind == ValueKind::Quantity && !v.raw.contains('.'),
        )
    }

    fn port_text(&mut self, text: &str, span: Span, is_integer: bool) -> Option<S<u16>> {
        match text.parse::<u32>() {
            Ok(p @ 1..=65535) if is_integer => Some(S::new(p as u16, span)),
            _ => {
                self.push(
                    Diagnostic::error(Code::InvalidPort, span, format!("invalid port `{text}`"))
                        .label("not a port")
                        .help("a port is a whole number from 1 to 65535"),
                );
                None
            }
        }
    }

    fn address(&mut self, st: &Statement) -> Option<S<(String, u16)>> {
        let v = self.single(st, "an address such as `:443` or `0.0.0.0:8080`")?;
        self.address_value(v)
    }

    fn address_value(&mut self, v: &Value) -> Option<S<(String, u16)>> {
        if v.kind != ValueKind::Address {
            let hint = if let ValueKind::Str(s) = &v.kind {
                format!("write it without quotes: {s}")
            } else {
                "e.g. `:443`".into()
            };
            self.push(type_error(v, "", "an address `host:port` or `:port`").help(hint));
            return None;
        }
        let (host, port) = v
            .raw
            .rsplit_once(':')
            .expect("the grammar's address has a colon");
        let port_span = Span::new(v.span.end - port.len(), v.span.end);
        if host.contains('.') && host.chars().all(|c| c.is_ascii_digit() || c == '.') {
            self.ipv4(host, Span::new(v.span.start, v.span.start + host.len()))?;
        }
        let port = self.port_text(port, port_span, true)?;
        Some(S::new((v.raw.clone(), port.value), v.span))
    }

    /// An instance address: a host is required.
    fn address_value_with_host(&mut self, v: &Value) -> Option<S<(String, u16)>> {
        let a = self.address_value(v)?;
        let (host, _) = a.value.0.rsplit_once(':').expect("checked above");
        if host.is_empty() {
            self.push(
                Diagnostic::error(Code::InvalidInstance, v.span, "an instance needs a host")
                    .label("no host")
                    .help("write `host:port`, e.g. auth-service-1:8081"),
            );
            return None;
        }
        Some(S::new((host.to_string(), a.value.1), a.span))
    }

    fn cidr(&mut self, st: &Statement) -> Option<S<String>> {
        let v = self.single(st, "one CIDR such as `172.20.0.0/16`")?;
        self.cidr_value(v)
    }

    fn cidr_value(&mut self, v: &Value) -> Option<S<String>> {
        let valid_shape = v.kind == ValueKind::Ip && v.raw.contains('/');
        let (ip, bits) = v.raw.split_once('/').unwrap_or((&v.raw, ""));
        if !valid_shape {
            self.push(type_error(v, "", "a CIDR such as `172.20.0.0/16`"));
            return None;
        }
        let addr = self.ipv4(ip, Span::new(v.span.start, v.span.start + ip.len()))?;
        let bits_span = Span::new(v.span.end - bits.len(), v.span.end);
        let Some(bits) = bits.parse::<u32>().ok().filter(|b| *b <= 32) else {
            self.push(
                Diagnostic::error(
                    Code::InvalidCidr,
                    bits_span,
                    format!("invalid prefix length `/{bits}`"),
                )
                .label("must be 0 to 32"),
            );
            return None;
        };
        let mask = if bits == 0 {
            0
        } else {
            u32::MAX << (32 - bits)
        };
        if addr & !mask != 0 {
            let network = std::net::Ipv4Addr::from(addr & mask);
            self.push(
                Diagnostic::error(
                    Code::InvalidCidr,
                    v.span,
                    format!("`{}` has host bits set", v.raw),
                )
                .label("not a network address")
                .help(format!("did you mean `{network}/{bits}`?")),
            );
            return None;
        }
        Some(S::new(v.raw.clone(), v.span))
    }

    fn ipv4(&mut self, text: &str, span: Span) -> Option<u32> {
        match text.parse::<std::net::Ipv4Addr>() {
            Ok(ip) => Some(u32::from(ip)),
            Err(_) => {
                self.push(
                    Diagnostic::error(
                        Code::InvalidIp,
                        span,
                        format!("invalid IPv4 address `{text}`"),
                    )
                    .label("not an IPv4 address")
                    .help("each of the four parts is a number from 0 to 255"),
                );
                None
            }
        }
    }

    fn hostname(&mut self, st: &Statement) -> Option<S<String>> {
        let v = self.single(st, "one host name in quotes")?;
        self.hostname_value(v)
    }

    fn hostname_value(&mut self, v: &Value) -> Option<S<String>> {
        let host = self.string_value(v)?;
        let name = host.value.strip_prefix("*.").unwrap_or(&host.value);
        let valid = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !valid || host.value.bytes().any(|b| b.is_ascii_uppercase()) {
            self.push(
                Diagnostic::error(Code::InvalidHost, v.span, format!("invalid host name {:?}", host.value))
                    .label("not a host name")
                    .help("a host name is lower-case labels of letters, digits and `-` separated by dots (a leading `*.` for a wildcard)"),
            );
            return None;
        }
        Some(host)
    }

    fn path(&mut self, st: &Statement) -> Option<S<String>> {
        let v = self.single(st, "one path in quotes, starting with `/`")?;
        self.path_value(v)
    }

    /// A route path: absolute, already in normal form, since that is what
    /// requests are matched against after normalization.
    fn path_value(&mut self, v: &Value) -> Option<S<String>> {
        let path = self.string_value(v)?;
        let p = path.value.as_str();
        let problem = if !p.starts_with('/') {
            Some("a path starts with `/`")
        } else if p.contains("//") {
            Some("a path has no empty segments (`//`)")
        } else if p.split('/').any(|seg| seg == "." || seg == "..") {
            Some("a path has no `.` or `..` segments")
        } else if p.contains('%') {
            Some("write the path decoded: requests are matched after percent-decoding")
        } else if p
            .bytes()
            .any(|b| !(b.is_ascii_graphic()) || matches!(b, b'?' | b'#' | b'\\'))
        {
            Some("a path has no spaces, `?`, `#`, `\\` or non-ASCII characters")
        } else {
            None
        };
        if let Some(problem) = problem {
            self.push(
                Diagnostic::error(Code::InvalidPath, v.span, format!("invalid path {p:?}"))
                    .label("not a normalized path")
                    .help(problem),
            );
            return None;
        }
        Some(path)
    }

    fn methods(&mut self, st: &Statement) -> Vec<S<String>> {
        let methods = self.list(st, Self::ident_value);
        methods
            .into_iter()
            .filter(|m| {
                if METHODS.contains(&m.value.as_str()) {
                    return true;
                }
                let upper = m.value.to_ascii_uppercase();
                let mut d = Diagnostic::error(
                    Code::InvalidMethod,
                    m.span,
                    format!("unknown HTTP method `{}`", m.value),
                )
                .label("not a method");
                d = if METHODS.contains(&upper.as_str()) {
                    d.help(format!("methods are upper-case: `{upper}`"))
                } else {
                    d.help(format!("the methods are: {}", METHODS.join(", ")))
                };
                self.push(d);
                false
            })
            .collect()
    }

    fn env_var_value(&mut self, v: &Value) -> Option<S<String>> {
        let name = self.ident_value(v)?;
        let n = name.value.as_str();
        let valid = n
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
            && n.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            let fixed = crate::model::env_var_spelling(n);
            self.push(
                Diagnostic::error(
                    Code::InvalidEnvVar,
                    v.span,
                    format!("invalid environment variable name `{n}`"),
                )
                .label("not an env var name")
                .help(format!(
                    "env var names are upper-case letters, digits and `_`: `{fixed}`"
                )),
            );
            return None;
        }
        Some(name)
    }

    fn htpasswd_value(&mut self, v: &Value) -> Option<S<String>> {
        let entry = self.string_value(v)?;
        let hashed = entry.value.split_once(':').is_some_and(|(user, hash)| {
            !user.is_empty()
                && (hash.starts_with("$apr1$")
                    || hash.starts_with("$2y$")
                    || hash.starts_with("$2b$")
                    || hash.starts_with("{SHA}"))
        });
        if !hashed {
            self.push(
                Diagnostic::error(Code::InlineSecret, v.span, "a basic-auth user without a password hash")
                    .label("expected `user:hash`")
                    .help("write htpasswd lines (`htpasswd -nB user`); plain passwords never go into generated files"),
            );
            return None;
        }
        Some(entry)
    }

    /// `[a, b]` with each item converted by `item`; a single value outside a
    /// list is an error with a hint.
    fn list<T>(
        &mut self,
        st: &Statement,
        item: fn(&mut Self, &Value) -> Option<S<T>>,
    ) -> Vec<S<T>> {
        match st.values.as_slice() {
            [v] => self.list_value(v, item),
            _ => {
                self.push(arity(st, "one list in `[...]`"));
                Vec::new()
            }
        }
    }

    fn list_value<T>(
        &mut self,
        v: &Value,
        item: fn(&mut Self, &Value) -> Option<S<T>>,
    ) -> Vec<S<T>> {
        match &v.kind {
            ValueKind::List(items) => items.iter().filter_map(|i| item(self, i)).collect(),
            _ => {
                self.push(
                    type_error(v, "", "a list in `[...]`").help(format!("write [{}]", v.raw)),
                );
                Vec::new()
            }
        }
    }

    fn duration(&mut self, st: &Statement) -> Option<S<u64>> {
        let v = self.single(st, "one duration such as `30s`")?;
        self.duration_value(v)
    }

    /// `500ms`, `30s`, `5m`, `1h`, `7d` -> milliseconds.
    fn duration_value(&mut self, v: &Value) -> Option<S<u64>> {
        let (n, unit) = split_quantity(&v.raw);
        let factor = match unit {
            "ms" => 1.0,
            "s" => 1_000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            "d" => 86_400_000.0,
            _ => {
                let message = if v.kind != ValueKind::Quantity {
                    format!("expected a duration, found {}", v.kind.describe())
                } else if unit.is_empty() {
                    format!("`{}` has no unit", v.raw)
                } else {
                    format!("invalid duration `{}`: unknown unit `{unit}`", v.raw)
                };
                self.push(
                    Diagnostic::error(Code::InvalidDuration, v.span, message)
                        .label("not a duration")
                        .help("a duration is a number and a unit: ms, s, m, h or d (e.g. `30s`, `5m`)"),
                );
                return None;
            }
        };
        Some(S::new((n * factor).round() as u64, v.span))
    }

    fn size(&mut self, st: &Statement) -> Option<u64> {
        let v = self.single(st, "one size such as `64KiB`")?;
        let (n, unit) = split_quantity(&v.raw);
        let factor: u64 = match unit {
            "B" => 1,
            "KB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            _ => {
                self.push(
                    Diagnostic::error(Code::InvalidSize, v.span, format!("invalid size `{}`", v.raw))
                        .label("not a size")
                        .help("a size is a number and a unit: B, KB, MB, GB, KiB, MiB or GiB (e.g. `16KiB`)"),
                );
                return None;
            }
        };
        Some((n * factor as f64).round() as u64)
    }

    fn rate(&mut self, st: &Statement) -> Option<S<(u64, u64)>> {
        let v = self.single(st, "one rate such as `100/s`")?;
        self.rate_value(v)
    }

    /// `100/s`, `20/m`, `1000/h` -> (count, period in ms).
    fn rate_value(&mut self, v: &Value) -> Option<S<(u64, u64)>> {
        let parsed = (v.kind == ValueKind::Rate)
            .then(|| v.raw.split_once('/'))
            .flatten()
            .and_then(|(count, unit)| {
                let period = match unit {
                    "s" => 1_000,
                    "m" => 60_000,
                    "h" => 3_600_000,
                    _ => return None,
                };
                count
                    .parse::<u64>()
                    .ok()
                    .filter(|c| *c > 0)
                    .map(|c| (c, period))
            });
        if parsed.is_none() {
            self.push(
                Diagnostic::error(
                    Code::InvalidRate,
                    v.span,
                    format!("invalid rate `{}`", v.raw),
                )
                .label("not a rate")
                .help("a rate is a whole number of requests per s, m or h (e.g. `100/s`)"),
            );
        }
        parsed.map(|p| S::new(p, v.span))
    }
}

/// `30s` -> (30.0, "s"); `5%` -> (5.0, "%").
fn split_quantity(raw: &str) -> (f64, &str) {
    let split = raw
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(raw.len());
    (raw[..split].parse().unwrap_or(0.0), &raw[split..])
}

impl Lower<'_> {
    /// Report that `block` lacks `key`, unless the key is there with a bad
    /// value or misspelled (both already reported): one mistake, one error.
    fn missing(&mut self, block: &Block, key: &str, example: &str) {
        let written = block.body.iter().any(|n| {
            let k = match n {
                Node::Statement(st) => &st.key.text,
                Node::Block(b) => &b.kind.text,
                _ => return false,
            };
            k == key || crate::diagnostic::suggest(k, [key]).is_some()
        });
        if !written {
            self.push(missing_key(block, key, example));
        }
    }
}

fn missing_key(block: &Block, key: &str, example: &str) -> Diagnostic {
    let what = match &block.name {
        Some(n) => format!("{} `{}`", block.kind.text, n.text),
        None => format!("`{}`", block.kind.text),
    };
    Diagnostic::error(
        Code::MissingKey,
        block.head_span(),
        format!("{what} has no `{key}`"),
    )
    .label(format!("`{key}` missing"))
    .help(format!("add `{example}`"))
}

fn repeated_block(kind: &str, span: Span, first: Span) -> Diagnostic {
    Diagnostic::error(
        Code::RepeatedBlock,
        span,
        format!("a second `{kind}` block"),
    )
    .label("repeated here")
    .with_secondary(first, "first given here")
    .help(format!("a file has at most one `{kind}` block"))
}

fn arity(st: &Statement, expected: &str) -> Diagnostic {
    let found = match st.values.len() {
        0 => "nothing".to_string(),
        1 => "one value".to_string(),
        n => format!("{n} values"),
    };
    Diagnostic::error(
        Code::WrongArity,
        st.values_span(),
        format!("`{}` takes {expected}, found {found}", st.key.text),
    )
    .label(if st.values.is_empty() {
        "value missing"
    } else {
        "unexpected values"
    })
}

fn type_error(v: &Value, key: &str, expected: &str) -> Diagnostic {
    let key = if key.is_empty() {
        String::new()
    } else {
        format!("`{key}`: ")
    };
    Diagnostic::error(
        Code::WrongType,
        v.span,
        format!("{key}expected {expected}, found {}", v.kind.describe()),
    )
    .label(format!("this is {}", v.kind.describe()))
}
