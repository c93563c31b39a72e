//! What one instance's pool counts for the scrape: its open and idle
//! connections and the time requests waited for a connection. Plain
//! atomics, bumped by the request path without a lock and read by
//! [`PoolCounts::stats`] when `/metrics` is scraped; the metrics module
//! never sees this type, only the numbers (the admin scrape copies them).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The counts of one [`super::HostPool`].
#[derive(Debug, Default)]
pub struct PoolCounts {
    /// Connections open now: idle in the pool or carrying a request (or a
    /// tunnel after an upgrade).
    open: AtomicU64,
    /// Of those, idle in the pool.
    idle: AtomicU64,
    /// Requests that took a connection from this pool.
    waits: AtomicU64,
    /// Their time waiting for the connection limits' permits plus the
    /// time connecting, when there was no idle connection.
    wait_nanos: AtomicU64,
}

/// A moment's reading of a pool's counts. `in_use` is derived (open less
/// idle), so a reading is consistent to within requests in passing.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PoolStats {
    pub open: u64,
    pub idle: u64,
    pub in_use: u64,
    pub waits: u64,
    pub wait_seconds: f64,
}

impl PoolCounts {
    pub fn stats(&self) -> PoolStats {
        // Relaxed throughout: the figures are independent and approximate
        // by nature; no reading orders other memory.
        let open = self.open.load(Ordering::Relaxed);
        let idle = self.idle.load(Ordering::Relaxed);
        PoolStats {
            open,
            idle,
            in_use: open.saturating_sub(idle),
            waits: self.waits.load(Ordering::Relaxed),
            wait_seconds: Duration::from_nanos(self.wait_nanos.load(Ordering::Relaxed))
                .as_secs_f64(),
        }
    }

    /// Idle connections now (exact: changed under the pool's lock).
    pub fn idle(&self) -> usize {
        self.idle.load(Ordering::Relaxed) as usize
    }

    pub(super) fn idled(&self, n: usize) {
        self.idle.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(super) fn unidled(&self, n: usize) {
        self.idle.fetch_sub(n as u64, Ordering::Relaxed);
    }

    /// One request's wait for its permits begins a wait.
    pub(super) fn waited(&self, wait: Duration) {
        self.waits.fetch_add(1, Ordering::Relaxed);
        self.add_wait(wait);
    }

    /// Time spent connecting adds to the wait of the request it is for.
    pub(super) fn add_wait(&self, wait: Duration) {
        let nanos = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
        self.wait_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// Counts one connection as open for as long as it lives, whatever ends
/// it (a close, an error, eviction, the end of a tunnel): held by the
/// connection, not decremented by hand at each of those places.
#[derive(Debug)]
pub struct OpenConn(Arc<PoolCounts>);

impl OpenConn {
    pub fn new(counts: &Arc<PoolCounts>) -> Self {
        counts.open.fetch_add(1, Ordering::Relaxed);
        Self(counts.clone())
    }
}

impl Drop for OpenConn {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}
