//! Snapshot tests of the compiler's diagnostics: each bad input, rendered
//! as a user sees it (file:line:column, the line, a caret, the message and
//! the hint). Every case must fail to compile or warn; the snapshot pins
//! what it says.

/// A small valid program that each case edits.
const BASE: &str = r#"platform shop {
  domain "example.com"
  network shop-net
  subnet 10.10.0.0/16
}

entrypoint web {
  address :80
}

gateway {
  port 8080
  chain api
}

chain api [cors-api, per-ip]

cors cors-api {
  origins ["https://example.com"]
}

rate_limit per-ip {
  key client_ip
  average 10/s
  burst 20
}

service orders {
  port 9000
  prefix "/v1/orders/"
}

service shop-web {
  port 80
}

edge_route web {
  prefix "/"
  priority 1
  to service shop-web
}
"#;

/// Compile `source` and render every finding without colour.
fn render(source: &str) -> String {
    let diagnostics = routec::diagnose(source, "test.dsl");
    assert!(
        !diagnostics.items.is_empty(),
        "expected a finding for:\n{source}"
    );
    format!("{}\n{}", diagnostics.render(false), diagnostics.summary())
}

fn with(extra: &str) -> String {
    format!("{BASE}\n{extra}")
}

fn replacing(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "BASE has no {from:?}");
    BASE.replacen(from, to, 1)
}

macro_rules! case {
    ($name:ident, $source:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(stringify!($name), render(&$source));
        }
    };
}

#[test]
fn base_is_valid() {
    let d = routec::diagnose(BASE, "test.dsl");
    assert!(d.items.is_empty(), "{}", d.render(false));
}

