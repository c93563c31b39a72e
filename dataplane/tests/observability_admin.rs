//! The admin API on a real gateway: the routers and services of the Dating
//! Platform's table (compiled from routes.dsl) are listed, every one; the
//! table document reports a refused corrupt table while the old table
//! keeps serving, and forgets it once a good one is published; `POST
//! /api/reload` reloads on request; the bearer token guards the API (not
//! the probes or the scrape); a public admin listener without a token is
//! refused at start-up.

mod common;
mod observability_support;

use common::*;
use dataplane::admin::access::AccessError;
use dataplane::StartError;
use http::{header, Method, Request, StatusCode};
use http_body_util::Empty;
use observability_support::set_jwt_secret;
use routec::model;
use std::collections::BTreeMap;
use std::net::SocketAddr;

async fn admin(
    client: &HttpClient,
    method: Method,
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    send(client, request.body(Empty::new()).unwrap())
        .await
        .expect("admin answers")
}

fn expected_rule(route: &model::GatewayRoute) -> String {
    let path = match &route.path {
        model::PathMatch::Exact(p) => format!("Path(`{p}`)"),
        model::PathMatch::Prefix(p) => format!("PathPrefix(`{p}`)"),
    };
    let mut parts: Vec<String> = route.host.iter().map(|h| format!("Host(`{h}`)")).collect();
    parts.push(path);
    if !route.methods.is_empty() {
        let methods: Vec<String> = route.methods.iter().map(|m| format!("`{m}`")).collect();
        parts.push(format!("Method({})", methods.join(",")));
    }
    parts.join(" && ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_lists_every_route_and_service_of_routes_dsl() {
    let model = platform_model();
    set_jwt_secret();
    let spec = spec_from_model(&model, 1);
    let (_dir, table) = table_dir(&spec);
    let mut config = test_config(&table);
    config.demo_backends = true;
    let gateway = start(config).await;
    let client = client();
    let addr = gateway.admin_addr();

    let reply = admin(&client, Method::GET, addr, "/api/http/routers", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let routers: BTreeMap<String, serde_json::Value> = reply
        .json()
        .as_array()
        .expect("a list of routers")
        .iter()
        .map(|r| (r["name"].as_str().unwrap().to_owned(), r.clone()))
        .collect();
    assert_eq!(routers.len(), model.gateway_routes.len());
    for route in &model.gateway_routes {
        let router = routers
            .get(&route.name)
            .unwrap_or_else(|| panic!("route {} not listed", route.name));
        assert_eq!(
            router["rule"],
            expected_rule(route).as_str(),
            "{}",
            route.name
        );
        assert_eq!(router["priority"], route.priority, "{}", route.name);
        assert_eq!(router["service"], route.service.as_str(), "{}", route.name);
        assert_eq!(router["websocket"], route.websocket, "{}", route.name);
        assert_eq!(
            router["chain"].as_str(),
            route.chain.as_deref(),
            "{}",
            route.name
        );
        let middlewares: Vec<&str> = router["middlewares"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        assert_eq!(middlewares, route.middlewares, "{}", route.name);
        // Demo backends answer, so every router's service can take traffic.
        assert_eq!(router["status"], "enabled", "{}", route.name);
    }

    let reply = admin(&client, Method::GET, addr, "/api/http/services", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let services = reply.json();
    let services = services.as_array().unwrap();
    let behind_gateway: Vec<&model::Service> = model
        .services
        .iter()
        .filter(|s| s.behind_gateway())
        .collect();
    assert_eq!(services.len(), behind_gateway.len());
    for want in behind_gateway {
        let got = services
            .iter()
            .find(|s| s["name"] == want.name.as_str())
            .unwrap_or_else(|| panic!("service {} not listed", want.name));
        let instances = got["instances"].as_array().unwrap();
        assert_eq!(instances.len(), want.instances.len(), "{}", want.name);
        assert!(instances.iter().all(|i| i["status"] == "healthy"));
        assert_eq!(got["status"], "healthy");
        let used_by: Vec<&str> = model
            .gateway_routes
            .iter()
            .filter(|r| r.service == want.name)
            .map(|r| r.name.as_str())
            .collect();
        let listed: Vec<&str> = got["used_by"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        let (mut used_by, mut listed) = (used_by, listed);
        used_by.sort_unstable();
        listed.sort_unstable();
        assert_eq!(listed, used_by, "{}", want.name);
        assert_eq!(
            got["health_check"]["path"].as_str(),
            want.health.as_ref().map(|h| h.path.as_str())
        );
    }

    // Unknown paths are 404, wrong methods 405.
    let reply = admin(&client, Method::GET, addr, "/api/nothing", None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = admin(&client, Method::DELETE, addr, "/api/table", None).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    let reply = admin(&client, Method::GET, addr, "/api/reload", None).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_document_reports_a_refused_table_while_the_old_one_serves() {
    let spec = single_service_spec("auth", "/v1/auth/", 1, 1);
    let (gateway, _backend, dir) = gateway_with_stub(&spec, "auth", "auth-service-1").await;
    let table_path = dir.path().join("routes.bin");
    let client = client();
    let addr = gateway.admin_addr();
    let table_doc = |client: HttpClient| async move {
        let reply = admin(&client, Method::GET, addr, "/api/table", None).await;
        assert_eq!(reply.status, StatusCode::OK);
        reply.json()
    };

    let doc = table_doc(client.clone()).await;
    assert_eq!(doc["generation"], 1);
    assert_eq!(doc["path"], table_path.display().to_string().as_str());
    assert_eq!(doc["source_sha256"], "00".repeat(32).as_str());
    assert!(doc["last_error"].is_null());
    let loaded_at = doc["loaded_at"].as_str().unwrap().to_owned();
    humantime::parse_rfc3339(&loaded_at).expect("RFC 3339");

    // A corrupt table (bad checksum) written over the good one.
    let mut corrupt = routetable::encode(&single_service_spec("auth", "/v1/auth/", 1, 2));
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    write_atomically(&table_path, &corrupt);
    let refused = eventually(500, || {
        let client = client.clone();
        async move { !table_doc(client).await["last_error"].is_null() }
    })
    .await;
    assert!(refused, "the refusal never showed in /api/table");
    let doc = table_doc(client.clone()).await;
    assert_eq!(doc["generation"], 1);
    assert_eq!(doc["reload_failures"], 1);
    assert_eq!(doc["loaded_at"], loaded_at.as_str());
    let error = doc["last_error"]["error"].as_str().unwrap();
    assert!(error.contains("invalid table"), "{error}");
    humantime::parse_rfc3339(doc["last_error"]["at"].as_str().unwrap()).expect("RFC 3339");
    // The old table keeps serving.
    let reply = get(&client, gateway.local_addr(), "/v1/auth/me")
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::OK);

    // Asking for a reload of the same corrupt file: refused again, 422.
    let reply = admin(&client, Method::POST, addr, "/api/reload", None).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.json()["result"], "refused");
    assert_eq!(reply.json()["generation"], 1);
    assert_eq!(table_doc(client.clone()).await["reload_failures"], 2);

    // A good table: published, and the refusal is forgotten.
    write_table(&table_path, &single_service_spec("auth", "/v1/auth/", 1, 3));
    let published = eventually(500, || {
        let client = client.clone();
        async move { table_doc(client).await["generation"] == 3 }
    })
    .await;
    assert!(published, "the good table was never published");
    let doc = table_doc(client.clone()).await;
    assert!(doc["last_error"].is_null(), "{doc}");
    assert_eq!(doc["reloads"], 1);

    // A reload on request publishes the file again.
    let reply = admin(&client, Method::POST, addr, "/api/reload", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["result"], "published");
    assert_eq!(reply.json()["generation"], 3);
    assert_eq!(table_doc(client.clone()).await["reloads"], 2);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_guards_the_api_but_not_probes_or_metrics() {
    let spec = single_service_spec("auth", "/v1/auth/", 1, 1);
    let (_dir, table) = table_dir(&spec);
    let mut config = test_config(&table);
    config.admin_token = Some("s3cret-token".into());
    let gateway = start(config).await;
    let client = client();
    let addr = gateway.admin_addr();

    for path in ["/api/table", "/api/http/routers", "/api/http/services"] {
        let reply = admin(&client, Method::GET, addr, path, None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(reply.headers.contains_key(header::WWW_AUTHENTICATE));
        let reply = admin(&client, Method::GET, addr, path, Some("wrong")).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        let reply = admin(&client, Method::GET, addr, path, Some("s3cret-token")).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
    }
    let reply = admin(&client, Method::POST, addr, "/api/reload", None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(gateway.store().current().generation, 1);
    for path in ["/ready", "/live", "/metrics", "/health"] {
        let reply = admin(&client, Method::GET, addr, path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
    }
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_admin_listener_without_a_token_is_refused_at_start() {
    let spec = single_service_spec("auth", "/v1/auth/", 1, 1);
    let (_dir, table) = table_dir(&spec);
    let mut config = test_config(&table);
    // Never bound: the check comes before any listener.
    config.admin_listen = "0.0.0.0:0".parse().unwrap();
    config.admin_token = None;
    match dataplane::Server::start(config).await {
        Err(StartError::AdminAccess(AccessError::TokenRequired(addr))) => {
            assert!(addr.ip().is_unspecified());
        }
        Err(other) => panic!("wrong refusal: {other}"),
        Ok(_) => panic!("a public admin API without a token started"),
    }
}
