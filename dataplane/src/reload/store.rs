//! The serving table: [`TableStore`] holds the current [`LoadedTable`]
//! behind arc-swap (a request takes one snapshot and keeps it to the end),
//! loads a replacement off to the side, refuses it with a logged error and
//! a counted failure if it does not validate, and restarts health probes
//! for the new table. When a reload runs is [`super::task`]'s business.

use super::status::ReloadStatus;
use crate::health::HealthTasks;
use crate::mapping::TableBytes;
use crate::metrics::Metrics;
use crate::table::{LoadError, LoadedTable, Registries};
use arc_swap::ArcSwap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reloaded {
    /// A new table is serving.
    Published { generation: u64 },
    /// The file holds the table already serving (or the one last refused).
    Unchanged,
}

/// The serving table and how to replace it.
pub struct TableStore {
    current: ArcSwap<LoadedTable>,
    path: PathBuf,
    registries: Registries,
    /// Probes of the current table; replaced with it.
    health: Mutex<HealthTasks>,
    /// The bytes of the last refused table, so that unrelated events in the
    /// directory do not log the same refusal again.
    last_refused: Mutex<Option<Vec<u8>>>,
    /// When the serving table was published, the last refusal (admin API).
    reload_status: ReloadStatus,
}

impl TableStore {
    /// Loads the table at `path` and starts serving it. Must run inside a
    /// tokio runtime (health probes are spawned).
    pub fn open(path: &Path, registries: Registries) -> Result<Arc<Self>, LoadError> {
        let table = LoadedTable::load(path, &registries)?;
        let store = Arc::new(Self {
            current: ArcSwap::from_pointee(table),
            path: path.to_owned(),
            registries,
            health: Mutex::new(HealthTasks::default()),
            last_refused: Mutex::new(None),
            reload_status: ReloadStatus::default(),
        });
        store.after_publish(&store.current());
        Ok(store)
    }

    /// The table serving now; hold it for the whole request.
    pub fn current(&self) -> Arc<LoadedTable> {
        self.current.load_full()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn registries(&self) -> &Registries {
        &self.registries
    }

    /// The gateway's metrics (reload counts among them).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.registries.metrics
    }

    pub fn reload_status(&self) -> &ReloadStatus {
        &self.reload_status
    }

    /// Re-reads the table file. Unless `force`, a file identical to the
    /// serving table (or to the last refused one) is left alone. A table
    /// that fails to load is refused: logged, counted, and the current
    /// table keeps serving.
    pub fn reload(&self, force: bool) -> Result<Reloaded, LoadError> {
        self.reload_then(force, drop)
    }

    /// [`TableStore::reload`] on the reload thread: the replaced table is
    /// freed here too, not on a request thread.
    pub(super) fn reload_off_the_request_threads(
        &self,
        force: bool,
    ) -> Result<Reloaded, LoadError> {
        self.reload_then(force, release_here)
    }

    fn reload_then(
        &self,
        force: bool,
        release: fn(Arc<LoadedTable>),
    ) -> Result<Reloaded, LoadError> {
        let result = self.try_reload(force, release);
        if let Err(e) = &result {
            self.registries.metrics.table_refused();
            self.reload_status.refused(e);
            tracing::error!(path = %self.path.display(), error = %e, "refused the new route table; the previous one keeps serving");
        }
        result
    }

    fn try_reload(
        &self,
        force: bool,
        release: fn(Arc<LoadedTable>),
    ) -> Result<Reloaded, LoadError> {
        let bytes = TableBytes::map(&self.path).map_err(|source| LoadError::Read {
            path: self.path.clone(),
            source,
        })?;
        if !force {
            let refused = self.last_refused.lock().unwrap_or_else(|e| e.into_inner());
            if *self.current().bytes() == *bytes || refused.as_deref() == Some(&*bytes) {
                return Ok(Reloaded::Unchanged);
            }
        }
        let copy_if_refused = bytes.to_vec();
        let table = match LoadedTable::replacing(bytes, &self.registries, Some(&self.current())) {
            Ok(table) => Arc::new(table),
            Err(e) => {
                *self.last_refused.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(copy_if_refused);
                return Err(e);
            }
        };
        let generation = table.generation;
        let replaced = self.current.swap(table.clone());
        self.after_publish(&table);
        self.registries.metrics.table_published();
        self.reload_status.published();
        tracing::info!(generation, "route table reloaded");
        release(replaced);
        Ok(Reloaded::Published { generation })
    }

    fn after_publish(&self, table: &Arc<LoadedTable>) {
        let dns = self.registries.clients.dns();
        dns.set_ttl(table.limits.dns_ttl);
        dns.retain_and_warm(table.hosts());
        // Unchanged probes go on; the others stop, their instance state lives on.
        self.health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .follow(table);
    }
}

/// Drops a replaced table on the reloading thread rather than on whichever
/// request thread lets go of it last (freeing 10,000 routes takes a
/// while): waits a little for the requests still holding it to finish.
/// A request that outlives the wait frees it itself.
fn release_here(replaced: Arc<LoadedTable>) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
    while Arc::strong_count(&replaced) > 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    drop(replaced);
}
