//! The names of the metrics the gateway exports: the contract between the
//! data plane and the generated Prometheus rules and dashboards.
//!
//! The metrics registry (built elsewhere in this crate) must register exactly
//! these families; `routec`'s tests check that every metric used in
//! `generated/prometheus/rules.yml` appears here, and the data plane's tests
//! check that a running gateway exports every name listed here.

/// `http_requests_total{method, endpoint, status}`: counter. `endpoint` is
/// the route name, never the raw path.
pub const HTTP_REQUESTS_TOTAL: &str = "http_requests_total";
/// `http_request_duration_seconds{method, endpoint}`: histogram, 1 ms .. 10 s.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "http_request_duration_seconds";
/// `http_active_connections`: gauge of open client connections.
pub const HTTP_ACTIVE_CONNECTIONS: &str = "http_active_connections";
/// `service_health_status{service_name}`: gauge, 1 when the service has a
/// healthy instance, 0 otherwise.
pub const SERVICE_HEALTH_STATUS: &str = "service_health_status";
/// `service_instance_health_status{service_name, instance}`: gauge, 1/0.
pub const SERVICE_INSTANCE_HEALTH_STATUS: &str = "service_instance_health_status";
/// `service_response_time_seconds{service_name}`: histogram of upstream latency.
pub const SERVICE_RESPONSE_TIME_SECONDS: &str = "service_response_time_seconds";
/// `gateway_table_info{generation, source_sha256}`: info gauge, always 1.
pub const GATEWAY_TABLE_INFO: &str = "gateway_table_info";
/// `gateway_table_reloads_total`: counter of tables loaded after start-up.
pub const GATEWAY_TABLE_RELOADS_TOTAL: &str = "gateway_table_reloads_total";
/// `gateway_table_reload_failures_total`: counter of refused tables.
pub const GATEWAY_TABLE_RELOAD_FAILURES_TOTAL: &str = "gateway_table_reload_failures_total";
/// `gateway_rate_limited_total{endpoint, limiter}`: counter of 429s.
pub const GATEWAY_RATE_LIMITED_TOTAL: &str = "gateway_rate_limited_total";
/// `gateway_auth_failures_total{reason}`: counter of 401/403s.
pub const GATEWAY_AUTH_FAILURES_TOTAL: &str = "gateway_auth_failures_total";
/// `gateway_cache_requests_total{endpoint, result}`: `result` is hit or miss.
pub const GATEWAY_CACHE_REQUESTS_TOTAL: &str = "gateway_cache_requests_total";
/// `gateway_upstream_retries_total{service_name}`: counter.
pub const GATEWAY_UPSTREAM_RETRIES_TOTAL: &str = "gateway_upstream_retries_total";
/// `gateway_upstream_ejections_total{service_name, instance}`: counter.
pub const GATEWAY_UPSTREAM_EJECTIONS_TOTAL: &str = "gateway_upstream_ejections_total";
/// `gateway_rate_limit_store_fallbacks_total{limiter, policy}`: counter of
/// shared rate-limit checks the store did not answer within the budget
/// (slow, refusing or down), decided by the failure policy instead.
pub const GATEWAY_RATE_LIMIT_STORE_FALLBACKS_TOTAL: &str =
    "gateway_rate_limit_store_fallbacks_total";
