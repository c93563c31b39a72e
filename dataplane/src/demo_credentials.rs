//! Demo credentials (`--demo-backends` only): a way to drive the demo
//! platform with curl while every policy stays enforced.
//!
//! For each `jwt` middleware in the table whose HMAC key comes from an
//! environment variable that is not set, this module sets that variable to
//! a fixed, loudly announced demo secret, and mints two tokens with the
//! middleware's own issuer, audience and roles claim: one for a plain user
//! and one that also holds every role the table requires. It never touches
//! a variable that is set, never runs outside demo mode, and owns nothing
//! about verification (that is `policy::jwt`).
//!
//! It must run before the async runtime starts: it sets environment
//! variables, which is only sound while the process has one thread.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use routetable::{KeySource, MiddlewareConfig, Table};

/// The secret demo mode puts in an unset key variable. Public by design:
/// tokens signed with it prove nothing outside a demo.
pub const DEMO_SECRET: &str = "routec-demo-secret-never-use-in-production";

/// How long minted tokens stay valid.
const TOKEN_LIFETIME_S: u64 = 24 * 3600;

/// A token minted for the demo, with what it is for.
#[derive(Debug, Clone)]
pub struct DemoToken {
    /// `user` or `admin`.
    pub who: &'static str,
    pub roles: Vec<String>,
    pub token: String,
}

/// What demo mode did: the variables it set and the tokens it minted.
#[derive(Debug, Default)]
pub struct DemoCredentials {
    pub variables_set: Vec<String>,
    pub tokens: Vec<DemoToken>,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoCredentialsError {
    #[error("reading the route table {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the route table {path} is invalid: {source}")]
    Table {
        path: String,
        source: routetable::TableError,
    },
    #[error("minting a demo token: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// Prepare demo credentials for the table at `table_path`. Call only in
/// demo mode, before any other thread exists.
pub fn prepare(table_path: &Path) -> Result<DemoCredentials, DemoCredentialsError> {
    let path = table_path.display().to_string();
    let bytes = std::fs::read(table_path).map_err(|source| DemoCredentialsError::Read {
        path: path.clone(),
        source,
    })?;
    let spec = Table::from_bytes(&bytes)
        .map_err(|source| DemoCredentialsError::Table { path, source })?
        .to_spec();
    let mut out = DemoCredentials::default();
    for middleware in &spec.middlewares {
        let MiddlewareConfig::Jwt(jwt) = &middleware.config else {
            continue;
        };
        let KeySource::Env(variable) = &jwt.key else {
            continue;
        };
        let Some(algorithm) = jwt.algorithms.iter().find_map(|a| hmac_algorithm(a)) else {
            continue;
        };
        if std::env::var_os(variable).is_some_and(|v| !v.is_empty()) {
            continue;
        }
        // Sound: demo mode calls this from `main` before the runtime (and
        // so any other thread) starts.
        std::env::set_var(variable, DEMO_SECRET);
        out.variables_set.push(variable.clone());
        let required: Vec<String> = jwt
            .require_roles
            .iter()
            .flat_map(|r| r.roles.iter().cloned())
            .collect();
        for (who, roles) in [
            ("user", vec!["user".to_string()]),
            ("admin", [vec!["user".to_string()], required].concat()),
        ] {
            let mut claims = serde_json::Map::new();
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            claims.insert("sub".into(), format!("demo-{who}").into());
            claims.insert("iat".into(), now.into());
            claims.insert("exp".into(), (now + TOKEN_LIFETIME_S).into());
            if let Some(issuer) = &jwt.issuer {
                claims.insert("iss".into(), issuer.clone().into());
            }
            if let Some(audience) = &jwt.audience {
                claims.insert("aud".into(), audience.clone().into());
            }
            claims.insert(jwt.roles_claim.clone(), roles.clone().into());
            let token = jsonwebtoken::encode(
                &jsonwebtoken::Header::new(algorithm),
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(DEMO_SECRET.as_bytes()),
            )?;
            out.tokens.push(DemoToken { who, roles, token });
        }
    }
    Ok(out)
}

fn hmac_algorithm(name: &str) -> Option<jsonwebtoken::Algorithm> {
    match name {
        "HS256" => Some(jsonwebtoken::Algorithm::HS256),
        "HS384" => Some(jsonwebtoken::Algorithm::HS384),
        "HS512" => Some(jsonwebtoken::Algorithm::HS512),
        _ => None,
    }
}
