//! Semantic checks: what the declarations get wrong together.
//!
//! Owns the rules that look across declarations: duplicate names, references
//! to things that do not exist (with "did you mean"), instances shared by two
//! services, ambiguous and shadowed routes in each tier, WebSocket paths
//! outside their service, middleware kinds used where they cannot run or in
//! an order that cannot work, and contradictory settings (CORS `*` with
//! credentials, health-check timeouts longer than their interval, pools with
//! max below min). It reads the [`ast`](crate::ast) and only reports; it
//! builds nothing ([`modeling`](crate::modeling) does, once this stage
//! found no errors).

use std::collections::HashMap;

use crate::ast::{EdgeTargetDecl, MiddlewareDecl, MiddlewareDeclConfig, Program, S};
use crate::diagnostic::{did_you_mean, Code, Diagnostic, Span};
use crate::model::MiddlewareKind;
use crate::routes::{conflicts, derive_gateway_routes, Conflict, PathKind, RouteShape, Tier};

/// Check `program`, pushing findings into `diags`.
pub fn check(program: &Program, diags: &mut Vec<Diagnostic>) {
    let mut cx = Checker { program, diags };
    cx.required_blocks();
    cx.duplicates();
    cx.entrypoints();
    cx.platform();
    cx.resolvers();
    cx.references();
    cx.middleware_placement();
    cx.middleware_settings();
    cx.services();
    cx.edge_routes();
    cx.gateway_routes();
    cx.databases();
    cx.alerts();
    cx.unused();
}

struct Checker<'p, 'd> {
    program: &'p Program,
    diags: &'d mut Vec<Diagnostic>,
}

/// Which namespace a reference points into, for messages.
#[derive(Clone, Copy)]
enum Namespace {
    Service,
    Middleware,
    Chain,
    Entrypoint,
    Resolver,
    Database,
}

impl Namespace {
    fn noun(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Middleware => "middleware",
            Self::Chain => "chain",
            Self::Entrypoint => "entrypoint",
            Self::Resolver => "resolver",
            Self::Database => "database",
        }
    }
}

