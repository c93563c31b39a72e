//! Prometheus: `prometheus/prometheus.yml` (scrape configs for the gateway,
//! Traefik and every service), `prometheus/rules.yml` (recording rules, and
//! one alerting rule per DSL `alert`, per service for `service_down`) and
//! `prometheus/rules.test.yml` (promtool unit tests: for every alerting rule
//! one input that fires it and one that does not).
//!
//! It owns the PromQL. The metric names are the gateway's (the contract is
//! `dataplane::metric_names`; a workspace test checks every name used here
//! against it). Annotation texts are built here once and used twice: with
//! Prometheus' `{{ $labels.x }}` placeholders in the rules, and expanded in
//! the tests' expected alerts, so the two cannot disagree.

use serde::Serialize;

use super::render::{duration, Renderer};
use super::topology as topo;
use super::{EmitError, Output};
use crate::model::{Alert, AlertKind, Model};

// The gateway's metric families this module queries.
const HTTP_REQUESTS_TOTAL: &str = "http_requests_total";
const HTTP_REQUEST_DURATION_SECONDS: &str = "http_request_duration_seconds";
const SERVICE_HEALTH_STATUS: &str = "service_health_status";
const SERVICE_RESPONSE_TIME_SECONDS: &str = "service_response_time_seconds";
const GATEWAY_TABLE_RELOAD_FAILURES_TOTAL: &str = "gateway_table_reload_failures_total";
const GATEWAY_RATE_LIMITED_TOTAL: &str = "gateway_rate_limited_total";
const GATEWAY_RATE_LIMIT_STORE_UP: &str = "gateway_rate_limit_store_up";
const GATEWAY_UPSTREAM_CONNECTIONS_IN_USE: &str = "gateway_upstream_connections_in_use";
const GATEWAY_UPSTREAM_CONNECTIONS_MAX: &str = "gateway_upstream_connections_max";

/// The range of every `rate()`: a few scrapes at 15 s, short enough to react.
const RATE_WINDOW_MS: u64 = 300_000;
const SCRAPE_INTERVAL_MS: u64 = 15_000;
/// The tests' sample spacing.
const TEST_INTERVAL_MS: u64 = 60_000;

pub fn emit(model: &Model, renderer: &Renderer) -> Result<Vec<Output>, EmitError> {
    let alerts = alerting_rules(model);
    let rules = RulesView {
        groups: vec![
            Group {
                name: format!("{}-recording", model.platform.name),
                rules: recording_rules(),
            },
            Group {
                name: format!("{}-alerts", model.platform.name),
                rules: alerts.iter().map(|a| a.rule.clone()).collect(),
            },
        ]
        .into_iter()
        .filter(|g| !g.rules.is_empty())
        .collect(),
    };
    let tests = TestsView {
        evaluation_interval: duration(TEST_INTERVAL_MS),
        tests: alerts.iter().flat_map(|a| a.tests.clone()).collect(),
    };
    Ok(vec![
        renderer.output("prometheus/prometheus.yml", model, &ScrapeView::new(model))?,
        renderer.output("prometheus/rules.yml", model, &rules)?,
        renderer.output("prometheus/rules.test.yml", model, &tests)?,
    ])
}

// ------------------------------------------------------------ scrape ----

#[derive(Serialize)]
struct ScrapeView {
    scrape_interval: String,
    platform: String,
    jobs: Vec<ScrapeJob>,
}

#[derive(Serialize)]
struct ScrapeJob {
    name: String,
    metrics_path: &'static str,
    targets: Vec<String>,
    /// Extra target labels, e.g. `service_name`.
    labels: Vec<(String, String)>,
}

