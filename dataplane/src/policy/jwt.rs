//! JWT authentication (`jwt` in the DSL), with jsonwebtoken.
//! `Authorization: Bearer` carries a token, never a query string (URLs end
//! up in logs and histories). A browser cannot set `Authorization` on
//! `new WebSocket(url, protocols)`, so on a WebSocket handshake a step may
//! also take the token from where a page can put it:
//!
//! - `token_from subprotocol "PREFIX"`: a `Sec-WebSocket-Protocol` entry
//!   `PREFIX<base64url token>` (the Kubernetes API server's form), offered
//!   beside the page's real subprotocol. Every entry with the prefix is
//!   removed before the handshake goes upstream, so the service (and its
//!   101) only ever names the real one, as the browser requires.
//! - `token_from cookie NAME`: a cookie, only on a handshake whose `Origin`
//!   a cors step checked by name ([`RequestCtx::origin_verified`]). A
//!   cookie rides along on requests any site starts; the origin check is
//!   what keeps another site's page from opening the user's socket
//!   (cross-site WebSocket hijacking), and no other request takes a cookie,
//!   so no form or fetch from elsewhere is ever authenticated by one (CSRF).
//!
//! Whatever carries it, a token is verified the same way. The token's `alg` must be in the DSL's allow list and match the
//! family of the key it is checked with, so `alg: none` and algorithm
//! confusion (an HS token "signed" with the RSA public key) fail before any
//! signature is computed. `exp` and `sub` are required, `nbf` is checked,
//! `iss` and `aud` are required when the DSL names them, all with the DSL's
//! leeway. Every failure is a JSON 401 with `WWW-Authenticate: Bearer`;
//! a token without a role a path prefix requires is a 403.
//!
//! Keys come from an environment variable or a file the table names
//! (PEM, a JWKS when the name ends in `.json`, or for HMAC the secret's
//! bytes) and are read and parsed once per table load: a missing or bad key
//! fails the load, so the previous table keeps serving. The table holds
//! only the key's name, never the key.
//!
//! The verified `sub` and roles go upstream as `X-User-Id` and
//! `X-User-Roles`; the same headers from the client are always removed
//! first ([`strip_identity_headers`], which the proxy also applies on
//! routes without a jwt step). Public path prefixes (segment boundaries, on
//! the normalized path) need no token and forward no identity.
//!
//! A client sends the same token for many requests, so what a token
//! verified to (user, roles, `exp`, `nbf`) is kept in a bounded cache keyed
//! by the token's exact bytes; a hit re-checks `exp` and `nbf` against the
//! clock and skips only the parsing and the signature, which give the same
//! answer for the same bytes and key. The cache belongs to one table load,
//! so a reload (a rotated key) starts it empty.

use super::shared::{reject, under_prefix};
use crate::chain::{Flow, Middleware, RequestCtx};
use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{HeaderMap, StatusCode};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use routetable::{JwtConfig, KeySource};
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub static X_USER_ID: HeaderName = HeaderName::from_static("x-user-id");
pub static X_USER_ROLES: HeaderName = HeaderName::from_static("x-user-roles");

/// HMAC secrets shorter than this are refused: RFC 7518 3.2 asks for a
/// key at least as long as the hash, and short secrets are brute-forced
/// offline from any one token.
pub const MIN_HMAC_SECRET_BYTES: usize = 32;

/// Removes identity headers a client may have forged, in every spelling
/// that folds to one of them: ASCII case aside (names arrive lower-cased),
/// `_` and `.` read as `-`, since WSGI, CGI and PHP map `X_User_Id`,
/// `X.User.Id` and `X-User-Id` alike to `HTTP_X_USER_ID`.
pub fn strip_identity_headers(headers: &mut HeaderMap) {
    headers.remove(&X_USER_ID);
    headers.remove(&X_USER_ROLES);
    // One pass over the names present; a request rarely carries an alias.
    if !headers.keys().any(aliases_identity) {
        return;
    }
    let aliases: Vec<HeaderName> = headers
        .keys()
        .filter(|n| aliases_identity(n))
        .cloned()
        .collect();
    for name in aliases {
        headers.remove(name);
    }
}

