//! The store of shared rate limits: one Redis that every gateway replica
//! asks, so a limit holds for the platform and not per replica. A check is
//! one `EVALSHA` of [`GCRA_SCRIPT`], governor's GCRA in Lua on Redis's own
//! clock (`TIME`), so replicas' clocks never matter; the bucket is a single
//! key holding its theoretical arrival time, which expires by itself once
//! the bucket has refilled (a full bucket and a missing key are the same).
//!
//! This module owns the whole client: one connection per store, made by
//! its tasks on the first check (they need the runtime), the command
//! encoding and the reply parser ([`resp`]). It is our own code and not the
//! `redis` crate because callgrind put a shared check at ~27k instructions,
//! ~12k of them the crate's multiplexed connection driver, ~7k its reply
//! parser and ~5k `ConnectionManager` and `Cmd`/pipeline encoding, which
//! made a two-limiter chain cost 124.8k instructions a request against
//! 69.7k with the same limits local.
//!
//! Checks do not go to the connection one by one: each joins a queue, and
//! one task sends whatever queued while the runtime ran its other ready
//! tasks as one write. Sent one by one, each check was a write of its own
//! (tokio runs the woken writer right after the request that woke it), 1.8
//! writes to Redis per request of a two-limiter chain where the answers
//! already came back several to a read. The connection is pipelined: the
//! writing task hands each batch's answer senders to a reading task before
//! writing it, and never waits for replies; the reader answers the checks
//! in order as the replies come.
//!
//! The script is hashed once; a Redis that lost it (`SCRIPT FLUSH`, a
//! restart) answers `NOSCRIPT`, and those checks go again, once, behind a
//! `SCRIPT LOAD`. An error reply answers its own check only; an I/O or
//! protocol error answers every check in flight with an error and drops
//! the connection, and the next check connects again, no sooner than a
//! backoff (10 ms doubling to 500 ms) after the last failure; checks that
//! come sooner fail at once, so nothing spins while Redis is down. Every
//! check has a time budget: one that runs out is [`StoreError::Timeout`],
//! and what to do then is the caller's failure policy, not this module's.
//!
//! Addresses and credentials come from env vars named by the table, read
//! once when the table loads; this module never logs their values.

#[doc(hidden)]
pub mod resp;

use bytes::{Buf, BytesMut};
use resp::Reply;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// The most checks one write carries; more wait for the next one.
const MAX_BATCH: usize = 128;
/// The shortest connect and handshake bound, whatever the budget.
const MIN_CONNECT_TIMEOUT: Duration = Duration::from_millis(250);
/// The first wait before connecting again after a failure, and the most
/// it doubles to.
const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_millis(500);
const DEFAULT_PORT: u16 = 6379;

/// GCRA with governor's semantics. `KEYS[1]`: the bucket; `ARGV[1]`: `t`,
/// microseconds one request takes to refill; `ARGV[2]`: `tau`,
/// `t * (burst - 1)`. Returns one integer: `remaining + 1` (at least 1)
/// for a conforming request (and records it), `-wait_us` (at most -1) for
/// one that must wait `wait_us`. One integer, not a pair: Redis spends a
/// sixth of the call building and converting a reply table (measured with
/// `INFO commandstats`: 4.5 against 3.8 µs a call).
pub const GCRA_SCRIPT: &str = r#"
local now = redis.call('TIME')
local t0 = tonumber(now[1]) * 1000000 + tonumber(now[2])
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or t0
local earliest = tat - tau
if t0 < earliest then
  return t0 - earliest
end
if tat < t0 then
  tat = t0
end
local nxt = tat + t
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil((nxt - t0) / 1000))
return math.floor((t0 + tau + t - nxt) / t) + 1
"#;

