//! A bounded load generator for the fault and reload-storm tests: a few
//! client tasks sending idempotent requests (GET unless told which
//! methods, taken in turn) to one path through a pooled
//! keep-alive client, counting every request and keeping a description of
//! every one that did not come back `200`. It stops by itself after
//! `max_requests`, or when told. It judges nothing; the tests do.

use super::{client, send};
use http::{Method, Request};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::task::JoinHandle;

/// What a load run sent and what failed.
#[derive(Debug)]
pub struct LoadReport {
    pub sent: usize,
    pub failed: Vec<String>,
}

/// A running load generator.
pub struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    max_requests: usize,
    tasks: Vec<JoinHandle<Vec<String>>>,
}

impl Load {
    /// Starts `clients` tasks sending `GET path` to `addr`, at most
    /// `max_requests` in all.
    pub fn start(addr: SocketAddr, path: &str, clients: usize, max_requests: usize) -> Self {
        Self::with_methods(addr, path, &[Method::GET], clients, max_requests)
    }

    /// Like [`Load::start`], each client taking `methods` in turn.
    pub fn with_methods(
        addr: SocketAddr,
        path: &str,
        methods: &[Method],
        clients: usize,
        max_requests: usize,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let tasks = (0..clients)
            .map(|_| {
                let (stop, sent, path) = (stop.clone(), sent.clone(), path.to_owned());
                let methods = methods.to_vec();
                tokio::spawn(async move {
                    let client = client();
                    let mut failed = Vec::new();
                    let mut turns = methods.iter().cycle();
                    while !stop.load(Ordering::Relaxed)
                        && sent.fetch_add(1, Ordering::Relaxed) < max_requests
                    {
                        let method = turns.next().cloned().unwrap_or(Method::GET);
                        let request = Request::builder()
                            .method(method.clone())
                            .uri(format!("http://{addr}{path}"))
                            .body(http_body_util::Empty::new())
                            .expect("a valid request");
                        match send(&client, request).await {
                            Ok(reply) if reply.status == http::StatusCode::OK => {}
                            Ok(reply) => {
                                failed.push(format!("{method} {} {:?}", reply.status, reply.body))
                            }
                            Err(e) => failed.push(format!("{method} {e}")),
                        }
                    }
                    failed
                })
            })
            .collect();
        Self {
            stop,
            sent,
            max_requests,
            tasks,
        }
    }

    /// Requests sent so far.
    pub fn sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed).min(self.max_requests)
    }

    /// Waits (bounded: about 20 s) until `n` requests were sent; whether
    /// they were.
    pub async fn wait_for(&self, n: usize) -> bool {
        super::eventually(1000, || async { self.sent() >= n }).await
    }

    /// Stops the clients and reports.
    pub async fn stop(mut self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        let mut failed = Vec::new();
        for task in std::mem::take(&mut self.tasks) {
            failed.extend(task.await.expect("load client panicked"));
        }
        LoadReport {
            sent: self.sent(),
            failed,
        }
    }
}
