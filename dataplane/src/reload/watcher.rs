//! [`DirWatcher`] watches the directory holding a file, not the file, so
//! both atomic renames and Kubernetes ConfigMap symlink swaps (`..data`)
//! are seen, and debounces the events. It also watches each directory's
//! parent, so a directory removed and created again (a volume remounted,
//! `rm -rf` and a fresh `routec build`) is watched again instead of going
//! silent. It only calls back: what a change triggers is the caller's.

use notify::{RecursiveMode, Watcher};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

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
