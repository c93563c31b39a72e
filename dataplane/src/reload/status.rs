//! What the admin API says about reloads: when the serving table was
//! published, and the last refused table's error (until a later table is
//! published). It records; [`crate::reload::TableStore`] decides when.
//! The counts themselves live in [`crate::metrics::Metrics`].

use std::sync::Mutex;
use std::time::SystemTime;

/// A table the gateway refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub at: SystemTime,
    pub error: String,
}

#[derive(Debug, Clone)]
struct Record {
    loaded_at: SystemTime,
    last_refusal: Option<Refusal>,
}

/// The reload history the admin API shows.
#[derive(Debug)]
pub struct ReloadStatus(Mutex<Record>);

impl Default for ReloadStatus {
    fn default() -> Self {
        Self(Mutex::new(Record {
            loaded_at: SystemTime::now(),
            last_refusal: None,
        }))
    }
}

impl ReloadStatus {
    fn record(&self) -> std::sync::MutexGuard<'_, Record> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A table was published now; an older refusal no longer describes the
    /// file on disk, so it is forgotten.
    pub fn published(&self) {
        let mut record = self.record();
        record.loaded_at = SystemTime::now();
        record.last_refusal = None;
    }

    /// A table was refused now for `error`.
    pub fn refused(&self, error: &dyn std::error::Error) {
        self.record().last_refusal = Some(Refusal {
            at: SystemTime::now(),
            error: error.to_string(),
        });
    }

    /// When the serving table was published.
    pub fn loaded_at(&self) -> SystemTime {
        self.record().loaded_at
    }

    /// The last refusal since the serving table was published.
    pub fn last_refusal(&self) -> Option<Refusal> {
        self.record().last_refusal.clone()
    }
}
