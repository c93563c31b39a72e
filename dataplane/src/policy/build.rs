//! The factory: one prepared step per middleware of the table, built from
//! its `routetable` settings once per table load (keys read, header values
//! parsed, sets lowered), never per request. State that outlives a reload
//! comes from [`MiddlewareState`].

use super::{access_log, add_prefix, cache, cors, errors, headers, jwt, rate_limit, strip_prefix};
use crate::chain::{BuildError, Middleware, MiddlewareState};
use routetable::{MiddlewareConfig, MiddlewareKind, MiddlewareSpec};
use std::sync::Arc;

/// Prepares one middleware. `Ok(None)`: this build does not implement the
/// kind yet (the caller warns and leaves it out of the chain).
pub fn build(
    spec: &MiddlewareSpec,
    state: &MiddlewareState,
) -> Result<Option<Arc<dyn Middleware>>, BuildError> {
    let fail = |message: String| BuildError {
        name: spec.name.clone(),
        message,
    };
    let name: Arc<str> = spec.name.as_str().into();
    let built: Arc<dyn Middleware> = match &spec.config {
        MiddlewareConfig::Cors(config) => {
            Arc::new(cors::Cors::prepare(name, config).map_err(fail)?)
        }
        MiddlewareConfig::RateLimit(config) => {
            Arc::new(rate_limit::RateLimit::prepare(name, config, spec, state).map_err(fail)?)
        }
        MiddlewareConfig::Jwt(config) => {
            Arc::new(jwt::Jwt::prepare(name, config).map_err(|e| fail(e.to_string()))?)
        }
        MiddlewareConfig::AccessLog { audit } => Arc::new(access_log::AccessLog::new(*audit)),
        MiddlewareConfig::Errors { format } => {
            Arc::new(errors::JsonErrors::prepare(format).map_err(fail)?)
        }
        MiddlewareConfig::Cache(config) => {
            Arc::new(cache::Cache::prepare(name, config, spec, state).map_err(fail)?)
        }
        MiddlewareConfig::StripPrefix { prefixes } => {
            Arc::new(strip_prefix::StripPrefix::new(prefixes))
        }
        MiddlewareConfig::AddPrefix { prefix } => Arc::new(add_prefix::AddPrefix::new(prefix)),
        MiddlewareConfig::Headers(config) => {
            Arc::new(headers::Headers::prepare(config).map_err(fail)?)
        }
    };
    Ok(Some(built))
}

/// Kinds [`build`] implements: all of them.
pub fn implemented(kind: MiddlewareKind) -> bool {
    MiddlewareKind::ALL.contains(&kind)
}
