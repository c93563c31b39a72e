//! The database layer: PgBouncer configuration compiled from the DSL's
//! `database` blocks. Writes `pgbouncer/pgbouncer.ini` (two pools per
//! database: writes to the primary, reads round-robin over the replicas),
//! `pgbouncer/userlist.txt` (the users services log in as) and
//! `pgbouncer/entrypoint.sh` (the container's start script), and tells
//! `compose.rs` what the `pgbouncer` container and each database-using
//! service need ([`compose_service`], [`service_env`]).
//!
//! No secret is ever generated. The DSL names the env vars that hold each
//! server's URL; the two config files carry `${NAME}` placeholders instead
//! of hosts and credentials, and `entrypoint.sh` splits the URLs and fills
//! the placeholders at container start, into a run directory that never
//! reaches the image or the repository. It owns PgBouncer's settings and
//! the pool names; it does not own the compose file (it only describes its
//! container) nor the checks on `database` blocks (`check.rs`).

use serde::Serialize;

use super::render::Renderer;
use super::{EmitError, Output};
use crate::model::{Database, Model, Service};

/// The compose service (and DNS name) of PgBouncer.
pub const PGBOUNCER_CONTAINER: &str = "pgbouncer";
/// A small Alpine image with PgBouncer and the PostgreSQL client tools
/// (`pg_isready` for the health check); pinned like every other image.
pub const PGBOUNCER_IMAGE: &str = "edoburu/pgbouncer:1.23.1";
/// PgBouncer's own default port; services reach every pool on it.
pub const PGBOUNCER_PORT: u16 = 6432;
/// Where the container sees `generated/pgbouncer/` (read-only).
pub const PGBOUNCER_CONFIG_DIR: &str = "/etc/pgbouncer";
/// Where `entrypoint.sh` writes the filled-in config by default: writable
/// by any user in any image (a tmpfs keeps the secrets off disk).
pub const PGBOUNCER_RUN_DIR: &str = "/tmp/pgbouncer";
/// The read pool's name is the database's with this suffix.
pub const READ_POOL_SUFFIX: &str = "_read";
/// The environment variables a service reads its two URLs from.
pub const WRITE_URL_ENV: &str = "DATABASE_URL";
pub const READ_URL_ENV: &str = "DATABASE_READ_URL";

/// The parts `entrypoint.sh` splits every server URL into: the URL in
/// `NAME` becomes `NAME_HOST`, `NAME_PORT`, ... in the environment the
/// config files are filled from.
const URL_PARTS: [&str; 5] = ["HOST", "PORT", "DBNAME", "USER", "PASSWORD"];

pub fn emit(model: &Model, renderer: &Renderer) -> Result<Vec<Output>, EmitError> {
    if model.databases.is_empty() {
        return Ok(Vec::new());
    }
    let view = View::new(model);
    ["pgbouncer.ini", "userlist.txt", "entrypoint.sh"]
        .into_iter()
        .map(|file| renderer.output(&format!("pgbouncer/{file}"), model, &view))
        .collect()
}

// -------------------------------------------------------------- names ----

/// The PgBouncer database (pool) that takes `database`'s writes.
pub fn write_pool(database: &Database) -> String {
    database.name.clone()
}

/// The PgBouncer database (pool) that takes `database`'s reads. DSL names
/// hold no `_` (the checks allow lower-case letters, digits and `-`), so no
/// database's write pool can be named like another's read pool.
pub fn read_pool(database: &Database) -> String {
    format!("{}{READ_POOL_SUFFIX}", database.name)
}

/// The env vars holding the user name and password services log in to
/// `database`'s pools with, e.g. `MAIN_DB_USER` and `MAIN_DB_PASSWORD`.
/// They are PgBouncer's own users, independent of the servers' (which stay
/// inside the URLs the DSL names), so they can be rotated on their own.
/// Only `-` maps to `_`, and DSL names hold no `_`: distinct databases get
/// distinct variables.
pub fn credential_envs(database: &Database) -> (String, String) {
    let stem = crate::model::env_var_spelling(&database.name);
    (format!("{stem}_DB_USER"), format!("{stem}_DB_PASSWORD"))
}