/// Whether `name` folds to a protected identity header.
pub fn aliases_identity(name: &HeaderName) -> bool {
    [&X_USER_ID, &X_USER_ROLES]
        .iter()
        .any(|protected| folds_to(name.as_str(), protected.as_str()))
}

/// `name` equals `protected` (lower case, `-` separated) once `_` and `.`
/// are read as `-`; `name` is lower case, as hyper delivers names.
fn folds_to(name: &str, protected: &str) -> bool {
    name.len() == protected.len()
        && name.bytes().zip(protected.bytes()).all(|(n, p)| {
            let n = match n {
                b'_' | b'.' => b'-',
                other => other.to_ascii_lowercase(),
            };
            n == p
        })
}

/// Why a jwt middleware could not be prepared (the table load fails).
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("unknown algorithm {0:?}")]
    UnknownAlgorithm(String),
    #[error("no algorithms allowed")]
    NoAlgorithms,
    #[error("environment variable {0} holding the key is not set or empty")]
    MissingEnv(String),
    #[error("reading key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key from {source_name}: {message}")]
    BadKey {
        source_name: String,
        message: String,
    },
    #[error(
        "algorithms {0:?} need keys of different kinds; one key file or variable holds one kind (mixing HMAC with public keys invites algorithm confusion)"
    )]
    MixedFamilies(Vec<String>),
    #[error("no key in {0} suits the allowed algorithms")]
    NoUsableKey(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Hmac,
    Rsa,
    Ec,
    Ed,
}

fn family(alg: Algorithm) -> Family {
    match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Family::Hmac,
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => Family::Rsa,
        Algorithm::ES256 | Algorithm::ES384 => Family::Ec,
        Algorithm::EdDSA => Family::Ed,
    }
}

/// One verification key with a prepared validation per algorithm it may
/// verify.
struct VerifyKey {
    kid: Option<String>,
    key: DecodingKey,
    validations: Vec<(Algorithm, Validation)>,
}

/// What a token verified to, ready to forward.
struct Verified {
    user: Arc<str>,
    user_header: HeaderValue,
    roles: Vec<String>,
    roles_header: Option<HeaderValue>,
    exp: u64,
    nbf: Option<u64>,
}

/// Verified tokens kept at most this long (`exp` is checked on every hit
/// anyway) and this many bytes in all.
const VERIFIED_TTL: Duration = Duration::from_secs(300);
const VERIFIED_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// A prepared jwt step.
pub struct Jwt {
    name: Arc<str>,
    allowed: Vec<Algorithm>,
    keys: Vec<VerifyKey>,
    roles_claim: String,
    leeway_s: u64,
    public: Vec<String>,
    require_roles: Vec<(String, Vec<String>)>,
    realm: String,
    /// The `Sec-WebSocket-Protocol` entry prefix carrying a token.
    subprotocol: Option<String>,
    /// The cookie carrying a token on origin-checked handshakes.
    cookie: Option<String>,
    /// `WWW-Authenticate` for a request without a token.
    challenge: HeaderValue,
    verified: moka::sync::Cache<Arc<str>, Arc<Verified>>,
}