impl<'p> Checker<'p, '_> {
    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn names(&self, ns: Namespace) -> Vec<&'p S<String>> {
        let p = self.program;
        match ns {
            Namespace::Service => p.services.iter().map(|s| &s.name).collect(),
            Namespace::Middleware => p.middlewares.iter().map(|m| &m.name).collect(),
            Namespace::Chain => p.chains.iter().map(|c| &c.name).collect(),
            Namespace::Entrypoint => p.entrypoints.iter().map(|e| &e.name).collect(),
            Namespace::Resolver => p.resolvers.iter().map(|r| &r.name).collect(),
            Namespace::Database => p.databases.iter().map(|d| &d.name).collect(),
        }
    }

    /// Report `name` if nothing in `ns` has it; true when it resolves.
    fn resolve(&mut self, ns: Namespace, name: &S<String>) -> bool {
        let names = self.names(ns);
        if names.iter().any(|n| n.value == name.value) {
            return true;
        }
        let mut d = Diagnostic::error(
            Code::UnknownReference,
            name.span,
            format!("unknown {} `{}`", ns.noun(), name.value),
        )
        .label(format!("no {} has this name", ns.noun()));
        let candidates: Vec<&str> = names.iter().map(|n| n.value.as_str()).collect();
        d = match did_you_mean(&name.value, candidates.iter().copied()) {
            Some(h) => d.help(h),
            None if candidates.is_empty() => d.help(format!("no {} is declared", ns.noun())),
            None => d.help(format!("the {}s are: {}", ns.noun(), candidates.join(", "))),
        };
        // A chain name where a middleware is expected (or the reverse) is a
        // likely mix-up worth naming.
        if let Namespace::Middleware = ns {
            if self
                .program
                .chains
                .iter()
                .any(|c| c.name.value == name.value)
            {
                d = d.help(format!(
                    "`{}` is a chain; list its middlewares, or use it as a service's `chain`",
                    name.value
                ));
            }
        }
        self.push(d);
        false
    }

    fn middleware(&self, name: &str) -> Option<&'p MiddlewareDecl> {
        self.program
            .middlewares
            .iter()
            .find(|m| m.name.value == name)
    }

    fn required_blocks(&mut self) {
        let p = self.program;
        if p.platform.is_none() {
            self.push(
                Diagnostic::error(Code::MissingPlatform, Span::new(0, 0), "no `platform` block")
                    .help("every file declares its platform: `platform NAME {` with `domain`, `network` and `subnet`"),
            );
        }
        let gateway_needed = p
            .services
            .iter()
            .any(|s| !s.prefixes.is_empty() || !s.websockets.is_empty())
            || p.edge_routes.iter().any(|r| {
                matches!(
                    r.target.as_ref().map(|t| &t.value),
                    Some(EdgeTargetDecl::Gateway)
                )
            });
        if gateway_needed && p.gateway.is_none() {
            let span = p
                .services
                .iter()
                .find_map(|s| s.prefixes.first().map(|x| x.span))
                .unwrap_or_default();
            self.push(
                Diagnostic::error(
                    Code::MissingGateway,
                    span,
                    "routes go to the gateway, but there is no `gateway` block",
                )
                .label("a gateway route")
                .help("add `gateway {` with at least `port 8080`"),
            );
        }
    }

    fn duplicates(&mut self) {
        for ns in [
            Namespace::Service,
            Namespace::Middleware,
            Namespace::Chain,
            Namespace::Entrypoint,
            Namespace::Resolver,
            Namespace::Database,
        ] {
            let names = self.names(ns);
            self.report_duplicates(ns.noun(), &names);
        }
        let routes: Vec<&S<String>> = self.program.edge_routes.iter().map(|r| &r.name).collect();
        self.report_duplicates("edge route", &routes);
        let alerts: Vec<&S<String>> = self.program.alerts.iter().map(|a| &a.kind).collect();
        self.report_duplicates("alert", &alerts);
    }

    fn report_duplicates(&mut self, noun: &str, names: &[&S<String>]) {
        let mut first: HashMap<&str, Span> = HashMap::new();
        for name in names {
            if name.value.is_empty() {
                continue;
            }
            if let Some(previous) = first.get(name.value.as_str()) {
                self.push(
                    Diagnostic::error(
                        Code::DuplicateName,
                        name.span,
                        format!("{noun} `{}` is declared twice", name.value),
                    )
                    .label("declared again here")
                    .with_secondary(*previous, "first declared here")
                    .help(format!("{noun} names are unique; rename one of them")),
                );
            } else {
                first.insert(&name.value, name.span);
            }
        }
    }

    fn entrypoints(&mut self) {
        let mut ports: HashMap<u16, Span> = HashMap::new();
        for e in &self.program.entrypoints {
            if e.port == 0 {
                continue;
            }
            if let Some(first) = ports.get(&e.port) {
                self.push(
                    Diagnostic::error(
                        Code::PortConflict,
                        e.address.span,
                        format!("two entrypoints listen on port {}", e.port),
                    )
                    .label("second listener")
                    .with_secondary(*first, "first listener"),
                );
            } else {
                ports.insert(e.port, e.address.span);
            }
            if let Some(target) = &e.redirect {
                if target.value == e.name.value {
                    self.push(
                        Diagnostic::error(
                            Code::RedirectLoop,
                            target.span,
                            "an entrypoint redirects to itself",
                        )
                        .label("loop"),
                    );
                } else if let Some(t) = self
                    .program
                    .entrypoints
                    .iter()
                    .find(|x| x.name.value == target.value)
                {
                    if t.redirect.is_some() {
                        self.push(
                            Diagnostic::error(
                                Code::RedirectChain,
                                target.span,
                                format!("`{}` redirects again", target.value),
                            )
                            .label("redirect target redirects")
                            .help("redirect straight to the entrypoint that serves"),
                        );
                    }
                }
            }
        }
    }

    fn platform(&mut self) {
        let Some(p) = &self.program.platform else {
            return;
        };
        if let Some(edge) = &p.edge_subnet {
            if cidrs_overlap(&edge.value, &p.subnet.value) {
                self.push(
                    Diagnostic::error(Code::SubnetOverlap, edge.span, "the edge and internal subnets overlap")
                        .label("edge network")
                        .with_secondary(p.subnet.span, "internal network")
                        .help("Docker cannot create two networks with overlapping subnets; pick disjoint ranges"),
                );
            }
        }
        self.traefik_target(p);
    }

    /// The edge files are written for Traefik 3 or 2 only, and an image
    /// override must run the version whose syntax and options they use.
    fn traefik_target(&mut self, p: &crate::ast::PlatformDecl) {
        let version = match &p.traefik {
            Some(v) if v.value != 2 && v.value != 3 => {
                self.push(
                    Diagnostic::error(Code::UnsupportedTraefik, v.span, format!("Traefik {} is not a target", v.value))
                        .label("unsupported version")
                        .help("`traefik 3` (the default: v3 rule syntax, hardened entrypoints) or `traefik 2` (v2.11, for teams still on v2)"),
                );
                return;
            }
            Some(v) => v.value,
            None => 3,
        };
        let Some(image) = &p.traefik_image else {
            return;
        };
        let Some(major) = image_major(&image.value) else {
            return;
        };
        if major != version {
            let mut d = Diagnostic::error(
                Code::TraefikImageVersion,
                image.span,
                format!("`{}` runs Traefik {major}, but the edge files are written for Traefik {version}", image.value),
            )
            .label(format!("a Traefik {major} image"));
            if let Some(v) = &p.traefik {
                d = d.with_secondary(v.span, "the target version");
            }
            let help = match version {
                3 => "Traefik 2 refuses v3 rules (one value per matcher, `||`) and the v3-only entrypoint options; use a `traefik:v3.x` image, or `traefik 2` to write v2 files",
                _ => "Traefik 3 reads v2 rules only in its deprecated v2-syntax mode; use a `traefik:v2.11` image, or `traefik 3` (see the README's migration notes)",
            };
            self.push(d.help(help));
        }
    }

    /// Let's Encrypt issues wildcard certificates only through the DNS-01
    /// challenge; with TLS-ALPN or HTTP the request fails at run time.
    fn resolvers(&mut self) {
        for r in &self.program.resolvers {
            if r.challenge.value == "dns" {
                continue;
            }
            for (main, sans) in &r.domains {
                if let Some(wild) = std::iter::once(main)
                    .chain(sans)
                    .find(|d| d.value.starts_with("*."))
                {
                    self.push(
                        Diagnostic::error(Code::WildcardNeedsDns, wild.span, format!("wildcard `{}` cannot be issued with the {} challenge", wild.value, r.challenge.value))
                            .label("wildcard")
                            .with_secondary(r.challenge.span, "challenge")
                            .help("ACME issues wildcards only via DNS-01: use `challenge dns PROVIDER`, or list the host names"),
                    );
                }
            }
        }
    }

    fn references(&mut self) {
        let p = self.program;
        for e in &p.entrypoints {
            if let Some(target) = &e.redirect {
                self.resolve(Namespace::Entrypoint, target);
            }
        }
        if let Some(d) = &p.dashboard {
            for e in &d.entrypoints {
                self.resolve(Namespace::Entrypoint, e);
            }
            if let Some(r) = &d.resolver {
                self.resolve(Namespace::Resolver, r);
            }
            for m in &d.middlewares {
                self.resolve(Namespace::Middleware, m);
            }
        }
        if let Some(chain) = p.gateway.as_ref().and_then(|g| g.chain.as_ref()) {
            self.resolve(Namespace::Chain, chain);
        }
        for c in &p.chains {
            for m in &c.middlewares {
                self.resolve(Namespace::Middleware, m);
            }
        }
        for s in &p.services {
            if let Some(c) = &s.chain {
                self.resolve(Namespace::Chain, c);
            }
            if let Some(d) = &s.database {
                self.resolve(Namespace::Database, d);
            }
        }
        for r in &p.edge_routes {
            if let Some(S {
                value: EdgeTargetDecl::Service(name),
                ..
            }) = &r.target
            {
                self.resolve(Namespace::Service, name);
            }
            for m in &r.middlewares {
                self.resolve(Namespace::Middleware, m);
            }
            for e in &r.entrypoints {
                self.resolve(Namespace::Entrypoint, e);
            }
            if let Some(t) = &r.tls {
                self.resolve(Namespace::Resolver, t);
            }
        }
    }

    /// Each middleware kind runs in one tier or both; chains run in order,
    /// so some orders cannot work.
    fn middleware_placement(&mut self) {
        let p = self.program;
        let edge_lists = p
            .edge_routes
            .iter()
            .map(|r| (format!("edge route `{}`", r.name.value), &r.middlewares))
            .chain(
                p.dashboard
                    .iter()
                    .map(|d| ("the dashboard".to_string(), &d.middlewares)),
            );
        for (user, list) in edge_lists {
            for name in list {
                let Some(m) = self.middleware(&name.value) else {
                    continue;
                };
                let kind = kind_of(&m.config);
                let per_user = matches!(&m.config, MiddlewareDeclConfig::RateLimit(r) if r.key.as_ref().is_some_and(|k| k.value == "user"));
                if !kind.runs_at_edge() || per_user {
                    let why = if per_user {
                        "the edge cannot verify tokens, so it knows no user to key a rate limit by"
                            .to_string()
                    } else {
                        format!(
                            "Traefik has no `{}` middleware; it runs in the gateway",
                            kind.keyword()
                        )
                    };
                    self.push(
                        Diagnostic::error(
                            Code::MiddlewareTier,
                            name.span,
                            format!("`{}` cannot run at the edge", name.value),
                        )
                        .label(format!("used by {user}"))
                        .with_secondary(m.kind_span, format!("a `{}` middleware", kind.keyword()))
                        .help(format!("{why}; put it in a gateway chain")),
                    );
                }
            }
        }
        for chain in &p.chains {
            let mut jwt_at: Option<Span> = None;
            for name in &chain.middlewares {
                let Some(m) = self.middleware(&name.value) else {
                    continue;
                };
                let kind = kind_of(&m.config);
                if !kind.runs_in_gateway() {
                    self.push(
                        Diagnostic::error(Code::MiddlewareTier, name.span, format!("`{}` cannot run in the gateway", name.value))
                            .label(format!("in chain `{}`", chain.name.value))
                            .with_secondary(m.kind_span, format!("a `{}` middleware", kind.keyword()))
                            .help("basic auth belongs at the edge (dashboard, metrics); the gateway authenticates with `jwt`"),
                    );
                }
                match &m.config {
                    MiddlewareDeclConfig::Jwt(_) => jwt_at = Some(name.span),
                    MiddlewareDeclConfig::RateLimit(r)
                        if r.key.as_ref().is_some_and(|k| k.value == "user")
                            && jwt_at.is_none() =>
                    {
                        self.push(
                            Diagnostic::error(Code::MiddlewareOrder, name.span, format!("`{}` limits per user, but no `jwt` runs before it", name.value))
                                .label(format!("in chain `{}`", chain.name.value))
                                .help("only a verified token names a user: put the per-user limit after the `jwt` middleware"),
                        );
                    }
                    MiddlewareDeclConfig::Cache(_)
                        if jwt_at.is_none() && chain_has_jwt(self.program, &chain.middlewares) =>
                    {
                        self.push(
                            Diagnostic::error(Code::MiddlewareOrder, name.span, format!("cache `{}` runs before authentication", name.value))
                                .label(format!("in chain `{}`", chain.name.value))
                                .help("a cache before `jwt` would serve one user's response to another, or to nobody authenticated; move it after `jwt`"),
                        );
                    }
                    _ => {}
                }
            }
            let mut seen: HashMap<&str, Span> = HashMap::new();
            for name in &chain.middlewares {
                if let Some(first) = seen.insert(&name.value, name.span) {
                    self.push(
                        Diagnostic::error(
                            Code::RepeatedMiddleware,
                            name.span,
                            format!(
                                "`{}` appears twice in chain `{}`",
                                name.value, chain.name.value
                            ),
                        )
                        .label("again")
                        .with_secondary(first, "first here"),
                    );
                }
            }
        }
    }

    fn middleware_settings(&mut self) {
        for m in &self.program.middlewares {
            match &m.config {
                MiddlewareDeclConfig::Cors(c) => {
                    let wildcard = c.origins.iter().find(|o| o.value == "*");
                    if let (Some(w), Some(cred)) =
                        (wildcard, c.credentials.as_ref().filter(|c| c.value))
                    {
                        self.push(
                            Diagnostic::error(Code::CorsWildcardCredentials, w.span, "CORS origin `*` together with credentials")
                                .label("any origin")
                                .with_secondary(cred.span, "credentials allowed")
                                .help("browsers refuse this, and echoing any origin with credentials would let every site act as the user; list the origins"),
                        );
                    }
                    if wildcard.is_some() && c.origins.len() > 1 {
                        self.push(Diagnostic::warning(
                            Code::CorsWildcard,
                            wildcard.map(|w| w.span).unwrap_or_default(),
                            "`*` makes the other origins redundant",
                        ));
                    }
                }
                MiddlewareDeclConfig::Jwt(j) => {
                    for (path, _) in &j.require_roles {
                        if let Some(public) = j.public.iter().find(|p| {
                            crate::routes::prefix_matches(Tier::Gateway, &p.value, &path.value)
                        }) {
                            self.push(
                                Diagnostic::error(Code::PublicRolePath, path.span, format!("`{}` requires roles but is public", path.value))
                                    .label("roles required here")
                                    .with_secondary(public.span, "made public here")
                                    .help("a public path is served without a token, so no role can be checked"),
                            );
                        }
                    }
                }
                MiddlewareDeclConfig::RateLimit(r) => {
                    if let Some(scope) = r.scope.as_ref().filter(|s| s.value == "shared") {
                        if self.program.rate_limit_store.is_none() {
                            self.push(
                                Diagnostic::error(
                                    Code::MissingStore,
                                    scope.span,
                                    format!(
                                        "rate limit `{}` is shared, but there is no `rate_limit_store` block",
                                        m.name.value
                                    ),
                                )
                                .label("shared by every gateway replica: in which store?")
                                .help("add `rate_limit_store { address env RATE_LIMIT_REDIS_ADDR }`, or write `scope local`"),
                            );
                        }
                    }
                    if let (Some(avg), Some(burst)) = (&r.average, &r.burst) {
                        if burst.value < 1 {
                            self.push(
                                Diagnostic::error(
                                    Code::OutOfRange,
                                    burst.span,
                                    "burst must be at least 1",
                                )
                                .help(format!("e.g. `burst {}`", avg.value.0)),
                            );
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Browsers apply no CORS to WebSockets: only a cors step in the
    /// chain checks a handshake's `Origin` (cross-site WebSocket hijacking).
    fn websocket_origin_checked(&mut self, s: &crate::ast::ServiceDecl) {
        let Some(ws) = s.websockets.first() else {
            return;
        };
        let chain =
            s.chain
                .as_ref()
                .or(self.program.gateway.as_ref().and_then(|g| g.chain.as_ref()));
        let chain =
            chain.and_then(|c| self.program.chains.iter().find(|x| x.name.value == c.value));
        let has_cors = chain.is_some_and(|chain| {
            chain.middlewares.iter().any(|m| {
                self.program.middlewares.iter().any(|d| {
                    d.name.value == m.value && matches!(d.config, MiddlewareDeclConfig::Cors(_))
                })
            })
        });
        if !has_cors {
            let why = match chain {
                Some(chain) => format!("chain `{}` has no cors step", chain.name.value),
                None => "it runs no chain".to_owned(),
            };
            self.push(
                Diagnostic::warning(
                    Code::WebsocketOriginUnchecked,
                    ws.span,
                    format!("WebSocket path `{}` is not origin-checked: {why}", ws.value),
                )
                .help("any site's page may open this socket with the user's cookies; add a cors step (its `websocket_origins` allow list) to the chain"),
            );
        }
    }

    fn services(&mut self) {
        let mut owners: HashMap<(String, u16), (&str, Span)> = HashMap::new();
        for s in &self.program.services {
            let instances: Vec<((String, u16), Span)> = match &s.instances {
                Some(list) => list.iter().map(|i| (i.value.clone(), i.span)).collect(),
                None => {
                    let host = s
                        .hostname
                        .as_ref()
                        .map_or(s.name.value.as_str(), |h| h.value.as_str());
                    let n = s.replicas.as_ref().map_or(1, |r| r.value);
                    let span = s.replicas.as_ref().map_or(s.name.span, |r| r.span);
                    let port = s.port.as_ref().map_or(0, |p| p.value);
                    (1..=n)
                        .map(|i| ((format!("{host}-{i}"), port), span))
                        .collect()
                }
            };
            for (key, span) in instances {
                if let Some((other, first)) = owners.get(&key) {
                    if *other != s.name.value {
                        self.push(
                            Diagnostic::error(
                                Code::SharedInstance,
                                span,
                                format!("`{}:{}` is an instance of two services", key.0, key.1),
                            )
                            .label(format!("instance of `{}`", s.name.value))
                            .with_secondary(*first, format!("also an instance of `{other}`"))
                            .help("each host:port serves one service"),
                        );
                    }
                } else {
                    owners.insert(key, (&s.name.value, span));
                }
            }
            if let Some(h) = &s.health {
                if let (Some(interval), Some(timeout)) = (&h.interval_ms, &h.timeout_ms) {
                    if timeout.value >= interval.value {
                        self.push(
                            Diagnostic::error(Code::HealthTimeout, timeout.span, "the health-check timeout is not shorter than its interval")
                                .label("timeout")
                                .with_secondary(interval.span, "interval")
                                .help("checks would overlap (Traefik silently raises the interval); make the timeout shorter"),
                        );
                    }
                }
            }
            // WebSocket paths must lie inside one of the service's prefixes,
            // or the service would answer a path it does not own.
            for ws in &s.websockets {
                let inside = s
                    .prefixes
                    .iter()
                    .any(|p| crate::routes::prefix_matches(Tier::Gateway, &p.value, &ws.value));
                if !inside {
                    let mut d = Diagnostic::error(
                        Code::WebsocketOutsidePrefix,
                        ws.span,
                        format!(
                            "WebSocket path `{}` is outside service `{}`'s prefixes",
                            ws.value, s.name.value
                        ),
                    )
                    .label("not under any prefix of this service");
                    d = match s.prefixes.first() {
                        Some(p) => d.with_secondary(p.span, "the service's prefix").help("move the path under the service's prefix, or add a prefix that covers it"),
                        None => d.help("add `prefix` for the service's gateway paths"),
                    };
                    self.push(d);
                }
            }
            self.websocket_origin_checked(s);
            if s.chain.is_some() && s.prefixes.is_empty() && s.websockets.is_empty() {
                let span = s.chain.as_ref().map(|c| c.span).unwrap_or_default();
                self.push(
                    Diagnostic::warning(
                        Code::UnusedChainSetting,
                        span,
                        format!("service `{}` has a chain but no gateway path", s.name.value),
                    )
                    .help("the chain runs only on gateway routes; add a `prefix`"),
                );
            }
        }
    }

    fn edge_routes(&mut self) {
        let p = self.program;
        let default_host = p.platform.as_ref().map(|pl| pl.domain.value.clone());
        let mut shapes = Vec::new();
        for r in &p.edge_routes {
            if let Some(S {
                value: EdgeTargetDecl::Service(name),
                span,
            }) = &r.target
            {
                if let Some(s) = p.services.iter().find(|s| s.name.value == name.value) {
                    if !s.prefixes.is_empty() || !s.websockets.is_empty() {
                        self.push(
                            Diagnostic::error(Code::BypassesGateway, *span, format!("edge route `{}` goes straight to gateway service `{}`", r.name.value, name.value))
                                .label("skips the gateway's policy")
                                .help("services with gateway paths are reachable only through the gateway: write `to gateway`"),
                        );
                    }
                }
            }
            let (kind, path) = match (&r.prefix, &r.path) {
                (Some(prefix), _) => (PathKind::Prefix, prefix),
                (None, Some(path)) => (PathKind::Exact, path),
                (None, None) => continue,
            };
            let Some(priority) = &r.priority else {
                continue;
            };
            shapes.push(RouteShape {
                name: r.name.value.clone(),
                host: r
                    .host
                    .as_ref()
                    .map(|h| h.value.clone())
                    .or_else(|| default_host.clone()),
                kind,
                path: path.value.clone(),
                methods: r.methods.iter().map(|m| m.value.clone()).collect(),
                priority: priority.value,
                span: r.name.span,
            });
        }
        self.route_conflicts(Tier::Edge, "edge route", &shapes);
    }

    fn gateway_routes(&mut self) {
        let shapes: Vec<RouteShape> = derive_gateway_routes(self.program)
            .into_iter()
            .map(|r| r.shape)
            .collect();
        self.route_conflicts(Tier::Gateway, "gateway route", &shapes);
    }

    fn route_conflicts(&mut self, tier: Tier, noun: &str, shapes: &[RouteShape]) {
        for (a, b, conflict) in conflicts(tier, shapes) {
            let (ra, rb) = (&shapes[a], &shapes[b]);
            let d = match conflict {
                Conflict::Ambiguous => Diagnostic::error(
                    Code::AmbiguousRoutes,
                    rb.span,
                    format!("{noun}s `{}` and `{}` overlap at the same priority {}", ra.name, rb.name, rb.priority),
                )
                .label("matches some of the same requests")
                .with_secondary(ra.span, "as this one")
                .help(match tier {
                    Tier::Edge => "Traefik would pick one arbitrarily (its PathPrefix has no segment boundary: `/v1` also matches `/v1beta`); give them different priorities",
                    Tier::Gateway => "the gateway could not tell which wins; give the services different `priority` values or disjoint prefixes",
                }),
                Conflict::Shadows => Diagnostic::warning(
                    Code::ShadowedRoute,
                    rb.span,
                    format!("{noun} `{}` can never match: `{}` has a higher priority and matches everything it does", rb.name, ra.name),
                )
                .label(format!("priority {}", rb.priority))
                .with_secondary(ra.span, format!("priority {}", ra.priority))
                .help("raise this route's priority above the other, or remove it"),
            };
            self.push(d);
        }
    }

    fn databases(&mut self) {
        for d in &self.program.databases {
            if let (Some(min), Some(max)) = (&d.pool_min, &d.pool_max) {
                if max.value < min.value {
                    self.push(
                        Diagnostic::error(
                            Code::PoolBounds,
                            max.span,
                            format!("pool max {} is below pool min {}", max.value, min.value),
                        )
                        .label("max")
                        .with_secondary(min.span, "min"),
                    );
                }
            }
            if d.replica_envs.is_empty() && d.primary_env.is_some() {
                self.push(
                    Diagnostic::note(
                        Code::NoReplicas,
                        d.name.span,
                        format!(
                            "database `{}` has no replicas: reads go to the primary",
                            d.name.value
                        ),
                    )
                    .help("add `replicas env [NAME, ...]` to spread reads"),
                );
            }
        }
    }

    /// Each alert takes the threshold shape its expression needs.
    fn alerts(&mut self) {
        use crate::ast::Threshold;
        for a in &self.program.alerts {
            let (wants, example) = match a.kind.value.as_str() {
                "error_ratio" => ("a percentage", "threshold 5%"),
                "latency" => ("a duration", "threshold 1s"),
                "rate_limit_spike" => ("a rate", "threshold 50/s"),
                _ => {
                    if let Some(t) = &a.threshold {
                        self.push(
                            Diagnostic::error(
                                Code::AlertThreshold,
                                t.span,
                                format!("alert `{}` takes no threshold", a.kind.value),
                            )
                            .label("remove this"),
                        );
                    }
                    continue;
                }
            };
            let ok = match a.threshold.as_ref().map(|t| &t.value) {
                Some(Threshold::Fraction(f)) => {
                    a.kind.value == "error_ratio" && *f > 0.0 && *f < 1.0
                }
                Some(Threshold::Seconds(_)) => a.kind.value == "latency",
                Some(Threshold::PerSecond(_)) => a.kind.value == "rate_limit_spike",
                _ => false,
            };
            if !ok {
                let span = a.threshold.as_ref().map_or(a.kind.span, |t| t.span);
                self.push(
                    Diagnostic::error(
                        Code::AlertThreshold,
                        span,
                        format!("alert `{}` needs a threshold that is {wants}", a.kind.value),
                    )
                    .label(if a.threshold.is_some() {
                        "wrong kind of threshold"
                    } else {
                        "threshold missing"
                    })
                    .help(format!("e.g. `{example}`")),
                );
            }
            if a.kind.value == "latency" && a.quantile.is_none() {
                self.push(
                    Diagnostic::error(
                        Code::MissingKey,
                        a.kind.span,
                        "alert `latency` has no `quantile`",
                    )
                    .help("add `quantile 0.99`"),
                );
            }
        }
    }

    /// Declared and never used: likely a typo elsewhere, or dead config.
    fn unused(&mut self) {
        let p = self.program;
        let mut used_middlewares: Vec<&str> = p
            .chains
            .iter()
            .flat_map(|c| c.middlewares.iter().map(|m| m.value.as_str()))
            .collect();
        used_middlewares.extend(
            p.edge_routes
                .iter()
                .flat_map(|r| r.middlewares.iter().map(|m| m.value.as_str())),
        );
        used_middlewares.extend(
            p.dashboard
                .iter()
                .flat_map(|d| d.middlewares.iter().map(|m| m.value.as_str())),
        );
        for m in &p.middlewares {
            if !used_middlewares.contains(&m.name.value.as_str()) {
                self.push(
                    Diagnostic::warning(
                        Code::Unused,
                        m.name.span,
                        format!("middleware `{}` is never used", m.name.value),
                    )
                    .label("declared here"),
                );
            }
        }
        let mut used_chains: Vec<&str> = p
            .services
            .iter()
            .filter_map(|s| s.chain.as_ref().map(|c| c.value.as_str()))
            .collect();
        used_chains.extend(
            p.gateway
                .iter()
                .filter_map(|g| g.chain.as_ref().map(|c| c.value.as_str())),
        );
        for c in &p.chains {
            if !used_chains.contains(&c.name.value.as_str()) {
                self.push(
                    Diagnostic::warning(
                        Code::Unused,
                        c.name.span,
                        format!("chain `{}` is never used", c.name.value),
                    )
                    .label("declared here"),
                );
            }
        }
    }
}

fn chain_has_jwt(program: &Program, chain: &[S<String>]) -> bool {
    chain.iter().any(|n| {
        program
            .middlewares
            .iter()
            .any(|m| m.name.value == n.value && matches!(m.config, MiddlewareDeclConfig::Jwt(_)))
    })
}

/// The model's kind for a declaration's config.
pub fn kind_of(config: &MiddlewareDeclConfig) -> MiddlewareKind {
    match config {
        MiddlewareDeclConfig::StripPrefix { .. } => MiddlewareKind::StripPrefix,
        MiddlewareDeclConfig::AddPrefix { .. } => MiddlewareKind::AddPrefix,
        MiddlewareDeclConfig::Headers(_) => MiddlewareKind::Headers,
        MiddlewareDeclConfig::Cors(_) => MiddlewareKind::Cors,
        MiddlewareDeclConfig::BasicAuth { .. } => MiddlewareKind::BasicAuth,
        MiddlewareDeclConfig::Jwt(_) => MiddlewareKind::Jwt,
        MiddlewareDeclConfig::RateLimit(_) => MiddlewareKind::RateLimit,
        MiddlewareDeclConfig::Cache(_) => MiddlewareKind::Cache,
        MiddlewareDeclConfig::AccessLog { .. } => MiddlewareKind::AccessLog,
        MiddlewareDeclConfig::Errors { .. } => MiddlewareKind::Errors,
    }
}

/// Whether two valid IPv4 CIDRs share an address.
fn cidrs_overlap(a: &str, b: &str) -> bool {
    let parse = |c: &str| -> Option<(u32, u32)> {
        let (ip, bits) = c.split_once('/')?;
        let ip = u32::from(ip.parse::<std::net::Ipv4Addr>().ok()?);
        let bits: u32 = bits.parse().ok()?;
        let mask = if bits == 0 {
            0
        } else {
            u32::MAX << (32 - bits)
        };
        Some((ip & mask, mask))
    };
    match (parse(a), parse(b)) {
        (Some((na, ma)), Some((nb, mb))) => {
            let common = ma & mb;
            na & common == nb & common
        }
        _ => false,
    }
}

/// The major version in a Traefik image's tag (`traefik:v3.7` -> 3), if the
/// tag names one.
fn image_major(image: &str) -> Option<u32> {
    let (_, tag) = image.rsplit_once(':')?;
    let digits: String = tag
        .trim_start_matches('v')
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}