impl ScrapeView {
    fn new(model: &Model) -> Self {
        let mut jobs = vec![
            ScrapeJob {
                name: topo::GATEWAY_CONTAINER.into(),
                metrics_path: topo::METRICS_PATH,
                // The admin listener: metrics stay off the routed port.
                // Every replica, each scraped on its own.
                targets: topo::gateway_containers(model)
                    .iter()
                    .map(|c| format!("{c}:{}", topo::GATEWAY_ADMIN_PORT))
                    .collect(),
                labels: vec![],
            },
            ScrapeJob {
                name: topo::TRAEFIK_CONTAINER.into(),
                metrics_path: topo::METRICS_PATH,
                targets: vec![format!(
                    "{}:{}",
                    topo::TRAEFIK_CONTAINER,
                    topo::TRAEFIK_METRICS_PORT
                )],
                labels: vec![],
            },
        ];
        for service in &model.services {
            jobs.push(ScrapeJob {
                name: service.name.clone(),
                metrics_path: topo::METRICS_PATH,
                targets: service.instances.iter().map(|i| i.to_string()).collect(),
                labels: vec![("service_name".into(), service.name.clone())],
            });
        }
        Self {
            scrape_interval: duration(SCRAPE_INTERVAL_MS),
            platform: model.platform.name.clone(),
            jobs,
        }
    }
}

// ------------------------------------------------------------- rules ----

#[derive(Serialize)]
struct RulesView {
    groups: Vec<Group>,
}

#[derive(Serialize)]
struct Group {
    name: String,
    rules: Vec<Rule>,
}

/// A recording rule (`record` set) or an alerting rule (`alert` set).
#[derive(Serialize, Clone, Default)]
struct Rule {
    record: Option<String>,
    alert: Option<String>,
    expr: String,
    #[serde(rename = "for")]
    for_: Option<String>,
    labels: Vec<(String, String)>,
    annotations: Vec<(String, String)>,
}

fn rate(selector: &str) -> String {
    format!("rate({selector}[{}])", duration(RATE_WINDOW_MS))
}

/// A PromQL string literal (JSON's escapes are a subset of PromQL's).
fn promql_string(value: &str) -> String {
    serde_json::Value::String(value.to_string()).to_string()
}

fn five_xx() -> String {
    format!("{HTTP_REQUESTS_TOTAL}{{status=~\"5..\"}}")
}

fn quantile_expr(q: f64, by: &str, histogram: &str) -> String {
    format!(
        "histogram_quantile({q}, sum by (le, {by}) ({}))",
        rate(&format!("{histogram}_bucket"))
    )
}

/// Rates, ratios and quantiles per endpoint and service, for dashboards.
fn recording_rules() -> Vec<Rule> {
    let record = |name: &str, expr: String| Rule {
        record: Some(name.into()),
        expr,
        ..Rule::default()
    };
    vec![
        record(
            "endpoint:http_requests:rate5m",
            format!("sum by (endpoint) ({})", rate(HTTP_REQUESTS_TOTAL)),
        ),
        record(
            "endpoint:http_requests_5xx:ratio_rate5m",
            format!(
                "sum by (endpoint) ({}) / sum by (endpoint) ({})",
                rate(&five_xx()),
                rate(HTTP_REQUESTS_TOTAL)
            ),
        ),
        record(
            "endpoint:http_request_duration_seconds:p50_rate5m",
            quantile_expr(0.5, "endpoint", HTTP_REQUEST_DURATION_SECONDS),
        ),
        record(
            "endpoint:http_request_duration_seconds:p99_rate5m",
            quantile_expr(0.99, "endpoint", HTTP_REQUEST_DURATION_SECONDS),
        ),
        record(
            "service_name:service_response_time_seconds:p99_rate5m",
            quantile_expr(0.99, "service_name", SERVICE_RESPONSE_TIME_SECONDS),
        ),
        record(
            "endpoint:gateway_rate_limited:rate5m",
            format!(
                "sum by (endpoint, limiter) ({})",
                rate(GATEWAY_RATE_LIMITED_TOTAL)
            ),
        ),
    ]
}

/// An alerting rule and its two promtool tests.
struct AlertWithTests {
    rule: Rule,
    tests: Vec<UnitTest>,
}

/// Labels that a scraped gateway series carries, used in the tests' inputs
/// so that expected alerts show what a real alert would.
fn gateway_target_labels() -> Vec<(String, String)> {
    vec![
        ("instance".into(), gateway_admin_address()),
        ("job".into(), topo::GATEWAY_CONTAINER.into()),
    ]
}

fn gateway_admin_address() -> String {
    format!("{}:{}", topo::GATEWAY_CONTAINER, topo::GATEWAY_ADMIN_PORT)
}

