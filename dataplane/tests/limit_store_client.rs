//! The rate-limit store's own client against a real `redis-server` that
//! wants a password: `AUTH` with the default user's password (env var) and
//! with an ACL user's name and password (URL), `SELECT` of the URL's
//! database, and a wrong password answering the check with an error.

#[path = "../../tests/support/tools.rs"]
mod tools;

use dataplane::limit_store::{Decision, LimitStore, StoreSettings};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` of this test's own, killed (by pid) when dropped.
struct Redis {
    port: u16,
    child: Child,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Redis {
    let binary = tools::require("redis-server", "apt-get install redis-server");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(binary)
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--requirepass", "default-pw"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server starts");
    let redis = Redis { port, child };
    let started = Instant::now();
    loop {
        let ready = admin(&redis).and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
        if ready.is_ok() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "redis-server never answered"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    redis
}

fn admin(redis: &Redis) -> redis::RedisResult<redis::Connection> {
    redis::Client::open(format!("redis://:default-pw@127.0.0.1:{}/3", redis.port))?.get_connection()
}

fn store(address_env: &str, address: String, password_env: Option<&str>) -> LimitStore {
    // Each test names its own variables: tests run in parallel in one process.
    std::env::set_var(address_env, address);
    LimitStore::new(&StoreSettings {
        address_env,
        username_env: None,
        password_env,
        tls: false,
        budget: Duration::from_millis(500),
    })
    .unwrap()
}

#[tokio::test]
#[cfg_attr(without_real_tools, ignore = "needs redis-server")]
async fn auth_with_a_password_or_an_acl_user_and_select_the_urls_database() {
    let redis = start();
    let mut admin = admin(&redis).unwrap();
    redis::cmd("ACL")
        .arg(&["SETUSER", "alice", "on", ">alice-pw", "~*", "+@all"])
        .query::<()>(&mut admin)
        .unwrap();

    std::env::set_var("LSC_DEFAULT_PASSWORD", "default-pw");
    let by_env = store(
        "LSC_ADDR_DEFAULT",
        format!("127.0.0.1:{}", redis.port),
        Some("LSC_DEFAULT_PASSWORD"),
    );
    assert_eq!(
        by_env
            .check("lsc:default".into(), 1_000_000, 0)
            .await
            .unwrap(),
        Decision::Allowed { remaining: 0 }
    );

    let by_url = store(
        "LSC_ADDR_ACL",
        format!("redis://alice:alice-pw@127.0.0.1:{}/3", redis.port),
        None,
    );
    by_url.warm_up().await.unwrap();
    assert_eq!(
        by_url.check("lsc:acl".into(), 1_000_000, 0).await.unwrap(),
        Decision::Allowed { remaining: 0 }
    );
    assert!(matches!(
        by_url.check("lsc:acl".into(), 1_000_000, 0).await.unwrap(),
        Decision::Refused { .. }
    ));
    // The URL's /3 was selected: the bucket is in database 3, not 0.
    let exists: i64 = redis::cmd("EXISTS")
        .arg("lsc:acl")
        .query(&mut admin)
        .unwrap();
    assert_eq!(exists, 1);
    let in_db3_only: i64 = redis::cmd("EXISTS")
        .arg("lsc:default")
        .query(&mut admin)
        .unwrap();
    assert_eq!(in_db3_only, 0);
}

#[tokio::test]
#[cfg_attr(without_real_tools, ignore = "needs redis-server")]
async fn a_wrong_password_answers_the_check_with_an_error() {
    let redis = start();
    let wrong_user = store(
        "LSC_ADDR_WRONG_ACL",
        format!("redis://alice:nope@127.0.0.1:{}", redis.port),
        None,
    );
    let error = wrong_user
        .check("lsc:wrong".into(), 1_000_000, 0)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("WRONGPASS"), "{error}");

    std::env::set_var("LSC_WRONG_PASSWORD", "not-the-password");
    let wrong = store(
        "LSC_ADDR_WRONG",
        format!("127.0.0.1:{}", redis.port),
        Some("LSC_WRONG_PASSWORD"),
    );
    let error = wrong
        .check("lsc:wrong".into(), 1_000_000, 0)
        .await
        .unwrap_err();
    assert!(!error.to_string().contains("not-the-password"), "{error}");
    let none = store("LSC_ADDR_NONE", format!("127.0.0.1:{}", redis.port), None);
    let error = none
        .check("lsc:wrong".into(), 1_000_000, 0)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("NOAUTH"), "{error}");
}
