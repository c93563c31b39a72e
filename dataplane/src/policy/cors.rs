//! CORS (`cors` in the DSL). The origin allow list is exact (compared
//! ignoring ASCII case, as origins serialize in lower case); `*` allows any
//! origin and is refused at load together with credentials. A preflight
//! (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is
//! answered here and never reaches the upstream, so a service cannot widen
//! the policy: 204 with the allow headers for an allowed origin, a JSON 403
//! without any CORS header otherwise. Actual requests from an allowed
//! origin get `Access-Control-Allow-Origin` (the origin itself, never `*`
//! with credentials), `-Allow-Credentials` and `-Expose-Headers` on the way
//! back; every response gets `Vary: Origin` since it depends on it. The
//! browser enforces the rest; this module does not authenticate.
//!
//! WebSocket handshakes are not covered by CORS in browsers: any page may
//! open a socket to any host, with the user's cookies. So a handshake that
//! carries an `Origin` (every browser's does) must name one of the
//! `websocket_origins` (the `origins` unless the DSL lists others), or it is
//! a JSON 403 before any upstream sees it (cross-site WebSocket hijacking).
//! A handshake without `Origin` comes from no browser and passes; the
//! [`RequestCtx::origin_verified`] it leaves unset keeps a cookie from
//! authenticating it.

use super::shared::reject;
use crate::body::GatewayBody;
use crate::chain::{Flow, Middleware, RequestCtx};
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Method, Response, StatusCode};
use routetable::CorsConfig;
use std::sync::Arc;

/// A prepared CORS policy: every header value built at load.
pub struct Cors {
    name: Arc<str>,
    any_origin: bool,
    origins: Vec<String>,
    allow_methods: HeaderValue,
    allow_headers: Option<HeaderValue>,
    expose_headers: Option<HeaderValue>,
    max_age: HeaderValue,
    credentials: bool,
    /// Origins a WebSocket handshake may come from (lower case).
    websocket_origins: Vec<String>,
}

/// The allowed origin of this request, for the response side.
#[derive(Clone)]
struct AllowedOrigin(HeaderValue);

static VARY_ORIGIN: HeaderValue = HeaderValue::from_static("origin");
static VARY_PREFLIGHT: HeaderValue = HeaderValue::from_static(
    "origin, access-control-request-method, access-control-request-headers",
);
static TRUE: HeaderValue = HeaderValue::from_static("true");
static ANY: HeaderValue = HeaderValue::from_static("*");

impl Cors {
    pub fn prepare(name: Arc<str>, config: &CorsConfig) -> Result<Self, String> {
        let any_origin = config.origins.iter().any(|o| o == "*");
        if any_origin && config.credentials {
            return Err(
                "origin \"*\" together with credentials lets any site act as the user".into(),
            );
        }
        let list = |items: &[String]| -> Result<Option<HeaderValue>, String> {
            if items.is_empty() {
                return Ok(None);
            }
            HeaderValue::from_str(&items.join(", "))
                .map(Some)
                .map_err(|e| format!("{items:?}: {e}"))
        };
        let methods = if config.methods.is_empty() {
            vec!["GET".to_owned(), "HEAD".to_owned(), "POST".to_owned()]
        } else {
            config.methods.clone()
        };
        Ok(Self {
            name,
            any_origin,
            origins: config
                .origins
                .iter()
                .filter(|o| *o != "*")
                .cloned()
                .collect(),
            allow_methods: list(&methods)?.unwrap_or_else(|| HeaderValue::from_static("GET")),
            allow_headers: list(&config.headers)?,
            expose_headers: list(&config.expose)?,
            max_age: HeaderValue::from(config.max_age_s),
            credentials: config.credentials,
            websocket_origins: if config.websocket_origins.is_empty() {
                &config.origins
            } else {
                &config.websocket_origins
            }
            .iter()
            .map(|o| o.to_ascii_lowercase())
            .collect(),
        })
    }

    /// Whether a WebSocket handshake from `origin` may open.
    fn allows_socket(&self, origin: &HeaderValue) -> bool {
        self.names_socket_origin(origin) || self.websocket_origins.iter().any(|o| o == "*")
    }

