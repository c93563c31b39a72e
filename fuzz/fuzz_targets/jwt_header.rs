//! Fuzz target: the `Authorization` header path of the gateway's jwt step,
//! prepared exactly as routes.dsl configures it (HS256, secret from
//! `JWT_SECRET`, issuer `dating-auth`, audience `dating-api`, `roles`,
//! `/v1/auth/` public, `/v1/admin/` needs `admin`), on a request that also
//! carries a forged `X-User-Id`.
//!
//! Two input shapes, by the first byte's low bit:
//! - raw: the rest is the header value, as a client could send it;
//! - signed: the rest is `header JSON \0 claims JSON`, made into a token
//!   and signed with the real secret, so the fuzzer reaches the claim
//!   checks (expiry, issuer, audience, roles, subject) and not only the
//!   signature check.
//! The second byte picks the path.
//!
//! What must hold: the step never panics; it lets a protected request
//! through only with a token that an independent decode (jsonwebtoken with
//! the same rules) accepts, then with `X-User-Id` set to that token's `sub`
//! and, under `/v1/admin/`, only with the `admin` role; a public request
//! goes through without any identity header; anything else is a 401 or,
//! for a valid token without the role, a 403. The forged header never
//! survives.
//!
//! Run: `cd fuzz && cargo +nightly fuzz run jwt_header`.

#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dataplane::chain::{Flow, Middleware, RequestCtx};
use dataplane::policy::jwt::Jwt;
use http::{header, HeaderValue, Method, Request, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use libfuzzer_sys::fuzz_target;
use routetable::{JwtConfig, KeySource, RoleRule};
use serde_json::Value;
use std::sync::{Arc, OnceLock};

const SECRET: &str = "fuzz-secret-fuzz-secret-fuzz-secret-0123456789";
const PATHS: [&str; 4] = [
    "/v1/admin/users",
    "/v1/profiles/me",
    "/v1/auth/login",
    "/v1/admin",
];

fn config() -> JwtConfig {
    JwtConfig {
        algorithms: vec!["HS256".into()],
        key: KeySource::Env("JWT_SECRET".into()),
        issuer: Some("dating-auth".into()),
        audience: Some("dating-api".into()),
        roles_claim: "roles".into(),
        leeway_s: 30,
        public: vec!["/v1/auth/".into()],
        require_roles: vec![RoleRule {
            prefix: "/v1/admin/".into(),
            roles: vec!["admin".into()],
        }],
        subprotocol: None,
        cookie: None,
    }
}

fn step() -> &'static Jwt {
    static STEP: OnceLock<Jwt> = OnceLock::new();
    STEP.get_or_init(|| {
        std::env::set_var("JWT_SECRET", SECRET);
        Jwt::prepare(Arc::from("auth"), &config()).expect("the jwt step prepares")
    })
}

/// The claims of `token` if jsonwebtoken, on its own, accepts it under the
/// DSL's rules.
fn independently_valid(token: &str) -> Option<Value> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 30;
    validation.set_issuer(&["dating-auth"]);
    validation.set_audience(&["dating-api"]);
    validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
    let key = DecodingKey::from_secret(SECRET.as_bytes());
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .ok()
        .map(|data| data.claims)
}

fn signed_token(input: &[u8]) -> String {
    let (header, claims) = match input.iter().position(|b| *b == 0) {
        Some(at) => (&input[..at], &input[at + 1..]),
        None => (input, &b"{}"[..]),
    };
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(SECRET.as_bytes()),
        Algorithm::HS256,
    )
    .expect("HMAC signs anything");
    format!("Bearer {message}.{signature}")
}

fn has_role(claims: &Value, role: &str) -> bool {
    match &claims["roles"] {
        Value::Array(roles) => roles.iter().any(|r| r.as_str() == Some(role)),
        Value::String(roles) => roles.split_ascii_whitespace().any(|r| r == role),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let [shape, path, rest @ ..] = data else {
        return;
    };
    let path = PATHS[usize::from(*path) % PATHS.len()];
    let value = if shape & 1 == 0 {
        rest.to_vec()
    } else {
        signed_token(rest).into_bytes()
    };
    let Ok(authorization) = HeaderValue::from_bytes(&value) else {
        return;
    };
    let (mut head, ()) = Request::get(path)
        .header(header::AUTHORIZATION, authorization)
        .header("x-user-id", "forged-admin")
        .header("x-user-roles", "admin")
        .body(())
        .expect("a valid request")
        .into_parts();
    let request_id = HeaderValue::from_static("fuzz");
    let mut ctx = RequestCtx::new(
        "route",
        "service",
        Method::GET,
        path,
        path.to_owned(),
        [127, 0, 0, 1].into(),
        &request_id,
    );
    let token = std::str::from_utf8(&value)
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let claims = token.and_then(independently_valid);
    let public = path.starts_with("/v1/auth/");
    let admin_path = path == "/v1/admin" || path.starts_with("/v1/admin/");
    match step().on_request(&mut ctx, &mut head) {
        Flow::Continue if public => {
            assert!(
                head.headers.get("x-user-id").is_none(),
                "identity on a public path"
            );
            assert!(
                head.headers.get("x-user-roles").is_none(),
                "roles on a public path"
            );
        }
        Flow::Continue => {
            let claims = claims.expect("a protected request passed without a valid token");
            let user = head
                .headers
                .get("x-user-id")
                .expect("a passed request names its user");
            // Bytes, not `to_str`: a subject may be any UTF-8, which a
            // header carries as obs-text; the identity must match exactly.
            assert_eq!(
                Some(user.as_bytes()),
                claims["sub"].as_str().map(str::as_bytes)
            );
            assert!(
                !admin_path || has_role(&claims, "admin"),
                "admin path without the role"
            );
        }
        // The jwt step decides at once; only a shared rate limit waits.
        Flow::Pending(_) => panic!("the jwt step waited"),
        Flow::Respond(response) => {
            assert!(!public, "a public path was refused");
            match response.status() {
                StatusCode::UNAUTHORIZED => {}
                StatusCode::FORBIDDEN => {
                    let claims = claims.expect("403 is for valid tokens only");
                    assert!(admin_path && !has_role(&claims, "admin"));
                }
                other => panic!("unexpected status {other}"),
            }
        }
    }
});