fn alerting_rules(model: &Model) -> Vec<AlertWithTests> {
    let mut out = Vec::new();
    for alert in &model.alerts {
        match alert.kind {
            AlertKind::ServiceDown => {
                if let Some(service) = model.services.iter().find(|s| s.behind_gateway()) {
                    out.push(service_down(alert, &service.name));
                }
            }
            AlertKind::ScrapeDown => {
                out.push(scrape_target_down(alert));
                out.push(scrape_target_missing(alert));
            }
            AlertKind::ErrorRatio => out.push(error_ratio(model, alert)),
            AlertKind::Latency => out.push(latency(model, alert)),
            AlertKind::ReloadFailures => out.push(reload_failures(alert)),
            AlertKind::RateLimitSpike => out.push(rate_limit_spike(model, alert)),
            AlertKind::RateLimitStoreDown => out.push(rate_limit_store_down(alert)),
            AlertKind::UpstreamPoolExhausted => {
                if let Some(service) = model.services.iter().find(|s| s.behind_gateway()) {
                    out.push(upstream_pool_exhausted(alert, service));
                }
            }
        }
    }
    out
}

/// What the annotations of one alert say, in terms of its labels: `label`
/// returns a placeholder in the rule and the value in a test.
type Annotate = fn(&Alert, &dyn Fn(&str) -> String) -> (String, String);

/// Builds the rule and its fire/quiet tests from the parts that differ per
/// kind. `fired_labels` are the labels of the alert the firing input
/// produces (the rule's own labels are added).
struct AlertSpec<'a> {
    name: &'static str,
    alert: &'a Alert,
    expr: String,
    rule_labels: Vec<(String, String)>,
    annotate: Annotate,
    firing: Vec<InputSeries>,
    quiet: Vec<InputSeries>,
    fired_labels: Vec<(String, String)>,
    eval_after_ms: u64,
}

impl AlertSpec<'_> {
    fn build(self) -> AlertWithTests {
        let mut labels = vec![("severity".to_string(), self.alert.severity.clone())];
        labels.extend(self.rule_labels.iter().cloned());
        let (summary, description) =
            (self.annotate)(self.alert, &|label| format!("{{{{ $labels.{label} }}}}"));
        let rule = Rule {
            alert: Some(self.name.into()),
            expr: self.expr,
            for_: Some(duration(self.alert.for_ms)),
            labels: labels.clone(),
            annotations: vec![
                ("summary".into(), summary),
                ("description".into(), description),
            ],
            ..Rule::default()
        };

        let mut expected_labels = self.fired_labels.clone();
        expected_labels.extend(labels);
        expected_labels.sort();
        expected_labels.dedup();
        let lookup = |label: &str| {
            expected_labels
                .iter()
                .find(|(k, _)| k == label)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let (summary, description) = (self.annotate)(self.alert, &lookup);
        let eval_time = duration(self.eval_after_ms);
        let subject = self
            .rule_labels
            .iter()
            .map(|(_, v)| format!(" ({v})"))
            .collect::<String>();
        let tests = vec![
            UnitTest {
                name: format!("{}{subject} fires", self.name),
                input_series: self.firing,
                eval_time: eval_time.clone(),
                alertname: self.name.into(),
                exp_alerts: vec![ExpectedAlert {
                    exp_labels: expected_labels.clone(),
                    exp_annotations: vec![
                        ("description".into(), description),
                        ("summary".into(), summary),
                    ],
                }],
            },
            UnitTest {
                name: format!("{}{subject} stays quiet", self.name),
                input_series: self.quiet,
                eval_time,
                alertname: self.name.into(),
                exp_alerts: vec![],
            },
        ];
        AlertWithTests { rule, tests }
    }
}

/// How far into a test the alert is evaluated: past its `for` and a full
/// rate window, in whole test intervals.
fn eval_after(alert: &Alert) -> u64 {
    let wanted = alert.for_ms + RATE_WINDOW_MS + TEST_INTERVAL_MS;
    wanted.div_ceil(TEST_INTERVAL_MS) * TEST_INTERVAL_MS
}

/// Enough samples to cover `eval_after_ms`, with a margin.
fn samples(eval_after_ms: u64) -> u64 {
    eval_after_ms / TEST_INTERVAL_MS + 5
}

/// `0+{step}x{n}`: a counter growing by `step` per test interval.
fn counter(step: u64, eval_after_ms: u64) -> String {
    format!("0+{step}x{}", samples(eval_after_ms))
}

