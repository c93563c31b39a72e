//! `routec explain`: how one request travels through both tiers.
//!
//! Owns the narrative: which edge route wins and why the others lose, what
//! the edge middlewares do to the path, which gateway route wins, which
//! middlewares run in order (and what they demand), and the path the
//! upstream receives. Matching uses the tiers' own semantics from
//! [`routes`](crate::routes) and the gateway's normalization from
//! `routetable`, so the explanation is what the data plane does, not a
//! second opinion.

use std::fmt::Write;

use crate::model::{EdgeTarget, MiddlewareConfig, Model, PathMatch};
use crate::routes::{prefix_matches, Tier};

/// Explain `method host path` against `model`. `host` defaults to the
/// platform's domain.
pub fn explain(model: &Model, host: Option<&str>, method: &str, raw_path: &str) -> String {
    let mut out = String::new();
    let host = host.unwrap_or(&model.platform.domain).to_ascii_lowercase();
    let host = host.split(':').next().unwrap_or_default().to_string();
    let method = method.to_ascii_uppercase();
    let _ = writeln!(out, "request: {method} {host}{raw_path}");
    let (path, query) = match raw_path.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q)),
        None => (raw_path.to_string(), None),
    };

    // ----------------------------------------------------------- edge --
    let mut edge: Vec<_> = model.edge_routes.iter().collect();
    edge.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.name.cmp(&b.name)));
    let traefik = &model.platform.traefik;
    let syntax = crate::emit::rules::RuleSyntax::for_version(traefik.version);
    let _ = writeln!(
        out,
        "\nedge (Traefik v{}, {}):",
        traefik.version,
        syntax.describe()
    );
    if let Some((code, decoded)) = traefik.refused_encoding(raw_path) {
        let _ = writeln!(
            out,
            "  the entrypoint refuses an encoded {decoded} ({code}) in the path \
             (encodedCharacters in traefik.yml)\n\nresult: 400 from Traefik: no route is consulted"
        );
        return out;
    }
    let _ = writeln!(out, "edge routes, highest priority first:");
    let name_width = edge.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let mut winner = None;
    for route in &edge {
        let why_not = if route.host != host {
            Some(format!("host is not {}", route.host))
        } else if !route.methods.is_empty() && !route.methods.contains(&method) {
            Some(format!("method is not one of {}", route.methods.join(", ")))
        } else {
            match &route.path {
                PathMatch::Prefix(p) if !prefix_matches(Tier::Edge, p, &path) => {
                    Some(format!("path does not start with {p}"))
                }
                PathMatch::Exact(p) if *p != path => Some(format!("path is not {p}")),
                _ => None,
            }
        };
        let rule = match &route.path {
            PathMatch::Prefix(p) => format!("PathPrefix({p})"),
            PathMatch::Exact(p) => format!("Path({p})"),
        };
        let verdict = match (&why_not, winner.is_some()) {
            (Some(reason), _) => format!("no: {reason}"),
            (None, false) => "MATCH: wins".to_string(),
            (None, true) => "matches, but a higher priority route won".to_string(),
        };
        let mark = if why_not.is_none() && winner.is_none() {
            "=>"
        } else {
            "  "
        };
        let _ = writeln!(
            out,
            "  {mark} {:<name_width$}  {:>4}  {:<24}  {verdict}",
            route.name, route.priority, rule
        );
        if why_not.is_none() && winner.is_none() {
            winner = Some(*route);
        }
    }
    let Some(edge_route) = winner else {
        let _ = writeln!(out, "\nresult: 404 from Traefik: no edge route matches");
        return out;
    };

    let mut path = path;
    let _ = writeln!(
        out,
        "\nedge middlewares of `{}`, in order:",
        edge_route.name
    );
    if edge_route.middlewares.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for name in &edge_route.middlewares {
        let Some(m) = model.middleware(name) else {
            continue;
        };
        let effect = match &m.config {
            MiddlewareConfig::StripPrefix { prefixes } => {
                match prefixes.iter().find(|p| path.starts_with(p.as_str())) {
                    Some(p) => {
                        let rest = &path[p.len()..];
                        path = if rest.starts_with('/') {
                            rest.to_string()
                        } else {
                            format!("/{rest}")
                        };
                        format!("strips {p}: path becomes {path}")
                    }
                    None => "no prefix to strip".to_string(),
                }
            }
            MiddlewareConfig::AddPrefix { prefix } => {
                path = format!("{prefix}{path}");
                format!("adds {prefix}: path becomes {path}")
            }
            other => describe(other, &path),
        };
        let _ = writeln!(out, "  - {name} ({}): {effect}", m.kind().keyword());
    }

    let service_name = match &edge_route.target {
        EdgeTarget::Service(s) => {
            let _ = writeln!(
                out,
                "\nresult: edge service `{s}` receives {method} {}",
                with_query(&path, query)
            );
            return out;
        }
        EdgeTarget::Gateway => {
            let _ = writeln!(
                out,
                "\ngateway receives: {method} {}",
                with_query(&path, query)
            );
            path
        }
    };

    // -------------------------------------------------------- gateway --
    // The gateway answers these two itself, on the raw path and before any
    // route or middleware of the table: they are part of the data plane,
    // not of routes.dsl.
    if matches!(method.as_str(), "GET" | "HEAD") {
        let answered_by_gateway = match service_name.as_str() {
            "/health" => {
                Some("its health document (200, or 503 while a service has no available instance)")
            }
            "/metrics" => Some("its Prometheus metrics (200)"),
            _ => None,
        };
        if let Some(what) = answered_by_gateway {
            let _ = writeln!(
                out,
                "\nresult: answered by the gateway itself: {what}, before any gateway route or middleware"
            );
            return out;
        }
    }
    let normalized = match routetable::normalize_path(&service_name) {
        Ok(p) => p.into_owned(),
        Err(e) => {
            let _ = writeln!(
                out,
                "\nresult: 400 from the gateway: the path cannot be normalized ({e})"
            );
            return out;
        }
    };
    if normalized != service_name {
        let _ = writeln!(out, "normalized path: {normalized}");
    }
    let candidates: Vec<_> = model
        .gateway_routes
        .iter()
        .filter(|r| {
            let path_ok = match &r.path {
                PathMatch::Prefix(p) => prefix_matches(Tier::Gateway, p, &normalized),
                PathMatch::Exact(p) => *p == normalized,
            };
            path_ok
                && (r.methods.is_empty() || r.methods.contains(&method))
                && r.host.as_ref().is_none_or(|h| *h == host)
        })
        .collect();
    let _ = writeln!(out, "\ngateway routes that match, highest priority first:");
    let Some(route) = candidates.first() else {
        let _ = writeln!(
            out,
            "  (none)\n\nresult: 404 from the gateway: no route matches {normalized}"
        );
        return out;
    };
    for (i, r) in candidates.iter().enumerate() {
        let rule = match &r.path {
            PathMatch::Prefix(p) => format!("prefix {p}"),
            PathMatch::Exact(p) => format!("exact {p}"),
        };
        let ws = if r.websocket { ", websocket" } else { "" };
        let verdict = if i == 0 {
            "wins"
        } else {
            "loses: lower priority, or a prefix against an exact path"
        };
        let _ = writeln!(
            out,
            "  {} {}  {:>4}  {rule}{ws}  {verdict}",
            if i == 0 { "=>" } else { "  " },
            r.name,
            r.priority
        );
    }

    let mut upstream_path = normalized.clone();
    let chain = route
        .chain
        .as_deref()
        .map_or_else(|| "no chain".to_string(), |c| format!("chain `{c}`"));
    let _ = writeln!(out, "\ngateway middlewares ({chain}), in order:");
    if route.middlewares.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for name in &route.middlewares {
        let Some(m) = model.middleware(name) else {
            continue;
        };
        let effect = match &m.config {
            MiddlewareConfig::StripPrefix { prefixes } => {
                match prefixes
                    .iter()
                    .find(|p| prefix_matches(Tier::Gateway, p, &upstream_path))
                {
                    Some(p) => {
                        let rest = &upstream_path[p.trim_end_matches('/').len()..];
                        upstream_path = if rest.is_empty() {
                            "/".to_string()
                        } else {
                            rest.to_string()
                        };
                        format!("strips {p}: path becomes {upstream_path}")
                    }
                    None => "no prefix to strip".to_string(),
                }
            }
            MiddlewareConfig::AddPrefix { prefix } => {
                upstream_path = format!("{}{upstream_path}", prefix.trim_end_matches('/'));
                format!("adds {prefix}: path becomes {upstream_path}")
            }
            other => describe(other, &normalized),
        };
        let _ = writeln!(out, "  - {name} ({}): {effect}", m.kind().keyword());
    }
    let service = model.service(&route.service);
    let instances = service
        .map(|s| {
            s.instances
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let balance = service.map_or("", |s| match s.balance {
        crate::model::Balance::RoundRobin => "round robin",
        crate::model::Balance::LeastRequests => "least requests",
        crate::model::Balance::Random => "random",
    });
    let _ = writeln!(
        out,
        "\nresult: service `{}` ({balance} over {instances}) receives {method} {}",
        route.service,
        with_query(&upstream_path, query)
    );
    out
}

fn with_query(path: &str, query: Option<&str>) -> String {
    match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    }
}

