//! Finding the real tools a test drives (Traefik, Compose, ...): first on
//! `PATH`, then in the workspace's `.venv/bin`, where `tests/run.sh`
//! installs them. A missing tool fails the test with its name and how to
//! install it; `ROUTEC_WITHOUT_REAL_TOOLS=1` ignores such tests instead.

use std::path::{Path, PathBuf};

/// The path of `name`, or a panic naming it and `install`.
#[allow(dead_code)]
pub fn require(name: &str, install: &str) -> PathBuf {
    find(name).unwrap_or_else(|| {
        panic!(
            "`{name}` is needed by this test and is neither on PATH nor in .venv/bin; \
             install it with: {install} (or set ROUTEC_WITHOUT_REAL_TOOLS=1 to skip)"
        )
    })
}

/// `name` on `PATH`, else in `<workspace root>/.venv/bin`.
#[allow(dead_code)]
pub fn find(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(std::iter::once(workspace_root().join(".venv/bin")))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").exists())
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")))
        .to_path_buf()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
