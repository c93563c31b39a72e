//! TLS on both sides of the gateway, with a test CA made here with rcgen.
//! Termination on `--tls-listen`: a client that trusts the CA negotiates h2
//! by ALPN and is routed; a certificate rewritten on disk is served without
//! a restart. Upstream: a service with `upstream_tls` reaches an upstream
//! that demands a client certificate, presents the gateway's, and keeps the
//! TLS connection for the next request; without it the upstream refuses
//! the handshake and the client gets a JSON 502.

mod common;

use bytes::Bytes;
use common::*;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::pki_types::ServerName;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    der: rustls::pki_types::CertificateDer<'static>,
}

impl TestCa {
    fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let der = params.clone().self_signed(&key).unwrap().der().clone();
        Self { params, key, der }
    }

    /// Writes a leaf for `names`, signed by this CA, as PEM files.
    fn issue(&self, names: &[&str], cert: &Path, key: &Path) {
        let issuer = self.params.clone().self_signed(&self.key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let leaf = CertificateParams::new(names)
            .unwrap()
            .signed_by(&leaf_key, &issuer, &self.key)
            .unwrap();
        // Replace both files by rename, as a certificate manager would.
        std::fs::write(cert.with_extension("tmp"), leaf.pem()).unwrap();
        std::fs::rename(cert.with_extension("tmp"), cert).unwrap();
        std::fs::write(key.with_extension("tmp"), leaf_key.serialize_pem()).unwrap();
        std::fs::rename(key.with_extension("tmp"), key).unwrap();
    }

    fn connector(&self) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        TlsConnector::from(Arc::new(config))
    }
}

