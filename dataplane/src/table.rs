//! A loaded route table: the mapped file, validated by the shared reader and
//! kept mapped for in-place lookups, plus everything prepared from it once
//! at load time (services with their clients, balancers and instance state,
//! routes with their middleware chains, gateway limits). Requests only read
//! a [`LoadedTable`]; publishing and reloading it is [`crate::reload`]'s job.
//!
//! State that belongs to a name survives a reload through [`Registries`]:
//! an instance keeps its health while its service, address and health
//! settings are unchanged; a middleware keeps its state while its name and
//! settings are unchanged; upstream clients (and their warm pools) are
//! shared while their settings are unchanged. What the previous table
//! already prepared is taken from it: a service whose entry is unchanged
//! whole, a route in the same place with the same name and policy steps
//! its name and metric handles.

use crate::balancer::{Balancer, InstanceState, PassivePolicy, Policy};
use crate::chain::{self, MiddlewareState, PreparedChain};
use crate::mapping::TableBytes;
use crate::metrics::{Metrics, RouteMetrics, ServiceMetrics};
use crate::tls::{TlsError, UpstreamTlsSettings};
use crate::upstream::connect::authority;
use crate::upstream::{Clients, HostPool, PoolSettings, UpstreamClient};
use ipnet::IpNet;
use routetable::defaults::{self, or_default};
use routetable::{Balance, HealthCheckSpec, MiddlewareKind, ServiceSpec, TableSpec};
use routetable::{Table, TableError, TableView};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

self_cell::self_cell!(
    /// The table's bytes and the validated view that borrows them.
    struct MappedView {
        owner: TableBytes,
        #[covariant]
        dependent: TableView,
    }
);

/// Why a table was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid table: {0}")]
    Invalid(#[from] TableError),
    #[error("service {service}: upstream TLS: {source}")]
    UpstreamTls { service: String, source: TlsError },
    #[error(transparent)]
    Middleware(#[from] chain::BuildError),
    #[error("trusted proxy {0:?} is not a CIDR")]
    TrustedProxy(String),
}

/// Instance replacements by service name (`--upstream`, demo backends).
pub type Overrides = BTreeMap<String, Vec<(String, u16)>>;

/// An instance's address, the health settings its state was made under,
/// and the state.
type InstanceEntry = (String, u16, Option<HealthCheckSpec>, Arc<InstanceState>);

/// What outlives a single table.
pub struct Registries {
    pub clients: Clients,
    /// Each service's instances, by service name.
    instances: Mutex<HashMap<String, Vec<InstanceEntry>>>,
    pub middleware: MiddlewareState,
    pub overrides: Overrides,
    pub passive: PassivePolicy,
    /// The gateway's metrics (also reachable as `middleware.metrics`).
    pub metrics: Arc<Metrics>,
}

impl Registries {
    pub fn new(clients: Clients, overrides: Overrides, passive: PassivePolicy) -> Self {
        let metrics = Arc::new(Metrics::new());
        Self {
            clients,
            instances: Mutex::new(HashMap::new()),
            middleware: MiddlewareState::new(metrics.clone()),
            overrides,
            passive,
            metrics,
        }
    }
}

/// One instance of a service.
pub struct Instance {
    pub host: String,
    pub port: u16,
    /// `scheme://host:port`, the instance's name in logs and the admin API.
    pub base_uri: String,
    /// The idle connections of the service's traffic client to it.
    pub pool: Arc<HostPool>,
    /// The same for its health probes (which keep none).
    pub probe_pool: Arc<HostPool>,
}

impl Instance {
    /// `host:port` (`[v6]:port`), the key of the per-host request limit.
    pub fn authority(&self) -> &str {
        self.pool.authority()
    }
}

/// A service as the proxy uses it. One whose table entry (and the pool
/// settings) did not change is the same `Arc` in the next table, with its
/// clients, balancer and metric handles: at a thousand services, building
/// them again was a good part of a reload.
pub struct Service {
    pub name: String,
    /// What it was built from, to tell whether the next table changes it.
    source: (ServiceSpec, PoolSettings),
    pub instances: Vec<Instance>,
    /// Parallel to `instances`.
    pub states: Vec<Arc<InstanceState>>,
    pub balancer: Balancer,
    pub client: UpstreamClient,
    pub probe_client: UpstreamClient,
    pub health: Option<HealthCheckSpec>,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    pub websocket_idle: Duration,
    /// Retries, ejections and upstream latency of this service.
    pub metrics: ServiceMetrics,
}

/// A gateway route as the proxy uses it.
#[derive(Debug)]
pub struct Route {
    /// Shared with the previous table's route of the same place and name,
    /// so a reload neither copies nor frees it.
    pub name: Arc<str>,
    pub service: usize,
    pub chain: PreparedChain,
    pub websocket: bool,
    /// Request counts and durations under this route's `endpoint` label.
    pub metrics: Arc<RouteMetrics>,
    /// The policy series its chain counts into, created at load.
    series: Arc<[PolicySeries]>,
}

/// A series a route's chain counts into beside the request counts: one per
/// rate-limit step (by its name) and the hit and miss counts of a cache.
#[derive(Debug, PartialEq, Eq)]
enum PolicySeries {
    RateLimited(String),
    Cache,
}

/// Gateway-wide limits, with `routetable::defaults` for zeros.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    pub max_header_bytes: usize,
    pub max_body_bytes: u64,
    pub header_timeout: Duration,
    pub dns_ttl: Duration,
    pub pool: PoolSettings,
    /// Whether header names with an underscore are forwarded (`false`:
    /// dropped, as nginx does).
    pub underscore_headers: bool,
}

