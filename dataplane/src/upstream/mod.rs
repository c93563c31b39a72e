//! The gateway's client to its upstreams. An [`UpstreamClient`] exists per
//! distinct set of settings (pool sizes, connect timeout, TLS) and survives
//! table reloads, so a reload does not drop warm connections; it opens
//! connections ([`connect`]), keeps idle ones per instance ([`pool`]) and
//! speaks HTTP/1.1 on them in the request's own task ([`http1`]). The
//! [`ConnectionLimits`] bound the requests in flight upstream (in all and
//! per host), which bounds the connections opened; each pool holds its
//! host's permits, so a request takes them without a lookup. Each pool
//! also counts its connections and the time requests wait for one
//! ([`counts`]) for the scrape. Choosing the instance and retrying are
//! [`crate::proxy`]'s job.

mod conn;
pub mod connect;
pub mod counts;
pub mod http1;
pub mod pool;
pub mod request_body;

pub use connect::{ConnectError, Connector, UpstreamStream};
pub use counts::PoolStats;
pub use http1::{ExchangeError, RequestHead, ResponseBody, ResponseBodyError, Upgraded};
pub use pool::{HostLimit, HostPool, PoolSet};
pub use request_body::{BodyError, ClientBody, Reclaim, UpstreamBody};

use crate::resolver::DnsCache;
use crate::tls::{upstream_tls, TlsError, UpstreamTlsSettings};
use http::Response;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a request got no response head from an upstream.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
}

impl UpstreamError {
    /// Nothing reached the upstream: any request may move on.
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Connect(_))
    }
}

/// Caps on upstream requests in flight: `max_total` in all, `max_per_host`
/// per `host:port`. A request holds its permits until its response body
/// ends, so an HTTP/1.1 pool needs no more connections than that (plus the
/// idle ones it keeps). They are taken before a connection is taken or
/// opened, so a request waiting for room holds nothing else (an earlier
/// client that waited inside its connector left a parked task per waiting
/// request; see BENCHMARKS.md, "Memory").
///
/// The per-host semaphores are looked up by authority only when a table
/// load makes a pool ([`ConnectionLimits::host`]); the pool keeps its own,
/// so a request takes no lock and hashes nothing to find it. Pools (and so
/// their semaphores) outlive reloads with their client, and a client's
/// limits never change (its key holds the pool settings), so unchanged
/// settings keep the same permits across reloads.
#[derive(Debug)]
pub struct ConnectionLimits {
    total: Arc<Semaphore>,
    max_per_host: usize,
    /// Used at table load only.
    per_host: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl ConnectionLimits {
    pub fn new(max_total: usize, max_per_host: usize) -> Arc<Self> {
        Arc::new(Self {
            total: Arc::new(Semaphore::new(max_total.max(1))),
            max_per_host: max_per_host.max(1),
            per_host: Mutex::new(HashMap::new()),
        })
    }

    /// The per-host permits of `authority` (`host:port`), shared by every
    /// pool to it; at table load, when a pool is made.
    pub fn host(&self, authority: &str) -> HostLimit {
        let mut map = self.per_host.lock().unwrap_or_else(|e| e.into_inner());
        let permits = match map.get(authority) {
            Some(host) => host.clone(),
            None => map
                .entry(authority.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(self.max_per_host)))
                .clone(),
        };
        HostLimit {
            permits,
            max: self.max_per_host,
        }
    }

    /// Waits for room for one more request to the instance behind `pool`,
    /// and counts the wait in its pool.
    pub async fn acquire(&self, pool: &HostPool) -> RequestPermits {
        let started = Instant::now();
        let host = match pool.limit() {
            Some(limit) => limit.permits.clone(),
            // A pool made by a client without limits (never the traffic
            // client's): bound it all the same.
            None => self.host(pool.authority()).permits,
        };
        // Never closed, so acquiring cannot fail.
        let host = host
            .acquire_owned()
            .await
            .expect("semaphore is never closed");
        let total = self
            .total
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore is never closed");
        pool.counts().waited(started.elapsed());
        [host, total]
    }
}