/// Why a store could not be set up or could not answer a check.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("env var {0} (the rate-limit store's address) is not set")]
    AddressUnset(String),
    #[error("env var {0} is not set")]
    CredentialUnset(String),
    #[error("the rate-limit store's address in {env} is not usable: {reason}")]
    Address { env: String, reason: String },
    #[error("the rate-limit store's connection could not be made: {0}")]
    Connect(String),
    #[error("the rate-limit store did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the rate-limit store is down; the next connection attempt is in {0:?}")]
    Down(Duration),
    #[error("the rate-limit store's connection failed: {0}")]
    Io(#[source] Arc<std::io::Error>),
    #[error("the rate-limit store closed the connection")]
    Closed,
    #[error("the rate-limit store sent a malformed reply: {0}")]
    Protocol(#[from] resp::ProtocolError),
    #[error("the rate-limit store sent a reply nothing asked for")]
    Unrequested,
    #[error("the rate-limit store answered an error: {0}")]
    Server(String),
    #[error("the rate-limit store answered {0}, not a decision")]
    Answer(String),
    #[error("the rate-limit store's batching task has stopped")]
    Stopped,
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(Arc::new(e))
    }
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
    target: Arc<Target>,
    /// The connection task's queue, started with the first check.
    queue: OnceLock<mpsc::UnboundedSender<Job>>,
    budget: Duration,
}

/// Where to connect and how to introduce ourselves. Not `Debug`: it holds
/// the credentials.
struct Target {
    host: String,
    port: u16,
    tls: bool,
    username: Option<Vec<u8>>,
    password: Option<Vec<u8>>,
    db: Option<u32>,
    /// Bounds the connect, TLS and AUTH/SELECT together.
    connect_timeout: Duration,
}

/// What the connection task is asked to do.
enum Job {
    Check(Check),
    /// Load the script (warm-up), answering when it is loaded.
    Load(oneshot::Sender<Result<(), StoreError>>),
    /// Checks that met `NOSCRIPT`: again, behind a `SCRIPT LOAD`.
    Retry(Vec<Check>),
}

/// One check waiting for its batch.
struct Check {
    key: String,
    t_us: u64,
    tau_us: u64,
    /// Whether this check already met `NOSCRIPT` once.
    retried: bool,
    answer: oneshot::Sender<Result<Decision, StoreError>>,
}

/// A command written and not yet answered, in the order written.
enum Pending {
    Check(Check),
    /// A `SCRIPT LOAD`; a warm-up waits for it, a retry does not.
    Load(Option<oneshot::Sender<Result<(), StoreError>>>),
}

impl Pending {
    fn fail(self, error: &StoreError) {
        match self {
            Pending::Check(check) => {
                let _ = check.answer.send(Err(error.clone()));
            }
            Pending::Load(Some(answer)) => {
                let _ = answer.send(Err(error.clone()));
            }
            Pending::Load(None) => {}
        }
    }
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
        let mut target =
            parse_address(&address, settings.tls).map_err(|reason| StoreError::Address {
                env: settings.address_env.to_owned(),
                reason,
            })?;
        // The env vars the table names win over credentials in the URL.
        let credential = |name: &str| {
            env(name)
                .map(String::into_bytes)
                .ok_or_else(|| StoreError::CredentialUnset(name.to_owned()))
        };
        if let Some(name) = settings.username_env {
            target.username = Some(credential(name)?);
        }
        if let Some(name) = settings.password_env {
            target.password = Some(credential(name)?);
        }
        target.connect_timeout = settings.budget.max(MIN_CONNECT_TIMEOUT);
        Ok(Self {
            target: Arc::new(target),
            queue: OnceLock::new(),
            budget: settings.budget,
        })
    }

    /// The time one check may take.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// The connection task's queue; the first call starts the task.
    fn queue(&self) -> &mpsc::UnboundedSender<Job> {
        self.queue.get_or_init(|| {
            let (queue, jobs) = mpsc::unbounded_channel();
            // The tasks hold the queue weakly (for NOSCRIPT retries), so
            // dropping the store ends them.
            tokio::spawn(run_connection(jobs, queue.downgrade(), self.target.clone()));
            queue
        })
    }

    /// Connects and loads the script ahead of the first check, so that one
    /// does not pay for the connection and the `NOSCRIPT` round trips
    /// within its budget. Failing is fine: the checks retry by themselves.
    pub async fn warm_up(&self) -> Result<(), StoreError> {
        let (answer, answered) = oneshot::channel();
        self.queue()
            .send(Job::Load(answer))
            .map_err(|_| StoreError::Stopped)?;
        let bound = self.target.connect_timeout + self.budget;
        match tokio::time::timeout(bound, answered).await {
            Err(_) => Err(StoreError::Timeout(bound)),
            Ok(Err(_)) => Err(StoreError::Stopped),
            Ok(Ok(loaded)) => loaded,
        }
    }

    /// One GCRA check of `key`: `t_us` refills one request, `tau_us` is
    /// `t * (burst - 1)`. Within the budget, or [`StoreError::Timeout`].
    pub async fn check(&self, key: String, t_us: u64, tau_us: u64) -> Result<Decision, StoreError> {
        let (answer, answered) = oneshot::channel();
        self.queue()
            .send(Job::Check(Check {
                key,
                t_us,
                tau_us,
                retried: false,
                answer,
            }))
            .map_err(|_| StoreError::Stopped)?;
        match tokio::time::timeout(self.budget, answered).await {
            Err(_) => Err(StoreError::Timeout(self.budget)),
            Ok(Err(_)) => Err(StoreError::Stopped),
            Ok(Ok(decision)) => decision,
        }
    }
}

