//! A lock file, so that parallel processes take turns on one cluster.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result, io_error};

/// How long to wait for another process that is initialising or starting the same cluster.
const LOCK_WAIT: Duration = Duration::from_secs(180);
/// How often to retry the lock while waiting.
pub(crate) const LOCK_POLL: Duration = Duration::from_millis(50);

/// Takes an exclusive lock on `path`, waiting for other holders.
///
/// The operating system releases the lock when the returned file is closed or
/// its process dies, so a crashed process never leaves a stale lock behind.
pub(crate) async fn lock_exclusive(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io_error(format!("opening {}", path.display())))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                tokio::time::sleep(LOCK_POLL).await;
            }
            Err(TryLockError::WouldBlock) => {
                return Err(Error::Failed(format!(
                    "another process has held {} for over {} s",
                    path.display(),
                    LOCK_WAIT.as_secs()
                )));
            }
            Err(TryLockError::Error(error)) => {
                return Err(Error::Io(format!("locking {}", path.display()), error));
            }
        }
    }
}
