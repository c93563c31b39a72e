//! `strip_prefix`: removes the first matching prefix from the path sent
//! upstream, on a segment boundary, and says which in `X-Forwarded-Prefix`.

use crate::chain::{Flow, Middleware, RequestCtx};
use http::header::{HeaderName, HeaderValue};
use http::request::Parts;

static X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

/// Removes the first matching prefix, on a segment boundary, and records it
/// in `X-Forwarded-Prefix`. The result always starts with `/` and, since the
/// path was normalized before matching, holds no dot segments.
pub struct StripPrefix {
    prefixes: Vec<String>,
}

impl StripPrefix {
    pub fn new(prefixes: &[String]) -> Self {
        Self {
            prefixes: prefixes.to_vec(),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::test_support::run;

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
}
