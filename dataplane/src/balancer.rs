//! Choosing an instance: the per-instance state that active and passive
//! health share ([`InstanceState`], which outlives table reloads), and the
//! policies (round-robin, least requests, random) over the instances that
//! are up and not ejected. It does not probe (that is [`crate::health`]) and
//! does not send requests.

use crate::clock::now_ms;
use routetable::defaults::{self, or_default};
use std::borrow::Borrow;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// The balance policy of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    RoundRobin,
    LeastRequests,
    Random,
}

/// When the passive checks take an instance out of rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassivePolicy {
    /// Consecutive failed attempts before an ejection.
    pub max_failures: u32,
    /// How long the first ejection lasts; each further one doubles it, up
    /// to eight times this, until the instance succeeds again.
    pub base_ejection_ms: u64,
}

impl Default for PassivePolicy {
    fn default() -> Self {
        Self {
            max_failures: 3,
            base_ejection_ms: 10_000,
        }
    }
}

/// What the gateway knows about one instance. Kept across reloads for as
/// long as the instance's name and health settings stay the same.
#[derive(Debug)]
pub struct InstanceState {
    /// Active health verdict; instances start up (optimistic).
    up: AtomicBool,
    consecutive_ok: AtomicU32,
    consecutive_failed: AtomicU32,
    /// Passive: failed requests in a row, and ejection.
    request_failures: AtomicU32,
    ejected_until_ms: AtomicU64,
    ejections_in_a_row: AtomicU32,
    ejections_total: AtomicU64,
    in_flight: AtomicU32,
    /// How long the last active probe took, in microseconds; `u64::MAX`
    /// before the first. Read by `/health`.
    probe_latency_us: AtomicU64,
}

impl Default for InstanceState {
    fn default() -> Self {
        Self {
            up: AtomicBool::new(true),
            consecutive_ok: AtomicU32::new(0),
            consecutive_failed: AtomicU32::new(0),
            request_failures: AtomicU32::new(0),
            ejected_until_ms: AtomicU64::new(0),
            ejections_in_a_row: AtomicU32::new(0),
            ejections_total: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
            probe_latency_us: AtomicU64::new(u64::MAX),
        }
    }
}

/// A read-only view of an instance's state, for `/health` and tests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InstanceHealth {
    pub up: bool,
    pub ejected: bool,
    pub ejections_total: u64,
    pub in_flight: u32,
    /// The last active probe's duration; `None` before the first probe.
    pub probe_latency_us: Option<u64>,
}

impl InstanceState {
    /// Up by the active checks and not ejected by the passive ones.
    pub fn available(&self, now_ms: u64) -> bool {
        self.up.load(Ordering::Relaxed) && self.ejected_until_ms.load(Ordering::Relaxed) <= now_ms
    }

    pub fn health(&self) -> InstanceHealth {
        InstanceHealth {
            up: self.up.load(Ordering::Relaxed),
            ejected: self.ejected_until_ms.load(Ordering::Relaxed) > now_ms(),
            ejections_total: self.ejections_total.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            probe_latency_us: Some(self.probe_latency_us.load(Ordering::Relaxed))
                .filter(|&us| us != u64::MAX),
        }
    }

    /// How long an active probe took (answered or not).
    pub fn record_probe_latency(&self, elapsed: std::time::Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX - 1);
        self.probe_latency_us
            .store(us.min(u64::MAX - 1), Ordering::Relaxed);
    }

    /// An active probe's result. Returns `Some(new verdict)` on a change.
    pub fn record_probe(
        &self,
        ok: bool,
        healthy_threshold: u32,
        unhealthy_threshold: u32,
    ) -> Option<bool> {
        let (mine, other, threshold) = if ok {
            (
                &self.consecutive_ok,
                &self.consecutive_failed,
                or_default(healthy_threshold, defaults::HEALTHY_THRESHOLD),
            )
        } else {
            (
                &self.consecutive_failed,
                &self.consecutive_ok,
                or_default(unhealthy_threshold, defaults::UNHEALTHY_THRESHOLD),
            )
        };
        other.store(0, Ordering::Relaxed);
        let run = mine.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        if run < threshold || self.up.load(Ordering::Relaxed) == ok {
            return None;
        }
        self.up.store(ok, Ordering::Relaxed);
        if ok {
            // The active check has seen it recover: end any passive ejection.
            self.ejected_until_ms.store(0, Ordering::Relaxed);
            self.request_failures.store(0, Ordering::Relaxed);
        }
        Some(ok)
    }

    /// A request reached the instance and got a response.
    pub fn record_success(&self) {
        // Read first: the common case writes nothing, so instances under
        // load do not bounce a cache line between cores.
        if self.request_failures.load(Ordering::Relaxed) != 0 {
            self.request_failures.store(0, Ordering::Relaxed);
        }
        if self.ejections_in_a_row.load(Ordering::Relaxed) != 0 {
            self.ejections_in_a_row.store(0, Ordering::Relaxed);
        }
    }

    /// A request to the instance failed in transport. Returns whether this
    /// failure ejected it.
    pub fn record_failure(&self, policy: PassivePolicy) -> bool {
        let failures = self.request_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures < policy.max_failures.max(1) {
            return false;
        }
        self.request_failures.store(0, Ordering::Relaxed);
        let in_a_row = self
            .ejections_in_a_row
            .fetch_add(1, Ordering::Relaxed)
            .min(3);
        let backoff = policy.base_ejection_ms << in_a_row;
        self.ejected_until_ms
            .store(now_ms() + backoff, Ordering::Relaxed);
        self.ejections_total.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Counts a request in flight until the guard drops (least requests).
    pub fn start_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }
}

