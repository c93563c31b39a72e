//! Parser and lowering tests: every construct of the language, from source
//! to the model, through `fixtures/every_construct.dsl`.

use routec::model::*;

fn model() -> Model {
    let source = include_str!("fixtures/every_construct.dsl");
    let compiled = routec::compile(source, "every_construct.dsl")
        .unwrap_or_else(|d| panic!("{}", d.render(false)));
    compiled.model
}

#[test]
fn platform_and_entrypoints() {
    let m = model();
    assert_eq!(m.platform.name, "kitchen");
    assert_eq!(m.platform.domain, "kitchen.example");
    assert_eq!(m.platform.network, "kitchen-net");
    assert_eq!(m.platform.subnet, "10.20.0.0/16");
    assert_eq!(m.platform.edge_subnet.as_deref(), Some("10.30.0.0/16"));
    assert_eq!(
        m.platform.trusted_proxies,
        vec!["10.20.0.0/16", "192.168.0.0/24"]
    );
    assert_eq!(m.entrypoints.len(), 2);
    assert_eq!(
        (
            m.entrypoints[0].port,
            m.entrypoints[0].redirect_to.as_deref()
        ),
        (80, Some("websecure"))
    );
    assert_eq!(
        (m.entrypoints[1].address.as_str(), m.entrypoints[1].port),
        ("0.0.0.0:443", 443)
    );
}

#[test]
fn resolver_and_dashboard() {
    let m = model();
    let r = &m.resolvers[0];
    assert_eq!(
        (r.email.as_str(), r.storage.as_str(), r.challenge.as_str()),
        ("ops@kitchen.example", "/acme/acme.json", "dns")
    );
    assert_eq!(r.dns_provider.as_deref(), Some("cloudflare"));
    assert_eq!(
        r.domains[0],
        CertDomain {
            main: "kitchen.example".into(),
            sans: vec!["*.kitchen.example".into(), "kitchen.example".into()]
        }
    );
    assert_eq!(r.domains[1].sans, Vec::<String>::new());
    let d = m.dashboard.unwrap();
    assert_eq!(
        (d.host.as_str(), d.resolver.as_deref()),
        ("traefik.kitchen.example", Some("acme"))
    );
    assert_eq!(
        (d.entrypoints, d.middlewares),
        (vec!["websecure".to_string()], vec!["ops".to_string()])
    );
}

#[test]
fn gateway_limits_and_pool() {
    let g = model().gateway;
    assert_eq!(
        (g.image.as_str(), g.port, g.chain.as_deref()),
        ("kitchen/gateway:1", 8443, Some("full"))
    );
    assert_eq!(
        (g.max_connections, g.max_header_bytes, g.max_body_bytes),
        (500, 32 * 1024, 1_000_000)
    );
    assert_eq!((g.header_timeout_ms, g.dns_ttl_ms), (5_000, 60_000));
    assert_eq!(
        g.pool,
        Pool {
            max_total: 50,
            max_per_host: 10,
            idle_timeout_ms: 30_000
        }
    );
    assert_eq!(g.trusted_proxies.len(), 2);
    assert!(g.underscore_headers, "platform's underscore_headers allow");
}

#[test]
fn services_with_replicas_instances_health_timeouts_and_tls() {
    let m = model();
    let menu = m.service("menu").unwrap();
    let hosts: Vec<String> = menu.instances.iter().map(ToString::to_string).collect();
    assert_eq!(
        hosts,
        vec!["menu-svc-1:7001", "menu-svc-2:7001", "menu-svc-3:7001"]
    );
    assert_eq!(menu.balance, Balance::LeastRequests);
    assert_eq!(menu.prefixes, vec!["/v2/menu/", "/v2/dishes/"]);
    assert_eq!(menu.websockets, vec!["/v2/menu/live"]);
    assert_eq!(menu.database.as_deref(), Some("pantry"));
    assert_eq!(
        menu.health,
        Some(HealthCheck {
            path: "/healthz".into(),
            interval_ms: 10_000,
            timeout_ms: 2_000,
            healthy_threshold: 2,
            unhealthy_threshold: 4
        })
    );
    assert_eq!(
        menu.timeouts,
        Timeouts {
            connect_ms: 1_000,
            response_ms: 15_000,
            websocket_idle_ms: 600_000
        }
    );
    let tls = menu.upstream_tls.as_ref().unwrap();
    assert_eq!(
        (
            tls.ca_file.as_str(),
            tls.cert_file.as_deref(),
            tls.server_name.as_deref()
        ),
        (
            "/certs/ca.pem",
            Some("/certs/client.pem"),
            Some("menu.internal")
        )
    );
    let orders = m.service("orders").unwrap();
    assert_eq!(
        orders.instances,
        vec![
            Instance {
                host: "orders-a".into(),
                port: 7002
            },
            Instance {
                host: "10.20.0.9".into(),
                port: 7002
            }
        ]
    );
    assert_eq!(orders.balance, Balance::Random);
    assert!(!m.service("front").unwrap().behind_gateway());
}

#[test]
fn gateway_routes_are_derived_and_ordered() {
    let m = model();
    let got: Vec<(&str, u32, bool, &str)> = m
        .gateway_routes
        .iter()
        .map(|r| (r.name.as_str(), r.priority, r.websocket, r.path.path()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("menu-ws", 150, true, "/v2/menu/live"),
            ("menu-2", 150, false, "/v2/dishes/"),
            ("menu", 150, false, "/v2/menu/"),
            ("orders", 100, false, "/v2/orders/"),
        ]
    );
    assert_eq!(
        m.gateway_routes[0].middlewares.len(),
        10,
        "the gateway's default chain applies"
    );
}

