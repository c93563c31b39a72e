//! Traefik configuration for the platform's Traefik major version (3 by
//! default, 2 for teams still on v2.11): the static `traefik/traefik.yml`
//! (entrypoints, hardened on 3; ACME resolvers, dashboard, the one provider
//! that carries the edge routers, access log, metrics) and the file
//! provider's `traefik/dynamic.yml` (one router per edge route with an
//! explicit priority, the dashboard router, the edge middlewares and the
//! services), plus the same `http` configuration as docker labels for
//! `compose.rs`.
//!
//! It owns the mapping from the model to Traefik's configuration tree. Rule
//! syntax lives in `rules.rs`; container names, ports and paths in
//! `topology.rs`; YAML spelling in the templates. Gateway-only middlewares
//! (JWT, cache, ...) never reach Traefik: only those an edge route or the
//! dashboard names are emitted.
//!
//! Each router has one home, the platform's `edge_routers` (`file` by
//! default): with `file` the static config enables only the file provider
//! and compose carries no routing labels; with `labels` it enables only the
//! docker provider and `dynamic.yml` is the same tree for a Traefik outside
//! compose, never loaded beside the labels. Either way a router runs once,
//! never as `NAME@file` and `NAME@docker` side by side.
//!
//! With more than one gateway replica, every router to the gateway starts
//! with a `retry` middleware of its own (`gateway-retry`): a request that
//! cannot reach a replica (stopping, restarting) goes to another one
//! instead of being answered 502 in the moment before the docker provider
//! or the health check takes the replica out.

use std::collections::BTreeMap;

use serde::Serialize;

use super::render::{duration, Renderer};
use super::rules::{dashboard_rule, edge_route_rule, RuleSyntax};
use super::topology as topo;
use super::{EmitError, Output};
use crate::model::{
    CorsConfig, EdgeTarget, HeadersConfig, MiddlewareConfig, Model, RateKey, RouterHome, Service,
};

/// Traefik's name for its own API and dashboard service.
const DASHBOARD_SERVICE: &str = "api@internal";
/// The dashboard's router; it has its own host, so its priority only has to
/// be explicit, and it is set above every edge route's.
const DASHBOARD_ROUTER: &str = "traefik-dashboard";
/// The retry middleware in front of a replicated gateway (see above).
pub const GATEWAY_RETRY: &str = "gateway-retry";
/// Its pause before a second attempt: long enough for the balancer to
/// move on, short against any client's timeout.
const GATEWAY_RETRY_INTERVAL_MS: u64 = 100;

pub fn emit(model: &Model, renderer: &Renderer) -> Result<Vec<Output>, EmitError> {
    let static_view = StaticView::new(model);
    let dynamic = DynamicHttp::new(model)?;
    Ok(vec![
        renderer.output("traefik/traefik.yml", model, &static_view)?,
        renderer.output("traefik/dynamic.yml", model, &dynamic)?,
    ])
}

// ----------------------------------------------------------- static ----

#[derive(Serialize)]
struct StaticView {
    /// The Traefik major version (2 or 3).
    version: u8,
    /// Traefik 3's header-alias refusal on every entrypoint (the encoded
    /// character refusals are written for both lines: v2.11 has them too).
    hardened: bool,
    /// The provider that carries the edge routers: `file` or `labels`.
    routers: RouterHome,
    entrypoints: Vec<StaticEntrypoint>,
    resolvers: Vec<StaticResolver>,
    /// Whether the DSL has a `dashboard` block (its router is in dynamic.yml).
    dashboard: bool,
    metrics_entrypoint: &'static str,
    docker_network: String,
    dynamic_file: String,
}

#[derive(Serialize)]
struct StaticEntrypoint {
    name: String,
    address: String,
    redirect_to: Option<String>,
}

#[derive(Serialize)]
struct StaticResolver {
    name: String,
    email: String,
    storage: String,
    /// The ACME challenge's key in Traefik's config, e.g. `tlsChallenge`.
    challenge_key: String,
    /// For `dnsChallenge`: the provider.
    dns_provider: Option<String>,
    /// For `httpChallenge`: the entrypoint that serves port 80.
    http_entrypoint: Option<String>,
}

