//! The middleware-chain extension point: each route gets a
//! [`PreparedChain`] built once when a table loads, then run per request in
//! order. A step may edit the request head (and the path sent upstream),
//! answer the request itself (short-circuit), and edit the response on the
//! way back (steps run in reverse order, onion-style, for gateway-made
//! responses too). State that must outlive a reload (rate-limit buckets,
//! cache entries) comes from [`MiddlewareState`], keyed by the middleware's
//! name and settings.
//!
//! This module implements `strip_prefix`, `add_prefix` and `headers`; the
//! policy middlewares (CORS, JWT, rate limits, cache, access log, errors)
//! live in [`crate::policy`] and plug in through [`build`].
//!
//! Besides the onion (`on_request` in order, `on_response` in reverse for
//! the steps that ran), every step gets [`Middleware::on_complete`] for
//! every request that entered the chain, even one an earlier step
//! answered: the access log may sit in the middle of a route's
//! chain but must still record (and audit) what the rate limiter or the
//! JWT check refused.

use crate::body::GatewayBody;
use crate::policy;
use http::header::{HeaderName, HeaderValue};
use http::request::Parts;
use http::{Extensions, Method, Response};
use routetable::{HeadersConfig, MiddlewareConfig, MiddlewareKind, MiddlewareSpec};
use std::any::Any;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What one request carries through the chain.
#[derive(Debug)]
pub struct RequestCtx<'a> {
    /// The route's name (the `endpoint` label).
    pub route: &'a str,
    /// The route's service.
    pub service: &'a str,
    pub method: Method,
    /// The normalized request path without the query, as the route matched
    /// it. Never rewritten: public paths and role prefixes match this.
    pub path: &'a str,
    /// The normalized path (and query) that will be sent upstream; steps
    /// may rewrite it.
    pub upstream_path: String,
    /// The client: the socket peer, or behind a trusted proxy the
    /// right-most untrusted `X-Forwarded-For` entry
    /// ([`policy::client_ip`]).
    pub client_ip: IpAddr,
    pub request_id: &'a HeaderValue,
    /// When the gateway started on the request.
    pub started: Instant,
    /// The verified user (the JWT `sub`), once a jwt step accepted a token.
    pub user: Option<Arc<str>>,
    /// What the upstream did, once the request was forwarded.
    pub upstream: Option<UpstreamOutcome<'a>>,
    /// The step that answered the request itself, and why.
    pub stopped: Option<Stopped>,
    /// What a cache step did with the request; `None` when no cache step
    /// looked at it (a route without one, a method it does not cache).
    /// Metrics and the access log read this, never the `X-Cache` header,
    /// which an upstream may send too.
    pub cache: Option<CacheOutcome>,
    /// The strictest rate limit the request passed, for `RateLimit-*`.
    pub rate_limit: Option<policy::rate_limit::RateLimitStatus>,
    /// What a step leaves for its own response side (the cache's key, the
    /// CORS origin); empty, and allocation-free, unless a step uses it.
    pub extensions: Extensions,
}

impl<'a> RequestCtx<'a> {
    pub fn new(
        route: &'a str,
        service: &'a str,
        method: Method,
        path: &'a str,
        upstream_path: String,
        client_ip: IpAddr,
        request_id: &'a HeaderValue,
    ) -> Self {
        Self {
            route,
            service,
            method,
            path,
            upstream_path,
            client_ip,
            request_id,
            started: Instant::now(),
            user: None,
            upstream: None,
            stopped: None,
            cache: None,
            rate_limit: None,
            extensions: Extensions::new(),
        }
    }
}

/// Where a forwarded request went and how long the upstream took to
/// answer (to its response head, retries included).
#[derive(Debug, Clone, Copy)]
pub struct UpstreamOutcome<'a> {
    /// `scheme://host:port` of the instance that answered; `None` when no
    /// instance did (connect errors, timeouts).
    pub instance: Option<&'a str>,
    pub latency: Duration,
}

/// A step answered the request itself: which one (by its name in the
/// DSL), of which kind, and why, in a few fixed words (never a token or a
/// header value).
#[derive(Debug, Clone)]
pub struct Stopped {
    pub kind: MiddlewareKind,
    pub middleware: Arc<str>,
    pub reason: &'static str,
}

/// What a cache step did with a request it looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Answered from a stored entry.
    Hit,
    /// Forwarded; the answer may be stored.
    Miss,
    /// Forwarded without looking: credentials no step verified.
    Bypass,
}