/// `${NAME}`: a placeholder `entrypoint.sh` fills from the environment.
fn placeholder(name: &str) -> String {
    format!("${{{name}}}")
}

fn url_part(env: &str, part: &str) -> String {
    placeholder(&format!("{env}_{part}"))
}

/// A PgBouncer `[databases]` key: bare when it is a plain identifier, else
/// quoted the SQL way (PgBouncer's rule).
fn ini_key(name: &str) -> String {
    if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

// ---------------------------------------------------------- the files ----

#[derive(Serialize)]
struct View {
    databases: Vec<DatabaseView>,
    /// `[pgbouncer]` lines (`key = value`) in output order.
    settings: Vec<String>,
    /// Every env var `entrypoint.sh` needs, for its usage note.
    required_env: Vec<String>,
    config_dir: &'static str,
    run_dir: &'static str,
    /// The URL parts every server of one pool must agree on.
    shared_url_parts: Vec<&'static str>,
}

#[derive(Serialize)]
struct DatabaseView {
    name: String,
    /// The URLs' env vars, as the entrypoint parses them.
    url_envs: Vec<String>,
    /// The hosts of the read pool (replicas, or the primary when none).
    read_envs: Vec<String>,
    user_env: String,
    password_env: String,
    /// The `userlist.txt` line of the services' login.
    userlist_entry: String,
    pools: Vec<PoolView>,
}

#[derive(Serialize)]
struct PoolView {
    /// The `[databases]` key.
    key: String,
    /// What the pool is for, for the comment above it.
    role: String,
    /// The connection string: `key='value'` pairs.
    connect: String,
}

impl View {
    fn new(model: &Model) -> Self {
        let databases: Vec<DatabaseView> = model.databases.iter().map(DatabaseView::new).collect();
        let required_env = databases
            .iter()
            .flat_map(|d| {
                let mut names = d.url_envs.clone();
                names.extend([d.user_env.clone(), d.password_env.clone()]);
                names
            })
            .collect();
        Self {
            databases,
            settings: settings(model),
            required_env,
            config_dir: PGBOUNCER_CONFIG_DIR,
            run_dir: PGBOUNCER_RUN_DIR,
            shared_url_parts: URL_PARTS.into_iter().filter(|p| *p != "HOST").collect(),
        }
    }
}

impl DatabaseView {
    fn new(database: &Database) -> Self {
        let (user_env, password_env) = credential_envs(database);
        let read_envs = if database.replica_envs.is_empty() {
            vec![database.primary_env.clone()]
        } else {
            database.replica_envs.clone()
        };
        let mut url_envs = vec![database.primary_env.clone()];
        url_envs.extend(database.replica_envs.iter().cloned());
        let write = PoolView {
            key: ini_key(&write_pool(database)),
            role: format!("writes go to the primary ({})", database.primary_env),
            connect: connect_string(database, std::slice::from_ref(&database.primary_env)),
        };
        let read = PoolView {
            key: ini_key(&read_pool(database)),
            role: if database.replica_envs.is_empty() {
                format!(
                    "reads go to the primary ({}): the database has no replicas",
                    database.primary_env
                )
            } else {
                format!(
                    "reads go round-robin over the replicas ({})",
                    database.replica_envs.join(", ")
                )
            },
            connect: connect_string(database, &read_envs),
        };
        Self {
            name: database.name.clone(),
            url_envs,
            read_envs,
            userlist_entry: format!(
                "\"{}\" \"{}\"",
                placeholder(&user_env),
                placeholder(&password_env)
            ),
            user_env,
            password_env,
            pools: vec![write, read],
        }
    }
}

/// One pool's connection string over the servers whose URLs are in `envs`.
/// PgBouncer connects to a comma-separated host list round-robin (1.17+)
/// but takes one port, database name and login for all of them; the
/// entrypoint checks that the URLs agree, so the first one's stand for all.
fn connect_string(database: &Database, envs: &[String]) -> String {
    let hosts: Vec<String> = envs.iter().map(|env| url_part(env, "HOST")).collect();
    let first = &envs[0];
    let quoted = |key: &str, value: &str| format!("{key}='{value}'");
    [
        quoted("host", &hosts.join(",")),
        quoted("port", &url_part(first, "PORT")),
        quoted("dbname", &url_part(first, "DBNAME")),
        quoted("user", &url_part(first, "USER")),
        quoted("password", &url_part(first, "PASSWORD")),
        format!("pool_mode={}", database.pool_mode),
        format!("pool_size={}", database.pool_max),
        format!("min_pool_size={}", database.pool_min),
        // The DSL's maximum is a hard cap: no reserve pool above it.
        "reserve_pool=0".to_string(),
        format!("max_db_connections={}", database.pool_max),
        // The per-command limit, enforced by the server so a slow command
        // fails with a clean SQL error instead of a dropped connection.
        quoted(
            "connect_query",
            &format!("SET statement_timeout = {}", database.command_timeout_ms),
        ),
    ]
    .join(" ")
}

/// The `[pgbouncer]` section's lines.
fn settings(model: &Model) -> Vec<String> {
    let settings: [(&str, String); 11] = [
        ("listen_addr", "*".into()),
        ("listen_port", PGBOUNCER_PORT.to_string()),
        // TCP only: services are on other containers.
        ("unix_socket_dir", String::new()),
        ("auth_type", "scram-sha-256".into()),
        // Relative: the entrypoint runs PgBouncer in its run directory.
        ("auth_file", "userlist.txt".into()),
        ("pool_mode", "transaction".into()),
        ("max_client_conn", max_client_conn(model).to_string()),
        ("reserve_pool_size", "0".into()),
        // Hand out server connections in turn, not last-used first, so
        // reads spread over every replica of a read pool.
        ("server_round_robin", "1".into()),
        // A client that finds its pool full waits this long (seconds)
        // before it is refused.
        ("query_wait_timeout", "120".into()),
        // Sent by JDBC and psycopg; harmless to ignore.
        ("ignore_startup_parameters", "extra_float_digits".into()),
    ];
    settings
        .into_iter()
        .map(|(key, value)| format!("{key} = {value}").trim_end().to_string())
        .collect()
}

/// Enough client connections for every instance of every database-using
/// service to fill both of its database's pools on its own: a service-side
/// pool no larger than the DSL's maximum never meets a refused connection,
/// it waits for a server connection instead.
fn max_client_conn(model: &Model) -> u32 {
    model
        .services
        .iter()
        .filter_map(|s| {
            let database = model.database(s.database.as_deref()?)?;
            Some(s.instances.len() as u32 * 2 * database.pool_max)
        })
        .sum::<u32>()
        .max(1)
}

// ------------------------------------------------------------ compose ----

/// What `docker-compose.yml` needs to run PgBouncer. Every field is in
/// compose's own terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComposePgbouncer {
    /// Service name and DNS name.
    pub name: String,
    pub image: String,
    /// Replaces the image's entrypoint: the generated start script.
    pub entrypoint: Vec<String>,
    /// Bind mounts, relative to `generated/` (where the compose file is).
    pub volumes: Vec<String>,
    /// In-memory mounts: the run directory, so the filled-in config (which
    /// holds the servers' passwords) never touches a disk.
    pub tmpfs: Vec<String>,
    /// Passed through from the host by name (`- NAME`): the server URLs the
    /// DSL names and the services' login. Never values.
    pub environment: Vec<String>,
    /// `test` of the health check (compose's exec form).
    pub healthcheck_test: Vec<String>,
    /// The port services reach it on; not published on the host.
    pub port: u16,
}