/// A validated, prepared table.
pub struct LoadedTable {
    view: MappedView,
    pub generation: u64,
    /// Lower-case hex.
    pub source_sha256: String,
    pub services: Vec<Arc<Service>>,
    pub routes: Vec<Route>,
    pub limits: Limits,
    pub trusted_proxies: Vec<IpNet>,
}

impl LoadedTable {
    /// Maps and prepares the table at `path`.
    pub fn load(path: &Path, registries: &Registries) -> Result<Self, LoadError> {
        let bytes = TableBytes::map(path).map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_bytes(bytes, registries)
    }

    /// Validates and prepares `bytes`.
    pub fn from_bytes(bytes: TableBytes, registries: &Registries) -> Result<Self, LoadError> {
        Self::replacing(bytes, registries, None)
    }

    /// Validates and prepares `bytes` to replace `previous`: a route that
    /// keeps its place, name and policy steps keeps its metric handles
    /// without a lookup (at 10,000 routes the lookups were most of a
    /// reload's time).
    pub fn replacing(
        bytes: TableBytes,
        registries: &Registries,
        previous: Option<&LoadedTable>,
    ) -> Result<Self, LoadError> {
        let view = MappedView::try_new(bytes, |b| Table::from_bytes(b))?;
        // The routes are read in place below, not copied.
        let spec = view.borrow_dependent().to_spec_but_routes();
        Self::prepare(view, spec, registries, previous)
    }

    /// The table's content as owned data (for the admin API: not per request).
    pub fn spec(&self) -> TableSpec {
        self.view.borrow_dependent().to_spec()
    }

    /// The bytes the table was loaded from.
    pub fn bytes(&self) -> &[u8] {
        self.view.borrow_owner()
    }

