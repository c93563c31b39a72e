//! The reader: [`Table::from_bytes`] validates a table completely and returns
//! a [`TableView`] whose accessors read the bytes in place.
//!
//! All checking happens once, in `from_bytes`: header, version, flags,
//! length, checksum, section layout, every string and list reference, every
//! index, every middleware body and the lookup index's consistency with the
//! routes. After that the views' accessors cannot fail; they still never
//! index out of bounds (a read past the end yields zero or ""), so even a bug
//! in the validator cannot make them panic. Matching lives in `lookup`, the
//! layout's numbers in `layout`.

use crate::error::TableError;
use crate::layout::{self, read_u16, read_u32, read_u64, Precedence, Section, NONE};
use crate::spec::*;

/// Entry point of the reader.
pub struct Table;

impl Table {
    /// Validates `bytes` as a route table and returns a view over them.
    pub fn from_bytes(bytes: &[u8]) -> Result<TableView<'_>, TableError> {
        let view = check_header(bytes)?;
        Validator { t: view }.check_all()?;
        Ok(view)
    }
}

/// The header's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u16,
    pub flags: u16,
    pub checksum: u32,
    pub total_len: u64,
    pub generation: u64,
    pub source_sha256: [u8; 32],
}

/// A validated table, borrowing its bytes. Cheap to copy.
#[derive(Clone, Copy)]
pub struct TableView<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) strings: &'a str,
    pub(crate) words: &'a [u8],
    pub(crate) gateway: &'a [u8],
    pub(crate) services: &'a [u8],
    pub(crate) middlewares: &'a [u8],
    pub(crate) chains: &'a [u8],
    pub(crate) routes: &'a [u8],
    pub(crate) index: &'a [u8],
    /// The index header's numbers, read once at open (validated there).
    pub(crate) probe: Probe,
}

/// What `lookup` needs from the index header on every request.
#[derive(Clone, Copy, Default)]
pub(crate) struct Probe {
    pub(crate) bucket_mask: usize,
    pub(crate) max_probe: usize,
    pub(crate) entries_at: usize,
    pub(crate) depth_mask: u64,
}

impl std::fmt::Debug for TableView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableView")
            .field("header", &self.header())
            .field("services", &self.service_count())
            .field("middlewares", &self.middleware_count())
            .field("chains", &self.chain_count())
            .field("routes", &self.route_count())
            .finish()
    }
}

fn check_header(bytes: &[u8]) -> Result<TableView<'_>, TableError> {
    use layout::header as h;
    if bytes.len() < layout::HEADER_LEN {
        return Err(TableError::TooShort {
            len: bytes.len(),
            need: layout::HEADER_LEN,
        });
    }
    let mut found = [0u8; 8];
    found.copy_from_slice(&bytes[h::MAGIC..h::MAGIC + 8]);
    if found != layout::MAGIC {
        return Err(TableError::BadMagic {
            found,
            expected: layout::MAGIC,
        });
    }
    let version = read_u16(bytes, h::VERSION).unwrap_or(0);
    if version != layout::VERSION {
        return Err(TableError::UnsupportedVersion {
            found: version,
            supported: layout::VERSION,
        });
    }
    let flags = read_u16(bytes, h::FLAGS).unwrap_or(0);
    if flags & !layout::KNOWN_FLAGS != 0 {
        return Err(TableError::UnknownFlags { flags });
    }
    let declared = read_u64(bytes, h::TOTAL_LEN).unwrap_or(0);
    if declared != bytes.len() as u64 {
        return Err(TableError::LengthMismatch {
            declared,
            actual: bytes.len(),
        });
    }
    let stored = read_u32(bytes, h::CHECKSUM).unwrap_or(0);
    let computed = layout::checksum(bytes);
    if stored != computed {
        return Err(TableError::ChecksumMismatch {
            stored,
            computed,
            len: bytes.len(),
        });
    }
    let mut sections = [&bytes[..0]; layout::SECTION_COUNT];
    let mut expected_start = layout::HEADER_LEN;
    for section in Section::ALL {
        let at = h::DIRECTORY + section as usize * 8;
        let start = read_u32(bytes, at).unwrap_or(0) as usize;
        let len = read_u32(bytes, at + 4).unwrap_or(0) as usize;
        let malformed = |problem: String| TableError::Malformed {
            section,
            offset: 0,
            file_offset: at,
            problem: format!("directory entry: {problem}"),
        };
        if start != expected_start {
            return Err(malformed(format!(
                "section starts at {start}, expected {expected_start} (sections are contiguous, 8-aligned, in order)"
            )));
        }
        let end = start
            .checked_add(len)
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| {
                malformed(format!(
                    "{len} bytes at {start} run past the end ({})",
                    bytes.len()
                ))
            })?;
        sections[section as usize] = &bytes[start..end];
        expected_start = layout::align_up(end);
    }
    if expected_start != bytes.len() {
        return Err(TableError::Malformed {
            section: Section::Index,
            offset: sections[Section::Index as usize].len(),
            file_offset: expected_start,
            problem: format!(
                "{} bytes after the last section",
                bytes.len().saturating_sub(expected_start)
            ),
        });
    }
    let strings = std::str::from_utf8(sections[Section::Strings as usize]).map_err(|e| {
        let offset = e.valid_up_to();
        TableError::Malformed {
            section: Section::Strings,
            offset,
            file_offset: layout::HEADER_LEN + offset,
            problem: "invalid UTF-8".into(),
        }
    })?;
    Ok(TableView {
        bytes,
        strings,
        words: sections[Section::Words as usize],
        gateway: sections[Section::Gateway as usize],
        services: sections[Section::Services as usize],
        middlewares: sections[Section::Middlewares as usize],
        chains: sections[Section::Chains as usize],
        routes: sections[Section::Routes as usize],
        index: sections[Section::Index as usize],
        probe: Probe::read(sections[Section::Index as usize]),
    })
}

