//! The data plane's settings: command-line flags ([`Cli`]), an optional TOML
//! file (unknown keys are an error), and the merged [`Config`] the server
//! starts from (flags win over the file, the file over the defaults). Route,
//! limit and timeout settings are not here: they come from the table.

use crate::balancer::PassivePolicy;
use clap::Parser;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_TABLE: &str = "generated/routes.bin";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";

/// `dataplane`: the API gateway that serves a compiled route table.
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "dataplane", version, about)]
pub struct Cli {
    /// TOML file with the same settings; flags override it.
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// The route table to serve and watch [default: generated/routes.bin].
    #[arg(long, value_name = "PATH")]
    pub table: Option<PathBuf>,
    /// Plain HTTP (HTTP/1.1 and h2c) listener [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Admin listener (readiness, liveness, metrics, health, admin API) [default: 127.0.0.1:9090].
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<SocketAddr>,
    /// TLS listener; needs --tls-cert and --tls-key.
    #[arg(long, value_name = "ADDR", requires_all = ["tls_cert", "tls_key"])]
    pub tls_listen: Option<SocketAddr>,
    /// PEM certificate chain for --tls-listen (re-read when it changes).
    #[arg(long, value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-listen (re-read when it changes).
    #[arg(long, value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// Replace a service's instances: SERVICE=HOST:PORT[,HOST:PORT...]. Repeatable.
    #[arg(long = "upstream", value_name = "SERVICE=HOST:PORT[,...]", value_parser = parse_upstream)]
    pub upstreams: Vec<(String, Vec<(String, u16)>)>,
    /// Start stub services for every service in the table and route to them.
    #[arg(long)]
    pub demo_backends: bool,
    /// Runtime worker threads: 0 serves everything on one thread (tokio's
    /// current-thread runtime), N >= 1 a multi-thread runtime with N
    /// workers [default: one per core].
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Do not serve: ask a running gateway's admin listener at ADDR whether
    /// it is ready (exit 0) or not (exit 1). For container healthchecks.
    #[arg(long, value_name = "ADDR", exclusive = true)]
    pub check_ready: Option<SocketAddr>,
}

/// The TOML file: the flags' names in snake case, plus a few tunables.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    table: Option<PathBuf>,
    listen: Option<SocketAddr>,
    admin_listen: Option<SocketAddr>,
    tls_listen: Option<SocketAddr>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    /// `{ auth = ["127.0.0.1:9001", "127.0.0.1:9002"] }`
    #[serde(default)]
    upstream: BTreeMap<String, Vec<String>>,
    demo_backends: Option<bool>,
    workers: Option<usize>,
    drain_timeout_ms: Option<u64>,
    reload_debounce_ms: Option<u64>,
    passive_max_failures: Option<u32>,
    passive_ejection_ms: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("{0}")]
    Invalid(String),
}

/// An `--upstream` flag or `[upstream]` key naming a service the route
/// table does not have: refused at start, since the override would
/// otherwise be silently unused and every request to the real service
/// would go to the table's instances (a 502 on a developer's machine).
#[derive(Debug, thiserror::Error)]
#[error(
    "--upstream (or [upstream] in the config file) names `{name}`, which is no service of the \
     route table{hint}; the table's services are: {known}",
    hint = suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default()
)]
pub struct UnknownService {
    pub name: String,
    pub suggestion: Option<String>,
    /// The table's service names, comma-separated.
    pub known: String,
}

/// Refuses the first override whose service the table does not name.
pub fn check_override_names<'a>(
    overrides: impl IntoIterator<Item = &'a String>,
    services: &[&str],
) -> Result<(), UnknownService> {
    for name in overrides {
        if services.contains(&name.as_str()) {
            continue;
        }
        // Jaro-Winkler weighs a shared start, so `auth-service` (a host
        // name) finds `auth` (the service) as well as typos do.
        let suggestion = services
            .iter()
            .map(|s| (strsim::jaro_winkler(name, s), *s))
            .filter(|(score, _)| *score >= 0.7)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, s)| s.to_owned());
        return Err(UnknownService {
            name: name.clone(),
            suggestion,
            known: services.join(", "),
        });
    }
    Ok(())
}

/// `--tls-listen` with its certificate and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsListen {
    pub addr: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    pub table: PathBuf,
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub tls: Option<TlsListen>,
    /// Service name -> instances replacing the table's.
    pub upstreams: BTreeMap<String, Vec<(String, u16)>>,
    pub demo_backends: bool,
    /// Runtime worker threads (`--workers`); `None` is one per core. The
    /// binary reads it before starting the runtime; the library ignores it.
    pub workers: Option<usize>,
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub drain_timeout: Duration,
    /// Quiet time after the last file event before reloading.
    pub reload_debounce: Duration,
    pub passive: PassivePolicy,
    /// The admin API's bearer token (`DATAPLANE_ADMIN_TOKEN`); required
    /// when the admin listener is not loopback.
    pub admin_token: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            table: PathBuf::from(DEFAULT_TABLE),
            listen: DEFAULT_LISTEN.parse().expect("valid default"),
            admin_listen: DEFAULT_ADMIN_LISTEN.parse().expect("valid default"),
            tls: None,
            upstreams: BTreeMap::new(),
            demo_backends: false,
            workers: None,
            drain_timeout: Duration::from_secs(30),
            // An atomic rename is one event and a ConfigMap swap a few
            // within microseconds: 10 ms loses none, and at 100 ms the
            // debounce was most of the time to serve a new table (and a
            // reload every 100 ms was never quiet long enough to load).
            reload_debounce: Duration::from_millis(10),
            passive: PassivePolicy::default(),
            admin_token: None,
        }
    }
}