/// The permits of one request in flight upstream (per host, in all).
pub type RequestPermits = [OwnedSemaphorePermit; 2];

/// A client for one set of upstream settings.
#[derive(Clone)]
pub struct UpstreamClient {
    connector: Connector,
    pools: Arc<PoolSet>,
    /// The traffic client's caps on requests in flight; `None` for probes.
    pub limits: Option<Arc<ConnectionLimits>>,
}

impl UpstreamClient {
    /// `http` or `https`, for naming instances.
    pub fn scheme(&self) -> &'static str {
        self.connector.scheme()
    }

    /// The idle connections to `host:port` and its per-host permits;
    /// looked up once per table load.
    pub fn pool(&self, host: &str, port: u16) -> Arc<HostPool> {
        self.pools.host(host, port, |authority| {
            self.limits.as_ref().map(|limits| limits.host(authority))
        })
    }

    /// Sends one request to the instance behind `pool` on an idle
    /// connection (a new one when there is none, or when `fresh`) and
    /// returns the response head with its body still to be read.
    /// The response body is cut off if it stops arriving for
    /// `read_timeout`.
    pub async fn send(
        &self,
        pool: &Arc<HostPool>,
        fresh: bool,
        head: RequestHead<'_>,
        body: UpstreamBody,
        read_timeout: Duration,
    ) -> Result<Response<ResponseBody>, UpstreamError> {
        let conn = match (!fresh).then(|| pool.take()).flatten() {
            Some(conn) => conn,
            None => {
                let started = Instant::now();
                let connected = self
                    .connector
                    .connect(pool.host(), pool.port(), pool.authority())
                    .await;
                // Part of the request's wait for a connection, failed or not.
                pool.counts().add_wait(started.elapsed());
                conn::Conn::new(connected?, pool.counts())
            }
        };
        Ok(conn.exchange(head, body, pool, read_timeout).await?)
    }
}

/// The pool settings that come from the table's gateway block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolSettings {
    pub max_total: u32,
    pub max_per_host: u32,
    pub idle_timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    pool: PoolSettings,
    connect_timeout_ms: u64,
    tls: Option<UpstreamTlsSettings>,
    limited: bool,
}

/// Every upstream client in use, by settings; lives across reloads.
pub struct Clients {
    dns: Arc<DnsCache>,
    limits: Mutex<Option<(PoolSettings, Arc<ConnectionLimits>)>>,
    clients: Mutex<HashMap<ClientKey, UpstreamClient>>,
}

impl Clients {
    pub fn new(dns: Arc<DnsCache>) -> Self {
        Self {
            dns,
            limits: Mutex::new(None),
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub fn dns(&self) -> &Arc<DnsCache> {
        &self.dns
    }

    /// The client for a service's traffic: bounded by the pool limits.
    pub fn for_traffic(
        &self,
        pool: PoolSettings,
        connect_timeout: Duration,
        tls: Option<&UpstreamTlsSettings>,
    ) -> Result<UpstreamClient, TlsError> {
        self.get(pool, connect_timeout, tls, true)
    }

    /// The client for health probes: not bounded by the pool limits, so a
    /// busy pool cannot make a healthy instance look dead.
    pub fn for_probes(
        &self,
        pool: PoolSettings,
        connect_timeout: Duration,
        tls: Option<&UpstreamTlsSettings>,
    ) -> Result<UpstreamClient, TlsError> {
        self.get(pool, connect_timeout, tls, false)
    }

    fn get(
        &self,
        pool: PoolSettings,
        connect_timeout: Duration,
        tls: Option<&UpstreamTlsSettings>,
        limited: bool,
    ) -> Result<UpstreamClient, TlsError> {
        let key = ClientKey {
            pool,
            connect_timeout_ms: connect_timeout.as_millis() as u64,
            tls: tls.cloned(),
            limited,
        };
        if let Some(client) = self
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(client.clone());
        }
        let limits = limited.then(|| self.limits(pool));
        let connector = Connector::new(
            self.dns.clone(),
            connect_timeout,
            tls.map(upstream_tls).transpose()?,
        );
        // Probes open a connection each time: a probe must see whether the
        // instance accepts connections, not whether an old one still works.
        let max_idle = if limited {
            pool.max_per_host as usize
        } else {
            0
        };
        let client = UpstreamClient {
            connector,
            pools: PoolSet::new(max_idle, Duration::from_millis(pool.idle_timeout_ms)),
            limits,
        };
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, client.clone());
        Ok(client)
    }

