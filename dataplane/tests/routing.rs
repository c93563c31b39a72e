//! Every gateway route of the real routes.dsl reaches its service, with the
//! path unchanged, through a gateway started with `--demo-backends`; the
//! gateway's own answers are JSON errors; forwarding headers are set.

mod common;

use common::*;
use http::StatusCode;
use std::net::SocketAddr;

/// routes.dsl's jwt step reads its HS256 secret from JWT_SECRET: every
/// route but /v1/auth/ needs a token, /v1/admin/ one with the admin role.
const SECRET: &str = "routing-suite-secret-0123456789-abcdefghij";

fn admin_token() -> String {
    std::env::set_var("JWT_SECRET", SECRET);
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let claims = serde_json::json!({
        "sub": "admin-1", "roles": ["admin"], "iss": "dating-auth", "aud": "dating-api", "exp": exp,
    });
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
}

async fn get_as(client: &HttpClient, addr: SocketAddr, path: &str, token: &str) -> Reply {
    let request = http::Request::get(format!("http://{addr}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Empty::new())
        .unwrap();
    send(client, request).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_gateway_route_reaches_its_service_with_the_path_unchanged() {
    let token = admin_token();
    let model = platform_model();
    let (_dir, table) = table_dir(&spec_from_model(&model, 1));
    let mut config = test_config(&table);
    config.demo_backends = true;
    let gateway = start(config).await;
    let client = client();
    assert!(!model.gateway_routes.is_empty());
    for route in &model.gateway_routes {
        let base = route.path.path().trim_end_matches('/');
        let path = if route.websocket {
            base.to_owned()
        } else {
            format!("{base}/some/thing?q=1")
        };
        let reply = get_as(&client, gateway.local_addr(), &path, &token).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {:?}", reply.body);
        let json = reply.json();
        assert_eq!(
            json["service"],
            route.service.as_str(),
            "{path} reached {json}"
        );
        assert_eq!(
            json["path"],
            path.as_str(),
            "{path} arrived changed: {json}"
        );
        assert_eq!(json["method"], "GET");
        let headers = &json["headers"];
        assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
        assert_eq!(headers["x-forwarded-proto"], "http");
        assert!(headers["x-request-id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()));
        assert_eq!(
            reply.headers["x-request-id"].to_str().unwrap(),
            headers["x-request-id"].as_str().unwrap()
        );
    }
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_get_a_json_404_with_the_request_id() {
    let token = admin_token();
    let (_dir, table) = table_dir(&spec_from_model(&platform_model(), 1));
    let mut config = test_config(&table);
    config.demo_backends = true;
    let gateway = start(config).await;
    let client = client();
    let request = http::Request::get(format!("http://{}/v2/nothing", gateway.local_addr()))
        .header("x-request-id", "client-id-1")
        .body(http_body_util::Empty::new())
        .unwrap();
    let reply = send(&client, request).await.unwrap();
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let json = reply.json();
    assert_eq!(json["status"], 404);
    assert_eq!(json["request_id"], "client-id-1");
    assert!(json["error"].is_string());
    // A traversal out of a prefix is normalized before matching.
    let reply = get_as(&client, gateway.local_addr(), "/v1/chat/../admin/x", &token).await;
    assert_eq!(reply.json()["service"], "admin");
    assert_eq!(reply.json()["path"], "/v1/admin/x");
    gateway.shutdown().await;
}
