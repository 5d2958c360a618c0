//! One cluster on disk: its files, and the `initdb` / `pg_ctl` commands that
//! create, start, stop and inspect it.
//!
//! Next to the data directory `<dir>/<name>` a cluster keeps:
//!
//! | path            | what it is                                                     |
//! |-----------------|----------------------------------------------------------------|
//! | `<name>/`       | the database cluster, created by `initdb` on first use         |
//! | `<name>.sock/`  | the Unix socket directory (clients connect over TCP)           |
//! | `<name>.log`    | the server log: look here first when something goes wrong      |
//! | `<name>.lock`   | a lock file, so that parallel processes start one server only  |

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use log::info;

use crate::account::{Account, check_reachable};
use crate::command::{TAIL_LINES, file_len, read_from, run, shell_quote, tail};
use crate::error::{Error, Result, io_error};
use crate::lock::LOCK_POLL;

/// Seconds `pg_ctl` may wait for the server to start or stop.
const PG_CTL_TIMEOUT_SECS: &str = "60";
/// How long a server we reuse may take to accept TCP connections.
const REUSE_PROBE_WAIT: Duration = Duration::from_secs(10);
/// How many free ports to try when another program grabs the one we picked.
const PORT_ATTEMPTS: usize = 3;

/// Where a cluster's files live, and how to run the PostgreSQL commands on it.
#[derive(Debug)]
pub(crate) struct Cluster {
    bin_dir: PathBuf,
    pub(crate) data_dir: PathBuf,
    socket_dir: PathBuf,
    pub(crate) log_file: PathBuf,
    pub(crate) lock_file: PathBuf,
    /// The account to run the commands as; `None` runs them as ourselves.
    run_as: Option<Account>,
}

impl Cluster {
    /// The cluster whose data directory is `data_dir` (already relocated if needed).
    pub(crate) fn new(data_dir: &Path, bin_dir: PathBuf, run_as: Option<Account>) -> Result<Self> {
        let data_dir = std::path::absolute(data_dir)
            .map_err(io_error(format!("resolving {}", data_dir.display())))?;
        Ok(Self {
            socket_dir: sibling(&data_dir, ".sock")?,
            log_file: sibling(&data_dir, ".log")?,
            lock_file: sibling(&data_dir, ".lock")?,
            bin_dir,
            data_dir,
            run_as,
        })
    }

    /// The directory that holds the data directory and its siblings.
    fn parent(&self) -> &Path {
        self.data_dir.parent().unwrap_or(Path::new("/"))
    }

    /// Creates the parent directory and checks that the server account can reach it.
    pub(crate) fn prepare_parent(&self) -> Result<()> {
        let parent = self.parent();
        fs::create_dir_all(parent).map_err(io_error(format!("creating {}", parent.display())))?;
        match self.run_as {
            Some(account) => check_reachable(parent, account),
            None => Ok(()),
        }
    }

