//! Who may call the admin API (`/api/...`): anyone on a loopback admin
//! listener without a token; with a token (`DATAPLANE_ADMIN_TOKEN`), only
//! requests carrying `Authorization: Bearer TOKEN`. A gateway whose admin
//! listener is reachable from elsewhere refuses to start without a token.
//! Probes (`/ready`, `/live`), `/health` and `/metrics` are not guarded:
//! container healthchecks and Prometheus call them without credentials, and
//! they reveal no configuration.

use http::{header, HeaderMap};
use std::net::SocketAddr;

/// The environment variable holding the admin API's bearer token.
pub const ADMIN_TOKEN_ENV: &str = "DATAPLANE_ADMIN_TOKEN";

/// Why the admin listener may not start.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("the admin listener {0} is not loopback: set {ADMIN_TOKEN_ENV} to a bearer token for the admin API")]
    TokenRequired(SocketAddr),
    #[error("{ADMIN_TOKEN_ENV} is set but empty")]
    EmptyToken,
}

/// The admin API's access rule.
#[derive(Clone)]
pub struct AdminAccess {
    token: Option<String>,
}

impl std::fmt::Debug for AdminAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("AdminAccess")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl AdminAccess {
    /// The rule for an admin listener on `addr` with `token`.
    pub fn for_listener(addr: SocketAddr, token: Option<String>) -> Result<Self, AccessError> {
        match token {
            Some(token) if token.is_empty() => Err(AccessError::EmptyToken),
            Some(token) => Ok(Self { token: Some(token) }),
            None if addr.ip().is_loopback() => Ok(Self { token: None }),
            None => Err(AccessError::TokenRequired(addr)),
        }
    }

    /// Whether a request with `headers` may call the admin API.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
            .is_some_and(|given| constant_time_eq(given, token.as_bytes()))
    }
}

/// Compares without returning early, so response time tells nothing about
/// how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn a_public_admin_listener_needs_a_token_and_the_token_is_checked() {
        let public: SocketAddr = "0.0.0.0:9090".parse().unwrap();
        let loopback: SocketAddr = "127.0.0.1:9090".parse().unwrap();
        assert!(matches!(
            AdminAccess::for_listener(public, None),
            Err(AccessError::TokenRequired(_))
        ));
        assert!(AdminAccess::for_listener(loopback, None)
            .unwrap()
            .allows(&HeaderMap::new()));
        let guarded = AdminAccess::for_listener(public, Some("s3cret".into())).unwrap();
        let mut headers = HeaderMap::new();
        assert!(!guarded.allows(&headers));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cre"),
        );
        assert!(!guarded.allows(&headers));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret"),
        );
        assert!(guarded.allows(&headers));
        assert!(!format!("{guarded:?}").contains("s3cret"));
    }
}