/// `host:port` (with the scheme `tls` asks for) or a `redis://` /
/// `rediss://` URL with optional `user:password@` and `/db`.
fn parse_address(address: &str, tls: bool) -> Result<Target, String> {
    let url = if address.contains("://") {
        url::Url::parse(address)
    } else {
        url::Url::parse(&format!("redis://{address}"))
    }
    .map_err(|e| e.to_string())?;
    let tls = match url.scheme() {
        "redis" => tls,
        "rediss" => true,
        other => return Err(format!("the scheme {other:?} is neither redis nor rediss")),
    };
    let host = url
        .host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .filter(|h| !h.is_empty())
        .ok_or("it names no host")?
        .to_owned();
    let decoded = |part: &str| percent_encoding::percent_decode_str(part).collect::<Vec<u8>>();
    let username = Some(url.username()).filter(|u| !u.is_empty()).map(decoded);
    let password = url.password().map(decoded);
    let db = match url.path().trim_matches('/') {
        "" => None,
        db => Some(
            db.parse()
                .map_err(|_| format!("the database {db:?} is not a number"))?,
        ),
    };
    Ok(Target {
        host,
        port: url.port().unwrap_or(DEFAULT_PORT),
        tls,
        username,
        password,
        db,
        connect_timeout: MIN_CONNECT_TIMEOUT,
    })
}

/// The script's hash and the bytes every command about it starts with,
/// made once.
struct ScriptCommands {
    /// `EVALSHA <sha1> 1`, the first four of six arguments.
    evalsha: Vec<u8>,
    /// `SCRIPT LOAD <script>`, whole.
    load: Vec<u8>,
}

fn script_commands() -> &'static ScriptCommands {
    static COMMANDS: OnceLock<ScriptCommands> = OnceLock::new();
    COMMANDS.get_or_init(|| {
        let sha = sha1_smol::Sha1::from(GCRA_SCRIPT).digest().to_string();
        let mut evalsha = b"*6\r\n".to_vec();
        for arg in [&b"EVALSHA"[..], sha.as_bytes(), b"1"] {
            push_bulk(&mut evalsha, arg);
        }
        let mut load = Vec::new();
        push_command(&mut load, &[b"SCRIPT", b"LOAD", GCRA_SCRIPT.as_bytes()]);
        ScriptCommands { evalsha, load }
    })
}

/// One RESP bulk string: `$<len>\r\n<bytes>\r\n`.
fn push_bulk(buf: &mut Vec<u8>, arg: &[u8]) {
    buf.push(b'$');
    buf.extend_from_slice(itoa::Buffer::new().format(arg.len()).as_bytes());
    buf.extend_from_slice(b"\r\n");
    buf.extend_from_slice(arg);
    buf.extend_from_slice(b"\r\n");
}

