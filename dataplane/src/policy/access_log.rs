//! The access log and the audit log (`access_log` in the DSL): one JSON
//! line per request on the tracing target [`ACCESS_TARGET`], and with
//! `audit true` one more line on [`AUDIT_TARGET`] for every request a
//! middleware refused. A line holds the time, request id, client IP,
//! method, normalized path (never the query, which may carry secrets),
//! route, service, instance, status, body bytes, upstream and total
//! latency, the verified user, the cache outcome and the routing decision:
//! which route won, and which middleware answered the request and why. It
//! never holds a header value, so no token, cookie or key reaches the log.
//!
//! The step logs every request that entered its chain, wherever it sits in
//! it ([`Middleware::on_complete`]). A line is written when the response
//! body has been sent (or abandoned by the client); `total_ms` runs until
//! then. Formatting and writing are [`json_layer`]'s, which the binary
//! puts behind a non-blocking writer so a slow log never slows requests.

use crate::body::{BodyObserver, GatewayBody};
use crate::middleware::{Middleware, RequestCtx};
use bytes::Bytes;
use http::{HeaderValue, Method, Response};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tracing::Subscriber;
use tracing_subscriber::filter::{filter_fn, FilterFn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// The tracing target of access lines.
pub const ACCESS_TARGET: &str = "access";
/// The tracing target of audit lines.
pub const AUDIT_TARGET: &str = "audit";

/// Whether an event is an access or audit line (the binary keeps them
/// out of its human-readable log).
pub fn is_log_line(metadata: &tracing::Metadata<'_>) -> bool {
    matches!(metadata.target(), ACCESS_TARGET | AUDIT_TARGET)
}

/// The JSON formatting of access and audit lines: one object per line,
/// the event's fields at the top level next to `timestamp`, `level` and
/// `target`.
pub fn json_layer<S, W>(
    writer: W,
) -> tracing_subscriber::filter::Filtered<impl Layer<S>, FilterFn, S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_ansi(false)
        .with_writer(writer)
        .with_filter(filter_fn(is_log_line))
}

/// A prepared access log step.
pub struct AccessLog {
    audit: bool,
}

impl AccessLog {
    pub fn new(audit: bool) -> Self {
        Self { audit }
    }
}

/// Everything a line says but the bytes and the total time.
struct Record {
    request_id: HeaderValue,
    client_ip: IpAddr,
    method: Method,
    path: String,
    route: String,
    service: String,
    instance: Option<String>,
    status: u16,
    upstream_ms: Option<f64>,
    user: Option<std::sync::Arc<str>>,
    stopped_by: Option<std::sync::Arc<str>>,
    reason: Option<&'static str>,
    cache: Option<HeaderValue>,
    started: Instant,
    audit: bool,
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

impl Record {
    fn emit(&self, bytes: u64, complete: bool) {
        let request_id = self.request_id.to_str().unwrap_or_default();
        let decision = if self.stopped_by.is_some() {
            "answered_by_middleware"
        } else if self.upstream_ms.is_some() {
            "forwarded"
        } else {
            "not_forwarded"
        };
        let stopped_by = self.stopped_by.as_deref();
        let user = self.user.as_deref();
        let cache = self.cache.as_ref().and_then(|v| v.to_str().ok());
        let total_ms = millis(self.started.elapsed());
        tracing::info!(
            target: ACCESS_TARGET,
            request_id,
            client_ip = %self.client_ip,
            method = self.method.as_str(),
            path = self.path.as_str(),
            route = self.route.as_str(),
            service = self.service.as_str(),
            instance = self.instance.as_deref(),
            status = self.status,
            bytes,
            complete,
            upstream_ms = self.upstream_ms,
            total_ms,
            user,
            cache,
            decision,
            stopped_by,
            reason = self.reason,
            "request"
        );
        if self.audit && self.status >= 400 && stopped_by.is_some() {
            tracing::warn!(
                target: AUDIT_TARGET,
                request_id,
                client_ip = %self.client_ip,
                method = self.method.as_str(),
                path = self.path.as_str(),
                route = self.route.as_str(),
                status = self.status,
                user,
                stopped_by,
                reason = self.reason,
                "request refused"
            );
        }
    }
}

impl Middleware for AccessLog {
    fn on_complete(&self, ctx: &mut RequestCtx<'_>, response: &mut Response<GatewayBody>) {
        let record = Record {
            request_id: ctx.request_id.clone(),
            client_ip: ctx.client_ip,
            method: ctx.method.clone(),
            path: ctx.path.to_owned(),
            route: ctx.route.to_owned(),
            service: ctx.service.to_owned(),
            instance: ctx.upstream.and_then(|u| u.instance).map(str::to_owned),
            status: response.status().as_u16(),
            upstream_ms: ctx.upstream.map(|u| millis(u.latency)),
            user: ctx.user.clone(),
            stopped_by: ctx.stopped.as_ref().map(|s| s.middleware.clone()),
            reason: ctx.stopped.as_ref().map(|s| s.reason),
            cache: response
                .headers()
                .get(super::cache::X_CACHE.as_str())
                .cloned(),
            started: ctx.started,
            audit: self.audit,
        };
        let body = std::mem::replace(response.body_mut(), GatewayBody::empty());
        *response.body_mut() = body.observe(Counted { bytes: 0, record });
    }
}

/// Counts the body's bytes and writes the line at its end.
struct Counted {
    bytes: u64,
    record: Record,
}

impl BodyObserver for Counted {
    fn on_data(&mut self, data: &Bytes) {
        self.bytes += data.len() as u64;
    }

    fn on_end(&mut self, complete: bool) {
        self.record.emit(self.bytes, complete);
    }
}
