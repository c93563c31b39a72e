//! The database layer against real servers: the PgBouncer files `routec`
//! generates from `routes.dsl`, started by the generated `entrypoint.sh`
//! in front of a real PostgreSQL primary and two streaming replicas, all on
//! loopback.
//!
//! Owns the proof that writes reach the primary, reads spread over both
//! replicas, a pool never opens more server connections than the DSL's
//! maximum while more clients than that all succeed, and the command
//! timeout reaches the servers. Also snapshots the generated files. The
//! only test-side changes to the generated files are where PgBouncer
//! listens (a free loopback port instead of 6432) and, through the env vars
//! the DSL names, where the servers are. Does not test the checks on
//! `database` blocks (`compiler/tests/pgbouncer_checks.rs`).
//!
//! Needs Debian's `postgresql` and `pgbouncer` packages. PostgreSQL and
//! PgBouncer refuse to run as root, so as root (CI) every server runs as
//! `nobody` through `setpriv`. Without the binaries the test fails, naming
//! them (see `tests/support/tools.rs` for leaving it out on purpose).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::types::Type;
use postgres::{Client, NoTls};
use routec::emit::{emit_all, pgbouncer, Output};
use routec::model::Model;

/// Where Debian keeps PostgreSQL's server binaries (off `PATH`).
const PG_BIN_DIRS: &[&str] = &[
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
];
const INSTALL_POSTGRES: &str = "apt-get install postgresql";
const INSTALL_PGBOUNCER: &str = "apt-get install pgbouncer";

/// A PostgreSQL server binary (`initdb`, `postgres`, `pg_basebackup`).
fn pg_bin(name: &str) -> PathBuf {
    integration_tests::tools::require_in(name, PG_BIN_DIRS, INSTALL_POSTGRES)
}
/// How long a server may take to accept connections: generous, the
/// machine is shared. Not asserted on; only a bound on waiting.
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

const PRIMARY: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const REPLICAS: [Ipv4Addr; 2] = [Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3)];

/// The servers' login; the password needs percent-encoding in a URL and
/// quoting in PgBouncer's files, so the entrypoint's decoding and quoting
/// are on the path.
const SERVER_USER: &str = "app";
const SERVER_PASSWORD: &str = "p@ss:w/rd'\" %";
const SERVER_DATABASE: &str = "dating";
/// The services' login to PgBouncer.
const CLIENT_USER: &str = "svc";
const CLIENT_PASSWORD: &str = "svc-pass_1.2~3";

fn model() -> Model {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../routes.dsl");
    let source = fs::read_to_string(&path).expect("read routes.dsl");
    routec::compile(&source, "routes.dsl")
        .expect("routes.dsl compiles")
        .model
}

fn pgbouncer_outputs(model: &Model) -> BTreeMap<String, String> {
    emit_all(model)
        .expect("emit")
        .into_iter()
        .filter_map(|Output { path, contents }| {
            let name = path.strip_prefix("pgbouncer/")?.to_string();
            Some((name, String::from_utf8(contents).expect("utf-8")))
        })
        .collect()
}

// ---------------------------------------------------------- snapshots ----