impl Probe {
    fn read(index: &[u8]) -> Probe {
        use layout::index as x;
        let bucket_count = read_u32(index, x::BUCKET_COUNT).unwrap_or(0) as usize;
        Probe {
            bucket_mask: bucket_count.saturating_sub(1),
            max_probe: read_u32(index, x::MAX_PROBE).unwrap_or(0) as usize,
            entries_at: bucket_count
                .saturating_mul(x::BUCKET_SIZE)
                .saturating_add(x::HEADER_SIZE),
            depth_mask: read_u64(index, x::DEPTH_MASK).unwrap_or(0),
        }
    }
}

/// A record: its bytes and its position in its section (for views' and
/// errors' sake).
#[derive(Clone, Copy)]
pub(crate) struct Record<'a> {
    bytes: &'a [u8],
}

impl<'a> Record<'a> {
    pub(crate) fn u32(self, at: usize) -> u32 {
        read_u32(self.bytes, at).unwrap_or(0)
    }
    fn u64(self, at: usize) -> u64 {
        read_u64(self.bytes, at).unwrap_or(0)
    }
    pub(crate) fn pair(self, at: usize) -> (u32, u32) {
        (self.u32(at), self.u32(at + 4))
    }
}

/// Record `i` of `size` bytes; empty (every read gives zero) if out of range.
fn record(section: &[u8], size: usize, i: usize) -> Record<'_> {
    let bytes = i
        .checked_mul(size)
        .and_then(|start| section.get(start..start.checked_add(size)?))
        .unwrap_or(&[]);
    Record { bytes }
}

/// A list reference read: where its first word is and how many elements.
#[derive(Clone, Copy)]
pub(crate) struct List {
    pub(crate) start: usize,
    pub(crate) count: usize,
}

impl<'a> TableView<'a> {
    pub fn header(&self) -> Header {
        use layout::header as h;
        let mut source_sha256 = [0u8; 32];
        if let Some(sha) = self.bytes.get(h::SOURCE_SHA256..h::SOURCE_SHA256 + 32) {
            source_sha256.copy_from_slice(sha);
        }
        Header {
            version: read_u16(self.bytes, h::VERSION).unwrap_or(0),
            flags: read_u16(self.bytes, h::FLAGS).unwrap_or(0),
            checksum: read_u32(self.bytes, h::CHECKSUM).unwrap_or(0),
            total_len: read_u64(self.bytes, h::TOTAL_LEN).unwrap_or(0),
            generation: read_u64(self.bytes, h::GENERATION).unwrap_or(0),
            source_sha256,
        }
    }

