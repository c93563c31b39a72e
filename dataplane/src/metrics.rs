//! The gateway's Prometheus metrics: one [`Metrics`] per running gateway
//! (not a process-global, so two gateways in one test process never mix
//! their counts), registered under the names of [`crate::metric_names`] and
//! rendered in the OpenMetrics text format by [`Metrics::render`].
//!
//! It owns the metric families and the cheap handles the hot path uses; it
//! does not decide *when* something is counted (the proxy, the balancer, the
//! reload path and the middlewares call it) and does not serve HTTP
//! ([`crate::admin`] and [`crate::proxy`] do).
//!
//! # Cost on the hot path
//! A table load resolves a [`RouteMetrics`] per route and a
//! [`ServiceMetrics`] per service (see [`Metrics::route`] and
//! [`Metrics::service`]). A request then records into per-(method, status)
//! handles cached in its route's slots: no label formatting, no string
//! hashing, no allocation. Only a status outside [`COMMON_STATUSES`] goes
//! through the family's map. The label values are bounded: `endpoint` is a
//! route name (or [`UNROUTED`]), `method` one of ten values ([`MethodLabel`],
//! unknown methods become `OTHER`), `status` a three-digit code.
//!
//! # The policy middlewares' counts
//! The proxy counts what the chain did once it has run, in one place
//! ([`Metrics::count_chain_outcome`]): a 429 from a `rate_limit` step is
//! `gateway_rate_limited_total{endpoint, limiter}` (the step's name), a
//! 401/403 from a `jwt` step is `gateway_auth_failures_total{reason}` (the
//! step's fixed reason phrase, `RequestCtx::stopped`), and a route with a
//! cache step counts its `X-Cache: HIT|MISS` answers in
//! `gateway_cache_requests_total{endpoint, result}`. Middlewares therefore
//! must not count these themselves (it would count twice); for anything
//! else they reach the handle at build time through
//! `MiddlewareState::metrics` (an `Arc<Metrics>`) and may call
//! [`Metrics::rate_limited`], [`Metrics::auth_failure`] and
//! [`Metrics::cache_lookup`] directly.
//!
//! Series for every (route, rate limiter) and (route, cache result) pair the
//! table can produce exist from the table's load on, at zero, so `rate()`
//! sees the first event too.

use crate::metric_names as names;
pub use crate::pool_metrics::PoolReading;
use crate::pool_metrics::{PoolCollector, PoolSeries};
use http::{Method, StatusCode};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histograms: 1 ms to 10 s, roughly
/// 1-2.5-5 per decade, the range a gateway in front of HTTP services sees.
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The `endpoint` label of requests no route matched (404s, bad paths).
pub const UNROUTED: &str = "none";

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Statuses whose counters a route caches per method; others are looked up
/// in the family (still correct, a little slower).
pub const COMMON_STATUSES: [u16; 28] = [
    101, 200, 201, 202, 204, 206, 301, 302, 304, 307, 308, 400, 401, 403, 404, 405, 408, 409, 413,
    415, 422, 429, 431, 500, 501, 502, 503, 504,
];

/// The `method` label: the standard methods, and `OTHER` for the rest
/// (extension methods would otherwise be unbounded label values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MethodLabel {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Options,
    Trace,
    Patch,
    Other,
}

impl MethodLabel {
    const COUNT: usize = 10;

    pub fn of(method: &Method) -> Self {
        match *method {
            Method::GET => Self::Get,
            Method::HEAD => Self::Head,
            Method::POST => Self::Post,
            Method::PUT => Self::Put,
            Method::DELETE => Self::Delete,
            Method::CONNECT => Self::Connect,
            Method::OPTIONS => Self::Options,
            Method::TRACE => Self::Trace,
            Method::PATCH => Self::Patch,
            _ => Self::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
            Self::Options => "OPTIONS",
            Self::Trace => "TRACE",
            Self::Patch => "PATCH",
            Self::Other => "OTHER",
        }
    }
}

