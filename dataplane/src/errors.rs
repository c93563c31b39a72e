//! The errors the gateway answers itself, as JSON
//! `{"error": ..., "status": ..., "request_id": ...}`. This module owns the
//! mapping from a failure to its status and body; it does not decide when a
//! failure happens (that is the proxy's job) and does not log.

use crate::body::GatewayBody;
use http::{header, HeaderValue, Response, StatusCode};

/// A request the gateway could not forward, with the status it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("malformed request path")]
    BadPath,
    /// A head that proxies and servers may read differently (RFC 9112 3.2:
    /// no `Host` in HTTP/1.1, or more than one).
    #[error("malformed request")]
    MalformedRequest,
    /// The client's body broke off or was badly framed; no fault of the
    /// upstream, so it must not count against the instance.
    #[error("malformed request body")]
    BadBody,
    #[error("no route")]
    NoRoute,
    #[error("request body too large")]
    BodyTooLarge,
    #[error("upstream failed")]
    UpstreamFailed,
    #[error("no healthy instance")]
    NoHealthyInstance,
    #[error("upstream timeout")]
    UpstreamTimeout,
}

impl ProxyError {
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadPath | Self::MalformedRequest | Self::BadBody => StatusCode::BAD_REQUEST,
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UpstreamFailed => StatusCode::BAD_GATEWAY,
            Self::NoHealthyInstance => StatusCode::SERVICE_UNAVAILABLE,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    pub fn into_response(self, request_id: &str) -> Response<GatewayBody> {
        let mut response = json_error(self.status(), &self.to_string(), request_id);
        if matches!(self, Self::BodyTooLarge) {
            // The rest of the body is never read, so the connection cannot
            // carry another request: say so, or a client may send its next
            // request on a connection the gateway is closing.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// A JSON error response with `status` and the message `error`.
pub fn json_error(status: StatusCode, error: &str, request_id: &str) -> Response<GatewayBody> {
    let body = serde_json::json!({
        "error": error,
        "status": status.as_u16(),
        "request_id": request_id,
    });
    let mut response = Response::new(GatewayBody::full(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
