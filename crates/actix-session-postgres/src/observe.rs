//! A hook for metrics: what the store did, how long it took, what failed.
//!
//! The crate records nothing itself and depends on no metrics library. An app
//! that wants metrics implements [`StoreObserver`] with the library of its
//! choice (Prometheus, OpenTelemetry, StatsD, a log line) and installs it on
//! its pools with [`WorkerPools::observed_by`](crate::WorkerPools::observed_by)
//! or [`SessionPool::observed_by`](crate::SessionPool::observed_by); every
//! store and pruning round on those pools then reports to it. Every method has
//! an empty default, so an observer implements only what it records.
//!
//! The observer is called on the request's path: keep each call cheap (an
//! atomic add, a histogram observation), never blocking.
//!
//! ```
//! use std::{sync::atomic::{AtomicU64, Ordering}, time::Duration};
//! use actix_session_postgres::observe::{Step, StepOutcome, StoreObserver};
//!
//! #[derive(Default)]
//! struct Counts { loads: AtomicU64, created: AtomicU64 }
//!
//! impl StoreObserver for Counts {
//!     fn step(&self, step: Step, _elapsed: Duration, _outcome: StepOutcome) {
//!         if step == Step::Load {
//!             self.loads.fetch_add(1, Ordering::Relaxed);
//!         }
//!     }
//!     fn session_created(&self) {
//!         self.created.fetch_add(1, Ordering::Relaxed);
//!     }
//! }
//! ```

use std::{sync::Arc, time::Duration};

use crate::error::ErrorKind;

/// One kind of store step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Reading a session (and extending its expiry when due).
    Load,
    /// Storing a new session.
    Save,
    /// Writing a session's changes.
    Update,
    /// Extending a session's expiry on its own (`update_ttl`).
    Touch,
    /// Deleting a session (logout, or the first half of renewing its key).
    Delete,
}

impl Step {
    /// The label value: `load`, `save`, `update`, `touch` or `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Load => "load",
            Self::Save => "save",
            Self::Update => "update",
            Self::Touch => "touch",
            Self::Delete => "delete",
        }
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// It succeeded.
    Ok,
    /// It failed, with an error of this kind.
    Failed(ErrorKind),
}

/// Receives what the store does. Every method does nothing by default.
pub trait StoreObserver: Send + Sync + 'static {
    /// A store step ended, after `elapsed` (queueing and retries included).
    fn step(&self, step: Step, elapsed: Duration, outcome: StepOutcome) {
        let _ = (step, elapsed, outcome);
    }

    /// A statement ran for `jobs` requests' steps at once (1 when alone).
    fn batch(&self, step: Step, jobs: usize) {
        let _ = (step, jobs);
    }

    /// A step is being tried again on a fresh connection after a transient failure.
    fn retry(&self, step: Step, kind: ErrorKind) {
        let _ = (step, kind);
    }

    /// A load extended a session's expiry (its throttled touch was due).
    fn touched(&self) {}

    /// A load found the session's expiry recent enough and wrote nothing.
    fn touch_skipped(&self) {}

    /// A new session was stored.
    fn session_created(&self) {}

    /// A session moved to a new key (renewal: a delete and a save).
    fn session_renewed(&self) {}

    /// A session was deleted through the store (logout, or renewal's first half).
    fn session_deleted(&self) {}

    /// A stored session's data had a shape the store cannot read (not a JSON
    /// object): it was deleted and the request started a fresh session.
    fn unreadable_state(&self) {}

    /// A pruning round deleted `rows` expired sessions in `elapsed`.
    fn pruned(&self, rows: u64, elapsed: Duration) {
        let _ = (rows, elapsed);
    }

    /// A connection was had from a session pool after waiting `waited`.
    fn acquired(&self, waited: Duration) {
        let _ = waited;
    }

    /// Waiting for a connection from a session pool timed out.
    fn acquire_timed_out(&self) {}
}

/// The observer that records nothing: what a store without one uses.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl StoreObserver for NoObserver {}

/// A shared observer, as stores and pools hold it.
pub type SharedObserver = Arc<dyn StoreObserver>;

pub(crate) fn none() -> SharedObserver {
    Arc::new(NoObserver)
}
