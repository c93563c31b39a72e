//! The response cache (`cache` in the DSL, e.g. a 5-minute
//! discovery cache), on moka. Only the DSL's methods (GET and HEAD) are
//! cached. The key is the method, host, normalized path and query, and the
//! verified user when there is one, so one user's response is never served
//! to another; a request carrying credentials the chain did not verify
//! (`Authorization` or `Cookie` without a verified user) bypasses the
//! cache. A response is stored only if it is a 200 without `Set-Cookie`,
//! `Vary`, or `Cache-Control: no-store`, `private` or `no-cache`; its
//! lifetime is the DSL's `ttl`, shortened by the upstream's `s-maxage` or
//! `max-age`. Cacheable requests get `X-Cache: HIT` or `MISS`.
//!
//! Memory is bounded by bytes and by entries at once: moka bounds the
//! total weight by `max_size`, and every entry weighs at least
//! `max_size / max_entries`, so at most `max_entries` fit. Entries live in
//! [`MiddlewareState`] and survive a reload with unchanged settings. The
//! body is copied as it streams to the client (never buffered first); an
//! entry larger than an eighth of `max_size` is passed through uncached.

use crate::body::{BodyObserver, GatewayBody};
use crate::chain::{Answered, CacheOutcome, Flow, Middleware, MiddlewareState, RequestCtx};
use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{HeaderMap, Method, Response, StatusCode};
use hyper::body::Body;
use routetable::{CacheConfig, MiddlewareKind, MiddlewareSpec};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub static X_CACHE: HeaderName = HeaderName::from_static("x-cache");
static HIT: HeaderValue = HeaderValue::from_static("HIT");
static MISS: HeaderValue = HeaderValue::from_static("MISS");

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    method: Method,
    host: String,
    path_and_query: String,
    user: Option<Arc<str>>,
}

impl CacheKey {
    fn weight(&self) -> usize {
        self.host.len() + self.path_and_query.len() + self.user.as_ref().map_or(0, |u| u.len())
    }
}

#[derive(Debug)]
struct Entry {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    stored: Instant,
    expires: Instant,
}

/// The entries of one cache, shared across reloads.
pub struct Store {
    entries: moka::sync::Cache<CacheKey, Arc<Entry>>,
}

impl Store {
    fn new(config: &CacheConfig, ttl: Duration) -> Self {
        let min_weight = (config.max_bytes / config.max_entries.max(1)).max(1);
        let entries = moka::sync::Cache::builder()
            .max_capacity(config.max_bytes)
            .time_to_live(ttl)
            .weigher(move |key: &CacheKey, entry: &Arc<Entry>| {
                let headers: usize = entry
                    .headers
                    .iter()
                    .map(|(n, v)| n.as_str().len() + v.len())
                    .sum();
                let weight = (key.weight() + headers + entry.body.len()) as u64;
                u32::try_from(weight.max(min_weight)).unwrap_or(u32::MAX)
            })
            .build();
        Self { entries }
    }

    /// Entries held (after moka's pending maintenance).
    pub fn entry_count(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }

    /// The summed weight of the entries, bounded by `max_size`.
    pub fn weighted_size(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
    }
}

/// A prepared cache step.
pub struct Cache {
    name: Arc<str>,
    store: Arc<Store>,
    ttl: Duration,
    methods: Vec<Method>,
    max_entry_bytes: usize,
}

/// A cacheable request that missed, for the response side.
#[derive(Clone)]
struct Pending(CacheKey);

