//! The defaults of every setting the route table carries: what `routec`
//! writes when `routes.dsl` leaves a setting out, and what the gateway
//! assumes when it meets a 0 it reads as "unset" (FORMAT.md says, field by
//! field, what a 0 means).
//!
//! One source of truth for both sides: the compiler fills these in when it
//! builds its model, and the data plane names the same constants instead
//! of repeating the numbers. This module holds values and [`or_default`], and
//! only settings that travel in the table; the compiler's own defaults for
//! other outputs (the gateway's image and port, PgBouncer's pool) stay in
//! the compiler. Durations are in the unit their name ends with.

/// `value`, or `default` when `value` is 0: how the gateway reads a
/// setting whose 0 means "the default" (FORMAT.md says which do).
pub fn or_default<T: PartialEq + Default>(value: T, default: T) -> T {
    if value == T::default() {
        default
    } else {
        value
    }
}

// The gateway record.

/// Client connections the gateway keeps open at once.
pub const MAX_CONNECTIONS: u32 = 10_000;
/// Bytes of request head (request line and headers) the gateway accepts.
pub const MAX_HEADER_BYTES: u64 = 16 * 1024;
/// Bytes of request body the gateway accepts.
pub const MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;
/// Time a client has to send its whole request head.
pub const HEADER_TIMEOUT_MS: u64 = 10_000;
/// How long a resolved upstream address is reused.
pub const DNS_TTL_MS: u64 = 300_000;
/// Upstream requests in flight, over all services.
pub const POOL_MAX_TOTAL: u32 = 100;
/// Upstream requests in flight to one instance.
pub const POOL_MAX_PER_HOST: u32 = 20;
/// How long an idle upstream connection is kept for reuse.
pub const POOL_IDLE_TIMEOUT_MS: u64 = 90_000;

// A service record.

/// Time between two health probes of an instance.
pub const HEALTH_INTERVAL_MS: u64 = 30_000;
/// Time a health probe may take before it counts as failed.
pub const HEALTH_TIMEOUT_MS: u64 = 5_000;
/// Consecutive passed probes that bring an instance back up.
pub const HEALTHY_THRESHOLD: u32 = 1;
/// Consecutive failed probes that take an instance down.
pub const UNHEALTHY_THRESHOLD: u32 = 3;
/// Time to open a connection to an instance.
pub const CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Time an instance has to send the response head.
pub const RESPONSE_TIMEOUT_MS: u64 = 30_000;
/// Time a WebSocket may stay silent in both directions before it is closed.
pub const WEBSOCKET_IDLE_MS: u64 = 300_000;

// Middleware bodies.

/// How long a browser may cache a CORS preflight answer.
pub const CORS_MAX_AGE_S: u64 = 600;
/// Clock skew allowed on a JWT's `exp` and `nbf`.
pub const JWT_LEEWAY_S: u64 = 30;
/// The JWT claim that lists the caller's roles.
pub const JWT_ROLES_CLAIM: &str = "roles";
/// Requests a rate limit lets through at once beyond its average.
pub const RATE_LIMIT_BURST: u64 = 1;
/// Milliseconds one check of a shared rate limit may take in its store
/// before the store counts as down.
pub const RATE_LIMIT_STORE_TIMEOUT_MS: u64 = 5;
/// Responses the cache holds at most.
pub const CACHE_MAX_ENTRIES: u64 = 10_000;
/// Bytes of responses the cache holds at most.
pub const CACHE_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// The methods whose responses the cache stores (the only cacheable ones).
pub const CACHE_METHODS: &[&str] = &["GET", "HEAD"];
/// The body format of the errors middleware (the only one there is).
pub const ERRORS_FORMAT: &str = "json";