impl CacheOutcome {
    /// The `X-Cache` value clients see: a bypass is a miss to them.
    pub fn header_value(self) -> &'static str {
        match self {
            Self::Hit => "HIT",
            Self::Miss | Self::Bypass => "MISS",
        }
    }
}

/// What a step decided about a request.
pub enum Flow {
    Continue,
    /// Answer with this response; later steps and the upstream are skipped.
    Respond(Response<GatewayBody>),
}

/// One prepared middleware. Implementations are built at table load and
/// must not block: the hot path calls them for every request.
pub trait Middleware: Send + Sync + 'static {
    fn on_request(&self, _ctx: &mut RequestCtx<'_>, _head: &mut Parts) -> Flow {
        Flow::Continue
    }

    fn on_response(&self, _ctx: &RequestCtx<'_>, _response: &mut Response<GatewayBody>) {}

    /// Runs once per request for every step of the chain, after the
    /// response side, whether or not this step's `on_request` ran (an
    /// earlier step may have answered). For observers that must see every
    /// request: the access log.
    fn on_complete(&self, _ctx: &mut RequestCtx<'_>, _response: &mut Response<GatewayBody>) {}
}

/// A step answered the request: `response`, to be passed back through the
/// response side of the `ran` steps before it.
pub struct ShortCircuit {
    pub response: Response<GatewayBody>,
    pub ran: usize,
}

/// A route's middlewares, in order.
#[derive(Clone, Default)]
pub struct PreparedChain {
    steps: Arc<[Arc<dyn Middleware>]>,
}

impl std::fmt::Debug for PreparedChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PreparedChain({} steps)", self.steps.len())
    }
}

impl PreparedChain {
    pub fn new(steps: Vec<Arc<dyn Middleware>>) -> Self {
        Self {
            steps: steps.into(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Runs the request side; `Err` when a step answered the request.
    pub fn run_request(
        &self,
        ctx: &mut RequestCtx<'_>,
        head: &mut Parts,
    ) -> Result<(), Box<ShortCircuit>> {
        for (i, step) in self.steps.iter().enumerate() {
            if let Flow::Respond(response) = step.on_request(ctx, head) {
                return Err(Box::new(ShortCircuit { response, ran: i }));
            }
        }
        Ok(())
    }

    /// Runs the response side for the first `ran` steps, last first.
    pub fn run_response(
        &self,
        ctx: &RequestCtx<'_>,
        response: &mut Response<GatewayBody>,
        ran: usize,
    ) {
        for step in self.steps[..ran.min(self.steps.len())].iter().rev() {
            step.on_response(ctx, response);
        }
    }

    /// Runs [`Middleware::on_complete`] of every step, in order.
    pub fn run_complete(&self, ctx: &mut RequestCtx<'_>, response: &mut Response<GatewayBody>) {
        for step in self.steps.iter() {
            step.on_complete(ctx, response);
        }
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }
}

/// Per-middleware state that survives reloads while the middleware's name
/// and settings are unchanged (rate-limit buckets, cache entries), and the
/// gateway's metrics, for the counts middlewares keep (429s, auth failures,
/// cache hits; see [`crate::observability::metrics`]).
#[derive(Default)]
pub struct MiddlewareState {
    entries: Mutex<HashMap<String, StateEntry>>,
    pub metrics: Arc<crate::observability::Metrics>,
}

/// The settings a state was made for, and the state.
type StateEntry = (MiddlewareConfig, Arc<dyn Any + Send + Sync>);

impl MiddlewareState {
    /// State whose middlewares count into `metrics`.
    pub fn new(metrics: Arc<crate::observability::Metrics>) -> Self {
        Self {
            entries: Mutex::default(),
            metrics,
        }
    }

    /// The state of `spec`, created by `make` on first use or when the
    /// settings changed.
    pub fn get_or_init<T: Any + Send + Sync>(
        &self,
        spec: &MiddlewareSpec,
        make: impl FnOnce() -> T,
    ) -> Arc<T> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((config, state)) = entries.get(&spec.name) {
            if *config == spec.config {
                if let Ok(state) = state.clone().downcast::<T>() {
                    return state;
                }
            }
        }
        let state = Arc::new(make());
        entries.insert(spec.name.clone(), (spec.config.clone(), state.clone()));
        state
    }

    /// Drops the state of middlewares the current table no longer has.
    pub fn retain(&self, names: &[&str]) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|name, _| names.contains(&name.as_str()));
    }
}

