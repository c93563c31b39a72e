//! `routes.bin`: the gateway's routing table, compiled from the model into
//! the binary format of the `routetable` crate (its FORMAT.md).
//!
//! Owns the mapping model -> [`routetable::TableSpec`] (names resolved to
//! indices, only what the gateway runs) and the generation number. Does not
//! own the byte layout (`routetable::encode`) nor writing the file (the
//! caller writes outputs atomically).
//!
//! What goes in: every gateway route in the model's priority order; the
//! services those routes reach and the chains and middlewares they run, each
//! in model order. A gateway chain holding an edge-only middleware
//! (`basic_auth`) is an error, never silently dropped: the gateway would
//! otherwise serve the route without that check.

use std::collections::{BTreeSet, HashMap, HashSet};

use routetable::{Table, TableSpec};

use super::{EmitError, Output};
use crate::model::{self, Model};

/// The output path, relative to the output directory.
pub const PATH: &str = "routes.bin";

/// Compiles `model` into `routes.bin`.
///
/// The generation number keeps the output deterministic without
/// timestamps: if `previous` (the bytes currently at [`PATH`]) is a valid
/// table whose content, generation aside, equals the new one, its generation
/// is kept; otherwise it is the previous generation + 1, or 1 when there is
/// no valid previous table.
pub fn emit(model: &Model, previous: Option<&[u8]>) -> Result<Output, EmitError> {
    let mut spec = spec(model)?;
    spec.generation = next_generation(&spec, previous);
    Ok(Output {
        path: PATH.into(),
        contents: routetable::encode(&spec),
    })
}

fn next_generation(spec: &TableSpec, previous: Option<&[u8]>) -> u64 {
    let Some(old) = previous.and_then(|bytes| Table::from_bytes(bytes).ok()) else {
        return 1;
    };
    let mut old = old.to_spec();
    let generation = old.generation;
    old.generation = spec.generation;
    if old == *spec {
        generation
    } else {
        generation.saturating_add(1)
    }
}

fn error(message: String) -> EmitError {
    EmitError::Other {
        output: PATH.into(),
        message,
    }
}

/// The table's content for `model`, with generation 0.
pub fn spec(model: &Model) -> Result<TableSpec, EmitError> {
    let routes = &model.gateway_routes;
    let used_services: BTreeSet<&str> = routes.iter().map(|r| r.service.as_str()).collect();
    let services: Vec<&model::Service> = model
        .services
        .iter()
        .filter(|s| used_services.contains(s.name.as_str()))
        .collect();

    // Chains as the routes resolved them; a route with middlewares but no
    // chain name gets a chain named after the route.
    let mut chains: Vec<(String, &[String])> = Vec::new();
    let mut chain_seen: HashSet<String> = HashSet::new();
    for route in routes
        .iter()
        .filter(|r| r.chain.is_some() || !r.middlewares.is_empty())
    {
        let name = route
            .chain
            .clone()
            .unwrap_or_else(|| format!("{}-middlewares", route.name));
        if chain_seen.insert(name.clone()) {
            chains.push((name, &route.middlewares));
        }
    }
    let used_middlewares: BTreeSet<&str> = chains
        .iter()
        .flat_map(|(_, members)| members.iter().map(String::as_str))
        .collect();
    let middlewares: Vec<&model::Middleware> = model
        .middlewares
        .iter()
        .filter(|m| used_middlewares.contains(m.name.as_str()))
        .collect();

    // Name -> index maps: a linear search per route made 100,000 routes
    // over 10,000 services quadratic (bench/compiler.sh).
    let service_names: HashMap<&str, u32> =
        services.iter().map(|s| s.name.as_str()).zip(0..).collect();
    let middleware_names: HashMap<&str, u32> = middlewares
        .iter()
        .map(|m| m.name.as_str())
        .zip(0..)
        .collect();
    let chain_names: HashMap<&str, u32> = chains.iter().map(|(n, _)| n.as_str()).zip(0..).collect();
    let index_of = |names: &HashMap<&str, u32>, wanted: &str, what: &str| {
        names
            .get(wanted)
            .copied()
            .ok_or_else(|| error(format!("{what} {wanted:?} is not in the model")))
    };
    let chain_specs = chains
        .iter()
        .map(|(name, members)| {
            let middlewares = members
                .iter()
                .map(|m| index_of(&middleware_names, m, "middleware"))
                .collect::<Result<_, _>>()?;
            Ok(routetable::ChainSpec {
                name: name.clone(),
                middlewares,
            })
        })
        .collect::<Result<_, EmitError>>()?;
    let route_specs = routes
        .iter()
        .map(|r| {
            let chain_name = r
                .chain
                .clone()
                .unwrap_or_else(|| format!("{}-middlewares", r.name));
            let has_chain = r.chain.is_some() || !r.middlewares.is_empty();
            Ok(routetable::RouteSpec {
                name: r.name.clone(),
                host: r.host.clone(),
                path: match &r.path {
                    model::PathMatch::Exact(p) => routetable::PathMatch::Exact(p.clone()),
                    model::PathMatch::Prefix(p) => routetable::PathMatch::Prefix(p.clone()),
                },
                methods: r.methods.clone(),
                priority: r.priority,
                service: index_of(&service_names, &r.service, "service")?,
                chain: match has_chain {
                    true => Some(index_of(&chain_names, &chain_name, "chain")?),
                    false => None,
                },
                websocket: r.websocket,
            })
        })
        .collect::<Result<_, EmitError>>()?;
    Ok(TableSpec {
        generation: 0,
        source_sha256: source_sha256(&model.source.sha256)?,
        gateway: gateway(&model.gateway),
        services: services.iter().map(|s| service(s)).collect(),
        middlewares: middlewares
            .iter()
            .map(|m| middleware(m, model))
            .collect::<Result<_, _>>()?,
        chains: chain_specs,
        routes: route_specs,
    })
}