#[test]
fn generated_files_match_their_snapshots() {
    let outputs = pgbouncer_outputs(&model());
    assert_eq!(
        outputs.keys().collect::<Vec<_>>(),
        ["entrypoint.sh", "pgbouncer.ini", "userlist.txt"]
    );
    for (name, text) in &outputs {
        // The header's hash changes with every routes.dsl edit.
        let text = text
            .lines()
            .map(|l| {
                if l.contains("generated from") {
                    "<header>"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        insta::assert_snapshot!(name.as_str(), text);
    }
}

#[test]
fn committed_files_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../generated/pgbouncer");
    for (name, text) in pgbouncer_outputs(&model()) {
        let on_disk = fs::read_to_string(dir.join(&name)).unwrap_or_default();
        assert!(
            on_disk == text,
            "generated/pgbouncer/{name} is stale: run `routec build`"
        );
    }
}

#[test]
fn no_secret_and_no_host_is_generated() {
    let model = model();
    let outputs = pgbouncer_outputs(&model);
    for name in ["pgbouncer.ini", "userlist.txt"] {
        assert!(!outputs[name].contains("postgres://"), "{name} holds a URL");
        assert!(!outputs[name].contains('@'), "{name} holds a login");
    }
    let ini = &outputs["pgbouncer.ini"];
    // Every server detail is a placeholder the DSL's env vars fill.
    let database = &model.databases[0];
    for env in std::iter::once(&database.primary_env).chain(&database.replica_envs) {
        assert!(ini.contains(&format!("${{{env}_HOST}}")), "{env} unused");
    }
}

#[test]
fn services_get_both_urls_through_pgbouncer_and_no_literal_secret() {
    let model = model();
    let mut with_database = 0;
    for service in &model.services {
        let env = pgbouncer::service_env(&model, service);
        if service.database.is_none() {
            assert!(env.is_empty(), "{} has no database", service.name);
            continue;
        }
        with_database += 1;
        assert_eq!(
            env,
            [
                (
                    "DATABASE_URL".to_string(),
                    "postgres://${MAIN_DB_USER}:${MAIN_DB_PASSWORD}@pgbouncer:6432/main"
                        .to_string()
                ),
                (
                    "DATABASE_READ_URL".to_string(),
                    "postgres://${MAIN_DB_USER}:${MAIN_DB_PASSWORD}@pgbouncer:6432/main_read"
                        .to_string()
                ),
            ]
        );
    }
    assert_eq!(with_database, 8, "the eight microservices use `main`");
    let compose = pgbouncer::compose_service(&model).expect("a database exists");
    assert_eq!(
        compose.environment,
        [
            "DATABASE_URL",
            "DATABASE_READ_URL_1",
            "DATABASE_READ_URL_2",
            "MAIN_DB_USER",
            "MAIN_DB_PASSWORD"
        ]
    );
}

// ---------------------------------------------------- real servers ----

/// Every server binary the test runs, required up front so a missing one
/// fails before anything starts, naming it and its package.
fn require_servers() {
    for name in ["initdb", "postgres", "pg_basebackup"] {
        pg_bin(name);
    }
    integration_tests::tools::require_in("pgbouncer", &["/usr/sbin"], INSTALL_PGBOUNCER);
}

/// Who the servers run as: the current user, or `nobody` when that is root.
#[derive(Clone, Copy)]
struct RunAs {
    /// `Some((uid, gid))` when servers must drop root.
    drop_to: Option<(u32, u32)>,
}

impl RunAs {
    fn detect() -> Self {
        let id = |flag: &str, user: Option<&str>| -> u32 {
            let out = Command::new("id")
                .arg(flag)
                .args(user)
                .output()
                .expect("run id");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .expect("numeric id")
        };
        let drop_to =
            (id("-u", None) == 0).then(|| (id("-u", Some("nobody")), id("-g", Some("nobody"))));
        Self { drop_to }
    }

    /// `program` as a command running as the servers' user; `setpriv`
    /// execs it, so the child's pid is the server's.
    fn command(self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        match self.drop_to {
            None => Command::new(program),
            Some((uid, gid)) => {
                let mut cmd = Command::new("setpriv");
                cmd.arg(format!("--reuid={uid}"))
                    .arg(format!("--regid={gid}"))
                    .arg("--clear-groups")
                    .arg("--")
                    .arg(program);
                cmd
            }
        }
    }

    /// A fresh directory the servers' user owns.
    fn dir(self, parent: &Path, name: &str) -> PathBuf {
        let dir = parent.join(name);
        fs::create_dir(&dir).expect("mkdir");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).expect("chmod");
        if let Some((uid, gid)) = self.drop_to {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown");
        }
        dir
    }
}

/// Runs `cmd` to completion, failing with its output if it fails.
fn run(mut cmd: Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A long-running server, killed (by pid) and reaped on drop; its output
/// is shown when the test fails.
struct Server {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Server {
    fn spawn(name: &'static str, mut cmd: Command, log_dir: &Path) -> Self {
        let log = log_dir.join(format!("{name}.log"));
        let file = fs::File::create(&log).expect("log file");
        cmd.stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
        Self { name, child, log }
    }

    /// Fails (with the server's log) if it has exited.
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}):\n{}", self.name, self.log_text());
        }
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("----- {} log -----\n{}", self.name, self.log_text());
        }
        // SIGQUIT: PostgreSQL's immediate shutdown, which also ends its
        // backends; PgBouncer exits on it too. SIGKILL if that is ignored.
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP port free on the primary's and both replicas' loopback addresses
/// (PgBouncer 1.18 gives every host of a pool one port).
fn free_port_on_every_server() -> u16 {
    for _ in 0..50 {
        let first = TcpListener::bind((PRIMARY, 0)).expect("bind");
        let port = first.local_addr().expect("addr").port();
        if REPLICAS
            .iter()
            .all(|ip| TcpListener::bind((*ip, port)).is_ok())
        {
            return port;
        }
    }
    panic!("no port free on every loopback address");
}

