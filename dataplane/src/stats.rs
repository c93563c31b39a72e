//! Counters the data plane keeps about itself (reloads, refusals, retries,
//! ejections, open connections), as plain atomics. Exporting them in the
//! Prometheus format under the names of [`crate::metric_names`] is the
//! job of `/metrics`; this module only counts.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Stats {
    /// `gateway_table_reloads_total`: tables published after start-up.
    pub table_reloads: AtomicU64,
    /// `gateway_table_reload_failures_total`: tables refused.
    pub table_reload_failures: AtomicU64,
    /// `gateway_upstream_retries_total` (all services).
    pub upstream_retries: AtomicU64,
    /// `gateway_upstream_ejections_total` (all instances).
    pub upstream_ejections: AtomicU64,
    /// `http_active_connections`.
    pub active_connections: AtomicI64,
}

impl Stats {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Counts an open client connection for as long as it lives.
pub struct ConnectionGuard(std::sync::Arc<Stats>);

impl ConnectionGuard {
    pub fn new(stats: std::sync::Arc<Stats>) -> Self {
        stats.active_connections.fetch_add(1, Ordering::Relaxed);
        Self(stats)
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.active_connections.fetch_sub(1, Ordering::Relaxed);
    }
}
