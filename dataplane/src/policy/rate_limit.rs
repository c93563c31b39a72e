//! Rate limiting (`rate_limit` in the DSL): one GCRA token bucket per key
//! (governor's keyed limiter), keyed by the client IP ([`super::client_ip`];
//! an IPv6 client by its /64, which one host can fill with addresses) or by
//! the verified user (the JWT `sub`; a request without one, on a public
//! path, is left to the per-IP limit). `average` per `period` refills the
//! bucket, `burst` is its size. Over the limit: a JSON 429 with
//! `Retry-After` and `RateLimit-Limit/-Remaining/-Reset`; passing requests
//! get the `RateLimit-*` of the strictest limit they passed.
//!
//! A `scope local` limit's buckets live in [`MiddlewareState`], so a reload
//! with unchanged settings keeps them, and are swept on the request path: a
//! bucket that has refilled completely is indistinguishable from a new one
//! and is dropped (governor's `retain_recent`), so memory holds only keys
//! seen within about one refill time plus the sweep interval. Such a limit
//! is per gateway replica.
//!
//! A `scope shared` limit asks the platform's store
//! ([`crate::limit_store`]: the same GCRA in Redis, on Redis's clock) once
//! per request, so every replica draws from one bucket per key. Its key is
//! `PLATFORM:rl:LIMITER:ip:ADDR` or `...:user:SUB`. A key the store refused
//! is remembered here until its wait has passed, and refused without asking
//! again. When the store does not answer within the budget (slow, refusing
//! or down) the failure policy decides: `local` checks this replica's own
//! buckets at the limit divided by the replicas, `open` lets the request
//! through, `closed` answers 503. Each such check is counted
//! (`gateway_rate_limit_store_fallbacks_total`), the store's state is a
//! gauge (`gateway_rate_limit_store_up`), and each change of state is
//! logged once; the next check that the store answers ends the fallback.

use super::shared::reject;
use crate::body::GatewayBody;
use crate::chain::{Allowance, Flow, Middleware, MiddlewareState, RequestCtx, Resume};
use crate::limit_store::{Decision, LimitStore, StoreError, StoreSettings};
use crate::metrics::StoreHandles;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{HeaderMap, Response, StatusCode};
use routetable::{MiddlewareSpec, RateKey, RateLimitConfig, SharedLimitSpec, StoreFailure};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub static RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub static RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub static RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// `RateLimit-*` for the strictest limit a request met.
fn write_allowance(allowance: &Allowance, headers: &mut HeaderMap) {
    headers.insert(&RATELIMIT_LIMIT, number_value(allowance.limit.into()));
    headers.insert(
        &RATELIMIT_REMAINING,
        number_value(allowance.remaining.into()),
    );
    headers.insert(&RATELIMIT_RESET, number_value(allowance.reset_s));
}

/// The numbers `RateLimit-*` carry most often, made once: a clone of one
/// shares its bytes, where a fresh value is an allocation, three a step.
const SMALL_NUMBERS: u64 = 1024;
static SMALL_NUMBER_VALUES: std::sync::LazyLock<Vec<HeaderValue>> =
    std::sync::LazyLock::new(|| (0..SMALL_NUMBERS).map(HeaderValue::from).collect());

fn number_value(n: u64) -> HeaderValue {
    match usize::try_from(n)
        .ok()
        .and_then(|i| SMALL_NUMBER_VALUES.get(i))
    {
        Some(value) => value.clone(),
        None => HeaderValue::from(n),
    }
}

/// What a bucket is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum BucketKey {
    Ip(IpAddr),
    User(Arc<str>),
}

type Limiter = RateLimiter<
    BucketKey,
    DefaultKeyedStateStore<BucketKey>,
    DefaultClock,
    StateInformationMiddleware,
>;

/// The buckets of one rate limit, shared across reloads.
pub struct Buckets {
    limiter: Limiter,
    created: Instant,
    /// Milliseconds after `created` when the next sweep is due.
    next_sweep_ms: AtomicU64,
    sweep_every: Duration,
}