/// One command as a RESP array of bulk strings.
fn push_command(buf: &mut Vec<u8>, args: &[&[u8]]) {
    buf.push(b'*');
    buf.extend_from_slice(itoa::Buffer::new().format(args.len()).as_bytes());
    buf.extend_from_slice(b"\r\n");
    for arg in args {
        push_bulk(buf, arg);
    }
}

/// `EVALSHA <sha1> 1 <key> <t> <tau>`.
fn push_check(buf: &mut Vec<u8>, check: &Check) {
    buf.extend_from_slice(&script_commands().evalsha);
    push_bulk(buf, check.key.as_bytes());
    push_bulk(buf, itoa::Buffer::new().format(check.t_us).as_bytes());
    push_bulk(buf, itoa::Buffer::new().format(check.tau_us).as_bytes());
}

/// When the next connection attempt may be made.
struct Backoff {
    delay: Duration,
    not_before: Option<Instant>,
}

impl Backoff {
    fn failed(&mut self) {
        self.not_before = Some(Instant::now() + self.delay);
        self.delay = (self.delay * 2).min(MAX_BACKOFF);
    }

    fn connected(&mut self) {
        self.delay = MIN_BACKOFF;
        self.not_before = None;
    }

    /// How long until an attempt may be made, if it may not be now.
    fn wait(&self) -> Option<Duration> {
        let wait = self.not_before?.saturating_duration_since(Instant::now());
        (!wait.is_zero()).then_some(wait)
    }
}

type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// A live connection as the writing task holds it. Dropping it drops the
/// reader's `kill` sender, which makes the reader answer whatever is in
/// flight with an error and end.
struct Link {
    write: WriteHalf,
    in_flight: mpsc::UnboundedSender<Vec<Pending>>,
    _kill: oneshot::Sender<()>,
    /// Commands written on this connection, and answered (by the reader).
    sent: u64,
    answered: Arc<AtomicU64>,
    /// The answered count when it last moved (or nothing was outstanding),
    /// and when: a Redis that keeps the connection open and answers
    /// nothing would otherwise hold every check in flight until TCP gives
    /// up, and the store would never reconnect.
    progress: (u64, Instant),
}

impl Link {
    /// Whether commands have been outstanding for longer than `stale`
    /// with no answer in between. Read once per batch, not per check.
    fn stalled(&mut self, stale: Duration) -> bool {
        let answered = self.answered.load(Ordering::Relaxed);
        let now = Instant::now();
        if answered == self.sent || answered != self.progress.0 {
            self.progress = (answered, now);
            return false;
        }
        now.duration_since(self.progress.1) > stale
    }
}