impl EncodeLabelValue for MethodLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

/// A name shared by every series of one route or service.
type Name = Arc<String>;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: MethodLabel,
    endpoint: Name,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DurationLabels {
    method: MethodLabel,
    endpoint: Name,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ServiceLabels {
    service_name: Name,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct InstanceLabels {
    service_name: Name,
    instance: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TableInfoLabels {
    generation: u64,
    source_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RateLimitedLabels {
    endpoint: Name,
    limiter: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StoreFallbackLabels {
    limiter: String,
    policy: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StoreLabels {
    limiter: String,
}

/// The handles of one shared rate limit's store, resolved at table load:
/// checks the store could not answer within its budget, and whether its
/// last check was answered (1) or not (0).
#[derive(Debug, Clone, Default)]
pub struct StoreHandles {
    pub fallbacks: Counter,
    pub up: Gauge,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct AuthFailureLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum CacheResult {
    Hit,
    Miss,
}

impl EncodeLabelValue for CacheResult {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CacheLabels {
    endpoint: Name,
    result: CacheResult,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// prometheus-client appends `_total` to counters itself.
fn counter_name(name: &str) -> &str {
    name.strip_suffix("_total").unwrap_or(name)
}

/// Every family the gateway exports, and the handles resolved from them.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: HistogramFamily<DurationLabels>,
    active_connections: Gauge,
    service_health: Family<ServiceLabels, Gauge>,
    instance_health: Family<InstanceLabels, Gauge>,
    response_time: HistogramFamily<ServiceLabels>,
    table_info: Family<TableInfoLabels, Gauge>,
    table_reloads: Counter,
    table_reload_failures: Counter,
    http1_handoffs: Counter,
    rate_limited: Family<RateLimitedLabels, Counter>,
    auth_failures: Family<AuthFailureLabels, Counter>,
    /// The reasons' counters, found without the family's lock.
    auth_failure_slots: CounterSlots<&'static str, AUTH_FAILURE_REASONS>,
    cache_requests: Family<CacheLabels, Counter>,
    upstream_retries: Family<ServiceLabels, Counter>,
    upstream_ejections: Family<InstanceLabels, Counter>,
    store_fallbacks: Family<StoreFallbackLabels, Counter>,
    store_up: Family<StoreLabels, Gauge>,
    /// The upstream pools' series, as the latest scrape read them.
    pools: PoolCollector,
    /// Route name -> its handles; kept across reloads (names are few).
    routes: RwLock<HashMap<String, Arc<RouteMetrics>>>,
    unrouted: Arc<RouteMetrics>,
    /// Scrapes refresh the state-derived gauges, then encode: one at a time.
    scrape: Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            counter_name(names::HTTP_REQUESTS_TOTAL),
            "Requests answered, by method, route (endpoint) and status",
            requests.clone(),
        );
        let durations: HistogramFamily<DurationLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            names::HTTP_REQUEST_DURATION_SECONDS,
            "Time from receiving a request to sending the response head, by method and route",
            durations.clone(),
        );
        let active_connections = Gauge::default();
        registry.register(
            names::HTTP_ACTIVE_CONNECTIONS,
            "Open client connections",
            active_connections.clone(),
        );
        let service_health = Family::<ServiceLabels, Gauge>::default();
        registry.register(
            names::SERVICE_HEALTH_STATUS,
            "1 when the service has an instance that can take traffic, 0 otherwise",
            service_health.clone(),
        );
        let instance_health = Family::<InstanceLabels, Gauge>::default();
        registry.register(
            names::SERVICE_INSTANCE_HEALTH_STATUS,
            "1 when the instance is up and not ejected, 0 otherwise",
            instance_health.clone(),
        );
        let response_time: HistogramFamily<ServiceLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            names::SERVICE_RESPONSE_TIME_SECONDS,
            "Upstream latency: from sending a request to a service to its response head",
            response_time.clone(),
        );
        let table_info = Family::<TableInfoLabels, Gauge>::default();
        registry.register(
            names::GATEWAY_TABLE_INFO,
            "The route table serving now (always 1)",
            table_info.clone(),
        );
        let table_reloads = Counter::default();
        registry.register(
            counter_name(names::GATEWAY_TABLE_RELOADS_TOTAL),
            "Route tables published after start-up",
            table_reloads.clone(),
        );
        let table_reload_failures = Counter::default();
        registry.register(
            counter_name(names::GATEWAY_TABLE_RELOAD_FAILURES_TOTAL),
            "Route tables refused (the previous one kept serving)",
            table_reload_failures.clone(),
        );
        let http1_handoffs = Counter::default();
        registry.register(
            counter_name(names::GATEWAY_HTTP1_HANDOFFS_TOTAL),
            "HTTP/1.1 client connections the fast path handed to hyper's server",
            http1_handoffs.clone(),
        );
        let rate_limited = Family::<RateLimitedLabels, Counter>::default();
        registry.register(
            counter_name(names::GATEWAY_RATE_LIMITED_TOTAL),
            "Requests refused with 429, by route and rate-limit middleware",
            rate_limited.clone(),
        );
        let auth_failures = Family::<AuthFailureLabels, Counter>::default();
        registry.register(
            counter_name(names::GATEWAY_AUTH_FAILURES_TOTAL),
            "Requests refused with 401 or 403, by reason",
            auth_failures.clone(),
        );
        let cache_requests = Family::<CacheLabels, Counter>::default();
        registry.register(
            counter_name(names::GATEWAY_CACHE_REQUESTS_TOTAL),
            "Cacheable requests, by route and result (hit or miss)",
            cache_requests.clone(),
        );
        let upstream_retries = Family::<ServiceLabels, Counter>::default();
        registry.register(
            counter_name(names::GATEWAY_UPSTREAM_RETRIES_TOTAL),
            "Requests moved on to another instance after a failed attempt",
            upstream_retries.clone(),
        );
        let upstream_ejections = Family::<InstanceLabels, Counter>::default();
        registry.register(
            counter_name(names::GATEWAY_UPSTREAM_EJECTIONS_TOTAL),
            "Instances taken out of rotation by the passive checks",
            upstream_ejections.clone(),
        );
        let store_fallbacks = Family::<StoreFallbackLabels, Counter>::default();
        registry.register(
            counter_name(names::GATEWAY_RATE_LIMIT_STORE_FALLBACKS_TOTAL),
            "Shared rate-limit checks the store did not answer in time, by limiter and failure policy",
            store_fallbacks.clone(),
        );
        let store_up = Family::<StoreLabels, Gauge>::default();
        registry.register(
            names::GATEWAY_RATE_LIMIT_STORE_UP,
            "1 while a shared rate limit's store answers its checks in time, 0 while it does not",
            store_up.clone(),
        );
        let pools = PoolCollector::default();
        registry.register_collector(Box::new(pools.clone()));
        let unrouted = Arc::new(RouteMetrics::new(UNROUTED, &requests, &durations));
        Self {
            registry,
            requests,
            durations,
            active_connections,
            service_health,
            instance_health,
            response_time,
            table_info,
            table_reloads,
            table_reload_failures,
            http1_handoffs,
            rate_limited,
            auth_failures,
            auth_failure_slots: CounterSlots::default(),
            cache_requests,
            upstream_retries,
            upstream_ejections,
            store_fallbacks,
            store_up,
            pools,
            routes: RwLock::new(HashMap::new()),
            unrouted,
            scrape: Mutex::new(()),
        }
    }

    /// The handles of route `name`, made on first use and kept.
    pub fn route(&self, name: &str) -> Arc<RouteMetrics> {
        if let Some(route) = self
            .routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return route.clone();
        }
        self.routes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(RouteMetrics::new(name, &self.requests, &self.durations)))
            .clone()
    }

    /// The handles of requests no route matched (`endpoint="none"`).
    pub fn unrouted(&self) -> &Arc<RouteMetrics> {
        &self.unrouted
    }

    /// The handles of service `name`, whose instances are `instances`
    /// (`host:port`, in the table's order).
    pub fn service(
        &self,
        name: &str,
        instances: impl IntoIterator<Item = String>,
    ) -> ServiceMetrics {
        let service = ServiceLabels {
            service_name: Arc::new(name.to_owned()),
        };
        ServiceMetrics {
            retries: self.upstream_retries.get_or_create(&service).clone(),
            response_time: self.response_time.get_or_create(&service).clone(),
            ejections: instances
                .into_iter()
                .map(|instance| {
                    let labels = InstanceLabels {
                        service_name: service.service_name.clone(),
                        instance,
                    };
                    self.upstream_ejections.get_or_create(&labels).clone()
                })
                .collect(),
        }
    }

    /// Creates, at zero, the series of rate limiter `limiter` on route
    /// `route`, so `rate()` sees its first refusal too.
    pub fn prepare_rate_limited(&self, route: &str, limiter: &str) {
        let endpoint = self.route(route).endpoint.clone();
        drop(self.rate_limited.get_or_create(&RateLimitedLabels {
            endpoint,
            limiter: limiter.to_owned(),
        }));
    }

    /// Creates, at zero, the hit and miss series of a cache on `route`.
    pub fn prepare_cache(&self, route: &str) {
        let endpoint = self.route(route).endpoint.clone();
        for result in [CacheResult::Hit, CacheResult::Miss] {
            drop(self.cache_requests.get_or_create(&CacheLabels {
                endpoint: endpoint.clone(),
                result,
            }));
        }
    }

    /// A table was published after start-up.
    pub fn table_published(&self) {
        self.table_reloads.inc();
    }

    /// A table was refused; the previous one keeps serving.
    pub fn table_refused(&self) {
        self.table_reload_failures.inc();
    }

    /// Tables published after start-up.
    pub fn table_reloads(&self) -> u64 {
        self.table_reloads.get()
    }

    /// Tables refused.
    pub fn table_reload_failures(&self) -> u64 {
        self.table_reload_failures.get()
    }

    /// An HTTP/1.1 connection left the fast path for hyper's server.
    pub fn http1_handed_off(&self) {
        self.http1_handoffs.inc();
    }

    /// HTTP/1.1 connections handed to hyper's server.
    pub fn http1_handoffs(&self) -> u64 {
        self.http1_handoffs.get()
    }

    /// Open client connections.
    pub fn active_connections(&self) -> i64 {
        self.active_connections.get()
    }

    /// The store handles of shared rate limit `limiter` whose failure
    /// policy is `policy`, at table load. The gauge starts at 1: a store
    /// counts as up until a check says otherwise.
    pub fn store_handles(&self, limiter: &str, policy: &'static str) -> StoreHandles {
        let handles = StoreHandles {
            fallbacks: self
                .store_fallbacks
                .get_or_create(&StoreFallbackLabels {
                    limiter: limiter.to_owned(),
                    policy,
                })
                .clone(),
            up: self
                .store_up
                .get_or_create(&StoreLabels {
                    limiter: limiter.to_owned(),
                })
                .clone(),
        };
        handles.up.set(1);
        handles
    }

    /// Checks of shared rate limit `limiter` (failure policy `policy`)
    /// that its store missed so far.
    pub fn store_fallbacks(&self, limiter: &str, policy: &'static str) -> u64 {
        self.store_fallbacks
            .get_or_create(&StoreFallbackLabels {
                limiter: limiter.to_owned(),
                policy,
            })
            .get()
    }

    /// Whether shared rate limit `limiter`'s store answered its last check.
    pub fn store_up(&self, limiter: &str) -> bool {
        self.store_up
            .get_or_create(&StoreLabels {
                limiter: limiter.to_owned(),
            })
            .get()
            == 1
    }

    /// A request on route `endpoint` was refused by rate limiter `limiter`.
    pub fn rate_limited(&self, endpoint: &str, limiter: &str) {
        let endpoint = self.route(endpoint).endpoint.clone();
        self.rate_limited
            .get_or_create(&RateLimitedLabels {
                endpoint,
                limiter: limiter.to_owned(),
            })
            .inc();
    }

    /// A request was refused with 401/403 for `reason` (a short static
    /// snake_case word: the label's values must stay few).
    pub fn auth_failure(&self, reason: &'static str) {
        let labels = AuthFailureLabels { reason };
        let make = || (reason, self.auth_failures.get_or_create(&labels).clone());
        match self.auth_failure_slots.get(reason, make) {
            Some(counter) => counter.inc(),
            None => self.auth_failures.get_or_create(&labels).inc(),
        };
    }

    /// A cacheable request on route `endpoint` was a hit or a miss.
    pub fn cache_lookup(&self, endpoint: &str, hit: bool) {
        self.route(endpoint)
            .cache_counter(&self.cache_requests, hit)
            .inc();
    }

    /// A request on `route` was refused with 429 by rate limiter `limiter`.
    pub fn count_rate_limited(&self, route: &RouteMetrics, limiter: &str) {
        let labels = || RateLimitedLabels {
            endpoint: route.endpoint.clone(),
            limiter: limiter.to_owned(),
        };
        let make = || {
            let counter = self.rate_limited.get_or_create(&labels()).clone();
            (Box::<str>::from(limiter), counter)
        };
        match route.rate_limited.get(limiter, make) {
            Some(counter) => counter.inc(),
            None => self.rate_limited.get_or_create(&labels()).inc(),
        };
    }

    /// A cache step on `route` looked a request up: a hit or a miss.
    pub fn count_cache(&self, route: &RouteMetrics, hit: bool) {
        route.cache_counter(&self.cache_requests, hit).inc();
    }

    /// The metrics in the OpenMetrics text format. The gauges that mirror
    /// the serving table (its identity, each service's and instance's
    /// health and pool) are set from `table` now, so a scrape never sees
    /// stale health; the caller reads that state when the scrape happens.
    pub fn render(&self, table: &TableState<'_>) -> String {
        let _one_at_a_time = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        self.table_info.clear();
        self.table_info
            .get_or_create(&TableInfoLabels {
                generation: table.generation,
                source_sha256: table.source_sha256.to_owned(),
            })
            .set(1);
        self.set_health(table.services);
        let mut out = String::with_capacity(16 * 1024);
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            // Writing to a String cannot fail; keep the output well-formed anyway.
            let _ = writeln!(out, "# EOF");
        }
        out
    }

    fn set_health(&self, services: &[ServiceState]) {
        // Cleared first: services and instances gone from the table go too.
        self.service_health.clear();
        self.instance_health.clear();
        let mut pools = Vec::new();
        for service in services {
            let service_name = Arc::new(service.service.clone());
            self.service_health
                .get_or_create(&ServiceLabels {
                    service_name: service_name.clone(),
                })
                .set(i64::from(service.instances.iter().any(|i| i.up)));
            for instance in &service.instances {
                self.instance_health
                    .get_or_create(&InstanceLabels {
                        service_name: service_name.clone(),
                        instance: instance.instance.clone(),
                    })
                    .set(i64::from(instance.up));
                pools.push(PoolSeries {
                    service_name: service_name.clone(),
                    instance: instance.instance.clone(),
                    reading: instance.pool,
                });
            }
        }
        self.pools.set(pools);
    }
}

/// What a scrape mirrors of the serving table.
pub struct TableState<'a> {
    pub generation: u64,
    /// Lower-case hex.
    pub source_sha256: &'a str,
    pub services: &'a [ServiceState],
}

