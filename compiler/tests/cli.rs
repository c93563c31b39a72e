//! The `routec` binary end to end: exit codes, `build` writing atomically
//! and deterministically, `build --check` catching stale or hand-edited
//! output with a diff, `fmt --check`, `explain`, `inspect`.

use std::path::Path;
use std::process::{Command, Output};

fn routec(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_routec"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("routec runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../routes.dsl"),
        dir.path().join("routes.dsl"),
    )
    .unwrap();
    dir
}

#[test]
fn build_then_check_is_clean_and_rebuild_is_byte_identical() {
    let dir = workspace();
    let first = routec(dir.path(), &["build"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let snapshot = |p: &str| std::fs::read(dir.path().join("generated").join(p)).unwrap();
    let table = snapshot("routes.bin");
    let dynamic = snapshot("traefik/dynamic.yml");
    let check = routec(dir.path(), &["build", "--check"]);
    assert!(
        check.status.success(),
        "{}{}",
        text(&check.stdout),
        text(&check.stderr)
    );
    let again = routec(dir.path(), &["build"]);
    assert!(again.status.success());
    assert!(
        text(&again.stderr).contains("wrote 0 of"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(snapshot("routes.bin"), table);
    assert_eq!(snapshot("traefik/dynamic.yml"), dynamic);
    // No temporary files left behind by the atomic writes.
    let leftovers: Vec<_> = walk(&dir.path().join("generated"))
        .into_iter()
        .filter(|p| p.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

#[test]
fn check_reports_a_hand_edit_with_a_unified_diff() {
    let dir = workspace();
    assert!(routec(dir.path(), &["build"]).status.success());
    let dynamic = dir.path().join("generated/traefik/dynamic.yml");
    let edited = std::fs::read_to_string(&dynamic)
        .unwrap()
        .replace("priority: 400", "priority: 4000");
    std::fs::write(&dynamic, edited).unwrap();
    let check = routec(dir.path(), &["build", "--check"]);
    assert_eq!(check.status.code(), Some(1));
    let diff = text(&check.stdout);
    assert!(
        diff.contains("--- a/generated/traefik/dynamic.yml"),
        "{diff}"
    );
    assert!(
        diff.contains("-      priority: 4000") && diff.contains("+      priority: 400"),
        "{diff}"
    );
    assert!(text(&check.stderr).contains("traefik/dynamic.yml"));
}

#[test]
fn check_reports_a_stale_output_after_a_dsl_change() {
    let dir = workspace();
    assert!(routec(dir.path(), &["build"]).status.success());
    let dsl = dir.path().join("routes.dsl");
    let changed = std::fs::read_to_string(&dsl)
        .unwrap()
        .replace("priority 400", "priority 450");
    std::fs::write(&dsl, changed).unwrap();
    let check = routec(dir.path(), &["build", "--check"]);
    assert_eq!(check.status.code(), Some(1));
    let stderr = text(&check.stderr);
    assert!(
        stderr.contains("routes.bin") && stderr.contains("dynamic.yml"),
        "{stderr}"
    );
    assert!(text(&check.stdout).contains("binary file generated/routes.bin differs"));
}

#[test]
fn errors_exit_1_with_every_diagnostic_and_usage_errors_exit_2() {
    let dir = workspace();
    let bad = "platform p {\n  domain \"x.example\"\n  network n\n  subnet 10.0.0.0/8\n}\n\nservice a {\n  port 99999\n  prefix \"nope\"\n}\n";
    std::fs::write(dir.path().join("bad.dsl"), bad).unwrap();
    let check = routec(dir.path(), &["check", "bad.dsl"]);
    assert_eq!(check.status.code(), Some(1));
    let stderr = text(&check.stderr);
    assert!(
        stderr.contains("bad.dsl:8:8") && stderr.contains("bad.dsl:9:10"),
        "{stderr}"
    );
    assert!(stderr.contains("2 errors"), "{stderr}");
    let build = routec(dir.path(), &["build", "bad.dsl", "-o", "out"]);
    assert_eq!(build.status.code(), Some(1));
    assert!(
        !dir.path().join("out").exists(),
        "a failed build writes nothing"
    );
    assert_eq!(
        routec(dir.path(), &["check", "missing.dsl"]).status.code(),
        Some(2)
    );
    assert_eq!(routec(dir.path(), &["frobnicate"]).status.code(), Some(2));
}

#[test]
fn fmt_check_and_rewrite() {
    let dir = workspace();
    assert!(routec(dir.path(), &["fmt", "--check"]).status.success());
    let messy = dir.path().join("messy.dsl");
    std::fs::write(
        &messy,
        "platform   p {\n      domain \"x.example\"\n  network n\n  subnet 10.0.0.0/8\n}\n\n\n",
    )
    .unwrap();
    let check = routec(dir.path(), &["fmt", "--check", "messy.dsl"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(text(&check.stdout).contains("+platform p {"));
    assert!(routec(dir.path(), &["fmt", "messy.dsl"]).status.success());
    assert!(routec(dir.path(), &["fmt", "--check", "messy.dsl"])
        .status
        .success());
}

#[test]
fn explain_and_inspect() {
    let dir = workspace();
    let explain = routec(dir.path(), &["explain", "GET", "/v1/chat/ws"]);
    assert!(explain.status.success());
    assert!(
        text(&explain.stdout).contains("chat-ws"),
        "{}",
        text(&explain.stdout)
    );
    assert!(routec(dir.path(), &["build"]).status.success());
    let inspect = routec(dir.path(), &["inspect"]);
    assert!(inspect.status.success(), "{}", text(&inspect.stderr));
    assert!(text(&inspect.stdout).contains("/v1/notifications/ws"));
    assert!(text(&inspect.stdout).contains("client header names with `_`: dropped"));
    std::fs::write(dir.path().join("junk.bin"), b"not a table").unwrap();
    let bad = routec(dir.path(), &["inspect", "junk.bin"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("junk.bin"));
}
