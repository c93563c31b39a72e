//! What can go wrong in one HTTP/1.1 exchange with an upstream, after
//! connecting, and whether the connection (not the instance) is to blame.

use crate::upstream::request_body::BodyError;
use std::io;

/// What went wrong between the gateway and an upstream, after connecting.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("writing the request: {source}")]
    Write { source: io::Error, reused: bool },
    /// The client's body broke off or was too large; the upstream is not
    /// to blame.
    #[error(transparent)]
    Body(BodyError),
    #[error("reading the response head: {source}")]
    Read {
        source: io::Error,
        reused: bool,
        /// Whether any byte of a response had arrived.
        answered: bool,
    },
    #[error("the upstream closed the connection before answering")]
    Closed { reused: bool },
    #[error("malformed response from the upstream: {0}")]
    Malformed(&'static str),
}

impl ExchangeError {
    /// Whether this is a pooled connection that the upstream had closed
    /// while it sat idle: nothing was answered, so (for a request that may
    /// be repeated) a fresh connection to the same instance is owed before
    /// the instance is blamed. A failed write means the request was never
    /// read, so any method qualifies; a close after a complete write only
    /// an idempotent one.
    pub fn is_stale_connection(&self, idempotent: bool) -> bool {
        match self {
            Self::Write { reused, .. } => *reused,
            Self::Closed { reused } => *reused && idempotent,
            Self::Read {
                reused, answered, ..
            } => *reused && !answered && idempotent,
            Self::Body(_) | Self::Malformed(_) => false,
        }
    }
}
