//! A process-wide monotonic clock in whole milliseconds, so that time stamps
//! can live in atomics (ejection deadlines, health transitions) without a
//! lock. It owns no timers; sleeping is tokio's business.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Milliseconds since the first call in this process; never decreases.
pub fn now_ms() -> u64 {
    // +1 so that 0 can mean "never" in atomics holding deadlines.
    epoch().elapsed().as_millis() as u64 + 1
}

/// `d` with up to `fraction` of random spread either way, so that probes
/// started together drift apart instead of hitting upstreams in lock step.
pub fn jittered(d: Duration, fraction: f64) -> Duration {
    let spread = d.as_secs_f64() * fraction;
    let offset = (fastrand::f64() * 2.0 - 1.0) * spread;
    Duration::from_secs_f64((d.as_secs_f64() + offset).max(0.001))
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-01-02T03:04:05.678Z`.
pub fn timestamp(at: std::time::SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}