    fn prepare(
        view: MappedView,
        spec: TableSpec,
        registries: &Registries,
        previous: Option<&LoadedTable>,
    ) -> Result<Self, LoadError> {
        let g = &spec.gateway;
        let limits = Limits {
            max_connections: or_default(g.max_connections, defaults::MAX_CONNECTIONS) as usize,
            max_header_bytes: or_default(g.max_header_bytes, defaults::MAX_HEADER_BYTES) as usize,
            max_body_bytes: or_default(g.max_body_bytes, defaults::MAX_BODY_BYTES),
            header_timeout: Duration::from_millis(or_default(
                g.header_timeout_ms,
                defaults::HEADER_TIMEOUT_MS,
            )),
            dns_ttl: Duration::from_millis(or_default(g.dns_ttl_ms, defaults::DNS_TTL_MS)),
            pool: PoolSettings {
                max_total: or_default(g.pool.max_total, defaults::POOL_MAX_TOTAL),
                max_per_host: or_default(g.pool.max_per_host, defaults::POOL_MAX_PER_HOST),
                idle_timeout_ms: or_default(g.pool.idle_timeout_ms, defaults::POOL_IDLE_TIMEOUT_MS),
            },
            underscore_headers: g.underscore_headers,
        };
        let trusted_proxies = g
            .trusted_proxies
            .iter()
            .map(|cidr| parse_cidr(cidr).ok_or_else(|| LoadError::TrustedProxy(cidr.clone())))
            .collect::<Result<_, _>>()?;

        let mut instance_registry = registries
            .instances
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut kept_instances = HashMap::with_capacity(spec.services.len());
        let unchanged: HashMap<&str, &Arc<Service>> = previous
            .map(|p| p.services.iter().map(|s| (s.name.as_str(), s)).collect())
            .unwrap_or_default();
        let mut services = Vec::with_capacity(spec.services.len());
        for s in &spec.services {
            if let Some(&old) = unchanged
                .get(s.name.as_str())
                .filter(|old| old.source.0 == *s && old.source.1 == limits.pool)
            {
                if let Some((name, entries)) = instance_registry.remove_entry(&s.name) {
                    kept_instances.insert(name, entries);
                }
                services.push(old.clone());
                continue;
            }
            let service = build_service(s, &limits, registries, &mut instance_registry)?;
            kept_instances.insert(s.name.clone(), service.1);
            services.push(Arc::new(service.0));
        }
        // Instances no longer in the table lose their state.
        *instance_registry = kept_instances;
        drop(instance_registry);
        drop(unchanged);

        let mut prepared = Vec::with_capacity(spec.middlewares.len());
        for mw in &spec.middlewares {
            let built = crate::policy::build(mw, &registries.middleware)?;
            if built.is_none() {
                tracing::warn!(
                    middleware = %mw.name,
                    kind = mw.config.kind().keyword(),
                    "middleware kind not implemented in this build; requests pass through it unchecked"
                );
            }
            prepared.push(built);
        }
        let names: Vec<&str> = spec.middlewares.iter().map(|m| m.name.as_str()).collect();
        registries.middleware.retain(&names);
        let chains: Vec<PreparedChain> = spec
            .chains
            .iter()
            .map(|c| {
                PreparedChain::new(
                    c.middlewares
                        .iter()
                        .filter_map(|&i| prepared.get(i as usize).cloned().flatten())
                        .collect(),
                )
            })
            .collect();
        let chain_series: Vec<Arc<[PolicySeries]>> = spec
            .chains
            .iter()
            .map(|c| policy_series(&spec, c))
            .collect();
        let no_series: Arc<[PolicySeries]> = Arc::new([]);
        let mut same_order = PreviousRoutes::new(previous.map_or(&[][..], |p| &p.routes));
        let routes = view
            .borrow_dependent()
            .routes()
            .map(|r| {
                let (name, chain) = (r.name(), r.chain_index());
                let series = chain
                    .and_then(|c| chain_series.get(c as usize).cloned())
                    .unwrap_or_else(|| no_series.clone());
                let (name, metrics) = match same_order.find(name, &series) {
                    Some(old) => (old.name.clone(), old.metrics.clone()),
                    None => {
                        prepare_series(&registries.metrics, name, &series);
                        (Arc::from(name), registries.metrics.route(name))
                    }
                };
                Route {
                    name,
                    service: r.service_index() as usize,
                    chain: chain
                        .and_then(|c| chains.get(c as usize).cloned())
                        .unwrap_or_default(),
                    websocket: r.websocket(),
                    metrics,
                    series,
                }
            })
            .collect();
        Ok(Self {
            view,
            generation: spec.generation,
            source_sha256: spec
                .source_sha256
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            services,
            routes,
            limits,
            trusted_proxies,
        })
    }

    /// The route for a request, with its service. `path` must be normalized.
    pub fn route(&self, host: &str, method: &str, path: &str) -> Option<(&Route, &Service)> {
        let found = self.view.borrow_dependent().lookup(host, method, path)?;
        let route = self.routes.get(found.index)?;
        Some((route, self.services.get(route.service)?))
    }

    /// Every distinct upstream host name, for the DNS cache.
    pub fn hosts(&self) -> impl Iterator<Item = String> + '_ {
        self.services
            .iter()
            .flat_map(|s| s.instances.iter().map(|i| i.host.clone()))
    }

    /// Attempts moved on to another instance, all services together.
    pub fn upstream_retries(&self) -> u64 {
        self.services.iter().map(|s| s.metrics.retries()).sum()
    }

    /// Each service's instances and their health, for `/health`.
    pub fn health(&self) -> Vec<ServiceHealth> {
        self.services
            .iter()
            .map(|s| ServiceHealth {
                service: s.name.clone(),
                instances: s
                    .instances
                    .iter()
                    .zip(&s.states)
                    .map(|(i, state)| InstanceReport {
                        instance: i.authority().to_owned(),
                        health: state.health(),
                    })
                    .collect(),
            })
            .collect()
    }
}

/// One service's health, for `/health` and tests.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServiceHealth {
    pub service: String,
    pub instances: Vec<InstanceReport>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct InstanceReport {
    pub instance: String,
    #[serde(flatten)]
    pub health: crate::balancer::InstanceHealth,
}

impl ServiceHealth {
    /// Whether any instance can take traffic.
    pub fn available(&self) -> bool {
        self.instances
            .iter()
            .any(|i| i.health.up && !i.health.ejected)
    }
}

/// The previous table's routes, walked beside the new table's: tables keep
/// their routes' order, so the route a new one replaces is the next old one,
/// or a few further on when routes were removed before it. A route added in
/// between finds none and leaves the walk where it was, so one added or
/// removed route does not make every later one look its handles up again.
struct PreviousRoutes<'a> {
    routes: &'a [Route],
    next: usize,
}

impl<'a> PreviousRoutes<'a> {
    /// How many old routes a new one may skip to find its own.
    const LOOKAHEAD: usize = 4;

