//! The store of shared rate limits: one Redis that every gateway replica
//! asks, so a limit holds for the platform and not per replica. A check is
//! one `EVALSHA` of [`GCRA_SCRIPT`], governor's GCRA in Lua on Redis's own
//! clock (`TIME`), so replicas' clocks never matter; the bucket is a single
//! key holding its theoretical arrival time, which expires by itself once
//! the bucket has refilled (a full bucket and a missing key are the same).
//!
//! The connection is the `redis` crate's [`ConnectionManager`]: one
//! multiplexed connection that reconnects by itself, created on the first
//! check (it needs the runtime). Checks do not go to it one by one: each
//! joins a queue, and one batching task sends whatever queued while the
//! runtime ran its other ready tasks as one pipeline, one write. Sent one
//! by one, each check was a write of its own (tokio runs the woken writer
//! right after the request that woke it), 1.8 writes to Redis per request
//! of a two-limiter chain where the answers already came back several to a
//! read; the writes were most of what sharing cost the gateway. The script
//! is hashed once; a Redis that lost it (`SCRIPT FLUSH`, a restart) answers
//! `NOSCRIPT`, and the batch loads it and runs those checks again. Every
//! check has a time budget: one that runs out is [`StoreError::Timeout`],
//! and what to do then is the caller's failure policy, not this module's.
//!
//! Addresses and credentials come from env vars named by the table, read
//! once when the table loads; this module never logs their values.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ErrorKind, IntoConnectionInfo, RedisResult, Script, ServerErrorKind};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The most checks one pipeline carries; more wait for the next one.
const MAX_BATCH: usize = 128;

/// GCRA with governor's semantics. `KEYS[1]`: the bucket; `ARGV[1]`: `t`,
/// microseconds one request takes to refill; `ARGV[2]`: `tau`,
/// `t * (burst - 1)`. Returns `{1, remaining}` for a conforming request
/// (and records it), `{0, wait_us}` for one that must wait `wait_us`.
pub const GCRA_SCRIPT: &str = r#"
local now = redis.call('TIME')
local t0 = tonumber(now[1]) * 1000000 + tonumber(now[2])
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or t0
local earliest = tat - tau
if t0 < earliest then
  return {0, earliest - t0}
end
local nxt = math.max(tat, t0) + t
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil((nxt - t0) / 1000))
return {1, math.floor(math.min(t0 + tau + t - nxt, tau + t) / t)}
"#;

/// Why a store could not be set up or could not answer a check.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("env var {0} (the rate-limit store's address) is not set")]
    AddressUnset(String),
    #[error("env var {0} is not set")]
    CredentialUnset(String),
    #[error("the rate-limit store's address in {env} is not usable: {source}")]
    Address {
        env: String,
        #[source]
        source: redis::RedisError,
    },
    #[error("the rate-limit store's connection could not be made: {0}")]
    Connect(String),
    #[error("the rate-limit store did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the rate-limit store failed: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("the rate-limit store answered {0:?}, not a decision")]
    Answer(Vec<i64>),
    #[error("the rate-limit store's batching task has stopped")]
    Stopped,
}

/// Where the store is and how to reach it, as the table names it.
#[derive(Debug, Clone)]
pub struct StoreSettings<'a> {
    pub address_env: &'a str,
    pub username_env: Option<&'a str>,
    pub password_env: Option<&'a str>,
    pub tls: bool,
    pub budget: Duration,
}

/// What the store decided about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Let through; `remaining` more would pass right now.
    Allowed { remaining: u32 },
    /// Over the limit until `wait` has passed.
    Refused { wait: Duration },
}

/// One Redis, the GCRA script and the time budget of a check.
pub struct LimitStore {
    client: Client,
    connection: OnceLock<Result<ConnectionManager, String>>,
    /// The batching task's queue, started with the first check.
    queue: OnceLock<mpsc::UnboundedSender<Check>>,
    script: Arc<Script>,
    budget: Duration,
}

/// One check waiting for its batch.
struct Check {
    key: String,
    t_us: u64,
    tau_us: u64,
    answer: oneshot::Sender<Result<Decision, StoreError>>,
}

