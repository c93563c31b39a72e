//! Fuzz target: the request path as the gateway routes it, normalization
//! then lookup, against the Dating Platform's table (compiled from the real
//! routes.dsl) and the same table with tricky extra routes (a host route, a
//! method-limited exact path, a root prefix, a higher-priority prefix).
//!
//! What must hold for every input:
//! - normalization accepts only what it can make normal, and its output is
//!   a fixed point without dot segments or repeated slashes;
//! - the route the hashed index finds is the one a plain linear scan by
//!   FORMAT.md's rules finds (priority, exact before prefix, longer key,
//!   lower index; `%2F` paths only where their decoded reading agrees);
//! - the route found covers the path on a segment boundary, which is what
//!   the jwt step's `public` and `require_roles` prefixes assume: a path
//!   under `/v1/admin/` never reaches anything but an admin-guarded route.
//!
//! Input: byte 0 picks the method, byte 1 the host, the rest is the path.
//! Run: `cd fuzz && cargo +nightly fuzz run normalize_lookup`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use routetable::{host_without_port, PathMatch, RouteSpec, Table, TableSpec};
use std::sync::OnceLock;

const METHODS: [&str; 6] = ["GET", "POST", "DELETE", "OPTIONS", "HEAD", "get"];
const HOSTS: [&str; 6] = [
    "",
    "api.test",
    "admin.dating.serge.cc",
    "ADMIN.Dating.Serge.CC.:8443",
    "[::1]:80",
    "admin.dating.serge.cc.evil",
];

fn platform_spec() -> TableSpec {
    let source = include_str!("../../routes.dsl");
    let compiled = routec::compile(source, "routes.dsl").expect("routes.dsl compiles");
    routec::emit::table::spec(&compiled.model).expect("routes.dsl's table emits")
}

fn extra_route(path: PathMatch, host: Option<&str>, methods: &[&str], priority: u32) -> RouteSpec {
    RouteSpec {
        name: format!("extra-{}", path.path()),
        host: host.map(str::to_owned),
        path,
        methods: methods.iter().map(|m| (*m).to_owned()).collect(),
        priority,
        service: 0,
        chain: None,
        websocket: false,
    }
}

/// The two tables, encoded once.
fn tables() -> &'static [Vec<u8>; 2] {
    static TABLES: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
    TABLES.get_or_init(|| {
        let plain = platform_spec();
        let mut tricky = plain.clone();
        let base = tricky.routes.iter().map(|r| r.priority).max().unwrap_or(0);
        tricky.routes.extend([
            extra_route(
                PathMatch::Prefix("/v1/admin/".into()),
                Some("admin.dating.serge.cc"),
                &[],
                base + 10,
            ),
            extra_route(
                PathMatch::Exact("/v1/auth/login".into()),
                None,
                &["POST"],
                base,
            ),
            extra_route(PathMatch::Prefix("/".into()), None, &[], 0),
            extra_route(
                PathMatch::Prefix("/v1/profiles/admin".into()),
                None,
                &["DELETE"],
                base + 1,
            ),
        ]);
        [routetable::encode(&plain), routetable::encode(&tricky)]
    })
}

/// FORMAT.md's prefix rule: the key is the prefix without trailing
/// slashes; the path equals it or continues with `/`.
fn under(path: &str, prefix: &str) -> bool {
    let key = prefix.trim_end_matches('/');
    path.strip_prefix(key)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn covers(route: &RouteSpec, path: &str) -> bool {
    match &route.path {
        PathMatch::Exact(p) => p == path,
        PathMatch::Prefix(p) => under(path, p),
    }
}

/// The winner by a linear scan, ignoring encoded slashes.
fn scan(spec: &TableSpec, host: &str, method: &str, path: &str) -> Option<usize> {
    let host = host_without_port(host);
    spec.routes
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.host
                .as_deref()
                .is_none_or(|h| h.eq_ignore_ascii_case(host))
        })
        .filter(|(_, r)| r.methods.is_empty() || r.methods.iter().any(|m| m == method))
        .filter(|(_, r)| covers(r, path))
        .max_by_key(|(i, r)| {
            let exact = matches!(r.path, PathMatch::Exact(_));
            let key = r.path.path().trim_end_matches('/').len();
            (r.priority, exact, key, std::cmp::Reverse(*i))
        })
        .map(|(i, _)| i)
}

/// The winner by FORMAT.md, encoded slashes included.
fn reference(spec: &TableSpec, host: &str, method: &str, path: &str) -> Option<usize> {
    let found = scan(spec, host, method, path);
    if path.contains("%2F") {
        let decoded = path.replace("%2F", "/");
        let decoded = routetable::normalize_path(&decoded).ok()?;
        if scan(spec, host, method, &decoded) != found {
            return None;
        }
    }
    found
}

fuzz_target!(|data: &[u8]| {
    let [method, host, path @ ..] = data else {
        return;
    };
    let method = METHODS[usize::from(*method) % METHODS.len()];
    let host = HOSTS[usize::from(*host) % HOSTS.len()];
    let Ok(raw) = std::str::from_utf8(path) else {
        return;
    };
    let Ok(normal) = routetable::normalize_path(raw) else {
        return;
    };
    let again = routetable::normalize_path(&normal).expect("normal paths stay accepted");
    assert_eq!(again, normal, "normalization is not a fixed point");
    assert!(normal.starts_with('/'));
    assert!(!normal.contains("//"), "{normal:?}");
    assert!(
        normal.split('/').all(|s| s != "." && s != ".."),
        "{normal:?}"
    );
    for bytes in tables() {
        let view = Table::from_bytes(bytes).expect("the fuzz tables are valid");
        let spec = view.to_spec();
        let found = view.lookup(host, method, &normal).map(|m| m.index);
        assert_eq!(
            found,
            reference(&spec, host, method, &normal),
            "index and scan disagree on {method} {host} {normal:?}"
        );
        let Some(index) = found else { continue };
        let route = &spec.routes[index];
        assert!(covers(route, &normal), "{normal:?} reached {route:?}");
        if under(&normal, "/v1/admin/") {
            let service = &spec.services[route.service as usize].name;
            assert!(
                service == "admin" || route.name.starts_with("extra-/v1/admin"),
                "{normal:?} under /v1/admin/ reached {service} by {route:?}"
            );
        }
    }
});