/// The writing task: waits for a job, lets the runtime run every other
/// ready task once (so the checks of the requests read in the same turn
/// queue too), then writes what queued as one write, (re)connecting first
/// if there is no connection. Ends when the store is dropped.
async fn run_connection(
    mut jobs: mpsc::UnboundedReceiver<Job>,
    retries: mpsc::WeakUnboundedSender<Job>,
    target: Arc<Target>,
) {
    let mut link: Option<Link> = None;
    let mut backoff = Backoff {
        delay: MIN_BACKOFF,
        not_before: None,
    };
    let mut tls = None;
    let mut buf = Vec::with_capacity(4096);
    while let Some(first) = jobs.recv().await {
        tokio::task::yield_now().await;
        let mut batch = Vec::with_capacity(MAX_BATCH.min(jobs.len() + 1));
        let mut load = false;
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(job) = next {
            taken += 1;
            match job {
                Job::Check(check) => batch.push(Pending::Check(check)),
                Job::Load(answer) => batch.push(Pending::Load(Some(answer))),
                Job::Retry(checks) => {
                    load = true;
                    batch.extend(checks.into_iter().map(Pending::Check));
                }
            }
            next = if taken < MAX_BATCH {
                jobs.try_recv().ok()
            } else {
                None
            };
        }
        // A check whose request gave up (its budget ran out) is not sent.
        batch.retain(|p| !matches!(p, Pending::Check(check) if check.answer.is_closed()));
        if batch.is_empty() {
            continue;
        }
        if load {
            batch.insert(0, Pending::Load(None));
        }
        if link.as_ref().is_some_and(|l| l.in_flight.is_closed()) {
            // The reader met an error and answered what was in flight.
            link = None;
            backoff.failed();
        }
        if link
            .as_mut()
            .is_some_and(|l| l.stalled(target.connect_timeout))
        {
            // Dropping the link makes the reader answer what is in flight.
            tracing::debug!("the rate-limit store stopped answering; reconnecting");
            link = None;
            backoff.failed();
        }
        let live = match &mut link {
            Some(live) => live,
            None => {
                if let Some(wait) = backoff.wait() {
                    fail_all(batch, &StoreError::Down(wait));
                    continue;
                }
                let made = tokio::time::timeout(target.connect_timeout, connect(&target, &mut tls))
                    .await
                    .unwrap_or(Err(StoreError::Timeout(target.connect_timeout)));
                match made {
                    Ok((read, write)) => {
                        backoff.connected();
                        let (in_flight, batches) = mpsc::unbounded_channel();
                        let (kill, killed) = oneshot::channel();
                        let answered = Arc::new(AtomicU64::new(0));
                        tokio::spawn(read_replies(
                            read,
                            batches,
                            killed,
                            retries.clone(),
                            answered.clone(),
                        ));
                        link.insert(Link {
                            write,
                            in_flight,
                            _kill: kill,
                            sent: 0,
                            answered,
                            progress: (0, Instant::now()),
                        })
                    }
                    Err(e) => {
                        backoff.failed();
                        fail_all(batch, &e);
                        continue;
                    }
                }
            }
        };
        buf.clear();
        for pending in &batch {
            match pending {
                Pending::Check(check) => push_check(&mut buf, check),
                Pending::Load(_) => buf.extend_from_slice(&script_commands().load),
            }
        }
        let commands = batch.len() as u64;
        // The reader learns what to expect before the bytes go out, so no
        // reply can come before its sender.
        if let Err(mpsc::error::SendError(batch)) = live.in_flight.send(batch) {
            link = None;
            backoff.failed();
            fail_all(batch, &StoreError::Closed);
            continue;
        }
        // A Redis that stops reading fills the socket; that is a failure
        // too, or the queue would grow behind a write that never ends.
        live.sent += commands;
        let written =
            tokio::time::timeout(target.connect_timeout, live.write.write_all(&buf)).await;
        if !matches!(written, Ok(Ok(()))) {
            link = None;
            backoff.failed();
        }
    }
}

fn fail_all(batch: Vec<Pending>, error: &StoreError) {
    for pending in batch {
        pending.fail(error);
    }
}

/// TCP (no Nagle: every write is a whole batch), TLS if asked, then
/// `AUTH` and `SELECT` if the address or the env vars ask for them.
async fn connect(
    target: &Target,
    tls: &mut Option<Arc<rustls::ClientConfig>>,
) -> Result<(ReadHalf, WriteHalf), StoreError> {
    let connect_error = |e: std::io::Error| StoreError::Connect(e.to_string());
    let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(connect_error)?;
    tcp.set_nodelay(true).map_err(connect_error)?;
    let (mut read, mut write): (ReadHalf, WriteHalf) = if target.tls {
        let config = match tls {
            Some(config) => Arc::clone(config),
            None => tls.insert(tls_config()?).clone(),
        };
        let name = rustls::pki_types::ServerName::try_from(target.host.clone()).map_err(|_| {
            StoreError::Connect(format!("{:?} is not a TLS server name", target.host))
        })?;
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(connect_error)?;
        let (read, write) = tokio::io::split(stream);
        (Box::new(read), Box::new(write))
    } else {
        let (read, write) = tcp.into_split();
        (Box::new(read), Box::new(write))
    };
    handshake(&mut read, &mut write, target).await?;
    Ok((read, write))
}