fn source_sha256(hex_digest: &str) -> Result<[u8; 32], EmitError> {
    let mut sha = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut sha).map_err(|e| {
        error(format!(
            "source sha256 {hex_digest:?} is not 64 hex digits: {e}"
        ))
    })?;
    Ok(sha)
}

fn gateway(g: &model::Gateway) -> routetable::GatewaySpec {
    routetable::GatewaySpec {
        max_connections: g.max_connections,
        max_header_bytes: g.max_header_bytes,
        max_body_bytes: g.max_body_bytes,
        header_timeout_ms: g.header_timeout_ms,
        dns_ttl_ms: g.dns_ttl_ms,
        pool: routetable::PoolSpec {
            max_total: g.pool.max_total,
            max_per_host: g.pool.max_per_host,
            idle_timeout_ms: g.pool.idle_timeout_ms,
        },
        trusted_proxies: g.trusted_proxies.clone(),
        underscore_headers: g.underscore_headers,
    }
}

fn service(s: &model::Service) -> routetable::ServiceSpec {
    routetable::ServiceSpec {
        name: s.name.clone(),
        instances: s
            .instances
            .iter()
            .map(|i| (i.host.clone(), i.port))
            .collect(),
        balance: match s.balance {
            model::Balance::RoundRobin => routetable::Balance::RoundRobin,
            model::Balance::LeastRequests => routetable::Balance::LeastRequests,
            model::Balance::Random => routetable::Balance::Random,
        },
        health: s.health.as_ref().map(|h| routetable::HealthCheckSpec {
            path: h.path.clone(),
            interval_ms: h.interval_ms,
            timeout_ms: h.timeout_ms,
            healthy_threshold: h.healthy_threshold,
            unhealthy_threshold: h.unhealthy_threshold,
        }),
        timeouts: routetable::TimeoutsSpec {
            connect_ms: s.timeouts.connect_ms,
            response_ms: s.timeouts.response_ms,
            websocket_idle_ms: s.timeouts.websocket_idle_ms,
        },
        upstream_tls: s
            .upstream_tls
            .as_ref()
            .map(|t| routetable::UpstreamTlsSpec {
                ca_file: t.ca_file.clone(),
                cert_file: t.cert_file.clone(),
                key_file: t.key_file.clone(),
                server_name: t.server_name.clone(),
            }),
    }
}

/// Where a `scope shared` limit's buckets live: the platform's store.
fn shared_limit(model: &Model) -> Option<routetable::SharedLimitSpec> {
    let store = model.rate_limit_store.as_ref()?;
    Some(routetable::SharedLimitSpec {
        key_prefix: model.platform.name.clone(),
        address_env: store.address_env.clone(),
        username_env: store.username_env.clone(),
        password_env: store.password_env.clone(),
        tls: store.tls,
        timeout_ms: store.timeout_ms,
        on_failure: match store.on_failure {
            model::StoreFailure::Local => routetable::StoreFailure::Local,
            model::StoreFailure::Open => routetable::StoreFailure::Open,
            model::StoreFailure::Closed => routetable::StoreFailure::Closed,
        },
        replicas: model.gateway.replicas,
    })
}