/// A request in flight to an instance; see [`InstanceState::start_request`].
#[derive(Debug)]
pub struct InFlight(Arc<InstanceState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Instances already tried by one request (the first 128; more instances
/// than that are simply not retried twice in a row).
#[derive(Debug, Default, Clone, Copy)]
pub struct Tried(u128);

impl Tried {
    pub fn contains(self, index: usize) -> bool {
        index < 128 && self.0 & (1 << index) != 0
    }

    pub fn insert(&mut self, index: usize) {
        if index < 128 {
            self.0 |= 1 << index;
        }
    }
}

/// Round-robin cursor and policy of one service.
#[derive(Debug)]
pub struct Balancer {
    policy: Policy,
    next: AtomicUsize,
}

impl Balancer {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            next: AtomicUsize::new(fastrand::usize(..1024)),
        }
    }

    /// The index of the instance for the next attempt, among `states` that
    /// are available and not yet `tried`; `None` when there is none.
    pub fn pick<S: Borrow<InstanceState>>(&self, states: &[S], tried: Tried) -> Option<usize> {
        let n = states.len();
        if n == 0 {
            return None;
        }
        let now = now_ms();
        let usable = |i: &usize| !tried.contains(*i) && states[*i].borrow().available(now);
        match self.policy {
            Policy::RoundRobin => {
                let start = self.next.fetch_add(1, Ordering::Relaxed);
                (0..n).map(|k| (start + k) % n).find(usable)
            }
            Policy::Random => {
                let start = fastrand::usize(..n);
                (0..n).map(|k| (start + k) % n).find(usable)
            }
            Policy::LeastRequests => (0..n)
                .filter(usable)
                .min_by_key(|i| states[*i].borrow().in_flight.load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_alternates_and_skips_down_instances() {
        let a = InstanceState::default();
        let b = InstanceState::default();
        let balancer = Balancer::new(Policy::RoundRobin);
        let picks: Vec<_> = (0..4)
            .map(|_| balancer.pick(&[&a, &b], Tried::default()).unwrap())
            .collect();
        assert_ne!(picks[0], picks[1]);
        assert_eq!(picks[0], picks[2]);
        // Two failed probes with threshold 2 mark `b` down.
        assert_eq!(b.record_probe(false, 2, 2), None);
        assert_eq!(b.record_probe(false, 2, 2), Some(false));
        assert!((0..4).all(|_| balancer.pick(&[&a, &b], Tried::default()) == Some(0)));
        let mut tried = Tried::default();
        tried.insert(0);
        assert_eq!(balancer.pick(&[&a, &b], tried), None);
        assert_eq!(b.record_probe(true, 2, 2), None);
        assert_eq!(b.record_probe(true, 2, 2), Some(true));
        assert!(b.available(now_ms()));
    }

    #[test]
    fn passive_failures_eject_until_success() {
        let a = InstanceState::default();
        let policy = PassivePolicy {
            max_failures: 2,
            base_ejection_ms: 60_000,
        };
        assert!(!a.record_failure(policy));
        assert!(a.record_failure(policy));
        assert!(!a.available(now_ms()));
        assert_eq!(a.health().ejections_total, 1);
        // An active check that sees the instance recover ends the ejection.
        a.record_probe(false, 1, 1);
        a.record_probe(true, 1, 1);
        assert!(a.available(now_ms()));
    }
}
