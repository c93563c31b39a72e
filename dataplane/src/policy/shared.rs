//! What the steps share: segment-boundary prefix matching on normalized
//! paths, and the JSON refusal that records which step answered a request
//! and why. The error body's format is [`crate::errors`]'s.

use crate::body::GatewayBody;
use crate::chain::{Answered, RequestCtx};
use http::{Response, StatusCode};
use routetable::MiddlewareKind;
use std::sync::Arc;

/// Whether the normalized `path` is `prefix` or lies below it, on a
/// segment boundary, with or without the prefix's trailing slash (the
/// route table's rule): `/v1/admin/` covers `/v1/admin` and
/// `/v1/admin/x`, never `/v1/administrator`. An encoded `%2F` is part of
/// its segment, never a boundary.
pub fn under_prefix(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// A JSON error answered by the step `middleware`, recorded in `ctx` for
/// the access and audit logs. `reason` is a fixed phrase: it reaches the
/// client and the logs, so it never quotes a token or a header.
pub(crate) fn reject(
    ctx: &mut RequestCtx<'_>,
    kind: MiddlewareKind,
    middleware: &Arc<str>,
    status: StatusCode,
    reason: &'static str,
) -> Response<GatewayBody> {
    ctx.answered = Some(Answered {
        kind,
        step: middleware.clone(),
        reason,
    });
    crate::errors::json_error(status, reason, ctx.request_id.to_str().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::under_prefix;

    #[test]
    fn prefixes_match_on_segment_boundaries() {
        for prefix in ["/v1/admin/", "/v1/admin"] {
            assert!(under_prefix("/v1/admin", prefix));
            assert!(under_prefix("/v1/admin/", prefix));
            assert!(under_prefix("/v1/admin/users/7", prefix));
            assert!(!under_prefix("/v1/administrator", prefix));
            assert!(!under_prefix("/v1/admin%2Fusers", prefix));
            assert!(!under_prefix("/v1", prefix));
        }
        assert!(under_prefix("/anything", "/"));
    }
}
