//! The container test's images, built on this machine without a registry:
//! each is `FROM scratch` with host binaries and the shared libraries `ldd`
//! names for them, built by the engine's classic builder from a context of
//! a few megabytes. It owns no container and runs nothing; the platform
//! guard (`platform.rs`) removes every tag made here.
//!
//! The gateway's image is the public `dataplane/Dockerfile`'s `prebuilt`
//! stage on a base made here; every other image is made here whole.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One file of an image: a host file and where it sits in the image.
pub struct Entry {
    pub host: PathBuf,
    pub image: String,
}

impl Entry {
    pub fn new(host: impl Into<PathBuf>, image: &str) -> Self {
        Self {
            host: host.into(),
            image: image.to_string(),
        }
    }
}

/// The shared libraries `ldd` names for `binary`, with the dynamic loader;
/// empty for a static binary.
pub fn shared_libraries(binary: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .unwrap_or_else(|e| panic!("ldd {}: {e}", binary.display()));
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|line| {
            // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` or
            // `/lib64/ld-linux-x86-64.so.2 (0x...)`; vdso has no file.
            let path = match line.split_once("=>") {
                Some((_, right)) => right.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// Builds `tag` from scratch: `entries` with their libraries (each at the
/// path `ldd` names, the loader's default search path), then `tail`
/// (Dockerfile instructions: ENTRYPOINT, USER, ...).
pub fn build_scratch(docker: &Path, tag: &str, entries: &[Entry], tail: &str) {
    let context = tempfile::tempdir().expect("image context");
    let root = context.path().join("rootfs");
    let put = |host: &Path, image: &str| {
        let target = root.join(image.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        // Follows symlinks: the image gets the file, under the name asked.
        std::fs::copy(host, &target)
            .unwrap_or_else(|e| panic!("copy {} into {tag}: {e}", host.display()));
    };
    for entry in entries {
        put(&entry.host, &entry.image);
        for library in shared_libraries(&entry.host) {
            put(&library, &library.to_string_lossy());
        }
    }
    // Docker mounts /etc/hosts, /etc/resolv.conf and /etc/hostname over
    // these; /tmp is where programs expect to write.
    for dir in ["etc", "tmp"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::write(
        context.path().join("Dockerfile"),
        format!("FROM scratch\nCOPY rootfs/ /\n{tail}\n"),
    )
    .unwrap();
    build(docker, tag, context.path(), None, &[]);
}

/// `docker build -t tag` of `context` (its `Dockerfile`, or `dockerfile`),
/// with the classic builder: this engine has no BuildKit plugin, and every
/// image here is a few COPY lines.
pub fn build(docker: &Path, tag: &str, context: &Path, dockerfile: Option<&Path>, extra: &[&str]) {
    let mut command = Command::new(docker);
    command
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "-t", tag]);
    if let Some(file) = dockerfile {
        command.arg("-f").arg(file);
    }
    let out = command
        .args(extra)
        .arg(context)
        .output()
        .expect("run docker build");
    assert!(
        out.status.success(),
        "docker build {tag} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A one-instruction image on top of `base` (each service's stub: the same
/// binary, its own name and port).
pub fn build_on(docker: &Path, tag: &str, base: &str, instructions: &str) {
    let context = tempfile::tempdir().expect("image context");
    std::fs::write(
        context.path().join("Dockerfile"),
        format!("FROM {base}\n{instructions}\n"),
    )
    .unwrap();
    build(docker, tag, context.path(), None, &[]);
}

/// The first of `candidates` that exists (Debian keeps some binaries off
/// `PATH`, under a versioned directory).
pub fn host_binary(name: &str, candidates: &[&str], install: &str) -> PathBuf {
    for pattern in candidates {
        if let Some(found) = glob_one(pattern) {
            return found;
        }
    }
    panic!(
        "`{name}` is not installed, so the container test cannot build its image.\n\
         Install it with `{install}`, or run `bash tests/run.sh`."
    )
}

/// `pattern` with at most one `*` component (`/usr/lib/postgresql/*/bin/x`),
/// the highest match.
fn glob_one(pattern: &str) -> Option<PathBuf> {
    let Some((before, after)) = pattern.split_once('*') else {
        let path = PathBuf::from(pattern);
        return path.is_file().then_some(path);
    };
    let mut names: Vec<_> = std::fs::read_dir(before)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join(after.trim_start_matches('/')))
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    names.pop()
}
