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
//! then. Formatting and writing are [`crate::logging`]'s.

use crate::body::{BodyObserver, GatewayBody};
use crate::chain::{CacheOutcome, Middleware, RequestCtx};
use crate::forwarding::IpText;
use crate::logging::{ACCESS_TARGET, AUDIT_TARGET};
use bytes::Bytes;
use http::{HeaderValue, Method, Response};
use std::net::IpAddr;
use std::time::{Duration, Instant};

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
    cache: Option<&'static str>,
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
        let cache = self.cache;
        let total_ms = millis(self.started.elapsed());
        let mut ip_text = IpText::default();
        let client_ip = ip_text.format(self.client_ip);
        tracing::info!(
            target: ACCESS_TARGET,
            request_id,
            client_ip,
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
                client_ip,
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
            stopped_by: ctx.answered.as_ref().map(|s| s.step.clone()),
            reason: ctx.answered.as_ref().map(|s| s.reason),
            cache: ctx.cache.map(CacheOutcome::header_value),
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