    /// A command for one of the server binaries, run as the server account,
    /// from a directory that account can enter, with its output captured.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin_dir.join(program));
        command
            .current_dir(self.parent())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        command
    }

    /// `pg_ctl -D <data_dir>`, ready for more arguments.
    fn pg_ctl(&self) -> Command {
        let mut command = self.command("pg_ctl");
        command.arg("-D").arg(&self.data_dir);
        command
    }

    /// `pg_ctl stop -m fast -w`: open connections are cut, and the command
    /// returns once the server is down.
    pub(crate) fn stop_command(&self) -> Command {
        let mut command = self.pg_ctl();
        command.args(["-m", "fast", "-w", "-t", PG_CTL_TIMEOUT_SECS, "stop"]);
        command
    }

    /// Asks `pg_ctl status`, which also copes with a stale `postmaster.pid`.
    pub(crate) async fn is_running(&self) -> Result<bool> {
        if !self.data_dir.join("postmaster.pid").exists() {
            return Ok(false);
        }
        let mut command = self.pg_ctl();
        command.arg("status");
        let output = tokio::process::Command::from(command)
            .output()
            .await
            .map_err(io_error("running pg_ctl status"))?;
        Ok(output.status.success())
    }

    /// The port of the running server: line 4 of `postmaster.pid`.
    pub(crate) fn running_port(&self) -> Result<u16> {
        let pid_file = self.data_dir.join("postmaster.pid");
        let contents = fs::read_to_string(&pid_file)
            .map_err(io_error(format!("reading {}", pid_file.display())))?;
        parse_pid_file_port(&contents)
            .ok_or_else(|| Error::Failed(format!("no port on line 4 of {}", pid_file.display())))
    }

    /// Makes sure a server we are about to reuse really listens on `port`,
    /// rather than `postmaster.pid` naming a process that merely got the old PID.
    pub(crate) async fn check_accepts_connections(&self, port: u16) -> Result<()> {
        let deadline = Instant::now() + REUSE_PROBE_WAIT;
        while tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_err()
        {
            if Instant::now() >= deadline {
                return Err(Error::Failed(format!(
                    "{}/postmaster.pid says a server runs on port {port}, but nothing accepts \
                     connections there; if no PostgreSQL server uses {}, delete that file and try again",
                    self.data_dir.display(),
                    self.data_dir.display()
                )));
            }
            tokio::time::sleep(LOCK_POLL).await;
        }
        Ok(())
    }

    /// Runs `initdb` unless the data directory already holds a cluster:
    /// superuser `postgres`, trust authentication, UTF-8, C locale.
    ///
    /// `initdb` writes into a staging directory that is renamed into place
    /// when complete, so an interrupted run never leaves a half-made cluster.
    pub(crate) async fn init_if_needed(&self, fsync: bool) -> Result<()> {
        if self.data_dir.join("PG_VERSION").is_file() {
            return Ok(());
        }
        ensure_empty_or_missing(&self.data_dir)?;
        let staging = sibling(&self.data_dir, ".initdb")?;
        remove_dir_if_present(&staging)?;
        self.create_owned_dir(&staging)?;
        fs::set_permissions(&staging, fs::Permissions::from_mode(0o700))
            .map_err(io_error(format!("restricting {}", staging.display())))?;

        let mut initdb = self.command("initdb");
        initdb.arg("-D").arg(&staging).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
        ]);
        if !fsync {
            initdb.arg("--no-sync");
        }
        run(initdb).await?;

        remove_dir_if_present(&self.data_dir)?;
        fs::rename(&staging, &self.data_dir).map_err(io_error(format!(
            "renaming {} to {}",
            staging.display(),
            self.data_dir.display()
        )))?;
        info!(
            "initialised a PostgreSQL cluster in {}",
            self.data_dir.display()
        );
        Ok(())
    }

    /// Starts the server on `port`, or on a free port when `None`.
    ///
    /// A port we picked ourselves may be taken by another program before the
    /// server binds it; then we try another one.
    pub(crate) async fn start_server(&self, port: Option<u16>, fsync: bool) -> Result<u16> {
        if let Some(port) = port {
            self.pg_ctl_start(port, fsync).await?;
            return Ok(port);
        }
        let mut attempt = 1;
        loop {
            let port = free_port()?;
            match self.pg_ctl_start(port, fsync).await {
                Ok(()) => return Ok(port),
                Err(error) if attempt < PORT_ATTEMPTS && is_port_clash(&error) => attempt += 1,
                Err(error) => return Err(error),
            }
        }
    }

    /// `pg_ctl start -w`; on failure the error includes what the server logged.
    pub(crate) async fn pg_ctl_start(&self, port: u16, fsync: bool) -> Result<()> {
        self.create_owned_dir(&self.socket_dir)?;
        self.create_owned_log()?;
        let log_start = file_len(&self.log_file);

        let mut command = self.pg_ctl();
        command
            .arg("-l")
            .arg(&self.log_file)
            .args(["-w", "-t", PG_CTL_TIMEOUT_SECS, "-o"])
            .arg(server_options(port, &self.socket_dir, fsync))
            .arg("start");
        match run(command).await {
            Err(Error::Failed(details)) => Err(Error::Failed(format!(
                "{details}\nserver log ({}):\n{}",
                self.log_file.display(),
                tail(&read_from(&self.log_file, log_start), TAIL_LINES)
            ))),
            other => other.map(drop),
        }
    }

    /// Creates `dir` (if needed) and hands it to the server account.
    fn create_owned_dir(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).map_err(io_error(format!("creating {}", dir.display())))?;
        self.hand_over(dir)
    }

    /// Creates the log file (if needed) and hands it to the server account,
    /// which must be able to append to it.
    fn create_owned_log(&self) -> Result<()> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_file)
            .map_err(io_error(format!("creating {}", self.log_file.display())))?;
        self.hand_over(&self.log_file)
    }

    /// Makes `path` owned by the server account when we run the server as another account.
    fn hand_over(&self, path: &Path) -> Result<()> {
        match self.run_as {
            Some((uid, gid)) => chown(path, Some(uid), Some(gid)).map_err(io_error(format!(
                "changing the owner of {}",
                path.display()
            ))),
            None => Ok(()),
        }
    }
}