case!(
    syntax_unclosed_block,
    replacing(
        "service shop-web {\n  port 80\n}",
        "service shop-web {\n  port 80\n"
    )
);
case!(
    syntax_equals_sign,
    replacing("  port 9000", "  port = 9000")
);
case!(
    syntax_bad_escape,
    replacing(r#"domain "example.com""#, r#"domain "example\q.com""#)
);
case!(unknown_block_kind, with("servce cart {\n  port 9100\n}\n"));
case!(
    unknown_key_with_suggestion,
    replacing("  priority 1\n", "  priorty 1\n")
);
case!(
    repeated_key,
    replacing("  port 9000\n", "  port 9000\n  port 9001\n")
);
case!(
    duplicate_service,
    with("service orders {\n  port 9100\n}\n")
);
case!(
    unknown_service_with_suggestion,
    replacing("to service shop-web", "to service shop-wbe")
);
case!(
    unknown_middleware_in_chain,
    replacing(
        "chain api [cors-api, per-ip]",
        "chain api [cors-api, per-pi]"
    )
);
case!(unknown_chain, replacing("  chain api\n", "  chain apii\n"));
case!(
    unknown_redirect_entrypoint,
    replacing("  address :80\n", "  address :80\n  redirect websecure\n")
);
case!(
    unknown_resolver,
    replacing(
        "  to service shop-web\n",
        "  to service shop-web\n  tls letsencrypt\n"
    )
);
case!(
    shared_instance,
    with("service billing {\n  instances [orders-1:9000]\n}\n")
);
case!(
    invalid_duration_unit,
    with(
        "service cart {\n  port 9100\n  health {\n    path \"/health\"\n    interval 30x\n  }\n}\n"
    )
);
case!(invalid_rate_unit, replacing("average 10/s", "average 10/w"));
case!(invalid_port, replacing("  port 9000", "  port 70000"));
case!(
    invalid_cidr_octet,
    replacing("subnet 10.10.0.0/16", "subnet 300.10.0.0/16")
);
case!(
    cidr_with_host_bits,
    replacing("subnet 10.10.0.0/16", "subnet 10.10.0.1/16")
);
case!(
    invalid_env_var_name,
    with("jwt auth {\n  algorithms [HS256]\n  key env jwt-secret\n}\n")
);
case!(
    inline_jwt_secret,
    with("jwt auth {\n  algorithms [HS256]\n  key \"hunter2\"\n}\n")
);
case!(edge_routes_ambiguous_without_segment_boundary, with(
    "edge_route v1 {\n  prefix \"/v1\"\n  priority 10\n  to gateway\n}\n\nedge_route v1beta {\n  prefix \"/v1beta\"\n  priority 10\n  to gateway\n}\n"
));
case!(edge_route_shadowed, with(
    "edge_route all-api {\n  prefix \"/api\"\n  priority 20\n  to gateway\n}\n\nedge_route api-users {\n  prefix \"/api/users\"\n  priority 10\n  to gateway\n}\n"
));
case!(
    gateway_prefixes_ambiguous,
    with("service catalog {\n  port 9100\n  prefix \"/v1/\"\n}\n")
);
case!(
    gateway_route_shadowed,
    with("service catalog {\n  port 9100\n  prefix \"/v1/\"\n  priority 200\n}\n")
);
case!(
    websocket_outside_prefix,
    replacing(
        "  prefix \"/v1/orders/\"\n",
        "  prefix \"/v1/orders/\"\n  websocket \"/v1/live\"\n"
    )
);
case!(
    websocket_origin_unchecked,
    with("chain bare [per-ip]\n\nservice live {\n  port 9300\n  prefix \"/v1/live/\"\n  websocket \"/v1/live/ws\"\n  chain bare\n}\n")
);
case!(edge_route_without_priority, replacing("  priority 1\n", ""));
case!(jwt_at_the_edge, with(
    "jwt auth {\n  algorithms [HS256]\n  key env JWT_SECRET\n}\n\nedge_route api {\n  prefix \"/v1\"\n  priority 10\n  to gateway\n  middlewares [auth]\n}\n"
));
case!(per_user_limit_before_jwt, with(
    "jwt auth {\n  algorithms [HS256]\n  key env JWT_SECRET\n}\n\nrate_limit per-user {\n  key user\n  average 5/s\n}\n\nchain strict [per-user, auth]\n\nservice admin {\n  port 9200\n  prefix \"/v1/admin/\"\n  chain strict\n}\n"
));
case!(
    cors_wildcard_with_credentials,
    replacing(
        "  origins [\"https://example.com\"]\n",
        "  origins [\"*\"]\n  credentials true\n"
    )
);
case!(health_timeout_not_below_interval, with("service cart {\n  port 9100\n  health {\n    path \"/health\"\n    interval 5s\n    timeout 10s\n  }\n}\n"));
case!(
    pool_max_below_min,
    with("database main {\n  primary env DATABASE_URL\n  pool_min 20\n  pool_max 5\n}\n")
);
case!(unknown_database_with_suggestion, with("database main {\n  primary env DATABASE_URL\n}\n\nservice cart {\n  port 9100\n  database mian\n}\n"));
case!(
    edge_route_bypasses_gateway,
    replacing("to service shop-web", "to service orders")
);
case!(lower_case_method, with("edge_route api {\n  prefix \"/v1\"\n  methods [get, POST]\n  priority 10\n  to gateway\n}\n"));
case!(
    missing_platform,
    BASE.replacen(
        "platform shop {\n  domain \"example.com\"\n  network shop-net\n  subnet 10.10.0.0/16\n}\n",
        "",
        1
    )
);
case!(
    string_where_name_expected,
    replacing("  chain api\n", "  chain \"api\"\n")
);
case!(
    unknown_alert_kind,
    with("alert servce_down {\n  for 1m\n}\n")
);
case!(
    plaintext_basic_auth,
    with("basic_auth ops {\n  users [\"admin:secret\"]\n}\n")
);
case!(
    path_with_dot_segments,
    replacing("prefix \"/v1/orders/\"", "prefix \"/v1/../orders/\"")
);
case!(
    inline_database_url,
    with("database main {\n  primary \"postgres://app:pw@db/app\"\n}\n")
);
case!(cache_before_auth, with(
    "jwt auth {\n  algorithms [HS256]\n  key env JWT_SECRET\n}\n\ncache c {\n  ttl 5m\n}\n\nchain cached [c, auth]\n\nservice feed {\n  port 9300\n  prefix \"/v1/feed/\"\n  chain cached\n}\n"
));
case!(
    several_errors_in_one_run,
    replacing(
        "  port 9000\n  prefix \"/v1/orders/\"\n",
        "  port 0\n  prefix \"v1/orders\"\n  balance round_robbin\n"
    )
);
case!(
    unused_middleware_warning,
    with("headers unused-headers {\n  nosniff true\n}\n")
);
case!(
    alert_threshold_of_wrong_kind,
    with("alert latency {\n  quantile 0.99\n  threshold 5%\n  for 5m\n}\n")
);
case!(wildcard_needs_the_dns_challenge, with(
    "resolver le {\n  email \"ops@example.com\"\n  storage \"/le/acme.json\"\n  challenge tls\n  domain \"example.com\" [\"*.example.com\"]\n}\n"
));
case!(
    edge_and_internal_subnets_overlap,
    replacing(
        "  subnet 10.10.0.0/16\n",
        "  subnet 10.10.0.0/16\n  edge_subnet 10.10.128.0/17\n"
    )
);
case!(
    traefik_version_unsupported,
    replacing(
        "  subnet 10.10.0.0/16\n",
        "  subnet 10.10.0.0/16\n  traefik 4\n"
    )
);
case!(
    traefik_image_of_another_major,
    replacing(
        "  subnet 10.10.0.0/16\n",
        "  subnet 10.10.0.0/16\n  traefik 3\n  traefik_image \"traefik:v2.11\"\n"
    )
);
case!(
    edge_routers_unknown_home,
    replacing(
        "  subnet 10.10.0.0/16\n",
        "  subnet 10.10.0.0/16\n  edge_routers docker\n"
    )
);
