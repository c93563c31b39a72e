//! The middleware-chain extension point: each route gets a
//! [`PreparedChain`] built once when a table loads, then run per request in
//! order. A step may edit the request head (and the path sent upstream),
//! answer the request itself (short-circuit), and edit the response on the
//! way back (steps run in reverse order, onion-style, for gateway-made
//! responses too). State that must outlive a reload (rate-limit buckets,
//! cache entries) comes from [`MiddlewareState`], keyed by the middleware's
//! name and settings.
//!
//! This module names no policy: the steps themselves (header edits, prefixes,
//! CORS, JWT, rate limits, cache, access log, errors) live in `policy/`,
//! which builds them from the table and implements [`Middleware`]. What a
//! step did travels as a type in [`RequestCtx`] ([`Answered`],
//! [`CacheOutcome`], the verified user, the [`Allowance`] left, whether a
//! WebSocket handshake's origin was matched), and the proxy,
//! the metrics and the access log read those, never a response header.
//!
//! Besides the onion (`on_request` in order, `on_response` in reverse for
//! the steps that ran), every step gets [`Middleware::on_complete`] for
//! every request that entered the chain, even one an earlier step
//! answered: the access log may sit in the middle of a route's
//! chain but must still record (and audit) what the rate limiter or the
//! JWT check refused.

use crate::body::GatewayBody;
use http::header::HeaderValue;
use http::request::Parts;
use http::{Extensions, Method, Response};
use routetable::{MiddlewareConfig, MiddlewareKind, MiddlewareSpec};
use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
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
    /// (`policy::client_ip`).
    pub client_ip: IpAddr,
    pub request_id: &'a HeaderValue,
    /// When the gateway started on the request.
    pub started: Instant,
    /// The request is a WebSocket handshake on a WebSocket route (the
    /// proxy's decision): the origin check and the subprotocol token apply.
    pub websocket: bool,
    /// A WebSocket handshake's `Origin` was checked against an allow list
    /// and is on it (the cors step); a cookie may carry a token only then.
    pub origin_verified: bool,
    /// The verified user (the JWT `sub`), once a jwt step accepted a token.
    pub user: Option<Arc<str>>,
    /// What the upstream did, once the request was forwarded.
    pub upstream: Option<UpstreamOutcome<'a>>,
    /// The step that answered the request itself (a refusal, a preflight,
    /// a cache hit), and why.
    pub answered: Option<Answered>,
    /// What a cache step did with the request; `None` when no cache step
    /// looked at it (a route without one, a method it does not cache).
    /// Metrics and the access log read this, never the `X-Cache` header,
    /// which an upstream may send too.
    pub cache: Option<CacheOutcome>,
    /// The strictest rate limit the request passed, for `RateLimit-*`.
    pub allowance: Option<Allowance>,
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
            websocket: false,
            origin_verified: false,
            user: None,
            upstream: None,
            answered: None,
            cache: None,
            allowance: None,
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
pub struct Answered {
    pub kind: MiddlewareKind,
    pub step: Arc<str>,
    pub reason: &'static str,
}

/// The state of the strictest rate limit a request met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_s: u64,
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
    /// The step must wait for something outside the process (a shared
    /// rate limit's store) before it decides: the chain awaits the future,
    /// then hands the context to what it returns for the decision. The
    /// future owns what it needs; it never borrows the context.
    Pending(Pending),
}

/// A step's wait: when it ends, the step's decision on the context.
pub type Pending = Pin<Box<dyn Future<Output = Resume> + Send>>;

/// A step's decision, made once its [`Pending`] wait ended.
pub type Resume = Box<dyn FnOnce(&mut RequestCtx<'_>) -> Flow + Send>;

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

    /// Runs the request side; `Err` when a step answered the request. A
    /// step that returns [`Flow::Pending`] is awaited before the next runs.
    pub async fn run_request(
        &self,
        ctx: &mut RequestCtx<'_>,
        head: &mut Parts,
    ) -> Result<(), Box<ShortCircuit>> {
        for (i, step) in self.steps.iter().enumerate() {
            let mut flow = step.on_request(ctx, head);
            while let Flow::Pending(wait) = flow {
                flow = wait.await(ctx);
            }
            if let Flow::Respond(response) = flow {
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
/// cache hits; see [`crate::metrics`]).
#[derive(Default)]
pub struct MiddlewareState {
    entries: Mutex<HashMap<String, StateEntry>>,
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// The settings a state was made for, and the state.
type StateEntry = (MiddlewareConfig, Arc<dyn Any + Send + Sync>);

impl MiddlewareState {
    /// State whose middlewares count into `metrics`.
    pub fn new(metrics: Arc<crate::metrics::Metrics>) -> Self {
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
