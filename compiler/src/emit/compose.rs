//! `docker-compose.yml`: one compose file that runs the whole platform —
//! Traefik, the gateway (`dataplane`), every instance of every service that
//! has an image, and Prometheus — on two networks: `edge` (Traefik, the
//! gateway and the services the edge routes to directly) and `internal`
//! (`internal: true`, the DSL's subnet: the gateway, the services behind it,
//! Prometheus), so a service behind the gateway is reachable only through it.
//!
//! It owns the container layout. Traefik's image is the platform's
//! (`traefik:v3.7` unless overridden). Routing labels exist only when the
//! platform puts its edge routers in labels (`edge_routers labels`); they
//! come from `traefik::docker_labels` (the same tree as `dynamic.yml`);
//! by default the routers live in the file provider alone, and Traefik gets
//! no docker socket. Names, ports
//! and paths from `topology.rs`. Secrets are passed by variable name only,
//! never values; the `compose` template filter doubles every `$`. A service
//! without an image runs elsewhere (its instances are addresses) and gets no
//! container. Databases are external and reached through one `pgbouncer`
//! container (see `pgbouncer.rs`): a service that uses a database gets
//! `DATABASE_URL` / `DATABASE_READ_URL` pointing at PgBouncer, with the login
//! left to compose's `${VAR}` interpolation, and never sees the servers'
//! DSNs.

use std::collections::BTreeMap;

use serde::Serialize;

use super::render::{duration, Renderer};
use super::topology as topo;
use super::traefik::{docker_labels, Container};
use super::{EmitError, Output};
use crate::model::{
    EdgeTarget, HealthCheck, KeySource, MiddlewareConfig, Model, RouterHome, Service,
};

/// Compose's keys for the two networks; their docker names come from the
/// model (see `topology.rs`).
const EDGE: &str = "edge";
const INTERNAL: &str = "internal";

pub fn emit(model: &Model, renderer: &Renderer) -> Result<Output, EmitError> {
    let view = ComposeView::new(model)?;
    renderer.output("docker-compose.yml", model, &view)
}

#[derive(Serialize)]
struct ComposeView {
    project: String,
    services: Vec<ComposeService>,
    networks: Vec<ComposeNetwork>,
    volumes: Vec<String>,
}

#[derive(Serialize, Default, Clone)]
struct ComposeService {
    name: String,
    image: String,
    command: Vec<String>,
    ports: Vec<String>,
    volumes: Vec<String>,
    entrypoint: Vec<String>,
    /// `NAME` (passed through from the host, for secrets) or `NAME=value`.
    environment: Vec<EnvVar>,
    tmpfs: Vec<String>,
    depends_on: Vec<String>,
    networks: Vec<&'static str>,
    labels: Vec<(String, String)>,
    healthcheck: Option<ComposeHealthcheck>,
}

/// One `environment` entry. Literal entries have every `$` doubled, so
/// compose keeps them as written; `interpolate` entries keep their `${VAR}`
/// references for compose to fill in from the host's environment.
#[derive(Serialize, Clone)]
struct EnvVar {
    text: String,
    interpolate: bool,
}

impl EnvVar {
    fn literal(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            interpolate: false,
        }
    }
}

#[derive(Serialize, Clone)]
struct ComposeHealthcheck {
    test: Vec<String>,
    interval: String,
    timeout: String,
    retries: u32,
}

#[derive(Serialize)]
struct ComposeNetwork {
    key: &'static str,
    name: String,
    internal: bool,
    subnet: Option<String>,
}

impl ComposeView {
    fn new(model: &Model) -> Result<Self, EmitError> {
        let mut labels = docker_labels(model)?;
        let edge_network = topo::edge_network(model);
        let by_labels = model.platform.traefik.routers == RouterHome::Labels;
        let mut labels_for = |container: &Container| -> Vec<(String, String)> {
            if !by_labels {
                return Vec::new();
            }
            let mut list = vec![
                ("traefik.enable".to_string(), "true".to_string()),
                ("traefik.docker.network".to_string(), edge_network.clone()),
            ];
            list.extend(labels.remove(container).unwrap_or_default());
            list
        };

        let (volumes, acme_mounts) = acme_volumes(model);
        let mut services = vec![traefik_service(
            model,
            acme_mounts,
            labels_for(&Container::Traefik),
        )];
        let routed_by_gateway = model
            .edge_routes
            .iter()
            .any(|r| r.target == EdgeTarget::Gateway);
        let gateway_labels = if routed_by_gateway {
            labels_for(&Container::Gateway)
        } else {
            Vec::new()
        };
        // One container per gateway replica, each with the same labels:
        // Traefik balances over all of them.
        let gateway = gateway_service(model, gateway_labels);
        for name in topo::gateway_containers(model) {
            services.push(ComposeService {
                name,
                ..gateway.clone()
            });
        }
        for service in &model.services {
            let Some(image) = &service.image else {
                continue;
            };
            let edge_target = model
                .edge_routes
                .iter()
                .any(|r| r.target == EdgeTarget::Service(service.name.clone()));
            let service_labels = if edge_target {
                labels_for(&Container::Service(service.name.clone()))
            } else {
                Vec::new()
            };
            for instance in &service.instances {
                services.push(ComposeService {
                    name: instance.host.clone(),
                    image: image.clone(),
                    environment: service_environment(model, service),
                    depends_on: service
                        .database
                        .as_ref()
                        .map(|_| vec![super::pgbouncer::PGBOUNCER_CONTAINER.to_string()])
                        .unwrap_or_default(),
                    networks: vec![if edge_target { EDGE } else { INTERNAL }],
                    labels: service_labels.clone(),
                    healthcheck: service
                        .health
                        .as_ref()
                        .map(|h| http_probe(instance.port, h)),
                    ..ComposeService::default()
                });
            }
        }
        services.extend(pgbouncer_service(model));
        services.extend(redis_service(model));
        services.push(prometheus_service());

        Ok(Self {
            project: model.platform.name.clone(),
            services,
            networks: vec![
                ComposeNetwork {
                    key: EDGE,
                    name: edge_network,
                    internal: false,
                    subnet: model.platform.edge_subnet.clone(),
                },
                ComposeNetwork {
                    key: INTERNAL,
                    name: topo::internal_network(model),
                    internal: true,
                    subnet: Some(model.platform.subnet.clone()),
                },
            ],
            volumes,
        })
    }
}