#[test]
fn every_middleware_kind() {
    let m = model();
    let kinds: Vec<MiddlewareKind> = m.middlewares.iter().map(Middleware::kind).collect();
    for k in [
        MiddlewareKind::StripPrefix,
        MiddlewareKind::AddPrefix,
        MiddlewareKind::Headers,
        MiddlewareKind::Cors,
        MiddlewareKind::BasicAuth,
        MiddlewareKind::Jwt,
        MiddlewareKind::RateLimit,
        MiddlewareKind::Cache,
        MiddlewareKind::AccessLog,
        MiddlewareKind::Errors,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing");
    }
    let MiddlewareConfig::Headers(h) = &m.middleware("sec").unwrap().config else {
        panic!()
    };
    assert_eq!(
        (h.hsts_max_age_s, h.hsts_include_subdomains, h.hsts_preload),
        (Some(180 * 86_400), true, true)
    );
    assert_eq!(
        h.set_request_headers,
        vec![("X-Gateway".to_string(), "kitchen".to_string())]
    );
    assert_eq!(h.remove_response_headers, vec!["Server"]);
    let MiddlewareConfig::Cors(c) = &m.middleware("cors-all").unwrap().config else {
        panic!()
    };
    assert_eq!(
        (c.origins.clone(), c.max_age_s, c.credentials),
        (vec!["*".to_string()], 600, false)
    );
    assert_eq!(c.websocket_origins, ["https://kitchen.example"]);
    let MiddlewareConfig::Jwt(j) = &m.middleware("jwt-auth").unwrap().config else {
        panic!()
    };
    assert_eq!(j.key, KeySource::File("/keys/jwks.json".into()));
    assert_eq!((j.roles_claim.as_str(), j.leeway_s), ("groups", 10));
    assert_eq!(
        (j.subprotocol.as_deref(), j.cookie.as_deref()),
        (Some("base64url.bearer.kitchen."), Some("kitchen_session"))
    );
    assert_eq!(
        j.require_roles[0],
        RoleRule {
            prefix: "/v2/orders/admin/".into(),
            roles: vec!["admin".into(), "ops".into()]
        }
    );
    let MiddlewareConfig::RateLimit(r) = &m.middleware("ip-limit").unwrap().config else {
        panic!()
    };
    assert_eq!(
        (r.key, r.average, r.period_ms, r.burst),
        (RateKey::ClientIp, 600, 60_000, 50)
    );
    let MiddlewareConfig::RateLimit(u) = &m.middleware("user-limit").unwrap().config else {
        panic!()
    };
    assert_eq!((u.key, u.burst), (RateKey::User, 1));
    let MiddlewareConfig::Cache(k) = &m.middleware("short-cache").unwrap().config else {
        panic!()
    };
    assert_eq!(
        (k.ttl_ms, k.max_entries, k.max_bytes),
        (30_000, 100, 1 << 20)
    );
}

#[test]
fn edge_routes_with_every_field() {
    let m = model();
    let front = &m.edge_routes[0];
    assert_eq!(front.host, "www.kitchen.example");
    assert_eq!(front.path, PathMatch::Exact("/".into()));
    assert_eq!(front.methods, vec!["GET", "HEAD"]);
    assert_eq!(front.target, EdgeTarget::Service("front".into()));
    assert_eq!(front.resolver.as_deref(), Some("acme"));
    let api = &m.edge_routes[1];
    assert_eq!(
        api.host, "kitchen.example",
        "defaults to the platform's domain"
    );
    assert_eq!(
        api.entrypoints,
        vec!["websecure"],
        "defaults to the entrypoints that serve"
    );
    assert_eq!(api.target, EdgeTarget::Gateway);
}

#[test]
fn databases_and_alerts() {
    let m = model();
    let db = &m.databases[0];
    assert_eq!(
        (db.primary_env.as_str(), db.replica_envs.clone()),
        ("PANTRY_URL", vec!["PANTRY_READ_1".to_string()])
    );
    assert_eq!(
        (
            db.pool_min,
            db.pool_max,
            db.command_timeout_ms,
            db.pool_mode.as_str()
        ),
        (2, 8, 15_000, "session")
    );
    let kinds: Vec<AlertKind> = m.alerts.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        vec![
            AlertKind::ServiceDown,
            AlertKind::ErrorRatio,
            AlertKind::Latency,
            AlertKind::ReloadFailures,
            AlertKind::RateLimitSpike
        ]
    );
    assert_eq!(m.alerts[1].threshold, Some(0.025));
    assert_eq!(
        (m.alerts[2].threshold, m.alerts[2].quantile),
        (Some(0.75), Some(0.95))
    );
    assert_eq!(m.alerts[4].threshold, Some(10.0));
}

#[test]
fn comments_blank_lines_and_multiline_lists_parse() {
    let source = "# top\nplatform p {  # trailing\n  domain \"a.example\"\n\n  network n  # why\n  subnet 10.0.0.0/8\n  trusted_proxies [\n    10.0.0.0/8,\n    192.168.0.0/16,\n  ]\n}\n";
    let m = routec::compile(source, "t.dsl")
        .unwrap_or_else(|d| panic!("{}", d.render(false)))
        .model;
    assert_eq!(m.platform.trusted_proxies.len(), 2);
}

#[test]
fn the_source_hash_is_recorded() {
    let source = include_str!("fixtures/every_construct.dsl");
    let m = model();
    assert_eq!(m.source.sha256.len(), 64);
    let other = routec::compile(&format!("{source}\n# changed\n"), "x")
        .unwrap()
        .model;
    assert_ne!(m.source.sha256, other.source.sha256);
}
