//! Error handling. [`JsonErrors`] (`errors { format json }` in the DSL)
//! gives an upstream's error responses (4xx/5xx without a JSON body) the
//! gateway's own JSON error shape, so clients parse one shape whatever
//! failed: the gateway's own errors (connect failures, timeouts, no route)
//! and the policy steps' rejections are JSON already. Other headers the
//! upstream set (`Retry-After`, `WWW-Authenticate`) are kept.
//!
//! [`catch_panic`] is the last line: a panic while handling a request is
//! caught, logged, and answered with a JSON 500; the connection and the
//! process live on. The shape itself is [`crate::errors`]'s.

use crate::body::GatewayBody;
use crate::chain::{Middleware, RequestCtx};
use crate::errors::json_error;
use futures_util::FutureExt;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use std::future::Future;
use std::panic::AssertUnwindSafe;

/// A prepared `errors` step.
pub struct JsonErrors;

impl JsonErrors {
    pub fn prepare(format: &str) -> Result<Self, String> {
        match format {
            "json" => Ok(Self),
            other => Err(format!(
                "error format {other:?} is not supported (only json)"
            )),
        }
    }
}

fn is_json(content_type: Option<&HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/json")
                || mime
                    .rsplit_once('+')
                    .is_some_and(|(_, suffix)| suffix.eq_ignore_ascii_case("json"))
        })
        .unwrap_or(false)
}

impl Middleware for JsonErrors {
    fn on_response(&self, ctx: &RequestCtx<'_>, response: &mut Response<GatewayBody>) {
        let status = response.status();
        if !(status.is_client_error() || status.is_server_error())
            || is_json(response.headers().get(header::CONTENT_TYPE))
        {
            return;
        }
        let replacement = json_error(
            status,
            status.canonical_reason().unwrap_or("error"),
            ctx.request_id.to_str().unwrap_or_default(),
        );
        let (parts, body) = replacement.into_parts();
        let headers = response.headers_mut();
        // The old body's framing and encoding no longer apply.
        for name in [
            header::CONTENT_LENGTH,
            header::CONTENT_ENCODING,
            header::CONTENT_RANGE,
            header::ETAG,
            header::LAST_MODIFIED,
        ] {
            headers.remove(name);
        }
        headers.extend(parts.headers);
        *response.body_mut() = body;
    }
}

/// Runs `future`; a panic in it becomes a logged JSON 500 for
/// `request_id`.
pub async fn catch_panic<F>(future: F, request_id: &HeaderValue) -> Response<GatewayBody>
where
    F: Future<Output = Response<GatewayBody>>,
{
    match AssertUnwindSafe(future).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("(not a string)");
            let request_id = request_id.to_str().unwrap_or_default();
            tracing::error!(
                request_id,
                panic = message,
                "request handler panicked; answered 500"
            );
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
                request_id,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types_are_recognized() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert!(is_json(Some(&v("application/json"))));
        assert!(is_json(Some(&v("application/json; charset=utf-8"))));
        assert!(is_json(Some(&v("application/problem+json"))));
        assert!(!is_json(Some(&v("text/html"))));
        assert!(!is_json(None));
    }

    #[test]
    fn only_json_is_a_format() {
        assert!(JsonErrors::prepare("json").is_ok());
        assert!(JsonErrors::prepare("html").is_err());
    }
}
