//! Names, ports and paths that several generated files must agree on: the
//! containers compose starts, the networks, where each container finds its
//! generated config, the gateway's Traefik service and Traefik's metrics
//! entrypoint. Keeping them here means `traefik.yml`, `dynamic.yml`,
//! `docker-compose.yml` and `prometheus.yml` cannot drift apart.
//!
//! It owns deployment facts that `routes.dsl` does not state; it renders
//! nothing itself.

use crate::model::Model;

/// The compose service (and DNS name) of Traefik.
pub const TRAEFIK_CONTAINER: &str = "traefik";
/// Where Traefik's container sees `generated/traefik/` (mounted as a
/// directory, so the file provider's watch survives atomic renames).
pub const TRAEFIK_CONFIG_DIR: &str = "/etc/traefik";
/// The entrypoint Traefik serves its own Prometheus metrics and ping on;
/// internal only (compose publishes no port for it).
pub const TRAEFIK_METRICS_ENTRYPOINT: &str = "metrics";
pub const TRAEFIK_METRICS_PORT: u16 = 8082;

/// The compose service (and DNS name) of the API gateway (`dataplane`), and
/// the name of its Traefik service.
pub const GATEWAY_CONTAINER: &str = "gateway";
/// Where the gateway's container sees `generated/` (read-only, a directory:
/// a bind-mounted single file keeps its old inode after an atomic rename, and
/// hot reload would silently stop).
pub const GATEWAY_GENERATED_DIR: &str = "/etc/routec";
/// The gateway's admin listener (`--admin-listen`): readiness and metrics,
/// never routed from the edge.
pub const GATEWAY_ADMIN_PORT: u16 = 9090;
/// Answers 200 once the gateway serves a table; Traefik and compose probe it.
pub const GATEWAY_READY_PATH: &str = "/ready";
/// The gateway's binary in its image (`dataplane/Dockerfile`).
pub const GATEWAY_BINARY: &str = "/usr/local/bin/dataplane";
/// The env var holding the admin API's bearer token; the gateway refuses to
/// start with its admin listener off loopback and no token.
pub const GATEWAY_ADMIN_TOKEN_ENV: &str = "DATAPLANE_ADMIN_TOKEN";

/// How often Traefik and compose probe the containers the DSL gives no
/// health block (the gateway, Traefik itself), and how long a probe may take.
pub const PROBE_INTERVAL_MS: u64 = 10_000;
pub const PROBE_TIMEOUT_MS: u64 = 3_000;

/// Prometheus' image, pinned like Traefik's.
pub const PROMETHEUS_IMAGE: &str = "prom/prometheus:v2.53.0";
pub const PROMETHEUS_CONTAINER: &str = "prometheus";
/// Where Prometheus' container sees `generated/prometheus/`.
pub const PROMETHEUS_CONFIG_DIR: &str = "/etc/prometheus";
pub const PROMETHEUS_PORT: u16 = 9090;

/// The gateway's command line in its container: the table in the mounted
/// directory, both listeners on every interface of the container.
pub fn gateway_command(model: &Model) -> Vec<String> {
    vec![
        "--table".into(),
        format!("{GATEWAY_GENERATED_DIR}/routes.bin"),
        "--listen".into(),
        format!("0.0.0.0:{}", model.gateway.port),
        "--admin-listen".into(),
        format!("0.0.0.0:{GATEWAY_ADMIN_PORT}"),
    ]
}

/// The path every scraped process serves its metrics on.
pub const METRICS_PATH: &str = "/metrics";

/// The docker network Traefik reaches its targets on.
pub fn edge_network(model: &Model) -> String {
    format!("{}-edge", model.platform.name)
}

/// The internal network (`internal: true`): gateway, services, databases.
pub fn internal_network(model: &Model) -> String {
    model.platform.network.clone()
}

/// The gateway's containers: `gateway` alone, or `gateway-1..N` for the
/// gateway's `replicas N`. Each has its own admin listener and `/health`.
pub fn gateway_containers(model: &Model) -> Vec<String> {
    match model.gateway.replicas {
        0 | 1 => vec![GATEWAY_CONTAINER.to_string()],
        n => (1..=n)
            .map(|i| format!("{GATEWAY_CONTAINER}-{i}"))
            .collect(),
    }
}

/// Every gateway container as Traefik's load balancer reaches it.
pub fn gateway_urls(model: &Model) -> Vec<String> {
    gateway_containers(model)
        .into_iter()
        .map(|c| format!("http://{c}:{}", model.gateway.port))
        .collect()
}
