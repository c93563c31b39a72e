//! Active health checks: for every instance of every service whose table
//! entry has a health check, a task probes `GET path` at the interval (with
//! jitter, starting at a random offset so instances are not probed in lock
//! step), with the check's timeout, and feeds the result to the instance's
//! shared state, which the balancer reads. 2xx and 3xx count as healthy,
//! as in Traefik. A probe whose instance, check and client are unchanged
//! goes on through a reload; the others stop when the next table replaces
//! theirs, and the state they fed lives on in [`crate::table::Registries`].

use crate::balancer::InstanceState;
use crate::clock::jittered;
use crate::table::LoadedTable;
use crate::upstream::{HostPool, RequestHead, UpstreamBody, UpstreamClient};
use http::{header, HeaderMap, HeaderValue, Method};
use routetable::defaults::{self, or_default};
use routetable::HealthCheckSpec;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// The running probe tasks, by the instance they probe; dropping this
/// stops them.
#[derive(Debug, Default)]
pub struct HealthTasks(HashMap<ProbeKey, JoinHandle<()>>);

/// What makes a probe the same probe in the next table: the instance's
/// state (kept across reloads only while its service, address and health
/// settings are unchanged) and the pool it probes through (shared only
/// while the client's settings are unchanged). The task holds both, so
/// the addresses cannot be reused while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ProbeKey {
    state: usize,
    pool: usize,
}

impl Drop for HealthTasks {
    fn drop(&mut self) {
        for task in self.0.values() {
            task.abort();
        }
    }
}

impl HealthTasks {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Probes every instance of `table` that has a health check: a probe
    /// the previous table already ran goes on as it was (at 10,000 routes
    /// and a thousand instances, restarting every probe was a noticeable
    /// part of a reload), new ones start, the others stop.
    pub fn follow(&mut self, table: &LoadedTable) {
        let mut running = std::mem::take(&mut self.0);
        for service in &table.services {
            let Some(check) = &service.health else {
                continue;
            };
            for (instance, state) in service.instances.iter().zip(&service.states) {
                let key = ProbeKey {
                    state: Arc::as_ptr(state) as usize,
                    pool: Arc::as_ptr(&instance.probe_pool) as usize,
                };
                let task = running.remove(&key).unwrap_or_else(|| {
                    let probe = Probe {
                        service: service.name.clone(),
                        uri: format!("{}{}", instance.base_uri, check.path),
                        host: HeaderValue::from_str(&instance.host).ok(),
                        client: service.probe_client.clone(),
                        pool: instance.probe_pool.clone(),
                        check: check.clone(),
                        state: state.clone(),
                    };
                    tokio::spawn(probe.run())
                });
                self.0.insert(key, task);
            }
        }
        // Probes of instances the table no longer has stop here.
        for task in running.values() {
            task.abort();
        }
    }
}

struct Probe {
    service: String,
    uri: String,
    host: Option<HeaderValue>,
    client: UpstreamClient,
    pool: Arc<HostPool>,
    check: HealthCheckSpec,
    state: Arc<InstanceState>,
}

impl Probe {
    async fn run(self) {
        let interval = Duration::from_millis(or_default(
            self.check.interval_ms,
            defaults::HEALTH_INTERVAL_MS,
        ));
        let timeout = Duration::from_millis(or_default(
            self.check.timeout_ms,
            defaults::HEALTH_TIMEOUT_MS,
        ))
        .min(interval);
        tokio::time::sleep(interval.mul_f64(fastrand::f64())).await;
        loop {
            let started = std::time::Instant::now();
            let ok = self.probe_once(timeout).await;
            self.state.record_probe_latency(started.elapsed());
            if let Some(up) = self.state.record_probe(
                ok,
                self.check.healthy_threshold,
                self.check.unhealthy_threshold,
            ) {
                tracing::info!(service = %self.service, target = %self.uri, up, "instance health changed");
            }
            tokio::time::sleep(jittered(interval, 0.1)).await;
        }
    }

    async fn probe_once(&self, timeout: Duration) -> bool {
        let mut headers = HeaderMap::with_capacity(2);
        if let Some(host) = &self.host {
            headers.insert(header::HOST, host.clone());
        }
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static("dataplane-health"),
        );
        // A new connection each time (the probe client keeps none); it is
        // closed when the response is dropped, body unread.
        let probe = self.client.send(
            &self.pool,
            true,
            RequestHead {
                method: &Method::GET,
                path_and_query: &self.check.path,
                headers: &headers,
            },
            UpstreamBody::empty(),
            timeout,
        );
        match tokio::time::timeout(timeout, probe).await {
            Ok(Ok(response)) => {
                let status = response.status();
                status.is_success() || status.is_redirection()
            }
            _ => false,
        }
    }
}