    /// The table's bytes, as given to `from_bytes`.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub(crate) fn word(&self, i: usize) -> u32 {
        i.checked_mul(4)
            .and_then(|at| read_u32(self.words, at))
            .unwrap_or(0)
    }

    /// The string a (offset, length) reference names; "" if it names none
    /// (only possible for an unvalidated reference).
    pub(crate) fn string(&self, (offset, len): (u32, u32)) -> &'a str {
        let start = offset as usize;
        start
            .checked_add(len as usize)
            .and_then(|end| self.strings.get(start..end))
            .unwrap_or("")
    }

    /// The bytes of a string reference; empty if it names none.
    pub(crate) fn string_bytes(&self, (offset, len): (u32, u32)) -> &'a [u8] {
        let start = offset as usize;
        let bytes = self.strings.as_bytes();
        start
            .checked_add(len as usize)
            .and_then(|end| bytes.get(start..end))
            .unwrap_or(&[])
    }

    fn opt_string(&self, r: (u32, u32)) -> Option<&'a str> {
        (r.0 != NONE).then(|| self.string(r))
    }

    pub(crate) fn list(&self, (start, count): (u32, u32)) -> List {
        List {
            start: start as usize,
            count: count as usize,
        }
    }

    /// The string whose reference is at word `i`.
    fn word_string(&self, i: usize) -> &'a str {
        self.string((self.word(i), self.word(i + 1)))
    }

    fn string_list(&self, list: List) -> impl ExactSizeIterator<Item = &'a str> + 'a {
        let t = *self;
        (0..list.count).map(move |k| t.word_string(list.start + 2 * k))
    }

    pub fn gateway(&self) -> GatewayView<'a> {
        GatewayView {
            t: *self,
            rec: Record {
                bytes: self.gateway,
            },
        }
    }

    pub fn service_count(&self) -> usize {
        self.services.len() / layout::service::SIZE
    }
    pub fn middleware_count(&self) -> usize {
        self.middlewares.len() / layout::middleware::SIZE
    }
    pub fn chain_count(&self) -> usize {
        self.chains.len() / layout::chain::SIZE
    }
    pub fn route_count(&self) -> usize {
        self.routes.len() / layout::route::SIZE
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
    /// The record of route `i`, for lookup's hot loop (no view built).
    pub(crate) fn route_record(&self, i: usize) -> Record<'a> {
        record(self.routes, layout::route::SIZE, i)
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
        let header = self.header();
        TableSpec {
            generation: header.generation,
            source_sha256: header.source_sha256,
            gateway: self.gateway().to_spec(),
            services: self.services().map(|s| s.to_spec()).collect(),
            middlewares: self.middlewares().map(|m| m.to_spec()).collect(),
            chains: self.chains().map(|c| c.to_spec()).collect(),
            routes: self.routes().map(|r| r.to_spec()).collect(),
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
    pub fn to_spec(&self) -> GatewaySpec {
        GatewaySpec {
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
        self.body().decode(self.kind())
    }
    fn body(&self) -> BodyReader<'a> {
        let list = self.t.list(self.rec.pair(layout::middleware::BODY));
        BodyReader {
            t: self.t,
            pos: list.start,
            end: list.start + list.count,
            error: None,
        }
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

/// Reads a middleware body word by word. Reads past the body's end or
/// references that do not resolve record the first problem in `error` and
/// yield defaults, so decoding itself never fails: the validator decodes
/// every body once and rejects the table if `error` was set or words were
/// left over.
struct BodyReader<'a> {
    t: TableView<'a>,
    pos: usize,
    end: usize,
    error: Option<String>,
}

impl<'a> BodyReader<'a> {
    fn fail(&mut self, problem: String) {
        self.error.get_or_insert(problem);
    }
    fn u32(&mut self) -> u32 {
        if self.pos >= self.end {
            self.fail(format!(
                "body ends at word {} before all its fields",
                self.end
            ));
            return 0;
        }
        self.pos += 1;
        self.t.word(self.pos - 1)
    }
    fn u64(&mut self) -> u64 {
        let lo = u64::from(self.u32());
        lo | u64::from(self.u32()) << 32
    }
    fn bool(&mut self) -> bool {
        match self.u32() {
            0 => false,
            1 => true,
            other => {
                self.fail(format!("word {} is {other}, not a boolean", self.pos - 1));
                false
            }
        }
    }
    fn pair(&mut self) -> (u32, u32) {
        (self.u32(), self.u32())
    }
    fn checked_str(&mut self, r: (u32, u32)) -> &'a str {
        let s = self.t.string(r);
        if s.len() != r.1 as usize {
            self.fail(format!(
                "string reference {r:?} is outside the strings section"
            ));
        }
        s
    }
    fn string(&mut self) -> String {
        let r = self.pair();
        self.checked_str(r).to_owned()
    }
    fn opt_string(&mut self) -> Option<String> {
        let r = self.pair();
        (r.0 != NONE).then(|| self.checked_str(r).to_owned())
    }
    /// A list reference to `words_per_item`-word items, checked to lie in the
    /// words section.
    fn list(&mut self, words_per_item: usize) -> List {
        let r = self.pair();
        let list = self.t.list(r);
        if !list_fits(self.t, list, words_per_item) {
            self.fail(format!(
                "list of {} items at word {} runs past the words section",
                list.count, list.start
            ));
            return List { start: 0, count: 0 };
        }
        list
    }
    fn nested(&self, start: usize, words: usize) -> BodyReader<'a> {
        BodyReader {
            t: self.t,
            pos: start,
            end: start + words,
            error: None,
        }
    }
    /// Reads items of `words_per_item` words each with `item`.
    fn items<T>(
        &mut self,
        words_per_item: usize,
        mut item: impl FnMut(&mut BodyReader<'a>) -> T,
    ) -> Vec<T> {
        let list = self.list(words_per_item);
        let mut inner = self.nested(list.start, list.count * words_per_item);
        let items = (0..list.count).map(|_| item(&mut inner)).collect();
        if let Some(e) = inner.error {
            self.fail(e);
        }
        items
    }
    fn strings(&mut self) -> Vec<String> {
        self.items(2, Self::string)
    }
    fn pairs(&mut self) -> Vec<(String, String)> {
        self.items(4, |r| (r.string(), r.string()))
    }

    fn decode(mut self, kind: MiddlewareKind) -> MiddlewareConfig {
        self.decode_checked(kind).0
    }

    /// The configuration, and the first problem met decoding it, if any.
    fn decode_checked(&mut self, kind: MiddlewareKind) -> (MiddlewareConfig, Option<String>) {
        let config = match kind {
            MiddlewareKind::StripPrefix => MiddlewareConfig::StripPrefix {
                prefixes: self.strings(),
            },
            MiddlewareKind::AddPrefix => MiddlewareConfig::AddPrefix {
                prefix: self.string(),
            },
            MiddlewareKind::Headers => {
                let has_hsts = self.bool();
                let max_age = self.u64();
                let flags = self.u32();
                if flags & !0b111 != 0 {
                    self.fail(format!("unknown header flags {flags:#x}"));
                }
                MiddlewareConfig::Headers(HeadersConfig {
                    hsts_max_age_s: has_hsts.then_some(max_age),
                    hsts_include_subdomains: flags & 1 != 0,
                    hsts_preload: flags & 2 != 0,
                    content_type_nosniff: flags & 4 != 0,
                    frame_options: self.opt_string(),
                    referrer_policy: self.opt_string(),
                    content_security_policy: self.opt_string(),
                    set_request_headers: self.pairs(),
                    remove_request_headers: self.strings(),
                    set_response_headers: self.pairs(),
                    remove_response_headers: self.strings(),
                })
            }
            MiddlewareKind::Cors => MiddlewareConfig::Cors(CorsConfig {
                origins: self.strings(),
                methods: self.strings(),
                headers: self.strings(),
                expose: self.strings(),
                max_age_s: self.u64(),
                credentials: self.bool(),
            }),
            MiddlewareKind::Jwt => {
                let algorithms = self.strings();
                let key = match self.u32() {
                    0 => KeySource::Env(self.string()),
                    1 => KeySource::File(self.string()),
                    other => {
                        self.fail(format!(
                            "key source {other} is neither env (0) nor file (1)"
                        ));
                        KeySource::Env(self.string())
                    }
                };
                MiddlewareConfig::Jwt(JwtConfig {
                    algorithms,
                    key,
                    issuer: self.opt_string(),
                    audience: self.opt_string(),
                    roles_claim: self.string(),
                    leeway_s: self.u64(),
                    public: self.strings(),
                    require_roles: self.items(4, |r| RoleRule {
                        prefix: r.string(),
                        roles: r.strings(),
                    }),
                })
            }
            MiddlewareKind::RateLimit => {
                let key = match self.u32() {
                    0 => RateKey::ClientIp,
                    1 => RateKey::User,
                    other => {
                        self.fail(format!(
                            "rate key {other} is neither client_ip (0) nor user (1)"
                        ));
                        RateKey::ClientIp
                    }
                };
                MiddlewareConfig::RateLimit(RateLimitConfig {
                    key,
                    average: self.u64(),
                    period_ms: self.u64(),
                    burst: self.u64(),
                })
            }
            MiddlewareKind::Cache => MiddlewareConfig::Cache(CacheConfig {
                ttl_ms: self.u64(),
                methods: self.strings(),
                max_entries: self.u64(),
                max_bytes: self.u64(),
            }),
            MiddlewareKind::AccessLog => MiddlewareConfig::AccessLog { audit: self.bool() },
            MiddlewareKind::Errors => MiddlewareConfig::Errors {
                format: self.string(),
            },
        };
        if self.error.is_none() && self.pos != self.end {
            let left = self.end - self.pos;
            self.fail(format!("{left} words left over after the last field"));
        }
        (config, self.error.take())
    }
}

/// Whether `count` items of `words_per_item` words from word `start` lie in
/// the words section.
fn list_fits(t: TableView<'_>, list: List, words_per_item: usize) -> bool {
    let words = t.words.len() / 4;
    (list.count as u64)
        .checked_mul(words_per_item as u64)
        .and_then(|n| n.checked_add(list.start as u64))
        .is_some_and(|end| end <= words as u64)
}

/// Checks every record of a table whose header and layout passed.
struct Validator<'a> {
    t: TableView<'a>,
}

