//! Publishing tables and reloading them: [`TableStore`] holds the current
//! [`LoadedTable`] behind arc-swap (a request takes one snapshot and keeps
//! it to the end), loads a replacement off to the side, refuses it with a
//! logged error and a counted failure if it does not validate, and restarts
//! health probes for the new table. [`DirWatcher`] watches the directory
//! holding a file, not the file, so both atomic renames and Kubernetes
//! ConfigMap symlink swaps (`..data`) are seen, and debounces the events.
//! It also watches each directory's parent, so a directory removed and
//! created again (a volume remounted, `rm -rf` and a fresh `routec build`)
//! is watched again instead of going silent.

use crate::health::{self, HealthTasks};
use crate::mapping::TableBytes;
use crate::observability::reload_status::ReloadStatus;
use crate::stats::Stats;
use crate::table::{LoadError, LoadedTable, Registries};
use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

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
    pub stats: Arc<Stats>,
    /// When the serving table was published, the last refusal (admin API).
    reload_status: ReloadStatus,
}

impl TableStore {
    /// Loads the table at `path` and starts serving it. Must run inside a
    /// tokio runtime (health probes are spawned).
    pub fn open(
        path: &Path,
        registries: Registries,
        stats: Arc<Stats>,
    ) -> Result<Arc<Self>, LoadError> {
        let table = LoadedTable::load(path, &registries)?;
        let store = Arc::new(Self {
            current: ArcSwap::from_pointee(table),
            path: path.to_owned(),
            registries,
            health: Mutex::new(HealthTasks::default()),
            last_refused: Mutex::new(None),
            stats,
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

    pub fn reload_status(&self) -> &ReloadStatus {
        &self.reload_status
    }

    /// Re-reads the table file. Unless `force`, a file identical to the
    /// serving table (or to the last refused one) is left alone. A table
    /// that fails to load is refused: logged, counted, and the current
    /// table keeps serving.
    pub fn reload(&self, force: bool) -> Result<Reloaded, LoadError> {
        let result = self.try_reload(force);
        if let Err(e) = &result {
            Stats::bump(&self.stats.table_reload_failures);
            self.reload_status.refused(e);
            tracing::error!(path = %self.path.display(), error = %e, "refused the new route table; the previous one keeps serving");
        }
        result
    }

    fn try_reload(&self, force: bool) -> Result<Reloaded, LoadError> {
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
        let table = match LoadedTable::from_bytes(bytes, &self.registries) {
            Ok(table) => Arc::new(table),
            Err(e) => {
                *self.last_refused.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(copy_if_refused);
                return Err(e);
            }
        };
        let generation = table.generation;
        self.current.store(table.clone());
        self.after_publish(&table);
        Stats::bump(&self.stats.table_reloads);
        self.reload_status.published();
        tracing::info!(generation, "route table reloaded");
        Ok(Reloaded::Published { generation })
    }

    fn after_publish(&self, table: &Arc<LoadedTable>) {
        let dns = self.registries.clients.dns();
        dns.set_ttl(table.limits.dns_ttl);
        dns.retain_and_warm(table.hosts());
        // Dropping the old tasks stops them; their instance state lives on.
        *self.health.lock().unwrap_or_else(|e| e.into_inner()) = health::spawn(table);
    }
}

/// Watches the directories of some files and calls back, debounced, when
/// anything that may be one of them changes. Dropping it stops watching.
pub struct DirWatcher {
    _watcher: Arc<Mutex<notify::RecommendedWatcher>>,
    task: JoinHandle<()>,
}

impl Drop for DirWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DirWatcher {
    /// Watches the directories holding `files`; `on_change` runs once the
    /// events have been quiet for `debounce`.
    pub fn spawn(
        files: &[PathBuf],
        debounce: Duration,
        on_change: impl Fn() + Send + 'static,
    ) -> Result<Self, notify::Error> {
        let names: Vec<OsString> = files
            .iter()
            .filter_map(|f| f.file_name().map(|n| n.to_owned()))
            .collect();
        let mut dirs: Vec<PathBuf> = files.iter().map(|f| watch_dir(f)).collect();
        dirs.sort();
        dirs.dedup();
        // The spellings an event may use for a watched directory itself.
        let dir_spellings: Vec<PathBuf> = dirs
            .iter()
            .flat_map(|d| {
                let seen_from_parent = d.file_name().map(|n| parent_dir(d).join(n));
                [
                    Some(d.clone()),
                    seen_from_parent,
                    std::fs::canonicalize(d).ok(),
                ]
            })
            .flatten()
            .collect();
        let (tx, mut rx) = mpsc::unbounded_channel::<()>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                if event.kind.is_access() {
                    return;
                }
                let relevant = event.paths.iter().any(|p| {
                    // A watched directory itself, seen from its parent.
                    dir_spellings.iter().any(|d| d == p)
                        || p.file_name().is_some_and(|n| {
                            // `..data` and friends: a Kubernetes ConfigMap swap.
                            names.iter().any(|name| name == n)
                                || n.to_string_lossy().starts_with("..")
                        })
                });
                if relevant {
                    let _ = tx.send(());
                }
            })?;
        for dir in &dirs {
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
            // Best effort: a root or unreadable parent only loses the re-arm.
            let _ = watcher.watch(&parent_dir(dir), RecursiveMode::NonRecursive);
        }
        let watcher = Arc::new(Mutex::new(watcher));
        let rearm = watcher.clone();
        let task = tokio::spawn(async move {
            while rx.recv().await.is_some() {
                loop {
                    match tokio::time::timeout(debounce, rx.recv()).await {
                        Ok(Some(())) => continue,
                        Ok(None) => return,
                        Err(_) => break,
                    }
                }
                // A directory that was removed and created again is a new
                // inode: watch it again (a no-op for one still watched).
                {
                    let mut watcher = rearm.lock().unwrap_or_else(|e| e.into_inner());
                    for dir in dirs.iter().filter(|d| d.is_dir()) {
                        let _ = watcher.watch(dir, RecursiveMode::NonRecursive);
                    }
                }
                on_change();
            }
        });
        Ok(Self {
            _watcher: watcher,
            task,
        })
    }
}

fn parent_dir(dir: &Path) -> PathBuf {
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn watch_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}
