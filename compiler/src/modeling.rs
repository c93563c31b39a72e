//! The model stage: checked declarations -> the [`Model`], with every default
//! applied and every reference resolved.
//!
//! Runs only on a program that passed [`check`](crate::check) with no
//! errors, so it does not report anything; the defaults it applies are the
//! language's documented defaults: those the route table carries are
//! [`routetable::defaults`] (the gateway reads the same constants), the rest
//! are [`defaults`] below. No stage before this one fills a default.

use crate::ast::{self, EdgeTargetDecl, KeyDecl, MiddlewareDeclConfig, Program, Threshold};
use crate::model::*;
use crate::routes::{derive_gateway_routes, PathKind};
use routetable::defaults as table_defaults;

/// Defaults of the settings the route table does not carry (the gateway's
/// container, PgBouncer's pool); those it carries are
/// [`routetable::defaults`], which the gateway shares. Named so the README
/// and the code agree.
pub mod defaults {
    pub const GATEWAY_IMAGE: &str = "routec/dataplane:latest";
    pub const GATEWAY_PORT: u16 = 8080;
    pub const POOL_MIN: u32 = 5;
    pub const POOL_MAX: u32 = 20;
    pub const COMMAND_TIMEOUT_MS: u64 = 30_000;
    pub const POOL_MODE: &str = "transaction";
}