impl StaticView {
    fn new(model: &Model) -> Self {
        let mut entrypoints: Vec<StaticEntrypoint> = model
            .entrypoints
            .iter()
            .map(|e| StaticEntrypoint {
                name: e.name.clone(),
                address: e.address.clone(),
                redirect_to: e.redirect_to.clone(),
            })
            .collect();
        entrypoints.push(StaticEntrypoint {
            name: topo::TRAEFIK_METRICS_ENTRYPOINT.into(),
            address: format!(":{}", topo::TRAEFIK_METRICS_PORT),
            redirect_to: None,
        });
        let resolvers = model
            .resolvers
            .iter()
            .map(|r| StaticResolver {
                name: r.name.clone(),
                email: r.email.clone(),
                storage: r.storage.clone(),
                challenge_key: format!("{}Challenge", r.challenge),
                dns_provider: r.dns_provider.clone(),
                http_entrypoint: (r.challenge == "http")
                    .then(|| {
                        model
                            .entrypoints
                            .iter()
                            .find(|e| e.port == 80)
                            .map(|e| e.name.clone())
                    })
                    .flatten(),
            })
            .collect();
        let target = &model.platform.traefik;
        Self {
            version: target.version,
            hardened: target.version >= 3,
            routers: target.routers,
            entrypoints,
            resolvers,
            dashboard: model.dashboard.is_some(),
            metrics_entrypoint: topo::TRAEFIK_METRICS_ENTRYPOINT,
            docker_network: topo::edge_network(model),
            dynamic_file: format!("{}/dynamic.yml", topo::TRAEFIK_CONFIG_DIR),
        }
    }
}

// ---------------------------------------------------------- dynamic ----

/// The `http` section of `dynamic.yml`, in output order: routers by
/// priority as the DSL lists them, middlewares and services in first-use
/// order. Field names are Traefik's, so the same tree flattens into labels.
#[derive(Serialize)]
pub struct DynamicHttp {
    /// The Traefik major version the file is written for.
    pub version: u8,
    pub routers: Vec<Named<Router>>,
    pub middlewares: Vec<Named<TraefikMiddleware>>,
    pub services: Vec<Named<FileService>>,
}

#[derive(Serialize)]
pub struct Named<T> {
    pub name: String,
    pub config: T,
    /// The container whose labels carry this item: the route's target for
    /// routers and services, Traefik itself for middlewares and the
    /// dashboard. Empty when the target is not a compose container.
    #[serde(skip)]
    pub container: Container,
}

/// Which container's docker labels carry an item of [`DynamicHttp`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Container {
    Traefik,
    Gateway,
    /// Every instance of this edge service.
    Service(String),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Router {
    pub entry_points: Vec<String>,
    pub rule: String,
    pub priority: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub middlewares: Vec<String>,
    pub service: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<RouterTls>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouterTls {
    pub cert_resolver: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<TlsDomain>,
}

#[derive(Serialize)]
pub struct TlsDomain {
    pub main: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sans: Vec<String>,
}

/// A Traefik middleware, serialized as `{kind: {options}}`. Each kind's
/// options are a struct, so they keep their field order in the output.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TraefikMiddleware {
    StripPrefix(StripPrefix),
    AddPrefix(AddPrefix),
    Headers(Box<Headers>),
    BasicAuth(BasicAuth),
    RateLimit(RateLimit),
    Retry(Retry),
}

/// Traefik's `retry`: it reissues a request the server did not answer
/// (a refused or reset connection), never one that got a response.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Retry {
    pub attempts: u32,
    pub initial_interval: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StripPrefix {
    pub prefixes: Vec<String>,
    /// Traefik 2's default (`true`) turns `/admin` into `/`, unlike the
    /// gateway; its docs recommend `false`. Traefik 3 deprecates the option
    /// (and behaves as `false`), so it is written for 2 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force_slash: Option<bool>,
}

