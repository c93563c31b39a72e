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
//! belong to issue 10 and plug in through [`build`]. Until then they pass
//! requests through, and the table load says so in a warning.

use crate::body::GatewayBody;
use http::header::{HeaderName, HeaderValue};
use http::request::Parts;
use http::Response;
use routetable::{HeadersConfig, MiddlewareConfig, MiddlewareKind, MiddlewareSpec};
use std::any::Any;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// What one request carries through the chain.
#[derive(Debug)]
pub struct RequestCtx<'a> {
    /// The route's name (the `endpoint` label).
    pub route: &'a str,
    /// The normalized path (and query) that will be sent upstream; steps
    /// may rewrite it.
    pub upstream_path: String,
    pub client_ip: IpAddr,
    pub request_id: &'a HeaderValue,
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
    _state: &MiddlewareState,
) -> Result<Option<Arc<dyn Middleware>>, BuildError> {
    let built: Arc<dyn Middleware> = match &spec.config {
        MiddlewareConfig::StripPrefix { prefixes } => Arc::new(StripPrefix {
            prefixes: prefixes.clone(),
        }),
        MiddlewareConfig::AddPrefix { prefix } => Arc::new(AddPrefix {
            prefix: prefix.trim_end_matches('/').to_owned(),
        }),
        MiddlewareConfig::Headers(config) => {
            Arc::new(Headers::prepare(config).map_err(|message| BuildError {
                name: spec.name.clone(),
                message,
            })?)
        }
        _ => return Ok(None),
    };
    Ok(Some(built))
}

/// Kinds [`build`] implements.
pub fn implemented(kind: MiddlewareKind) -> bool {
    matches!(
        kind,
        MiddlewareKind::StripPrefix | MiddlewareKind::AddPrefix | MiddlewareKind::Headers
    )
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

    fn run(mw: &dyn Middleware, path: &str) -> (String, Parts) {
        let (mut head, ()) = Request::new(()).into_parts();
        let id = HeaderValue::from_static("id");
        let mut ctx = RequestCtx {
            route: "r",
            upstream_path: path.to_owned(),
            client_ip: "127.0.0.1".parse().unwrap(),
            request_id: &id,
        };
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
        let ctx = RequestCtx {
            route: "r",
            upstream_path: "/".into(),
            client_ip: "127.0.0.1".parse().unwrap(),
            request_id: &id,
        };
        headers.on_response(&ctx, &mut response);
        assert!(!response.headers().contains_key("server"));
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=60; includeSubDomains"
        );
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
}
