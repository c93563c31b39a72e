//! `routec explain` on requests of the Dating Platform, snapshot-tested:
//! which edge route and gateway route win, what the middlewares demand, and
//! the path the upstream receives.

fn explain(host: Option<&str>, method: &str, path: &str) -> String {
    let source = include_str!("../../routes.dsl");
    let model = routec::compile(source, "routes.dsl").unwrap().model;
    routec::explain::explain(&model, host, method, path)
}

macro_rules! case {
    ($name:ident, $method:expr, $path:expr) => {
        case!($name, None, $method, $path);
    };
    ($name:ident, $host:expr, $method:expr, $path:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(stringify!($name), explain($host, $method, $path));
        }
    };
}

case!(webapp_root, "GET", "/");
case!(login_is_public, "POST", "/v1/auth/login");
case!(profile_read, "GET", "/v1/profiles/42");
case!(
    legacy_api_prefix_is_stripped,
    "GET",
    "/api/v1/profiles/42?fields=name"
);
case!(
    admin_api_needs_the_admin_role,
    "DELETE",
    "/v1/admin/users/7"
);
case!(discovery_is_cached, "GET", "/v1/discovery/nearby");
case!(chat_websocket, "GET", "/v1/chat/ws");
case!(notifications_websocket, "GET", "/v1/notifications/ws");
case!(admin_panel_at_the_edge, "GET", "/admin/dashboard");
case!(metrics_need_basic_auth, "GET", "/metrics");
case!(health_goes_to_the_gateway, "GET", "/health");
case!(
    dot_segments_cannot_escape_the_public_prefix,
    "GET",
    "/v1/auth/../admin/users"
);
case!(
    encoded_dot_segments_are_normalized,
    "GET",
    "/v1/auth/%2e%2e/admin/users"
);
case!(
    encoded_slash_is_refused_at_the_edge,
    "GET",
    "/v1/auth%2F..%2Fadmin/users"
);
case!(no_gateway_route_for_unknown_service, "GET", "/v1/unknown/x");
case!(segment_boundary_in_the_gateway, "GET", "/v1/chatter");
case!(
    other_host_matches_no_edge_route,
    Some("evil.example"),
    "GET",
    "/v1/profiles/1"
);