/// Build the model of a checked program. `file` and `sha256` describe the
/// source.
pub fn build_model(program: &Program, file: &str, sha256: &str) -> Model {
    let platform = program.platform.clone().unwrap_or_default();
    let serving_entrypoints: Vec<String> = program
        .entrypoints
        .iter()
        .filter(|e| e.redirect.is_none())
        .map(|e| e.name.value.clone())
        .collect();
    let only_resolver = match program.resolvers.as_slice() {
        [one] => Some(one.name.value.clone()),
        _ => None,
    };
    let trusted_proxies: Vec<String> = platform
        .trusted_proxies
        .iter()
        .map(|c| c.value.clone())
        .collect();
    let mut gateway = gateway(program.gateway.as_ref(), &trusted_proxies);
    gateway.underscore_headers = platform
        .underscore_headers
        .as_ref()
        .is_some_and(|u| u.value == "allow");

    let mut gateway_routes: Vec<GatewayRoute> = derive_gateway_routes(program)
        .into_iter()
        .map(|r| {
            let chain = r.chain.map(|c| c.value);
            let middlewares = chain
                .as_ref()
                .and_then(|c| program.chains.iter().find(|x| &x.name.value == c))
                .map(|c| c.middlewares.iter().map(|m| m.value.clone()).collect())
                .unwrap_or_default();
            GatewayRoute {
                name: r.shape.name,
                host: r.shape.host,
                path: match r.shape.kind {
                    PathKind::Exact => PathMatch::Exact(r.shape.path),
                    PathKind::Prefix => PathMatch::Prefix(r.shape.path),
                },
                methods: r.shape.methods,
                priority: r.shape.priority,
                service: r.service,
                chain,
                middlewares,
                websocket: r.websocket,
            }
        })
        .collect();
    gateway_routes.sort_by(|a, b| {
        let exact = |r: &GatewayRoute| matches!(r.path, PathMatch::Exact(_));
        b.priority
            .cmp(&a.priority)
            .then(exact(b).cmp(&exact(a)))
            .then(b.path.path().len().cmp(&a.path.path().len()))
            .then(a.name.cmp(&b.name))
    });

    Model {
        source: SourceInfo {
            file: file.to_string(),
            sha256: sha256.to_string(),
        },
        platform: Platform {
            name: platform.name.value.clone(),
            domain: platform.domain.value.clone(),
            network: platform.network.value.clone(),
            subnet: platform.subnet.value.clone(),
            edge_subnet: platform.edge_subnet.as_ref().map(|s| s.value.clone()),
            trusted_proxies,
            traefik: traefik_target(&platform),
        },
        entrypoints: program
            .entrypoints
            .iter()
            .map(|e| Entrypoint {
                name: e.name.value.clone(),
                address: e.address.value.clone(),
                port: e.port,
                redirect_to: e.redirect.as_ref().map(|r| r.value.clone()),
            })
            .collect(),
        resolvers: program
            .resolvers
            .iter()
            .map(|r| Resolver {
                name: r.name.value.clone(),
                email: r.email.value.clone(),
                storage: r.storage.value.clone(),
                challenge: r.challenge.value.clone(),
                dns_provider: r.dns_provider.as_ref().map(|p| p.value.clone()),
                domains: r
                    .domains
                    .iter()
                    .map(|(main, sans)| CertDomain {
                        main: main.value.clone(),
                        sans: sans.iter().map(|s| s.value.clone()).collect(),
                    })
                    .collect(),
            })
            .collect(),
        dashboard: program.dashboard.as_ref().map(|d| Dashboard {
            host: d.host.value.clone(),
            entrypoints: names_or(&d.entrypoints, &serving_entrypoints),
            resolver: d
                .resolver
                .as_ref()
                .map(|r| r.value.clone())
                .or_else(|| only_resolver.clone()),
            middlewares: names(&d.middlewares),
        }),
        gateway,
        services: program.services.iter().map(service).collect(),
        middlewares: program.middlewares.iter().map(middleware).collect(),
        chains: program
            .chains
            .iter()
            .map(|c| Chain {
                name: c.name.value.clone(),
                middlewares: names(&c.middlewares),
            })
            .collect(),
        edge_routes: program
            .edge_routes
            .iter()
            .map(|r| EdgeRoute {
                name: r.name.value.clone(),
                host: r
                    .host
                    .as_ref()
                    .map_or_else(|| platform.domain.value.clone(), |h| h.value.clone()),
                path: match (&r.prefix, &r.path) {
                    (Some(p), _) => PathMatch::Prefix(p.value.clone()),
                    (None, Some(p)) => PathMatch::Exact(p.value.clone()),
                    (None, None) => unreachable!("checked: a route has a prefix or a path"),
                },
                methods: names(&r.methods),
                priority: r.priority.as_ref().map_or(0, |p| p.value),
                target: match r.target.as_ref().map(|t| &t.value) {
                    Some(EdgeTargetDecl::Service(s)) => EdgeTarget::Service(s.value.clone()),
                    _ => EdgeTarget::Gateway,
                },
                middlewares: names(&r.middlewares),
                entrypoints: names_or(&r.entrypoints, &serving_entrypoints),
                resolver: r
                    .tls
                    .as_ref()
                    .map(|t| t.value.clone())
                    .or_else(|| only_resolver.clone()),
            })
            .collect(),
        gateway_routes,
        databases: program
            .databases
            .iter()
            .map(|d| Database {
                name: d.name.value.clone(),
                primary_env: d
                    .primary_env
                    .as_ref()
                    .map(|p| p.value.clone())
                    .unwrap_or_default(),
                replica_envs: names(&d.replica_envs),
                pool_min: d.pool_min.as_ref().map_or(defaults::POOL_MIN, |p| p.value),
                pool_max: d.pool_max.as_ref().map_or(defaults::POOL_MAX, |p| p.value),
                command_timeout_ms: d.command_timeout_ms.unwrap_or(defaults::COMMAND_TIMEOUT_MS),
                pool_mode: d
                    .pool_mode
                    .as_ref()
                    .map_or_else(|| defaults::POOL_MODE.to_string(), |p| p.value.clone()),
            })
            .collect(),
        alerts: program.alerts.iter().map(alert).collect(),
        rate_limit_store: program.rate_limit_store.as_ref().map(|r| RateLimitStore {
            address_env: r
                .address_env
                .as_ref()
                .map(|a| a.value.clone())
                .unwrap_or_default(),
            username_env: r.username_env.as_ref().map(|u| u.value.clone()),
            password_env: r.password_env.as_ref().map(|p| p.value.clone()),
            tls: r.tls,
            timeout_ms: r
                .timeout_ms
                .as_ref()
                .map_or(table_defaults::RATE_LIMIT_STORE_TIMEOUT_MS, |t| t.value),
            on_failure: match r.on_failure.as_ref().map(|f| f.value.as_str()) {
                Some("open") => StoreFailure::Open,
                Some("closed") => StoreFailure::Closed,
                _ => StoreFailure::Local,
            },
        }),
    }
}

