//! Shared pieces of the `middleware_*` tests: tables whose one route runs a
//! given chain of policy middlewares, HS256 tokens (valid and forged), a
//! real loopback "origin" upstream whose answers the tests steer through
//! the query string (status, `Cache-Control`, `Set-Cookie`, content type)
//! and which counts what reached it, and a capture of the gateway's JSON
//! access and audit lines. Used beside `common` (gateway start-up, table
//! files, the HTTP client), which belongs to the data plane's own tests.

#![allow(dead_code)]

use crate::common::*;
use base64::Engine;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{encode, EncodingKey, Header};
use routetable::{
    ChainSpec, CorsConfig, HeadersConfig, JwtConfig, KeySource, MiddlewareConfig, MiddlewareSpec,
    RateKey, RateLimitConfig, RoleRule, TableSpec,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The HS256 secret of every test table's jwt step (and of routes.dsl's,
/// through `JWT_SECRET`); each test binary sets the same value.
pub const SECRET: &str = "middleware-suite-secret-0123456789-abcdef";
/// The environment variable the test tables' jwt steps read.
pub const SECRET_ENV: &str = "JWT_SECRET";

pub fn set_secret() {
    std::env::set_var(SECRET_ENV, SECRET);
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims the Dating Platform's jwt step accepts.
pub fn claims(sub: &str, roles: &[&str]) -> Value {
    json!({
        "sub": sub,
        "roles": roles,
        "iss": "dating-auth",
        "aud": "dating-api",
        "iat": now(),
        "exp": now() + 600,
    })
}

/// `claims` signed with HS256 and `SECRET`.
pub fn token(claims: &Value) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("token encodes")
}

pub fn user_token(sub: &str, roles: &[&str]) -> String {
    token(&claims(sub, roles))
}

pub fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An unsigned token (`alg: none`) with `claims`.
pub fn alg_none(claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(claims.to_string().as_bytes())
    )
}

/// The jwt step of routes.dsl, as table settings.
pub fn platform_jwt() -> JwtConfig {
    JwtConfig {
        algorithms: vec!["HS256".into()],
        key: KeySource::Env(SECRET_ENV.into()),
        issuer: Some("dating-auth".into()),
        audience: Some("dating-api".into()),
        roles_claim: "roles".into(),
        leeway_s: 30,
        public: vec!["/v1/auth/".into()],
        require_roles: vec![RoleRule {
            prefix: "/v1/admin/".into(),
            roles: vec!["admin".into()],
        }],
        subprotocol: None,
        cookie: None,
    }
}

pub fn rate_limit(key: RateKey, average: u64, period_ms: u64, burst: u64) -> MiddlewareConfig {
    MiddlewareConfig::RateLimit(RateLimitConfig {
        key,
        average,
        period_ms,
        burst,
        shared: None,
    })
}

pub fn platform_cors() -> MiddlewareConfig {
    MiddlewareConfig::Cors(CorsConfig {
        origins: vec!["https://dating.serge.cc".into()],
        methods: ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
            .map(String::from)
            .to_vec(),
        headers: ["Authorization", "Content-Type", "X-Request-Id"]
            .map(String::from)
            .to_vec(),
        expose: vec!["X-Request-Id".into(), "RateLimit-Remaining".into()],
        max_age_s: 3600,
        credentials: true,
        websocket_origins: vec![],
    })
}

pub fn security_headers() -> MiddlewareConfig {
    MiddlewareConfig::Headers(HeadersConfig {
        hsts_max_age_s: Some(31_536_000),
        hsts_include_subdomains: true,
        content_type_nosniff: true,
        frame_options: Some("DENY".into()),
        referrer_policy: Some("strict-origin-when-cross-origin".into()),
        ..HeadersConfig::default()
    })
}

/// One service `api` behind the prefix `/v1/` whose route runs `chain`
/// (named middlewares, in order), trusting `trusted` proxies.
pub fn chain_table(
    chain: &[(&str, MiddlewareConfig)],
    trusted: &[&str],
    generation: u64,
) -> TableSpec {
    let mut spec = single_service_spec("api", "/v1/", 1, generation);
    spec.middlewares = chain
        .iter()
        .map(|(name, config)| MiddlewareSpec {
            name: (*name).into(),
            config: config.clone(),
        })
        .collect();
    spec.chains = vec![ChainSpec {
        name: "test".into(),
        middlewares: (0..chain.len() as u32).collect(),
    }];
    spec.routes[0].chain = Some(0);
    spec.gateway.trusted_proxies = trusted.iter().map(|s| s.to_string()).collect();
    spec
}