/// What a policy middleware demands of this request, in a few words.
fn describe(config: &MiddlewareConfig, path: &str) -> String {
    match config {
        MiddlewareConfig::Cors(c) => format!(
            "answers preflight OPTIONS itself; allows origins {}{}",
            c.origins.join(", "),
            if c.credentials {
                " with credentials"
            } else {
                ""
            }
        ),
        MiddlewareConfig::RateLimit(r) => {
            let key = match r.key {
                crate::model::RateKey::ClientIp => "client IP",
                crate::model::RateKey::User => "user (JWT sub)",
            };
            let scope = if r.shared {
                ", shared by every gateway replica (Redis)"
            } else {
                ""
            };
            format!(
                "{} requests per {} ms per {key}, burst {}{scope}; over it: 429",
                r.average, r.period_ms, r.burst
            )
        }
        MiddlewareConfig::Jwt(j) => {
            if let Some(public) = j
                .public
                .iter()
                .find(|p| prefix_matches(Tier::Gateway, p, path))
            {
                format!("public under {public}: no token needed")
            } else {
                let roles: Vec<String> = j
                    .require_roles
                    .iter()
                    .filter(|r| prefix_matches(Tier::Gateway, &r.prefix, path))
                    .flat_map(|r| r.roles.clone())
                    .collect();
                let roles = if roles.is_empty() {
                    String::new()
                } else {
                    format!(
                        " and role(s) {} in `{}` (else 403)",
                        roles.join(", "),
                        j.roles_claim
                    )
                };
                format!(
                    "requires a Bearer token ({}) (else 401){roles}",
                    j.algorithms.join("/")
                )
            }
        }
        MiddlewareConfig::Cache(c) => format!(
            "caches {} responses for {} s, per user",
            c.methods.join("/"),
            c.ttl_ms / 1000
        ),
        MiddlewareConfig::AccessLog { audit } => {
            if *audit {
                "logs the request, and an audit line if it is rejected".to_string()
            } else {
                "logs the request".to_string()
            }
        }
        MiddlewareConfig::Errors { format } => format!("turns errors into {format} bodies"),
        MiddlewareConfig::Headers(_) => "sets security and custom headers".to_string(),
        MiddlewareConfig::BasicAuth { .. } => "requires HTTP basic auth (else 401)".to_string(),
        MiddlewareConfig::StripPrefix { .. } | MiddlewareConfig::AddPrefix { .. } => String::new(),
    }
}
