//! rustls configuration, both ways: the server side of `--tls-listen` (ALPN
//! h2 and http/1.1, TLS 1.2+, a certificate that can be swapped while
//! serving) and the client side for upstreams that ask for TLS, optionally
//! with a client certificate. It reads PEM files; watching them for changes
//! belongs to [`crate::reload`].

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    Pem { path: PathBuf, message: String },
    #[error("{path}: no certificate found")]
    NoCertificate { path: PathBuf },
    #[error("invalid server name {0:?}")]
    ServerName(String),
    #[error(transparent)]
    Rustls(#[from] rustls::Error),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn pem_error(path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::Pem {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_error(path, e))
}

/// Reads a certificate chain and its key into a serving identity.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let certs = read_certs(cert)?;
    let key = provider().key_provider.load_private_key(read_key(key)?)?;
    let certified = CertifiedKey::new(certs, key);
    // Mid-rotation the two files can disagree; refuse rather than serve a
    // certificate the key cannot prove.
    certified.keys_match()?;
    Ok(Arc::new(certified))
}

/// The serving certificate, replaceable while connections are being
/// accepted: a new handshake uses whatever is current.
#[derive(Debug)]
pub struct ReloadingCert {
    current: ArcSwap<CertifiedKey>,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

impl ReloadingCert {
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<Self>, TlsError> {
        let key = load_certified_key(cert_path, key_path)?;
        Ok(Arc::new(Self {
            current: ArcSwap::new(key),
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
        }))
    }

    /// Re-reads the files; on error the current certificate stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        self.current
            .store(load_certified_key(&self.cert_path, &self.key_path)?);
        Ok(())
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// The server configuration for `--tls-listen`.
pub fn server_config(cert: Arc<ReloadingCert>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// How to reach one service over TLS (from the table's upstream TLS).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UpstreamTlsSettings {
    pub ca_file: PathBuf,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Verify the service's certificate against this name instead of the
    /// instance's host name.
    pub server_name: Option<String>,
}

/// A ready client configuration plus the fixed name to verify, if any.
#[derive(Debug, Clone)]
pub struct UpstreamTls {
    pub config: Arc<rustls::ClientConfig>,
    pub server_name: Option<ServerName<'static>>,
}

/// Builds the client side of service-to-service TLS (mutual when the
/// settings name a client certificate).
pub fn upstream_tls(settings: &UpstreamTlsSettings) -> Result<UpstreamTls, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs(&settings.ca_file)? {
        roots.add(cert)?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match (&settings.cert_file, &settings.key_file) {
        (Some(cert), Some(key)) => {
            builder.with_client_auth_cert(read_certs(cert)?, read_key(key)?)?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let server_name = settings
        .server_name
        .as_deref()
        .map(|n| ServerName::try_from(n.to_owned()).map_err(|_| TlsError::ServerName(n.to_owned())))
        .transpose()?;
    Ok(UpstreamTls {
        config: Arc::new(config),
        server_name,
    })
}