/// A real HTTP/1.1 upstream that counts the requests reaching it and
/// answers JSON `{n, path, user, roles, headers}`; the query steers it:
/// `status=N`, `cc=<Cache-Control>`, `cookie=1` (a `Set-Cookie`),
/// `ct=<Content-Type>` (then the body is plain text), `vary=<Vary>`,
/// `xcache=<X-Cache>` (the upstream's own cache header),
/// `delay_ms=N` (a slow upstream).
pub struct Origin {
    pub addr: SocketAddr,
    hits: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Origin {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicU64::new(0));
        let counter = hits.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
                        let delay = request
                            .uri()
                            .query()
                            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("delay_ms=")))
                            .and_then(|ms| ms.parse().ok())
                            .map(std::time::Duration::from_millis);
                        async move {
                            if let Some(delay) = delay {
                                tokio::time::sleep(delay).await;
                            }
                            Ok::<_, Infallible>(answer(n, request))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, hits, task }
    }

    /// Requests that reached this upstream so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}

fn answer(n: u64, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let query: BTreeMap<String, String> = request
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%20", " ")))
        .collect();
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let headers: BTreeMap<String, String> = request
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = json!({
        "n": n,
        "path": request.uri().path_and_query().map(|p| p.as_str()),
        "user": header("x-user-id"),
        "roles": header("x-user-roles"),
        "headers": headers,
    });
    let mut builder = Response::builder().status(
        query
            .get("status")
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(200),
    );
    let body = match query.get("ct") {
        Some(ct) => {
            builder = builder.header("content-type", ct.as_str());
            format!("plain answer {n}")
        }
        None => {
            builder = builder.header("content-type", "application/json");
            body.to_string()
        }
    };
    if let Some(cc) = query.get("cc") {
        builder = builder.header("cache-control", cc.as_str());
    }
    if query.contains_key("cookie") {
        builder = builder.header("set-cookie", "session=abc; HttpOnly");
    }
    if let Some(vary) = query.get("vary") {
        builder = builder.header("vary", vary.as_str());
    }
    if let Some(x_cache) = query.get("xcache") {
        builder = builder.header("x-cache", x_cache.as_str());
    }
    builder.body(Full::new(Bytes::from(body))).unwrap()
}

/// A gateway serving `spec` whose service `api` is `origin`.
pub async fn gateway_for(
    spec: &TableSpec,
    origin: &Origin,
) -> (dataplane::ServerHandle, tempfile::TempDir) {
    let (dir, table) = table_dir(spec);
    let mut config = test_config(&table);
    config
        .upstreams
        .insert("api".into(), vec![("127.0.0.1".into(), origin.addr.port())]);
    (start(config).await, dir)
}

/// A request to the gateway at `addr` with extra `headers`.
pub async fn request(
    client: &HttpClient,
    method: &str,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    send(client, builder.body(Empty::new()).unwrap())
        .await
        .expect("the gateway answers")
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Asserts a rate limit's 429: the JSON error, `Retry-After` within the
/// minute, `RateLimit-Limit` the `burst`, nothing remaining, and a reset no
/// sooner than the retry.
pub fn assert_limited(reply: &Reply, burst: &str) {
    assert_json_error(reply, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(reply.headers["ratelimit-limit"], burst);
    assert_eq!(reply.headers["ratelimit-remaining"], "0");
    let reset: u64 = reply.headers["ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset >= retry, "reset {reset} < retry {retry}");
}

/// Asserts the gateway's JSON error shape with `status`.
pub fn assert_json_error(reply: &Reply, status: StatusCode) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{:?}",
        reply.headers
    );
    let json = reply.json();
    assert_eq!(json["status"], status.as_u16(), "{json}");
    assert!(
        json["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{json}"
    );
    assert_eq!(
        json["request_id"],
        reply.headers["x-request-id"].to_str().unwrap(),
        "{json}"
    );
}

/// Every access and audit line the gateways of this test binary wrote,
/// as JSON objects; installs the capture on first use.
pub fn log_lines() -> Vec<Value> {
    let text = String::from_utf8(captured().lock().unwrap().clone()).unwrap();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

/// The raw captured log text (for "no secret appears anywhere" checks).
pub fn log_text() -> String {
    String::from_utf8(captured().lock().unwrap().clone()).unwrap()
}

/// Installs the JSON access/audit log capture (idempotent).
pub fn capture_logs() {
    captured();
}

fn captured() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(buffer.clone());
        let subscriber = tracing_subscriber::registry()
            .with(dataplane::logging::json_layer(move || writer.clone()));
        tracing::subscriber::set_global_default(subscriber)
            .expect("one subscriber per test binary");
        buffer
    })
}

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The access line of the request with `request_id`, once written.
pub async fn access_line(request_id: &str) -> Value {
    log_line("access", request_id).await
}

/// The audit line of the request with `request_id`, once written. It
/// follows the access line from the gateway's task, so a test that has
/// just seen the access line may still be ahead of it.
pub async fn audit_line(request_id: &str) -> Value {
    log_line("audit", request_id).await
}

/// The line on `target` of the request with `request_id`, polled for.
async fn log_line(target: &str, request_id: &str) -> Value {
    for _ in 0..100 {
        if let Some(line) = log_lines()
            .into_iter()
            .find(|l| l["target"] == target && l["request_id"] == request_id)
        {
            return line;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no {target} line for {request_id}: {}", log_text());
}