/// A position for error messages: a section and a byte offset in it.
#[derive(Clone, Copy)]
struct At {
    section: Section,
    offset: usize,
}

impl At {
    fn err(self, t: TableView<'_>, problem: String) -> TableError {
        let base = t.section_start(self.section);
        TableError::Malformed {
            section: self.section,
            offset: self.offset,
            file_offset: base + self.offset,
            problem,
        }
    }
    fn field(self, at: usize) -> At {
        At {
            offset: self.offset + at,
            ..self
        }
    }
}

impl TableView<'_> {
    fn section_start(&self, section: Section) -> usize {
        read_u32(self.bytes, layout::header::DIRECTORY + section as usize * 8).unwrap_or(0) as usize
    }
}

impl<'a> Validator<'a> {
    fn check_all(&self) -> Result<(), TableError> {
        let t = self.t;
        if !t.words.len().is_multiple_of(4) {
            return Err(At {
                section: Section::Words,
                offset: t.words.len(),
            }
            .err(t, "length is not a whole number of 4-byte words".into()));
        }
        self.check_sizes(Section::Gateway, t.gateway, layout::gateway::SIZE, true)?;
        self.check_sizes(Section::Services, t.services, layout::service::SIZE, false)?;
        self.check_sizes(
            Section::Middlewares,
            t.middlewares,
            layout::middleware::SIZE,
            false,
        )?;
        self.check_sizes(Section::Chains, t.chains, layout::chain::SIZE, false)?;
        self.check_sizes(Section::Routes, t.routes, layout::route::SIZE, false)?;
        self.check_gateway()?;
        for i in 0..t.service_count() {
            self.check_service(i)?;
        }
        for i in 0..t.middleware_count() {
            self.check_middleware(i)?;
        }
        for i in 0..t.chain_count() {
            self.check_chain(i)?;
        }
        for i in 0..t.route_count() {
            self.check_route(i)?;
        }
        self.check_index()
    }

