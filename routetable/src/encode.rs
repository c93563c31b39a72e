//! The writer: [`encode`] turns a [`TableSpec`] into `routes.bin` bytes.
//!
//! It owns the layout decisions a reader does not need to know to read
//! (string interning, section order, index sizing) and is deterministic: the
//! same spec always gives the same bytes. It does not validate the spec
//! beyond what the format needs (indices are taken as given; the compiler's
//! checks own meaning) and does no I/O.

use std::collections::{BTreeMap, HashMap};

use crate::layout::{self, Precedence, Section, NONE};
use crate::spec::*;

/// Encodes `spec` as a complete table, header and checksum included.
///
/// # Panics
/// If the table would exceed 4 GiB, which its u32 offsets cannot address.
pub fn encode(spec: &TableSpec) -> Vec<u8> {
    let mut b = Builder::default();
    let mut sections: [Vec<u8>; layout::SECTION_COUNT] = Default::default();
    sections[Section::Gateway as usize] = b.gateway(&spec.gateway);
    sections[Section::Services as usize] = records(&spec.services, |s, out| b.service(s, out));
    sections[Section::Middlewares as usize] =
        records(&spec.middlewares, |m, out| b.middleware(m, out));
    sections[Section::Chains as usize] = records(&spec.chains, |c, out| {
        put_ref(out, b.str_ref(&c.name));
        put_ref(out, b.list(&c.middlewares));
    });
    sections[Section::Routes as usize] = records(&spec.routes, |r, out| b.route(r, out));
    sections[Section::Index as usize] = b.index(&spec.routes);
    sections[Section::Strings as usize] = std::mem::take(&mut b.strings);
    sections[Section::Words as usize] = b.words.iter().flat_map(|w| w.to_le_bytes()).collect();
    assemble(spec, &sections)
}

/// Lays the header and the sections out and seals them with the checksum.
fn assemble(spec: &TableSpec, sections: &[Vec<u8>; layout::SECTION_COUNT]) -> Vec<u8> {
    use layout::header as h;
    let mut out = vec![0u8; layout::HEADER_LEN];
    for (slot, section) in sections.iter().enumerate() {
        let offset = out.len();
        let at = h::DIRECTORY + slot * 8;
        out[at..at + 4].copy_from_slice(&to_u32(offset).to_le_bytes());
        out[at + 4..at + 8].copy_from_slice(&to_u32(section.len()).to_le_bytes());
        out.extend_from_slice(section);
        out.resize(layout::align_up(out.len()), 0);
    }
    let total = out.len() as u64;
    out[h::MAGIC..h::MAGIC + 8].copy_from_slice(&layout::MAGIC);
    out[h::VERSION..h::VERSION + 2].copy_from_slice(&layout::VERSION.to_le_bytes());
    out[h::FLAGS..h::FLAGS + 2].copy_from_slice(&0u16.to_le_bytes());
    out[h::TOTAL_LEN..h::TOTAL_LEN + 8].copy_from_slice(&total.to_le_bytes());
    out[h::GENERATION..h::GENERATION + 8].copy_from_slice(&spec.generation.to_le_bytes());
    out[h::SOURCE_SHA256..h::SOURCE_SHA256 + 32].copy_from_slice(&spec.source_sha256);
    layout::reseal(&mut out);
    out
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).expect("route table larger than 4 GiB")
}

