//! The table views: one borrowed view per kind of record (the gateway's
//! limits, services, middlewares, chains, routes), reading its fields in
//! place, and [`TableView`]'s accessors that hand them out, each able to
//! copy itself into its owned spec.
//!
//! It owns what each field of a record means, not how a middleware's body
//! is encoded (that is `middleware`) nor whether a record is valid (that is
//! `validate`, which has run before any view exists).

use super::middleware::decode_body;
use super::table::{record, List, Record, TableView};
use crate::layout::{self, Precedence, NONE};
use crate::spec::*;

impl<'a> TableView<'a> {
    pub fn gateway(&self) -> GatewayView<'a> {
        GatewayView {
            t: *self,
            rec: Record::whole(self.gateway),
        }
    }

    pub fn service(&self, i: usize) -> Option<ServiceView<'a>> {
        (i < self.service_count()).then(|| self.service_at(i))
    }
    pub fn middleware(&self, i: usize) -> Option<MiddlewareView<'a>> {
        (i < self.middleware_count()).then(|| self.middleware_at(i))
    }
    pub fn chain(&self, i: usize) -> Option<ChainView<'a>> {
        (i < self.chain_count()).then(|| self.chain_at(i))
    }
    pub fn route(&self, i: usize) -> Option<RouteView<'a>> {
        (i < self.route_count()).then(|| self.route_at(i))
    }

    fn service_at(&self, i: usize) -> ServiceView<'a> {
        ServiceView {
            t: *self,
            rec: record(self.services, layout::service::SIZE, i),
            index: i,
        }
    }
    fn middleware_at(&self, i: usize) -> MiddlewareView<'a> {
        MiddlewareView {
            t: *self,
            rec: record(self.middlewares, layout::middleware::SIZE, i),
            index: i,
        }
    }
    fn chain_at(&self, i: usize) -> ChainView<'a> {
        ChainView {
            t: *self,
            rec: record(self.chains, layout::chain::SIZE, i),
            index: i,
        }
    }
    /// The route at `i`, which the caller knows to be in range.
    pub(crate) fn route_at(&self, i: usize) -> RouteView<'a> {
        RouteView {
            t: *self,
            rec: record(self.routes, layout::route::SIZE, i),
            index: i,
        }
    }

    pub fn services(&self) -> impl ExactSizeIterator<Item = ServiceView<'a>> + 'a {
        let t = *self;
        (0..t.service_count()).map(move |i| t.service_at(i))
    }
    pub fn middlewares(&self) -> impl ExactSizeIterator<Item = MiddlewareView<'a>> + 'a {
        let t = *self;
        (0..t.middleware_count()).map(move |i| t.middleware_at(i))
    }
    pub fn chains(&self) -> impl ExactSizeIterator<Item = ChainView<'a>> + 'a {
        let t = *self;
        (0..t.chain_count()).map(move |i| t.chain_at(i))
    }
    /// Routes in table order (the writer's order).
    pub fn routes(&self) -> impl ExactSizeIterator<Item = RouteView<'a>> + 'a {
        let t = *self;
        (0..t.route_count()).map(move |i| t.route_at(i))
    }

    /// Routes in the order they win (FORMAT.md, "Matching"): highest priority
    /// first, exact before prefix, longer key first, then table order.
    pub fn routes_by_precedence(&self) -> Vec<RouteView<'a>> {
        let mut routes: Vec<_> = self.routes().collect();
        routes.sort_by_key(RouteView::precedence);
        routes
    }

    /// An owned copy of everything in the table.
    pub fn to_spec(&self) -> TableSpec {
        TableSpec {
            routes: self.routes().map(|r| r.to_spec()).collect(),
            ..self.to_spec_but_routes()
        }
    }

    /// An owned copy of everything but the routes, which a reader that
    /// keeps the table mapped iterates in place ([`TableView::routes`]):
    /// at 10,000 routes, copying them is most of what a copy costs.
    pub fn to_spec_but_routes(&self) -> TableSpec {
        let header = self.header();
        TableSpec {
            generation: header.generation,
            source_sha256: header.source_sha256,
            gateway: self.gateway().to_spec(),
            services: self.services().map(|s| s.to_spec()).collect(),
            middlewares: self.middlewares().map(|m| m.to_spec()).collect(),
            chains: self.chains().map(|c| c.to_spec()).collect(),
            routes: Vec::new(),
        }
    }
}