/// One named volume per directory holding an ACME resolver's storage file,
/// and the mounts that put them there in Traefik's container.
fn acme_volumes(model: &Model) -> (Vec<String>, Vec<String>) {
    let dirs: BTreeMap<String, String> = model
        .resolvers
        .iter()
        .map(|r| {
            let dir = match r.storage.rsplit_once('/') {
                Some((dir, _)) if !dir.is_empty() => dir.to_string(),
                _ => "/".to_string(),
            };
            let name = dir.trim_matches('/').replace('/', "-");
            let name = if name.is_empty() {
                "acme".to_string()
            } else {
                name
            };
            (name, dir)
        })
        .collect();
    let mounts = dirs
        .iter()
        .map(|(name, dir)| format!("{name}:{dir}"))
        .collect();
    (dirs.into_keys().collect(), mounts)
}

fn traefik_service(
    model: &Model,
    acme_mounts: Vec<String>,
    labels: Vec<(String, String)>,
) -> ComposeService {
    let mut volumes = Vec::new();
    if model.platform.traefik.routers == RouterHome::Labels {
        // Read-only: the docker provider only watches. Without it (routers
        // in the file provider) Traefik gets no access to the engine.
        volumes.push("/var/run/docker.sock:/var/run/docker.sock:ro".to_string());
    }
    // The directory, not the files: the file provider's watch must see
    // atomic renames of dynamic.yml.
    volumes.push(format!("./traefik:{}:ro", topo::TRAEFIK_CONFIG_DIR));
    volumes.extend(acme_mounts);
    ComposeService {
        name: topo::TRAEFIK_CONTAINER.into(),
        image: model.platform.traefik.image.clone(),
        ports: model
            .entrypoints
            .iter()
            .map(|e| format!("{0}:{0}", e.port))
            .collect(),
        volumes,
        networks: vec![EDGE],
        labels,
        healthcheck: Some(ComposeHealthcheck {
            test: ["CMD", "traefik", "healthcheck", "--ping"]
                .map(String::from)
                .to_vec(),
            interval: duration(topo::PROBE_INTERVAL_MS),
            timeout: duration(topo::PROBE_TIMEOUT_MS),
            retries: 3,
        }),
        ..ComposeService::default()
    }
}

fn gateway_service(model: &Model, labels: Vec<(String, String)>) -> ComposeService {
    // The admin API's bearer token (required off loopback) and the
    // verification keys of the gateway's JWT middlewares, by name.
    let mut environment = vec![topo::GATEWAY_ADMIN_TOKEN_ENV.to_string()];
    for middleware in &model.middlewares {
        if let MiddlewareConfig::Jwt(jwt) = &middleware.config {
            if let KeySource::Env(name) = &jwt.key {
                push_unique(&mut environment, name);
            }
        }
    }
    // The shared rate limits' store: the address of compose's own `redis`
    // when the platform has none of its own, and the credentials by name.
    let mut depends_on = Vec::new();
    if let Some(store) = &model.rate_limit_store {
        if runs_own_redis(model) {
            environment.push(format!("{}={REDIS_CONTAINER}:6379", store.address_env));
            depends_on.push(REDIS_CONTAINER.to_string());
        } else {
            push_unique(&mut environment, &store.address_env);
        }
        for name in [&store.username_env, &store.password_env]
            .into_iter()
            .flatten()
        {
            push_unique(&mut environment, name);
        }
    }
    ComposeService {
        name: topo::GATEWAY_CONTAINER.into(),
        image: model.gateway.image.clone(),
        command: topo::gateway_command(model),
        volumes: vec![format!(".:{}:ro", topo::GATEWAY_GENERATED_DIR)],
        environment: environment.into_iter().map(EnvVar::literal).collect(),
        depends_on,
        networks: vec![EDGE, INTERNAL],
        labels,
        // The image has no shell or wget: the binary probes itself.
        healthcheck: Some(ComposeHealthcheck {
            test: vec![
                "CMD".into(),
                topo::GATEWAY_BINARY.into(),
                "--check-ready".into(),
                format!("127.0.0.1:{}", topo::GATEWAY_ADMIN_PORT),
            ],
            interval: duration(topo::PROBE_INTERVAL_MS),
            timeout: duration(topo::PROBE_TIMEOUT_MS),
            retries: 3,
        }),
        ..ComposeService::default()
    }
}