    fn new(routes: &'a [Route]) -> Self {
        Self { routes, next: 0 }
    }

    /// The old route named `name` with the same policy steps, if it is
    /// among the next few.
    fn find(&mut self, name: &str, series: &Arc<[PolicySeries]>) -> Option<&'a Route> {
        let window = self.routes.get(self.next..)?;
        let (skipped, old) = window
            .iter()
            .take(Self::LOOKAHEAD)
            .enumerate()
            .find(|(_, old)| &*old.name == name)?;
        self.next += skipped + 1;
        (old.series == *series).then_some(old)
    }
}

/// Builds `s` anew: its clients, instances (keeping the state of those
/// whose address and health settings are unchanged), balancer and metric
/// handles. Returns it with its instances' registry entries.
fn build_service(
    s: &ServiceSpec,
    limits: &Limits,
    registries: &Registries,
    instance_registry: &mut HashMap<String, Vec<InstanceEntry>>,
) -> Result<(Service, Vec<InstanceEntry>), LoadError> {
    let connect_timeout = Duration::from_millis(or_default(
        s.timeouts.connect_ms,
        defaults::CONNECT_TIMEOUT_MS,
    ));
    let tls = s.upstream_tls.as_ref().map(|t| UpstreamTlsSettings {
        ca_file: t.ca_file.clone().into(),
        cert_file: t.cert_file.clone().map(Into::into),
        key_file: t.key_file.clone().map(Into::into),
        server_name: t.server_name.clone(),
    });
    let tls_error = |source| LoadError::UpstreamTls {
        service: s.name.clone(),
        source,
    };
    let client = registries
        .clients
        .for_traffic(limits.pool, connect_timeout, tls.as_ref())
        .map_err(tls_error)?;
    let probe_client = registries
        .clients
        .for_probes(limits.pool, connect_timeout, tls.as_ref())
        .map_err(tls_error)?;
    let addresses = registries.overrides.get(&s.name).unwrap_or(&s.instances);
    let previous = instance_registry.remove(&s.name).unwrap_or_default();
    let mut instances = Vec::with_capacity(addresses.len());
    let mut states = Vec::with_capacity(addresses.len());
    let mut entries = Vec::with_capacity(addresses.len());
    for (host, port) in addresses {
        let state = previous
            .iter()
            .find(|(h, p, health, _)| h == host && p == port && *health == s.health)
            .map(|(.., state)| state.clone())
            .unwrap_or_default();
        entries.push((host.clone(), *port, s.health.clone(), state.clone()));
        let authority = authority(host, *port);
        instances.push(Instance {
            host: host.clone(),
            port: *port,
            base_uri: format!("{}://{authority}", client.scheme()),
            pool: client.pool(host, *port),
            probe_pool: probe_client.pool(host, *port),
        });
        states.push(state);
    }
    let metrics = registries
        .metrics
        .service(&s.name, instances.iter().map(|i| i.authority().to_owned()));
    let service = Service {
        metrics,
        name: s.name.clone(),
        source: (s.clone(), limits.pool),
        instances,
        states,
        balancer: Balancer::new(match s.balance {
            Balance::RoundRobin => Policy::RoundRobin,
            Balance::LeastRequests => Policy::LeastRequests,
            Balance::Random => Policy::Random,
        }),
        client,
        probe_client,
        health: s.health.clone(),
        connect_timeout,
        response_timeout: Duration::from_millis(or_default(
            s.timeouts.response_ms,
            defaults::RESPONSE_TIMEOUT_MS,
        )),
        websocket_idle: Duration::from_millis(or_default(
            s.timeouts.websocket_idle_ms,
            defaults::WEBSOCKET_IDLE_MS,
        )),
    };
    Ok((service, entries))
}

/// The policy series of `chain`'s steps.
fn policy_series(spec: &TableSpec, chain: &routetable::ChainSpec) -> Arc<[PolicySeries]> {
    chain
        .middlewares
        .iter()
        .filter_map(|&i| spec.middlewares.get(i as usize))
        .filter_map(|m| match m.config.kind() {
            MiddlewareKind::RateLimit => Some(PolicySeries::RateLimited(m.name.clone())),
            MiddlewareKind::Cache => Some(PolicySeries::Cache),
            _ => None,
        })
        .collect()
}

/// Creates, at zero, the policy series of route `route`, so `rate()` sees
/// the first event too.
fn prepare_series(metrics: &Metrics, route: &str, series: &[PolicySeries]) {
    for one in series {
        match one {
            PolicySeries::RateLimited(limiter) => metrics.prepare_rate_limited(route, limiter),
            PolicySeries::Cache => metrics.prepare_cache(route),
        }
    }
}

fn parse_cidr(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}