fn names(list: &[ast::S<String>]) -> Vec<String> {
    list.iter().map(|s| s.value.clone()).collect()
}

fn names_or(list: &[ast::S<String>], default: &[String]) -> Vec<String> {
    if list.is_empty() {
        default.to_vec()
    } else {
        names(list)
    }
}

fn gateway(decl: Option<&ast::GatewayDecl>, trusted_proxies: &[String]) -> Gateway {
    let d = decl.cloned().unwrap_or_default();
    Gateway {
        image: d
            .image
            .map_or_else(|| defaults::GATEWAY_IMAGE.to_string(), |i| i.value),
        port: d.port.map_or(defaults::GATEWAY_PORT, |p| p.value),
        chain: d.chain.map(|c| c.value),
        max_connections: d.max_connections.unwrap_or(table_defaults::MAX_CONNECTIONS),
        max_header_bytes: d
            .max_header_bytes
            .unwrap_or(table_defaults::MAX_HEADER_BYTES),
        max_body_bytes: d.max_body_bytes.unwrap_or(table_defaults::MAX_BODY_BYTES),
        header_timeout_ms: d
            .header_timeout_ms
            .unwrap_or(table_defaults::HEADER_TIMEOUT_MS),
        dns_ttl_ms: d.dns_ttl_ms.unwrap_or(table_defaults::DNS_TTL_MS),
        pool: Pool {
            max_total: d.pool_max_total.unwrap_or(table_defaults::POOL_MAX_TOTAL),
            max_per_host: d
                .pool_max_per_host
                .unwrap_or(table_defaults::POOL_MAX_PER_HOST),
            idle_timeout_ms: d
                .pool_idle_timeout_ms
                .unwrap_or(table_defaults::POOL_IDLE_TIMEOUT_MS),
        },
        trusted_proxies: trusted_proxies.to_vec(),
        underscore_headers: false,
        replicas: d.replicas.map_or(1, |r| r.value),
    }
}

fn service(s: &ast::ServiceDecl) -> Service {
    let port = s.port.as_ref().map_or(0, |p| p.value);
    let instances: Vec<Instance> = match &s.instances {
        Some(list) => list
            .iter()
            .map(|i| Instance {
                host: i.value.0.clone(),
                port: i.value.1,
            })
            .collect(),
        None => {
            let host = s.hostname.as_ref().map_or(&s.name.value, |h| &h.value);
            let n = s.replicas.as_ref().map_or(1, |r| r.value);
            (1..=n)
                .map(|i| Instance {
                    host: format!("{host}-{i}"),
                    port,
                })
                .collect()
        }
    };
    Service {
        name: s.name.value.clone(),
        image: s.image.as_ref().map(|i| i.value.clone()),
        port: if port == 0 {
            instances.first().map_or(0, |i: &Instance| i.port)
        } else {
            port
        },
        instances,
        balance: match s.balance.as_ref().map(|b| b.value.as_str()) {
            Some("least_requests") => Balance::LeastRequests,
            Some("random") => Balance::Random,
            _ => Balance::RoundRobin,
        },
        health: s.health.as_ref().map(|h| HealthCheck {
            path: h.path.value.clone(),
            interval_ms: h
                .interval_ms
                .as_ref()
                .map_or(table_defaults::HEALTH_INTERVAL_MS, |i| i.value),
            timeout_ms: h
                .timeout_ms
                .as_ref()
                .map_or(table_defaults::HEALTH_TIMEOUT_MS, |t| t.value),
            healthy_threshold: h.healthy.unwrap_or(table_defaults::HEALTHY_THRESHOLD),
            unhealthy_threshold: h.unhealthy.unwrap_or(table_defaults::UNHEALTHY_THRESHOLD),
        }),
        prefixes: names(&s.prefixes),
        websockets: names(&s.websockets),
        timeouts: Timeouts {
            connect_ms: s
                .connect_timeout_ms
                .unwrap_or(table_defaults::CONNECT_TIMEOUT_MS),
            response_ms: s
                .response_timeout_ms
                .unwrap_or(table_defaults::RESPONSE_TIMEOUT_MS),
            websocket_idle_ms: s
                .websocket_idle_ms
                .unwrap_or(table_defaults::WEBSOCKET_IDLE_MS),
        },
        chain: s.chain.as_ref().map(|c| c.value.clone()),
        database: s.database.as_ref().map(|d| d.value.clone()),
        upstream_tls: s.upstream_tls.as_ref().map(|t| UpstreamTls {
            ca_file: t.ca_file.value.clone(),
            cert_file: t.cert_file.as_ref().map(|c| c.value.clone()),
            key_file: t.key_file.as_ref().map(|k| k.value.clone()),
            server_name: t.server_name.as_ref().map(|s| s.value.clone()),
        }),
    }
}

