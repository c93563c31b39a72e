//! One compose project of the container test on the real engine: the
//! commands it runs (`docker`, Compose v2's `docker-compose`), and the
//! guard that takes everything down again. The guard is made before the
//! first image is built, and on drop — a pass or a panic — prints the logs
//! of every container that is not running healthy (on a panic), then runs
//! `docker-compose -p PROJECT down -v` and removes each image tag it was
//! told about. It owns no test logic and no image recipe (`images.rs`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Platform {
    pub docker: PathBuf,
    pub compose: PathBuf,
    pub project: String,
    /// The compose files, in order: the generated file, then the override.
    pub files: Vec<PathBuf>,
    /// The environment compose interpolates and passes on (secrets).
    pub env: Vec<(String, String)>,
    /// Image tags this run made, removed on drop.
    pub images: Vec<String>,
}

impl Platform {
    pub fn new(docker: PathBuf, compose: PathBuf, project: String) -> Self {
        Self {
            docker,
            compose,
            project,
            files: Vec::new(),
            env: Vec::new(),
            images: Vec::new(),
        }
    }

    /// `docker ARGS`, which must succeed.
    pub fn docker(&self, args: &[&str]) -> String {
        checked(Command::new(&self.docker).args(args), "docker", args)
    }

    /// `docker-compose -p PROJECT -f ... ARGS`, which must succeed.
    pub fn compose(&self, args: &[&str]) -> String {
        checked(&mut self.compose_command(args), "docker-compose", args)
    }

    pub fn compose_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.compose);
        command.args(["-p", &self.project]);
        for file in &self.files {
            command.arg("-f").arg(file);
        }
        command.args(args);
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }

    /// The engine's id of a compose service's container.
    pub fn container(&self, service: &str) -> String {
        let id = self.compose(&["ps", "-aq", service]);
        let id = id.trim();
        assert!(!id.is_empty(), "no container for {service}");
        id.to_string()
    }

    /// The address of `service`'s container on the network `network`.
    pub fn address(&self, service: &str, network: &str) -> String {
        let format = format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}");
        self.docker(&["inspect", "-f", &format, &self.container(service)])
            .trim()
            .to_string()
    }

    /// `running healthy`, `running starting`, `exited none`, ...
    pub fn state(&self, service: &str) -> String {
        let format =
            "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}";
        self.docker(&["inspect", "-f", format, &self.container(service)])
            .trim()
            .to_string()
    }

    /// The services of the project, as compose lists them.
    pub fn services(&self) -> Vec<String> {
        self.compose(&["config", "--services"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn logs(&self, service: &str, tail: usize) -> String {
        let out = self
            .compose_command(&["logs", "--no-color", "--tail", &tail.to_string(), service])
            .output();
        match out {
            Ok(o) => format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => format!("(docker-compose logs failed: {e})"),
        }
    }

    /// On a failure: the logs of every container that is not running
    /// healthy, or, when all look well, of the edge and the gateways (the
    /// likelier culprits of a wrong answer).
    fn print_failed_logs(&self) {
        if self.files.is_empty() {
            return;
        }
        let services = self.services();
        let mut failed: Vec<&String> = services
            .iter()
            .filter(|s| {
                let state = Command::new(&self.docker)
                    .args(["inspect", "-f"])
                    .arg("{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}")
                    .arg(format!("{}-{}-1", self.project, s))
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                    .unwrap_or_default();
                !(state == "running healthy" || state == "running")
            })
            .collect();
        if failed.is_empty() {
            failed = services
                .iter()
                .filter(|s| *s == "traefik" || s.starts_with("gateway"))
                .collect();
        }
        for service in failed {
            eprintln!(
                "---- logs of {service} ({}) ----\n{}",
                self.project,
                self.logs(service, 80)
            );
        }
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_failed_logs();
        }
        // For a person debugging the test: leave everything up.
        if std::env::var_os("ROUTEC_CONTAINERS_KEEP").is_some() {
            eprintln!("ROUTEC_CONTAINERS_KEEP: left project {} up", self.project);
            return;
        }
        if !self.files.is_empty() {
            let down = self
                .compose_command(&["down", "-v", "--remove-orphans", "--timeout", "5"])
                .output();
            if let Ok(o) = &down {
                if !o.status.success() {
                    eprintln!(
                        "docker-compose down failed:\n{}",
                        String::from_utf8_lossy(&o.stderr)
                    );
                }
            }
        }
        // Networks compose made are gone with `down`; these are the tags.
        for image in &self.images {
            let _ = Command::new(&self.docker)
                .args(["rmi", "-f", image])
                .output();
        }
    }
}

fn checked(command: &mut Command, tool: &str, args: &[&str]) -> String {
    let out: Output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {} failed ({}):\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The engine answers, or the test fails saying so (never a skip).
pub fn require_engine(docker: &Path) {
    let out = Command::new(docker)
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker: {e}"));
    assert!(
        out.status.success() && !out.stdout.is_empty(),
        "the Docker engine does not answer, so the container test cannot run \
         (start dockerd, or check DOCKER_HOST):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