/// Why a middleware could not be prepared.
#[derive(Debug, thiserror::Error)]
#[error("middleware {name}: {message}")]
pub struct BuildError {
    pub name: String,
    pub message: String,
}

/// Prepares one middleware. `Ok(None)`: this build does not implement the
/// kind yet (the caller warns and leaves it out of the chain).
pub fn build(
    spec: &MiddlewareSpec,
    state: &MiddlewareState,
) -> Result<Option<Arc<dyn Middleware>>, BuildError> {
    let fail = |message: String| BuildError {
        name: spec.name.clone(),
        message,
    };
    let name: Arc<str> = spec.name.as_str().into();
    let built: Arc<dyn Middleware> = match &spec.config {
        MiddlewareConfig::Cors(config) => {
            Arc::new(policy::cors::Cors::prepare(name, config).map_err(fail)?)
        }
        MiddlewareConfig::RateLimit(config) => Arc::new(
            policy::rate_limit::RateLimit::prepare(name, config, spec, state).map_err(fail)?,
        ),
        MiddlewareConfig::Jwt(config) => {
            Arc::new(policy::jwt::Jwt::prepare(name, config).map_err(|e| fail(e.to_string()))?)
        }
        MiddlewareConfig::AccessLog { audit } => {
            Arc::new(policy::access_log::AccessLog::new(*audit))
        }
        MiddlewareConfig::Errors { format } => {
            Arc::new(policy::errors::JsonErrors::prepare(format).map_err(fail)?)
        }
        MiddlewareConfig::Cache(config) => {
            Arc::new(policy::cache::Cache::prepare(name, config, spec, state).map_err(fail)?)
        }
        MiddlewareConfig::StripPrefix { prefixes } => Arc::new(StripPrefix {
            prefixes: prefixes.clone(),
        }),
        MiddlewareConfig::AddPrefix { prefix } => Arc::new(AddPrefix {
            prefix: prefix.trim_end_matches('/').to_owned(),
        }),
        MiddlewareConfig::Headers(config) => Arc::new(Headers::prepare(config).map_err(fail)?),
    };
    Ok(Some(built))
}

/// Kinds [`build`] implements: all of them.
pub fn implemented(kind: MiddlewareKind) -> bool {
    MiddlewareKind::ALL.contains(&kind)
}

static X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

/// Removes the first matching prefix, on a segment boundary, and records it
/// in `X-Forwarded-Prefix`. The result always starts with `/` and, since the
/// path was normalized before matching, holds no dot segments.
struct StripPrefix {
    prefixes: Vec<String>,
}

impl Middleware for StripPrefix {
    fn on_request(&self, ctx: &mut RequestCtx<'_>, head: &mut Parts) -> Flow {
        for prefix in &self.prefixes {
            let prefix = prefix.trim_end_matches('/');
            let Some(rest) = ctx.upstream_path.strip_prefix(prefix) else {
                continue;
            };
            if !(rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')) {
                continue;
            }
            let rest = if rest.starts_with('/') {
                rest.to_owned()
            } else {
                format!("/{rest}")
            };
            if let Ok(value) = HeaderValue::from_str(prefix) {
                head.headers.insert(&X_FORWARDED_PREFIX, value);
            }
            ctx.upstream_path = rest;
            break;
        }
        Flow::Continue
    }
}

struct AddPrefix {
    prefix: String,
}

impl Middleware for AddPrefix {
    fn on_request(&self, ctx: &mut RequestCtx<'_>, _head: &mut Parts) -> Flow {
        ctx.upstream_path.insert_str(0, &self.prefix);
        Flow::Continue
    }
}

/// Header edits, parsed once: set/remove on the request, set/remove on
/// the response, plus the security headers the DSL names.
struct Headers {
    set_request: Vec<(HeaderName, HeaderValue)>,
    remove_request: Vec<HeaderName>,
    set_response: Vec<(HeaderName, HeaderValue)>,
    remove_response: Vec<HeaderName>,
}