/// An h2 GET over TLS to `addr`, verifying the server as `name`.
async fn h2_get(
    ca: &TestCa,
    addr: std::net::SocketAddr,
    name: &str,
    path: &str,
) -> Result<(Version, serde_json::Value), String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let server_name = ServerName::try_from(name.to_owned()).unwrap();
    let tls = ca
        .connector()
        .connect(server_name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(
        tls.get_ref().1.alpn_protocol(),
        Some(&b"h2"[..]),
        "ALPN did not pick h2"
    );
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = Request::get(format!("https://{name}{path}"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(response.status(), StatusCode::OK);
    let version = response.version();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((version, serde_json::from_slice(&body).unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_over_tls_with_a_certificate_reloaded_from_disk() {
    let ca = TestCa::new();
    let auth = stub("auth", "auth-service-1").await;
    let (dir, table) = table_dir(&single_service_spec("auth", "/v1/auth/", 1, 1));
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    ca.issue(&["localhost"], &cert, &key);
    let mut config = test_config(&table);
    config
        .upstreams
        .insert("auth".into(), vec![("127.0.0.1".into(), auth.addr.port())]);
    config.tls = Some(dataplane::config::TlsListen {
        addr: "127.0.0.1:0".parse().unwrap(),
        cert: cert.clone(),
        key: key.clone(),
    });
    let gateway = start(config).await;
    let tls_addr = gateway.tls_addr().expect("TLS listener");

    let (version, json) = h2_get(&ca, tls_addr, "localhost", "/v1/auth/login")
        .await
        .unwrap();
    assert_eq!(version, Version::HTTP_2);
    assert_eq!(json["service"], "auth");
    assert_eq!(json["path"], "/v1/auth/login");
    assert_eq!(json["headers"]["x-forwarded-proto"], "https");
    assert_eq!(json["headers"]["host"], "localhost");

    // The current certificate does not cover this name...
    assert!(h2_get(&ca, tls_addr, "reloaded.test", "/v1/auth/x")
        .await
        .is_err());
    // ...the rewritten one does, and is served without a restart.
    ca.issue(&["localhost", "reloaded.test"], &cert, &key);
    let reloaded = eventually(500, || async {
        h2_get(&ca, tls_addr, "reloaded.test", "/v1/auth/x")
            .await
            .is_ok()
    })
    .await;
    assert!(reloaded, "the new certificate was never served");
    gateway.shutdown().await;
}

/// A TLS upstream that requires a client certificate signed by `ca`,
/// answering every HTTP/1.1 request with 200 `tls-ok`. Counts the TLS
/// handshakes it completed and the requests it served.
struct TlsUpstream {
    addr: std::net::SocketAddr,
    handshakes: Arc<std::sync::atomic::AtomicUsize>,
    requests: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsUpstream {
    async fn start(ca: &TestCa, cert: &Path, key: &Path) -> Self {
        use rustls::pki_types::pem::PemObject;
        use std::sync::atomic::Ordering;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der.clone()).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let chain = rustls::pki_types::CertificateDer::pem_file_iter(cert)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key).unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handshakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (shakes, served) = (handshakes.clone(), requests.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, shakes, served) = (acceptor.clone(), shakes.clone(), served.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return; // no or a bad client certificate
                    };
                    shakes.fetch_add(1, Ordering::SeqCst);
                    let service = hyper::service::service_fn(move |_request| {
                        served.fetch_add(1, Ordering::SeqCst);
                        async {
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(
                                http_body_util::Full::new(Bytes::from_static(b"tls-ok")),
                            ))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            handshakes,
            requests,
            task,
        }
    }

    fn handshakes(&self) -> usize {
        self.handshakes.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A gateway whose `auth` service is `upstream`, over TLS verified against
/// `ca_file` as `upstream.test`, presenting `client` (cert, key) if given.
async fn gateway_over_tls(
    upstream: &TlsUpstream,
    ca_file: &Path,
    client: Option<(&Path, &Path)>,
) -> (dataplane::ServerHandle, tempfile::TempDir) {
    let mut spec = single_service_spec("auth", "/v1/auth/", 1, 1);
    spec.services[0].health = None;
    spec.services[0].upstream_tls = Some(routetable::UpstreamTlsSpec {
        ca_file: ca_file.display().to_string(),
        cert_file: client.map(|(cert, _)| cert.display().to_string()),
        key_file: client.map(|(_, key)| key.display().to_string()),
        server_name: Some("upstream.test".into()),
    });
    gateway_to_port(&spec, "auth", upstream.addr.port()).await
}

#[tokio::test]
async fn upstream_mutual_tls_presents_the_gateway_certificate_and_reuses_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(name);
    let ca = TestCa::new();
    std::fs::write(
        file("ca.pem"),
        ca.params.clone().self_signed(&ca.key).unwrap().pem(),
    )
    .unwrap();
    ca.issue(
        &["upstream.test"],
        &file("upstream.pem"),
        &file("upstream.key"),
    );
    ca.issue(
        &["gateway.test"],
        &file("gateway.pem"),
        &file("gateway.key"),
    );
    let upstream = TlsUpstream::start(&ca, &file("upstream.pem"), &file("upstream.key")).await;

    // With its certificate: served, and the pooled TLS connection reused.
    let client_cert = (file("gateway.pem"), file("gateway.key"));
    let (gateway, _table) = gateway_over_tls(
        &upstream,
        &file("ca.pem"),
        Some((&client_cert.0, &client_cert.1)),
    )
    .await;
    let http = client();
    for i in 0..3 {
        let reply = get(&http, gateway.local_addr(), &format!("/v1/auth/{i}"))
            .await
            .unwrap();
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert_eq!(reply.body, Bytes::from_static(b"tls-ok"));
    }
    assert_eq!(upstream.requests(), 3);
    assert_eq!(
        upstream.handshakes(),
        1,
        "three requests, one TLS connection"
    );
    gateway.shutdown().await;

    // Without it, the upstream refuses the handshake: a JSON 502, nothing served.
    let (gateway, _table) = gateway_over_tls(&upstream, &file("ca.pem"), None).await;
    let reply = get(&http, gateway.local_addr(), "/v1/auth/x")
        .await
        .unwrap();
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{:?}", reply.body);
    assert_eq!(reply.json()["status"], 502);
    assert_eq!(
        upstream.requests(),
        3,
        "no request without a client certificate"
    );
    gateway.shutdown().await;
}