/// `{value}x{n}`: a constant.
fn constant(value: u64, eval_after_ms: u64) -> String {
    format!("{value}x{}", samples(eval_after_ms))
}

fn series(name: &str, labels: &[(String, String)], values: String) -> InputSeries {
    let labels: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", promql_string(v)))
        .collect();
    InputSeries {
        series: format!("{name}{{{}}}", labels.join(",")),
        values,
    }
}

/// One rule for every service behind the gateway, across the gateway's
/// replicas: a service is down when no replica has a healthy instance of
/// it (the maximum over the replicas is 0), not when one replica lost it.
/// `service` is the tests' example.
fn service_down(alert: &Alert, service: &str) -> AlertWithTests {
    let at = eval_after(alert);
    let on = |replica: &str| {
        vec![
            (
                "instance".to_string(),
                format!("{replica}:{}", topo::GATEWAY_ADMIN_PORT),
            ),
            ("job".to_string(), topo::GATEWAY_CONTAINER.to_string()),
            ("service_name".to_string(), service.to_string()),
        ]
    };
    let (first, second) = ("gateway-1", "gateway-2");
    AlertSpec {
        name: "ServiceDown",
        alert,
        expr: format!("max by (service_name) ({SERVICE_HEALTH_STATUS}) == 0"),
        rule_labels: vec![],
        annotate: |alert, label| {
            let service = label("service_name");
            (
                format!("Service {service} is down"),
                format!(
                    "No gateway replica has had a healthy instance of {service} for {}.",
                    duration(alert.for_ms)
                ),
            )
        },
        firing: vec![
            series(SERVICE_HEALTH_STATUS, &on(first), constant(0, at)),
            series(SERVICE_HEALTH_STATUS, &on(second), constant(0, at)),
        ],
        // One replica still reaches the service: not down.
        quiet: vec![
            series(SERVICE_HEALTH_STATUS, &on(first), constant(0, at)),
            series(SERVICE_HEALTH_STATUS, &on(second), constant(1, at)),
        ],
        fired_labels: vec![("service_name".into(), service.into())],
        eval_after_ms: at,
    }
    .build()
}

/// The jobs whose targets must be scraped: every gateway replica, Traefik.
fn scraped_jobs() -> String {
    format!("{}|{}", topo::GATEWAY_CONTAINER, topo::TRAEFIK_CONTAINER)
}

/// A gateway replica or Traefik that Prometheus scrapes and gets no answer
/// from (`up == 0`), one alert per target.
fn scrape_target_down(alert: &Alert) -> AlertWithTests {
    let at = eval_after(alert);
    let target = |up: u64| {
        series(
            "up",
            &[
                (
                    "instance".into(),
                    format!("gateway-2:{}", topo::GATEWAY_ADMIN_PORT),
                ),
                ("job".into(), topo::GATEWAY_CONTAINER.into()),
            ],
            constant(up, at),
        )
    };
    AlertSpec {
        name: "ScrapeTargetDown",
        alert,
        expr: format!("up{{job=~{}}} == 0", promql_string(&scraped_jobs())),
        rule_labels: vec![],
        annotate: |alert, label| {
            (
                format!(
                    "{} {} is not answering scrapes",
                    label("job"),
                    label("instance")
                ),
                format!(
                    "Prometheus has not scraped {} for {}: the container is down or its \
                     metrics listener is unreachable.",
                    label("instance"),
                    duration(alert.for_ms)
                ),
            )
        },
        firing: vec![target(0)],
        quiet: vec![target(1)],
        fired_labels: vec![
            (
                "instance".into(),
                format!("gateway-2:{}", topo::GATEWAY_ADMIN_PORT),
            ),
            ("job".into(), topo::GATEWAY_CONTAINER.into()),
        ],
        eval_after_ms: at,
    }
    .build()
}

