//! The database layer's checks and their effect on the generated PgBouncer
//! files, on `routes.dsl` with its `database` block edited: no replicas is
//! a note (reads go to the primary) and still builds, pool max below min
//! and an unknown database are errors (the latter with a suggestion), the
//! DSL's pool numbers, timeout and mode reach `pgbouncer.ini`, and a
//! second database gets pools and a login of its own.
//!
//! The rendered diagnostics are pinned by `diagnostics.rs`' snapshots; this
//! file asserts codes, severities and the generated configuration. The real
//! PgBouncer run is `tests/tests/pgbouncer.rs`.

use routec::diagnostic::Diagnostics;
use routec::emit::emit_all;
use routec::Severity;

const SEED_DATABASE: &str = "database main {
  primary env DATABASE_URL
  replicas env [DATABASE_READ_URL_1, DATABASE_READ_URL_2]
  pool_min 5
  pool_max 20
  command_timeout 30s
  pool_mode transaction
}";

fn seed() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../routes.dsl");
    std::fs::read_to_string(path).expect("read routes.dsl")
}

/// `routes.dsl` with its database block replaced by `block`.
fn with_database(block: &str) -> String {
    let seed = seed();
    assert!(
        seed.contains(SEED_DATABASE),
        "routes.dsl's database block changed"
    );
    seed.replacen(SEED_DATABASE, block, 1)
}

/// Every finding as `(severity, code)`.
fn findings(diagnostics: &Diagnostics) -> Vec<(Severity, &'static str)> {
    diagnostics
        .items
        .iter()
        .map(|d| (d.severity, d.code.as_str()))
        .collect()
}

/// The generated `pgbouncer/pgbouncer.ini` of a program that compiles.
fn pgbouncer_ini(source: &str) -> String {
    let compiled = routec::compile(source, "routes.dsl").expect("compiles");
    let outputs = emit_all(&compiled.model).expect("emits");
    let ini = outputs
        .into_iter()
        .find(|o| o.path == "pgbouncer/pgbouncer.ini")
        .expect("pgbouncer.ini is generated");
    String::from_utf8(ini.contents).expect("utf-8")
}

/// The `[databases]` line of `pool`.
fn pool_line<'a>(ini: &'a str, pool: &str) -> &'a str {
    ini.lines()
        .find(|l| l.starts_with(&format!("{pool} = ")))
        .unwrap_or_else(|| panic!("no pool {pool} in:\n{ini}"))
}

#[test]
fn the_seed_has_replicas_so_no_note() {
    let diagnostics = routec::diagnose(&seed(), "routes.dsl");
    assert!(
        !findings(&diagnostics).contains(&(Severity::Note, "no-replicas")),
        "{}",
        diagnostics.render(false)
    );
}

#[test]
fn seed_pools_carry_the_dsl_numbers() {
    let ini = pgbouncer_ini(&seed());
    for pool in ["main", "main_read"] {
        let line = pool_line(&ini, pool);
        for setting in [
            "pool_mode=transaction",
            "pool_size=20",
            "min_pool_size=5",
            "max_db_connections=20",
            "connect_query='SET statement_timeout = 30000'",
        ] {
            assert!(line.contains(setting), "{pool} lacks {setting}: {line}");
        }
    }
    assert!(pool_line(&ini, "main_read")
        .starts_with("main_read = host='${DATABASE_READ_URL_1_HOST},${DATABASE_READ_URL_2_HOST}'"));
}

#[test]
fn no_replicas_is_a_note_and_reads_go_to_the_primary() {
    let source = with_database("database main {\n  primary env DATABASE_URL\n}");
    let compiled = routec::compile(&source, "routes.dsl").expect("a note is not an error");
    assert_eq!(
        findings(&compiled.diagnostics),
        [(Severity::Note, "no-replicas")]
    );
    let ini = pgbouncer_ini(&source);
    assert!(pool_line(&ini, "main_read").starts_with("main_read = host='${DATABASE_URL_HOST}' "));
    // The DSL's defaults: 5..20 connections, 30 s, transaction pooling.
    for setting in [
        "pool_mode=transaction",
        "pool_size=20",
        "min_pool_size=5",
        "= 30000'",
    ] {
        assert!(
            pool_line(&ini, "main").contains(setting),
            "default {setting}"
        );
    }
}

#[test]
fn pool_max_below_min_is_an_error_and_equal_is_fine() {
    let below = with_database(&SEED_DATABASE.replace("pool_max 20", "pool_max 4"));
    let diagnostics = routec::compile(&below, "routes.dsl").expect_err("max below min");
    assert_eq!(findings(&diagnostics), [(Severity::Error, "pool-bounds")]);
    assert!(diagnostics.items[0]
        .message
        .contains("pool max 4 is below pool min 5"));

    let equal = with_database(&SEED_DATABASE.replace("pool_max 20", "pool_max 5"));
    let ini = pgbouncer_ini(&equal);
    assert!(pool_line(&ini, "main").contains("min_pool_size=5"));
    assert!(pool_line(&ini, "main").contains(" pool_size=5 "));
}

#[test]
fn unknown_database_is_an_error_with_a_suggestion() {
    let source = seed().replacen("  database main\n", "  database mian\n", 1);
    let diagnostics = routec::compile(&source, "routes.dsl").expect_err("unknown database");
    let error = diagnostics
        .items
        .iter()
        .find(|d| d.is_error())
        .expect("an error");
    assert_eq!(error.code.as_str(), "unknown-reference");
    assert!(
        error.message.contains("unknown database `mian`"),
        "{}",
        error.message
    );
    assert_eq!(error.help.as_deref(), Some("did you mean `main`?"));
}

#[test]
fn session_pooling_when_the_dsl_says_so() {
    let source =
        with_database(&SEED_DATABASE.replace("pool_mode transaction", "pool_mode session"));
    let ini = pgbouncer_ini(&source);
    assert!(pool_line(&ini, "main").contains("pool_mode=session"));
    assert!(pool_line(&ini, "main_read").contains("pool_mode=session"));
}

#[test]
fn a_second_database_gets_its_own_pools_and_login() {
    let source = with_database(&format!(
        "{SEED_DATABASE}\n\ndatabase chat-log {{\n  primary env CHAT_DATABASE_URL\n  pool_max 8\n}}"
    ));
    let ini = pgbouncer_ini(&source);
    // Not a plain identifier: quoted the way PgBouncer reads it.
    assert!(pool_line(&ini, "\"chat-log\"").contains("host='${CHAT_DATABASE_URL_HOST}'"));
    assert!(pool_line(&ini, "\"chat-log_read\"").contains("pool_size=8"));
    let compiled = routec::compile(&source, "routes.dsl").expect("compiles");
    let userlist = emit_all(&compiled.model)
        .expect("emits")
        .into_iter()
        .find(|o| o.path == "pgbouncer/userlist.txt")
        .expect("userlist.txt");
    let userlist = String::from_utf8(userlist.contents).expect("utf-8");
    assert!(userlist.contains("\"${CHAT_LOG_DB_USER}\" \"${CHAT_LOG_DB_PASSWORD}\""));
}

#[test]
fn no_database_no_pgbouncer() {
    let source = with_database("")
        .lines()
        .filter(|l| l.trim() != "database main")
        .collect::<Vec<_>>()
        .join("\n");
    let compiled = routec::compile(&source, "routes.dsl").expect("compiles");
    let outputs = emit_all(&compiled.model).expect("emits");
    assert!(outputs.iter().all(|o| !o.path.starts_with("pgbouncer/")));
    assert!(routec::emit::pgbouncer::compose_service(&compiled.model).is_none());
}
