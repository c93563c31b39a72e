//! TLS termination on `--tls-listen`: a client that trusts a test CA (made
//! here with rcgen) negotiates h2 by ALPN and is routed; a certificate
//! rewritten on disk is served without a restart.

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
