//! Rate limits shared by every gateway replica, against a real
//! `redis-server` that each test starts on a free loopback port and stops
//! by its pid: three gateways sharing one limit admit no more than one
//! bucket allows, across all three; the keys of two routes and of two users
//! never mix, and expire by themselves; a Redis stopped under load leaves
//! the failure policy in charge (`local`, `open`, `closed`) with no request
//! failing for any other reason, and sharing resumes once it is back; a
//! Redis slower than the budget counts as down; a script flushed from Redis
//! is loaded again by the same request, which does not fail.
//!
//! Nothing here asserts how long anything took: bounds on admitted requests
//! are computed from the time the test measured, waits are bounded polls.

mod common;
mod middleware_support;
#[path = "../../tests/support/tools.rs"]
mod tools;

use common::load::Load;
use common::*;
use http::StatusCode;
use middleware_support::*;
use routetable::{
    ChainSpec, MiddlewareConfig, RateKey, RateLimitConfig, SharedLimitSpec, StoreFailure, TableSpec,
};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INSTALL_REDIS: &str = "apt-get install redis-server";
/// A bound on waiting for a server or a state, never asserted on.
const DEADLINE: Duration = Duration::from_secs(30);
const MINUTE_MS: u64 = 60_000;

/// A `redis-server` of this test's own, stopped (by pid) when dropped.
struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self { port, child: None };
        redis.restart();
        redis
    }

    /// Starts the server (again) on the same port.
    fn restart(&mut self) {
        let binary = tools::require("redis-server", INSTALL_REDIS);
        let child = Command::new(binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let started = Instant::now();
        while self.connection().is_err() {
            assert!(started.elapsed() < DEADLINE, "redis-server never answered");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server (SIGKILL by its pid) and waits for it to be gone.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the server: a frozen one keeps
    /// its connections open and its socket accepting, and answers nothing.
    fn freeze(&self, frozen: bool) {
        let pid = self.child.as_ref().expect("redis-server runs").id();
        let signal = if frozen { "-STOP" } else { "-CONT" };
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// Connections the server has accepted so far (each call adds one).
    fn connections_received(&self) -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("stats")
            .query(&mut self.connection().unwrap())
            .unwrap();
        info.lines()
            .find_map(|line| line.strip_prefix("total_connections_received:"))
            .and_then(|n| n.trim().parse().ok())
            .expect("INFO stats names total_connections_received")
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn connection(&self) -> redis::RedisResult<redis::Connection> {
        let client = redis::Client::open(format!("redis://{}", self.addr()))?;
        client.get_connection_with_timeout(Duration::from_secs(1))
    }

    fn keys(&self, pattern: &str) -> Vec<String> {
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query(&mut self.connection().unwrap())
            .unwrap();
        keys.sort();
        keys
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A store whose address is in an env var of this test's own.
fn store(env: &str, addr: &str, on_failure: StoreFailure, timeout_ms: u64) -> SharedLimitSpec {
    // Each test names its own variable: tests run in parallel in one process.
    std::env::set_var(env, addr);
    SharedLimitSpec {
        key_prefix: "dating".into(),
        address_env: env.into(),
        username_env: None,
        password_env: None,
        tls: false,
        timeout_ms,
        on_failure,
        replicas: 3,
    }
}

fn shared_limit(
    key: RateKey,
    average: u64,
    period_ms: u64,
    burst: u64,
    store: &SharedLimitSpec,
) -> MiddlewareConfig {
    MiddlewareConfig::RateLimit(RateLimitConfig {
        key,
        average,
        period_ms,
        burst,
        shared: Some(store.clone()),
    })
}

/// One gateway whose route `/v1/` runs one shared per-IP limit; the
/// origin must outlive it.
async fn per_ip_gateway(
    store: &SharedLimitSpec,
    average: u64,
    period_ms: u64,
    burst: u64,
) -> (Origin, dataplane::ServerHandle, tempfile::TempDir) {
    let spec = chain_table(
        &[(
            "per-ip",
            shared_limit(RateKey::ClientIp, average, period_ms, burst, store),
        )],
        &[],
        1,
    );
    let origin = Origin::start().await;
    let (gateway, dir) = gateway_for(&spec, &origin).await;
    (origin, gateway, dir)
}

async fn gateways(
    spec: &TableSpec,
    origin: &Origin,
    n: usize,
) -> Vec<(dataplane::ServerHandle, tempfile::TempDir)> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(gateway_for(spec, origin).await);
    }
    out
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < DEADLINE, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(without_real_tools, ignore = "needs redis-server")]
async fn three_replicas_share_one_limit() {
    let redis = Redis::start();
    let store = store(
        "RL_TEST_THREE_ADDR",
        &redis.addr(),
        StoreFailure::Local,
        2_000,
    );
    // 6 a minute, burst 9: alone, each replica would admit 9 at once.
    let (average, burst) = (6, 9);
    let spec = chain_table(
        &[(
            "per-ip",
            shared_limit(RateKey::ClientIp, average, MINUTE_MS, burst, &store),
        )],
        &[],
        1,
    );
    let origin = Origin::start().await;
    let replicas = gateways(&spec, &origin, 3).await;
    let client = client();
    let started = Instant::now();
    let mut admitted = 0u64;
    let mut refused = 0u64;
    for round in 0..9 {
        for (gateway, _) in &replicas {
            let reply = request(&client, "GET", gateway.local_addr(), "/v1/x", &[]).await;
            match reply.status {
                StatusCode::OK => admitted += 1,
                StatusCode::TOO_MANY_REQUESTS => {
                    refused += 1;
                    assert!(reply.headers.contains_key("retry-after"), "round {round}");
                }
                other => panic!("round {round}: {other} {:?}", reply.body),
            }
        }
    }
    // The burst, plus what refilled while the test ran (one every 10 s).
    let refilled = started.elapsed().as_millis() as u64 * average / MINUTE_MS + 1;
    assert!(
        admitted >= burst,
        "the shared bucket let through {admitted} of {burst}"
    );
    assert!(
        admitted <= burst + refilled,
        "three replicas admitted {admitted}, one bucket allows {burst} + {refilled}"
    );
    assert_eq!(admitted + refused, 27);
    assert_eq!(origin.hits(), admitted);
    for (gateway, _) in &replicas {
        let metrics = gateway.store().metrics();
        assert_eq!(metrics.store_fallbacks("per-ip", "local"), 0);
        assert!(metrics.store_up("per-ip"));
    }
    assert_eq!(redis.keys("dating:rl:*"), ["dating:rl:per-ip:ip:127.0.0.1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(without_real_tools, ignore = "needs redis-server")]
async fn keys_of_two_routes_and_two_users_never_mix() {
    let redis = Redis::start();
    let store = store(
        "RL_TEST_KEYS_ADDR",
        &redis.addr(),
        StoreFailure::Closed,
        2_000,
    );
    set_secret();
    let mut spec = chain_table(
        &[
            ("auth", MiddlewareConfig::Jwt(platform_jwt())),
            (
                "per-user-a",
                shared_limit(RateKey::User, 1, MINUTE_MS, 2, &store),
            ),
            (
                "per-user-b",
                shared_limit(RateKey::User, 1, MINUTE_MS, 2, &store),
            ),
        ],
        &[],
        1,
    );
    // Route `api` (/v1/) runs auth + per-user-a; route `b` (/v2/) on the
    // same service runs auth + per-user-b.
    spec.chains = vec![
        ChainSpec {
            name: "a".into(),
            middlewares: vec![0, 1],
        },
        ChainSpec {
            name: "b".into(),
            middlewares: vec![0, 2],
        },
    ];
    let mut second = route("b", "/v2/", 0);
    second.chain = Some(1);
    spec.routes[0].chain = Some(0);
    spec.routes.push(second);
    let origin = Origin::start().await;
    let (gateway, _dir) = gateway_for(&spec, &origin).await;
    let client = client();
    let alice = bearer(&user_token("alice", &["user"]));
    let bob = bearer(&user_token("bob", &["user"]));
    let as_user = |token: &str| vec![("authorization", token.to_owned())];
    let get = |path: &'static str, headers: Vec<(&'static str, String)>| {
        let client = client.clone();
        let addr = gateway.local_addr();
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            request(&client, "GET", addr, path, &headers).await.status
        }
    };
    for _ in 0..2 {
        assert_eq!(get("/v1/x", as_user(&alice)).await, StatusCode::OK);
    }
    assert_eq!(
        get("/v1/x", as_user(&alice)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another route's limit, another user's bucket: untouched.
    assert_eq!(get("/v2/x", as_user(&alice)).await, StatusCode::OK);
    assert_eq!(get("/v1/x", as_user(&bob)).await, StatusCode::OK);
    assert_eq!(
        redis.keys("dating:rl:*"),
        [
            "dating:rl:per-user-a:user:alice",
            "dating:rl:per-user-a:user:bob",
            "dating:rl:per-user-b:user:alice",
        ]
    );
    // Every bucket expires by itself (once it has refilled).
    let mut connection = redis.connection().unwrap();
    for key in redis.keys("dating:rl:*") {
        let ttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut connection).unwrap();
        assert!(ttl > 0 && ttl <= 2 * MINUTE_MS as i64, "{key}: PTTL {ttl}");
    }
}

/// `/v1/` under load through a gateway whose shared limit is generous
/// (nothing is refused while the store answers) and whose failure policy
/// is `policy`; Redis stopped mid-load, then started again.
async fn stopped_under_load(policy: StoreFailure, env: &str) -> (Vec<String>, Vec<StatusCode>) {
    let mut redis = Redis::start();
    let store = store(env, &redis.addr(), policy, 500);
    // 10,000 a second, burst 10,000, on 3 replicas: the local fallback
    // allows a third, still far more than the load sends.
    let (_origin, gateway, _dir) = per_ip_gateway(&store, 10_000, 1_000, 10_000).await;
    let metrics = gateway.store().metrics().clone();
    let name = match policy {
        StoreFailure::Local => "local",
        StoreFailure::Open => "open",
        StoreFailure::Closed => "closed",
    };
    let load = Load::start(gateway.local_addr(), "/v1/x", 2, 1_000_000);
    wait_until("requests pass", || load.sent() > 50).await;
    redis.stop();
    wait_until("the store counts as down", || !metrics.store_up("per-ip")).await;
    let before = metrics.store_fallbacks("per-ip", name);
    wait_until("the policy decides some requests", || {
        metrics.store_fallbacks("per-ip", name) > before + 20
    })
    .await;
    // While Redis is down, what does a request get?
    let client = client();
    let mut down = Vec::new();
    for _ in 0..5 {
        down.push(
            request(&client, "GET", gateway.local_addr(), "/v1/x", &[])
                .await
                .status,
        );
    }
    redis.restart();
    wait_until("sharing resumes", || metrics.store_up("per-ip")).await;
    wait_until("buckets are in Redis again", || {
        !redis.keys("dating:rl:per-ip:*").is_empty()
    })
    .await;
    let report = load.stop().await;
    (report.failed, down)
}

/// No request of the load failed, and those sent while Redis was down passed.
fn assert_all_passed(failed: &[String], down: &[StatusCode]) {
    assert!(
        failed.is_empty(),
        "{} failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(down.iter().all(|s| *s == StatusCode::OK), "{down:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(without_real_tools, ignore = "needs redis-server")]
async fn redis_stopped_under_load_falls_back_to_local_buckets() {
    let (failed, down) = stopped_under_load(StoreFailure::Local, "RL_TEST_LOCAL_ADDR").await;
    assert_all_passed(&failed, &down);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(without_real_tools, ignore = "needs redis-server")]
async fn redis_stopped_under_load_with_open_lets_everything_through() {
    let (failed, down) = stopped_under_load(StoreFailure::Open, "RL_TEST_OPEN_ADDR").await;
    assert_all_passed(&failed, &down);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(without_real_tools, ignore = "needs redis-server")]
async fn redis_stopped_under_load_with_closed_refuses_with_503_only() {
    let (failed, down) = stopped_under_load(StoreFailure::Closed, "RL_TEST_CLOSED_ADDR").await;
    // Every request that failed was the policy's 503, nothing else.
    assert!(!failed.is_empty(), "closed let every request through");
    for failure in &failed {
        assert!(
            failure.contains("503") && failure.contains("rate limit store unavailable"),
            "{failure}"
        );
    }
    assert!(
        down.iter().all(|s| *s == StatusCode::SERVICE_UNAVAILABLE),
        "{down:?}"
    );
}

/// A TCP proxy to `upstream` that holds every reply `delay` before passing
/// it on: a Redis slower than the budget.
async fn slow_proxy(upstream: SocketAddr, delay: Duration) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                });
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n) = server_read.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    tokio::time::sleep(delay).await;
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(without_real_tools, ignore = "needs redis-server")]
async fn a_redis_slower_than_the_budget_counts_as_down() {
    let redis = Redis::start();
    let proxy = slow_proxy(redis.addr().parse().unwrap(), Duration::from_millis(1_500)).await;
    // Budget 100 ms, replies 1.5 s late; `open`, and a burst of 1, so a
    // request past the first passes only because the store missed it.
    let store = store(
        "RL_TEST_SLOW_ADDR",
        &proxy.to_string(),
        StoreFailure::Open,
        100,
    );
    let (_origin, gateway, _dir) = per_ip_gateway(&store, 1, MINUTE_MS, 1).await;
    let client = client();
    for _ in 0..5 {
        let reply = request(&client, "GET", gateway.local_addr(), "/v1/x", &[]).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let metrics = gateway.store().metrics();
    assert_eq!(metrics.store_fallbacks("per-ip", "open"), 5);
    assert!(!metrics.store_up("per-ip"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(without_real_tools, ignore = "needs redis-server")]
async fn a_redis_that_stops_answering_is_left_for_a_new_connection() {
    let mut redis = Redis::start();
    let store = store(
        "RL_TEST_FROZEN_ADDR",
        &redis.addr(),
        StoreFailure::Open,
        100,
    );
    let (_origin, gateway, _dir) = per_ip_gateway(&store, 1, MINUTE_MS, 1_000).await;
    let client = client();
    let metrics = gateway.store().metrics();
    let reply = request(&client, "GET", gateway.local_addr(), "/v1/x", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(metrics.store_fallbacks("per-ip", "open"), 0);
    let before = redis.connections_received();
    // Frozen for well over the connection's bound (250 ms): the checks
    // fall back by their budget, and the store must give the silent
    // connection up rather than wait on it for as long as TCP would.
    redis.freeze(true);
    let frozen_at = Instant::now();
    while frozen_at.elapsed() < Duration::from_millis(1_500) {
        let reply = request(&client, "GET", gateway.local_addr(), "/v1/x", &[]).await;
        assert_eq!(reply.status, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    redis.freeze(false);
    assert!(metrics.store_fallbacks("per-ip", "open") > 0);
    let fallbacks = || metrics.store_fallbacks("per-ip", "open");
    let mut answered = false;
    for _ in 0..100 {
        let seen = fallbacks();
        let reply = request(&client, "GET", gateway.local_addr(), "/v1/x", &[]).await;
        assert_eq!(reply.status, StatusCode::OK);
        if fallbacks() == seen {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(answered, "no check reached the thawed Redis");
    // This count's own connection is one of them; the rest are the
    // store's: at least one new connection after the silent one.
    let after = redis.connections_received();
    assert!(
        after - before >= 2,
        "the store kept waiting on its silent connection ({before} -> {after})"
    );
    redis.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(without_real_tools, ignore = "needs redis-server")]
async fn a_flushed_script_is_loaded_again_without_a_failed_request() {
    let redis = Redis::start();
    let store = store(
        "RL_TEST_FLUSH_ADDR",
        &redis.addr(),
        StoreFailure::Closed,
        2_000,
    );
    let (_origin, gateway, _dir) = per_ip_gateway(&store, 1, MINUTE_MS, 10).await;
    let client = client();
    let remaining = || async {
        let reply = request(&client, "GET", gateway.local_addr(), "/v1/x", &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        reply.headers["ratelimit-remaining"]
            .to_str()
            .unwrap()
            .parse::<u32>()
            .unwrap()
    };
    let first = remaining().await;
    let flushed: String = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query(&mut redis.connection().unwrap())
        .unwrap();
    assert_eq!(flushed, "OK");
    // The same bucket goes on counting down: the check reached Redis.
    assert_eq!(remaining().await, first - 1);
    assert_eq!(remaining().await, first - 2);
    let metrics = gateway.store().metrics();
    assert_eq!(metrics.store_fallbacks("per-ip", "closed"), 0);
}

/// Calls of `EVALSHA` the server has answered so far.
fn evalsha_calls(redis: &Redis) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut redis.connection().unwrap())
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

/// The statuses of `count` GETs of `/v1/x`, one after the other.
async fn statuses_of(client: &HttpClient, addr: SocketAddr, count: usize) -> Vec<StatusCode> {
    let mut statuses = Vec::with_capacity(count);
    for _ in 0..count {
        statuses.push(request(client, "GET", addr, "/v1/x", &[]).await.status);
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(without_real_tools, ignore = "needs redis-server")]
async fn a_refused_client_costs_no_round_trip_until_its_wait_has_passed() {
    let redis = Redis::start();
    let store = store(
        "RL_TEST_CACHE_ADDR",
        &redis.addr(),
        StoreFailure::Closed,
        2_000,
    );
    let (_origin, gateway, _dir) = per_ip_gateway(&store, 1, MINUTE_MS, 2).await;
    let client = client();
    let statuses = statuses_of(&client, gateway.local_addr(), 3).await;
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    let asked = evalsha_calls(&redis);
    assert!(asked >= 3, "the store was asked {asked} times");
    for _ in 0..10 {
        let reply = request(&client, "GET", gateway.local_addr(), "/v1/x", &[]).await;
        assert_limited(&reply, "2");
    }
    assert_eq!(
        evalsha_calls(&redis),
        asked,
        "a refused client was asked about again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(without_real_tools, ignore = "needs redis-server")]
async fn the_local_fallback_allows_a_replicas_share_of_the_limit() {
    let mut redis = Redis::start();
    let store = store(
        "RL_TEST_SHARE_ADDR",
        &redis.addr(),
        StoreFailure::Local,
        500,
    );
    // Burst 9 on 3 replicas: 3 each while Redis is down.
    let (_origin, gateway, _dir) = per_ip_gateway(&store, 1, MINUTE_MS, 9).await;
    redis.stop();
    let client = client();
    let statuses = statuses_of(&client, gateway.local_addr(), 5).await;
    use StatusCode as S;
    assert_eq!(
        statuses,
        [
            S::OK,
            S::OK,
            S::OK,
            S::TOO_MANY_REQUESTS,
            S::TOO_MANY_REQUESTS
        ]
    );
    let metrics = gateway.store().metrics();
    assert_eq!(metrics.store_fallbacks("per-ip", "local"), 5);
}