impl std::fmt::Debug for LimitStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimitStore")
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl LimitStore {
    /// Reads the address and credentials from their env vars; connects on
    /// the first check, not here.
    pub fn new(settings: &StoreSettings<'_>) -> Result<Self, StoreError> {
        let address = env(settings.address_env)
            .ok_or_else(|| StoreError::AddressUnset(settings.address_env.to_owned()))?;
        let url = if address.contains("://") {
            address
        } else {
            let scheme = if settings.tls { "rediss" } else { "redis" };
            format!("{scheme}://{address}")
        };
        let bad_address = |source| StoreError::Address {
            env: settings.address_env.to_owned(),
            source,
        };
        let info = url.as_str().into_connection_info().map_err(bad_address)?;
        let mut redis = info.redis_settings().clone();
        if let Some(name) = settings.username_env {
            redis = redis.set_username(
                env(name).ok_or_else(|| StoreError::CredentialUnset(name.to_owned()))?,
            );
        }
        if let Some(name) = settings.password_env {
            redis = redis.set_password(
                env(name).ok_or_else(|| StoreError::CredentialUnset(name.to_owned()))?,
            );
        }
        let client = Client::open(info.set_redis_settings(redis)).map_err(bad_address)?;
        Ok(Self {
            client,
            connection: OnceLock::new(),
            queue: OnceLock::new(),
            script: Arc::new(Script::new(GCRA_SCRIPT)),
            budget: settings.budget,
        })
    }

    /// The time one check may take.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.budget.max(Duration::from_millis(250))))
            .set_response_timeout(Some(self.budget.max(Duration::from_millis(250))))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(500));
        let made = self.connection.get_or_init(|| {
            ConnectionManager::new_lazy_with_config(self.client.clone(), config)
                .map_err(|e| e.to_string())
        });
        made.clone().map_err(StoreError::Connect)
    }

    /// Connects and loads the script ahead of the first check, so that one
    /// does not pay for the connection and the `NOSCRIPT` round trips
    /// within its budget. Failing is fine: the checks retry by themselves.
    pub async fn warm_up(&self) -> Result<(), StoreError> {
        let mut connection = self.connection()?;
        self.script.load_async(&mut connection).await?;
        Ok(())
    }

    /// One GCRA check of `key`: `t_us` refills one request, `tau_us` is
    /// `t * (burst - 1)`. Within the budget, or [`StoreError::Timeout`].
    pub async fn check(&self, key: String, t_us: u64, tau_us: u64) -> Result<Decision, StoreError> {
        let queue = match self.queue.get() {
            Some(queue) => queue,
            None => {
                let connection = self.connection()?;
                self.queue.get_or_init(|| {
                    let (queue, checks) = mpsc::unbounded_channel();
                    tokio::spawn(batch_checks(checks, connection, self.script.clone()));
                    queue
                })
            }
        };
        let (answer, answered) = oneshot::channel();
        queue
            .send(Check {
                key,
                t_us,
                tau_us,
                answer,
            })
            .map_err(|_| StoreError::Stopped)?;
        match tokio::time::timeout(self.budget, answered).await {
            Err(_) => Err(StoreError::Timeout(self.budget)),
            Ok(Err(_)) => Err(StoreError::Stopped),
            Ok(Ok(decision)) => decision,
        }
    }
}

/// The batching task: waits for a check, lets the runtime run every other
/// ready task once (so the checks of the requests read in the same turn
/// queue too), then sends what queued as one pipeline. Pipelines are sent
/// without waiting for the one before, as single checks were. Ends when the
/// store is dropped.
async fn batch_checks(
    mut checks: mpsc::UnboundedReceiver<Check>,
    connection: ConnectionManager,
    script: Arc<Script>,
) {
    while let Some(first) = checks.recv().await {
        tokio::task::yield_now().await;
        let mut batch = Vec::with_capacity(MAX_BATCH.min(checks.len() + 1));
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match checks.try_recv() {
                Ok(check) => batch.push(check),
                Err(_) => break,
            }
        }
        // A check whose request gave up (its budget ran out) is not sent.
        batch.retain(|check| !check.answer.is_closed());
        if !batch.is_empty() {
            tokio::spawn(send_batch(batch, connection.clone(), script.clone()));
        }
    }
}

/// One pipeline of `EVALSHA`s; checks that met `NOSCRIPT` go again after
/// the script is loaded, once.
async fn send_batch(batch: Vec<Check>, mut connection: ConnectionManager, script: Arc<Script>) {
    let mut answers = run_pipeline(&batch, &mut connection, &script).await;
    let lost_script = |answer: &RedisResult<Vec<i64>>| matches!(answer, Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript));
    if let Ok(each) = &answers {
        if each.iter().any(lost_script) {
            answers = match script.prepare_invoke().load_async(&mut connection).await {
                Ok(_) => run_pipeline(&batch, &mut connection, &script).await,
                Err(e) => Err(e),
            };
        }
    }
    match answers {
        Ok(each) => {
            for (check, answer) in batch.into_iter().zip(each) {
                let _ = check
                    .answer
                    .send(answer.map_err(StoreError::from).and_then(decision));
            }
        }
        Err(e) => {
            for check in batch {
                let _ = check.answer.send(Err(StoreError::Redis(e.clone())));
            }
        }
    }
}

async fn run_pipeline(
    batch: &[Check],
    connection: &mut ConnectionManager,
    script: &Script,
) -> RedisResult<Vec<RedisResult<Vec<i64>>>> {
    let mut pipeline = redis::pipe();
    pipeline.ignore_errors();
    for check in batch {
        pipeline
            .cmd("EVALSHA")
            .arg(script.get_hash())
            .arg(1)
            .arg(&check.key)
            .arg(check.t_us)
            .arg(check.tau_us);
    }
    pipeline.query_async(connection).await
}

/// The script's answer as a decision.
fn decision(answer: Vec<i64>) -> Result<Decision, StoreError> {
    match answer.as_slice() {
        [1, remaining] => Ok(Decision::Allowed {
            remaining: u32::try_from(*remaining).unwrap_or(0),
        }),
        [0, wait_us] => Ok(Decision::Refused {
            wait: Duration::from_micros(u64::try_from(*wait_us).unwrap_or(0)),
        }),
        _ => Err(StoreError::Answer(answer)),
    }
}
