//! The DNS cache for upstream host names (`auth-service-1`, resolved by
//! Docker's DNS in compose). Entries live for the table's TTL and are
//! refreshed by a background task, so a replaced container's new address is
//! picked up without a restart and requests only read the cache. A failed
//! refresh keeps the last good answer. It does not connect anywhere.

use crate::clock::now_ms;
use std::collections::{HashMap, HashSet};
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

#[derive(Debug, Clone)]
struct Entry {
    addrs: Arc<[IpAddr]>,
    resolved_ms: u64,
}

/// Host name -> addresses, with a TTL. Locks are held only to copy an `Arc`.
#[derive(Debug)]
pub struct DnsCache {
    entries: RwLock<HashMap<String, Entry>>,
    ttl_ms: AtomicU64,
}

impl DnsCache {
    pub fn new(ttl: Duration) -> Arc<Self> {
        Arc::new(Self {
            entries: RwLock::new(HashMap::new()),
            ttl_ms: AtomicU64::new(ttl.as_millis() as u64),
        })
    }

    /// The table decides the TTL; a reload may change it.
    pub fn set_ttl(&self, ttl: Duration) {
        self.ttl_ms
            .store(ttl.as_millis().max(1) as u64, Ordering::Relaxed);
    }

    pub fn ttl(&self) -> Duration {
        Duration::from_millis(self.ttl_ms.load(Ordering::Relaxed))
    }

    /// The addresses of `host`: an IP literal as is, a cached answer even if
    /// stale (the refresher is on it), or a lookup now for a name never seen.
    pub async fn resolve(&self, host: &str) -> io::Result<Arc<[IpAddr]>> {
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return Ok(Arc::from([ip]));
        }
        if let Some(entry) = self.read().get(host) {
            return Ok(entry.addrs.clone());
        }
        self.refresh(host).await
    }

    /// Looks `host` up now and caches the answer.
    pub async fn refresh(&self, host: &str) -> io::Result<Arc<[IpAddr]>> {
        let addrs: Vec<IpAddr> = tokio::net::lookup_host((host, 0))
            .await?
            .map(|sa| sa.ip())
            .collect();
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host}: no addresses"),
            ));
        }
        let addrs: Arc<[IpAddr]> = addrs.into();
        let entry = Entry {
            addrs: addrs.clone(),
            resolved_ms: now_ms(),
        };
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(host.to_owned(), entry);
        Ok(addrs)
    }

    /// Keeps only `hosts` (the current table's) and resolves the new ones in
    /// the background.
    pub fn retain_and_warm(self: &Arc<Self>, hosts: impl IntoIterator<Item = String>) {
        // A set: a table names thousands of hosts, and a list would make
        // the retain below quadratic (milliseconds per reload at 10,000 routes).
        let hosts: HashSet<String> = hosts
            .into_iter()
            .filter(|h| h.parse::<IpAddr>().is_err())
            .collect();
        let fresh: Vec<String> = {
            let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
            entries.retain(|name, _| hosts.contains(name));
            hosts
                .into_iter()
                .filter(|h| !entries.contains_key(h))
                .collect()
        };
        for host in fresh {
            let cache = self.clone();
            tokio::spawn(async move {
                if let Err(e) = cache.refresh(&host).await {
                    tracing::warn!(%host, error = %e, "upstream host does not resolve yet");
                }
            });
        }
    }

    /// Re-resolves entries older than the TTL, forever; run it in a task.
    pub async fn refresh_loop(self: Arc<Self>) {
        loop {
            let ttl = self.ttl();
            tokio::time::sleep((ttl / 4).max(Duration::from_millis(100))).await;
            let deadline = now_ms().saturating_sub(ttl.as_millis() as u64);
            let stale: Vec<String> = self
                .read()
                .iter()
                .filter(|(_, e)| e.resolved_ms <= deadline)
                .map(|(name, _)| name.clone())
                .collect();
            for host in stale {
                if let Err(e) = self.refresh(&host).await {
                    tracing::warn!(%host, error = %e, "DNS refresh failed; keeping the last answer");
                }
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Entry>> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn literals_bypass_and_names_are_cached() {
        let cache = DnsCache::new(Duration::from_secs(300));
        assert_eq!(
            &*cache.resolve("127.0.0.1").await.unwrap(),
            &["127.0.0.1".parse::<IpAddr>().unwrap()]
        );
        let first = cache.resolve("localhost").await.unwrap();
        assert!(!first.is_empty());
        assert!(cache.read().contains_key("localhost"));
        cache.retain_and_warm(Vec::new());
        assert!(cache.read().is_empty());
    }
}