impl Jwt {
    pub fn prepare(name: Arc<str>, config: &JwtConfig) -> Result<Self, JwtError> {
        let allowed = config
            .algorithms
            .iter()
            .map(|a| Algorithm::from_str(a).map_err(|_| JwtError::UnknownAlgorithm(a.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        if allowed.is_empty() {
            return Err(JwtError::NoAlgorithms);
        }
        let base = base_validation(config);
        let keys = load_keys(&config.key, &allowed)?
            .into_iter()
            .map(|(kid, key, algs)| VerifyKey {
                kid,
                key,
                validations: algs
                    .into_iter()
                    .map(|alg| {
                        let mut validation = base.clone();
                        validation.algorithms = vec![alg];
                        (alg, validation)
                    })
                    .collect(),
            })
            .collect();
        let realm = config.audience.clone().unwrap_or_else(|| "gateway".into());
        let realm = realm.replace(['"', '\\'], "");
        let challenge = HeaderValue::from_str(&format!("Bearer realm=\"{realm}\""))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
        let verified = moka::sync::Cache::builder()
            .max_capacity(VERIFIED_MAX_BYTES)
            .weigher(|token: &Arc<str>, v: &Arc<Verified>| {
                let roles: usize = v.roles.iter().map(String::len).sum();
                u32::try_from(token.len() + v.user.len() + roles + 128).unwrap_or(u32::MAX)
            })
            .time_to_live(VERIFIED_TTL)
            .build();
        Ok(Self {
            name,
            allowed,
            keys,
            roles_claim: config.roles_claim.clone(),
            leeway_s: config.leeway_s,
            public: config.public.clone(),
            require_roles: config
                .require_roles
                .iter()
                .map(|r| (r.prefix.clone(), r.roles.clone()))
                .collect(),
            realm,
            subprotocol: config.subprotocol.clone(),
            cookie: config.cookie.clone(),
            challenge,
            verified,
        })
    }

    fn unauthorized(&self, ctx: &mut RequestCtx<'_>, reason: &'static str) -> Flow {
        let mut response = reject(
            ctx,
            routetable::MiddlewareKind::Jwt,
            &self.name,
            StatusCode::UNAUTHORIZED,
            reason,
        );
        let value = format!(
            "Bearer realm=\"{}\", error=\"invalid_token\", error_description=\"{reason}\"",
            self.realm
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_str(&value).unwrap_or_else(|_| self.challenge.clone()),
        );
        Flow::Respond(response)
    }

    /// Verifies `token`; the claims, or why not.
    fn verify(&self, token: &str) -> Result<Map<String, Value>, &'static str> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| "malformed token")?;
        if !self.allowed.contains(&header.alg) {
            return Err("algorithm not allowed");
        }
        let candidates = self.keys.iter().filter(|k| match (&header.kid, &k.kid) {
            (Some(wanted), Some(kid)) => wanted == kid,
            _ => true,
        });
        let mut reason = "no key for this token";
        for key in candidates {
            let Some((_, validation)) = key.validations.iter().find(|(a, _)| *a == header.alg)
            else {
                continue;
            };
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => {
                    reason = match e.kind() {
                        ErrorKind::ExpiredSignature => "token expired",
                        ErrorKind::ImmatureSignature => "token not yet valid",
                        ErrorKind::InvalidIssuer => "wrong issuer",
                        ErrorKind::InvalidAudience => "wrong audience",
                        ErrorKind::MissingRequiredClaim(_) => "missing required claim",
                        ErrorKind::InvalidSignature => "bad signature",
                        ErrorKind::InvalidAlgorithm => "algorithm not allowed",
                        _ => "invalid token",
                    };
                    // Only a bad signature may mean "another key of the set".
                    if !matches!(e.kind(), ErrorKind::InvalidSignature) {
                        return Err(reason);
                    }
                }
            }
        }
        Err(reason)
    }

    fn roles<'c>(&self, claims: &'c Map<String, Value>) -> Vec<&'c str> {
        match claims.get(&self.roles_claim) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            // OAuth's `scope` style: space-separated.
            Some(Value::String(s)) => s.split_ascii_whitespace().collect(),
            _ => Vec::new(),
        }
    }

    /// Verifies `token` fully and prepares what it says for forwarding.
    fn verify_fresh(&self, token: &str) -> Result<Verified, &'static str> {
        let claims = self.verify(token)?;
        let user = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|sub| !sub.is_empty())
            .ok_or("invalid subject")?;
        let user_header = HeaderValue::from_str(user).map_err(|_| "invalid subject")?;
        let roles: Vec<String> = self.roles(&claims).into_iter().map(str::to_owned).collect();
        let forwarded: Vec<&str> = roles
            .iter()
            .map(String::as_str)
            .filter(|r| plain_role(r))
            .collect();
        Ok(Verified {
            user: user.into(),
            user_header,
            roles_header: HeaderValue::from_str(&forwarded.join(",")).ok(),
            roles,
            // The validation required `exp` and checked both as numbers.
            exp: claims.get("exp").and_then(Value::as_u64).unwrap_or(0),
            nbf: claims.get("nbf").and_then(Value::as_u64),
        })
    }

    /// What `token` verified to: from the cache, or verified now.
    fn verified(&self, token: &str) -> Result<Arc<Verified>, &'static str> {
        if let Some(hit) = self.verified.get(token) {
            let now = jsonwebtoken::get_current_timestamp();
            if hit.exp.saturating_add(self.leeway_s) < now {
                return Err("token expired");
            }
            if hit
                .nbf
                .is_some_and(|nbf| nbf > now.saturating_add(self.leeway_s))
            {
                return Err("token not yet valid");
            }
            return Ok(hit);
        }
        let fresh = Arc::new(self.verify_fresh(token)?);
        self.verified.insert(token.into(), fresh.clone());
        Ok(fresh)
    }
}