fn records<T>(items: &[T], mut write: impl FnMut(&T, &mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        write(item, &mut out);
    }
    out
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_ref(out: &mut Vec<u8>, r: [u32; 2]) {
    put_u32(out, r[0]);
    put_u32(out, r[1]);
}

/// Accumulates the shared strings and words sections while records are
/// written.
#[derive(Default)]
struct Builder {
    strings: Vec<u8>,
    interned: HashMap<String, [u32; 2]>,
    words: Vec<u32>,
}

impl Builder {
    /// A string reference, reusing an identical earlier string.
    fn str_ref(&mut self, s: &str) -> [u32; 2] {
        if let Some(r) = self.interned.get(s) {
            return *r;
        }
        let r = [to_u32(self.strings.len()), to_u32(s.len())];
        self.strings.extend_from_slice(s.as_bytes());
        self.interned.insert(s.to_owned(), r);
        r
    }

    fn opt_str_ref(&mut self, s: Option<&str>) -> [u32; 2] {
        s.map_or([NONE, 0], |s| self.str_ref(s))
    }

    /// Appends `words` to the words section; returns (offset, element count).
    fn list_of(&mut self, words: &[u32], count: usize) -> [u32; 2] {
        let r = [to_u32(self.words.len()), to_u32(count)];
        self.words.extend_from_slice(words);
        r
    }

    fn list(&mut self, items: &[u32]) -> [u32; 2] {
        self.list_of(items, items.len())
    }

    fn str_list(&mut self, items: &[String]) -> [u32; 2] {
        let words: Vec<u32> = items.iter().flat_map(|s| self.str_ref(s)).collect();
        self.list_of(&words, items.len())
    }

    fn pair_list(&mut self, items: &[(String, String)]) -> [u32; 2] {
        let words: Vec<u32> = items
            .iter()
            .flat_map(|(k, v)| [self.str_ref(k), self.str_ref(v)])
            .flatten()
            .collect();
        self.list_of(&words, items.len())
    }

    fn gateway(&mut self, g: &GatewaySpec) -> Vec<u8> {
        let mut out = Vec::with_capacity(layout::gateway::SIZE);
        put_u32(&mut out, g.max_connections);
        put_u32(&mut out, g.pool.max_total);
        put_u32(&mut out, g.pool.max_per_host);
        put_u32(
            &mut out,
            if g.underscore_headers {
                layout::gateway::FLAG_UNDERSCORE_HEADERS
            } else {
                0
            },
        );
        put_u64(&mut out, g.max_header_bytes);
        put_u64(&mut out, g.max_body_bytes);
        put_u64(&mut out, g.header_timeout_ms);
        put_u64(&mut out, g.dns_ttl_ms);
        put_u64(&mut out, g.pool.idle_timeout_ms);
        let proxies = self.str_list(&g.trusted_proxies);
        put_ref(&mut out, proxies);
        debug_assert_eq!(out.len(), layout::gateway::SIZE);
        out
    }

    fn service(&mut self, s: &ServiceSpec, out: &mut Vec<u8>) {
        let start = out.len();
        put_ref(out, self.str_ref(&s.name));
        let instances: Vec<u32> = s
            .instances
            .iter()
            .flat_map(|(host, port)| {
                let [off, len] = self.str_ref(host);
                [off, len, u32::from(*port)]
            })
            .collect();
        put_ref(out, self.list_of(&instances, s.instances.len()));
        put_u32(out, balance_code(s.balance));
        let mut flags = 0;
        if s.health.is_some() {
            flags |= layout::service::FLAG_HEALTH;
        }
        if s.upstream_tls.is_some() {
            flags |= layout::service::FLAG_TLS;
        }
        put_u32(out, flags);
        match &s.health {
            Some(h) => {
                put_ref(out, self.str_ref(&h.path));
                put_u64(out, h.interval_ms);
                put_u64(out, h.timeout_ms);
                put_u32(out, h.healthy_threshold);
                put_u32(out, h.unhealthy_threshold);
            }
            None => out.extend_from_slice(&[0; 32]),
        }
        put_u64(out, s.timeouts.connect_ms);
        put_u64(out, s.timeouts.response_ms);
        put_u64(out, s.timeouts.websocket_idle_ms);
        match &s.upstream_tls {
            Some(t) => {
                put_ref(out, self.str_ref(&t.ca_file));
                put_ref(out, self.opt_str_ref(t.cert_file.as_deref()));
                put_ref(out, self.opt_str_ref(t.key_file.as_deref()));
                put_ref(out, self.opt_str_ref(t.server_name.as_deref()));
            }
            None => {
                put_ref(out, [NONE, 0]);
                put_ref(out, [NONE, 0]);
                put_ref(out, [NONE, 0]);
                put_ref(out, [NONE, 0]);
            }
        }
        debug_assert_eq!(out.len() - start, layout::service::SIZE);
    }

    fn middleware(&mut self, m: &MiddlewareSpec, out: &mut Vec<u8>) {
        put_ref(out, self.str_ref(&m.name));
        put_u32(out, m.config.kind() as u32);
        put_u32(out, 0);
        let body = self.middleware_body(&m.config);
        put_ref(out, self.list(&body));
    }

    /// The kind-specific words of a middleware (FORMAT.md lists each layout;
    /// `view::middleware` reads them back in the same order).
    fn middleware_body(&mut self, config: &MiddlewareConfig) -> Vec<u32> {
        let mut w = Vec::new();
        match config {
            MiddlewareConfig::StripPrefix { prefixes } => w.extend(self.str_list(prefixes)),
            MiddlewareConfig::AddPrefix { prefix } => w.extend(self.str_ref(prefix)),
            MiddlewareConfig::Headers(h) => {
                w.push(u32::from(h.hsts_max_age_s.is_some()));
                w.extend(u64_words(h.hsts_max_age_s.unwrap_or(0)));
                w.push(
                    u32::from(h.hsts_include_subdomains)
                        | u32::from(h.hsts_preload) << 1
                        | u32::from(h.content_type_nosniff) << 2,
                );
                w.extend(self.opt_str_ref(h.frame_options.as_deref()));
                w.extend(self.opt_str_ref(h.referrer_policy.as_deref()));
                w.extend(self.opt_str_ref(h.content_security_policy.as_deref()));
                w.extend(self.pair_list(&h.set_request_headers));
                w.extend(self.str_list(&h.remove_request_headers));
                w.extend(self.pair_list(&h.set_response_headers));
                w.extend(self.str_list(&h.remove_response_headers));
            }
            MiddlewareConfig::Cors(c) => {
                for list in [&c.origins, &c.methods, &c.headers, &c.expose] {
                    w.extend(self.str_list(list));
                }
                w.extend(u64_words(c.max_age_s));
                w.push(u32::from(c.credentials));
                w.extend(self.str_list(&c.websocket_origins));
            }
            MiddlewareConfig::Jwt(j) => {
                w.extend(self.str_list(&j.algorithms));
                let (tag, name) = match &j.key {
                    KeySource::Env(n) => (0, n),
                    KeySource::File(n) => (1, n),
                };
                w.push(tag);
                w.extend(self.str_ref(name));
                w.extend(self.opt_str_ref(j.issuer.as_deref()));
                w.extend(self.opt_str_ref(j.audience.as_deref()));
                w.extend(self.str_ref(&j.roles_claim));
                w.extend(u64_words(j.leeway_s));
                w.extend(self.str_list(&j.public));
                let rules: Vec<u32> = j
                    .require_roles
                    .iter()
                    .flat_map(|r| [self.str_ref(&r.prefix), self.str_list(&r.roles)])
                    .flatten()
                    .collect();
                w.extend(self.list_of(&rules, j.require_roles.len()));
                w.extend(self.opt_str_ref(j.subprotocol.as_deref()));
                w.extend(self.opt_str_ref(j.cookie.as_deref()));
            }
            MiddlewareConfig::RateLimit(r) => {
                w.push(match r.key {
                    RateKey::ClientIp => 0,
                    RateKey::User => 1,
                });
                w.extend(u64_words(r.average));
                w.extend(u64_words(r.period_ms));
                w.extend(u64_words(r.burst));
                match &r.shared {
                    None => w.push(0),
                    Some(sh) => {
                        w.push(1);
                        w.extend(self.str_ref(&sh.key_prefix));
                        w.extend(self.str_ref(&sh.address_env));
                        w.extend(self.opt_str_ref(sh.username_env.as_deref()));
                        w.extend(self.opt_str_ref(sh.password_env.as_deref()));
                        w.push(u32::from(sh.tls));
                        w.extend(u64_words(sh.timeout_ms));
                        w.push(match sh.on_failure {
                            StoreFailure::Local => 0,
                            StoreFailure::Open => 1,
                            StoreFailure::Closed => 2,
                        });
                        w.push(sh.replicas);
                    }
                }
            }
            MiddlewareConfig::Cache(c) => {
                w.extend(u64_words(c.ttl_ms));
                w.extend(self.str_list(&c.methods));
                w.extend(u64_words(c.max_entries));
                w.extend(u64_words(c.max_bytes));
            }
            MiddlewareConfig::AccessLog { audit } => w.push(u32::from(*audit)),
            MiddlewareConfig::Errors { format } => w.extend(self.str_ref(format)),
        }
        w
    }

    fn route(&mut self, r: &RouteSpec, out: &mut Vec<u8>) {
        put_ref(out, self.str_ref(&r.name));
        put_ref(out, self.opt_str_ref(r.host.as_deref()));
        put_ref(out, self.str_ref(r.path.path()));
        put_ref(out, self.str_list(&r.methods));
        let mut flags = 0;
        if r.path.is_prefix() {
            flags |= layout::route::FLAG_PREFIX;
        }
        if r.websocket {
            flags |= layout::route::FLAG_WEBSOCKET;
        }
        put_u32(out, flags);
        put_u32(out, r.priority);
        put_u32(out, r.service);
        put_u32(out, r.chain.unwrap_or(NONE));
    }

    /// The lookup index: one entry per distinct key (an exact path, or a
    /// prefix without its trailing slashes) with the routes that have that
    /// key, best first, in an open-addressing hash table (linear probing).
    fn index(&mut self, routes: &[RouteSpec]) -> Vec<u8> {
        let mut by_key: BTreeMap<&str, [Vec<u32>; 2]> = BTreeMap::new();
        for (i, r) in routes.iter().enumerate() {
            let (key, list) = match &r.path {
                PathMatch::Exact(p) => (p.as_str(), 0),
                PathMatch::Prefix(p) => (layout::prefix_key(p), 1),
            };
            by_key.entry(key).or_default()[list].push(to_u32(i));
        }
        let bucket_count = (by_key.len() * 2).max(8).next_power_of_two();
        let mask = bucket_count - 1;
        let mut buckets = vec![[0u32; 2]; bucket_count];
        let mut entries = Vec::with_capacity(by_key.len() * layout::index::ENTRY_SIZE);
        let mut max_probe = 0;
        let mut depth_mask = 0u64;
        for (n, (key, lists)) in by_key.iter_mut().enumerate() {
            depth_mask |= layout::depth_bit(layout::key_depth(key.as_bytes()));
            let hash = layout::key_hash(key.as_bytes());
            let mut slot = hash as usize & mask;
            let mut probes = 1;
            while buckets[slot][1] != 0 {
                slot = (slot + 1) & mask;
                probes += 1;
            }
            buckets[slot] = [hash, to_u32(n + 1)];
            max_probe = max_probe.max(probes);
            // A prefix key is its path minus trailing slashes: point into
            // the path's bytes rather than storing the key again.
            let first = &routes[lists[0]
                .first()
                .or(lists[1].first())
                .map_or(0, |&i| i as usize)];
            let [offset, _] = self.str_ref(first.path.path());
            put_ref(&mut entries, [offset, to_u32(key.len())]);
            for list in lists.iter_mut() {
                list.sort_by_key(|&i| {
                    let r = &routes[i as usize];
                    Precedence::new(r.priority, r.path.is_prefix(), key.len(), i)
                });
                let list_ref = self.list(list);
                put_ref(&mut entries, list_ref);
            }
        }
        let mut out = Vec::new();
        put_u32(&mut out, to_u32(bucket_count));
        put_u32(&mut out, to_u32(by_key.len()));
        put_u32(&mut out, max_probe);
        put_u32(&mut out, 0);
        put_u64(&mut out, depth_mask);
        for [hash, entry] in buckets {
            put_u32(&mut out, hash);
            put_u32(&mut out, entry);
        }
        out.extend_from_slice(&entries);
        out
    }
}

fn u64_words(v: u64) -> [u32; 2] {
    [v as u32, (v >> 32) as u32]
}

pub(crate) fn balance_code(b: Balance) -> u32 {
    match b {
        Balance::RoundRobin => 0,
        Balance::LeastRequests => 1,
        Balance::Random => 2,
    }
}