/// `gateway_rate_limit_store_up{limiter}`: gauge, 1 while the shared rate
/// limit's store answers in time, 0 while the failure policy decides.
pub const GATEWAY_RATE_LIMIT_STORE_UP: &str = "gateway_rate_limit_store_up";
/// `gateway_upstream_connections_open{service_name, instance}`: gauge of
/// the connections open to the instance (idle or carrying a request).
pub const GATEWAY_UPSTREAM_CONNECTIONS_OPEN: &str = "gateway_upstream_connections_open";
/// `gateway_upstream_connections_idle{service_name, instance}`: gauge of
/// the open connections idle in the pool.
pub const GATEWAY_UPSTREAM_CONNECTIONS_IDLE: &str = "gateway_upstream_connections_idle";
/// `gateway_upstream_connections_in_use{service_name, instance}`: gauge of
/// the open connections carrying a request (or a WebSocket tunnel).
pub const GATEWAY_UPSTREAM_CONNECTIONS_IN_USE: &str = "gateway_upstream_connections_in_use";
/// `gateway_upstream_connections_max{service_name, instance}`: gauge, the
/// per-host limit (`max_per_host`) on requests in flight to the instance.
pub const GATEWAY_UPSTREAM_CONNECTIONS_MAX: &str = "gateway_upstream_connections_max";
/// `gateway_upstream_connection_wait_seconds_total{service_name, instance}`:
/// counter of seconds requests waited for a connection (for the connection
/// limits' permits, then for a connect when no idle one was there).
pub const GATEWAY_UPSTREAM_CONNECTION_WAIT_SECONDS_TOTAL: &str =
    "gateway_upstream_connection_wait_seconds_total";
/// `gateway_upstream_connection_waits_total{service_name, instance}`:
/// counter of the requests whose waits the seconds above add up.
pub const GATEWAY_UPSTREAM_CONNECTION_WAITS_TOTAL: &str = "gateway_upstream_connection_waits_total";
/// `gateway_http1_handoffs_total`: counter of HTTP/1.1 client connections
/// the gateway's own fast path handed to hyper's server, at the first
/// request outside its subset (a body, an upgrade, `Connection`, HTTP/1.0,
/// or a head its strict parser does not take).
pub const GATEWAY_HTTP1_HANDOFFS_TOTAL: &str = "gateway_http1_handoffs_total";

/// Every metric family the gateway exports (base names: a histogram `h`
/// also exposes `h_bucket`, `h_sum` and `h_count`).
pub const ALL: &[&str] = &[
    HTTP_REQUESTS_TOTAL,
    HTTP_REQUEST_DURATION_SECONDS,
    HTTP_ACTIVE_CONNECTIONS,
    SERVICE_HEALTH_STATUS,
    SERVICE_INSTANCE_HEALTH_STATUS,
    SERVICE_RESPONSE_TIME_SECONDS,
    GATEWAY_TABLE_INFO,
    GATEWAY_TABLE_RELOADS_TOTAL,
    GATEWAY_TABLE_RELOAD_FAILURES_TOTAL,
    GATEWAY_RATE_LIMITED_TOTAL,
    GATEWAY_AUTH_FAILURES_TOTAL,
    GATEWAY_CACHE_REQUESTS_TOTAL,
    GATEWAY_UPSTREAM_RETRIES_TOTAL,
    GATEWAY_UPSTREAM_EJECTIONS_TOTAL,
    GATEWAY_RATE_LIMIT_STORE_FALLBACKS_TOTAL,
    GATEWAY_RATE_LIMIT_STORE_UP,
    GATEWAY_UPSTREAM_CONNECTIONS_OPEN,
    GATEWAY_UPSTREAM_CONNECTIONS_IDLE,
    GATEWAY_UPSTREAM_CONNECTIONS_IN_USE,
    GATEWAY_UPSTREAM_CONNECTIONS_MAX,
    GATEWAY_UPSTREAM_CONNECTION_WAIT_SECONDS_TOTAL,
    GATEWAY_UPSTREAM_CONNECTION_WAITS_TOTAL,
    GATEWAY_HTTP1_HANDOFFS_TOTAL,
];

/// Whether `series` (a name as it appears in PromQL, possibly with a
/// histogram suffix) is one of [`ALL`].
pub fn is_exported(series: &str) -> bool {
    let base = ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| series.strip_suffix(suffix))
        .filter(|base| ALL.contains(base))
        .unwrap_or(series);
    ALL.contains(&base)
}
