//! The admin API's JSON, in the spirit of Traefik's API: `routers` (name,
//! rule, priority, middlewares, service, status), `services` (balance,
//! health check, instances with their health) and `table` (path,
//! generation, source sha256, when it was loaded, the last refusal). Pure
//! rendering from the serving table and the store; routing admin requests
//! and access control are [`crate::admin`]'s and [`super::access`]'s.

use super::health_report;
use crate::reload::TableStore;
use crate::table::LoadedTable;
use routetable::{Balance, PathMatch, RouteSpec, TableSpec};
use serde_json::{json, Value};

/// A Traefik-style rule for a gateway route, e.g.
/// ``Host(`a.example`) && PathPrefix(`/v1/auth/`)``.
pub fn rule(route: &RouteSpec) -> String {
    let mut parts = Vec::new();
    if let Some(host) = &route.host {
        parts.push(format!("Host(`{host}`)"));
    }
    parts.push(match &route.path {
        PathMatch::Exact(p) => format!("Path(`{p}`)"),
        PathMatch::Prefix(p) => format!("PathPrefix(`{p}`)"),
    });
    if !route.methods.is_empty() {
        let methods: Vec<String> = route.methods.iter().map(|m| format!("`{m}`")).collect();
        parts.push(format!("Method({})", methods.join(",")));
    }
    parts.join(" && ")
}

fn balance(balance: Balance) -> &'static str {
    match balance {
        Balance::RoundRobin => "round_robin",
        Balance::LeastRequests => "least_requests",
        Balance::Random => "random",
    }
}

/// Whether the service at `index` has an instance that can take traffic.
fn service_available(table: &LoadedTable, index: usize) -> bool {
    table.services.get(index).is_some_and(|s| {
        let now = crate::clock::now_ms();
        s.states.iter().any(|state| state.available(now))
    })
}

/// `GET /api/http/routers`: every gateway route, in lookup order. A
/// router's status is `enabled`, or `warning` while its service has no
/// instance that can take traffic (requests get 503).
pub fn routers(table: &LoadedTable, spec: &TableSpec) -> Value {
    let routers: Vec<Value> = spec
        .routes
        .iter()
        .map(|route| {
            let chain = route.chain.and_then(|c| spec.chains.get(c as usize));
            let middlewares: Vec<&str> = chain
                .map(|c| {
                    c.middlewares
                        .iter()
                        .filter_map(|&i| spec.middlewares.get(i as usize))
                        .map(|m| m.name.as_str())
                        .collect()
                })
                .unwrap_or_default();
            let service = spec.services.get(route.service as usize);
            let available = service_available(table, route.service as usize);
            json!({
                "name": route.name,
                "rule": rule(route),
                "priority": route.priority,
                "host": route.host,
                "path": route.path.path(),
                "methods": route.methods,
                "chain": chain.map(|c| c.name.as_str()),
                "middlewares": middlewares,
                "service": service.map(|s| s.name.as_str()),
                "websocket": route.websocket,
                "status": if available { "enabled" } else { "warning" },
            })
        })
        .collect();
    Value::Array(routers)
}

/// `GET /api/http/services`: every service with its instances' health.
pub fn services(table: &LoadedTable, spec: &TableSpec) -> Value {
    let health = table.health();
    let services: Vec<Value> = spec
        .services
        .iter()
        .enumerate()
        .map(|(index, service)| {
            let used_by: Vec<&str> = spec
                .routes
                .iter()
                .filter(|r| r.service as usize == index)
                .map(|r| r.name.as_str())
                .collect();
            let report = health
                .iter()
                .find(|h| h.service == service.name)
                .map(health_report::service)
                .unwrap_or(Value::Null);
            let urls: Vec<&str> = table
                .services
                .get(index)
                .map(|s| s.instances.iter().map(|i| i.base_uri.as_str()).collect())
                .unwrap_or_default();
            json!({
                "name": service.name,
                "balance": balance(service.balance),
                "health_check": service.health.as_ref().map(|h| json!({
                    "path": h.path,
                    "interval_ms": h.interval_ms,
                    "timeout_ms": h.timeout_ms,
                    "healthy_threshold": h.healthy_threshold,
                    "unhealthy_threshold": h.unhealthy_threshold,
                })),
                "status": report["status"],
                "response_time": report["response_time"],
                "servers": urls,
                "instances": report["instances"],
                "used_by": used_by,
            })
        })
        .collect();
    Value::Array(services)
}

/// `GET /api/table`: the serving table and the reload history.
pub fn table(store: &TableStore) -> Value {
    let table = store.current();
    let status = store.reload_status();
    json!({
        "path": store.path().display().to_string(),
        "generation": table.generation,
        "source_sha256": table.source_sha256,
        "loaded_at": crate::clock::timestamp(status.loaded_at()),
        "routes": table.routes.len(),
        "services": table.services.len(),
        "reloads": store.metrics().table_reloads(),
        "reload_failures": store.metrics().table_reload_failures(),
        "last_error": status.last_refusal().map(|r| json!({
            "error": r.error,
            "at": crate::clock::timestamp(r.at),
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_read_like_traefiks() {
        let route = RouteSpec {
            name: "chat-ws".into(),
            host: Some("api.example".into()),
            path: PathMatch::Exact("/v1/chat/ws".into()),
            methods: vec!["GET".into(), "HEAD".into()],
            priority: 100,
            service: 0,
            chain: None,
            websocket: true,
        };
        assert_eq!(
            rule(&route),
            "Host(`api.example`) && Path(`/v1/chat/ws`) && Method(`GET`,`HEAD`)"
        );
    }
}
