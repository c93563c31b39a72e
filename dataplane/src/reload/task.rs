//! The one reload task. Every trigger (the directory watcher, SIGHUP, the
//! admin API) sends it a request; it maps, validates and prepares the new
//! table on a thread of its own, never on a request thread (at 10,000
//! routes preparing a table takes milliseconds, and under `--workers 0`
//! the request thread is the only one), and publishes it through
//! [`TableStore`]. That thread runs at the lowest CPU priority: where it
//! shares a CPU with the request threads, traffic goes first and the
//! reload takes longer, never the other way round. Requests that arrive while a reload runs coalesce into
//! one more reload, which sees every change made before it started; a
//! forced request makes that reload forced. What a reload does is the
//! store's; when a file changed is the watcher's.

use super::store::{Reloaded, TableStore};
use crate::table::LoadError;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// What a reload did; the error is shared by every request it answered.
pub type Outcome = Result<Reloaded, Arc<LoadError>>;

struct Request {
    /// Reload even a file identical to the serving (or last refused) table.
    force: bool,
    reply: Option<oneshot::Sender<Outcome>>,
}

/// The handle of the reload task; dropping it stops the task.
pub struct Reloader {
    requests: mpsc::UnboundedSender<Request>,
    task: JoinHandle<()>,
}

impl Drop for Reloader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Reloader {
    /// Starts the task for `store`. Must run inside a tokio runtime.
    pub fn spawn(store: Arc<TableStore>) -> Self {
        let (requests, received) = mpsc::unbounded_channel();
        Self {
            requests,
            task: tokio::spawn(run(store, received)),
        }
    }

    /// Asks for a reload without waiting for it (the watcher, SIGHUP).
    pub fn trigger(&self, force: bool) {
        let _ = self.requests.send(Request { force, reply: None });
    }

    /// Asks for a reload and waits for the one that answers it (the admin
    /// API): a reload that started after the request was made.
    pub async fn reload(&self, force: bool) -> Option<Outcome> {
        let (reply, outcome) = oneshot::channel();
        self.requests
            .send(Request {
                force,
                reply: Some(reply),
            })
            .ok()?;
        outcome.await.ok()
    }
}

async fn run(store: Arc<TableStore>, mut received: mpsc::UnboundedReceiver<Request>) {
    while let Some(first) = received.recv().await {
        let mut force = first.force;
        let mut replies: Vec<oneshot::Sender<Outcome>> = first.reply.into_iter().collect();
        // Everything asked for until now is answered by this one reload.
        while let Ok(more) = received.try_recv() {
            force |= more.force;
            replies.extend(more.reply);
        }
        let reloading = store.clone();
        let runtime = tokio::runtime::Handle::current();
        let (done, result) = oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("table-reload".into())
            .spawn(move || {
                // Publishing restarts health probes: tasks of the runtime.
                let _runtime = runtime.enter();
                yield_to_traffic();
                let _ = done.send(reloading.reload_off_the_request_threads(force));
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "no thread for the table reload; the previous table keeps serving");
            continue;
        }
        let outcome = match result.await {
            Ok(outcome) => outcome.map_err(Arc::new),
            // The reload panicked (a bug): the serving table is untouched;
            // the task lives on for the next trigger.
            Err(_) => {
                tracing::error!(
                    "the table reload failed unexpectedly; the previous table keeps serving"
                );
                continue;
            }
        };
        for reply in replies {
            let _ = reply.send(outcome.clone());
        }
    }
}

/// Lowers the calling thread to the lowest CPU priority (nice 19). Best
/// effort: where it cannot, the reload runs at the request threads'
/// priority, off them all the same.
fn yield_to_traffic() {
    #[cfg(target_os = "linux")]
    {
        let thread = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(thread), 19) {
            tracing::debug!(error = %e, "could not lower the reload thread's priority");
        }
    }
}