/// A job with no target scraped at all (`absent(up)`): every gateway
/// replica gone from service discovery, or Traefik's.
fn scrape_target_missing(alert: &Alert) -> AlertWithTests {
    let at = eval_after(alert);
    let up = |job: &str| {
        series(
            "up",
            &[
                ("instance".into(), format!("{job}:1")),
                ("job".into(), job.into()),
            ],
            constant(1, at),
        )
    };
    AlertSpec {
        name: "ScrapeTargetMissing",
        alert,
        expr: format!(
            "absent(up{{job={}}}) or absent(up{{job={}}})",
            promql_string(topo::GATEWAY_CONTAINER),
            promql_string(topo::TRAEFIK_CONTAINER)
        ),
        rule_labels: vec![],
        annotate: |alert, label| {
            (
                format!("No {} target is scraped", label("job")),
                format!(
                    "Prometheus has had no {} target for {}.",
                    label("job"),
                    duration(alert.for_ms)
                ),
            )
        },
        firing: vec![up(topo::TRAEFIK_CONTAINER)],
        quiet: vec![up(topo::TRAEFIK_CONTAINER), up(topo::GATEWAY_CONTAINER)],
        fired_labels: vec![("job".into(), topo::GATEWAY_CONTAINER.into())],
        eval_after_ms: at,
    }
    .build()
}

/// An endpoint name for test inputs: the gateway's first route, if any.
fn test_endpoint(model: &Model) -> String {
    model
        .gateway_routes
        .first()
        .map(|r| r.name.clone())
        .unwrap_or_else(|| "example".into())
}

fn request_labels(model: &Model, status: &str) -> Vec<(String, String)> {
    let mut labels = gateway_target_labels();
    labels.push(("endpoint".into(), test_endpoint(model)));
    labels.push(("method".into(), "GET".into()));
    labels.push(("status".into(), status.into()));
    labels
}

fn error_ratio(model: &Model, alert: &Alert) -> AlertWithTests {
    let threshold = alert.threshold.unwrap_or(0.05);
    let at = eval_after(alert);
    let errors = request_labels(model, "500");
    let successes = request_labels(model, "200");
    // Quiet: one error per `ok` successes keeps the ratio at half the
    // threshold or less.
    let ok = (2.0 / threshold).ceil() as u64;
    AlertSpec {
        name: "GatewayErrorRatioHigh",
        alert,
        expr: format!(
            "sum({}) / sum({}) > {threshold}",
            rate(&five_xx()),
            rate(HTTP_REQUESTS_TOTAL)
        ),
        rule_labels: vec![],
        annotate: |alert, _| {
            let percent = percent(alert.threshold.unwrap_or(0.05));
            (
                format!("Gateway 5xx ratio above {percent}%"),
                format!(
                    "More than {percent}% of the gateway's responses over the last {} were \
                     5xx, for {}.",
                    duration(RATE_WINDOW_MS),
                    duration(alert.for_ms)
                ),
            )
        },
        firing: vec![
            series(HTTP_REQUESTS_TOTAL, &errors, counter(1, at)),
            series(HTTP_REQUESTS_TOTAL, &successes, counter(0, at)),
        ],
        quiet: vec![
            series(HTTP_REQUESTS_TOTAL, &errors, counter(1, at)),
            series(HTTP_REQUESTS_TOTAL, &successes, counter(ok, at)),
        ],
        fired_labels: vec![],
        eval_after_ms: at,
    }
    .build()
}

/// `0.05` as `5`, without float noise (`5.000000000000001`).
fn percent(fraction: f64) -> String {
    let p = (fraction * 100.0 * 1e6).round() / 1e6;
    format!("{p}")
}

fn latency(model: &Model, alert: &Alert) -> AlertWithTests {
    let threshold = alert.threshold.unwrap_or(1.0);
    let q = alert.quantile.unwrap_or(0.99);
    let at = eval_after(alert);
    let endpoint = test_endpoint(model);
    let bucket = |le: String| {
        let mut labels = request_labels(model, "200");
        labels.retain(|(k, _)| k != "status");
        labels.push(("le".into(), le));
        labels
    };
    let name = format!("{HTTP_REQUEST_DURATION_SECONDS}_bucket");
    // Buckets at half and twice the threshold: all requests in the first
    // keep the quantile below it; all beyond the second put it above.
    let (low, high, inf) = (
        bucket(format!("{}", threshold / 2.0)),
        bucket(format!("{}", threshold * 2.0)),
        bucket("+Inf".into()),
    );
    AlertSpec {
        name: "GatewayLatencyHigh",
        alert,
        expr: format!(
            "{} > {threshold}",
            quantile_expr(q, "endpoint", HTTP_REQUEST_DURATION_SECONDS)
        ),
        rule_labels: vec![],
        annotate: |alert, label| {
            let q = alert.quantile.unwrap_or(0.99);
            let threshold = alert.threshold.unwrap_or(1.0);
            (
                format!("Latency of {} above {threshold}s", label("endpoint")),
                format!(
                    "The {q} quantile of request duration on endpoint {} has been above \
                     {threshold}s for {}.",
                    label("endpoint"),
                    duration(alert.for_ms)
                ),
            )
        },
        firing: vec![
            series(&name, &low, constant(0, at)),
            series(&name, &high, constant(0, at)),
            series(&name, &inf, counter(10, at)),
        ],
        quiet: vec![
            series(&name, &low, counter(10, at)),
            series(&name, &high, counter(10, at)),
            series(&name, &inf, counter(10, at)),
        ],
        fired_labels: vec![("endpoint".into(), endpoint)],
        eval_after_ms: at,
    }
    .build()
}

