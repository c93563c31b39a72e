//! Idle upstream connections kept for the next request, per instance
//! (`host:port`). A [`HostPool`] is looked up once per table load and held
//! by the instance, so a request takes and returns a connection with one
//! uncontended lock and no hashing. Connections are reused newest first
//! (warm caches, and the oldest ones are left to expire), never past the
//! idle timeout, and never when the peer has closed or sent something
//! unasked in the meantime. How many requests may be in flight is
//! [`super::ConnectionLimits`]' business, not the pool's; but the pool
//! holds its instance's per-host permits ([`HostLimit`], resolved when the
//! pool is made), so a request finds them without a lookup, and its
//! [`PoolCounts`] (open, idle, waits) for the scrape.

use super::conn::Conn;
use super::connect::authority;
use super::counts::{PoolCounts, PoolStats};
use crate::clock::now_ms;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::Semaphore;

/// The per-host permits of one `host:port` under the traffic client's
/// connection limits: shared by every pool to that address (whatever its
/// client), so the bound is per host as configured.
#[derive(Debug, Clone)]
pub struct HostLimit {
    pub permits: Arc<Semaphore>,
    /// The semaphore's size (`max_per_host`), for the scrape.
    pub max: usize,
}

/// The idle connections to one instance.
pub struct HostPool {
    host: String,
    port: u16,
    authority: String,
    max_idle: usize,
    idle_timeout_ms: u64,
    idle: Mutex<Vec<Idle>>,
    /// `None` for pools of clients without limits (health probes).
    limit: Option<HostLimit>,
    counts: Arc<PoolCounts>,
}

struct Idle {
    conn: Conn,
    since_ms: u64,
}

impl HostPool {
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port` (`[v6]:port`).
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The per-host permits requests to this instance take.
    pub fn limit(&self) -> Option<&HostLimit> {
        self.limit.as_ref()
    }

    pub(super) fn counts(&self) -> &Arc<PoolCounts> {
        &self.counts
    }

    /// The pool's connections and waits now (for the scrape).
    pub fn stats(&self) -> PoolStats {
        self.counts.stats()
    }

    /// The newest idle connection that is still usable, if any.
    pub fn take(&self) -> Option<Conn> {
        let now = now_ms();
        let mut closed = Vec::new();
        let found = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let before = idle.len();
            let found = loop {
                let Some(entry) = idle.pop() else {
                    break None;
                };
                if now.saturating_sub(entry.since_ms) >= self.idle_timeout_ms {
                    // The newest is too old, so are all the others.
                    closed.push(entry.conn);
                    closed.extend(idle.drain(..).map(|e| e.conn));
                    break None;
                }
                if entry.conn.looks_idle() {
                    break Some(entry.conn);
                }
                closed.push(entry.conn);
            };
            self.counts.unidled(before - idle.len());
            found
        };
        // Closing sockets is a system call each: not under the lock.
        drop(closed);
        found
    }

    /// Keeps `conn` for the next request, unless the pool is full.
    pub fn put(&self, conn: Conn) {
        if self.max_idle == 0 {
            return;
        }
        let entry = Idle {
            conn,
            since_ms: now_ms(),
        };
        let rejected = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < self.max_idle {
                idle.push(entry);
                self.counts.idled(1);
                None
            } else {
                Some(entry)
            }
        };
        drop(rejected);
    }

    /// Closes the connections idle for longer than the timeout.
    fn evict_expired(&self) {
        let now = now_ms();
        let expired: Vec<Idle> = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            // Oldest first: the expired ones are a prefix.
            let keep_from = idle
                .iter()
                .position(|e| now.saturating_sub(e.since_ms) < self.idle_timeout_ms)
                .unwrap_or(idle.len());
            self.counts.unidled(keep_from);
            idle.drain(..keep_from).collect()
        };
        drop(expired);
    }

    /// How many connections are idle now (tests and the admin API).
    pub fn idle_count(&self) -> usize {
        self.counts.idle()
    }
}

/// Every [`HostPool`] of one client, by `host:port`. Pools outlive table
/// reloads with their client, so a reload keeps warm connections.
pub struct PoolSet {
    max_idle: usize,
    idle_timeout: Duration,
    hosts: Mutex<HashMap<(String, u16), Arc<HostPool>>>,
}

impl PoolSet {
    /// Pools that keep up to `max_idle` connections per host for up to
    /// `idle_timeout`; with a runtime at hand, a task closes expired ones
    /// even when no request comes by, and ends when the set is dropped.
    pub fn new(max_idle: usize, idle_timeout: Duration) -> Arc<Self> {
        let set = Arc::new(Self {
            max_idle,
            idle_timeout,
            hosts: Mutex::new(HashMap::new()),
        });
        if max_idle > 0 {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(sweep(Arc::downgrade(&set), idle_timeout));
            }
        }
        set
    }

    /// The pool for `host:port`, made on first use with the per-host
    /// permits `limit` returns for its authority.
    pub fn host(
        &self,
        host: &str,
        port: u16,
        limit: impl FnOnce(&str) -> Option<HostLimit>,
    ) -> Arc<HostPool> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts
            .entry((host.to_owned(), port))
            .or_insert_with(|| {
                let authority = authority(host, port);
                Arc::new(HostPool {
                    host: host.to_owned(),
                    port,
                    limit: limit(&authority),
                    authority,
                    max_idle: self.max_idle,
                    idle_timeout_ms: self.idle_timeout.as_millis().max(1) as u64,
                    idle: Mutex::new(Vec::new()),
                    counts: Arc::default(),
                })
            })
            .clone()
    }

    fn evict_expired(&self) {
        let pools: Vec<Arc<HostPool>> = self
            .hosts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for pool in pools {
            pool.evict_expired();
        }
    }
}

async fn sweep(set: Weak<PoolSet>, idle_timeout: Duration) {
    let period = (idle_timeout / 2).clamp(Duration::from_millis(100), Duration::from_secs(30));
    loop {
        tokio::time::sleep(period).await;
        match set.upgrade() {
            Some(set) => set.evict_expired(),
            None => return,
        }
    }
}

/// A response has been read to its end: its connection goes back to
/// `pool` when it can carry another request, and is closed otherwise.
pub(super) fn finish(conn: Conn, pool: Option<&Arc<HostPool>>) {
    match pool {
        // Bytes beyond the response are a protocol violation.
        Some(pool) if conn.buf.is_empty() => pool.put(conn),
        _ => {}
    }
}
