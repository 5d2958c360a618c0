//! The session store's metrics: the app's [`StoreObserver`] for the store
//! crate's hook (`actix_session_postgres::observe`), recording into the
//! application's registry. Every call is an atomic add or a histogram
//! observation on a handle resolved once (labels are the store's fixed steps
//! and error kinds).

use std::time::Duration;

use actix_session_postgres::{
    ErrorKind,
    observe::{Step, StepOutcome, StoreObserver},
};
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
};

/// OpenTelemetry's advisory buckets for database client durations (seconds).
pub(super) const DB_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];

/// Batch sizes: one request alone up to the store's most (64).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

const STEPS: [Step; 5] = [
    Step::Load,
    Step::Save,
    Step::Update,
    Step::Touch,
    Step::Delete,
];

/// The store's metrics, registered in the application's registry.
pub(crate) struct StoreMetrics {
    duration: HistogramVec,
    errors: IntCounterVec,
    retries: IntCounterVec,
    batch_size: HistogramVec,
    touches: IntCounterVec,
    created: IntCounter,
    renewed: IntCounter,
    deleted: IntCounterVec,
    unreadable: IntCounter,
    pruned_rows: IntCounter,
    prune_duration: Histogram,
    wait_time: Histogram,
    timeouts: IntCounter,
}

impl StoreMetrics {
    /// Registers the store's metrics in `registry`; `wait_time` and
    /// `timeouts` are the session pools' series of the pool metrics.
    pub(super) fn new(
        registry: &Registry,
        wait_time: Histogram,
        timeouts: IntCounter,
    ) -> Result<Self, prometheus::Error> {
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "session_store_operation_duration_seconds",
                "Duration of session store steps (queue, statement and retries), by step.",
            )
            .buckets(DB_BUCKETS.to_vec()),
            &["step"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "session_store_errors_total",
                "Failed session store steps, by step and kind.",
            ),
            &["step", "kind"],
        )?;
        let retries = IntCounterVec::new(
            Opts::new(
                "session_store_retries_total",
                "Store steps tried again on a fresh connection, by step and the kind of failure.",
            ),
            &["step", "kind"],
        )?;
        let batch_size = HistogramVec::new(
            HistogramOpts::new(
                "session_store_batch_size",
                "Requests' steps served by one statement, by step.",
            )
            .buckets(BATCH_BUCKETS.to_vec()),
            &["step"],
        )?;
        let touches = IntCounterVec::new(
            Opts::new(
                "session_store_touches_total",
                "Loads that extended a session's expiry (written) or found it recent (skipped).",
            ),
            &["result"],
        )?;
        let created = IntCounter::new(
            "session_store_sessions_created_total",
            "New sessions stored.",
        )?;
        let renewed = IntCounter::new(
            "session_store_sessions_renewed_total",
            "Sessions moved to a new key (signing in, changing the password).",
        )?;
        let deleted = IntCounterVec::new(
            Opts::new(
                "session_store_sessions_deleted_total",
                "Sessions deleted, by reason: delete (logout or a renewal's old key), prune (expired).",
            ),
            &["reason"],
        )?;
        let unreadable = IntCounter::new(
            "session_store_unreadable_states_total",
            "Stored sessions whose data the store could not read (deleted, started afresh).",
        )?;
        let pruned_rows = IntCounter::new(
            "session_store_pruned_rows_total",
            "Expired sessions deleted by pruning.",
        )?;
        let prune_duration = Histogram::with_opts(
            HistogramOpts::new(
                "session_store_prune_duration_seconds",
                "Duration of pruning rounds that deleted something.",
            )
            .buckets(DB_BUCKETS.to_vec()),
        )?;
        // Every series there from the start, at 0, so rates work from the
        // first failure on.
        for step in STEPS {
            duration.with_label_values(&[step.as_str()]);
            batch_size.with_label_values(&[step.as_str()]);
            for kind in [
                ErrorKind::Unavailable,
                ErrorKind::Timeout,
                ErrorKind::Overloaded,
                ErrorKind::Statement,
                ErrorKind::Other,
            ] {
                errors.with_label_values(&[step.as_str(), kind.as_str()]);
                retries.with_label_values(&[step.as_str(), kind.as_str()]);
            }
        }
        for result in ["written", "skipped"] {
            touches.with_label_values(&[result]);
        }
        for reason in ["delete", "prune"] {
            deleted.with_label_values(&[reason]);
        }
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(retries.clone()))?;
        registry.register(Box::new(batch_size.clone()))?;
        registry.register(Box::new(touches.clone()))?;
        registry.register(Box::new(created.clone()))?;
        registry.register(Box::new(renewed.clone()))?;
        registry.register(Box::new(deleted.clone()))?;
        registry.register(Box::new(unreadable.clone()))?;
        registry.register(Box::new(pruned_rows.clone()))?;
        registry.register(Box::new(prune_duration.clone()))?;
        Ok(Self {
            duration,
            errors,
            retries,
            batch_size,
            touches,
            created,
            renewed,
            deleted,
            unreadable,
            pruned_rows,
            prune_duration,
            wait_time,
            timeouts,
        })
    }
}

impl StoreObserver for StoreMetrics {
    fn step(&self, step: Step, elapsed: Duration, outcome: StepOutcome) {
        self.duration
            .with_label_values(&[step.as_str()])
            .observe(elapsed.as_secs_f64());
        if let StepOutcome::Failed(kind) = outcome {
            self.errors
                .with_label_values(&[step.as_str(), kind.as_str()])
                .inc();
        }
    }

    fn batch(&self, step: Step, jobs: usize) {
        self.batch_size
            .with_label_values(&[step.as_str()])
            .observe(jobs as f64);
    }

    fn retry(&self, step: Step, kind: ErrorKind) {
        self.retries
            .with_label_values(&[step.as_str(), kind.as_str()])
            .inc();
    }

    fn touched(&self) {
        self.touches.with_label_values(&["written"]).inc();
    }

    fn touch_skipped(&self) {
        self.touches.with_label_values(&["skipped"]).inc();
    }

    fn session_created(&self) {
        self.created.inc();
    }

    fn session_renewed(&self) {
        self.renewed.inc();
    }

    fn session_deleted(&self) {
        self.deleted.with_label_values(&["delete"]).inc();
    }

    fn unreadable_state(&self) {
        self.unreadable.inc();
    }

    fn pruned(&self, rows: u64, elapsed: Duration) {
        self.pruned_rows.inc_by(rows);
        self.deleted.with_label_values(&["prune"]).inc_by(rows);
        self.prune_duration.observe(elapsed.as_secs_f64());
    }

    fn acquired(&self, waited: Duration) {
        self.wait_time.observe(waited.as_secs_f64());
    }

    fn acquire_timed_out(&self) {
        self.timeouts.inc();
    }
}