impl Buckets {
    fn new(quota: Quota, refill: Duration) -> Self {
        Self {
            limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            created: Instant::now(),
            next_sweep_ms: AtomicU64::new(0),
            sweep_every: refill.clamp(Duration::from_secs(1), Duration::from_secs(60)),
        }
    }

    /// Drops refilled buckets, at most once per sweep interval (one
    /// request pays for it; the others never wait on it).
    fn sweep_if_due(&self, now: Instant) {
        let now_ms = now.saturating_duration_since(self.created).as_millis() as u64;
        let due = self.next_sweep_ms.load(Ordering::Relaxed);
        if now_ms < due {
            return;
        }
        let next = now_ms + self.sweep_every.as_millis() as u64;
        if self
            .next_sweep_ms
            .compare_exchange(due, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
    }

    /// Keys currently held (for tests and the docs' memory bound).
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }
}

/// What a rate limit keeps across reloads.
struct LimitState {
    buckets: Arc<Buckets>,
    shared: Option<Arc<Shared>>,
}

/// A prepared rate limit.
pub struct RateLimit {
    core: Arc<Core>,
}

/// What a rate limit's checks and answers need, shared with the wait of a
/// shared check.
struct Core {
    name: Arc<str>,
    key: RateKey,
    buckets: Arc<Buckets>,
    burst: u32,
    /// Time to refill one request.
    per_request: Duration,
    shared: Option<Arc<Shared>>,
}

/// The state of a shared limit, kept across reloads with unchanged
/// settings: the store, the keys it refused, the local fallback's buckets.
pub struct Shared {
    /// `Err`: the store's env vars are unusable (said once at load); every
    /// check is then the failure policy's.
    store: Result<LimitStore, String>,
    /// `PLATFORM:rl:LIMITER:`.
    prefix: String,
    t_us: u64,
    tau_us: u64,
    policy: StoreFailure,
    /// This replica's share of the limit, for `on_failure local`.
    fallback: Buckets,
    fallback_burst: u32,
    fallback_per_request: Duration,
    /// Keys the store refused, until when.
    refused: moka::sync::Cache<BucketKey, Instant>,
    up: AtomicBool,
    handles: StoreHandles,
}

impl Shared {
    fn new(
        name: &str,
        spec: &SharedLimitSpec,
        per_request: Duration,
        burst: u32,
        handles: StoreHandles,
    ) -> Self {
        let budget = Duration::from_millis(routetable::defaults::or_default(
            spec.timeout_ms,
            routetable::defaults::RATE_LIMIT_STORE_TIMEOUT_MS,
        ));
        let store = LimitStore::new(&StoreSettings {
            address_env: &spec.address_env,
            username_env: spec.username_env.as_deref(),
            password_env: spec.password_env.as_deref(),
            tls: spec.tls,
            budget,
        })
        .map_err(|e| e.to_string());
        if let Err(e) = &store {
            tracing::warn!(
                limiter = name,
                policy = policy_name(spec.on_failure),
                error = %e,
                "shared rate limit has no store: its failure policy decides every request"
            );
            handles.up.set(0);
        }
        let replicas = spec.replicas.max(1);
        let fallback_burst = (burst / replicas).max(1);
        let fallback_per_request = per_request.saturating_mul(replicas);
        let quota = Quota::with_period(fallback_per_request)
            .expect("a positive refill period")
            .allow_burst(NonZeroU32::new(fallback_burst).expect("at least 1"));
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        let t_us = micros(per_request);
        let longest_wait = per_request.saturating_mul(burst);
        Self {
            up: AtomicBool::new(store.is_ok()),
            store,
            prefix: format!("{}:rl:{name}:", spec.key_prefix),
            t_us,
            tau_us: t_us.saturating_mul(u64::from(burst - 1)),
            policy: spec.on_failure,
            fallback: Buckets::new(quota, fallback_per_request.saturating_mul(fallback_burst)),
            fallback_burst,
            fallback_per_request,
            refused: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(longest_wait.max(Duration::from_secs(1)))
                .build(),
            handles,
        }
    }

    fn store_key(&self, key: &BucketKey) -> String {
        let mut out = String::with_capacity(self.prefix.len() + 48);
        out.push_str(&self.prefix);
        match key {
            BucketKey::Ip(ip) => {
                let _ = write!(out, "ip:{ip}");
            }
            BucketKey::User(sub) => {
                out.push_str("user:");
                out.push_str(sub);
            }
        }
        out
    }