    /// One set of limits for all traffic clients; new limits when the
    /// table changes them.
    fn limits(&self, pool: PoolSettings) -> Arc<ConnectionLimits> {
        let mut current = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        match &*current {
            Some((settings, limits))
                if settings.max_total == pool.max_total
                    && settings.max_per_host == pool.max_per_host =>
            {
                limits.clone()
            }
            _ => {
                let limits =
                    ConnectionLimits::new(pool.max_total as usize, pool.max_per_host as usize);
                *current = Some((pool, limits.clone()));
                limits
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool_to(set: &PoolSet, limits: &ConnectionLimits, port: u16) -> Arc<HostPool> {
        set.host("127.0.0.1", port, |authority| Some(limits.host(authority)))
    }

    #[tokio::test]
    async fn pools_to_one_host_share_its_permits_until_they_are_dropped() {
        let limits = ConnectionLimits::new(8, 1);
        // Two clients' pools (say, two connect timeouts) to the same host,
        // and one to another host.
        let (first, second) = (
            PoolSet::new(0, Duration::from_secs(1)),
            PoolSet::new(0, Duration::from_secs(1)),
        );
        let a = pool_to(&first, &limits, 80);
        let also_a = pool_to(&second, &limits, 80);
        let b = pool_to(&first, &limits, 81);
        assert_eq!(a.limit().map(|l| l.max), Some(1));

        let held = limits.acquire(&a).await;
        let wait = Duration::from_millis(50);
        assert!(
            tokio::time::timeout(wait, limits.acquire(&also_a))
                .await
                .is_err(),
            "the host's one permit is held"
        );
        let other = tokio::time::timeout(wait, limits.acquire(&b)).await;
        assert!(other.is_ok(), "another host has its own permit");
        drop(held);
        let again = tokio::time::timeout(wait, limits.acquire(&also_a)).await;
        assert!(again.is_ok(), "the permit is back once dropped");
        assert_eq!(a.stats().waits, 1);
        assert_eq!(also_a.stats().waits, 1);
    }

    #[tokio::test]
    async fn the_total_bounds_requests_across_hosts() {
        let limits = ConnectionLimits::new(1, 4);
        let set = PoolSet::new(0, Duration::from_secs(1));
        let (a, b) = (pool_to(&set, &limits, 80), pool_to(&set, &limits, 81));
        let _held = limits.acquire(&a).await;
        let blocked = tokio::time::timeout(Duration::from_millis(50), limits.acquire(&b)).await;
        assert!(blocked.is_err(), "the one permit in all is held");
    }

    #[tokio::test]
    async fn a_pool_made_without_limits_is_bounded_by_its_host_all_the_same() {
        let limits = ConnectionLimits::new(8, 1);
        let set = PoolSet::new(0, Duration::from_secs(1));
        let unlimited = set.host("127.0.0.1", 80, |_| None);
        let limited = pool_to(&PoolSet::new(0, Duration::from_secs(1)), &limits, 80);
        let _held = limits.acquire(&unlimited).await;
        let blocked =
            tokio::time::timeout(Duration::from_millis(50), limits.acquire(&limited)).await;
        assert!(blocked.is_err(), "both found 127.0.0.1:80's permits");
    }
}