/// Roots from the system's store, the workspace's rustls on ring.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if roots.is_empty() {
        return Err(StoreError::Connect(
            "the system has no root certificates".into(),
        ));
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| StoreError::Connect(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// `AUTH [user] password` and `SELECT db`, pipelined, each answered `+OK`
/// or the connection is refused. The credentials go on the wire only.
async fn handshake(
    read: &mut ReadHalf,
    write: &mut WriteHalf,
    target: &Target,
) -> Result<(), StoreError> {
    let mut buf = Vec::new();
    let mut expected = 0;
    if let Some(password) = &target.password {
        match &target.username {
            Some(user) => push_command(&mut buf, &[b"AUTH", user, password]),
            None => push_command(&mut buf, &[b"AUTH", password]),
        }
        expected += 1;
    }
    if let Some(db) = target.db {
        push_command(
            &mut buf,
            &[b"SELECT", itoa::Buffer::new().format(db).as_bytes()],
        );
        expected += 1;
    }
    if expected == 0 {
        return Ok(());
    }
    write.write_all(&buf).await?;
    let mut replies = BytesMut::with_capacity(256);
    while expected > 0 {
        match resp::parse(&replies)? {
            Some((reply, used)) => {
                replies.advance(used);
                expected -= 1;
                match reply {
                    Reply::Simple(_) => {}
                    Reply::Error(e) => {
                        return Err(StoreError::Connect(format!(
                            "the handshake was refused: {}",
                            String::from_utf8_lossy(&e)
                        )))
                    }
                    other => return Err(StoreError::Answer(format!("{other:?}"))),
                }
            }
            None => {
                if read.read_buf(&mut replies).await? == 0 {
                    return Err(StoreError::Closed);
                }
            }
        }
    }
    Ok(())
}

/// The reading task: parses replies in order and answers each command in
/// flight, until an I/O or protocol error, the end of the stream or the
/// writer dropping the connection; then answers whatever is still in
/// flight with that error.
async fn read_replies(
    mut read: ReadHalf,
    mut batches: mpsc::UnboundedReceiver<Vec<Pending>>,
    mut killed: oneshot::Receiver<()>,
    retries: mpsc::WeakUnboundedSender<Job>,
    answered: Arc<AtomicU64>,
) {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut in_flight: VecDeque<Pending> = VecDeque::new();
    let failure = 'connection: loop {
        let mut again = Vec::new();
        let parsed = loop {
            match resp::parse(&buf) {
                Ok(Some((reply, used))) => {
                    buf.advance(used);
                    if in_flight.is_empty() {
                        while let Ok(batch) = batches.try_recv() {
                            in_flight.extend(batch);
                        }
                    }
                    match in_flight.pop_front() {
                        Some(pending) => {
                            answered.fetch_add(1, Ordering::Relaxed);
                            answer(pending, reply, &mut again)
                        }
                        None => break Err(StoreError::Unrequested),
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(StoreError::Protocol(e)),
            }
        };
        if !again.is_empty() {
            // If the store is gone, dropping them answers them `Stopped`.
            if let Some(queue) = retries.upgrade() {
                let _ = queue.send(Job::Retry(again));
            }
        }
        if let Err(e) = parsed {
            break e;
        }
        tokio::select! {
            biased;
            _ = &mut killed => break 'connection StoreError::Closed,
            read = read.read_buf(&mut buf) => match read {
                Ok(0) => break StoreError::Closed,
                Ok(_) => {}
                Err(e) => break StoreError::from(e),
            },
        }
    };
    batches.close();
    fail_all(in_flight.into(), &failure);
    while let Ok(batch) = batches.try_recv() {
        fail_all(batch, &failure);
    }
}

/// One reply applied to the command it answers.
fn answer(pending: Pending, reply: Reply, again: &mut Vec<Check>) {
    match pending {
        Pending::Load(answer) => {
            let loaded = match reply {
                Reply::Bulk(Some(_)) => Ok(()),
                other => Err(unexpected(other)),
            };
            if let Some(answer) = answer {
                let _ = answer.send(loaded);
            }
        }
        Pending::Check(check) => match reply {
            Reply::Error(e) if e.starts_with(b"NOSCRIPT") && !check.retried => {
                again.push(Check {
                    retried: true,
                    ..check
                });
            }
            reply => {
                let _ = check.answer.send(decision(reply));
            }
        },
    }
}

fn unexpected(reply: Reply) -> StoreError {
    match reply {
        Reply::Error(e) => StoreError::Server(String::from_utf8_lossy(&e).into_owned()),
        other => StoreError::Answer(format!("{other:?}")),
    }
}

/// The script's answer as a decision.
fn decision(reply: Reply) -> Result<Decision, StoreError> {
    match reply {
        Reply::Integer(n @ 1..) => Ok(Decision::Allowed {
            remaining: u32::try_from(n - 1).unwrap_or(u32::MAX),
        }),
        Reply::Integer(n @ ..=-1) => Ok(Decision::Refused {
            wait: Duration::from_micros(n.unsigned_abs()),
        }),
        other => Err(unexpected(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_is_one_resp_array_of_bulk_strings() {
        let (answer, _answered) = oneshot::channel();
        let check = Check {
            key: "rl:ip:1".into(),
            t_us: 100_000,
            tau_us: 0,
            retried: false,
            answer,
        };
        let mut buf = Vec::new();
        push_check(&mut buf, &check);
        let sha = sha1_smol::Sha1::from(GCRA_SCRIPT).digest().to_string();
        let expected = format!(
            "*6\r\n$7\r\nEVALSHA\r\n$40\r\n{sha}\r\n$1\r\n1\r\n$7\r\nrl:ip:1\r\n$6\r\n100000\r\n$1\r\n0\r\n"
        );
        assert_eq!(String::from_utf8(buf).unwrap(), expected);

        let mut buf = Vec::new();
        push_command(&mut buf, &[b"AUTH", b"", b"p w"]);
        assert_eq!(buf, b"*3\r\n$4\r\nAUTH\r\n$0\r\n\r\n$3\r\np w\r\n");
    }

    #[test]
    fn addresses_are_host_port_or_redis_urls() {
        let plain = parse_address("127.0.0.1:7000", false).unwrap();
        assert_eq!(
            (plain.host.as_str(), plain.port, plain.tls),
            ("127.0.0.1", 7000, false)
        );
        assert!(plain.username.is_none() && plain.password.is_none() && plain.db.is_none());
        assert!(parse_address("cache.internal:6380", true).unwrap().tls);

        let url = parse_address("rediss://al%40ice:p%3Ass@[::1]/3", false).unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.tls),
            ("::1", DEFAULT_PORT, true)
        );
        assert_eq!(url.username.as_deref(), Some(&b"al@ice"[..]));
        assert_eq!(url.password.as_deref(), Some(&b"p:ss"[..]));
        assert_eq!(url.db, Some(3));
        let only_password = parse_address("redis://:pw@h:1", false).unwrap();
        assert!(only_password.username.is_none());
        assert_eq!(only_password.password.as_deref(), Some(&b"pw"[..]));

        for bad in ["http://h:1", "redis://h:1/x", "redis://:1", "h:99999"] {
            assert!(parse_address(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn decisions_come_from_one_signed_integer_only() {
        assert_eq!(
            decision(Reply::Integer(5)).unwrap(),
            Decision::Allowed { remaining: 4 }
        );
        assert_eq!(
            decision(Reply::Integer(1)).unwrap(),
            Decision::Allowed { remaining: 0 }
        );
        assert_eq!(
            decision(Reply::Integer(-1500)).unwrap(),
            Decision::Refused {
                wait: Duration::from_micros(1500)
            }
        );
        for unexpected in [
            Reply::Integer(0),
            Reply::Array(Some(vec![Reply::Integer(1), Reply::Integer(4)])),
        ] {
            assert!(matches!(decision(unexpected), Err(StoreError::Answer(_))));
        }
        assert!(
            matches!(decision(Reply::Error(b"ERR boom".to_vec())), Err(StoreError::Server(e)) if e == "ERR boom")
        );
    }
}