    fn answered(&self) {
        if !self.up.load(Ordering::Relaxed) && !self.up.swap(true, Ordering::Relaxed) {
            tracing::info!(
                prefix = %self.prefix,
                "rate-limit store answers again: the limit is shared again"
            );
            self.handles.up.set(1);
        }
    }

    fn failed(&self, error: &str) {
        self.handles.fallbacks.inc();
        if self.up.load(Ordering::Relaxed) && self.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                prefix = %self.prefix,
                policy = policy_name(self.policy),
                error,
                "rate-limit store failed: the failure policy decides until it answers"
            );
            self.handles.up.set(0);
        }
    }

    /// Connects and loads the script in the background, when the table
    /// loads inside the runtime (a reload off it connects on the first
    /// check instead).
    fn warm_up(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let shared = self.clone();
        runtime.spawn(async move {
            if let Ok(store) = &shared.store {
                if let Err(e) = store.warm_up().await {
                    tracing::debug!(prefix = %shared.prefix, error = %e, "rate-limit store not warmed up");
                }
            }
        });
    }

    /// The state, for tests: whether the last check was the store's.
    pub fn store_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }
}

fn policy_name(policy: StoreFailure) -> &'static str {
    match policy {
        StoreFailure::Local => "local",
        StoreFailure::Open => "open",
        StoreFailure::Closed => "closed",
    }
}

impl RateLimit {
    pub fn prepare(
        name: Arc<str>,
        config: &RateLimitConfig,
        spec: &MiddlewareSpec,
        state: &MiddlewareState,
    ) -> Result<Self, String> {
        if config.average == 0 || config.period_ms == 0 {
            return Err("average and period must be positive".into());
        }
        let per_request_ns = (u128::from(config.period_ms) * 1_000_000
            / u128::from(config.average))
        .clamp(1, u128::from(u64::MAX));
        let per_request = Duration::from_nanos(per_request_ns as u64);
        let burst = u32::try_from(routetable::defaults::or_default(
            config.burst,
            routetable::defaults::RATE_LIMIT_BURST,
        ))
        .unwrap_or(u32::MAX);
        let quota = Quota::with_period(per_request)
            .ok_or("the refill period is zero")?
            .allow_burst(NonZeroU32::new(burst).expect("burst is at least 1"));
        let refill = per_request.saturating_mul(burst);
        // One entry per middleware: a reload with unchanged settings keeps
        // the buckets and, for a shared limit, its connection, its refused
        // keys and its fallback buckets.
        let kept = state.get_or_init(spec, || LimitState {
            buckets: Arc::new(Buckets::new(quota, refill)),
            shared: config.shared.as_ref().map(|shared| {
                let handles = state
                    .metrics
                    .store_handles(&name, policy_name(shared.on_failure));
                Arc::new(Shared::new(&name, shared, per_request, burst, handles))
            }),
        });
        let (buckets, shared) = (kept.buckets.clone(), kept.shared.clone());
        if let Some(shared) = &shared {
            shared.warm_up();
        }
        Ok(Self {
            core: Arc::new(Core {
                name,
                key: config.key,
                buckets,
                burst,
                per_request,
                shared,
            }),
        })
    }

    /// The buckets, for tests that check they survive reloads or are swept.
    pub fn buckets(&self) -> &Arc<Buckets> {
        &self.core.buckets
    }

    /// The shared state, for tests; `None` for a local limit.
    pub fn shared(&self) -> Option<&Arc<Shared>> {
        self.core.shared.as_ref()
    }
}

impl Core {
    fn key(&self, ctx: &RequestCtx<'_>) -> Option<BucketKey> {
        match self.key {
            RateKey::ClientIp => Some(BucketKey::Ip(match ctx.client_ip {
                IpAddr::V6(v6) => {
                    let bits = u128::from(v6) & !((1u128 << 64) - 1);
                    IpAddr::V6(bits.into())
                }
                v4 => v4,
            })),
            RateKey::User => ctx.user.clone().map(BucketKey::User),
        }
    }