#[derive(Serialize)]
pub struct AddPrefix {
    pub prefix: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuth {
    pub users: Vec<String>,
    /// The upstream never sees the operator's credentials.
    pub remove_header: bool,
}

#[derive(Serialize)]
pub struct RateLimit {
    pub average: u64,
    pub period: String,
    pub burst: u64,
}

/// Traefik's `headers` middleware: security headers and CORS share it.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Headers {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sts_seconds: Option<u64>,
    #[serde(skip_serializing_if = "is_false")]
    pub sts_include_subdomains: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub sts_preload: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub content_type_nosniff: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub frame_deny: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_frame_options_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer_policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_security_policy: Option<String>,
    /// Header -> value; an empty value removes the header.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_request_headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_response_headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub access_control_allow_origin_list: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub access_control_allow_methods: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub access_control_allow_headers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub access_control_expose_headers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_control_max_age: Option<u64>,
    #[serde(skip_serializing_if = "is_false")]
    pub access_control_allow_credentials: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub add_vary_header: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// A file-provider service: explicit server URLs.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileService {
    pub load_balancer: FileLoadBalancer,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileLoadBalancer {
    pub servers: Vec<ServerUrl>,
    pub health_check: TraefikHealthCheck,
    /// The port the docker provider's labels name instead of URLs.
    #[serde(skip)]
    pub port: u16,
}

#[derive(Serialize)]
pub struct ServerUrl {
    pub url: String,
}

#[derive(Serialize)]
pub struct TraefikHealthCheck {
    pub path: String,
    /// Probe another port than the traffic's (the gateway's admin listener).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    pub interval: String,
    pub timeout: String,
}

impl DynamicHttp {
    pub fn new(model: &Model) -> Result<Self, EmitError> {
        let mut routers = Vec::new();
        let mut used_middlewares: Vec<&str> = Vec::new();
        let mut services: Vec<Named<FileService>> = Vec::new();
        let serving = serving_entrypoints(model);
        let syntax = RuleSyntax::for_version(model.platform.traefik.version);
        let gateway_retry = model.gateway.replicas > 1
            && model
                .edge_routes
                .iter()
                .any(|r| r.target == EdgeTarget::Gateway);
        for route in &model.edge_routes {
            let (service, container) = match &route.target {
                EdgeTarget::Gateway => (topo::GATEWAY_CONTAINER.to_string(), Container::Gateway),
                EdgeTarget::Service(name) => (name.clone(), Container::Service(name.clone())),
            };
            if !services.iter().any(|s| s.name == service) {
                services.push(Named {
                    name: service.clone(),
                    config: file_service(model, &route.target)?,
                    container: container.clone(),
                });
            }
            note_uses(&mut used_middlewares, &route.middlewares);
            let mut middlewares = route.middlewares.clone();
            if gateway_retry && route.target == EdgeTarget::Gateway {
                // First, so a retried request runs the route's whole chain.
                middlewares.insert(0, GATEWAY_RETRY.to_string());
            }
            let entry_points = if route.entrypoints.is_empty() {
                serving.clone()
            } else {
                route.entrypoints.clone()
            };
            routers.push(Named {
                name: route.name.clone(),
                config: Router {
                    entry_points,
                    rule: edge_route_rule(route, syntax)?,
                    priority: route.priority,
                    middlewares,
                    service,
                    tls: router_tls(model, route.resolver.as_deref()),
                },
                container,
            });
        }

        if let Some(dashboard) = &model.dashboard {
            note_uses(&mut used_middlewares, &dashboard.middlewares);
            let top = model
                .edge_routes
                .iter()
                .map(|r| r.priority)
                .max()
                .unwrap_or(0);
            let entry_points = if dashboard.entrypoints.is_empty() {
                serving.clone()
            } else {
                dashboard.entrypoints.clone()
            };
            routers.push(Named {
                name: DASHBOARD_ROUTER.into(),
                config: Router {
                    entry_points,
                    rule: dashboard_rule(&dashboard.host, syntax)?,
                    priority: top + 1,
                    middlewares: dashboard.middlewares.clone(),
                    service: DASHBOARD_SERVICE.into(),
                    tls: router_tls(model, dashboard.resolver.as_deref()),
                },
                container: Container::Traefik,
            });
        }

        let mut middlewares: Vec<Named<TraefikMiddleware>> = Vec::new();
        if gateway_retry {
            if model.middleware(GATEWAY_RETRY).is_some() {
                return Err(EmitError::Other {
                    output: "traefik/dynamic.yml".into(),
                    message: format!(
                        "the middleware name `{GATEWAY_RETRY}` is the edge's own retry in front \
                         of the gateway replicas: rename the DSL's"
                    ),
                });
            }
            middlewares.push(Named {
                name: GATEWAY_RETRY.into(),
                config: TraefikMiddleware::Retry(Retry {
                    attempts: model.gateway.replicas,
                    initial_interval: duration(GATEWAY_RETRY_INTERVAL_MS),
                }),
                container: Container::Traefik,
            });
        }
        let edge_middlewares: Vec<Named<TraefikMiddleware>> = used_middlewares
            .into_iter()
            .map(|name| {
                let middleware = model.middleware(name).ok_or_else(|| EmitError::Other {
                    output: "traefik/dynamic.yml".into(),
                    message: format!("edge middleware `{name}` is not in the model"),
                })?;
                Ok(Named {
                    name: name.to_string(),
                    config: edge_middleware(
                        name,
                        &middleware.config,
                        model.platform.traefik.version,
                    )?,
                    container: Container::Traefik,
                })
            })
            .collect::<Result<_, EmitError>>()?;
        middlewares.extend(edge_middlewares);

        Ok(Self {
            version: model.platform.traefik.version,
            routers,
            middlewares,
            services,
        })
    }
}

/// The entrypoints that serve routes: all but the redirecting ones.
fn serving_entrypoints(model: &Model) -> Vec<String> {
    model
        .entrypoints
        .iter()
        .filter(|e| e.redirect_to.is_none())
        .map(|e| e.name.clone())
        .collect()
}

fn note_uses<'m>(used: &mut Vec<&'m str>, names: &'m [String]) {
    for name in names {
        if !used.contains(&name.as_str()) {
            used.push(name);
        }
    }
}