fn reload_failures(alert: &Alert) -> AlertWithTests {
    // The window outlasts `for`, so a single refused table keeps the
    // condition true long enough to fire.
    let window = alert.for_ms + RATE_WINDOW_MS;
    let at = (alert.for_ms + 2 * TEST_INTERVAL_MS).div_ceil(TEST_INTERVAL_MS) * TEST_INTERVAL_MS;
    let labels = gateway_target_labels();
    AlertSpec {
        name: "RouteTableReloadFailed",
        alert,
        // Summed over the replicas: they read the same file, so one bad
        // table is one alert, not one per replica.
        expr: format!(
            "sum(increase({GATEWAY_TABLE_RELOAD_FAILURES_TOTAL}[{}])) > 0",
            duration(window)
        ),
        rule_labels: vec![],
        annotate: |_, _| {
            (
                "A gateway replica refused a new route table".to_string(),
                "The replicas that refused it keep serving their previous table; run \
                 `routec build --check` and read the gateways' logs for the reason."
                    .to_string(),
            )
        },
        // One refused table one interval in.
        firing: vec![series(
            GATEWAY_TABLE_RELOAD_FAILURES_TOTAL,
            &labels,
            format!("0 1x{}", samples(at)),
        )],
        quiet: vec![series(
            GATEWAY_TABLE_RELOAD_FAILURES_TOTAL,
            &labels,
            constant(0, at),
        )],
        fired_labels: vec![],
        eval_after_ms: at,
    }
    .build()
}

fn rate_limit_spike(model: &Model, alert: &Alert) -> AlertWithTests {
    let threshold = alert.threshold.unwrap_or(50.0);
    let at = eval_after(alert);
    let per_interval = threshold * (TEST_INTERVAL_MS as f64 / 1000.0);
    let mut labels = gateway_target_labels();
    labels.push(("endpoint".into(), test_endpoint(model)));
    labels.push(("limiter".into(), "per-ip".into()));
    AlertSpec {
        name: "RateLimitSpike",
        alert,
        expr: format!("sum({}) > {threshold}", rate(GATEWAY_RATE_LIMITED_TOTAL)),
        rule_labels: vec![],
        annotate: |alert, _| {
            let threshold = alert.threshold.unwrap_or(50.0);
            (
                format!("Gateway rate limiting above {threshold}/s"),
                format!(
                    "The gateway has answered more than {threshold} requests per second with \
                     429 for {}: an attack, or a limit set too low.",
                    duration(alert.for_ms)
                ),
            )
        },
        firing: vec![series(
            GATEWAY_RATE_LIMITED_TOTAL,
            &labels,
            counter((per_interval * 2.0).ceil() as u64, at),
        )],
        quiet: vec![series(
            GATEWAY_RATE_LIMITED_TOTAL,
            &labels,
            counter((per_interval / 2.0).floor() as u64, at),
        )],
        fired_labels: vec![],
        eval_after_ms: at,
    }
    .build()
}

