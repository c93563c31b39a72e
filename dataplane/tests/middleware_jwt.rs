//! JWT keys and algorithms through a running gateway: an RS256 route
//! refuses an HS256 token "signed" with its public key (algorithm
//! confusion) and a re-headed one; a JWKS file picks keys by `kid`
//! (EdDSA); keys are read at table load, so a missing or unusable key
//! stops start-up or refuses a reload (the old table keeps serving) and a
//! reload picks up a rotated key; a `token_from cookie` source
//! authenticates only a WebSocket handshake whose `Origin` the cors step
//! matched. The RSA pair under `tests/fixtures` is a test key and guards
//! nothing.

mod common;
mod middleware_support;

use common::*;
use http::StatusCode;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use middleware_support::*;
use routetable::{JwtConfig, KeySource, MiddlewareConfig, TableSpec};
use serde_json::json;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn jwt_table(algorithms: &[&str], key: KeySource, generation: u64) -> TableSpec {
    let config = JwtConfig {
        algorithms: algorithms.iter().map(|a| a.to_string()).collect(),
        key,
        ..platform_jwt()
    };
    chain_table(&[("auth", MiddlewareConfig::Jwt(config))], &[], generation)
}

async fn status_with(client: &HttpClient, addr: std::net::SocketAddr, token: &str) -> StatusCode {
    request(
        client,
        "GET",
        addr,
        "/v1/x",
        &[("authorization", &bearer(token))],
    )
    .await
    .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rs256_route_refuses_hs256_tokens_made_with_its_public_key() {
    let public_pem = std::fs::read(fixture("jwt-test-rsa.pub.pem")).unwrap();
    let private_pem = std::fs::read(fixture("jwt-test-rsa.key.pem")).unwrap();
    let spec = jwt_table(
        &["RS256"],
        KeySource::File(fixture("jwt-test-rsa.pub.pem").display().to_string()),
        1,
    );
    let origin = Origin::start().await;
    let (gateway, _dir) = gateway_for(&spec, &origin).await;
    let client = client();
    let addr = gateway.local_addr();
    let claims = claims("user-7", &["user"]);
    let rs256 = encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(&private_pem).unwrap(),
    )
    .unwrap();
    assert_eq!(status_with(&client, addr, &rs256).await, StatusCode::OK);

    // The classic confusion: HS256 keyed with the public key's PEM bytes.
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&public_pem),
    )
    .unwrap();
    let reply = request(
        &client,
        "GET",
        addr,
        "/v1/x",
        &[("authorization", &bearer(&confused))],
    )
    .await;
    assert_json_error(&reply, StatusCode::UNAUTHORIZED);
    assert!(reply.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));

    // The same HMAC signature under an RS256 header.
    let (_, rest) = confused.split_once('.').unwrap();
    let reheaded = format!("{}.{rest}", b64url(br#"{"alg":"RS256","typ":"JWT"}"#));
    assert_eq!(
        status_with(&client, addr, &reheaded).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_with(&client, addr, &alg_none(&claims)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        origin.hits(),
        1,
        "only the genuine token reached the upstream"
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_file_selects_the_key_by_kid() {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    let set = json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "kid": "k1", "use": "sig", "alg": "EdDSA",
        "x": b64url(pair.public_key_raw()),
    }]});
    std::fs::write(&jwks, set.to_string()).unwrap();
    let spec = jwt_table(&["EdDSA"], KeySource::File(jwks.display().to_string()), 1);
    let origin = Origin::start().await;
    let (gateway, _table_dir) = gateway_for(&spec, &origin).await;
    let client = client();
    let signing = EncodingKey::from_ed_pem(pair.serialize_pem().as_bytes()).unwrap();
    let sign = |kid: &str| {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.into());
        encode(&header, &claims("user-7", &[]), &signing).unwrap()
    };
    assert_eq!(
        status_with(&client, gateway.local_addr(), &sign("k1")).await,
        StatusCode::OK
    );
    assert_eq!(
        status_with(&client, gateway.local_addr(), &sign("k2")).await,
        StatusCode::UNAUTHORIZED
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_keys_fail_the_table_load() {
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.secret");
    std::fs::write(&short, "too-short\n").unwrap();
    let cases = [
        (
            jwt_table(
                &["HS256"],
                KeySource::Env("JWT_TEST_UNSET_VARIABLE".into()),
                1,
            ),
            "JWT_TEST_UNSET_VARIABLE",
        ),
        (
            jwt_table(
                &["HS256"],
                KeySource::File("/nonexistent/jwt.pem".into()),
                1,
            ),
            "/nonexistent/jwt.pem",
        ),
        (
            jwt_table(&["HS256"], KeySource::File(short.display().to_string()), 1),
            "at least 32 bytes",
        ),
        (
            jwt_table(
                &["HS256", "RS256"],
                KeySource::File(fixture("jwt-test-rsa.pub.pem").display().to_string()),
                1,
            ),
            "algorithm confusion",
        ),
        (
            jwt_table(
                &["ES256"],
                KeySource::File(fixture("jwt-test-rsa.pub.pem").display().to_string()),
                1,
            ),
            "jwt-test-rsa.pub.pem",
        ),
    ];
    for (spec, expected) in cases {
        let (_dir, table) = table_dir(&spec);
        let error = match dataplane::Server::start(test_config(&table)).await {
            Ok(_) => panic!("a table without a usable key started ({expected})"),
            Err(e) => e.to_string(),
        };
        assert!(error.contains(expected), "{expected:?} not in {error:?}");
        assert!(error.contains("middleware auth"), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_without_its_key_is_refused_and_a_rotated_key_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("jwt.secret");
    let old_secret = "first-secret-0123456789-0123456789-abc";
    let new_secret = "second-secret-0123456789-0123456789-xyz";
    std::fs::write(&key_file, format!("{old_secret}\n")).unwrap();
    let from_file = KeySource::File(key_file.display().to_string());
    let origin = Origin::start().await;
    let (gateway, _table_dir) =
        gateway_for(&jwt_table(&["HS256"], from_file.clone(), 1), &origin).await;
    let table = gateway_table_path(&_table_dir);
    let client = client();
    let addr = gateway.local_addr();
    let signed = |secret: &str| {
        encode(
            &Header::default(),
            &claims("user-7", &[]),
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    assert_eq!(
        status_with(&client, addr, &signed(old_secret)).await,
        StatusCode::OK
    );

    // A table whose key is missing is refused; the old one keeps serving.
    let failures = || gateway.store().metrics().table_reload_failures();
    let before = failures();
    write_table(
        &table,
        &jwt_table(
            &["HS256"],
            KeySource::Env("JWT_TEST_UNSET_VARIABLE".into()),
            2,
        ),
    );
    assert!(
        eventually(200, || async { failures() > before }).await,
        "the reload was not refused"
    );
    assert_eq!(gateway.store().current().generation, 1);
    assert_eq!(
        status_with(&client, addr, &signed(old_secret)).await,
        StatusCode::OK
    );

    // Rotating the key and reloading: the new key counts, the old no more.
    std::fs::write(&key_file, new_secret).unwrap();
    write_table(&table, &jwt_table(&["HS256"], from_file, 3));
    assert!(eventually(200, || async { gateway.store().current().generation == 3 }).await);
    assert_eq!(
        status_with(&client, addr, &signed(new_secret)).await,
        StatusCode::OK
    );
    assert_eq!(
        status_with(&client, addr, &signed(old_secret)).await,
        StatusCode::UNAUTHORIZED
    );
    gateway.shutdown().await;
}

fn gateway_table_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("routes.bin")
}

/// A handshake to the WebSocket route with `extra` header lines.
fn handshake(origin: Option<&str>, extra: &str) -> Vec<u8> {
    let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
    format!(
        "GET /v1/ws HTTP/1.1\r\nHost: api.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         {origin}{extra}Connection: close\r\n\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cookie_authenticates_only_a_handshake_from_a_checked_origin() {
    set_secret();
    let jwt = JwtConfig {
        cookie: Some("session".into()),
        ..platform_jwt()
    };
    let mut spec = chain_table(
        &[
            ("cors", platform_cors()),
            ("auth", MiddlewareConfig::Jwt(jwt)),
        ],
        &[],
        1,
    );
    spec.routes[0].websocket = true;
    let origin = Origin::start().await;
    let (gateway, _dir) = gateway_for(&spec, &origin).await;
    let addr = gateway.local_addr();
    let token = user_token("user-7", &["user"]);
    let cookie = format!("Cookie: theme=dark\r\nCookie: session={token}\r\n");
    let app = Some("https://dating.serge.cc");
    let wait = std::time::Duration::from_secs(10);

    // From the app's origin: the cookie (in the second of two Cookie
    // lines, joined for the upstream) is the token.
    let reply = raw::exchange(addr, &handshake(app, &cookie), wait).await;
    assert_eq!(reply.status(), Some(200), "{reply:?}");
    let body: serde_json::Value = serde_json::from_slice(&reply.responses[0].body).unwrap();
    assert_eq!(body["user"], "user-7", "{body}");
    assert_eq!(
        body["headers"]["cookie"],
        format!("theme=dark; session={token}")
    );
    let reached = origin.hits();

    // No Origin (no browser), another origin, or no handshake: no cookie.
    for (why, request, status) in [
        ("no Origin", handshake(None, &cookie), 401),
        ("another origin", handshake(Some("https://evil.example"), &cookie), 403),
        (
            "a plain GET from the app",
            format!(
                "GET /v1/x HTTP/1.1\r\nHost: api.test\r\nOrigin: https://dating.serge.cc\r\n{cookie}Connection: close\r\n\r\n"
            )
            .into_bytes(),
            401,
        ),
    ] {
        let reply = raw::exchange(addr, &request, wait).await;
        assert_eq!(reply.status(), Some(status), "{why}: {reply:?}");
    }
    assert_eq!(
        origin.hits(),
        reached,
        "no refused request reached the upstream"
    );
    gateway.shutdown().await;
}