fn free_port() -> u16 {
    TcpListener::bind((PRIMARY, 0))
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Connects as the superuser directly to a server, waiting while it starts.
fn connect_direct(server: &mut Server, ip: Ipv4Addr, port: u16) -> Client {
    wait_for(server, || {
        postgres::Config::new()
            .host(&ip.to_string())
            .port(port)
            .user("postgres")
            .dbname("postgres")
            .connect(NoTls)
    })
}

/// Retries `connect` until it succeeds, while `server` runs.
fn wait_for<E: std::fmt::Display>(
    server: &mut Server,
    mut connect: impl FnMut() -> Result<Client, E>,
) -> Client {
    let deadline = Instant::now() + STARTUP_DEADLINE;
    loop {
        server.assert_running();
        match connect() {
            Ok(client) => return client,
            Err(e) if Instant::now() > deadline => {
                panic!("{} never accepted a connection: {e}", server.name)
            }
            Err(_) => thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn postgres_command(run_as: RunAs, data: &Path, ip: Ipv4Addr, port: u16) -> Command {
    let mut cmd = run_as.command(pg_bin("postgres"));
    cmd.arg("-D").arg(data).args([
        "-c",
        &format!("listen_addresses={ip}"),
        "-c",
        &format!("port={port}"),
        // TCP only: every cluster shares the port, so their sockets would
        // share a name.
        "-c",
        "unix_socket_directories=",
        "-c",
        "fsync=off",
    ]);
    cmd
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn server_url(ip: Ipv4Addr, port: u16) -> String {
    format!(
        "postgres://{SERVER_USER}:{}@{ip}:{port}/{SERVER_DATABASE}",
        percent_encode(SERVER_PASSWORD)
    )
}

/// Replaces the one `key = ...` line of `ini`; fails if there is not
/// exactly one, so a change in the generated file cannot slip past.
fn override_setting(ini: &str, key: &str, value: &str) -> String {
    let prefix = format!("{key} =");
    let hits = ini.lines().filter(|l| l.starts_with(&prefix)).count();
    assert_eq!(hits, 1, "`{key}` in pgbouncer.ini");
    ini.lines()
        .map(|l| {
            if l.starts_with(&prefix) {
                format!("{key} = {value}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// `${NAME}` replaced by `vars[NAME]`, as compose interpolates.
fn interpolate(text: &str, vars: &[(&str, &str)]) -> String {
    vars.iter().fold(text.to_string(), |t, (name, value)| {
        t.replace(&format!("${{{name}}}"), value)
    })
}

/// Everything the test runs, stopped in field order: PgBouncer, the
/// replicas, the primary; then the directory goes.
struct Rig {
    pgbouncer: Server,
    _replicas: Vec<Server>,
    primary: Server,
    pgbouncer_port: u16,
    server_port: u16,
    _dir: tempfile::TempDir,
}

impl Rig {
    fn start(model: &Model) -> Self {
        let run_as = RunAs::detect();
        let dir = tempfile::tempdir().expect("tempdir");
        // `nobody` must reach the directories inside.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
        let logs = dir.path();
        let port = free_port_on_every_server();

        let clusters = run_as.dir(dir.path(), "clusters");
        let primary_data = clusters.join("primary");
        let mut initdb = run_as.command(pg_bin("initdb"));
        initdb.arg("-D").arg(&primary_data).args([
            "-U",
            "postgres",
            "--no-sync",
            "--locale=C",
            "-E",
            "UTF8",
            "--auth=trust",
        ]);
        run(initdb, "initdb");
        // The superuser (and replication) by trust for the test's own set-up;
        // the application's login by SCRAM, as PgBouncer must present it.
        fs::write(
            primary_data.join("pg_hba.conf"),
            "host replication postgres 127.0.0.0/8 trust\n\
             host all postgres 127.0.0.0/8 trust\n\
             host all all 127.0.0.0/8 scram-sha-256\n",
        )
        .expect("pg_hba.conf");

        let mut primary = Server::spawn(
            "primary",
            postgres_command(run_as, &primary_data, PRIMARY, port),
            logs,
        );
        let mut admin = connect_direct(&mut primary, PRIMARY, port);
        let quoted_password = SERVER_PASSWORD.replace('\'', "''");
        // Two statements: CREATE DATABASE refuses to run in a transaction.
        admin
            .batch_execute(&format!(
                "CREATE ROLE {SERVER_USER} LOGIN PASSWORD '{quoted_password}'"
            ))
            .expect("create role");
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {SERVER_DATABASE} OWNER {SERVER_USER}"
            ))
            .expect("create database");

        let mut replicas = Vec::new();
        for (i, ip) in REPLICAS.into_iter().enumerate() {
            let data = clusters.join(format!("replica-{}", i + 1));
            let mut backup = run_as.command(pg_bin("pg_basebackup"));
            backup
                .args([
                    "-h",
                    &PRIMARY.to_string(),
                    "-p",
                    &port.to_string(),
                    "-U",
                    "postgres",
                ])
                .arg("-D")
                .arg(&data)
                // -R: start as a streaming standby of the primary.
                .args(["-R", "-X", "stream", "--no-sync", "-c", "fast"]);
            run(backup, "pg_basebackup");
            let name = ["replica-1", "replica-2"][i];
            let mut replica = Server::spawn(name, postgres_command(run_as, &data, ip, port), logs);
            connect_direct(&mut replica, ip, port);
            replicas.push(replica);
        }

        // The generated files, with PgBouncer listening on a free loopback
        // port: the one test-side change.
        let outputs = pgbouncer_outputs(model);
        let conf = run_as.dir(dir.path(), "conf");
        let pgbouncer_port = free_port();
        let ini = override_setting(
            &outputs["pgbouncer.ini"],
            "listen_addr",
            &PRIMARY.to_string(),
        );
        let ini = override_setting(&ini, "listen_port", &pgbouncer_port.to_string());
        for (name, text) in [
            ("pgbouncer.ini", ini.as_str()),
            ("userlist.txt", outputs["userlist.txt"].as_str()),
            ("entrypoint.sh", outputs["entrypoint.sh"].as_str()),
        ] {
            fs::write(conf.join(name), text).expect("write conf");
        }
        let run_dir = run_as.dir(dir.path(), "run");

        // The environment compose would pass: the URLs the DSL names, the
        // services' login. The servers' hosts are the test's.
        let database = &model.databases[0];
        let mut entrypoint = run_as.command("sh");
        entrypoint
            .arg(conf.join("entrypoint.sh"))
            .env("PGBOUNCER_CONF_DIR", &conf)
            .env("PGBOUNCER_RUN_DIR", &run_dir)
            .env(
                "PATH",
                format!("/usr/sbin:{}", std::env::var("PATH").unwrap_or_default()),
            )
            .env(&database.primary_env, server_url(PRIMARY, port));
        for (env, ip) in database.replica_envs.iter().zip(REPLICAS) {
            entrypoint.env(env, server_url(ip, port));
        }
        let (user_env, password_env) = pgbouncer::credential_envs(database);
        entrypoint
            .env(user_env, CLIENT_USER)
            .env(password_env, CLIENT_PASSWORD);
        let pgbouncer = Server::spawn("pgbouncer", entrypoint, logs);

        Self {
            pgbouncer,
            _replicas: replicas,
            primary,
            pgbouncer_port,
            server_port: port,
            _dir: dir,
        }
    }

    /// The URL a service gets in `env` (`DATABASE_URL` or
    /// `DATABASE_READ_URL`), interpolated as compose would, aimed at the
    /// test's PgBouncer.
    fn service_url(&self, model: &Model, env: &str) -> String {
        let service = model
            .services
            .iter()
            .find(|s| s.database.is_some())
            .expect("a service with a database");
        let (_, url) = pgbouncer::service_env(model, service)
            .into_iter()
            .find(|(name, _)| name == env)
            .unwrap_or_else(|| panic!("{env} missing"));
        let (user_env, password_env) = pgbouncer::credential_envs(&model.databases[0]);
        interpolate(
            &url,
            &[(&user_env, CLIENT_USER), (&password_env, CLIENT_PASSWORD)],
        )
        .replace(
            &format!(
                "@{}:{}/",
                pgbouncer::PGBOUNCER_CONTAINER,
                pgbouncer::PGBOUNCER_PORT
            ),
            &format!("@{PRIMARY}:{}/", self.pgbouncer_port),
        )
    }

    fn connect(&mut self, url: &str) -> Client {
        let config: postgres::Config = url.parse().expect("service URL parses");
        wait_for(&mut self.pgbouncer, || config.connect(NoTls))
    }

    /// Waits until every replica has replayed what the primary has written.
    fn wait_for_replicas(&mut self) {
        let mut admin = connect_direct(&mut self.primary, PRIMARY, self.server_port);
        let lsn: String = admin
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .expect("primary lsn")
            .get(0);
        for ip in REPLICAS {
            let mut replica = postgres::Config::new()
                .host(&ip.to_string())
                .port(self.server_port)
                .user("postgres")
                .dbname("postgres")
                .connect(NoTls)
                .expect("connect replica");
            let deadline = Instant::now() + STARTUP_DEADLINE;
            loop {
                let caught_up: bool = replica
                    .query_one(
                        "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                        &[&lsn],
                    )
                    .expect("replay lsn")
                    .get(0);
                if caught_up {
                    break;
                }
                assert!(Instant::now() < deadline, "{ip} never replayed {lsn}");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Runs `work(i, client, barrier)` for `clients` clients of `url` at once,
/// each on its own thread and connection; `barrier` holds them together.
fn concurrently<T, F>(url: &str, clients: usize, work: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize, &mut Client, &Barrier) -> T + Send + Sync + 'static,
{
    let barrier = Arc::new(Barrier::new(clients));
    let work = Arc::new(work);
    let handles: Vec<_> = (0..clients)
        .map(|i| {
            let (barrier, work) = (Arc::clone(&barrier), Arc::clone(&work));
            let config: postgres::Config = url.parse().expect("url");
            thread::spawn(move || {
                let mut client = config.connect(NoTls).expect("connect through PgBouncer");
                work(i, &mut client, &barrier)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("client"))
        .collect()
}

#[test]
#[cfg_attr(without_real_tools, ignore = "needs postgresql and pgbouncer")]
fn writes_reach_the_primary_reads_spread_over_replicas_and_pools_hold() {
    require_servers();
    let model = model();
    let database = model.databases[0].clone();
    assert_eq!(
        database.replica_envs.len(),
        REPLICAS.len(),
        "routes.dsl has two replicas"
    );
    let mut rig = Rig::start(&model);
    let write_url = rig.service_url(&model, "DATABASE_URL");
    let read_url = rig.service_url(&model, "DATABASE_READ_URL");

    // A transaction pool hands each transaction its own server connection,
    // so statements are sent unnamed, in one round trip (`query_typed`);
    // a named prepared statement would be gone on the next connection.

    // Writes: through the write URL, to the primary.
    let mut writer = rig.connect(&write_url);
    let row = writer
        .query_typed_one(
            "SELECT host(inet_server_addr()), pg_is_in_recovery(), current_user::text",
            &[],
        )
        .expect("write pool query");
    assert_eq!(row.get::<_, String>(0), PRIMARY.to_string());
    assert!(!row.get::<_, bool>(1), "the write pool reached a standby");
    assert_eq!(
        row.get::<_, String>(2),
        SERVER_USER,
        "PgBouncer logs in with the URL's user"
    );
    writer
        .batch_execute(
            "CREATE TABLE profiles (id int PRIMARY KEY, name text NOT NULL);
             INSERT INTO profiles VALUES (1, 'ada'), (2, 'grace');",
        )
        .expect("write through PgBouncer");

    // Reads: through the read URL, from the replicas, which see the write.
    rig.wait_for_replicas();
    let mut reader = rig.connect(&read_url);
    let names: Vec<String> = reader
        .query_typed("SELECT name FROM profiles ORDER BY id", &[])
        .expect("read through PgBouncer")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names, ["ada", "grace"]);
    let refused = reader
        .query_typed("INSERT INTO profiles VALUES (3, 'linus')", &[])
        .expect_err("the read pool must not take writes");
    assert_eq!(
        refused.code(),
        Some(&SqlState::READ_ONLY_SQL_TRANSACTION),
        "{refused}"
    );

    // The DSL's command timeout reaches both pools' servers.
    for client in [&mut writer, &mut reader] {
        let timeout: String = client
            .query_typed_one("SHOW statement_timeout", &[])
            .expect("show")
            .get(0);
        assert_eq!(timeout, format!("{}s", database.command_timeout_ms / 1000));
    }
    drop(reader);

    // Reads spread over both replicas and never reach the primary: clients
    // holding a transaction open at once need as many server connections,
    // which PgBouncer opens over the pool's host list in turn.
    let addresses: BTreeSet<String> = concurrently(&read_url, 6, |_, client, barrier| {
        let mut tx = client.transaction().expect("begin");
        let addr: String = tx
            .query_one("SELECT host(inet_server_addr())", &[])
            .expect("read")
            .get(0);
        barrier.wait();
        tx.commit().expect("commit");
        addr
    })
    .into_iter()
    .collect();
    let replicas: BTreeSet<String> = REPLICAS.iter().map(|ip| ip.to_string()).collect();
    assert_eq!(addresses, replicas, "reads must spread over every replica");

    // Twice the pool's maximum of clients at once: all succeed, served by
    // at most `pool_max` server connections, so half of them waited.
    let clients = 2 * database.pool_max as usize;
    let backends: BTreeSet<i32> = concurrently(&write_url, clients, |i, client, barrier| {
        barrier.wait();
        let row = client
            .query_typed_one(
                "SELECT pg_backend_pid(), $1 FROM pg_sleep(0.2)",
                &[(&(i as i32), Type::INT4)],
            )
            .expect("every waiting client is served");
        assert_eq!(row.get::<_, i32>(1), i as i32);
        row.get::<_, i32>(0)
    })
    .into_iter()
    .collect();
    assert!(
        backends.len() <= database.pool_max as usize,
        "{clients} clients used {} server connections; the pool's maximum is {}",
        backends.len(),
        database.pool_max
    );
    let mut admin = connect_direct(&mut rig.primary, PRIMARY, rig.server_port);
    let open: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND datname = $2",
            &[&SERVER_USER, &SERVER_DATABASE],
        )
        .expect("count connections")
        .get(0);
    assert!(
        open <= i64::from(database.pool_max),
        "{open} server connections to the primary; the pool's maximum is {}",
        database.pool_max
    );
    rig.pgbouncer.assert_running();

    // Compose's health check, aimed at the test's port, finds it ready.
    let compose = pgbouncer::compose_service(&model).expect("a database exists");
    let [kind, program, args @ ..] = &compose.healthcheck_test[..] else {
        panic!("health check: {:?}", compose.healthcheck_test)
    };
    assert_eq!(kind, "CMD");
    let default_port = format!("--port={}", pgbouncer::PGBOUNCER_PORT);
    let mut probe = Command::new(program);
    for arg in args {
        probe.arg(if *arg == default_port {
            format!("--port={}", rig.pgbouncer_port)
        } else {
            arg.clone()
        });
    }
    run(probe, "the compose health check");
}
