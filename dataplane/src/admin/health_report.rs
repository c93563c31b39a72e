//! The aggregated `/health` document (the seed's shape):
//! `{"status": "healthy"|"unhealthy", "services": {NAME: {"status",
//! "response_time", "instances": [...]}}, "timestamp"}`, built from the
//! health checker's current state in the serving table: a request to
//! `/health` never probes anything itself. HTTP 200 when every service has
//! an instance that can take traffic (up by the active checks and not
//! ejected by the passive ones), 503 otherwise.
//!
//! `response_time` is in seconds: an instance's is its last active probe's
//! duration, a service's the slowest of its instances' (the conservative
//! reading); `null` before any probe (or for a service without checks).

use crate::table::{InstanceReport, LoadedTable, ServiceHealth};
use http::StatusCode;
use serde_json::{json, Map, Value};
use std::time::SystemTime;

fn word(healthy: bool) -> &'static str {
    if healthy {
        "healthy"
    } else {
        "unhealthy"
    }
}

fn seconds(us: Option<u64>) -> Value {
    us.map_or(Value::Null, |us| json!(us as f64 / 1e6))
}

fn instance(report: &InstanceReport) -> Value {
    let health = &report.health;
    json!({
        "instance": report.instance,
        "status": word(health.up && !health.ejected),
        "up": health.up,
        "ejected": health.ejected,
        "in_flight": health.in_flight,
        "ejections_total": health.ejections_total,
        "response_time": seconds(health.probe_latency_us),
    })
}

/// One service's entry.
pub fn service(health: &ServiceHealth) -> Value {
    let slowest = health
        .instances
        .iter()
        .filter_map(|i| i.health.probe_latency_us)
        .max();
    json!({
        "status": word(health.available()),
        "response_time": seconds(slowest),
        "instances": health.instances.iter().map(instance).collect::<Vec<_>>(),
    })
}

/// The document and its HTTP status, as of `now`.
pub fn document(table: &LoadedTable, now: SystemTime) -> (StatusCode, Value) {
    let services = table.health();
    let healthy = services.iter().all(ServiceHealth::available);
    let mut by_name = Map::new();
    for health in &services {
        by_name.insert(health.service.clone(), service(health));
    }
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": word(healthy),
        "services": by_name,
        "timestamp": crate::clock::timestamp(now),
        "generation": table.generation,
    });
    (status, body)
}
