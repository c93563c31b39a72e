//! The access and audit logs through a running gateway, captured as the
//! JSON lines the binary writes: one access line per request with the
//! routing decision and timings, an audit line for each refused request,
//! lines for requests an earlier step answered, and never a token, cookie
//! or query string.

mod common;
mod middleware_support;

use common::*;
use http::StatusCode;
use middleware_support::*;
use routetable::{MiddlewareConfig, RateKey, TableSpec};

/// `[per-ip, auth, request-log]`: the log sits after the steps that refuse.
fn logged_table(generation: u64) -> TableSpec {
    set_secret();
    chain_table(
        &[
            ("per-ip", rate_limit(RateKey::ClientIp, 1, 60_000, 100)),
            ("auth", MiddlewareConfig::Jwt(platform_jwt())),
            ("request-log", MiddlewareConfig::AccessLog { audit: true }),
        ],
        &[],
        generation,
    )
}

fn request_id(reply: &Reply) -> String {
    reply.headers["x-request-id"].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_request_gets_one_line_with_the_routing_decision() {
    capture_logs();
    let origin = Origin::start().await;
    let (gateway, _dir) = gateway_for(&logged_table(1), &origin).await;
    let client = client();
    let token = bearer(&user_token("alice", &["user"]));
    let reply = request(
        &client,
        "GET",
        gateway.local_addr(),
        "/v1//feed/./x?page=2",
        &[("authorization", &token)],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let line = access_line(&request_id(&reply)).await;
    assert_eq!(line["target"], "access");
    assert!(line["timestamp"].is_string(), "{line}");
    assert_eq!(line["client_ip"], "127.0.0.1");
    assert_eq!(line["method"], "GET");
    assert_eq!(
        line["path"], "/v1/feed/x",
        "the normalized path, without the query"
    );
    assert_eq!(line["route"], "api");
    assert_eq!(line["service"], "api");
    assert_eq!(
        line["instance"],
        format!("http://127.0.0.1:{}", origin.addr.port())
    );
    assert_eq!(line["status"], 200);
    assert_eq!(line["bytes"], reply.body.len() as u64);
    assert_eq!(line["complete"], true);
    assert_eq!(line["user"], "alice");
    assert_eq!(line["decision"], "forwarded");
    assert!(line.get("stopped_by").is_none(), "{line}");
    let upstream = line["upstream_ms"].as_f64().unwrap();
    let total = line["total_ms"].as_f64().unwrap();
    assert!(upstream >= 0.0 && total >= upstream, "{line}");
    let lines_for_request = log_lines()
        .into_iter()
        .filter(|l| l["request_id"] == request_id(&reply).as_str())
        .count();
    assert_eq!(lines_for_request, 1, "a success has no audit line");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_are_logged_and_audited_even_before_the_log_step() {
    capture_logs();
    let origin = Origin::start().await;
    let (gateway, _dir) = gateway_for(&logged_table(1), &origin).await;
    let client = client();
    let reply = request(
        &client,
        "DELETE",
        gateway.local_addr(),
        "/v1/profiles/7",
        &[],
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let id = request_id(&reply);
    let line = access_line(&id).await;
    assert_eq!(line["status"], 401);
    assert_eq!(line["decision"], "answered_by_middleware");
    assert_eq!(line["stopped_by"], "auth");
    assert_eq!(line["reason"], "bearer token required");
    assert!(line.get("upstream_ms").is_none(), "{line}");
    let audit = audit_line(&id).await;
    assert_eq!(audit["stopped_by"], "auth");
    assert_eq!(audit["method"], "DELETE");
    assert_eq!(audit["path"], "/v1/profiles/7");
    assert_eq!(audit["client_ip"], "127.0.0.1");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_cookie_or_query_reaches_the_log() {
    capture_logs();
    let origin = Origin::start().await;
    let (gateway, _dir) = gateway_for(&logged_table(1), &origin).await;
    let client = client();
    let token = user_token("carol", &["user"]);
    let forged = format!("{token}x");
    let cookie_secret = "cookie-value-7f3a9c";
    let query_secret = "query-secret-91bd2e";
    let mut ids = Vec::new();
    for authorization in [&token, &forged] {
        let reply = request(
            &client,
            "GET",
            gateway.local_addr(),
            &format!("/v1/x?access_token={query_secret}"),
            &[
                ("authorization", &bearer(authorization)),
                ("cookie", &format!("session={cookie_secret}")),
            ],
        )
        .await;
        ids.push(request_id(&reply));
    }
    for id in &ids {
        access_line(id).await;
    }
    let text = log_text();
    for secret in [&token[..], cookie_secret, query_secret, SECRET] {
        assert!(!text.contains(secret), "{secret} reached the log");
    }
    // The token's signature alone must not appear either.
    let signature = token.rsplit('.').next().unwrap();
    assert!(!text.contains(signature));
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_without_the_log_step_write_no_line() {
    capture_logs();
    let origin = Origin::start().await;
    let spec = chain_table(
        &[("per-ip", rate_limit(RateKey::ClientIp, 1, 60_000, 100))],
        &[],
        1,
    );
    let (gateway, _dir) = gateway_for(&spec, &origin).await;
    let reply = get(&client(), gateway.local_addr(), "/v1/x").await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    // A later request on a logged gateway proves lines are being written.
    let (logged, _dir2) = gateway_for(&logged_table(1), &origin).await;
    let marker = request(&client(), "GET", logged.local_addr(), "/v1/x", &[]).await;
    access_line(&request_id(&marker)).await;
    let id = request_id(&reply);
    assert!(!log_text().contains(&id), "an unlogged route wrote a line");
    gateway.shutdown().await;
    logged.shutdown().await;
}
