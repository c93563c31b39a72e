//! Hand-built table specs shared by the routetable tests: a mirror of the
//! Dating Platform's gateway and a spec that uses every field and every
//! middleware kind at least once. The compiler's own tests cover the specs
//! `routec` derives from `routes.dsl`.
#![allow(dead_code)]

use routetable::*;

pub fn s(v: &str) -> String {
    v.to_owned()
}

pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| s(x)).collect()
}

fn service(name: &str, host: &str, port: u16, replicas: u16) -> ServiceSpec {
    ServiceSpec {
        name: s(name),
        instances: (1..=replicas)
            .map(|n| (format!("{host}-{n}"), port))
            .collect(),
        balance: Balance::RoundRobin,
        health: Some(HealthCheckSpec {
            path: s("/health"),
            interval_ms: 30_000,
            timeout_ms: 5_000,
            healthy_threshold: 2,
            unhealthy_threshold: 3,
        }),
        timeouts: TimeoutsSpec {
            connect_ms: 5_000,
            response_ms: 30_000,
            websocket_idle_ms: 300_000,
        },
        upstream_tls: None,
    }
}

fn route(name: &str, path: PathMatch, service: u32, chain: u32, websocket: bool) -> RouteSpec {
    RouteSpec {
        name: s(name),
        host: None,
        path,
        methods: vec![],
        priority: 100,
        service,
        chain: Some(chain),
        websocket,
    }
}

