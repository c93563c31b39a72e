//! The upstream pools' series in `/metrics`: per instance (`service_name`,
//! `instance` as `host:port`), the connections open, idle and in use, the
//! per-host limit, and the seconds requests waited for a connection with
//! the count of those requests.
//!
//! The pools count in their own atomics as requests pass; this module never
//! sees a pool, and the request path never sees this module. A scrape hands
//! [`Metrics::render`](crate::metrics::Metrics::render) plain
//! [`PoolReading`]s (the admin scrape reads them from the serving table),
//! and [`PoolCollector`] encodes those. The counters are the pools' own
//! running totals, so they are encoded as read rather than kept twice; a
//! pool made anew (new pool settings) starts again from zero, which
//! Prometheus reads as a counter reset.

use crate::metric_names as names;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use std::sync::{Arc, Mutex};

/// One instance's pool at a scrape, in plain numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PoolReading {
    pub open: u64,
    pub idle: u64,
    pub in_use: u64,
    /// The per-host limit; `None` for a pool without one.
    pub max: Option<u64>,
    /// Requests that took a connection, and their waits' sum.
    pub waits: u64,
    pub wait_seconds: f64,
}

/// One series' labels and reading.
#[derive(Debug)]
pub(crate) struct PoolSeries {
    pub service_name: Arc<String>,
    pub instance: String,
    pub reading: PoolReading,
}

/// Encodes the readings of the latest scrape; registered once with the
/// gateway's registry, refilled by each scrape before it encodes.
#[derive(Debug, Clone, Default)]
pub(crate) struct PoolCollector {
    series: Arc<Mutex<Vec<PoolSeries>>>,
}

impl PoolCollector {
    /// Replaces the readings (instances gone from the table go too).
    pub fn set(&self, series: Vec<PoolSeries>) {
        *self.series.lock().unwrap_or_else(|e| e.into_inner()) = series;
    }
}

enum Value {
    Gauge(u64),
    Counter(u64),
    Seconds(f64),
}

type Read = fn(&PoolReading) -> Option<Value>;

/// Each family: its name, help and how a reading gives its value.
const FAMILIES: [(&str, &str, MetricType, Read); 6] = [
    (
        names::GATEWAY_UPSTREAM_CONNECTIONS_OPEN,
        "Connections open to an upstream instance, idle or carrying a request",
        MetricType::Gauge,
        |r| Some(Value::Gauge(r.open)),
    ),
    (
        names::GATEWAY_UPSTREAM_CONNECTIONS_IDLE,
        "Open connections to an upstream instance idle in the pool",
        MetricType::Gauge,
        |r| Some(Value::Gauge(r.idle)),
    ),
    (
        names::GATEWAY_UPSTREAM_CONNECTIONS_IN_USE,
        "Open connections to an upstream instance carrying a request or a tunnel",
        MetricType::Gauge,
        |r| Some(Value::Gauge(r.in_use)),
    ),
    (
        names::GATEWAY_UPSTREAM_CONNECTIONS_MAX,
        "The per-host limit on requests in flight to an upstream instance (max_per_host)",
        MetricType::Gauge,
        |r| r.max.map(Value::Gauge),
    ),
    (
        names::GATEWAY_UPSTREAM_CONNECTION_WAIT_SECONDS_TOTAL,
        "Seconds requests waited for a connection to an upstream instance: for the connection limits, then for a connect when no idle one was there",
        MetricType::Counter,
        |r| Some(Value::Seconds(r.wait_seconds)),
    ),
    (
        names::GATEWAY_UPSTREAM_CONNECTION_WAITS_TOTAL,
        "Requests that took a connection to an upstream instance (the count of the waits summed in gateway_upstream_connection_wait_seconds_total)",
        MetricType::Counter,
        |r| Some(Value::Counter(r.waits)),
    ),
];

impl Collector for PoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        for (name, help, metric_type, read) in FAMILIES {
            // prometheus-client appends `_total` to counters itself.
            let name = name.strip_suffix("_total").unwrap_or(name);
            let mut family = encoder.encode_descriptor(name, help, None, metric_type)?;
            for s in series.iter() {
                let Some(value) = read(&s.reading) else {
                    continue;
                };
                let labels = [
                    ("service_name", s.service_name.as_str()),
                    ("instance", s.instance.as_str()),
                ];
                let mut metric = family.encode_family(&labels)?;
                match value {
                    Value::Gauge(v) => metric.encode_gauge(&v)?,
                    Value::Counter(v) => metric.encode_counter::<NoLabelSet, _, u64>(&v, None)?,
                    Value::Seconds(v) => metric.encode_counter::<NoLabelSet, _, u64>(&v, None)?,
                }
            }
        }
        Ok(())
    }
}
