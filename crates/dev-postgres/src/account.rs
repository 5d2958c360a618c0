//! Running as the `postgres` account when we are root.
//!
//! PostgreSQL refuses to run as root. When this process is root (as in many
//! containers and CI machines), the server commands run as the `postgres` OS
//! account instead, that account owns the data directory, and every folder
//! above the data directory must let it in.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result, io_error};

/// The OS account that runs the server when this process is root.
pub(crate) const SERVER_ACCOUNT: &str = "postgres";

/// A uid and gid to run the server commands as.
pub(crate) type Account = (u32, u32);

/// The account to run the server as: `postgres` when we are root (PostgreSQL
/// refuses to run as root), otherwise ourselves (`None`).
pub(crate) fn server_account() -> Result<Option<Account>> {
    if effective_uid() != Some(0) {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd").map_err(io_error("reading /etc/passwd"))?;
    match parse_passwd_ids(&passwd, SERVER_ACCOUNT) {
        Some(ids) => Ok(Some(ids)),
        None => Err(Error::Failed(format!(
            "PostgreSQL refuses to run as root and there is no `{SERVER_ACCOUNT}` account to run it as; \
             create one (Debian's postgresql package does) or run as a normal user"
        ))),
    }
}

/// The uid and gid of `account` in the contents of `/etc/passwd`.
fn parse_passwd_ids(passwd: &str, account: &str) -> Option<Account> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != account {
            return None;
        }
        let uid = fields.nth(1)?.parse().ok()?;
        let gid = fields.next()?.parse().ok()?;
        Some((uid, gid))
    })
}

/// Our effective uid, from `/proc` on Linux or from `id -u` elsewhere.
fn effective_uid() -> Option<u32> {
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        return parse_effective_uid(&status);
    }
    let output = Command::new("id").arg("-u").output().ok()?;
    String::from_utf8(output.stdout).ok()?.trim().parse().ok()
}

/// The effective uid (second number) on the `Uid:` line of `/proc/self/status`.
fn parse_effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|line| line.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Fails with a clear message when `account` cannot enter `dir` or one of its
/// ancestors (a project under `/root`, say): the server could not reach its
/// data directory. Folders that do not exist yet are skipped: they will be
/// created by us, open to everyone.
pub(crate) fn check_reachable(dir: &Path, (uid, gid): Account) -> Result<()> {
    for ancestor in dir.ancestors() {
        let metadata = match fs::metadata(ancestor) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => {
                return Err(Error::Io(
                    format!("inspecting {}", ancestor.display()),
                    error,
                ));
            }
        };
        let mode = metadata.permissions().mode();
        let searchable = (metadata.uid() == uid && mode & 0o100 != 0)
            || (metadata.gid() == gid && mode & 0o010 != 0)
            || mode & 0o001 != 0;
        if !searchable {
            return Err(Error::Failed(format!(
                "the `{SERVER_ACCOUNT}` account, which runs the server because we are root, \
                 cannot enter {} and so cannot reach {}; choose a data directory it can reach \
                 or run as a normal user",
                ancestor.display(),
                dir.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd_and_proc_status() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\npostgres:x:101:104::/var/lib/postgresql:/bin/bash\n";
        assert_eq!(parse_passwd_ids(passwd, "postgres"), Some((101, 104)));
        assert_eq!(parse_passwd_ids(passwd, "nobody"), None);
        let status = "Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t0\t0\t0\t0\n";
        assert_eq!(parse_effective_uid(status), Some(0));
    }
}