/// Whether a failed start was caused by the port being in use.
fn is_port_clash(error: &Error) -> bool {
    matches!(error, Error::Failed(details) if details.contains("Address already in use"))
}

/// The `-o` options for the server: TCP on 127.0.0.1 only, our socket directory,
/// and, for tests, no waiting for the disk.
fn server_options(port: u16, socket_dir: &Path, fsync: bool) -> String {
    let mut options = format!(
        "-c listen_addresses=127.0.0.1 -p {port} -k {}",
        shell_quote(&socket_dir.to_string_lossy())
    );
    if !fsync {
        options.push_str(" -c max_connections=200 -c fsync=off -c full_page_writes=off");
    }
    options
}

/// `<data_dir><suffix>` next to the data directory, e.g. `data.sock`.
fn sibling(data_dir: &Path, suffix: &str) -> Result<PathBuf> {
    let name = data_dir.file_name().ok_or_else(|| {
        Error::Failed(format!(
            "the data directory {} must end in a directory name",
            data_dir.display()
        ))
    })?;
    let mut name = OsString::from(name);
    name.push(suffix);
    Ok(data_dir.with_file_name(name))
}

/// Fails unless `dir` is missing or empty: `initdb` must not mix a cluster into other files.
fn ensure_empty_or_missing(dir: &Path) -> Result<()> {
    let is_empty = match fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(error) if error.kind() == io::ErrorKind::NotFound => true,
        Err(error) => return Err(Error::Io(format!("reading {}", dir.display()), error)),
    };
    if is_empty {
        Ok(())
    } else {
        Err(Error::Failed(format!(
            "{} is not empty but holds no PostgreSQL cluster (no PG_VERSION); \
             move it away or choose another data directory",
            dir.display()
        )))
    }
}

/// Removes a directory and its contents, if it exists.
fn remove_dir_if_present(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => {
            Err(Error::Io(format!("removing {}", dir.display()), error))
        }
        _ => Ok(()),
    }
}

/// The port on line 4 of a `postmaster.pid` file.
fn parse_pid_file_port(contents: &str) -> Option<u16> {
    contents.lines().nth(3)?.trim().parse().ok()
}

/// A port that is free right now: bind port 0 and see what the system gave us.
pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(io_error("looking for a free port on 127.0.0.1"))?;
    let address = listener
        .local_addr()
        .map_err(io_error("looking for a free port on 127.0.0.1"))?;
    Ok(address.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_pid_file() {
        let pid_file = "1234\n/data\n1700000000\n5433\n/tmp\n127.0.0.1\n  1  2\nready\n";
        assert_eq!(parse_pid_file_port(pid_file), Some(5433));
    }

    #[test]
    fn builds_server_options() {
        let quoted = server_options(5433, Path::new("/a b/it's.sock"), true);
        assert_eq!(
            quoted,
            r"-c listen_addresses=127.0.0.1 -p 5433 -k '/a b/it'\''s.sock'"
        );
        assert!(server_options(1, Path::new("/s"), false).contains("-c fsync=off"));
        assert_eq!(
            sibling(Path::new("/t/data"), ".sock").unwrap(),
            Path::new("/t/data.sock")
        );
    }
}