impl Cache {
    pub fn prepare(
        name: Arc<str>,
        config: &CacheConfig,
        spec: &MiddlewareSpec,
        state: &MiddlewareState,
    ) -> Result<Self, String> {
        if config.ttl_ms == 0 || config.max_bytes == 0 || config.max_entries == 0 {
            return Err("ttl, max_entries and max_size must be positive".into());
        }
        let methods = config
            .methods
            .iter()
            .map(|m| {
                let method = Method::from_bytes(m.as_bytes()).map_err(|e| format!("{m:?}: {e}"))?;
                if method == Method::GET || method == Method::HEAD {
                    Ok(method)
                } else {
                    Err(format!("only GET and HEAD responses are cached, not {m}"))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ttl = Duration::from_millis(config.ttl_ms);
        let store = state.get_or_init(spec, || Store::new(config, ttl));
        Ok(Self {
            name,
            store,
            ttl,
            methods: if methods.is_empty() {
                vec![Method::GET, Method::HEAD]
            } else {
                methods
            },
            max_entry_bytes: usize::try_from(config.max_bytes / 8).unwrap_or(usize::MAX),
        })
    }

    fn key(&self, ctx: &RequestCtx<'_>, head: &Parts) -> CacheKey {
        let host = head
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| head.uri.authority().map(|a| a.as_str()))
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut path_and_query = ctx.path.to_owned();
        if let Some(query) = head.uri.query() {
            path_and_query.push('?');
            path_and_query.push_str(query);
        }
        CacheKey {
            method: head.method.clone(),
            host,
            path_and_query,
            user: ctx.user.clone(),
        }
    }

    /// How long the upstream lets a shared cache keep `headers`' response;
    /// `None`: not at all.
    fn lifetime(&self, headers: &HeaderMap) -> Option<Duration> {
        if headers.contains_key(header::SET_COOKIE) || headers.contains_key(header::VARY) {
            return None;
        }
        let mut lifetime = self.ttl;
        let mut max_age = None;
        let mut s_maxage = None;
        for value in headers.get_all(header::CACHE_CONTROL) {
            let Ok(value) = value.to_str() else {
                return None;
            };
            for directive in value.split(',') {
                let (name, arg) = match directive.trim().split_once('=') {
                    Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                    None => (directive.trim(), None),
                };
                let seconds = || {
                    arg.and_then(|a| a.parse::<u64>().ok())
                        .map(Duration::from_secs)
                };
                if ["no-store", "private", "no-cache"]
                    .iter()
                    .any(|d| name.eq_ignore_ascii_case(d))
                {
                    return None;
                } else if name.eq_ignore_ascii_case("max-age") {
                    max_age = Some(seconds()?);
                } else if name.eq_ignore_ascii_case("s-maxage") {
                    s_maxage = Some(seconds()?);
                }
            }
        }
        if let Some(upstream) = s_maxage.or(max_age) {
            lifetime = lifetime.min(upstream);
        }
        (!lifetime.is_zero()).then_some(lifetime)
    }

    fn hit(&self, entry: &Entry) -> Response<GatewayBody> {
        let mut response = Response::new(GatewayBody::full(entry.body.clone()));
        *response.status_mut() = entry.status;
        *response.headers_mut() = entry.headers.clone();
        let headers = response.headers_mut();
        headers.insert(
            header::AGE,
            HeaderValue::from(entry.stored.elapsed().as_secs()),
        );
        headers.insert(&X_CACHE, HIT.clone());
        response
    }
}

impl Middleware for Cache {
    fn on_request(&self, ctx: &mut RequestCtx<'_>, head: &mut Parts) -> Flow {
        if !self.methods.contains(&head.method) {
            return Flow::Continue;
        }
        let unverified_credentials = ctx.user.is_none()
            && (head.headers.contains_key(header::AUTHORIZATION)
                || head.headers.contains_key(header::COOKIE));
        if unverified_credentials {
            ctx.extensions.insert(Bypass);
            ctx.cache = Some(CacheOutcome::Bypass);
            return Flow::Continue;
        }
        let key = self.key(ctx, head);
        if let Some(entry) = self.store.entries.get(&key) {
            if entry.expires > Instant::now() {
                ctx.cache = Some(CacheOutcome::Hit);
                ctx.answered = Some(Answered {
                    kind: MiddlewareKind::Cache,
                    step: self.name.clone(),
                    reason: "cache hit",
                });
                return Flow::Respond(self.hit(&entry));
            }
            self.store.entries.invalidate(&key);
        }
        ctx.extensions.insert(Pending(key));
        ctx.cache = Some(CacheOutcome::Miss);
        Flow::Continue
    }

    fn on_response(&self, ctx: &RequestCtx<'_>, response: &mut Response<GatewayBody>) {
        if ctx.extensions.get::<Bypass>().is_some() {
            response.headers_mut().insert(&X_CACHE, MISS.clone());
            return;
        }
        let Some(Pending(key)) = ctx.extensions.get::<Pending>() else {
            return;
        };
        response.headers_mut().insert(&X_CACHE, MISS.clone());
        if response.status() != StatusCode::OK {
            return;
        }
        let Some(lifetime) = self.lifetime(response.headers()) else {
            return;
        };
        if response
            .body()
            .size_hint()
            .upper()
            .is_some_and(|n| n > self.max_entry_bytes as u64)
        {
            return;
        }
        let mut headers = response.headers().clone();
        for name in [&X_CACHE, &crate::forwarding::X_REQUEST_ID] {
            headers.remove(name);
        }
        headers.remove(header::AGE);
        let now = Instant::now();
        let entry = Entry {
            status: response.status(),
            headers,
            body: Bytes::new(),
            stored: now,
            expires: now + lifetime,
        };
        let body = std::mem::replace(response.body_mut(), GatewayBody::empty());
        *response.body_mut() = body.observe(Tee {
            copy: BytesMut::new(),
            limit: self.max_entry_bytes,
            pending: Some((key.clone(), entry, self.store.clone())),
        });
    }
}

/// Marks a cacheable request that must not use the cache.
#[derive(Clone)]
struct Bypass;

/// Keeps a copy of what streams to the client and stores the entry once
/// the body ended whole within the size limit.
struct Tee {
    copy: BytesMut,
    limit: usize,
    pending: Option<(CacheKey, Entry, Arc<Store>)>,
}

impl BodyObserver for Tee {
    fn on_data(&mut self, data: &Bytes) {
        if self.pending.is_none() {
            return;
        }
        if self.copy.len() + data.len() <= self.limit {
            self.copy.extend_from_slice(data);
        } else {
            // Too large: pass through uncached.
            self.pending = None;
            self.copy = BytesMut::new();
        }
    }

    fn on_end(&mut self, complete: bool) {
        if let (true, Some((key, mut entry, store))) = (complete, self.pending.take()) {
            entry.body = std::mem::take(&mut self.copy).freeze();
            store.entries.insert(key, Arc::new(entry));
            // moka applies its bounds in batches; a miss already paid an
            // upstream round trip, so settle them now and keep them strict.
            store.entries.run_pending_tasks();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routetable::MiddlewareConfig;

    fn cache(max_entries: u64, max_bytes: u64) -> Cache {
        let config = CacheConfig {
            ttl_ms: 300_000,
            methods: vec!["GET".into()],
            max_entries,
            max_bytes,
        };
        let spec = MiddlewareSpec {
            name: "c".into(),
            config: MiddlewareConfig::Cache(config.clone()),
        };
        Cache::prepare("c".into(), &config, &spec, &MiddlewareState::default()).unwrap()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn upstream_directives_shorten_or_forbid_storing() {
        let c = cache(10, 1 << 20);
        assert_eq!(c.lifetime(&headers(&[])), Some(Duration::from_secs(300)));
        let short = headers(&[("cache-control", "public, max-age=60")]);
        assert_eq!(c.lifetime(&short), Some(Duration::from_secs(60)));
        let shared = headers(&[("cache-control", "max-age=60, s-maxage=10")]);
        assert_eq!(c.lifetime(&shared), Some(Duration::from_secs(10)));
        let long = headers(&[("cache-control", "max-age=86400")]);
        assert_eq!(c.lifetime(&long), Some(Duration::from_secs(300)));
        for refused in [
            &[("cache-control", "no-store")][..],
            &[("cache-control", "Private")],
            &[("cache-control", "max-age=0")],
            &[("cache-control", "max-age=soon")],
            &[("set-cookie", "a=b")],
            &[("vary", "*")],
        ] {
            assert_eq!(c.lifetime(&headers(refused)), None, "{refused:?}");
        }
    }

    #[test]
    fn the_store_is_bounded_by_entries_and_by_bytes() {
        let entry = |body: usize| {
            let now = Instant::now();
            Arc::new(Entry {
                status: StatusCode::OK,
                headers: HeaderMap::new(),
                body: Bytes::from(vec![b'x'; body]),
                stored: now,
                expires: now + Duration::from_secs(60),
            })
        };
        let key = |i: usize| CacheKey {
            method: Method::GET,
            host: "h".into(),
            path_and_query: format!("/{i}"),
            user: None,
        };
        let by_count = cache(4, 1 << 20);
        for i in 0..50 {
            by_count.store.entries.insert(key(i), entry(10));
        }
        assert!(by_count.store.entry_count() <= 4);
        let by_bytes = cache(1000, 10_000);
        for i in 0..50 {
            by_bytes.store.entries.insert(key(i), entry(1000));
        }
        assert!(by_bytes.store.weighted_size() <= 10_000);
        assert!(by_bytes.store.entry_count() <= 10);
    }
}