fn middleware(m: &ast::MiddlewareDecl) -> Middleware {
    let config = match &m.config {
        MiddlewareDeclConfig::StripPrefix { prefixes } => MiddlewareConfig::StripPrefix {
            prefixes: names(prefixes),
        },
        MiddlewareDeclConfig::AddPrefix { prefix } => MiddlewareConfig::AddPrefix {
            prefix: prefix.value.clone(),
        },
        MiddlewareDeclConfig::Headers(h) => MiddlewareConfig::Headers(HeadersConfig {
            hsts_max_age_s: h.hsts_max_age_s,
            hsts_include_subdomains: h.hsts_subdomains,
            hsts_preload: h.hsts_preload,
            content_type_nosniff: h.nosniff,
            frame_options: h.frame_options.clone(),
            referrer_policy: h.referrer_policy.clone(),
            content_security_policy: h.csp.clone(),
            set_request_headers: h.set_request_headers.clone(),
            remove_request_headers: h.remove_request_headers.clone(),
            set_response_headers: h.set_response_headers.clone(),
            remove_response_headers: h.remove_response_headers.clone(),
        }),
        MiddlewareDeclConfig::Cors(c) => MiddlewareConfig::Cors(CorsConfig {
            origins: names(&c.origins),
            methods: names(&c.methods),
            headers: c.headers.clone(),
            expose: c.expose.clone(),
            max_age_s: c.max_age_s.unwrap_or(table_defaults::CORS_MAX_AGE_S),
            credentials: c.credentials.as_ref().is_some_and(|c| c.value),
            websocket_origins: names(&c.websocket_origins),
        }),
        MiddlewareDeclConfig::BasicAuth { users } => MiddlewareConfig::BasicAuth {
            users: names(users),
        },
        MiddlewareDeclConfig::Jwt(j) => MiddlewareConfig::Jwt(JwtConfig {
            algorithms: names(&j.algorithms),
            key: match j.key.as_ref().map(|k| &k.value) {
                Some(KeyDecl::File(path)) => KeySource::File(path.clone()),
                Some(KeyDecl::Env(name)) => KeySource::Env(name.clone()),
                Some(KeyDecl::Missing) | None => {
                    unreachable!("checked: a jwt middleware has a key")
                }
            },
            issuer: j.issuer.clone(),
            audience: j.audience.clone(),
            roles_claim: j
                .roles_claim
                .clone()
                .unwrap_or_else(|| table_defaults::JWT_ROLES_CLAIM.to_string()),
            leeway_s: j.leeway_s.unwrap_or(table_defaults::JWT_LEEWAY_S),
            public: names(&j.public),
            require_roles: j
                .require_roles
                .iter()
                .map(|(prefix, roles)| RoleRule {
                    prefix: prefix.value.clone(),
                    roles: roles.clone(),
                })
                .collect(),
            subprotocol: j.subprotocol.clone(),
            cookie: j.cookie.clone(),
        }),
        MiddlewareDeclConfig::RateLimit(r) => {
            let (average, period_ms) = r.average.as_ref().map_or((0, 1000), |a| a.value);
            MiddlewareConfig::RateLimit(RateLimitConfig {
                key: match r.key.as_ref().map(|k| k.value.as_str()) {
                    Some("user") => RateKey::User,
                    _ => RateKey::ClientIp,
                },
                average,
                period_ms,
                burst: r
                    .burst
                    .as_ref()
                    .map_or(table_defaults::RATE_LIMIT_BURST, |b| b.value),
                shared: r.scope.as_ref().is_some_and(|s| s.value == "shared"),
            })
        }
        MiddlewareDeclConfig::Cache(c) => MiddlewareConfig::Cache(CacheConfig {
            ttl_ms: c.ttl_ms.unwrap_or_default(),
            methods: if c.methods.is_empty() {
                table_defaults::CACHE_METHODS
                    .iter()
                    .map(|m| m.to_string())
                    .collect()
            } else {
                names(&c.methods)
            },
            max_entries: c.max_entries.unwrap_or(table_defaults::CACHE_MAX_ENTRIES),
            max_bytes: c.max_bytes.unwrap_or(table_defaults::CACHE_MAX_BYTES),
        }),
        MiddlewareDeclConfig::AccessLog { audit } => MiddlewareConfig::AccessLog { audit: *audit },
        MiddlewareDeclConfig::Errors { format } => MiddlewareConfig::Errors {
            format: format
                .clone()
                .unwrap_or_else(|| table_defaults::ERRORS_FORMAT.to_string()),
        },
    };
    Middleware {
        name: m.name.value.clone(),
        config,
    }
}