fn router_tls(model: &Model, resolver: Option<&str>) -> Option<RouterTls> {
    let resolver = model
        .resolvers
        .iter()
        .find(|r| Some(r.name.as_str()) == resolver)?;
    Some(RouterTls {
        cert_resolver: resolver.name.clone(),
        domains: resolver
            .domains
            .iter()
            .map(|d| TlsDomain {
                main: d.main.clone(),
                sans: d.sans.clone(),
            })
            .collect(),
    })
}

fn file_service(model: &Model, target: &EdgeTarget) -> Result<FileService, EmitError> {
    let load_balancer = match target {
        EdgeTarget::Gateway => FileLoadBalancer {
            servers: topo::gateway_urls(model)
                .into_iter()
                .map(|url| ServerUrl { url })
                .collect(),
            health_check: TraefikHealthCheck {
                path: topo::GATEWAY_READY_PATH.into(),
                port: Some(topo::GATEWAY_ADMIN_PORT),
                interval: duration(topo::PROBE_INTERVAL_MS),
                timeout: duration(topo::PROBE_TIMEOUT_MS),
            },
            port: model.gateway.port,
        },
        EdgeTarget::Service(name) => {
            let service = model.service(name).ok_or_else(|| EmitError::Other {
                output: "traefik/dynamic.yml".into(),
                message: format!("edge target `{name}` is not in the model"),
            })?;
            edge_service_balancer(service)
        }
    };
    Ok(FileService { load_balancer })
}

fn edge_service_balancer(service: &Service) -> FileLoadBalancer {
    let health_check = match &service.health {
        Some(h) => TraefikHealthCheck {
            path: h.path.clone(),
            port: None,
            interval: duration(h.interval_ms),
            timeout: duration(h.timeout_ms),
        },
        // Traefik's defaults, spelt out: an edge target without a DSL
        // health block is still probed, on its root.
        None => TraefikHealthCheck {
            path: "/".into(),
            port: None,
            interval: duration(30_000),
            timeout: duration(5_000),
        },
    };
    FileLoadBalancer {
        servers: service
            .instances
            .iter()
            .map(|i| ServerUrl {
                url: format!("http://{}:{}", i.host, i.port),
            })
            .collect(),
        health_check,
        port: service.port,
    }
}