    fn reset_after(&self, limit: u32, per_request: Duration, remaining: u32) -> u64 {
        let missing = limit.saturating_sub(remaining);
        ceil_secs(per_request.saturating_mul(missing))
    }

    fn allow(&self, ctx: &mut RequestCtx<'_>, limit: u32, per_request: Duration, remaining: u32) {
        if ctx.allowance.is_none_or(|s| remaining < s.remaining) {
            ctx.allowance = Some(Allowance {
                limit,
                remaining,
                reset_s: self.reset_after(limit, per_request, remaining),
            });
        }
    }

    fn refuse(
        &self,
        ctx: &mut RequestCtx<'_>,
        limit: u32,
        per_request: Duration,
        wait: Duration,
    ) -> Flow {
        let retry_after = ceil_secs(wait).max(1);
        let status = Allowance {
            limit,
            remaining: 0,
            reset_s: self.reset_after(limit, per_request, 0).max(retry_after),
        };
        ctx.allowance = Some(status);
        let mut response = reject(
            ctx,
            routetable::MiddlewareKind::RateLimit,
            &self.name,
            StatusCode::TOO_MANY_REQUESTS,
            "rate limit exceeded",
        );
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        write_allowance(&status, headers);
        Flow::Respond(response)
    }

    /// One check of `buckets` (this replica's own).
    fn check_local(
        &self,
        ctx: &mut RequestCtx<'_>,
        buckets: &Buckets,
        key: &BucketKey,
        limit: u32,
        per_request: Duration,
    ) -> Flow {
        buckets.sweep_if_due(ctx.started);
        match buckets.limiter.check_key(key) {
            Ok(snapshot) => {
                self.allow(ctx, limit, per_request, snapshot.remaining_burst_capacity());
                Flow::Continue
            }
            Err(not_until) => {
                let now = buckets.limiter.clock().now();
                self.refuse(ctx, limit, per_request, not_until.wait_time_from(now))
            }
        }
    }

    /// The failure policy's decision, the store having failed.
    fn on_failure(&self, ctx: &mut RequestCtx<'_>, shared: &Shared, key: &BucketKey) -> Flow {
        match shared.policy {
            StoreFailure::Local => self.check_local(
                ctx,
                &shared.fallback,
                key,
                shared.fallback_burst,
                shared.fallback_per_request,
            ),
            StoreFailure::Open => Flow::Continue,
            StoreFailure::Closed => Flow::Respond(reject(
                ctx,
                routetable::MiddlewareKind::RateLimit,
                &self.name,
                StatusCode::SERVICE_UNAVAILABLE,
                "rate limit store unavailable",
            )),
        }
    }

