//! The steps of a route's chain, one module each: [`strip_prefix`],
//! [`add_prefix`], [`headers`], [`cors`], [`rate_limit`], [`jwt`],
//! [`access_log`], [`errors`] (JSON error bodies and the panic guard) and
//! [`cache`], plus [`client_ip`] (who the client is behind trusted
//! proxies). Each implements [`crate::chain::Middleware`] and is prepared
//! once per table load from its `routetable` settings by [`build`], then
//! only read per request. [`shared`] holds what the steps share.
//!
//! This folder does not own the chain, its context or its outcomes
//! ([`crate::chain`]), nor the error body format ([`crate::errors`]).

pub mod access_log;
pub mod add_prefix;
mod build;
pub mod cache;
pub mod client_ip;
pub mod cors;
pub mod errors;
pub mod headers;
pub mod jwt;
pub mod rate_limit;
pub mod shared;
pub mod strip_prefix;
#[cfg(test)]
mod test_support;

pub use build::{build, implemented};