impl Config {
    /// Merges `cli` over its `--config` file over the defaults.
    pub fn from_cli(cli: Cli) -> Result<Self, ConfigError> {
        let file = match &cli.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let mut config = Config::default();
        let mut upstreams = BTreeMap::new();
        for (service, list) in file.upstream {
            let instances = list
                .iter()
                .map(|s| parse_host_port(s))
                .collect::<Result<Vec<_>, _>>();
            upstreams.insert(
                service.clone(),
                instances.map_err(|e| ConfigError::Invalid(format!("upstream {service}: {e}")))?,
            );
        }
        upstreams.extend(cli.upstreams);
        config.upstreams = upstreams;
        config.table = cli.table.or(file.table).unwrap_or(config.table);
        config.listen = cli.listen.or(file.listen).unwrap_or(config.listen);
        config.admin_listen = cli
            .admin_listen
            .or(file.admin_listen)
            .unwrap_or(config.admin_listen);
        config.demo_backends = cli.demo_backends || file.demo_backends.unwrap_or(false);
        config.workers = cli.workers.or(file.workers);
        // From the environment only: a token in a flag shows in `ps`.
        config.admin_token = std::env::var(crate::admin::access::ADMIN_TOKEN_ENV).ok();
        if let Some(ms) = file.drain_timeout_ms {
            config.drain_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = file.reload_debounce_ms {
            config.reload_debounce = Duration::from_millis(ms);
        }
        if let Some(n) = file.passive_max_failures {
            config.passive.max_failures = n;
        }
        if let Some(ms) = file.passive_ejection_ms {
            config.passive.base_ejection_ms = ms;
        }
        let tls_listen = cli.tls_listen.or(file.tls_listen);
        let tls_cert = cli.tls_cert.or(file.tls_cert);
        let tls_key = cli.tls_key.or(file.tls_key);
        config.tls = match (tls_listen, tls_cert, tls_key) {
            (Some(addr), Some(cert), Some(key)) => Some(TlsListen { addr, cert, key }),
            (None, _, _) => None,
            _ => {
                return Err(ConfigError::Invalid(
                    "tls_listen needs tls_cert and tls_key".into(),
                ))
            }
        };
        Ok(config)
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source: Box::new(source),
    })
}

/// `HOST:PORT`, where HOST may be a name, an IPv4 address or `[IPv6]`.
pub fn parse_host_port(s: &str) -> Result<(String, u16), String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?}: expected HOST:PORT"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("{s:?}: bad port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("{s:?}: empty host"));
    }
    Ok((host.to_owned(), port))
}

/// `SERVICE=HOST:PORT[,HOST:PORT...]`
pub fn parse_upstream(s: &str) -> Result<(String, Vec<(String, u16)>), String> {
    let (service, list) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected SERVICE=HOST:PORT[,...]"))?;
    if service.is_empty() {
        return Err(format!("{s:?}: empty service name"));
    }
    let instances = list
        .split(',')
        .map(|hp| parse_host_port(hp.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((service.to_owned(), instances))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_unknown_keys_fail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dp.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:1\"\ntable = \"t.bin\"\n[upstream]\nauth = [\"a:1\"]\n",
        )
        .unwrap();
        let cli = Cli::parse_from([
            "dataplane",
            "--config",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:2",
            "--upstream",
            "chat=h1:5,[::1]:6",
        ]);
        let config = Config::from_cli(cli).unwrap();
        assert_eq!(config.listen.port(), 2);
        assert_eq!(config.table, PathBuf::from("t.bin"));
        assert_eq!(config.upstreams["auth"], vec![("a".to_owned(), 1)]);
        assert_eq!(
            config.upstreams["chat"],
            vec![("h1".to_owned(), 5), ("::1".to_owned(), 6)]
        );
        assert_eq!(config.admin_listen, DEFAULT_ADMIN_LISTEN.parse().unwrap());

        std::fs::write(&path, "lisen = \"127.0.0.1:1\"\n").unwrap();
        let cli = Cli::parse_from(["dataplane", "--config", path.to_str().unwrap()]);
        let err = Config::from_cli(cli).unwrap_err().to_string();
        assert!(err.contains("unknown field"), "{err}");
    }

    #[test]
    fn an_override_naming_no_service_is_refused_with_a_suggestion() {
        let services = ["auth", "profile", "chat"];
        let ok = ["auth".to_owned(), "chat".to_owned()];
        assert!(check_override_names(&ok, &services).is_ok());
        let err = check_override_names(&["auth-service".to_owned()], &services).unwrap_err();
        assert_eq!(err.suggestion.as_deref(), Some("auth"));
        assert!(err.to_string().contains("auth, profile, chat"), "{err}");
        let err = check_override_names(&["zzz".to_owned()], &services).unwrap_err();
        assert_eq!(err.suggestion, None, "{err}");
    }

    #[test]
    fn upstream_flags_are_checked() {
        assert!(parse_upstream("auth").is_err());
        assert!(parse_upstream("auth=host").is_err());
        assert!(parse_upstream("=h:1").is_err());
    }
}