/// One service and its instances.
pub struct ServiceState {
    pub service: String,
    pub instances: Vec<InstanceState>,
}

/// One instance (`host:port`, `[v6]:port`): whether it can take traffic
/// (up and not ejected), and its traffic pool.
pub struct InstanceState {
    pub instance: String,
    pub up: bool,
    pub pool: PoolReading,
}

/// Counts an open client connection for as long as it lives.
pub struct ConnectionGuard(Arc<Metrics>);

impl ConnectionGuard {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        metrics.active_connections.inc();
        Self(metrics)
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.active_connections.dec();
    }
}

/// One method's handles within a route.
#[derive(Default)]
struct MethodSlot {
    duration: OnceLock<Histogram>,
    statuses: [OnceLock<Counter>; COMMON_STATUSES.len()],
}

/// The handles of one route (one `endpoint` label value).
pub struct RouteMetrics {
    endpoint: Name,
    requests: Family<RequestLabels, Counter>,
    durations: HistogramFamily<DurationLabels>,
    /// Boxed and filled on a method's first request: a slot is ~460 bytes,
    /// and most routes see one or two methods (10,000 routes held 45 MB of
    /// empty slots; see BENCHMARKS.md, "Memory").
    methods: [OnceLock<Box<MethodSlot>>; MethodLabel::COUNT],
    cache: [OnceLock<Counter>; 2],
    /// The route's 429 counters, one per limiter that refused on it.
    rate_limited: CounterSlots<Box<str>, ROUTE_LIMITERS>,
}