/// Gateway-wide limits.
#[derive(Clone, Copy)]
pub struct GatewayView<'a> {
    t: TableView<'a>,
    rec: Record<'a>,
}

impl<'a> GatewayView<'a> {
    pub fn max_connections(&self) -> u32 {
        self.rec.u32(layout::gateway::MAX_CONNECTIONS)
    }
    pub fn max_header_bytes(&self) -> u64 {
        self.rec.u64(layout::gateway::MAX_HEADER_BYTES)
    }
    pub fn max_body_bytes(&self) -> u64 {
        self.rec.u64(layout::gateway::MAX_BODY_BYTES)
    }
    pub fn header_timeout_ms(&self) -> u64 {
        self.rec.u64(layout::gateway::HEADER_TIMEOUT_MS)
    }
    pub fn dns_ttl_ms(&self) -> u64 {
        self.rec.u64(layout::gateway::DNS_TTL_MS)
    }
    pub fn pool(&self) -> PoolSpec {
        PoolSpec {
            max_total: self.rec.u32(layout::gateway::POOL_MAX_TOTAL),
            max_per_host: self.rec.u32(layout::gateway::POOL_MAX_PER_HOST),
            idle_timeout_ms: self.rec.u64(layout::gateway::POOL_IDLE_TIMEOUT_MS),
        }
    }
    pub fn trusted_proxies(&self) -> impl ExactSizeIterator<Item = &'a str> + 'a {
        self.t
            .string_list(self.t.list(self.rec.pair(layout::gateway::TRUSTED_PROXIES)))
    }
    /// Whether client header names with `_` are forwarded.
    pub fn underscore_headers(&self) -> bool {
        self.rec.u32(layout::gateway::FLAGS) & layout::gateway::FLAG_UNDERSCORE_HEADERS != 0
    }
    pub fn to_spec(&self) -> GatewaySpec {
        GatewaySpec {
            underscore_headers: self.underscore_headers(),
            max_connections: self.max_connections(),
            max_header_bytes: self.max_header_bytes(),
            max_body_bytes: self.max_body_bytes(),
            header_timeout_ms: self.header_timeout_ms(),
            dns_ttl_ms: self.dns_ttl_ms(),
            pool: self.pool(),
            trusted_proxies: self.trusted_proxies().map(str::to_owned).collect(),
        }
    }
}

/// One upstream service.
#[derive(Clone, Copy)]
pub struct ServiceView<'a> {
    t: TableView<'a>,
    rec: Record<'a>,
    index: usize,
}