/// The Dating Platform's gateway as `routes.dsl` describes it: eight
/// services under `/v1/<service>/`, two WebSocket paths, two chains.
pub fn dating_platform() -> TableSpec {
    let services = vec![
        service("auth", "auth-service", 8081, 2),
        service("profile", "profile-service", 8082, 2),
        service("discovery", "discovery-service", 8083, 2),
        service("chat", "chat-service", 8084, 1),
        service("media", "media-service", 8085, 1),
        service("admin", "admin-service", 8086, 1),
        service("notification", "notification-service", 8087, 1),
        service("data", "data-service", 8088, 1),
    ];
    let middlewares = vec![
        MiddlewareSpec {
            name: s("cors"),
            config: MiddlewareConfig::Cors(CorsConfig {
                origins: strings(&["https://dating.serge.cc"]),
                methods: strings(&["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
                headers: strings(&["Authorization", "Content-Type", "X-Request-Id"]),
                expose: strings(&["X-Request-Id", "RateLimit-Remaining"]),
                max_age_s: 3600,
                credentials: true,
                websocket_origins: vec![],
            }),
        },
        MiddlewareSpec {
            name: s("per-ip"),
            config: MiddlewareConfig::RateLimit(RateLimitConfig {
                key: RateKey::ClientIp,
                average: 100,
                period_ms: 1000,
                burst: 200,
                shared: None,
            }),
        },
        MiddlewareSpec {
            name: s("auth"),
            config: MiddlewareConfig::Jwt(JwtConfig {
                algorithms: strings(&["HS256"]),
                key: KeySource::Env(s("JWT_SECRET")),
                issuer: Some(s("dating-auth")),
                audience: Some(s("dating-api")),
                roles_claim: s("roles"),
                leeway_s: 30,
                public: strings(&["/v1/auth/"]),
                require_roles: vec![RoleRule {
                    prefix: s("/v1/admin/"),
                    roles: strings(&["admin"]),
                }],
                subprotocol: Some(s("base64url.bearer.authorization.dating.")),
                cookie: None,
            }),
        },
        MiddlewareSpec {
            name: s("per-user"),
            config: MiddlewareConfig::RateLimit(RateLimitConfig {
                key: RateKey::User,
                average: 20,
                period_ms: 1000,
                burst: 40,
                shared: Some(SharedLimitSpec {
                    key_prefix: s("dating"),
                    address_env: s("RATE_LIMIT_REDIS_ADDR"),
                    username_env: None,
                    password_env: Some(s("RATE_LIMIT_REDIS_PASSWORD")),
                    tls: false,
                    timeout_ms: 5,
                    on_failure: StoreFailure::Local,
                    replicas: 3,
                }),
            }),
        },
        MiddlewareSpec {
            name: s("request-log"),
            config: MiddlewareConfig::AccessLog { audit: true },
        },
        MiddlewareSpec {
            name: s("json-errors"),
            config: MiddlewareConfig::Errors { format: s("json") },
        },
        MiddlewareSpec {
            name: s("security"),
            config: MiddlewareConfig::Headers(HeadersConfig {
                hsts_max_age_s: Some(31_536_000),
                hsts_include_subdomains: true,
                content_type_nosniff: true,
                frame_options: Some(s("DENY")),
                referrer_policy: Some(s("strict-origin-when-cross-origin")),
                ..HeadersConfig::default()
            }),
        },
        MiddlewareSpec {
            name: s("discovery-cache"),
            config: MiddlewareConfig::Cache(CacheConfig {
                ttl_ms: 300_000,
                methods: strings(&["GET", "HEAD"]),
                max_entries: 10_000,
                max_bytes: 64 << 20,
            }),
        },
    ];
    let chains = vec![
        ChainSpec {
            name: s("api"),
            middlewares: vec![0, 1, 2, 3, 4, 5, 6],
        },
        ChainSpec {
            name: s("api-cached"),
            middlewares: vec![0, 1, 2, 3, 4, 5, 6, 7],
        },
    ];
    let prefix = |p: &str| PathMatch::Prefix(s(p));
    let exact = |p: &str| PathMatch::Exact(s(p));
    let routes = vec![
        route("chat-ws", exact("/v1/chat/ws"), 3, 0, true),
        route("notification-ws", exact("/v1/notifications/ws"), 6, 0, true),
        route("notification", prefix("/v1/notifications/"), 6, 0, false),
        route("discovery", prefix("/v1/discovery/"), 2, 1, false),
        route("profile", prefix("/v1/profiles/"), 1, 0, false),
        route("admin", prefix("/v1/admin/"), 5, 0, false),
        route("media", prefix("/v1/media/"), 4, 0, false),
        route("auth", prefix("/v1/auth/"), 0, 0, false),
        route("chat", prefix("/v1/chat/"), 3, 0, false),
        route("data", prefix("/v1/data/"), 7, 0, false),
    ];
    TableSpec {
        generation: 1,
        source_sha256: [7; 32],
        gateway: GatewaySpec {
            max_connections: 10_000,
            max_header_bytes: 16 << 10,
            max_body_bytes: 10 << 20,
            header_timeout_ms: 10_000,
            dns_ttl_ms: 300_000,
            pool: PoolSpec {
                max_total: 100,
                max_per_host: 20,
                idle_timeout_ms: 90_000,
            },
            trusted_proxies: strings(&["172.20.0.0/16"]),
            underscore_headers: false,
        },
        services,
        middlewares,
        chains,
        routes,
    }
}

/// Every field with a non-default value somewhere, every middleware kind,
/// hosts, methods, upstream TLS, a service without health check, non-ASCII
/// strings, a root prefix and routes without chain.
pub fn everything() -> TableSpec {
    let mut spec = dating_platform();
    spec.generation = u64::MAX - 1;
    spec.source_sha256 = std::array::from_fn(|i| i as u8);
    spec.gateway.underscore_headers = true;
    spec.services.push(ServiceSpec {
        name: s("légacy"),
        instances: vec![(s("10.0.0.1"), 1), (s("legacy.internal"), u16::MAX)],
        balance: Balance::LeastRequests,
        health: None,
        timeouts: TimeoutsSpec {
            connect_ms: 1,
            response_ms: u64::MAX,
            websocket_idle_ms: 0,
        },
        upstream_tls: Some(UpstreamTlsSpec {
            ca_file: s("/certs/ca.pem"),
            cert_file: Some(s("/certs/client.pem")),
            key_file: Some(s("/certs/client.key")),
            server_name: None,
        }),
    });
    spec.services.push(ServiceSpec {
        name: s("random"),
        instances: vec![],
        balance: Balance::Random,
        health: None,
        timeouts: TimeoutsSpec::default(),
        upstream_tls: Some(UpstreamTlsSpec {
            ca_file: s("ca"),
            cert_file: None,
            key_file: None,
            server_name: Some(s("svc")),
        }),
    });
    spec.middlewares.extend([
        MiddlewareSpec {
            name: s("strip"),
            config: MiddlewareConfig::StripPrefix {
                prefixes: strings(&["/api", "/legacy"]),
            },
        },
        MiddlewareSpec {
            name: s("add"),
            config: MiddlewareConfig::AddPrefix {
                prefix: s("/internal"),
            },
        },
        MiddlewareSpec {
            name: s("all-headers"),
            config: MiddlewareConfig::Headers(HeadersConfig {
                hsts_max_age_s: None,
                hsts_include_subdomains: false,
                hsts_preload: true,
                content_type_nosniff: false,
                frame_options: None,
                referrer_policy: None,
                content_security_policy: Some(s("default-src 'self'")),
                set_request_headers: vec![(s("X-A"), s("1")), (s("X-B"), s("ünïcode"))],
                remove_request_headers: strings(&["Cookie"]),
                set_response_headers: vec![(s("X-C"), s(""))],
                remove_response_headers: strings(&["Server", "X-Powered-By"]),
            }),
        },
        MiddlewareSpec {
            name: s("file-jwt"),
            config: MiddlewareConfig::Jwt(JwtConfig {
                algorithms: strings(&["RS256", "ES256"]),
                key: KeySource::File(s("/keys/jwks.json")),
                issuer: None,
                audience: None,
                roles_claim: s("groups"),
                leeway_s: 0,
                public: vec![],
                require_roles: vec![
                    RoleRule {
                        prefix: s("/ops/"),
                        roles: strings(&["ops", "admin"]),
                    },
                    RoleRule {
                        prefix: s("/x/"),
                        roles: vec![],
                    },
                ],
                subprotocol: None,
                cookie: Some(s("session")),
            }),
        },
        MiddlewareSpec {
            name: s("quiet-log"),
            config: MiddlewareConfig::AccessLog { audit: false },
        },
    ]);
    spec.chains.push(ChainSpec {
        name: s("legacy"),
        middlewares: vec![8, 9, 10, 11, 12],
    });
    spec.chains.push(ChainSpec {
        name: s("empty"),
        middlewares: vec![],
    });
    spec.routes.extend([
        RouteSpec {
            name: s("legacy"),
            host: Some(s("Legacy.Dating.Serge.cc")),
            path: PathMatch::Prefix(s("/")),
            methods: strings(&["GET", "HEAD", "PURGE"]),
            priority: 0,
            service: 8,
            chain: Some(2),
            websocket: false,
        },
        RouteSpec {
            name: s("random"),
            host: None,
            path: PathMatch::Exact(s("/rändom")),
            methods: vec![],
            priority: u32::MAX,
            service: 9,
            chain: None,
            websocket: false,
        },
    ]);
    spec
}

/// Higher priority, exact before prefix, longer key: smaller is better.
type Rank = (std::cmp::Reverse<u32>, bool, std::cmp::Reverse<usize>);

/// The matching rules of FORMAT.md, written plainly: scan every route, keep
/// the ones that match, take the best by (higher priority, exact before
/// prefix, longer key, lower index).
pub fn reference_lookup(spec: &TableSpec, host: &str, method: &str, path: &str) -> Option<usize> {
    let host = host.split(':').next().unwrap_or("").trim_end_matches('.');
    let mut best: Option<(usize, Rank)> = None;
    for (index, route) in spec.routes.iter().enumerate() {
        let host_ok = route
            .host
            .as_ref()
            .is_none_or(|h| h.eq_ignore_ascii_case(host));
        let method_ok = route.methods.is_empty() || route.methods.iter().any(|m| m == method);
        let (path_ok, key_len) = match &route.path {
            PathMatch::Exact(p) => (p == path, p.len()),
            PathMatch::Prefix(p) => {
                let key = p.trim_end_matches('/');
                let ok =
                    path == key || (path.starts_with(key) && path[key.len()..].starts_with('/'));
                (ok, key.len())
            }
        };
        if !(host_ok && method_ok && path_ok) {
            continue;
        }
        let rank = (
            std::cmp::Reverse(route.priority),
            route.path.is_prefix(),
            std::cmp::Reverse(key_len),
        );
        if best.as_ref().is_none_or(|(_, b)| rank < *b) {
            best = Some((index, rank));
        }
    }
    best.map(|(index, _)| index)
}
