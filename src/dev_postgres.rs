//! A private PostgreSQL server for development and tests.
//!
//! In production the app connects to the database named by `DATABASE_URL`.
//! During development that variable is usually unset, and asking every
//! contributor to install, configure and start a database server by hand is a
//! poor first experience. So when `DATABASE_URL` is unset the app starts its
//! own PostgreSQL server from the server binaries installed on the machine
//! (`initdb`, `pg_ctl` and `postgres`), keeps its data under `target/` so that
//! data and sessions survive restarts of the app, and stops it again when the
//! app stops.
//!
//! Next to the data directory `<dir>/<name>` this module keeps:
//!
//! | path            | what it is                                                     |
//! |-----------------|----------------------------------------------------------------|
//! | `<name>/`       | the database cluster, created by `initdb` on first use         |
//! | `<name>.sock/`  | the Unix socket directory (the app itself connects over TCP)   |
//! | `<name>.log`    | the server log: look here first when something goes wrong      |
//! | `<name>.lock`   | a lock file, so that parallel processes start one server only  |
//!
//! PostgreSQL refuses to run as root. When this process is root (as in many
//! containers), the server commands run as the `postgres` OS account instead,
//! and that account owns the data directory.
//!
//! ```ignore
//! let pg = DevPostgres::start(DevPostgresOptions {
//!     data_dir: "target/dev-postgres/data".into(),
//!     fsync: true,
//!     port: None,
//! })
//! .await?;
//! let url = pg.url("postgres");
//! // ... run the app; dropping `pg` stops the server.
//! ```

use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use log::info;

/// The OS account that runs the server when this process is root.
const SERVER_ACCOUNT: &str = "postgres";
/// The binaries that must sit side by side in one directory.
const SERVER_BINARIES: [&str; 3] = ["initdb", "pg_ctl", "postgres"];
/// Where we look for them, in words, for the "not installed" error.
const SEARCHED_LOCATIONS: &str = "the directory of `pg_ctl` on PATH, /usr/lib/postgresql/<version>/bin, \
     /usr/local/pgsql/bin, /opt/homebrew/opt/postgresql*/bin and /usr/pgsql-*/bin";
/// Seconds `pg_ctl` may wait for the server to start or stop.
const PG_CTL_TIMEOUT_SECS: &str = "60";
/// How long to wait for another process that is initialising or starting the same cluster.
const LOCK_WAIT: Duration = Duration::from_secs(180);
/// How often to retry the lock while waiting.
const LOCK_POLL: Duration = Duration::from_millis(50);
/// How long a server we reuse may take to accept TCP connections.
const REUSE_PROBE_WAIT: Duration = Duration::from_secs(10);
/// How many free ports to try when another program grabs the one we picked.
const PORT_ATTEMPTS: usize = 3;
/// How many lines of a failed command's output end up in the error.
const TAIL_LINES: usize = 20;

/// Why the development server could not be started or stopped.
///
/// The variants separate "nothing to run" (a setup problem the developer fixes
/// by installing a package or setting `DATABASE_URL`) from failures of the
/// file system and of the PostgreSQL commands themselves.
#[derive(Debug)]
pub enum DevPostgresError {
    /// No directory holds `initdb`, `pg_ctl` and `postgres`; the text says where we looked.
    NotInstalled(String),
    /// A file-system operation failed: what we were doing, and the error.
    Io(String, io::Error),
    /// A PostgreSQL command failed: the command line and the tail of its output (and of the server log).
    Failed(String),
}

impl fmt::Display for DevPostgresError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInstalled(searched) => write!(
                f,
                "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found; looked in {searched}. \
                 Install the PostgreSQL server package (Debian: `apt-get install postgresql`) \
                 or set DATABASE_URL to use an existing server"
            ),
            Self::Io(action, error) => write!(f, "{action}: {error}"),
            Self::Failed(details) => f.write_str(details),
        }
    }
}

impl std::error::Error for DevPostgresError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(_, error) => Some(error),
            _ => None,
        }
    }
}

/// Shorthand for the results in this module.
type Result<T, E = DevPostgresError> = std::result::Result<T, E>;

