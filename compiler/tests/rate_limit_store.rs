//! The shared rate limits' store in the DSL, on `routes.dsl` edited: a
//! literal address or password is refused (`inline-secret`), a shared limit
//! without a store is an error (`missing-store`), and what is generated
//! names the store's env vars but never holds a password: compose runs its
//! own `redis` only when the platform has none, and reads the password from
//! the host's environment by name.
//!
//! The real Redis runs are `dataplane/tests/shared_rate_limit.rs`.

use routec::emit::emit_all;

const SEED_STORE: &str = "rate_limit_store {
  address env RATE_LIMIT_REDIS_ADDR
  password env RATE_LIMIT_REDIS_PASSWORD
  timeout 5ms
  on_failure local
}";

fn seed() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../routes.dsl");
    let seed = std::fs::read_to_string(path).expect("read routes.dsl");
    assert!(
        seed.contains(SEED_STORE),
        "routes.dsl's store block changed"
    );
    seed
}

fn codes(source: &str) -> Vec<&'static str> {
    match routec::compile(source, "routes.dsl") {
        Ok(_) => Vec::new(),
        Err(diagnostics) => diagnostics.items.iter().map(|d| d.code.as_str()).collect(),
    }
}

/// Every generated file of `source`, by path.
fn generated(source: &str) -> Vec<(String, Vec<u8>)> {
    let compiled = routec::compile(source, "routes.dsl").expect("compiles");
    emit_all(&compiled.model)
        .expect("emits")
        .into_iter()
        .map(|o| (o.path, o.contents))
        .collect()
}

fn compose(source: &str) -> String {
    file(source, "docker-compose.yml")
}

/// The text of generated file `path`.
fn file(source: &str, path: &str) -> String {
    let files = generated(source);
    let (_, bytes) = files.iter().find(|(p, _)| p == path).expect(path);
    String::from_utf8(bytes.clone()).unwrap()
}

#[test]
fn a_literal_address_or_password_is_refused() {
    for (line, literal) in [
        (
            "address env RATE_LIMIT_REDIS_ADDR",
            "address \"redis:6379\"",
        ),
        (
            "password env RATE_LIMIT_REDIS_PASSWORD",
            "password \"hunter2-hunter2\"",
        ),
    ] {
        let source = seed().replacen(line, literal, 1);
        assert!(
            codes(&source).contains(&"inline-secret"),
            "{literal}: {:?}",
            codes(&source)
        );
    }
}

#[test]
fn a_shared_limit_needs_a_store() {
    let source = seed().replacen(SEED_STORE, "", 1);
    assert_eq!(codes(&source), ["missing-store", "missing-store"]);
    // The same limits written `scope local` need none.
    let local = source.replace("scope shared", "scope local");
    assert_eq!(codes(&local), Vec::<&str>::new());
}

#[test]
fn nothing_generated_holds_a_redis_password() {
    let password = "s3cret-Redis-passw0rd";
    std::env::set_var("RATE_LIMIT_REDIS_PASSWORD", password);
    for (path, bytes) in generated(&seed()) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(password), "{path} holds the password");
        assert!(!text.contains("requirepass s"), "{path}");
    }
    let compose = compose(&seed());
    // The password reaches Redis and the gateway by name only.
    assert!(
        compose.contains("--requirepass \"$$RATE_LIMIT_REDIS_PASSWORD\""),
        "{compose}"
    );
    assert!(
        compose.contains("      - RATE_LIMIT_REDIS_PASSWORD\n"),
        "{compose}"
    );
    assert!(
        compose.contains("\"RATE_LIMIT_REDIS_ADDR=redis:6379\""),
        "{compose}"
    );
}

#[test]
fn compose_runs_redis_only_when_the_platform_has_none() {
    assert!(compose(&seed()).contains("\n  redis:\n"));
    let own = seed().replacen(
        "service webapp {",
        "service redis {\n  image \"redis:7\"\n  port 6379\n  replicas 1\n}\n\nservice webapp {",
        1,
    );
    let compose = compose(&own);
    // The platform's own `redis` instance, and the gateway takes the
    // address from the host's environment.
    assert!(!compose.contains("redis:7-alpine"), "{compose}");
    assert!(
        compose.contains("      - RATE_LIMIT_REDIS_ADDR\n"),
        "{compose}"
    );
}

#[test]
fn gateway_replicas_reach_compose_traefik_and_prometheus() {
    let seed = seed();
    assert!(
        seed.contains("  replicas 3\n  pool {"),
        "routes.dsl's gateway changed"
    );
    let compose = file(&seed, "docker-compose.yml");
    let traefik = file(&seed, "traefik/dynamic.yml");
    let prometheus = file(&seed, "prometheus/prometheus.yml");
    for i in 1..=3 {
        assert!(
            compose.contains(&format!("\n  gateway-{i}:\n")),
            "{compose}"
        );
        assert!(
            traefik.contains(&format!("url: \"http://gateway-{i}:8080\"")),
            "{traefik}"
        );
        assert!(
            prometheus.contains(&format!("\"gateway-{i}:9090\"")),
            "{prometheus}"
        );
    }
    assert!(!compose.contains("\n  gateway-4:\n"));
    // One replica keeps the single `gateway` container.
    let single = seed.replacen("  replicas 3\n  pool {", "  pool {", 1);
    let compose = file(&single, "docker-compose.yml");
    assert!(
        compose.contains("\n  gateway:\n") && !compose.contains("gateway-1"),
        "{compose}"
    );
    assert!(file(&single, "traefik/dynamic.yml").contains("url: \"http://gateway:8080\""));
}