fn middleware(
    m: &model::Middleware,
    model: &Model,
) -> Result<routetable::MiddlewareSpec, EmitError> {
    use model::MiddlewareConfig as M;
    use routetable::MiddlewareConfig as T;
    let config = match &m.config {
        M::StripPrefix { prefixes } => T::StripPrefix { prefixes: prefixes.clone() },
        M::AddPrefix { prefix } => T::AddPrefix { prefix: prefix.clone() },
        M::Headers(h) => T::Headers(routetable::HeadersConfig {
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
        M::Cors(c) => T::Cors(routetable::CorsConfig {
            origins: c.origins.clone(),
            methods: c.methods.clone(),
            headers: c.headers.clone(),
            expose: c.expose.clone(),
            max_age_s: c.max_age_s,
            credentials: c.credentials,
            websocket_origins: c.websocket_origins.clone(),
        }),
        M::BasicAuth { .. } => {
            return Err(error(format!(
                "middleware {:?} is basic_auth, which runs only at the edge, yet a gateway route's chain uses it",
                m.name
            )))
        }
        M::Jwt(j) => T::Jwt(routetable::JwtConfig {
            algorithms: j.algorithms.clone(),
            key: match &j.key {
                model::KeySource::Env(name) => routetable::KeySource::Env(name.clone()),
                model::KeySource::File(path) => routetable::KeySource::File(path.clone()),
            },
            issuer: j.issuer.clone(),
            audience: j.audience.clone(),
            roles_claim: j.roles_claim.clone(),
            leeway_s: j.leeway_s,
            public: j.public.clone(),
            require_roles: j
                .require_roles
                .iter()
                .map(|r| routetable::RoleRule { prefix: r.prefix.clone(), roles: r.roles.clone() })
                .collect(),
            subprotocol: j.subprotocol.clone(),
            cookie: j.cookie.clone(),
        }),
        M::RateLimit(r) => T::RateLimit(routetable::RateLimitConfig {
            key: match r.key {
                model::RateKey::ClientIp => routetable::RateKey::ClientIp,
                model::RateKey::User => routetable::RateKey::User,
            },
            average: r.average,
            period_ms: r.period_ms,
            burst: r.burst,
            shared: match (r.shared, shared_limit(model)) {
                (false, _) => None,
                (true, Some(store)) => Some(store),
                (true, None) => {
                    return Err(error(format!(
                        "rate limit {:?} is shared, yet the model has no rate_limit_store",
                        m.name
                    )))
                }
            },
        }),
        M::Cache(c) => T::Cache(routetable::CacheConfig {
            ttl_ms: c.ttl_ms,
            methods: c.methods.clone(),
            max_entries: c.max_entries,
            max_bytes: c.max_bytes,
        }),
        M::AccessLog { audit } => T::AccessLog { audit: *audit },
        M::Errors { format } => T::Errors { format: format.clone() },
    };
    Ok(routetable::MiddlewareSpec {
        name: m.name.clone(),
        config,
    })
}

#[cfg(test)]
mod tests {
    //! The emitter against the real `routes.dsl` and the compiler's
    //! fixtures: every gateway route, service and chain comes back from the
    //! table, lookups reach the services the DSL names, and the generation
    //! number behaves.

    use super::*;

    fn dsl_models() -> Vec<(String, Model)> {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let mut files = vec![format!("{root}/routes.dsl")];
        let fixtures = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
        if let Ok(dir) = std::fs::read_dir(&fixtures) {
            let mut more: Vec<_> = dir
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "dsl"))
                .map(|p| p.display().to_string())
                .collect();
            more.sort();
            files.extend(more);
        }
        files
            .into_iter()
            .filter_map(|file| {
                let source = std::fs::read_to_string(&file).ok()?;
                // Fixtures that are meant to fail the checks have no model.
                let compiled = crate::compile(&source, "routes.dsl").ok()?;
                Some((file, compiled.model))
            })
            .collect()
    }

    #[test]
    fn every_gateway_route_service_and_chain_round_trips() {
        let models = dsl_models();
        assert!(
            !models.is_empty() && models[0].0.ends_with("/../routes.dsl"),
            "routes.dsl compiles"
        );
        for (file, model) in &models {
            let out = emit(model, None).unwrap();
            let view = Table::from_bytes(&out.contents).unwrap();
            assert_eq!(
                view.to_spec(),
                TableSpec {
                    generation: 1,
                    ..spec(model).unwrap()
                },
                "{file}"
            );
            assert_eq!(view.route_count(), model.gateway_routes.len(), "{file}");
            for (route, want) in view.routes().zip(&model.gateway_routes) {
                assert_eq!(route.name(), want.name, "{file}");
                assert_eq!(route.path(), want.path.path(), "{file}");
                assert_eq!(
                    route.is_prefix(),
                    matches!(want.path, model::PathMatch::Prefix(_)),
                    "{file}"
                );
                assert_eq!(route.host(), want.host.as_deref(), "{file}");
                assert_eq!(route.methods().collect::<Vec<_>>(), want.methods, "{file}");
                assert_eq!(route.priority(), want.priority, "{file}");
                assert_eq!(route.websocket(), want.websocket, "{file}");
                assert_eq!(
                    route.service().map(|s| s.name()),
                    Some(want.service.as_str()),
                    "{file}"
                );
                let chain: Vec<_> = route
                    .chain()
                    .into_iter()
                    .flat_map(|c| c.middlewares())
                    .map(|m| m.name())
                    .collect();
                assert_eq!(chain, want.middlewares, "{file}: {}", want.name);
                assert_eq!(
                    route.chain().map(|c| c.name()),
                    want.chain.as_deref(),
                    "{file}"
                );
            }
            for service in view.services() {
                let want = model.service(service.name()).unwrap();
                assert!(want.behind_gateway(), "{file}: {}", want.name);
                let instances: Vec<_> = service
                    .instances()
                    .map(|(h, p)| format!("{h}:{p}"))
                    .collect();
                assert_eq!(
                    instances,
                    want.instances
                        .iter()
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                );
                assert_eq!(service.timeouts().response_ms, want.timeouts.response_ms);
            }
            let in_table: Vec<_> = view.services().map(|s| s.name().to_owned()).collect();
            for s in model.services.iter().filter(|s| s.behind_gateway()) {
                assert!(
                    in_table.contains(&s.name),
                    "{file}: {} is routed to but missing",
                    s.name
                );
            }
        }
    }

    #[test]
    fn dating_platform_lookups_reach_the_dsl_services() {
        let (_, model) = dsl_models().remove(0);
        let out = emit(&model, None).unwrap();
        let view = Table::from_bytes(&out.contents).unwrap();
        let service_of = |path: &str| {
            view.lookup("dating.serge.cc", "GET", path)
                .and_then(|m| m.route.service())
                .map(|s| s.name())
        };
        for s in model.services.iter().filter(|s| s.behind_gateway()) {
            for prefix in &s.prefixes {
                assert_eq!(service_of(prefix), Some(s.name.as_str()), "{prefix}");
                let deeper = format!("{}/some/resource", prefix.trim_end_matches('/'));
                assert_eq!(service_of(&deeper), Some(s.name.as_str()), "{deeper}");
            }
            for ws in &s.websockets {
                let m = view.lookup("dating.serge.cc", "GET", ws).unwrap();
                assert!(m.route.websocket(), "{ws}");
                assert_eq!(m.route.service().map(|x| x.name()), Some(s.name.as_str()));
            }
        }
        assert_eq!(service_of("/v1/chatter"), None);
        assert_eq!(service_of("/"), None);
    }

    #[test]
    fn generation_is_kept_when_unchanged_and_bumped_when_changed() {
        let (_, mut model) = dsl_models().remove(0);
        let first = emit(&model, None).unwrap().contents;
        let generation = |bytes: &[u8]| Table::from_bytes(bytes).unwrap().header().generation;
        assert_eq!(generation(&first), 1);
        let again = emit(&model, Some(&first)).unwrap().contents;
        assert_eq!(again, first, "unchanged model: byte-identical output");
        model.gateway.max_connections += 1;
        let changed = emit(&model, Some(&first)).unwrap().contents;
        assert_eq!(generation(&changed), 2);
        assert_eq!(
            generation(&emit(&model, Some(&changed)).unwrap().contents),
            2
        );
        assert_eq!(
            generation(&emit(&model, Some(b"not a table")).unwrap().contents),
            1
        );
    }

    #[test]
    fn an_edge_only_middleware_in_a_gateway_chain_is_an_error() {
        let (_, mut model) = dsl_models().remove(0);
        let route = model
            .gateway_routes
            .iter_mut()
            .find(|r| !r.middlewares.is_empty())
            .unwrap();
        route.middlewares.push("ops-auth".into());
        route.chain = Some("patched".into());
        let err = emit(&model, None).unwrap_err().to_string();
        assert!(
            err.contains("ops-auth") && err.contains("basic_auth"),
            "{err}"
        );
    }
}