fn base_validation(config: &JwtConfig) -> Validation {
    let mut validation = Validation::default();
    validation.leeway = config.leeway_s;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    let mut required = vec!["exp", "sub"];
    if let Some(issuer) = &config.issuer {
        validation.set_issuer(&[issuer]);
        required.push("iss");
    }
    match &config.audience {
        Some(audience) => {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(&required);
    validation
}

type LoadedKey = (Option<String>, DecodingKey, Vec<Algorithm>);

/// Reads and parses the key(s) named by `source` for `allowed`.
fn load_keys(source: &KeySource, allowed: &[Algorithm]) -> Result<Vec<LoadedKey>, JwtError> {
    let (source_name, bytes, from_file) = match source {
        KeySource::Env(var) => {
            let value = std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| JwtError::MissingEnv(var.clone()))?;
            (format!("${var}"), value.into_encoded_bytes(), false)
        }
        KeySource::File(path) => {
            let bytes = std::fs::read(path).map_err(|source| JwtError::KeyFile {
                path: path.into(),
                source,
            })?;
            (path.clone(), bytes, true)
        }
    };
    let bad = |message: String| JwtError::BadKey {
        source_name: source_name.clone(),
        message,
    };
    if from_file && source_name.ends_with(".json") {
        let set: JwkSet =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a JWKS: {e}")))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            let key_family = match jwk.algorithm {
                AlgorithmParameters::EllipticCurve(_) => Family::Ec,
                AlgorithmParameters::RSA(_) => Family::Rsa,
                AlgorithmParameters::OctetKey(_) => Family::Hmac,
                AlgorithmParameters::OctetKeyPair(_) => Family::Ed,
            };
            let pinned = jwk
                .common
                .key_algorithm
                .and_then(|a| Algorithm::from_str(&a.to_string()).ok());
            let algs: Vec<Algorithm> = allowed
                .iter()
                .copied()
                .filter(|a| family(*a) == key_family && pinned.is_none_or(|p| p == *a))
                .collect();
            if algs.is_empty() {
                continue;
            }
            let key = DecodingKey::from_jwk(jwk).map_err(|e| bad(e.to_string()))?;
            keys.push((jwk.common.key_id.clone(), key, algs));
        }
        if keys.is_empty() {
            return Err(JwtError::NoUsableKey(source_name));
        }
        return Ok(keys);
    }
    let families: Vec<Family> = allowed.iter().map(|a| family(*a)).collect();
    if families.iter().any(|f| *f != families[0]) {
        return Err(JwtError::MixedFamilies(
            allowed.iter().map(|a| format!("{a:?}")).collect(),
        ));
    }
    let key = match families[0] {
        Family::Hmac => {
            // A secret file usually ends with a newline nobody meant.
            let secret = if from_file {
                bytes.trim_ascii_end()
            } else {
                &bytes[..]
            };
            if secret.len() < MIN_HMAC_SECRET_BYTES {
                return Err(bad(format!(
                    "an HMAC secret needs at least {MIN_HMAC_SECRET_BYTES} bytes, this one has {}",
                    secret.len()
                )));
            }
            DecodingKey::from_secret(secret)
        }
        Family::Rsa => DecodingKey::from_rsa_pem(&bytes).map_err(|e| bad(e.to_string()))?,
        Family::Ec => DecodingKey::from_ec_pem(&bytes).map_err(|e| bad(e.to_string()))?,
        Family::Ed => DecodingKey::from_ed_pem(&bytes).map_err(|e| bad(e.to_string()))?,
    };
    Ok(vec![(None, key, allowed.to_vec())])
}

