//! Rate limiting (`rate_limit` in the DSL): one GCRA token bucket per key
//! (governor's keyed limiter), keyed by the client IP ([`super::client_ip`];
//! an IPv6 client by its /64, which one host can fill with addresses) or by
//! the verified user (the JWT `sub`; a request without one, on a public
//! path, is left to the per-IP limit). `average` per `period` refills the
//! bucket, `burst` is its size. Over the limit: a JSON 429 with
//! `Retry-After` and `RateLimit-Limit/-Remaining/-Reset`; passing requests
//! get the `RateLimit-*` of the strictest limit they passed.
//!
//! Buckets live in [`MiddlewareState`], so a reload with unchanged settings
//! keeps them, and are swept on the request path: a bucket that has
//! refilled completely is indistinguishable from a new one and is dropped
//! (governor's `retain_recent`), so memory holds only keys seen within
//! about one refill time plus the sweep interval.
//!
//! Limits are per gateway replica: N replicas behind a round-robin edge let
//! through up to N times the average and burst (README, "Gateway
//! middleware", says how to size them).

use super::shared::reject;
use crate::body::GatewayBody;
use crate::chain::{Allowance, Flow, Middleware, MiddlewareState, RequestCtx};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{HeaderMap, Response, StatusCode};
use routetable::{MiddlewareSpec, RateKey, RateLimitConfig};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub static RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub static RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub static RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// `RateLimit-*` for the strictest limit a request met.
fn write_allowance(allowance: &Allowance, headers: &mut HeaderMap) {
    headers.insert(&RATELIMIT_LIMIT, HeaderValue::from(allowance.limit));
    headers.insert(&RATELIMIT_REMAINING, HeaderValue::from(allowance.remaining));
    headers.insert(&RATELIMIT_RESET, HeaderValue::from(allowance.reset_s));
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

/// A prepared rate limit.
pub struct RateLimit {
    name: Arc<str>,
    key: RateKey,
    buckets: Arc<Buckets>,
    burst: u32,
    /// Time to refill one request.
    per_request: Duration,
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
        let buckets = state.get_or_init(spec, || Buckets::new(quota, refill));
        Ok(Self {
            name,
            key: config.key,
            buckets,
            burst,
            per_request,
        })
    }

    /// The buckets, for tests that check they survive reloads or are swept.
    pub fn buckets(&self) -> &Arc<Buckets> {
        &self.buckets
    }

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

    fn reset_after(&self, remaining: u32) -> u64 {
        let missing = self.burst.saturating_sub(remaining);
        ceil_secs(self.per_request.saturating_mul(missing))
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl Middleware for RateLimit {
    fn on_request(&self, ctx: &mut RequestCtx<'_>, _head: &mut Parts) -> Flow {
        let Some(key) = self.key(ctx) else {
            return Flow::Continue;
        };
        self.buckets.sweep_if_due(ctx.started);
        match self.buckets.limiter.check_key(&key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                if ctx.allowance.is_none_or(|s| remaining < s.remaining) {
                    ctx.allowance = Some(Allowance {
                        limit: self.burst,
                        remaining,
                        reset_s: self.reset_after(remaining),
                    });
                }
                Flow::Continue
            }
            Err(not_until) => {
                let now = self.buckets.limiter.clock().now();
                let retry_after = ceil_secs(not_until.wait_time_from(now)).max(1);
                let status = Allowance {
                    limit: self.burst,
                    remaining: 0,
                    reset_s: self.reset_after(0).max(retry_after),
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
        }
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
        rl.buckets
            .sweep_if_due(Instant::now() + Duration::from_secs(3600));
        assert_eq!(rl.buckets().len(), 0);
    }
}
