//! A real browser as the web app's client: Debian's `chromium`, headless,
//! driven over the DevTools protocol (a WebSocket, with tokio-tungstenite),
//! against the gateway's TLS listener configured from the real routes.dsl,
//! with the demo stubs as the services. The page is served over TLS from
//! the platform's origin (`https://dating.serge.cc`, names mapped to
//! 127.0.0.1 with `--host-resolver-rules`), a second one from a foreign
//! origin (`https://evil.test`); the certificates come from a test CA made
//! here with rcgen, which chromium is told to accept
//! (`--ignore-certificate-errors`).
//!
//! The listeners' ports are picked by the OS and an origin names its port,
//! so the table's CORS origins are the app origin with the page server's
//! port: the only change to routes.dsl's policy. What it proves, in the
//! browser's own terms: a credentialed `fetch` with a token passes the
//! preflight (a 204, seen in the DevTools network events) on every seed
//! route and reads the JSON and the exposed
//! `X-Request-Id`; the cookies of that HTTP/2 request reach the HTTP/1.1
//! service as one `Cookie` line; a foreign origin's `fetch` is blocked; the
//! chat and notifications WebSockets open with the token as a subprotocol
//! entry, name the real subprotocol and echo text and binary, and do not
//! open without a token, with a forged one or from the foreign origin.

mod common;
#[path = "../../tests/support/tools.rs"]
mod tools;

use common::*;
use futures_util::{SinkExt, StreamExt};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use rcgen::{CertificateParams, KeyPair};
use routetable::MiddlewareConfig;
use serde_json::{json, Value};
use std::convert::Infallible;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "browser-suite-secret-0123456789-abcdefghijklmnop";
/// routes.dsl's `token_from subprotocol` prefix.
const TOKEN_PROTOCOL: &str = "base64url.bearer.authorization.dating.serge.cc.";
const APP_HOST: &str = "dating.serge.cc";
const API_HOST: &str = "api.dating.serge.cc";
const EVIL_HOST: &str = "evil.test";
/// No single step may take longer; a hung page fails the test, it is no
/// measurement.
const STEP: Duration = Duration::from_secs(30);

fn token(sub: &str, roles: &[&str], secret: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let claims = json!({
        "sub": sub, "iss": "dating-auth", "aud": "dating-api",
        "exp": now + 600, "iat": now, "roles": roles,
    });
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("token encodes")
}

/// A self-signed leaf for every name the browser visits, as PEM files.
fn certificate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = KeyPair::generate().expect("key");
    let names = [APP_HOST, API_HOST, EVIL_HOST].map(String::from).to_vec();
    let cert = CertificateParams::new(names)
        .expect("names")
        .self_signed(&key)
        .expect("signs");
    let (cert_path, key_path) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&cert_path, cert.pem()).expect("write cert");
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    (cert_path, key_path)
}

/// Serves an empty HTML page on every path, over TLS (h2 or HTTP/1.1):
/// the web app's origin, and with another name the foreign one.
async fn page_server(cert: &Path, key: &Path) -> (u16, tokio::task::JoinHandle<()>) {
    let certified = dataplane::tls::ReloadingCert::load(cert, key).expect("page cert");
    let acceptor = tokio_rustls::TlsAcceptor::from(
        dataplane::tls::server_config(certified).expect("page TLS config"),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind page");
    let port = listener.local_addr().expect("page addr").port();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let page = service_fn(|_req| async {
                    let mut response = http::Response::new(http_body_util::Full::new(
                        bytes::Bytes::from_static(b"<!doctype html><title>app</title><p>app"),
                    ));
                    response.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("text/html"),
                    );
                    Ok::<_, Infallible>(response)
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), page)
                    .await;
            });
        }
    });
    (port, task)
}