/// A service's environment: the PgBouncer URLs of its database (write and
/// read pools), whose login compose interpolates from the host.
fn service_environment(model: &Model, service: &Service) -> Vec<EnvVar> {
    super::pgbouncer::service_env(model, service)
        .into_iter()
        .map(|(name, value)| EnvVar {
            text: format!("{name}={value}"),
            interpolate: true,
        })
        .collect()
}

/// The `pgbouncer` container, when the DSL declares a database: on the
/// internal network for the services, and on the edge network too, since
/// the database servers are outside compose and `internal` has no way out.
fn pgbouncer_service(model: &Model) -> Option<ComposeService> {
    let pg = super::pgbouncer::compose_service(model)?;
    Some(ComposeService {
        name: pg.name,
        image: pg.image,
        entrypoint: pg.entrypoint,
        volumes: pg.volumes,
        tmpfs: pg.tmpfs,
        environment: pg.environment.into_iter().map(EnvVar::literal).collect(),
        networks: vec![INTERNAL, EDGE],
        healthcheck: Some(ComposeHealthcheck {
            test: pg.healthcheck_test,
            interval: duration(topo::PROBE_INTERVAL_MS),
            timeout: duration(topo::PROBE_TIMEOUT_MS),
            retries: 3,
        }),
        ..ComposeService::default()
    })
}

/// The container compose runs for the shared rate limits' store.
const REDIS_CONTAINER: &str = "redis";
const REDIS_IMAGE: &str = "redis:7-alpine";

/// Whether compose runs the store itself: the file has a
/// `rate_limit_store` and no service of its own named `redis`.
fn runs_own_redis(model: &Model) -> bool {
    model.rate_limit_store.is_some() && !model.services.iter().any(|s| s.name == REDIS_CONTAINER)
}

/// The `redis` container of the shared rate limits: internal network only,
/// nothing kept on disk (a bucket lives seconds), the password, when the
/// store has one, read from the host's environment by name, never written
/// here.
fn redis_service(model: &Model) -> Option<ComposeService> {
    if !runs_own_redis(model) {
        return None;
    }
    let store = model.rate_limit_store.as_ref()?;
    let mut server = "exec redis-server --save '' --appendonly no".to_string();
    let mut ping = "redis-cli".to_string();
    let mut environment = Vec::new();
    if let Some(password) = &store.password_env {
        server.push_str(&format!(" --requirepass \"${password}\""));
        ping.push_str(&format!(" -a \"${password}\" --no-auth-warning"));
        environment.push(EnvVar::literal(password.clone()));
    }
    ping.push_str(" ping | grep -q PONG");
    Some(ComposeService {
        name: REDIS_CONTAINER.into(),
        image: REDIS_IMAGE.into(),
        entrypoint: vec!["sh".into(), "-c".into(), server],
        environment,
        networks: vec![INTERNAL],
        healthcheck: Some(ComposeHealthcheck {
            test: vec!["CMD-SHELL".into(), ping],
            interval: duration(topo::PROBE_INTERVAL_MS),
            timeout: duration(topo::PROBE_TIMEOUT_MS),
            retries: 3,
        }),
        ..ComposeService::default()
    })
}

fn push_unique(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|i| i == item) {
        list.push(item.to_string());
    }
}

/// A container healthcheck that GETs `health.path` on the container's own
/// port (images are expected to ship busybox `wget`).
fn http_probe(port: u16, health: &HealthCheck) -> ComposeHealthcheck {
    ComposeHealthcheck {
        test: vec![
            "CMD-SHELL".into(),
            format!(
                "wget -q -O /dev/null http://127.0.0.1:{port}{} || exit 1",
                health.path
            ),
        ],
        interval: duration(health.interval_ms),
        timeout: duration(health.timeout_ms),
        retries: health.unhealthy_threshold,
    }
}

fn prometheus_service() -> ComposeService {
    let config = format!("{}/prometheus.yml", topo::PROMETHEUS_CONFIG_DIR);
    ComposeService {
        name: topo::PROMETHEUS_CONTAINER.into(),
        image: topo::PROMETHEUS_IMAGE.into(),
        command: vec![format!("--config.file={config}")],
        // Operators reach it from the host only.
        ports: vec![format!("127.0.0.1:{0}:{0}", topo::PROMETHEUS_PORT)],
        volumes: vec![format!("./prometheus:{}:ro", topo::PROMETHEUS_CONFIG_DIR)],
        // Edge for Traefik's metrics, internal for the gateway and services.
        networks: vec![EDGE, INTERNAL],
        ..ComposeService::default()
    }
}