    fn check_sizes(
        &self,
        section: Section,
        bytes: &[u8],
        size: usize,
        exactly_one: bool,
    ) -> Result<(), TableError> {
        let ok = if exactly_one {
            bytes.len() == size
        } else {
            bytes.len().is_multiple_of(size)
        };
        if ok {
            return Ok(());
        }
        let want = if exactly_one {
            format!("exactly {size}")
        } else {
            format!("a multiple of {size}")
        };
        Err(At { section, offset: 0 }.err(
            self.t,
            format!("length {} is not {want} bytes", bytes.len()),
        ))
    }

    fn str(&self, rec: Record<'_>, at: At, field: usize) -> Result<&'a str, TableError> {
        self.str_ref(rec.pair(field), at.field(field))
    }

    fn str_ref(&self, r: (u32, u32), at: At) -> Result<&'a str, TableError> {
        let (offset, len) = (r.0 as usize, r.1 as usize);
        let s = offset
            .checked_add(len)
            .and_then(|end| self.t.strings.get(offset..end));
        s.ok_or_else(|| {
            at.err(
                self.t,
                format!(
                    "string reference ({offset}, {len}) is outside the {}-byte strings section or splits a character",
                    self.t.strings.len()
                ),
            )
        })
    }

    fn opt_str(&self, rec: Record<'_>, at: At, field: usize) -> Result<(), TableError> {
        let r = rec.pair(field);
        if r.0 == NONE {
            if r.1 != 0 {
                return Err(at
                    .field(field)
                    .err(self.t, format!("absent string with length {}", r.1)));
            }
            return Ok(());
        }
        self.str(rec, at, field).map(drop)
    }