/// The token of `Authorization: Bearer <token>`, if that is the header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Removes every `Sec-WebSocket-Protocol` entry that starts with `prefix`
/// (ASCII case aside, so no spelling of it goes upstream) and gives the
/// token the one such entry carries: `Ok(None)` without one, `Err` when
/// the entries are malformed or several.
fn take_subprotocol_token(
    headers: &mut HeaderMap,
    prefix: &str,
) -> Result<Option<String>, &'static str> {
    let carries = |entry: &str| {
        entry
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    let values = headers.get_all(header::SEC_WEBSOCKET_PROTOCOL);
    if !values.iter().any(|v| {
        v.to_str()
            .map_or(true, |v| v.split(',').any(|e| carries(e.trim())))
    }) {
        return Ok(None);
    }
    let mut kept: Vec<String> = Vec::new();
    let mut encoded: Vec<String> = Vec::new();
    let mut malformed = false;
    for value in values {
        let Ok(value) = value.to_str() else {
            malformed = true;
            continue;
        };
        for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if carries(entry) {
                encoded.push(entry[prefix.len()..].to_owned());
            } else {
                kept.push(entry.to_owned());
            }
        }
    }
    headers.remove(header::SEC_WEBSOCKET_PROTOCOL);
    if let Ok(value) = HeaderValue::from_str(&kept.join(", ")) {
        if !kept.is_empty() {
            headers.insert(header::SEC_WEBSOCKET_PROTOCOL, value);
        }
    }
    match encoded.as_slice() {
        _ if malformed => Err("malformed subprotocol"),
        [one] => {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(one.trim_end_matches('='))
                .map_err(|_| "malformed token")?;
            let token = String::from_utf8(bytes).map_err(|_| "malformed token")?;
            Ok(Some(token).filter(|t| !t.is_empty()))
        }
        _ => Err("several tokens"),
    }
}

/// The value of cookie `name` in the request's (joined) `Cookie` header.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|value| !value.is_empty())
}

/// Roles that can travel in a comma-separated header unambiguously.
fn plain_role(role: &str) -> bool {
    !role.is_empty()
        && role
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'/'))
}