/// Any replica whose checks of a shared limit its store misses: the
/// minimum over the replicas, per limiter, so N replicas make one alert.
fn rate_limit_store_down(alert: &Alert) -> AlertWithTests {
    let at = eval_after(alert);
    let mut labels = gateway_target_labels();
    labels.push(("limiter".into(), "per-ip".into()));
    AlertSpec {
        name: "RateLimitStoreDown",
        alert,
        expr: format!("min by (limiter) ({GATEWAY_RATE_LIMIT_STORE_UP}) == 0"),
        rule_labels: vec![],
        annotate: |alert, label| {
            (
                format!("Rate limit {} is not shared", label("limiter")),
                format!(
                    "A gateway replica's checks of this shared limit have missed the \
                     rate-limit store (Redis slow, refusing or down) for {}: its failure \
                     policy decides instead (gateway_rate_limit_store_fallbacks_total).",
                    duration(alert.for_ms)
                ),
            )
        },
        firing: vec![series(
            GATEWAY_RATE_LIMIT_STORE_UP,
            &labels,
            constant(0, at),
        )],
        quiet: vec![series(
            GATEWAY_RATE_LIMIT_STORE_UP,
            &labels,
            constant(1, at),
        )],
        fired_labels: vec![("limiter".into(), "per-ip".into())],
        eval_after_ms: at,
    }
    .build()
}

/// A service of which some instance, on some gateway replica, has every
/// connection its per-host limit allows in use: requests to it queue for a
/// connection. The maximum over replicas and instances of in-use over the
/// limit, per service, so N replicas (and M instances) make one alert.
/// The pool's own `instance` label reaches Prometheus as
/// `exported_instance` (the scrape's `instance` is the replica); the alert
/// is per service, and the pool dashboards tell the instance.
fn upstream_pool_exhausted(alert: &Alert, service: &crate::model::Service) -> AlertWithTests {
    let at = eval_after(alert);
    let upstream = service.instances.first().map_or_else(
        || format!("{}:{}", service.name, service.port),
        |i| i.to_string(),
    );
    let on = |replica: &str| {
        vec![
            ("exported_instance".to_string(), upstream.clone()),
            (
                "instance".to_string(),
                format!("{replica}:{}", topo::GATEWAY_ADMIN_PORT),
            ),
            ("job".to_string(), topo::GATEWAY_CONTAINER.to_string()),
            ("service_name".to_string(), service.name.clone()),
        ]
    };
    // The limit is 16 in these tests; an exhausted pool has 16 in use.
    let pool = |replica: &str, in_use: u64| {
        [
            series(
                GATEWAY_UPSTREAM_CONNECTIONS_IN_USE,
                &on(replica),
                constant(in_use, at),
            ),
            series(
                GATEWAY_UPSTREAM_CONNECTIONS_MAX,
                &on(replica),
                constant(16, at),
            ),
        ]
    };
    let (first, second) = ("gateway-1", "gateway-2");
    AlertSpec {
        name: "UpstreamPoolExhausted",
        alert,
        expr: format!(
            "max by (service_name) ({GATEWAY_UPSTREAM_CONNECTIONS_IN_USE} \
             / {GATEWAY_UPSTREAM_CONNECTIONS_MAX}) >= 1"
        ),
        rule_labels: vec![],
        annotate: |alert, label| {
            let service = label("service_name");
            (
                format!("Upstream pool of {service} exhausted"),
                format!(
                    "On a gateway replica, an instance of {service} has had every connection \
                     its per-host limit allows in use for {}: requests queue for a connection \
                     (gateway_upstream_connection_wait_seconds_total). Raise the gateway's \
                     max_per_host, add instances, or find what makes them slow.",
                    duration(alert.for_ms)
                ),
            )
        },
        // One replica's pool full is enough: its requests wait.
        firing: [pool(first, 16), pool(second, 3)].concat(),
        // Busy but with room on every replica: not exhausted.
        quiet: [pool(first, 15), pool(second, 3)].concat(),
        fired_labels: vec![("service_name".into(), service.name.clone())],
        eval_after_ms: at,
    }
    .build()
}

// ------------------------------------------------------------- tests ----

#[derive(Serialize)]
struct TestsView {
    evaluation_interval: String,
    tests: Vec<UnitTest>,
}

#[derive(Serialize, Clone)]
struct UnitTest {
    name: String,
    input_series: Vec<InputSeries>,
    eval_time: String,
    alertname: String,
    exp_alerts: Vec<ExpectedAlert>,
}

#[derive(Serialize, Clone)]
struct InputSeries {
    series: String,
    values: String,
}

#[derive(Serialize, Clone)]
struct ExpectedAlert {
    exp_labels: Vec<(String, String)>,
    exp_annotations: Vec<(String, String)>,
}