/// Turns an `io::Error` into [`DevPostgresError::Io`] that says what we were doing.
fn io_error(action: impl Into<String>) -> impl FnOnce(io::Error) -> DevPostgresError {
    let action = action.into();
    move |error| DevPostgresError::Io(action, error)
}

/// How to start the development server.
///
/// Only the data directory is required knowledge; the other two fields let
/// tests trade durability for speed and pin the port when needed.
#[derive(Debug, Clone)]
pub struct DevPostgresOptions {
    /// The cluster's data directory, e.g. `target/dev-postgres/data`. Its parent
    /// also receives the socket directory, the log and the lock file.
    pub data_dir: PathBuf,
    /// `false` turns off `fsync` and `full_page_writes` (and raises
    /// `max_connections` to 200): much faster `CREATE DATABASE` for tests, but a
    /// crash of the machine may lose data. Use `true` for the app.
    /// (`synchronous_commit` keeps its default, so tests see the app's settings.)
    pub fsync: bool,
    /// The TCP port to listen on; `None` picks a free one.
    pub port: Option<u16>,
}

/// A private PostgreSQL server for development and tests.
///
/// [`DevPostgres::start`] initialises the cluster when needed and starts the
/// server, or reuses one that already runs on the same data directory. The
/// handle that started the server stops it when dropped; a handle that merely
/// reused a running server leaves it running, because its owner still needs it.
#[derive(Debug)]
pub struct DevPostgres {
    cluster: Cluster,
    port: u16,
    fsync: bool,
    /// Whether this handle started the server, and so stops it on drop.
    owned: AtomicBool,
    /// Whether the server is running as far as this handle knows.
    running: AtomicBool,
}

impl DevPostgres {
    /// Starts the server, or reuses the one already running on `options.data_dir`.
    ///
    /// Finds the server binaries, runs `initdb` when the data directory has no
    /// `PG_VERSION` yet (superuser `postgres`, trust authentication, UTF-8, C
    /// locale) and starts the server on 127.0.0.1 only, waiting until it
    /// accepts connections. A server that already runs on the data directory
    /// (another test process, or an app that crashed) is reused, with the port
    /// it listens on, and is not stopped when this handle is dropped. A stale
    /// `postmaster.pid` left by a killed server does not prevent a start.
    ///
    /// Several processes may call this at once on the same data directory
    /// (parallel test binaries, say): an exclusive lock on `<data_dir>.lock`
    /// makes them take turns, so exactly one starts the server and the others
    /// reuse it. The lock is released when this returns, or when its process dies.
    pub async fn start(options: DevPostgresOptions) -> Result<DevPostgres> {
        let bin_dir = find_bin_dir()?;
        let run_as = server_account()?;
        let data_dir = match run_as {
            Some((uid, gid)) => reachable_data_dir(&options.data_dir, uid, gid)?,
            None => options.data_dir.clone(),
        };
        let cluster = Cluster::new(&data_dir, bin_dir, run_as)?;
        cluster.prepare_parent()?;
        let _lock = lock_exclusive(&cluster.lock_file).await?;

        if cluster.is_running().await? {
            let port = cluster.running_port()?;
            cluster.check_accepts_connections(port).await?;
            info!(
                "reusing the PostgreSQL server already running on 127.0.0.1:{port} (data in {})",
                cluster.data_dir.display()
            );
            return Ok(Self::new(cluster, port, options.fsync, false));
        }

        cluster.init_if_needed(options.fsync).await?;
        let port = cluster.start_server(options.port, options.fsync).await?;
        info!(
            "started PostgreSQL on 127.0.0.1:{port} (data in {}, log in {})",
            cluster.data_dir.display(),
            cluster.log_file.display()
        );
        Ok(Self::new(cluster, port, options.fsync, true))
    }

    /// Wraps a running server; `owned` says whether this handle started it.
    fn new(cluster: Cluster, port: u16, fsync: bool, owned: bool) -> Self {
        Self {
            cluster,
            port,
            fsync,
            owned: AtomicBool::new(owned),
            running: AtomicBool::new(true),
        }
    }

    /// The connection URL of `database` on this server, e.g.
    /// `postgres://postgres@127.0.0.1:5433/postgres`.
    ///
    /// No password is needed: the cluster trusts local connections, which is
    /// why it only listens on 127.0.0.1.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Where the server keeps its data: the requested directory, or a folder
    /// of its own under the temp dir when the server account cannot reach it.
    pub fn data_dir(&self) -> &Path {
        &self.cluster.data_dir
    }

