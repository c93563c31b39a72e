//! `headers`: request and response header edits and the security headers
//! the DSL names (HSTS, nosniff, frame options, referrer policy, CSP),
//! parsed once at table load.

use crate::body::GatewayBody;
use crate::chain::{Flow, Middleware, RequestCtx};
use http::header::{HeaderName, HeaderValue};
use http::request::Parts;
use http::Response;
use routetable::HeadersConfig;

/// Header edits, parsed once: set/remove on the request, set/remove on
/// the response, plus the security headers the DSL names.
pub struct Headers {
    set_request: Vec<(HeaderName, HeaderValue)>,
    remove_request: Vec<HeaderName>,
    set_response: Vec<(HeaderName, HeaderValue)>,
    remove_response: Vec<HeaderName>,
}

impl Headers {
    pub fn prepare(config: &HeadersConfig) -> Result<Self, String> {
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
    use crate::policy::test_support::{run, test_ctx};

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