impl<'a> ServiceView<'a> {
    pub fn index(&self) -> usize {
        self.index
    }
    pub fn name(&self) -> &'a str {
        self.t.string(self.rec.pair(layout::service::NAME))
    }
    /// `(host, port)` of every instance.
    pub fn instances(&self) -> impl ExactSizeIterator<Item = (&'a str, u16)> + 'a {
        let t = self.t;
        let list = t.list(self.rec.pair(layout::service::INSTANCES));
        (0..list.count).map(move |k| {
            let at = list.start + layout::service::INSTANCE_WORDS * k;
            (t.word_string(at), t.word(at + 2) as u16)
        })
    }
    pub fn balance(&self) -> Balance {
        match self.rec.u32(layout::service::BALANCE) {
            1 => Balance::LeastRequests,
            2 => Balance::Random,
            _ => Balance::RoundRobin,
        }
    }
    fn flags(&self) -> u32 {
        self.rec.u32(layout::service::FLAGS)
    }
    pub fn health(&self) -> Option<HealthCheckSpec> {
        use layout::service as s;
        (self.flags() & s::FLAG_HEALTH != 0).then(|| HealthCheckSpec {
            path: self.t.string(self.rec.pair(s::HEALTH_PATH)).to_owned(),
            interval_ms: self.rec.u64(s::HEALTH_INTERVAL_MS),
            timeout_ms: self.rec.u64(s::HEALTH_TIMEOUT_MS),
            healthy_threshold: self.rec.u32(s::HEALTHY_THRESHOLD),
            unhealthy_threshold: self.rec.u32(s::UNHEALTHY_THRESHOLD),
        })
    }
    pub fn timeouts(&self) -> TimeoutsSpec {
        use layout::service as s;
        TimeoutsSpec {
            connect_ms: self.rec.u64(s::CONNECT_MS),
            response_ms: self.rec.u64(s::RESPONSE_MS),
            websocket_idle_ms: self.rec.u64(s::WEBSOCKET_IDLE_MS),
        }
    }
    pub fn upstream_tls(&self) -> Option<UpstreamTlsSpec> {
        use layout::service as s;
        let opt = |at| self.t.opt_string(self.rec.pair(at)).map(str::to_owned);
        (self.flags() & s::FLAG_TLS != 0).then(|| UpstreamTlsSpec {
            ca_file: self.t.string(self.rec.pair(s::TLS_CA_FILE)).to_owned(),
            cert_file: opt(s::TLS_CERT_FILE),
            key_file: opt(s::TLS_KEY_FILE),
            server_name: opt(s::TLS_SERVER_NAME),
        })
    }
    pub fn to_spec(&self) -> ServiceSpec {
        ServiceSpec {
            name: self.name().to_owned(),
            instances: self.instances().map(|(h, p)| (h.to_owned(), p)).collect(),
            balance: self.balance(),
            health: self.health(),
            timeouts: self.timeouts(),
            upstream_tls: self.upstream_tls(),
        }
    }
}

/// One gateway middleware.
#[derive(Clone, Copy)]
pub struct MiddlewareView<'a> {
    t: TableView<'a>,
    rec: Record<'a>,
    index: usize,
}

impl<'a> MiddlewareView<'a> {
    pub fn index(&self) -> usize {
        self.index
    }
    pub fn name(&self) -> &'a str {
        self.t.string(self.rec.pair(layout::middleware::NAME))
    }
    pub fn kind(&self) -> MiddlewareKind {
        let code = self.rec.u32(layout::middleware::KIND) as usize;
        MiddlewareKind::ALL
            .get(code)
            .copied()
            .unwrap_or(MiddlewareKind::AccessLog)
    }
    /// The configuration, decoded from its body (small; read at chain-build
    /// time, not per request).
    pub fn config(&self) -> MiddlewareConfig {
        let body = self.t.list(self.rec.pair(layout::middleware::BODY));
        decode_body(self.t, body, self.kind()).0
    }
    pub fn to_spec(&self) -> MiddlewareSpec {
        MiddlewareSpec {
            name: self.name().to_owned(),
            config: self.config(),
        }
    }
}

/// A middleware chain.
#[derive(Clone, Copy)]
pub struct ChainView<'a> {
    t: TableView<'a>,
    rec: Record<'a>,
    index: usize,
}