fn edge_middleware(
    name: &str,
    config: &MiddlewareConfig,
    version: u8,
) -> Result<TraefikMiddleware, EmitError> {
    Ok(match config {
        MiddlewareConfig::StripPrefix { prefixes } => TraefikMiddleware::StripPrefix(StripPrefix {
            prefixes: prefixes.clone(),
            force_slash: (version < 3).then_some(false),
        }),
        MiddlewareConfig::AddPrefix { prefix } => TraefikMiddleware::AddPrefix(AddPrefix {
            prefix: prefix.clone(),
        }),
        MiddlewareConfig::Headers(h) => TraefikMiddleware::Headers(Box::new(security_headers(h))),
        MiddlewareConfig::Cors(c) => TraefikMiddleware::Headers(Box::new(cors_headers(c))),
        MiddlewareConfig::BasicAuth { users } => TraefikMiddleware::BasicAuth(BasicAuth {
            users: users.clone(),
            remove_header: true,
        }),
        // Traefik limits by the client's address; a per-user limit needs a
        // verified token, which only the gateway has.
        MiddlewareConfig::RateLimit(r) if r.key == RateKey::ClientIp => {
            TraefikMiddleware::RateLimit(RateLimit {
                average: r.average,
                period: duration(r.period_ms),
                burst: r.burst,
            })
        }
        other => {
            return Err(EmitError::Other {
                output: "traefik/dynamic.yml".into(),
                message: format!(
                    "middleware `{name}` ({}) has no Traefik equivalent; the checker should \
                     have kept it out of edge routes",
                    other.kind().keyword()
                ),
            })
        }
    })
}

fn security_headers(h: &HeadersConfig) -> Headers {
    // `DENY` has its own switch; any other value is written as given.
    let (frame_deny, custom_frame_options_value) = match h.frame_options.as_deref() {
        Some(v) if v.eq_ignore_ascii_case("DENY") => (true, None),
        Some(v) => (false, Some(v.to_string())),
        None => (false, None),
    };
    Headers {
        sts_seconds: h.hsts_max_age_s,
        sts_include_subdomains: h.hsts_include_subdomains,
        sts_preload: h.hsts_preload,
        content_type_nosniff: h.content_type_nosniff,
        frame_deny,
        custom_frame_options_value,
        referrer_policy: h.referrer_policy.clone(),
        content_security_policy: h.content_security_policy.clone(),
        custom_request_headers: set_and_removed(&h.set_request_headers, &h.remove_request_headers),
        custom_response_headers: set_and_removed(
            &h.set_response_headers,
            &h.remove_response_headers,
        ),
        ..Headers::default()
    }
}

/// Traefik's custom headers: set ones with their values, removed ones with
/// an empty value.
fn set_and_removed(set: &[(String, String)], removed: &[String]) -> BTreeMap<String, String> {
    set.iter()
        .cloned()
        .chain(removed.iter().map(|name| (name.clone(), String::new())))
        .collect()
}

fn cors_headers(c: &CorsConfig) -> Headers {
    Headers {
        access_control_allow_origin_list: c.origins.clone(),
        access_control_allow_methods: c.methods.clone(),
        access_control_allow_headers: c.headers.clone(),
        access_control_expose_headers: c.expose.clone(),
        access_control_max_age: Some(c.max_age_s),
        access_control_allow_credentials: c.credentials,
        // Responses differ by Origin; caches must know.
        add_vary_header: true,
        ..Headers::default()
    }
}

// ----------------------------------------------------------- labels ----

