//! The container test's client of the edge: HTTP/1.1 over TLS (with the
//! platform's host as SNI) to Traefik's published port on 127.0.0.1, on
//! keep-alive connections, with responses read by their framing
//! (`Content-Length`, chunked, or none for HEAD), and tokens for the
//! gateway's JWT step. It owns no assertion; the test decides what a
//! response must be.
//!
//! The edge's certificate is not verified: the ACME resolver cannot reach
//! Let's Encrypt from the test's engine, so Traefik serves its default
//! self-signed certificate, and what the test proves is routing and
//! policy, not the public PKI.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

pub const HOST: &str = "dating.serge.cc";
/// At least 32 bytes: the gateway refuses shorter HMAC secrets.
pub const JWT_SECRET: &str = "container-test-secret-of-32-bytes-or-more";
/// `admin:change-me`, the seed's placeholder operator login.
pub const OPS_AUTH: &str = "Basic YWRtaW46Y2hhbmdlLW1l";

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A `key=value` line of the echo stub's body.
    pub fn echoed(&self, key: &str) -> Option<&str> {
        self.body
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}\n{}", self.status, self.headers, self.body)
    }
}

/// Where the edge listens and how to speak TLS to it.
#[derive(Clone)]
pub struct Edge {
    pub https: u16,
    pub http: u16,
    pub tls: tokio_rustls::TlsConnector,
}

impl Edge {
    pub fn new(https: u16, http: u16) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth();
        Self {
            https,
            http,
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        }
    }

    pub async fn tls_stream(&self) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(("127.0.0.1", self.https)).await?;
        tcp.set_nodelay(true)?;
        let name = rustls::pki_types::ServerName::try_from(HOST.to_string()).unwrap();
        self.tls.connect(name, tcp).await
    }

    /// A keep-alive connection over TLS.
    pub async fn connect(&self) -> std::io::Result<Conn> {
        Ok(Conn {
            io: Box::new(self.tls_stream().await?),
        })
    }

    /// One request on a fresh TLS connection; panics on a transport error.
    pub async fn get(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut conn = self.connect().await.expect("TLS connection to the edge");
        conn.request(method, path, headers, "")
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// One plain-HTTP request to the `web` entrypoint.
    pub async fn plain(&self, path: &str) -> Reply {
        let tcp = TcpStream::connect(("127.0.0.1", self.http))
            .await
            .expect("connect to the web entrypoint");
        let mut conn = Conn { io: Box::new(tcp) };
        conn.request("GET", path, &[], "")
            .await
            .unwrap_or_else(|e| panic!("GET {path} (http): {e}"))
    }
}

pub struct Conn {
    io: Box<dyn Io>,
}

impl Conn {
    /// One request on this connection, its response read by its framing.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> std::io::Result<Reply> {
        let mut request = format!("{method} {path} HTTP/1.1\r\nhost: {HOST}\r\n");
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || matches!(method, "PUT" | "POST") {
            request.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        request.push_str(body);
        self.io.write_all(request.as_bytes()).await?;
        tokio::time::timeout(Duration::from_secs(15), self.response(method == "HEAD"))
            .await
            .map_err(|_| std::io::Error::other("no response within 15 s"))?
    }

    async fn response(&mut self, head_only: bool) -> std::io::Result<Reply> {
        let head = self.read_until(b"\r\n\r\n").await?;
        let head = String::from_utf8_lossy(&head).to_string();
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("no status line in {head:?}")))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let find = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_ascii_lowercase())
        };
        let mut body = Vec::new();
        if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        } else if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                let line = self.read_until(b"\r\n").await?;
                let size_text = String::from_utf8_lossy(&line);
                let size_text = size_text.trim().split(';').next().unwrap_or("0");
                let size = usize::from_str_radix(size_text, 16)
                    .map_err(|_| std::io::Error::other("bad chunk size"))?;
                if size == 0 {
                    // Trailers, then the empty line.
                    while self.read_until(b"\r\n").await?.len() > 2 {}
                    break;
                }
                let mut chunk = vec![0u8; size + 2];
                self.io.read_exact(&mut chunk).await?;
                body.extend_from_slice(&chunk[..size]);
            }
        } else if let Some(length) = find("content-length").and_then(|v| v.parse().ok()) {
            body = vec![0u8; length];
            self.io.read_exact(&mut body).await?;
        } else {
            self.io.read_to_end(&mut body).await?;
        }
        Ok(Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&body).to_string(),
        })
    }

    async fn read_until(&mut self, end: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut byte = [0u8; 1];
        while !out.ends_with(end) {
            if self.io.read(&mut byte).await? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed mid-response",
                ));
            }
            out.push(byte[0]);
        }
        Ok(out)
    }
}

/// A token the gateway's `auth` step accepts, for `sub` with `roles`.
pub fn token(sub: &str, roles: &[&str]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "sub": sub, "iss": "dating-auth", "aud": "dating-api",
        "exp": now + 3600, "iat": now, "roles": roles,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

/// Accepts any server certificate (see the module's note), still checking
/// the handshake's signatures with the provider's algorithms.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
