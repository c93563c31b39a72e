//! The Dating Platform's `routes.dsl` compiles, and its model says what the
//! seed says.

use routec::model::{EdgeTarget, PathMatch};

fn seed() -> routec::Compiled {
    let source = include_str!("../../routes.dsl");
    routec::compile(source, "routes.dsl").unwrap_or_else(|d| panic!("{}", d.render(false)))
}

#[test]
fn seed_compiles_without_warnings() {
    let compiled = seed();
    assert!(
        compiled.diagnostics.items.is_empty(),
        "{}",
        compiled.diagnostics.render(false)
    );
}

#[test]
fn seed_edge_priorities_match_the_matrix() {
    let model = seed().model;
    let got: Vec<(&str, u32, &str)> = model
        .edge_routes
        .iter()
        .map(|r| (r.path.path(), r.priority, r.name.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("/metrics", 400, "metrics"),
            ("/health", 300, "health"),
            ("/v1", 200, "api"),
            ("/api/v1", 100, "api-legacy"),
            ("/admin", 50, "admin-panel"),
            ("/", 1, "webapp"),
        ]
    );
    assert_eq!(
        model.edge_routes[5].target,
        EdgeTarget::Service("webapp".into())
    );
    assert!(model
        .edge_routes
        .iter()
        .all(|r| r.host == "dating.serge.cc"));
}

#[test]
fn seed_gateway_routes_cover_eight_services_and_two_websockets() {
    let model = seed().model;
    let prefixes: Vec<&str> = model
        .gateway_routes
        .iter()
        .filter_map(|r| match &r.path {
            PathMatch::Prefix(p) => Some(p.as_str()),
            PathMatch::Exact(_) => None,
        })
        .collect();
    assert_eq!(prefixes.len(), 8);
    for p in [
        "/v1/auth/",
        "/v1/profiles/",
        "/v1/discovery/",
        "/v1/chat/",
        "/v1/media/",
        "/v1/admin/",
        "/v1/notifications/",
        "/v1/data/",
    ] {
        assert!(prefixes.contains(&p), "{p} missing");
    }
    let ws: Vec<&str> = model
        .gateway_routes
        .iter()
        .filter(|r| r.websocket)
        .map(|r| r.path.path())
        .collect();
    assert_eq!(ws, vec!["/v1/notifications/ws", "/v1/chat/ws"]);
    let auth = model.service("auth").unwrap();
    let instances: Vec<String> = auth.instances.iter().map(ToString::to_string).collect();
    assert_eq!(
        instances,
        vec!["auth-service-1:8081", "auth-service-2:8081"]
    );
    let discovery = model
        .gateway_routes
        .iter()
        .find(|r| r.name == "discovery")
        .unwrap();
    assert_eq!(
        discovery.middlewares.last().map(String::as_str),
        Some("discovery-cache")
    );
    let chat = model
        .gateway_routes
        .iter()
        .find(|r| r.name == "chat")
        .unwrap();
    assert_eq!(
        chat.middlewares,
        vec![
            "cors",
            "per-ip",
            "auth",
            "per-user",
            "request-log",
            "json-errors",
            "security"
        ]
    );
}
