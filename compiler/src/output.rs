//! Writing outputs: atomically, and comparing them with what is on disk.
//!
//! Owns the file-system side of `routec build` and `routec fmt`: every file
//! is written to a temporary file in the same directory, flushed to disk and
//! renamed over the old one, so a reader (the data plane watching
//! `routes.bin`, Traefik watching `dynamic.yml`) sees the old file or the new
//! one, never half of one. Also renders the unified diff that
//! `build --check` prints. Does not decide what the outputs are.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::emit::Output;

/// Why an output could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Write `contents` to `path` atomically: temp file, fsync, rename, fsync of
/// the directory. Skips the write when the file already holds `contents`,
/// so an unchanged output keeps its inode and mtime (watchers stay quiet).
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<bool, WriteError> {
    let err = |source| WriteError {
        path: path.to_path_buf(),
        source,
    };
    if fs::read(path).is_ok_and(|old| old == contents) {
        return Ok(false);
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(err)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile_in(dir, &file_name).map_err(err)?;
    let result = (|| {
        tmp.1.write_all(contents)?;
        tmp.1.sync_all()?;
        fs::rename(&tmp.0, path)?;
        // The rename is durable only once the directory entry is.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp.0);
    }
    result.map_err(err)?;
    Ok(true)
}

/// A new, exclusively created temporary file next to the target. The name
/// starts with `.` and ends in `.tmp` so watchers and globs can ignore it.
fn tempfile_in(dir: &Path, file_name: &str) -> io::Result<(PathBuf, fs::File)> {
    let pid = std::process::id();
    for attempt in 0u32..1000 {
        let path = dir.join(format!(".{file_name}.{pid}.{attempt}.tmp"));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free temporary file name",
    ))
}

/// Write every output under `dir`; returns the paths that changed.
pub fn write_all(dir: &Path, outputs: &[Output]) -> Result<Vec<String>, WriteError> {
    let mut changed = Vec::new();
    for output in outputs {
        if write_atomic(&dir.join(&output.path), &output.contents)? {
            changed.push(output.path.clone());
        }
    }
    Ok(changed)
}

/// One output that differs from the file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    pub path: String,
    /// A unified diff (text files) or a one-line summary (binary files).
    pub diff: String,
}

/// Compare `outputs` with the files under `dir`, writing nothing.
pub fn stale(dir: &Path, outputs: &[Output]) -> Vec<Stale> {
    outputs
        .iter()
        .filter_map(|output| {
            let disk_path = dir.join(&output.path);
            let on_disk = fs::read(&disk_path).ok();
            if on_disk.as_deref() == Some(&output.contents[..]) {
                return None;
            }
            let shown = format!("{}/{}", dir.display(), output.path);
            let diff = match (
                on_disk.as_deref().map(std::str::from_utf8),
                std::str::from_utf8(&output.contents),
            ) {
                (Some(Ok(old)), Ok(new)) => unified_diff(old, new, &shown),
                (None, Ok(new)) => unified_diff("", new, &shown),
                (old, _) => format!(
                    "binary file {shown} differs ({} bytes on disk, {} bytes expected)\n",
                    old.map_or(0, |_| fs::metadata(&disk_path)
                        .map_or(0, |m| m.len() as usize)),
                    output.contents.len()
                ),
            };
            Some(Stale {
                path: output.path.clone(),
                diff,
            })
        })
        .collect()
}

/// `diff -u`-style text, from the on-disk `old` to the expected `new`.
pub fn unified_diff(old: &str, new: &str, name: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}
