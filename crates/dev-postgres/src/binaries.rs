//! Finding the installed server binaries (`initdb`, `pg_ctl`, `postgres`).

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The binaries that must sit side by side in one directory.
const SERVER_BINARIES: [&str; 3] = ["initdb", "pg_ctl", "postgres"];
/// Where we look for them, in words, for the "not installed" error.
pub(crate) const SEARCHED_LOCATIONS: &str = "the directory of `pg_ctl` on PATH, /usr/lib/postgresql/<version>/bin, \
     /usr/local/pgsql/bin, /opt/homebrew/opt/postgresql*/bin and /usr/pgsql-*/bin";

/// The first directory that holds all the server binaries.
pub(crate) fn find_bin_dir() -> Result<PathBuf> {
    candidate_bin_dirs()
        .into_iter()
        .find(|dir| has_server_binaries(dir))
        .ok_or_else(|| Error::NotInstalled(SEARCHED_LOCATIONS.to_owned()))
}

/// Where the server binaries may be, most preferred first.
fn candidate_bin_dirs() -> Vec<PathBuf> {
    let mut dirs = pg_ctl_dirs_on_path();
    dirs.extend(versioned_bin_dirs(Path::new("/usr/lib/postgresql"), ""));
    dirs.push(PathBuf::from("/usr/local/pgsql/bin"));
    dirs.extend(versioned_bin_dirs(
        Path::new("/opt/homebrew/opt"),
        "postgresql",
    ));
    dirs.extend(versioned_bin_dirs(Path::new("/usr"), "pgsql-"));
    dirs
}

/// The real directories of each `pg_ctl` on PATH, with symlinks resolved so
/// that a link in `/usr/local/bin` leads to the directory beside `postgres`.
fn pg_ctl_dirs_on_path() -> Vec<PathBuf> {
    let Some(path) = std::env::var_os("PATH") else {
        return Vec::new();
    };
    std::env::split_paths(&path)
        .filter_map(|dir| fs::canonicalize(dir.join("pg_ctl")).ok())
        .filter_map(|pg_ctl| pg_ctl.parent().map(Path::to_path_buf))
        .collect()
}

/// `<parent>/<prefix><version>/bin` for each such directory, highest version first.
fn versioned_bin_dirs(parent: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u32>, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = version_key(name.strip_prefix(prefix)?);
            Some((version, entry.path().join("bin")))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.into_iter().map(|(_, dir)| dir).collect()
}

/// The numbers in a version such as `15`, `9.6` or `@16`, for sorting.
fn version_key(version: &str) -> Vec<u32> {
    version
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|part| part.parse().ok())
        .collect()
}

/// Whether `dir` holds `initdb`, `pg_ctl` and `postgres`.
fn has_server_binaries(dir: &Path) -> bool {
    SERVER_BINARIES
        .iter()
        .all(|binary| dir.join(binary).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_installed_says_what_to_do() {
        let message = Error::NotInstalled(SEARCHED_LOCATIONS.to_owned()).to_string();
        assert!(message.contains("apt-get install postgresql"));
        assert!(message.contains("DATABASE_URL"));
        assert!(message.contains("/usr/lib/postgresql"));
    }

    #[test]
    fn orders_versions() {
        assert!(version_key("15") > version_key("9.6"));
        assert!(version_key("@16") > version_key(""));
    }

    #[test]
    fn finds_installed_binaries() {
        let dir = find_bin_dir().unwrap();
        assert!(has_server_binaries(&dir), "{}", dir.display());
    }
}
