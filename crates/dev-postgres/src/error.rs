//! Why the server could not be started or stopped.

use std::io;

/// Why the development server could not be started or stopped.
///
/// The variants separate "nothing to run" (a setup problem the developer fixes
/// by installing a package or pointing the app at another server) from
/// failures of the file system and of the PostgreSQL commands themselves.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No directory holds `initdb`, `pg_ctl` and `postgres`; the text says where we looked.
    #[error(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found; looked in {0}. \
         Install the PostgreSQL server package (Debian: `apt-get install postgresql`) \
         or set DATABASE_URL to use an existing server"
    )]
    NotInstalled(String),
    /// A file-system operation failed: what we were doing, and the error.
    #[error("{0}: {1}")]
    Io(String, #[source] io::Error),
    /// A PostgreSQL command failed, or a check did: what went wrong, with the
    /// tail of the command's output (and of the server log) when there is one.
    #[error("{0}")]
    Failed(String),
}

/// Shorthand for the results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Turns an `io::Error` into [`Error::Io`] that says what we were doing.
pub(crate) fn io_error(action: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let action = action.into();
    move |error| Error::Io(action, error)
}