    /// Whether `origin` is on the WebSocket list by name (not by `*`).
    fn names_socket_origin(&self, origin: &HeaderValue) -> bool {
        origin.to_str().is_ok_and(|origin| {
            self.websocket_origins
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin))
        })
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        self.any_origin
            || origin
                .to_str()
                .is_ok_and(|origin| self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin)))
    }

    /// `Access-Control-Allow-Origin` for an allowed `origin`.
    fn allow_origin(&self, origin: &HeaderValue) -> HeaderValue {
        if self.any_origin && !self.credentials {
            ANY.clone()
        } else {
            origin.clone()
        }
    }

    fn preflight(&self, ctx: &mut RequestCtx<'_>, origin: &HeaderValue) -> Response<GatewayBody> {
        let mut response = if self.allows(origin) {
            let mut response = Response::new(GatewayBody::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            let headers = response.headers_mut();
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                self.allow_origin(origin),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                self.allow_methods.clone(),
            );
            if let Some(allow) = &self.allow_headers {
                headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow.clone());
            }
            if self.credentials {
                headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE.clone());
            }
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
            ctx.answered = Some(crate::chain::Answered {
                kind: routetable::MiddlewareKind::Cors,
                step: self.name.clone(),
                reason: "CORS preflight answered",
            });
            response
        } else {
            reject(
                ctx,
                routetable::MiddlewareKind::Cors,
                &self.name,
                StatusCode::FORBIDDEN,
                "CORS origin not allowed",
            )
        };
        response
            .headers_mut()
            .append(header::VARY, VARY_PREFLIGHT.clone());
        response
    }
}

impl Middleware for Cors {
    fn on_request(&self, ctx: &mut RequestCtx<'_>, head: &mut Parts) -> Flow {
        let Some(origin) = head.headers.get(header::ORIGIN) else {
            return Flow::Continue;
        };
        if ctx.websocket {
            if !self.allows_socket(origin) {
                return Flow::Respond(reject(
                    ctx,
                    routetable::MiddlewareKind::Cors,
                    &self.name,
                    StatusCode::FORBIDDEN,
                    "WebSocket origin not allowed",
                ));
            }
            ctx.origin_verified = self.names_socket_origin(origin);
        }
        if head.method == Method::OPTIONS
            && head
                .headers
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return Flow::Respond(self.preflight(ctx, origin));
        }
        if self.allows(origin) {
            ctx.extensions
                .insert(AllowedOrigin(self.allow_origin(origin)));
        }
        Flow::Continue
    }

    fn on_response(&self, ctx: &RequestCtx<'_>, response: &mut Response<GatewayBody>) {
        let headers = response.headers_mut();
        // The upstream does not get to set its own CORS policy.
        for name in [
            &header::ACCESS_CONTROL_ALLOW_ORIGIN,
            &header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            &header::ACCESS_CONTROL_EXPOSE_HEADERS,
        ] {
            headers.remove(name);
        }
        if !self.any_origin || self.credentials {
            headers.append(header::VARY, VARY_ORIGIN.clone());
        }
        let Some(AllowedOrigin(origin)) = ctx.extensions.get::<AllowedOrigin>() else {
            return;
        };
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        if self.credentials {
            headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE.clone());
        }
        if let Some(expose) = &self.expose_headers {
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(origins: &[&str], credentials: bool) -> CorsConfig {
        CorsConfig {
            origins: origins.iter().map(|s| s.to_string()).collect(),
            methods: vec!["GET".into(), "POST".into()],
            headers: vec!["Authorization".into()],
            expose: vec!["X-Request-Id".into()],
            max_age_s: 3600,
            credentials,
            websocket_origins: vec![],
        }
    }

    #[test]
    fn websocket_origins_default_to_the_cors_origins() {
        let cors = Cors::prepare("c".into(), &config(&["https://dating.serge.cc"], true)).unwrap();
        assert!(cors.allows_socket(&HeaderValue::from_static("https://dating.serge.cc")));
        assert!(!cors.allows_socket(&HeaderValue::from_static("https://evil.example")));
        let mut own = config(&["https://dating.serge.cc"], true);
        own.websocket_origins = vec!["https://chat.serge.cc".into()];
        let cors = Cors::prepare("c".into(), &own).unwrap();
        assert!(cors.allows_socket(&HeaderValue::from_static("https://CHAT.serge.cc")));
        assert!(!cors.allows_socket(&HeaderValue::from_static("https://dating.serge.cc")));
    }

    #[test]
    fn wildcard_with_credentials_is_refused() {
        assert!(Cors::prepare("c".into(), &config(&["*"], true)).is_err());
        assert!(Cors::prepare("c".into(), &config(&["*"], false)).is_ok());
    }

    #[test]
    fn origins_match_exactly_ignoring_case() {
        let cors = Cors::prepare("c".into(), &config(&["https://dating.serge.cc"], true)).unwrap();
        assert!(cors.allows(&HeaderValue::from_static("https://dating.serge.cc")));
        assert!(cors.allows(&HeaderValue::from_static("https://DATING.serge.cc")));
        assert!(!cors.allows(&HeaderValue::from_static(
            "https://dating.serge.cc.evil.com"
        )));
        assert!(!cors.allows(&HeaderValue::from_static("http://dating.serge.cc")));
        assert!(!cors.allows(&HeaderValue::from_static("null")));
    }
}
