//! Round trip: spec -> table -> view gives back every route, service, chain
//! and middleware, the writer is deterministic, and lookups on the Dating
//! Platform's table reach the routes the DSL means.

mod common;

use routetable::*;

fn round_trip(spec: &TableSpec) -> Vec<u8> {
    let bytes = encode(spec);
    let view = Table::from_bytes(&bytes).expect("a freshly written table opens");
    assert_eq!(view.to_spec(), *spec);
    assert_eq!(
        encode(&view.to_spec()),
        bytes,
        "re-encoding the read spec gives the same bytes"
    );
    bytes
}

#[test]
fn dating_platform_round_trips() {
    round_trip(&common::dating_platform());
}

#[test]
fn every_field_and_middleware_kind_round_trips() {
    let spec = common::everything();
    let kinds: std::collections::HashSet<_> =
        spec.middlewares.iter().map(|m| m.config.kind()).collect();
    assert_eq!(
        kinds.len(),
        MiddlewareKind::ALL.len(),
        "the fixture covers every kind"
    );
    round_trip(&spec);
}

#[test]
fn empty_table_round_trips_and_matches_nothing() {
    let spec = TableSpec::default();
    let bytes = round_trip(&spec);
    let view = Table::from_bytes(&bytes).unwrap();
    assert!(view.lookup("x", "GET", "/").is_none());
}

#[test]
fn encoding_is_deterministic() {
    let spec = common::everything();
    assert_eq!(encode(&spec), encode(&spec.clone()));
}

#[test]
fn header_reports_what_was_written() {
    let spec = common::everything();
    let bytes = encode(&spec);
    let header = Table::from_bytes(&bytes).unwrap().header();
    assert_eq!(header.version, layout::VERSION);
    assert_eq!(header.flags, 0);
    assert_eq!(header.total_len, bytes.len() as u64);
    assert_eq!(header.generation, spec.generation);
    assert_eq!(header.source_sha256, spec.source_sha256);
}

#[test]
fn views_read_in_place() {
    let spec = common::dating_platform();
    let bytes = encode(&spec);
    let view = Table::from_bytes(&bytes).unwrap();
    let range = bytes.as_ptr_range();
    let chat = view.routes().find(|r| r.name() == "chat-ws").unwrap();
    assert!(
        range.contains(&chat.name().as_ptr()),
        "names borrow the table's bytes"
    );
    assert!(chat.websocket());
    assert_eq!(chat.path_match(), PathMatchView::Exact("/v1/chat/ws"));
    assert_eq!(chat.service().unwrap().name(), "chat");
    let chain: Vec<_> = chat
        .chain()
        .unwrap()
        .middlewares()
        .map(|m| m.name())
        .collect();
    assert_eq!(
        chain,
        [
            "cors",
            "per-ip",
            "auth",
            "per-user",
            "request-log",
            "json-errors",
            "security"
        ]
    );
    let auth = view.service(0).unwrap();
    assert_eq!(
        auth.instances().collect::<Vec<_>>(),
        [("auth-service-1", 8081), ("auth-service-2", 8081)]
    );
    assert_eq!(
        view.gateway().trusted_proxies().collect::<Vec<_>>(),
        ["172.20.0.0/16"]
    );
}

#[test]
fn dating_platform_lookups_reach_the_routes_the_dsl_means() {
    let spec = common::dating_platform();
    let bytes = encode(&spec);
    let view = Table::from_bytes(&bytes).unwrap();
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("GET", "/v1/chat/ws", Some("chat-ws")),
        ("GET", "/v1/chat/ws/", Some("chat")),
        ("GET", "/v1/chat/ws/x", Some("chat")),
        ("GET", "/v1/chat", Some("chat")),
        ("POST", "/v1/chat/rooms/1/messages", Some("chat")),
        ("GET", "/v1/chatter", None),
        ("GET", "/v1/notifications/ws", Some("notification-ws")),
        ("GET", "/v1/notifications/", Some("notification")),
        ("GET", "/v1/discovery/feed", Some("discovery")),
        ("GET", "/v1/profiles/me", Some("profile")),
        ("DELETE", "/v1/admin/users/9", Some("admin")),
        ("GET", "/v1/auth/login", Some("auth")),
        ("GET", "/v1/media/upload", Some("media")),
        ("GET", "/v1/data/export", Some("data")),
        ("GET", "/v1/admins", None),
        ("GET", "/v1", None),
        ("GET", "/", None),
        ("GET", "/V1/ADMIN/x", None),
    ];
    for &(method, path, want) in cases {
        let got = view
            .lookup("dating.serge.cc:443", method, path)
            .map(|m| m.route.name());
        assert_eq!(got, want, "{method} {path}");
        let reference = common::reference_lookup(&spec, "dating.serge.cc", method, path);
        assert_eq!(
            got,
            reference.map(|i| spec.routes[i].name.as_str()),
            "reference for {path}"
        );
    }
}

#[test]
fn hosts_ignore_case_port_and_trailing_dot_and_methods_filter() {
    let spec = common::everything();
    let bytes = encode(&spec);
    let view = Table::from_bytes(&bytes).unwrap();
    let legacy = |host: &str, method: &str, path: &str| {
        view.lookup(host, method, path).map(|m| m.route.name())
    };
    assert_eq!(
        legacy("legacy.dating.serge.cc", "GET", "/anything"),
        Some("legacy")
    );
    assert_eq!(
        legacy("LEGACY.DATING.SERGE.CC:8443", "HEAD", "/"),
        Some("legacy")
    );
    assert_eq!(
        legacy("legacy.dating.serge.cc.", "PURGE", "/x"),
        Some("legacy")
    );
    assert_eq!(
        legacy("legacy.dating.serge.cc", "POST", "/anything"),
        None,
        "method not listed"
    );
    assert_eq!(
        legacy("other.dating.serge.cc", "GET", "/anything"),
        None,
        "other host"
    );
    assert_eq!(
        legacy("legacy.dating.serge.cc", "get", "/anything"),
        None,
        "methods are case-sensitive"
    );
    // A host-bound root prefix at priority 0 still loses to any matching
    // higher-priority route.
    assert_eq!(
        legacy("legacy.dating.serge.cc", "GET", "/v1/auth/x"),
        Some("auth")
    );
    assert_eq!(legacy("any", "GET", "/rändom"), Some("random"));
}

#[test]
fn routes_by_precedence_puts_exact_before_prefix_at_equal_priority() {
    let spec = common::everything();
    let bytes = encode(&spec);
    let view = Table::from_bytes(&bytes).unwrap();
    let order: Vec<_> = view
        .routes_by_precedence()
        .iter()
        .map(|r| r.name())
        .collect();
    assert_eq!(order.first(), Some(&"random"), "highest priority first");
    assert_eq!(order.last(), Some(&"legacy"), "priority 0 last");
    let ws = order.iter().position(|n| *n == "chat-ws").unwrap();
    let chat = order.iter().position(|n| *n == "chat").unwrap();
    assert!(ws < chat);
}