    fn list(
        &self,
        rec: Record<'_>,
        at: At,
        field: usize,
        words_per_item: usize,
    ) -> Result<List, TableError> {
        let list = self.t.list(rec.pair(field));
        if list_fits(self.t, list, words_per_item) {
            return Ok(list);
        }
        Err(at.field(field).err(
            self.t,
            format!(
                "list of {} items at word {} runs past the {}-word words section",
                list.count,
                list.start,
                self.t.words.len() / 4
            ),
        ))
    }

    fn str_list(&self, rec: Record<'_>, at: At, field: usize) -> Result<(), TableError> {
        let list = self.list(rec, at, field, 2)?;
        for k in 0..list.count {
            let w = list.start + 2 * k;
            self.str_ref((self.t.word(w), self.t.word(w + 1)), at.field(field))?;
        }
        Ok(())
    }

    fn index_field(
        &self,
        rec: Record<'_>,
        at: At,
        field: usize,
        what: &str,
        count: usize,
    ) -> Result<(), TableError> {
        let i = rec.u32(field);
        if (i as usize) < count {
            return Ok(());
        }
        Err(at.field(field).err(
            self.t,
            format!("{what} index {i} out of range ({count} {what}s)"),
        ))
    }

    fn check_gateway(&self) -> Result<(), TableError> {
        let at = At {
            section: Section::Gateway,
            offset: 0,
        };
        self.str_list(
            Record {
                bytes: self.t.gateway,
            },
            at,
            layout::gateway::TRUSTED_PROXIES,
        )
    }

    fn check_service(&self, i: usize) -> Result<(), TableError> {
        use layout::service as s;
        let rec = record(self.t.services, s::SIZE, i);
        let at = At {
            section: Section::Services,
            offset: i * s::SIZE,
        };
        self.str(rec, at, s::NAME)?;
        let instances = self.list(rec, at, s::INSTANCES, s::INSTANCE_WORDS)?;
        for k in 0..instances.count {
            let w = instances.start + s::INSTANCE_WORDS * k;
            self.str_ref((self.t.word(w), self.t.word(w + 1)), at.field(s::INSTANCES))?;
            let port = self.t.word(w + 2);
            if port > u32::from(u16::MAX) {
                return Err(at
                    .field(s::INSTANCES)
                    .err(self.t, format!("instance {k}: port {port} is not a u16")));
            }
        }
        let balance = rec.u32(s::BALANCE);
        if balance > 2 {
            return Err(at
                .field(s::BALANCE)
                .err(self.t, format!("unknown balance policy {balance}")));
        }
        let flags = rec.u32(s::FLAGS);
        if flags & !s::KNOWN_FLAGS != 0 {
            return Err(at
                .field(s::FLAGS)
                .err(self.t, format!("unknown service flags {flags:#x}")));
        }
        if flags & s::FLAG_HEALTH != 0 {
            self.str(rec, at, s::HEALTH_PATH)?;
        }
        if flags & s::FLAG_TLS != 0 {
            self.str(rec, at, s::TLS_CA_FILE)?;
            for field in [s::TLS_CERT_FILE, s::TLS_KEY_FILE, s::TLS_SERVER_NAME] {
                self.opt_str(rec, at, field)?;
            }
        }
        Ok(())
    }

    fn check_middleware(&self, i: usize) -> Result<(), TableError> {
        use layout::middleware as m;
        let rec = record(self.t.middlewares, m::SIZE, i);
        let at = At {
            section: Section::Middlewares,
            offset: i * m::SIZE,
        };
        self.str(rec, at, m::NAME)?;
        let code = rec.u32(m::KIND) as usize;
        let kind = MiddlewareKind::ALL.get(code).copied().ok_or_else(|| {
            at.field(m::KIND)
                .err(self.t, format!("unknown middleware kind {code}"))
        })?;
        let body = self.list(rec, at, m::BODY, 1)?;
        let mut reader = BodyReader {
            t: self.t,
            pos: body.start,
            end: body.start + body.count,
            error: None,
        };
        match reader.decode_checked(kind).1 {
            None => Ok(()),
            Some(problem) => Err(at
                .field(m::BODY)
                .err(self.t, format!("{} body: {problem}", kind.keyword()))),
        }
    }