/// The docker-provider form of [`DynamicHttp`]: `traefik.http.*` labels per
/// container, in a stable order. Routers and services sit on the container
/// they route to (services name a port instead of URLs, since the docker
/// provider finds the addresses itself); middlewares and the dashboard
/// router sit on Traefik's own container, once. Empty unless the routers'
/// home is `labels`.
pub fn docker_labels(
    model: &Model,
) -> Result<BTreeMap<Container, Vec<(String, String)>>, EmitError> {
    let mut labels: BTreeMap<Container, Vec<(String, String)>> = BTreeMap::new();
    if model.platform.traefik.routers != RouterHome::Labels {
        return Ok(labels);
    }
    let http = DynamicHttp::new(model)?;
    for router in &http.routers {
        let key = format!("traefik.http.routers.{}", router.name);
        flatten_into(
            &key,
            &router.config,
            labels.entry(router.container.clone()).or_default(),
        )?;
    }
    for middleware in &http.middlewares {
        let key = format!("traefik.http.middlewares.{}", middleware.name);
        flatten_into(
            &key,
            &middleware.config,
            labels.entry(Container::Traefik).or_default(),
        )?;
    }
    for service in &http.services {
        let lb = &service.config.load_balancer;
        let docker_service = serde_json::json!({
            "loadBalancer": {
                "server": { "port": lb.port, "scheme": "http" },
                "healthCheck": lb.health_check,
            }
        });
        let key = format!("traefik.http.services.{}", service.name);
        flatten_into(
            &key,
            &docker_service,
            labels.entry(service.container.clone()).or_default(),
        )?;
    }
    Ok(labels)
}

fn flatten_into<T: Serialize>(
    prefix: &str,
    value: &T,
    out: &mut Vec<(String, String)>,
) -> Result<(), EmitError> {
    let value = serde_json::to_value(value).map_err(|e| label_error(prefix, e.to_string()))?;
    flatten(prefix, &value, out)
}

/// Traefik's label encoding: nested keys joined by `.`, lists of scalars
/// comma-separated, lists of objects indexed as `key[N]`.
fn flatten(
    prefix: &str,
    value: &serde_json::Value,
    out: &mut Vec<(String, String)>,
) -> Result<(), EmitError> {
    use serde_json::Value as J;
    match value {
        J::Object(map) => {
            for (key, item) in map {
                flatten(&format!("{prefix}.{key}"), item, out)?;
            }
        }
        J::Array(items) if items.iter().any(|i| i.is_object()) => {
            for (index, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{index}]"), item, out)?;
            }
        }
        J::Array(items) => {
            let mut scalars = Vec::new();
            for item in items {
                let text = scalar_label(item);
                if text.contains(',') {
                    return Err(label_error(
                        prefix,
                        format!("list item {text:?} contains a comma"),
                    ));
                }
                scalars.push(text);
            }
            out.push((prefix.to_string(), scalars.join(",")));
        }
        J::Null => {}
        scalar => out.push((prefix.to_string(), scalar_label(scalar))),
    }
    Ok(())
}

fn scalar_label(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn label_error(key: &str, message: String) -> EmitError {
    EmitError::Other {
        output: "docker-compose.yml".into(),
        message: format!("label {key}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http_of(source: &str) -> DynamicHttp {
        let model = crate::compile(source, "routes.dsl")
            .expect("the seed compiles")
            .model;
        DynamicHttp::new(&model).unwrap()
    }

    const SEED: &str = include_str!("../../../routes.dsl");

    #[test]
    fn routers_to_a_replicated_gateway_retry_first_and_no_others_do() {
        let http = http_of(SEED);
        let retry = http
            .middlewares
            .iter()
            .find(|m| m.name == GATEWAY_RETRY)
            .expect("the seed's three replicas get a retry middleware");
        assert!(matches!(
            &retry.config,
            TraefikMiddleware::Retry(Retry { attempts: 3, initial_interval }) if initial_interval == "100ms"
        ));
        for router in &http.routers {
            let first = router.config.middlewares.first().map(String::as_str);
            if router.config.service == topo::GATEWAY_CONTAINER {
                assert_eq!(first, Some(GATEWAY_RETRY), "{}", router.name);
            } else {
                assert!(
                    !router.config.middlewares.iter().any(|m| m == GATEWAY_RETRY),
                    "{} does not route to the gateway",
                    router.name
                );
            }
        }
    }

    #[test]
    fn a_single_gateway_gets_no_retry() {
        let http = http_of(&SEED.replacen("replicas 3", "replicas 1", 1));
        assert!(http.middlewares.iter().all(|m| m.name != GATEWAY_RETRY));
        assert!(http.routers.iter().all(|r| !r
            .config
            .middlewares
            .iter()
            .any(|m| m == GATEWAY_RETRY)));
    }
}