fn alert(a: &ast::AlertDecl) -> Alert {
    let kind = match a.kind.value.as_str() {
        "service_down" => AlertKind::ServiceDown,
        "error_ratio" => AlertKind::ErrorRatio,
        "latency" => AlertKind::Latency,
        "reload_failures" => AlertKind::ReloadFailures,
        "rate_limit_store_down" => AlertKind::RateLimitStoreDown,
        "scrape_down" => AlertKind::ScrapeDown,
        "upstream_pool_exhausted" => AlertKind::UpstreamPoolExhausted,
        _ => AlertKind::RateLimitSpike,
    };
    let threshold = a.threshold.as_ref().and_then(|t| match t.value {
        Threshold::None => None,
        Threshold::Fraction(x) | Threshold::Seconds(x) | Threshold::PerSecond(x) => Some(x),
    });
    Alert {
        kind,
        for_ms: a.for_ms.unwrap_or_default(),
        severity: a
            .severity
            .as_ref()
            .map_or_else(|| "warning".to_string(), |s| s.value.clone()),
        threshold,
        quantile: a.quantile.as_ref().map(|q| q.value),
    }
}

/// The Traefik target: version 3 unless the platform says 2 (the checker
/// refuses any other), its pinned image unless overridden, routers in the
/// file provider unless `edge_routers labels`.
fn traefik_target(platform: &ast::PlatformDecl) -> TraefikTarget {
    let version = match platform.traefik.as_ref().map(|v| v.value) {
        Some(2) => 2,
        _ => 3,
    };
    TraefikTarget {
        version,
        image: platform
            .traefik_image
            .as_ref()
            .map(|i| i.value.clone())
            .unwrap_or_else(|| TraefikTarget::default_image(version).to_string()),
        routers: match platform.edge_routers.as_ref().map(|r| r.value.as_str()) {
            Some("labels") => RouterHome::Labels,
            _ => RouterHome::File,
        },
    }
}
