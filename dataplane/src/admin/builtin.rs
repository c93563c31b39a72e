//! What both listeners answer themselves: `GET /metrics` (the scrape, with
//! the gauges that mirror the serving table set from it now) and
//! `GET /health` (the aggregated document), plus the JSON response helper
//! the admin API shares. It neither listens nor routes.

use super::health_report;
use crate::body::GatewayBody;
use crate::metrics::{self, InstanceState, PoolReading, ServiceState, TableState};
use crate::reload::TableStore;
use crate::upstream::HostPool;
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
            let services: Vec<ServiceState> = table
                .health()
                .into_iter()
                .zip(&table.services)
                .map(|(s, service)| ServiceState {
                    service: s.service,
                    instances: s
                        .instances
                        .into_iter()
                        .zip(&service.instances)
                        .map(|(i, instance)| InstanceState {
                            instance: i.instance,
                            up: i.health.up && !i.health.ejected,
                            pool: pool_reading(&instance.pool),
                        })
                        .collect(),
                })
                .collect();
            let text = store.metrics().render(&TableState {
                generation: table.generation,
                source_sha256: &table.source_sha256,
                services: &services,
            });
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

/// The numbers of an instance's traffic pool, for the metrics module
/// (which knows no pool).
fn pool_reading(pool: &HostPool) -> PoolReading {
    let stats = pool.stats();
    PoolReading {
        open: stats.open,
        idle: stats.idle,
        in_use: stats.in_use,
        max: pool.limit().map(|limit| limit.max as u64),
        waits: stats.waits,
        wait_seconds: stats.wait_seconds,
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