impl<'a> ChainView<'a> {
    pub fn index(&self) -> usize {
        self.index
    }
    pub fn name(&self) -> &'a str {
        self.t.string(self.rec.pair(layout::chain::NAME))
    }
    pub fn middleware_indices(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        let t = self.t;
        let list = t.list(self.rec.pair(layout::chain::MIDDLEWARES));
        (0..list.count).map(move |k| t.word(list.start + k))
    }
    pub fn middlewares(&self) -> impl Iterator<Item = MiddlewareView<'a>> + 'a {
        let t = self.t;
        self.middleware_indices()
            .filter_map(move |i| t.middleware(i as usize))
    }
    pub fn to_spec(&self) -> ChainSpec {
        ChainSpec {
            name: self.name().to_owned(),
            middlewares: self.middleware_indices().collect(),
        }
    }
}

/// How a route matches the path, borrowing the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathMatchView<'a> {
    Exact(&'a str),
    Prefix(&'a str),
}

/// One gateway route.
#[derive(Clone, Copy)]
pub struct RouteView<'a> {
    t: TableView<'a>,
    rec: Record<'a>,
    index: usize,
}

impl std::fmt::Debug for RouteView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteView")
            .field("index", &self.index)
            .field("name", &self.name())
            .finish()
    }
}

impl<'a> RouteView<'a> {
    pub fn index(&self) -> usize {
        self.index
    }
    pub fn name(&self) -> &'a str {
        self.t.string(self.rec.pair(layout::route::NAME))
    }
    /// `None`: any host.
    pub fn host(&self) -> Option<&'a str> {
        self.t.opt_string(self.rec.pair(layout::route::HOST))
    }
    fn flags(&self) -> u32 {
        self.rec.u32(layout::route::FLAGS)
    }
    /// The path as written (a prefix keeps its trailing slash).
    pub fn path(&self) -> &'a str {
        self.t.string(self.rec.pair(layout::route::PATH))
    }
    pub fn is_prefix(&self) -> bool {
        self.flags() & layout::route::FLAG_PREFIX != 0
    }
    pub fn path_match(&self) -> PathMatchView<'a> {
        if self.is_prefix() {
            PathMatchView::Prefix(self.path())
        } else {
            PathMatchView::Exact(self.path())
        }
    }
    /// The key the index files this route under: the exact path, or the
    /// prefix without trailing slashes.
    pub fn key(&self) -> &'a str {
        if self.is_prefix() {
            layout::prefix_key(self.path())
        } else {
            self.path()
        }
    }
    /// Empty: every method.
    pub fn methods(&self) -> impl ExactSizeIterator<Item = &'a str> + 'a {
        self.t.string_list(self.method_list())
    }
    pub(crate) fn method_list(&self) -> List {
        self.t.list(self.rec.pair(layout::route::METHODS))
    }
    pub fn priority(&self) -> u32 {
        self.rec.u32(layout::route::PRIORITY)
    }
    pub fn service_index(&self) -> u32 {
        self.rec.u32(layout::route::SERVICE)
    }
    pub fn service(&self) -> Option<ServiceView<'a>> {
        self.t.service(self.service_index() as usize)
    }
    pub fn chain_index(&self) -> Option<u32> {
        Some(self.rec.u32(layout::route::CHAIN)).filter(|&c| c != NONE)
    }
    pub fn chain(&self) -> Option<ChainView<'a>> {
        self.chain_index().and_then(|c| self.t.chain(c as usize))
    }
    pub fn websocket(&self) -> bool {
        self.flags() & layout::route::FLAG_WEBSOCKET != 0
    }
    pub fn precedence(&self) -> Precedence {
        Precedence::new(
            self.priority(),
            self.is_prefix(),
            self.key().len(),
            self.index as u32,
        )
    }
    pub fn to_spec(&self) -> RouteSpec {
        let path = self.path().to_owned();
        RouteSpec {
            name: self.name().to_owned(),
            host: self.host().map(str::to_owned),
            path: if self.is_prefix() {
                PathMatch::Prefix(path)
            } else {
                PathMatch::Exact(path)
            },
            methods: self.methods().map(str::to_owned).collect(),
            priority: self.priority(),
            service: self.service_index(),
            chain: self.chain_index(),
            websocket: self.websocket(),
        }
    }
}