/// Reasons a jwt step refuses for (a fixed set of words) counted without
/// the family's lock.
const AUTH_FAILURE_REASONS: usize = 16;

/// Limiters of one route whose refusals are counted without the family's
/// lock; a route with more (none in practice) counts the rest through it.
const ROUTE_LIMITERS: usize = 4;

/// Counters of one family resolved once per label value and found again by
/// a scan of a few slots, so counting a refusal takes no lock and hashes
/// nothing (the family itself locks and hashes the labels on every
/// `get_or_create`, which an attack's refusals would do per request).
/// Values past the slots are `None`: the caller goes through the family.
struct CounterSlots<K, const N: usize> {
    slots: [OnceLock<(K, Counter)>; N],
}

impl<K, const N: usize> Default for CounterSlots<K, N> {
    fn default() -> Self {
        Self {
            slots: std::array::from_fn(|_| OnceLock::new()),
        }
    }
}

impl<K: std::borrow::Borrow<str>, const N: usize> CounterSlots<K, N> {
    /// The counter of `key`, made by `make` on its first use.
    fn get(&self, key: &str, make: impl Fn() -> (K, Counter)) -> Option<&Counter> {
        // A slot another thread filled with another key just moves the
        // scan on: each slot is set once and never changes.
        self.slots.iter().find_map(|slot| {
            let (k, counter) = slot.get_or_init(&make);
            (k.borrow() == key).then_some(counter)
        })
    }
}

