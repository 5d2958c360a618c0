//! Where a cluster's data lives: where it was asked to, or, when the server
//! account cannot reach that place, a folder of its own under the temp dir.
//!
//! This is the one place that decides it. Everything that needs to find a
//! server's files again (the CLI's `stop`, tests cleaning up) asks
//! [`data_dir_for`] rather than repeating the rule.

use std::path::{Component, Path, PathBuf};

use log::info;
use sha2::{Digest, Sha256};

use crate::account::{self, Account, SERVER_ACCOUNT, check_reachable};
use crate::error::{Result, io_error};

/// The start of a relocated folder's name under the temp dir.
const RELOCATED_PREFIX: &str = "session-demo-postgres-";

/// Where the cluster asked for at `requested` keeps its data.
///
/// `requested` itself, unless this process is root and the `postgres`
/// account (which then runs the server) cannot enter every folder above it,
/// as for a checkout under `/root` or in a private temporary folder. Then the
/// data lives in `<temp dir>/session-demo-postgres-<digest of requested>/<name>`,
/// so the same requested path always finds the same data again.
pub fn data_dir_for(requested: &Path) -> Result<PathBuf> {
    match account::server_account()? {
        Some(account) => reachable_data_dir(requested, account),
        None => absolute(requested),
    }
}

/// The folder of its own a relocated data directory lives in, or `None` when
/// `data_dir` is not relocated. Removing it removes every file of that server.
pub fn relocated_folder(data_dir: &Path) -> Option<&Path> {
    let parent = data_dir.parent()?;
    let relocated = parent.starts_with(std::env::temp_dir())
        && parent
            .file_name()?
            .to_string_lossy()
            .starts_with(RELOCATED_PREFIX);
    relocated.then_some(parent)
}

/// [`data_dir_for`] once the server account is known.
pub(crate) fn reachable_data_dir(requested: &Path, account: Account) -> Result<PathBuf> {
    let requested = absolute(requested)?;
    let parent = requested.parent().unwrap_or(Path::new("/"));
    if check_reachable(parent, account).is_ok() {
        return Ok(requested);
    }
    let digest = Sha256::digest(requested.to_string_lossy().as_bytes());
    let relocated = std::env::temp_dir()
        .join(format!("{RELOCATED_PREFIX}{}", hex::encode(&digest[..8])))
        .join(requested.file_name().unwrap_or("data".as_ref()));
    info!(
        "the `{SERVER_ACCOUNT}` account cannot reach {}; keeping the server's data in {} instead",
        requested.display(),
        relocated.display()
    );
    Ok(relocated)
}

/// `path` made absolute, with `.` and `..` resolved lexically (symlinks are
/// left alone), so that every spelling of one folder names the same data.
fn absolute(path: &Path) -> Result<PathBuf> {
    let absolute =
        std::path::absolute(path).map_err(io_error(format!("resolving {}", path.display())))?;
    let mut normal = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    Ok(normal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_folder_moves_under_the_temp_dir_and_stays_put() {
        // An account that owns nothing and is in no group: it can enter only
        // folders open to everyone, which a 0700 folder is not.
        let account = (u32::MAX - 1, u32::MAX - 1);
        let private = std::env::temp_dir().join(format!("devpg-private-{}", std::process::id()));
        std::fs::create_dir_all(&private).unwrap();
        std::fs::set_permissions(
            &private,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let requested = private.join("target").join("test-postgres");

        let first = reachable_data_dir(&requested, account).unwrap();
        let again = reachable_data_dir(&requested, account).unwrap();
        let roundabout = private.join("target/../target/./test-postgres");
        let roundabout = reachable_data_dir(&roundabout, account).unwrap();
        std::fs::remove_dir_all(&private).unwrap();

        assert_eq!(first, again, "the same request finds the same data");
        assert_eq!(first.file_name().unwrap(), "test-postgres");
        let folder = relocated_folder(&first).expect("a folder of its own");
        assert!(folder.starts_with(std::env::temp_dir()));
        assert_eq!(relocated_folder(&requested), None);
        assert_eq!(
            roundabout, first,
            "every spelling of a path finds the same data"
        );
    }

    #[test]
    fn a_reachable_folder_is_used_as_asked() {
        let requested = std::env::temp_dir().join("devpg-open").join("data");
        let account = (u32::MAX - 1, u32::MAX - 1);
        assert_eq!(reachable_data_dir(&requested, account).unwrap(), requested);
    }
}
