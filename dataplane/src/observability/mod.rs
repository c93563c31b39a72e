//! Observability: what the gateway tells about itself. [`metrics`] owns the
//! Prometheus families and the hot path's handles; [`health_report`] builds
//! the aggregated `/health` document from the health checker's state;
//! [`reload_status`] remembers when the serving table was published and why
//! the last one was refused; [`api`] renders the admin API's JSON (routers,
//! services, table); [`access`] decides who may call the admin API.
//!
//! None of these modules listens or routes requests: the gateway listener
//! ([`crate::proxy`]) and the admin listener ([`crate::admin`]) call
//! [`serve_builtin`] and the renderers here.

pub mod access;
pub mod api;
pub mod health_report;
pub mod metrics;
pub mod reload_status;

pub use metrics::{Metrics, RouteMetrics, ServiceMetrics};

use crate::body::GatewayBody;
use crate::reload::TableStore;
use http::{header, HeaderValue, Method, Response, StatusCode};

/// Paths both listeners answer themselves: the scrape endpoint and the
/// aggregated health document.
pub const METRICS_PATH: &str = "/metrics";
pub const HEALTH_PATH: &str = "/health";

/// Answers `GET`/`HEAD` `/metrics` and `/health`; `None` for anything
/// else. Cheap: reads the current table and counters, no fan-out.
pub fn serve_builtin(
    store: &TableStore,
    method: &Method,
    path: &str,
) -> Option<Response<GatewayBody>> {
    if !matches!(*method, Method::GET | Method::HEAD) {
        return None;
    }
    match path {
        METRICS_PATH => {
            let table = store.current();
            let text = store.registries().metrics.render(&table, &store.stats);
            Some(with_type(
                Response::new(GatewayBody::full(text)),
                metrics::CONTENT_TYPE,
            ))
        }
        HEALTH_PATH => {
            let (status, document) =
                health_report::document(&store.current(), std::time::SystemTime::now());
            Some(json_response(status, &document))
        }
        _ => None,
    }
}

/// A JSON response with `status`.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<GatewayBody> {
    let mut response = with_type(
        Response::new(GatewayBody::full(body.to_string())),
        "application/json",
    );
    *response.status_mut() = status;
    response
}

fn with_type(
    mut response: Response<GatewayBody>,
    content_type: &'static str,
) -> Response<GatewayBody> {
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Scrapes and health documents are live state: never cache them.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-01-02T03:04:05.678Z`.
pub fn timestamp(at: std::time::SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}