impl std::fmt::Debug for RouteMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RouteMetrics({})", self.endpoint)
    }
}

impl RouteMetrics {
    fn new(
        endpoint: &str,
        requests: &Family<RequestLabels, Counter>,
        durations: &HistogramFamily<DurationLabels>,
    ) -> Self {
        Self {
            endpoint: Arc::new(endpoint.to_owned()),
            requests: requests.clone(),
            durations: durations.clone(),
            methods: Default::default(),
            cache: Default::default(),
            rate_limited: CounterSlots::default(),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Counts one answered request and its duration (to the response head).
    pub fn record(&self, method: MethodLabel, status: StatusCode, elapsed: Duration) {
        let slot = self.methods[method as usize].get_or_init(Box::default);
        let status = status.as_u16();
        let labels = || RequestLabels {
            method,
            endpoint: self.endpoint.clone(),
            status,
        };
        match COMMON_STATUSES.iter().position(|&s| s == status) {
            Some(i) => {
                slot.statuses[i]
                    .get_or_init(|| self.requests.get_or_create(&labels()).clone())
                    .inc();
            }
            None => {
                self.requests.get_or_create(&labels()).inc();
            }
        }
        slot.duration
            .get_or_init(|| {
                self.durations
                    .get_or_create(&DurationLabels {
                        method,
                        endpoint: self.endpoint.clone(),
                    })
                    .clone()
            })
            .observe(elapsed.as_secs_f64());
    }

    fn cache_counter(&self, family: &Family<CacheLabels, Counter>, hit: bool) -> &Counter {
        let result = if hit {
            CacheResult::Hit
        } else {
            CacheResult::Miss
        };
        self.cache[usize::from(!hit)].get_or_init(|| {
            family
                .get_or_create(&CacheLabels {
                    endpoint: self.endpoint.clone(),
                    result,
                })
                .clone()
        })
    }
}

/// The handles of one service of one table.
#[derive(Debug)]
pub struct ServiceMetrics {
    retries: Counter,
    response_time: Histogram,
    /// Parallel to the service's instances.
    ejections: Vec<Counter>,
}

impl ServiceMetrics {
    /// A failed attempt is being retried on another instance.
    /// Attempts of this service moved on to another instance.
    pub fn retries(&self) -> u64 {
        self.retries.get()
    }

    pub fn retried(&self) {
        self.retries.inc();
    }

    /// The passive checks ejected instance `index`.
    pub fn ejected(&self, index: usize) {
        if let Some(counter) = self.ejections.get(index) {
            counter.inc();
        }
    }

    /// An upstream answered (its response head) after `elapsed`.
    pub fn observe_response(&self, elapsed: Duration) {
        self.response_time.observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_carry_their_total_suffix_once_and_methods_are_bounded() {
        let metrics = Metrics::new();
        let route = metrics.route("auth");
        route.record(MethodLabel::Get, StatusCode::OK, Duration::from_millis(3));
        route.record(
            MethodLabel::of(&Method::from_bytes(b"PURGE").unwrap()),
            StatusCode::from_u16(299).unwrap(),
            Duration::from_millis(3),
        );
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &metrics.registry).unwrap();
        assert!(out.contains("# TYPE http_requests counter\n"), "{out}");
        assert!(
            out.contains(r#"http_requests_total{method="GET",endpoint="auth",status="200"} 1"#),
            "{out}"
        );
        assert!(
            out.contains(r#"http_requests_total{method="OTHER",endpoint="auth",status="299"} 1"#),
            "{out}"
        );
        assert!(!out.contains("_total_total"), "{out}");
    }

    #[test]
    fn refusals_are_counted_per_limiter_and_reason_past_the_slots_too() {
        let metrics = Metrics::new();
        let route = metrics.route("api");
        // More limiters than the route has slots, each refusing its index
        // plus one times, interleaved.
        for round in 0..=ROUTE_LIMITERS + 1 {
            for limiter in round..=ROUTE_LIMITERS + 1 {
                metrics.count_rate_limited(&route, &format!("limit-{limiter}"));
            }
        }
        metrics.auth_failure("token expired");
        metrics.auth_failure("token expired");
        metrics.auth_failure("bad signature");
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &metrics.registry).unwrap();
        for limiter in 0..=ROUTE_LIMITERS + 1 {
            let series = format!(
                "gateway_rate_limited_total{{endpoint=\"api\",limiter=\"limit-{limiter}\"}} {}",
                limiter + 1
            );
            assert!(out.contains(&series), "{series} in {out}");
        }
        assert!(
            out.contains(r#"gateway_auth_failures_total{reason="token expired"} 2"#),
            "{out}"
        );
        assert!(
            out.contains(r#"gateway_auth_failures_total{reason="bad signature"} 1"#),
            "{out}"
        );
    }

    #[test]
    fn a_route_keeps_its_handles_across_lookups() {
        let metrics = Metrics::new();
        assert!(Arc::ptr_eq(&metrics.route("chat"), &metrics.route("chat")));
        assert_eq!(metrics.unrouted().endpoint(), UNROUTED);
    }
}
