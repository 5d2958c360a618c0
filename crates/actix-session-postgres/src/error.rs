//! What a store step can fail with, and which failures mean "PostgreSQL cannot
//! serve right now" (worth a `503` and a retry) rather than "this code and its
//! database disagree" (a bug to fix).

use std::{sync::Arc, time::Duration};

/// Everything a store step can fail with.
///
/// Its message includes its cause's (the error from sqlx), so one line says
/// everything. Cloning is cheap (the causes are shared): one failed batch hands the same
/// error to every request whose job it carried.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// No connection could be had: PostgreSQL refused or dropped the attempt.
    /// Nothing was sent, so the step had no effect.
    #[error("no connection to PostgreSQL: {0}")]
    Connect(Arc<sqlx::Error>),
    /// The step's statement failed. A database error answered by the server
    /// means it took no effect; a connection lost while it ran leaves a
    /// write's outcome unknown (see [`StoreError::outcome_unknown`]).
    #[error("a session statement failed: {0}")]
    Statement(Arc<sqlx::Error>),
    /// The request's deadline passed: waiting in the queue, for a connection,
    /// for the statement and for retries, together.
    #[error("the session store did not answer within {0:?}")]
    Deadline(Duration),
    /// This worker already had as many jobs queued as it accepts.
    #[error("too many session requests queued ({0}); try again shortly")]
    Overloaded(usize),
    /// The batch that carried this request's job ended without an answer (its
    /// task panicked, or the runtime is shutting down).
    #[error("the batch carrying this request ended without an answer")]
    BatchLost,
    /// A broken invariant of this crate, such as a batch that answered a
    /// different number of jobs than it was given. Logged where it happens.
    #[error("session store bug: {0}")]
    Bug(String),
    /// The operating system gave no randomness for a new session key.
    #[error("no randomness for a session key: {0}")]
    Randomness(String),
    /// Session data that cannot be written as JSON.
    #[error("session data cannot be encoded: {0}")]
    Encoding(Arc<serde_json::Error>),
}

/// A coarse class of [`StoreError`], as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// PostgreSQL cannot serve right now: no connection, a lost connection,
    /// a server shutting down or starting, a standby where a primary should be.
    Unavailable,
    /// The request's deadline passed.
    Timeout,
    /// The queue was full.
    Overloaded,
    /// A statement failed for a reason waiting will not fix (a constraint, a
    /// schema that does not match the store's queries).
    Statement,
    /// Anything else: a lost batch, a bug, no randomness, bad data.
    Other,
}

impl ErrorKind {
    /// The label value: `unavailable`, `timeout`, `overloaded`, `statement` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::Overloaded => "overloaded",
            Self::Statement => "statement",
            Self::Other => "other",
        }
    }
}

impl StoreError {
    pub(crate) fn statement(error: sqlx::Error) -> Self {
        Self::Statement(Arc::new(error))
    }

    pub(crate) fn connect(error: sqlx::Error) -> Self {
        Self::Connect(Arc::new(error))
    }

    /// True when the failure means PostgreSQL cannot serve right now, so the
    /// request deserves a `503` with `Retry-After` and the next one may well
    /// succeed; false for a bug or a schema mismatch (a `500`).
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Connect(_) | Self::Deadline(_) | Self::Overloaded(_) | Self::BatchLost => true,
            Self::Statement(error) => is_unavailable(error),
            Self::Bug(_) | Self::Randomness(_) | Self::Encoding(_) => false,
        }
    }

    /// The class of this error, for metrics.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Deadline(_) => ErrorKind::Timeout,
            Self::Overloaded(_) => ErrorKind::Overloaded,
            _ if self.is_unavailable() => ErrorKind::Unavailable,
            Self::Statement(_) => ErrorKind::Statement,
            _ => ErrorKind::Other,
        }
    }

    /// True when a write that failed this way may nevertheless have been
    /// committed: the connection was lost after the statement was sent, so
    /// nobody heard the server's answer. (A database error means the server
    /// answered and rolled the statement back; a connect error means nothing
    /// was sent.)
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Self::Statement(error) => !matches!(**error, sqlx::Error::Database(_)),
            Self::Deadline(_) | Self::BatchLost => true,
            _ => false,
        }
    }

    /// True when running the same step again, on a fresh connection, may
    /// succeed: the connection failed or was lost, or PostgreSQL is switching
    /// over (shutting down, starting, or this node became a standby).
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Self::Connect(_) => true,
            Self::Statement(error) => breaks_connection(error) || is_retryable_code(error),
            _ => false,
        }
    }
}

/// Whether a database error means "PostgreSQL cannot serve right now" (a
/// `503`, worth retrying) rather than "this code and its database disagree"
/// (a `500`, a bug to fix).
///
/// Unavailable: no connection to be had or a connection lost (refused,
/// reset, end of file, TLS failed, the pool timed out or closed), and these
/// SQLSTATEs:
/// - class `08`, connection exceptions;
/// - class `53`, insufficient resources (`53300` too many connections, out of
///   memory, disk full);
/// - `57014` query canceled (a statement timeout);
/// - `57P01`/`57P02` the server is shutting down, `57P03` it is starting up,
///   `57P05` the connection was idle too long;
/// - `25006` read-only transaction: a write reached a node that is a standby
///   now (during a failover, until the connection is replaced);
/// - `55P03` lock not available (a row held longer than the lock timeout),
///   `40001` serialization failure and `40P01` deadlock: transient conflicts.
///
/// Everything else, such as `42703` undefined column or `42P01` undefined
/// table, is not something waiting will fix.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(error) => error.code().is_some_and(|code| {
            code.starts_with("08")
                || code.starts_with("53")
                || matches!(
                    &*code,
                    "57014"
                        | "57P01"
                        | "57P02"
                        | "57P03"
                        | "57P05"
                        | "25006"
                        | "55P03"
                        | "40001"
                        | "40P01"
                )
        }),
        _ => false,
    }
}

/// Whether a connection that returned `error` must never be used again, and
/// whether the pool's other connections, opened before it, are suspect too
/// (they most likely lead to the same server, which is gone or demoted).
pub(crate) fn breaks_connection(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(error) => error.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "25006")
        }),
        _ => false,
    }
}

/// SQLSTATEs after which the statement certainly took no effect and running it
/// again soon may succeed.
fn is_retryable_code(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(error) => error
            .code()
            .is_some_and(|code| matches!(&*code, "40001" | "40P01")),
        _ => false,
    }
}

/// A unique violation: on the retry of a `save` whose first attempt was lost
/// with its connection, it means the first attempt committed.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(error) => error.code().is_some_and(|code| code == "23505"),
        _ => false,
    }
}