    /// The store's answer about `key`, applied to the request.
    fn decided(
        &self,
        ctx: &mut RequestCtx<'_>,
        shared: &Shared,
        key: BucketKey,
        answer: Result<Decision, StoreError>,
    ) -> Flow {
        match answer {
            Ok(Decision::Allowed { remaining }) => {
                shared.answered();
                self.allow(ctx, self.burst, self.per_request, remaining);
                Flow::Continue
            }
            Ok(Decision::Refused { wait }) => {
                shared.answered();
                shared.refused.insert(key, Instant::now() + wait);
                self.refuse(ctx, self.burst, self.per_request, wait)
            }
            Err(e) => {
                shared.failed(&e.to_string());
                self.on_failure(ctx, shared, &key)
            }
        }
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl Middleware for RateLimit {
    fn on_request(&self, ctx: &mut RequestCtx<'_>, _head: &mut Parts) -> Flow {
        let core = &self.core;
        let Some(key) = core.key(ctx) else {
            return Flow::Continue;
        };
        let Some(shared) = &core.shared else {
            return core.check_local(ctx, &core.buckets, &key, core.burst, core.per_request);
        };
        if let Some(until) = shared.refused.get(&key) {
            let now = Instant::now();
            if until > now {
                return core.refuse(ctx, core.burst, core.per_request, until - now);
            }
            shared.refused.invalidate(&key);
        }
        if shared.store.is_err() {
            shared.handles.fallbacks.inc();
            return core.on_failure(ctx, shared, &key);
        }
        let (core, shared) = (self.core.clone(), shared.clone());
        Flow::Pending(Box::pin(async move {
            let answer = match &shared.store {
                Ok(store) => {
                    store
                        .check(shared.store_key(&key), shared.t_us, shared.tau_us)
                        .await
                }
                Err(e) => Err(StoreError::Connect(e.clone())),
            };
            let resume: Resume =
                Box::new(move |ctx: &mut RequestCtx<'_>| core.decided(ctx, &shared, key, answer));
            resume
        }))
    }

    fn on_response(&self, ctx: &RequestCtx<'_>, response: &mut Response<GatewayBody>) {
        if let Some(status) = &ctx.allowance {
            write_allowance(status, response.headers_mut());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Method, Request};
    use routetable::MiddlewareConfig;

    fn limit(
        key: RateKey,
        average: u64,
        period_ms: u64,
        burst: u64,
    ) -> (MiddlewareSpec, RateLimit) {
        let config = RateLimitConfig {
            key,
            average,
            period_ms,
            burst,
            shared: None,
        };
        let spec = MiddlewareSpec {
            name: "rl".into(),
            config: MiddlewareConfig::RateLimit(config.clone()),
        };
        let state = MiddlewareState::default();
        let rl = RateLimit::prepare("rl".into(), &config, &spec, &state).unwrap();
        (spec, rl)
    }

    fn check(rl: &RateLimit, ip: &str, user: Option<&str>) -> Option<Response<GatewayBody>> {
        let id = HeaderValue::from_static("id");
        let mut ctx = RequestCtx::new(
            "r",
            "s",
            Method::GET,
            "/",
            "/".into(),
            ip.parse().unwrap(),
            &id,
        );
        ctx.user = user.map(Into::into);
        let (mut head, ()) = Request::new(()).into_parts();
        match rl.on_request(&mut ctx, &mut head) {
            Flow::Continue => None,
            Flow::Respond(r) => Some(r),
            Flow::Pending(_) => panic!("a local limit never waits"),
        }
    }

    #[test]
    fn the_burst_passes_then_429_with_retry_after() {
        let (_, rl) = limit(RateKey::ClientIp, 1, 60_000, 3);
        for _ in 0..3 {
            assert!(check(&rl, "10.0.0.1", None).is_none());
        }
        let refused = check(&rl, "10.0.0.1", None).expect("over the burst");
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = refused.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert_eq!(refused.headers()[&RATELIMIT_REMAINING], "0");
        // Another client has its own bucket.
        assert!(check(&rl, "10.0.0.2", None).is_none());
    }

    #[test]
    fn ipv6_clients_share_their_slash_64() {
        let (_, rl) = limit(RateKey::ClientIp, 1, 60_000, 1);
        assert!(check(&rl, "2001:db8::1", None).is_none());
        assert!(check(&rl, "2001:db8::2", None).is_some());
        assert!(check(&rl, "2001:db8:0:1::1", None).is_none());
    }

    #[test]
    fn per_user_limits_skip_anonymous_requests() {
        let (_, rl) = limit(RateKey::User, 1, 60_000, 1);
        assert!(check(&rl, "10.0.0.1", None).is_none());
        assert!(check(&rl, "10.0.0.1", None).is_none());
        assert!(check(&rl, "10.0.0.1", Some("alice")).is_none());
        assert!(check(&rl, "10.0.0.2", Some("alice")).is_some());
        assert!(check(&rl, "10.0.0.1", Some("bob")).is_none());
    }

    #[test]
    fn refilled_buckets_are_swept() {
        // 1000/s with a burst of 1: a bucket refills within a millisecond.
        let (_, rl) = limit(RateKey::ClientIp, 1000, 1000, 1);
        for i in 0..50 {
            assert!(check(&rl, &format!("10.0.1.{i}"), None).is_none());
        }
        assert_eq!(rl.buckets().len(), 50);
        std::thread::sleep(Duration::from_millis(5));
        rl.buckets()
            .sweep_if_due(Instant::now() + Duration::from_secs(3600));
        assert_eq!(rl.buckets().len(), 0);
    }
}