    /// The TCP port the server listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server with a fast shutdown (`pg_ctl stop -m fast -w`).
    ///
    /// Open connections are cut and the call returns once the server is down.
    /// Stopping a server that is not running does nothing, so calling this
    /// twice is fine.
    pub async fn stop(&self) -> Result<()> {
        let _lock = lock_exclusive(&self.cluster.lock_file).await?;
        if self.cluster.is_running().await? {
            run(self.cluster.stop_command()).await?;
            info!(
                "stopped PostgreSQL on 127.0.0.1:{} (data in {})",
                self.port,
                self.cluster.data_dir.display()
            );
        }
        self.running.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Starts the server again after [`stop`](Self::stop), on the same data
    /// directory and the same port, so that existing connection URLs stay valid.
    ///
    /// Fault-injection tests use this to take the database away from a running
    /// app and give it back. The handle that restarts the server owns it from
    /// then on and stops it when dropped. If the server is already running on
    /// the same port, this does nothing.
    pub async fn restart_after_stop(&self) -> Result<()> {
        let _lock = lock_exclusive(&self.cluster.lock_file).await?;
        if self.cluster.is_running().await? {
            let port = self.cluster.running_port()?;
            if port != self.port {
                return Err(DevPostgresError::Failed(format!(
                    "cannot restart PostgreSQL on port {}: another server already runs on {} (port {port})",
                    self.port,
                    self.cluster.data_dir.display()
                )));
            }
        } else {
            self.cluster.pg_ctl_start(self.port, self.fsync).await?;
            info!(
                "restarted PostgreSQL on 127.0.0.1:{} (data in {})",
                self.port,
                self.cluster.data_dir.display()
            );
        }
        self.owned.store(true, Ordering::SeqCst);
        self.running.store(true, Ordering::SeqCst);
        Ok(())
    }
}

impl Drop for DevPostgres {
    /// Stops the server if this handle started it and it still runs.
    ///
    /// Drop cannot be async, so this waits for `pg_ctl` synchronously; errors
    /// are ignored because there is nobody left to report them to.
    fn drop(&mut self) {
        if !(*self.owned.get_mut() && *self.running.get_mut()) {
            return;
        }
        let stopped = self
            .cluster
            .stop_command()
            .output()
            .is_ok_and(|output| output.status.success());
        if stopped {
            info!(
                "stopped PostgreSQL on 127.0.0.1:{} (data in {})",
                self.port,
                self.cluster.data_dir.display()
            );
        }
    }
}

/// Where a cluster's files live, and how to run the PostgreSQL commands on it.
#[derive(Debug)]
struct Cluster {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_file: PathBuf,
    lock_file: PathBuf,
    /// The uid and gid to run the commands as; `None` runs them as ourselves.
    run_as: Option<(u32, u32)>,
}

impl Cluster {
    fn new(data_dir: &Path, bin_dir: PathBuf, run_as: Option<(u32, u32)>) -> Result<Self> {
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
    fn prepare_parent(&self) -> Result<()> {
        let parent = self.parent();
        fs::create_dir_all(parent).map_err(io_error(format!("creating {}", parent.display())))?;
        match self.run_as {
            Some((uid, gid)) => check_reachable(parent, uid, gid),
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

    /// `pg_ctl stop -m fast -w`, shared by `stop` and `Drop`.
    fn stop_command(&self) -> Command {
        let mut command = self.pg_ctl();
        command.args(["-m", "fast", "-w", "-t", PG_CTL_TIMEOUT_SECS, "stop"]);
        command
    }

    /// Asks `pg_ctl status`, which also copes with a stale `postmaster.pid`.
    async fn is_running(&self) -> Result<bool> {
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
    fn running_port(&self) -> Result<u16> {
        let pid_file = self.data_dir.join("postmaster.pid");
        let contents = fs::read_to_string(&pid_file)
            .map_err(io_error(format!("reading {}", pid_file.display())))?;
        parse_pid_file_port(&contents).ok_or_else(|| {
            DevPostgresError::Failed(format!("no port on line 4 of {}", pid_file.display()))
        })
    }

    /// Makes sure a server we are about to reuse really listens on `port`,
    /// rather than `postmaster.pid` naming a process that merely got the old PID.
    async fn check_accepts_connections(&self, port: u16) -> Result<()> {
        let deadline = Instant::now() + REUSE_PROBE_WAIT;
        while tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_err()
        {
            if Instant::now() >= deadline {
                return Err(DevPostgresError::Failed(format!(
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

    /// Runs `initdb` unless the data directory already holds a cluster.
    ///
    /// `initdb` writes into a staging directory that is renamed into place
    /// when complete, so an interrupted run never leaves a half-made cluster.
    async fn init_if_needed(&self, fsync: bool) -> Result<()> {
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
    async fn start_server(&self, port: Option<u16>, fsync: bool) -> Result<u16> {
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
    async fn pg_ctl_start(&self, port: u16, fsync: bool) -> Result<()> {
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
            Err(DevPostgresError::Failed(details)) => Err(DevPostgresError::Failed(format!(
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

/// Runs a command to completion and turns a non-zero exit into [`DevPostgresError::Failed`].
async fn run(command: Command) -> Result<Output> {
    let description = describe(&command);
    let output = tokio::process::Command::from(command)
        .output()
        .await
        .map_err(io_error(format!("running {description}")))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(command_failed(&description, &output))
    }
}

/// The command line, for error messages.
fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The error for a failed command: its command line, exit status and the tail of its output.
fn command_failed(description: &str, output: &Output) -> DevPostgresError {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let text = if stderr.trim().is_empty() {
        String::from_utf8_lossy(&output.stdout)
    } else {
        stderr
    };
    DevPostgresError::Failed(format!(
        "`{description}` failed ({}):\n{}",
        output.status,
        tail(&text, TAIL_LINES)
    ))
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Whether a failed start was caused by the port being in use.
fn is_port_clash(error: &DevPostgresError) -> bool {
    matches!(error, DevPostgresError::Failed(details) if details.contains("Address already in use"))
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

/// Quotes `text` for `/bin/sh`, which `pg_ctl` uses to start the server.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// `<data_dir><suffix>` next to the data directory, e.g. `data.sock`.
fn sibling(data_dir: &Path, suffix: &str) -> Result<PathBuf> {
    let name = data_dir.file_name().ok_or_else(|| {
        DevPostgresError::Failed(format!(
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
        Err(error) => {
            return Err(DevPostgresError::Io(
                format!("reading {}", dir.display()),
                error,
            ));
        }
    };
    if is_empty {
        Ok(())
    } else {
        Err(DevPostgresError::Failed(format!(
            "{} is not empty but holds no PostgreSQL cluster (no PG_VERSION); \
             move it away or choose another data directory",
            dir.display()
        )))
    }
}

/// Removes a directory and its contents, if it exists.
fn remove_dir_if_present(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(DevPostgresError::Io(
            format!("removing {}", dir.display()),
            error,
        )),
        _ => Ok(()),
    }
}

/// The size of a file, or 0 when it cannot be read.
fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |metadata| metadata.len())
}

/// What a file holds from byte `offset` on, or nothing when it cannot be read.
fn read_from(path: &Path, offset: u64) -> String {
    let mut bytes = Vec::new();
    let read = File::open(path).and_then(|mut file| {
        file.seek(SeekFrom::Start(offset))?;
        file.read_to_end(&mut bytes)
    });
    match read {
        Ok(_) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    }
}

/// The port on line 4 of a `postmaster.pid` file.
fn parse_pid_file_port(contents: &str) -> Option<u16> {
    contents.lines().nth(3)?.trim().parse().ok()
}

/// A port that is free right now: bind port 0 and see what the system gave us.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(io_error("looking for a free port on 127.0.0.1"))?;
    let address = listener
        .local_addr()
        .map_err(io_error("looking for a free port on 127.0.0.1"))?;
    Ok(address.port())
}

/// Takes an exclusive lock on `path`, waiting for other holders.
///
/// The operating system releases the lock when the returned file is closed or
/// its process dies, so a crashed process never leaves a stale lock behind.
async fn lock_exclusive(path: &Path) -> Result<File> {
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
                return Err(DevPostgresError::Failed(format!(
                    "another process has held {} for over {} s",
                    path.display(),
                    LOCK_WAIT.as_secs()
                )));
            }
            Err(TryLockError::Error(error)) => {
                return Err(DevPostgresError::Io(
                    format!("locking {}", path.display()),
                    error,
                ));
            }
        }
    }
}

/// The first directory that holds all the server binaries.
fn find_bin_dir() -> Result<PathBuf> {
    candidate_bin_dirs()
        .into_iter()
        .find(|dir| has_server_binaries(dir))
        .ok_or_else(|| DevPostgresError::NotInstalled(SEARCHED_LOCATIONS.to_owned()))
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

/// The uid and gid to run the server as: the `postgres` account when we are
/// root (PostgreSQL refuses to run as root), otherwise ourselves (`None`).
fn server_account() -> Result<Option<(u32, u32)>> {
    if effective_uid() != Some(0) {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd").map_err(io_error("reading /etc/passwd"))?;
    match parse_passwd_ids(&passwd, SERVER_ACCOUNT) {
        Some(ids) => Ok(Some(ids)),
        None => Err(DevPostgresError::Failed(format!(
            "PostgreSQL refuses to run as root and there is no `{SERVER_ACCOUNT}` account to run it as; \
             create one (Debian's postgresql package does) or run the app as a normal user"
        ))),
    }
}

/// The uid and gid of `account` in the contents of `/etc/passwd`.
fn parse_passwd_ids(passwd: &str, account: &str) -> Option<(u32, u32)> {
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

/// Where the data directory can live when the server runs as another account.
///
/// The requested place when the server account can reach it. Otherwise (a
/// checkout under `/root` or in a private temporary folder, say), a folder of
/// its own under the system temporary directory, named after the requested
/// path so that the same checkout finds the same data again.
fn reachable_data_dir(requested: &Path, uid: u32, gid: u32) -> Result<PathBuf> {
    let requested = std::path::absolute(requested)
        .map_err(io_error(format!("resolving {}", requested.display())))?;
    let parent = requested.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(parent).map_err(io_error(format!("creating {}", parent.display())))?;
    if check_reachable(parent, uid, gid).is_ok() {
        return Ok(requested);
    }
    let digest = Sha256::digest(requested.to_string_lossy().as_bytes());
    let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let relocated = std::env::temp_dir()
        .join(format!("session-demo-postgres-{name}"))
        .join(requested.file_name().unwrap_or("data".as_ref()));
    info!(
        "the `{SERVER_ACCOUNT}` account cannot reach {}; keeping the server's data in {} instead",
        requested.display(),
        relocated.display()
    );
    Ok(relocated)
}

/// Fails with a clear message when the server account cannot enter `dir` or
/// one of its ancestors (a project under `/root`, say): the server could not
/// reach its data directory.
fn check_reachable(dir: &Path, uid: u32, gid: u32) -> Result<()> {
    for ancestor in dir.ancestors() {
        let metadata = fs::metadata(ancestor)
            .map_err(io_error(format!("inspecting {}", ancestor.display())))?;
        let mode = metadata.permissions().mode();
        let searchable = (metadata.uid() == uid && mode & 0o100 != 0)
            || (metadata.gid() == gid && mode & 0o010 != 0)
            || mode & 0o001 != 0;
        if !searchable {
            return Err(DevPostgresError::Failed(format!(
                "the `{SERVER_ACCOUNT}` account, which runs the server because we are root, \
                 cannot enter {} and so cannot reach {}; choose a data directory it can reach \
                 or run the app as a normal user",
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
    use std::time::SystemTime;
    use tokio::net::TcpStream;

    /// A unique scratch directory under the system temp dir, removed on drop.
    /// Declare it before the server handle so that it is dropped after it.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let nanos = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let dir =
                std::env::temp_dir().join(format!("devpg-{name}-{}-{nanos}", std::process::id()));
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn options(&self) -> DevPostgresOptions {
            DevPostgresOptions {
                data_dir: self.0.join("data"),
                fsync: false,
                port: None,
            }
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    async fn listens(port: u16) -> bool {
        TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_ok()
    }

    async fn wait_until_refused(port: u16) {
        for _ in 0..100 {
            if !listens(port).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("port {port} still accepts connections");
    }

    #[tokio::test]
    async fn stop_restart_and_drop() {
        let scratch = Scratch::new("lifecycle");
        let pg = DevPostgres::start(scratch.options()).await.unwrap();
        let port = pg.port();
        assert_eq!(
            pg.url("app"),
            format!("postgres://postgres@127.0.0.1:{port}/app")
        );
        assert!(listens(port).await, "server should listen after start");
        assert!(scratch.0.join("data.log").is_file());

        pg.stop().await.unwrap();
        assert!(!listens(port).await, "server should refuse after stop");
        pg.stop().await.unwrap(); // idempotent

        pg.restart_after_stop().await.unwrap();
        assert_eq!(pg.port(), port);
        assert!(listens(port).await, "server should listen after restart");

        drop(pg);
        assert!(!listens(port).await, "server should be stopped by drop");
    }

    #[tokio::test]
    async fn second_start_reuses_running_server() {
        let scratch = Scratch::new("reuse");
        let owner = DevPostgres::start(scratch.options()).await.unwrap();
        let port = owner.port();

        let reuser = DevPostgres::start(scratch.options()).await.unwrap();
        assert_eq!(reuser.port(), port);
        drop(reuser);
        assert!(
            listens(port).await,
            "dropping a reusing handle must not stop the server"
        );

        drop(owner);
        assert!(!listens(port).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_starts_share_one_server() {
        let scratch = Scratch::new("concurrent");
        let (a, b) = tokio::join!(
            DevPostgres::start(scratch.options()),
            DevPostgres::start(scratch.options())
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.port(), b.port());
        let owners = [&a, &b]
            .iter()
            .filter(|pg| pg.owned.load(Ordering::SeqCst))
            .count();
        assert_eq!(owners, 1);
        let port = a.port();
        drop((a, b));
        assert!(!listens(port).await);
    }

    #[tokio::test]
    async fn starts_after_kill_9() {
        let scratch = Scratch::new("kill");
        let pg = DevPostgres::start(scratch.options()).await.unwrap();
        let port = pg.port();
        let pid_file = fs::read_to_string(scratch.0.join("data/postmaster.pid")).unwrap();
        let pid = pid_file.lines().next().unwrap().trim().to_owned();
        let status = Command::new("kill").args(["-9", &pid]).status().unwrap();
        assert!(status.success());
        wait_until_refused(port).await;
        drop(pg);

        let again = DevPostgres::start(scratch.options()).await.unwrap();
        assert!(
            listens(again.port()).await,
            "server should start after kill -9"
        );
    }

    #[tokio::test]
    async fn pinned_port_and_fsync_on() {
        let scratch = Scratch::new("pinned");
        let port = free_port().unwrap();
        let options = DevPostgresOptions {
            fsync: true,
            port: Some(port),
            ..scratch.options()
        };
        let pg = DevPostgres::start(options).await.unwrap();
        assert_eq!(pg.port(), port);
        assert!(listens(port).await);
    }

    #[test]
    fn not_installed_says_what_to_do() {
        let message = DevPostgresError::NotInstalled(SEARCHED_LOCATIONS.to_owned()).to_string();
        assert!(message.contains("apt-get install postgresql"));
        assert!(message.contains("DATABASE_URL"));
        assert!(message.contains("/usr/lib/postgresql"));
    }

    #[test]
    fn parses_passwd_and_proc_status() {
        let passwd =
            "root:x:0:0:root:/root:/bin/bash\npostgres:x:101:104::/var/lib/postgresql:/bin/bash\n";
        assert_eq!(parse_passwd_ids(passwd, "postgres"), Some((101, 104)));
        assert_eq!(parse_passwd_ids(passwd, "nobody"), None);
        let status = "Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t0\t0\t0\t0\n";
        assert_eq!(parse_effective_uid(status), Some(0));
    }

    #[test]
    fn orders_versions_and_reads_pid_file() {
        assert!(version_key("15") > version_key("9.6"));
        assert!(version_key("@16") > version_key(""));
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

    #[test]
    fn finds_installed_binaries() {
        let dir = find_bin_dir().unwrap();
        assert!(has_server_binaries(&dir), "{}", dir.display());
    }
}