/// The `pgbouncer` container, when the DSL declares any database. It
/// belongs on the internal network only.
pub fn compose_service(model: &Model) -> Option<ComposePgbouncer> {
    if model.databases.is_empty() {
        return None;
    }
    let view = View::new(model);
    Some(ComposePgbouncer {
        name: PGBOUNCER_CONTAINER.into(),
        image: PGBOUNCER_IMAGE.into(),
        entrypoint: vec![
            "/bin/sh".into(),
            format!("{PGBOUNCER_CONFIG_DIR}/entrypoint.sh"),
        ],
        volumes: vec![format!("./pgbouncer:{PGBOUNCER_CONFIG_DIR}:ro")],
        tmpfs: vec![PGBOUNCER_RUN_DIR.into()],
        environment: view.required_env,
        healthcheck_test: [
            "CMD",
            "pg_isready",
            "--host=127.0.0.1",
            &format!("--port={PGBOUNCER_PORT}"),
        ]
        .map(String::from)
        .to_vec(),
        port: PGBOUNCER_PORT,
    })
}

/// `DATABASE_URL` (writes) and `DATABASE_READ_URL` (reads) for `service`,
/// both through PgBouncer, with the login left to compose's `${VAR}`
/// interpolation. Empty for a service without a database. The values must
/// reach the compose file with their `$` intact (not doubled).
pub fn service_env(model: &Model, service: &Service) -> Vec<(String, String)> {
    let Some(database) = service.database.as_deref().and_then(|d| model.database(d)) else {
        return Vec::new();
    };
    let (user, password) = credential_envs(database);
    let url = |pool: String| {
        format!(
            "postgres://{}:{}@{PGBOUNCER_CONTAINER}:{PGBOUNCER_PORT}/{pool}",
            placeholder(&user),
            placeholder(&password)
        )
    };
    vec![
        (WRITE_URL_ENV.into(), url(write_pool(database))),
        (READ_URL_ENV.into(), url(read_pool(database))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(name: &str, replicas: &[&str]) -> Database {
        Database {
            name: name.into(),
            primary_env: "DATABASE_URL".into(),
            replica_envs: replicas.iter().map(|r| r.to_string()).collect(),
            pool_min: 5,
            pool_max: 20,
            command_timeout_ms: 30_000,
            pool_mode: "transaction".into(),
        }
    }

    #[test]
    fn reads_spread_over_the_replicas_or_go_to_the_primary() {
        let cases: [(&[&str], &str); 2] = [
            (
                &["R1", "R2"],
                "host='${R1_HOST},${R2_HOST}' port='${R1_PORT}'",
            ),
            (
                &[],
                "host='${DATABASE_URL_HOST}' port='${DATABASE_URL_PORT}'",
            ),
        ];
        for (replicas, read_hosts) in cases {
            let view = DatabaseView::new(&database("main", replicas));
            let [write, read] = &view.pools[..] else {
                panic!("two pools")
            };
            assert!(write.connect.starts_with("host='${DATABASE_URL_HOST}' "));
            assert!(read.connect.starts_with(read_hosts), "{}", read.connect);
        }
    }

    #[test]
    fn names_outside_identifiers_are_quoted_and_credentials_upper_cased() {
        let db = database("chat-log", &[]);
        assert_eq!(ini_key(&read_pool(&db)), "\"chat-log_read\"");
        assert_eq!(credential_envs(&db).0, "CHAT_LOG_DB_USER");
        assert_eq!(ini_key("main"), "main");
    }

    #[test]
    fn every_url_part_has_a_placeholder() {
        let db = database("main", &["R1"]);
        let connect = DatabaseView::new(&db).pools[1].connect.clone();
        for part in URL_PARTS {
            assert!(
                connect.contains(&url_part("R1", part)),
                "{part} missing: {connect}"
            );
        }
    }
}
