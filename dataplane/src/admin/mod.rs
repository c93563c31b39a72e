//! The admin listener (`--admin-listen`): what it answers, and who may ask.
//!
//! - `GET /ready`: readiness (a table is serving), for Traefik, compose and
//!   `--check-ready`; `GET /live`: liveness (the process answers), for
//!   container healthchecks that must not depend on the table.
//! - `GET /metrics` and `GET /health`: the same as on the gateway listener
//!   ([`builtin::serve_builtin`]).
//! - The admin API, guarded by [`AdminAccess`]: `GET /api/http/routers`,
//!   `GET /api/http/services`, `GET /api/table` and `POST /api/reload`.
//!
//! The documents themselves are rendered by [`api`];
//! this module only routes, checks access and reloads on request.

pub mod access;
pub mod api;
pub mod builtin;
pub mod health_report;

use crate::body::GatewayBody;
use crate::errors::json_error;
use crate::reload::{Reloaded, Reloader, TableStore};
use access::AdminAccess;
use builtin::json_response;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

/// Answers one admin request.
pub async fn serve_admin(
    store: &TableStore,
    reloader: &Reloader,
    access: &AdminAccess,
    request: &Request<Incoming>,
) -> Response<GatewayBody> {
    let method = request.method();
    let path = request.uri().path();
    if let Some(response) = builtin::serve_builtin(store, method, path) {
        return response;
    }
    let read = matches!(*method, Method::GET | Method::HEAD);
    match path {
        "/ready" if read => {
            let table = store.current();
            json_response(
                StatusCode::OK,
                &json!({
                    "status": "ready",
                    "generation": table.generation,
                    "source_sha256": table.source_sha256,
                }),
            )
        }
        "/live" if read => json_response(StatusCode::OK, &json!({"status": "alive"})),
        "/api/http/routers" | "/api/http/services" | "/api/table" | "/api/reload" => {
            if !access.allows(request.headers()) {
                let mut response = json_error(StatusCode::UNAUTHORIZED, "unauthorized", "");
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"dataplane-admin\""),
                );
                return response;
            }
            serve_api(store, reloader, method, path).await
        }
        _ => json_error(StatusCode::NOT_FOUND, "not found", ""),
    }
}

async fn serve_api(
    store: &TableStore,
    reloader: &Reloader,
    method: &Method,
    path: &str,
) -> Response<GatewayBody> {
    let read = matches!(*method, Method::GET | Method::HEAD);
    match path {
        "/api/http/routers" if read => {
            let table = store.current();
            json_response(StatusCode::OK, &api::routers(&table, &table.spec()))
        }
        "/api/http/services" if read => {
            let table = store.current();
            json_response(StatusCode::OK, &api::services(&table, &table.spec()))
        }
        "/api/table" if read => json_response(StatusCode::OK, &api::table(store)),
        "/api/reload" if *method == Method::POST => reload(store, reloader).await,
        _ => {
            let mut response = json_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed", "");
            let allow = if path == "/api/reload" {
                "POST"
            } else {
                "GET, HEAD"
            };
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            response
        }
    }
}

/// Re-reads the table file now, as SIGHUP does.
async fn reload(store: &TableStore, reloader: &Reloader) -> Response<GatewayBody> {
    tracing::info!("admin API: reloading");
    let Some(outcome) = reloader.reload(true).await else {
        return json_error(StatusCode::SERVICE_UNAVAILABLE, "reloads have stopped", "");
    };
    match outcome {
        Ok(Reloaded::Published { generation }) => json_response(
            StatusCode::OK,
            &json!({"result": "published", "generation": generation}),
        ),
        Ok(Reloaded::Unchanged) => json_response(
            StatusCode::OK,
            &json!({"result": "unchanged", "generation": store.current().generation}),
        ),
        // The file is at fault, not the request: 422, with the reason.
        Err(e) => json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({
                "result": "refused",
                "error": e.to_string(),
                "generation": store.current().generation,
            }),
        ),
    }
}
