//! The admin listener (`--admin-listen`): readiness for probes and the
//! Docker healthcheck. `/metrics`, the `/health` document and the admin API
//! are issue 4's; they will hang off [`serve_admin`]'s match, reading
//! [`crate::reload::TableStore`] (health via `LoadedTable::health`) and
//! [`crate::stats::Stats`].

use crate::body::GatewayBody;
use crate::errors::json_error;
use crate::reload::TableStore;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;

/// Answers one admin request.
pub fn serve_admin(store: &TableStore, request: &Request<Incoming>) -> Response<GatewayBody> {
    match (request.method(), request.uri().path()) {
        (&Method::GET | &Method::HEAD, "/ready") => {
            let table = store.current();
            let body = serde_json::json!({
                "status": "ready",
                "generation": table.generation,
                "source_sha256": table.source_sha256,
            });
            let mut response = Response::new(GatewayBody::full(body.to_string()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        _ => json_error(StatusCode::NOT_FOUND, "not found", ""),
    }
}