impl Headers {
    fn prepare(config: &HeadersConfig) -> Result<Self, String> {
        let name = |n: &str| {
            HeaderName::from_bytes(n.as_bytes()).map_err(|e| format!("header {n:?}: {e}"))
        };
        let pair = |(n, v): (&str, &str)| -> Result<(HeaderName, HeaderValue), String> {
            Ok((
                name(n)?,
                HeaderValue::from_str(v).map_err(|e| format!("header {n:?} value: {e}"))?,
            ))
        };
        let mut set_response: Vec<(HeaderName, HeaderValue)> = Vec::new();
        if let Some(max_age) = config.hsts_max_age_s {
            let mut value = format!("max-age={max_age}");
            if config.hsts_include_subdomains {
                value.push_str("; includeSubDomains");
            }
            if config.hsts_preload {
                value.push_str("; preload");
            }
            set_response.push(pair(("strict-transport-security", &value))?);
        }
        if config.content_type_nosniff {
            set_response.push(pair(("x-content-type-options", "nosniff"))?);
        }
        let named = [
            ("x-frame-options", &config.frame_options),
            ("referrer-policy", &config.referrer_policy),
            ("content-security-policy", &config.content_security_policy),
        ];
        for (header, value) in named {
            if let Some(value) = value {
                set_response.push(pair((header, value))?);
            }
        }
        for (n, v) in &config.set_response_headers {
            set_response.push(pair((n, v))?);
        }
        Ok(Self {
            set_request: config
                .set_request_headers
                .iter()
                .map(|(n, v)| pair((n, v)))
                .collect::<Result<_, _>>()?,
            remove_request: config
                .remove_request_headers
                .iter()
                .map(|n| name(n))
                .collect::<Result<_, _>>()?,
            set_response,
            remove_response: config
                .remove_response_headers
                .iter()
                .map(|n| name(n))
                .collect::<Result<_, _>>()?,
        })
    }
}

impl Middleware for Headers {
    fn on_request(&self, _ctx: &mut RequestCtx<'_>, head: &mut Parts) -> Flow {
        for name in &self.remove_request {
            head.headers.remove(name);
        }
        for (name, value) in &self.set_request {
            head.headers.insert(name, value.clone());
        }
        Flow::Continue
    }

    fn on_response(&self, _ctx: &RequestCtx<'_>, response: &mut Response<GatewayBody>) {
        let headers = response.headers_mut();
        for name in &self.remove_response {
            headers.remove(name);
        }
        for (name, value) in &self.set_response {
            headers.insert(name, value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    fn test_ctx<'a>(path: &'a str, id: &'a HeaderValue) -> RequestCtx<'a> {
        RequestCtx::new(
            "r",
            "s",
            Method::GET,
            path,
            path.to_owned(),
            "127.0.0.1".parse().unwrap(),
            id,
        )
    }

    fn run(mw: &dyn Middleware, path: &str) -> (String, Parts) {
        let (mut head, ()) = Request::new(()).into_parts();
        let id = HeaderValue::from_static("id");
        let mut ctx = test_ctx(path, &id);
        assert!(matches!(mw.on_request(&mut ctx, &mut head), Flow::Continue));
        (ctx.upstream_path, head)
    }

    #[test]
    fn strip_prefix_respects_segment_boundaries() {
        let strip = StripPrefix {
            prefixes: vec!["/api".into()],
        };
        assert_eq!(run(&strip, "/api/v1/x?q=1").0, "/v1/x?q=1");
        assert_eq!(run(&strip, "/api").0, "/");
        assert_eq!(run(&strip, "/api?q").0, "/?q");
        let (path, head) = run(&strip, "/apix/v1");
        assert_eq!(path, "/apix/v1");
        assert!(!head.headers.contains_key(&X_FORWARDED_PREFIX));
        assert_eq!(
            run(&strip, "/api/v1").1.headers[&X_FORWARDED_PREFIX],
            "/api"
        );
    }

    #[test]
    fn add_prefix_prepends() {
        let add = AddPrefix {
            prefix: "/internal".into(),
        };
        assert_eq!(run(&add, "/v1/x").0, "/internal/v1/x");
    }

    #[test]
    fn headers_edit_both_ways() {
        let config = HeadersConfig {
            hsts_max_age_s: Some(60),
            hsts_include_subdomains: true,
            content_type_nosniff: true,
            remove_response_headers: vec!["Server".into()],
            set_request_headers: vec![("X-From".into(), "gw".into())],
            ..Default::default()
        };
        let headers = Headers::prepare(&config).unwrap();
        assert_eq!(run(&headers, "/").1.headers["x-from"], "gw");
        let mut response = Response::new(GatewayBody::empty());
        response
            .headers_mut()
            .insert("server", HeaderValue::from_static("x"));
        let id = HeaderValue::from_static("id");
        let ctx = test_ctx("/", &id);
        headers.on_response(&ctx, &mut response);
        assert!(!response.headers().contains_key("server"));
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=60; includeSubDomains"
        );
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
}