/// A running chromium and its DevTools connection. Chromium runs in a
/// process group of its own; dropping this (a failed test too) kills that
/// group by its id, the browser's pid, so no renderer outlives the test.
struct Browser {
    child: Child,
    devtools: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
    /// DevTools events seen while waiting for answers.
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Browser {
    async fn launch() -> Self {
        let chromium = tools::require("chromium", "apt-get install -y chromium");
        let profile = tempfile::tempdir().expect("profile dir");
        let rules = format!(
            "MAP {APP_HOST} 127.0.0.1, MAP {API_HOST} 127.0.0.1, MAP {EVIL_HOST} 127.0.0.1, MAP * ~NOTFOUND"
        );
        let mut child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--ignore-certificate-errors",
                "--remote-debugging-port=0",
                "about:blank",
            ])
            .arg(format!("--host-resolver-rules={rules}"))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0)
            .spawn()
            .expect("chromium starts");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let url = tokio::time::timeout(STEP, async {
            while let Ok(Some(line)) = stderr.next_line().await {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    return url.trim().to_owned();
                }
            }
            panic!("chromium exited without a DevTools endpoint");
        })
        .await
        .expect("chromium prints its DevTools endpoint");
        // Keep draining stderr so chromium never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
        let (devtools, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("DevTools WebSocket");
        Self {
            child,
            devtools,
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
        }
    }

    /// Calls a DevTools method (on a page's session when given); its result.
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.devtools
            .send(Message::text(message.to_string()))
            .await
            .expect("DevTools send");
        let answer = tokio::time::timeout(STEP, async {
            while let Some(frame) = self.devtools.next().await {
                let Ok(Message::Text(text)) = frame else {
                    continue;
                };
                let value: Value = serde_json::from_str(text.as_str()).expect("DevTools JSON");
                if value["id"] == json!(id) {
                    return value;
                }
                self.events.push(value);
            }
            panic!("DevTools connection closed");
        })
        .await
        .unwrap_or_else(|_| panic!("DevTools {method} did not answer"));
        assert!(answer.get("error").is_none(), "{method}: {answer}");
        answer["result"].clone()
    }

    /// A new tab at `url`, loaded; its session id.
    async fn open(&mut self, url: &str) -> String {
        let target = self
            .call(None, "Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let session = self
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await["sessionId"]
            .as_str()
            .expect("session id")
            .to_owned();
        self.call(Some(&session), "Network.enable", json!({})).await;
        self.call(Some(&session), "Page.navigate", json!({"url": url}))
            .await;
        let origin = url.trim_end_matches('/');
        for _ in 0..300 {
            let here = self
                .eval(
                    &session,
                    "document.readyState === 'complete' ? location.origin : ''",
                )
                .await;
            if here == json!(origin) {
                return session;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{url} did not load");
    }

    /// Evaluates `expression` in the page (awaiting a promise); its value.
    async fn eval(&mut self, session: &str, expression: &str) -> Value {
        let result = self
            .call(
                Some(session),
                "Runtime.evaluate",
                json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
            )
            .await;
        assert!(
            result.get("exceptionDetails").is_none(),
            "the page threw: {result}"
        );
        result["result"]["value"].clone()
    }

    /// The status of the answer to the CORS preflight for `url`.
    fn preflight_status(&self, url: &str) -> Option<u64> {
        let sent = self.events.iter().find(|e| {
            e["method"] == "Network.requestWillBeSent"
                && e["params"]["request"]["method"] == "OPTIONS"
                && e["params"]["request"]["url"] == url
        })?;
        let id = &sent["params"]["requestId"];
        self.events
            .iter()
            .filter(|e| e["method"] == "Network.responseReceived")
            .find(|e| &e["params"]["requestId"] == id)
            .and_then(|e| e["params"]["response"]["status"].as_u64())
    }

    /// The protocol of the response to `url` (from `Network` events).
    fn protocol_of(&self, url: &str) -> Option<String> {
        self.events
            .iter()
            .filter(|e| e["method"] == "Network.responseReceived")
            .find(|e| e["params"]["response"]["url"] == url)
            .and_then(|e| e["params"]["response"]["protocol"].as_str())
            .map(str::to_owned)
    }

    /// Asks chromium to quit, then ends it by its pid if it has not.
    async fn close(mut self) {
        self.next_id += 1;
        let bye = json!({"id": self.next_id, "method": "Browser.close"});
        let _ = self.devtools.send(Message::text(bye.to_string())).await;
        if tokio::time::timeout(STEP, self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// `fetch` from the page: status, the stub's JSON (or why it failed) and
/// the exposed `X-Request-Id`.
const FETCH: &str = r#"async (url, token) => {
  try {
    const r = await fetch(url, {
      credentials: "include",
      headers: token ? { Authorization: "Bearer " + token } : {},
    });
    return { status: r.status, body: await r.json(), requestId: r.headers.get("x-request-id") };
  } catch (e) {
    return { blocked: e.name };
  }
}"#;

/// What the web app does to open a socket: the token as a subprotocol
/// entry beside the real one (the README shows the same lines), then a
/// text and a binary message; whether it opened, the negotiated protocol
/// and what came back.
const SOCKET: &str = r#"async (url, protocols) => {
  const ws = new WebSocket(url, protocols);
  ws.binaryType = "arraybuffer";
  const opened = await new Promise((resolve) => {
    ws.onopen = () => resolve(true);
    ws.onerror = () => resolve(false);
    ws.onclose = () => resolve(false);
  });
  if (!opened) return { opened: false };
  const got = [];
  await new Promise((resolve) => {
    ws.onmessage = (m) => {
      got.push(typeof m.data === "string" ? m.data : Array.from(new Uint8Array(m.data)));
      if (got.length === 2) resolve();
    };
    ws.send("hello");
    ws.send(new Uint8Array([1, 2, 255]));
  });
  ws.close();
  return { opened: true, protocol: ws.protocol, got };
}"#;

fn call_js(function: &str, args: &[Value]) -> String {
    let args: Vec<String> = args.iter().map(Value::to_string).collect();
    format!("({function})({})", args.join(", "))
}

fn token_protocol(token: &str) -> String {
    use base64::Engine as _;
    format!(
        "{TOKEN_PROTOCOL}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(without_real_tools, ignore = "needs chromium")]
async fn a_browser_app_uses_every_route_with_the_same_policy() {
    std::env::set_var("JWT_SECRET", SECRET);
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = certificate(dir.path());
    let (page_port, page_task) = page_server(&cert, &key).await;
    let app = format!("https://{APP_HOST}:{page_port}");
    let evil = format!("https://{EVIL_HOST}:{page_port}");

    let mut spec = spec_from_model(&platform_model(), 1);
    for middleware in &mut spec.middlewares {
        if let MiddlewareConfig::Cors(cors) = &mut middleware.config {
            assert_eq!(
                cors.origins,
                ["https://dating.serge.cc"],
                "routes.dsl's origin"
            );
            cors.origins = vec![app.clone()];
        }
    }
    let (backends, overrides) = dataplane::demo::start_all(&spec).await.expect("stubs");
    let (_table_dir, table) = table_dir(&spec);
    let mut config = test_config(&table);
    config.upstreams = overrides;
    config.tls = Some(dataplane::config::TlsListen {
        addr: "127.0.0.1:0".parse().unwrap(),
        cert,
        key,
    });
    let gateway = start(config).await;
    let api_port = gateway.tls_addr().expect("TLS listener").port();
    let api = format!("https://{API_HOST}:{api_port}");
    let wss = format!("wss://{API_HOST}:{api_port}");

    let user = token("user-7", &["user"], SECRET);
    let admin = token("admin-1", &["admin", "user"], SECRET);
    let forged = token(
        "admin-1",
        &["admin", "user"],
        "not-the-secret-not-the-secret-0123",
    );

    let mut browser = Browser::launch().await;
    let page = browser.open(&format!("{app}/")).await;

    // Two cookies for the platform's site; the API host shares it.
    browser
        .eval(
            &page,
            &format!(
                "document.cookie = 'theme=dark; Domain={APP_HOST}; Path=/; Secure; SameSite=None'; \
                 document.cookie = 'lang=en; Domain={APP_HOST}; Path=/; Secure; SameSite=None'; \
                 document.cookie"
            ),
        )
        .await;

    // Every seed route, REST, with a token: preflight, JSON, exposed header.
    let routes = [
        ("/v1/auth/login", "auth"),
        ("/v1/profiles/me", "profile"),
        ("/v1/discovery/feed", "discovery"),
        ("/v1/chat/rooms", "chat"),
        ("/v1/media/photos", "media"),
        ("/v1/admin/users", "admin"),
        ("/v1/notifications/unread", "notification"),
        ("/v1/data/export", "data"),
    ];
    for (path, service) in routes {
        let url = format!("{api}{path}");
        let got = browser
            .eval(&page, &call_js(FETCH, &[json!(url), json!(admin)]))
            .await;
        assert_eq!(got["status"], 200, "{path}: {got}");
        assert_eq!(got["body"]["service"], service, "{path}: {got}");
        assert!(
            got["requestId"].as_str().is_some_and(|id| !id.is_empty()),
            "{path}: X-Request-Id is exposed to the page: {got}"
        );
        if path != "/v1/auth/login" {
            assert_eq!(
                got["body"]["headers"]["x-user-id"], "admin-1",
                "{path}: {got}"
            );
        }
    }
    // Each of those went through a preflight (Authorization is not a
    // simple header), answered 204 by the gateway.
    for (path, _) in routes {
        let url = format!("{api}{path}");
        assert_eq!(
            browser.preflight_status(&url),
            Some(204),
            "{path}'s preflight"
        );
    }
    // The cookies of an HTTP/2 request reach the HTTP/1.1 service as one line.
    let profile_url = format!("{api}/v1/profiles/me");
    let got = browser
        .eval(&page, &call_js(FETCH, &[json!(profile_url), json!(user)]))
        .await;
    assert_eq!(
        browser.protocol_of(&profile_url).as_deref(),
        Some("h2"),
        "the browser spoke HTTP/2 to the gateway"
    );
    assert_eq!(
        got["body"]["cookie_fields"],
        json!(["theme=dark; lang=en"]),
        "{got}"
    );
    assert_eq!(got["body"]["headers"]["x-user-id"], "user-7", "{got}");
    // The same policy as for any client: no token, no answer.
    let got = browser
        .eval(&page, &call_js(FETCH, &[json!(profile_url), json!(null)]))
        .await;
    assert_eq!(got["status"], 401, "{got}");

    // The WebSockets, the browser's way.
    for path in ["/v1/chat/ws", "/v1/notifications/ws"] {
        let url = format!("{wss}{path}");
        let with_token = json!(["chat", token_protocol(&user)]);
        let got = browser
            .eval(&page, &call_js(SOCKET, &[json!(url), with_token.clone()]))
            .await;
        assert_eq!(
            got,
            json!({"opened": true, "protocol": "chat", "got": ["hello", [1, 2, 255]]}),
            "{path} with a subprotocol token"
        );
        for (why, protocols) in [
            ("no token", json!(["chat"])),
            ("a forged token", json!(["chat", token_protocol(&forged)])),
        ] {
            let got = browser
                .eval(&page, &call_js(SOCKET, &[json!(url), protocols]))
                .await;
            assert_eq!(got, json!({"opened": false}), "{path} with {why}");
        }
    }

    // Another site: its fetch cannot read the API, its socket does not open.
    let foreign = browser.open(&format!("{evil}/")).await;
    let got = browser
        .eval(
            &foreign,
            &call_js(FETCH, &[json!(profile_url), json!(user)]),
        )
        .await;
    assert_eq!(
        got,
        json!({"blocked": "TypeError"}),
        "a foreign origin's fetch"
    );
    for path in ["/v1/chat/ws", "/v1/notifications/ws"] {
        let url = format!("{wss}{path}");
        let got = browser
            .eval(
                &foreign,
                &call_js(
                    SOCKET,
                    &[json!(url), json!(["chat", token_protocol(&user)])],
                ),
            )
            .await;
        assert_eq!(
            got,
            json!({"opened": false}),
            "{path} from a foreign origin"
        );
    }

    browser.close().await;
    gateway.shutdown().await;
    for backend in backends {
        backend.stop().await;
    }
    page_task.abort();
}