impl Middleware for Jwt {
    fn on_request(&self, ctx: &mut RequestCtx<'_>, head: &mut Parts) -> Flow {
        strip_identity_headers(&mut head.headers);
        // Taken out before anything else: the token entry never goes
        // upstream, on a public path neither.
        let from_protocol = match (&self.subprotocol, ctx.websocket) {
            (Some(prefix), true) => take_subprotocol_token(&mut head.headers, prefix),
            _ => Ok(None),
        };
        if self.public.iter().any(|p| under_prefix(ctx.path, p)) {
            return Flow::Continue;
        }
        let from_protocol = match from_protocol {
            Ok(token) => token,
            Err(reason) => return self.unauthorized(ctx, reason),
        };
        let from_cookie = match &self.cookie {
            Some(name) if ctx.websocket && ctx.origin_verified => cookie(&head.headers, name),
            _ => None,
        };
        let token = bearer(&head.headers)
            .or(from_protocol.as_deref())
            .or(from_cookie);
        let Some(token) = token else {
            let mut response = reject(
                ctx,
                routetable::MiddlewareKind::Jwt,
                &self.name,
                StatusCode::UNAUTHORIZED,
                "bearer token required",
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, self.challenge.clone());
            return Flow::Respond(response);
        };
        let verified = match self.verified(token) {
            Ok(verified) => verified,
            Err(reason) => return self.unauthorized(ctx, reason),
        };
        ctx.user = Some(verified.user.clone());
        for (prefix, required) in &self.require_roles {
            if under_prefix(ctx.path, prefix)
                && !required.iter().all(|r| verified.roles.contains(r))
            {
                let mut response = reject(
                    ctx,
                    routetable::MiddlewareKind::Jwt,
                    &self.name,
                    StatusCode::FORBIDDEN,
                    "missing role",
                );
                let value = format!(
                    "Bearer realm=\"{}\", error=\"insufficient_scope\"",
                    self.realm
                );
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, value);
                }
                return Flow::Respond(response);
            }
        }
        head.headers
            .insert(&X_USER_ID, verified.user_header.clone());
        if let Some(roles) = &verified.roles_header {
            head.headers.insert(&X_USER_ROLES, roles.clone());
        }
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt() -> (tempfile::TempDir, Jwt) {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("secret");
        std::fs::write(&key, "unit-test-secret-0123456789-0123456789").unwrap();
        let config = JwtConfig {
            algorithms: vec!["HS256".into()],
            key: KeySource::File(key.display().to_string()),
            issuer: None,
            audience: None,
            roles_claim: "roles".into(),
            leeway_s: 5,
            public: vec![],
            require_roles: vec![],
            subprotocol: None,
            cookie: None,
        };
        (dir, Jwt::prepare("auth".into(), &config).unwrap())
    }

    fn cached(jwt: &Jwt, token: &str, exp: u64, nbf: Option<u64>) {
        let verified = Verified {
            user: "u".into(),
            user_header: HeaderValue::from_static("u"),
            roles: vec![],
            roles_header: None,
            exp,
            nbf,
        };
        jwt.verified.insert(token.into(), Arc::new(verified));
    }

    #[test]
    fn a_subprotocol_token_is_taken_out_and_the_real_protocols_kept() {
        use base64::Engine as _;
        let prefix = "base64url.bearer.authorization.dating.";
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("a.b.c");
        let mut headers = HeaderMap::new();
        headers.append(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("chat"),
        );
        headers.append(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_str(&format!("{prefix}{encoded}, chat.v2")).unwrap(),
        );
        assert_eq!(
            take_subprotocol_token(&mut headers, prefix),
            Ok(Some("a.b.c".into()))
        );
        let left: Vec<_> = headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .collect();
        assert_eq!(left, ["chat, chat.v2"]);
        // No prefix: nothing changes.
        assert_eq!(take_subprotocol_token(&mut headers, prefix), Ok(None));
        // Another spelling of the prefix is removed too; two tokens are refused.
        let mut two = HeaderMap::new();
        two.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_str(&format!(
                "{prefix}{encoded}, BASE64URL.bearer.authorization.dating.{encoded}"
            ))
            .unwrap(),
        );
        assert_eq!(
            take_subprotocol_token(&mut two, prefix),
            Err("several tokens")
        );
        assert!(two.get(header::SEC_WEBSOCKET_PROTOCOL).is_none());
        let mut bad = HeaderMap::new();
        bad.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_str(&format!("{prefix}!!")).unwrap(),
        );
        assert_eq!(
            take_subprotocol_token(&mut bad, prefix),
            Err("malformed token")
        );
    }

    #[test]
    fn every_spelling_of_an_identity_header_is_removed() {
        let mut headers = HeaderMap::new();
        for name in [
            "x_user_id",
            "x.user.id",
            "x-user_id",
            "x_user.roles",
            "x-user-roles",
        ] {
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static("admin"),
            );
        }
        headers.insert("x-user-idx", HeaderValue::from_static("kept"));
        headers.insert("x_request_id", HeaderValue::from_static("kept"));
        strip_identity_headers(&mut headers);
        let left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["x-user-idx", "x_request_id"], "{headers:?}");
    }

    #[test]
    fn cached_tokens_still_expire_and_mature_on_the_clock() {
        let (_dir, jwt) = jwt();
        let now = jsonwebtoken::get_current_timestamp();
        cached(&jwt, "a.b.c", now - 60, None);
        assert_eq!(jwt.verified("a.b.c").err(), Some("token expired"));
        cached(&jwt, "d.e.f", now - 2, None);
        assert!(jwt.verified("d.e.f").is_ok(), "within the leeway");
        cached(&jwt, "g.h.i", now + 600, Some(now + 60));
        assert_eq!(jwt.verified("g.h.i").err(), Some("token not yet valid"));
        // Anything not cached is verified: these bytes are no token.
        assert_eq!(jwt.verified("x.y.z").err(), Some("malformed token"));
    }
}