    fn check_chain(&self, i: usize) -> Result<(), TableError> {
        use layout::chain as c;
        let rec = record(self.t.chains, c::SIZE, i);
        let at = At {
            section: Section::Chains,
            offset: i * c::SIZE,
        };
        self.str(rec, at, c::NAME)?;
        let list = self.list(rec, at, c::MIDDLEWARES, 1)?;
        let count = self.t.middleware_count();
        for k in 0..list.count {
            let m = self.t.word(list.start + k);
            if m as usize >= count {
                return Err(at.field(c::MIDDLEWARES).err(
                    self.t,
                    format!("member {k}: middleware index {m} out of range ({count} middlewares)"),
                ));
            }
        }
        Ok(())
    }

    fn check_route(&self, i: usize) -> Result<(), TableError> {
        use layout::route as r;
        let rec = record(self.t.routes, r::SIZE, i);
        let at = At {
            section: Section::Routes,
            offset: i * r::SIZE,
        };
        self.str(rec, at, r::NAME)?;
        self.opt_str(rec, at, r::HOST)?;
        let path = self.str(rec, at, r::PATH)?;
        if !path.starts_with('/') {
            return Err(at
                .field(r::PATH)
                .err(self.t, format!("path {path:?} does not start with '/'")));
        }
        self.str_list(rec, at, r::METHODS)?;
        let flags = rec.u32(r::FLAGS);
        if flags & !r::KNOWN_FLAGS != 0 {
            return Err(at
                .field(r::FLAGS)
                .err(self.t, format!("unknown route flags {flags:#x}")));
        }
        self.index_field(rec, at, r::SERVICE, "service", self.t.service_count())?;
        if rec.u32(r::CHAIN) != NONE {
            self.index_field(rec, at, r::CHAIN, "chain", self.t.chain_count())?;
        }
        Ok(())
    }

    /// The index must be a faithful view of the routes: every route listed
    /// exactly once, under its own key and kind, each list best first, and
    /// every entry reachable by the probe sequence `lookup` uses.
    fn check_index(&self) -> Result<(), TableError> {
        use layout::index as x;
        let t = self.t;
        let at = At {
            section: Section::Index,
            offset: 0,
        };
        let head = Record { bytes: t.index };
        let bucket_count = head.u32(x::BUCKET_COUNT) as usize;
        let entry_count = head.u32(x::ENTRY_COUNT) as usize;
        let max_probe = head.u32(x::MAX_PROBE) as usize;
        let depths = head.u64(x::DEPTH_MASK);
        if t.index.len() < x::HEADER_SIZE {
            return Err(at.err(
                t,
                format!("{} bytes, shorter than the index header", t.index.len()),
            ));
        }
        if !bucket_count.is_power_of_two()
            || entry_count >= bucket_count
            || max_probe > bucket_count
        {
            return Err(at.err(
                t,
                format!("{bucket_count} buckets (not a power of two above the {entry_count} entries) or max probe {max_probe} too long"),
            ));
        }
        let want = (x::HEADER_SIZE + bucket_count * x::BUCKET_SIZE) as u64
            + (entry_count * x::ENTRY_SIZE) as u64;
        if t.index.len() as u64 != want {
            return Err(at.err(
                t,
                format!(
                    "length {} but {bucket_count} buckets and {entry_count} entries need {want}",
                    t.index.len()
                ),
            ));
        }
        let buckets_at = x::HEADER_SIZE;
        let entries_at = buckets_at + bucket_count * x::BUCKET_SIZE;
        let mut seen = vec![false; t.route_count()];
        let mut previous_key = None;
        let mut hashes = Vec::with_capacity(entry_count);
        for e in 0..entry_count {
            let rec = record(&t.index[entries_at..], x::ENTRY_SIZE, e);
            let here = at.field(entries_at + e * x::ENTRY_SIZE);
            let key = self.str(rec, here, x::ENTRY_KEY)?;
            let depth = layout::key_depth(key.as_bytes());
            if depths & layout::depth_bit(depth) == 0 {
                return Err(here.err(
                    t,
                    format!(
                        "key {key:?} has depth {depth}, missing from the depth mask {depths:#x}"
                    ),
                ));
            }
            // Strictly increasing keys: no key is filed twice.
            if previous_key.is_some_and(|p: &str| p.as_bytes() >= key.as_bytes()) {
                return Err(here.err(
                    t,
                    format!("entry {e} (key {key:?}) is not after the previous key"),
                ));
            }
            previous_key = Some(key);
            hashes.push(layout::key_hash(key.as_bytes()));
            for (field, prefix) in [(x::ENTRY_EXACT, false), (x::ENTRY_PREFIX, true)] {
                let list = self.list(rec, here, field, 1)?;
                let mut previous = None;
                for k in 0..list.count {
                    let i = t.word(list.start + k) as usize;
                    // Raw record reads: building a RouteView per route would
                    // copy the whole TableView 10,000 times for 10,000 routes.
                    let route = t.route_record(i);
                    let is_prefix =
                        route.u32(layout::route::FLAGS) & layout::route::FLAG_PREFIX != 0;
                    let path = t.string(route.pair(layout::route::PATH));
                    let route_key = if is_prefix {
                        layout::prefix_key(path)
                    } else {
                        path
                    };
                    let fits =
                        i < seen.len() && !seen[i] && is_prefix == prefix && route_key == key;
                    if !fits {
                        return Err(here.field(field).err(
                            t,
                            format!("candidate {k} (route {i}) is not a distinct route with key {key:?} and this kind"),
                        ));
                    }
                    seen[i] = true;
                    let priority = route.u32(layout::route::PRIORITY);
                    let precedence = Precedence::new(priority, is_prefix, key.len(), i as u32);
                    if previous.is_some_and(|p| p >= precedence) {
                        return Err(here.field(field).err(
                            t,
                            format!("candidate {k} (route {i}) is out of precedence order"),
                        ));
                    }
                    previous = Some(precedence);
                }
            }
        }
        if let Some(i) = seen.iter().position(|s| !s) {
            return Err(at.err(t, format!("route {i} is in no index entry")));
        }
        self.check_buckets(&hashes, max_probe)
    }

    /// Every entry sits in exactly one bucket that a lookup of its key
    /// reaches: the bucket holds the key's hash, lies at most `max_probe - 1`
    /// slots after the key's home slot, with no empty bucket in between
    /// (where a lookup would stop). One sequential pass over the buckets,
    /// starting after an empty one so no run of full buckets wraps around.
    fn check_buckets(&self, hashes: &[u32], max_probe: usize) -> Result<(), TableError> {
        use layout::index as x;
        let t = self.t;
        let bucket_count = t.probe.bucket_mask + 1;
        let bucket = |slot: usize| {
            let at = x::HEADER_SIZE + slot * x::BUCKET_SIZE;
            (
                read_u32(t.index, at).unwrap_or(0),
                read_u32(t.index, at + 4).unwrap_or(0) as usize,
            )
        };
        let first_empty = (0..bucket_count)
            .find(|&slot| bucket(slot).1 == 0)
            .unwrap_or(0);
        let mut placed = vec![false; hashes.len()];
        let mut run_start = 0;
        for step in 0..bucket_count {
            let slot = (first_empty + 1 + step) & t.probe.bucket_mask;
            let (hash, entry) = bucket(slot);
            if entry == 0 {
                run_start = step + 1;
                continue;
            }
            let here = At {
                section: Section::Index,
                offset: x::HEADER_SIZE + slot * x::BUCKET_SIZE,
            };
            let e = entry - 1;
            let Some(&want) = hashes.get(e).filter(|_| !placed[e]) else {
                return Err(here.err(
                    t,
                    format!("bucket {slot} names entry {e}, which is out of range or placed twice"),
                ));
            };
            placed[e] = true;
            let distance = slot.wrapping_sub(want as usize) & t.probe.bucket_mask;
            if hash != want || distance >= max_probe || distance > step - run_start {
                return Err(here.err(
                    t,
                    format!(
                        "bucket {slot} (entry {e}) is not where a lookup of the entry's key lands"
                    ),
                ));
            }
        }
        match placed.iter().position(|p| !p) {
            Some(e) => Err(At {
                section: Section::Index,
                offset: 0,
            }
            .err(t, format!("entry {e} is in no bucket"))),
            None => Ok(()),
        }
    }
}
