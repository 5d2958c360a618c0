//! [`DevPostgres`]: the handle to one running server.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use log::info;

use crate::account::server_account;
use crate::binaries::find_bin_dir;
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::location::{self, reachable_data_dir};
use crate::lock::lock_exclusive;

/// How to start the development server.
///
/// Only the data directory is required knowledge; the other two fields let
/// tests trade durability for speed and pin the port when needed.
#[derive(Debug, Clone)]
pub struct DevPostgresOptions {
    /// The cluster's data directory, e.g. `target/dev-postgres`. Its parent
    /// also receives the socket directory, the log and the lock file.
    pub data_dir: PathBuf,
    /// `false` turns off `fsync` and `full_page_writes` (and raises
    /// `max_connections` to 200): much faster `CREATE DATABASE` for tests, but a
    /// crash of the machine may lose data. Use `true` for an app's data.
    /// (`synchronous_commit` keeps its default, so tests see an app's settings.)
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
    /// `PG_VERSION` yet and starts the server on 127.0.0.1 only, waiting until
    /// it accepts connections. A server that already runs on the data directory
    /// (another test process, or an app that crashed) is reused, with the port
    /// it listens on, and is not stopped when this handle is dropped. A stale
    /// `postmaster.pid` left by a killed server does not prevent a start.
    ///
    /// Several processes may call this at once on the same data directory
    /// (parallel test binaries, say): an exclusive lock on `<data_dir>.lock`
    /// makes them take turns, so exactly one starts the server and the others
    /// reuse it. The lock is released when this returns, or when its process dies.
    pub async fn start(options: DevPostgresOptions) -> Result<DevPostgres> {
        let cluster = open_cluster(&options.data_dir)?;
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

    /// A handle to the server already running on `data_dir`, or `None` when
    /// none runs there. The handle does not own the server: dropping it leaves
    /// the server running, [`stop`](Self::stop) stops it.
    pub async fn running(data_dir: &Path) -> Result<Option<DevPostgres>> {
        let cluster = open_cluster(data_dir)?;
        if !cluster.lock_file.exists() {
            return Ok(None); // Never started here: nothing to lock, nothing runs.
        }
        let _lock = lock_exclusive(&cluster.lock_file).await?;
        if !cluster.is_running().await? {
            return Ok(None);
        }
        let port = cluster.running_port()?;
        Ok(Some(Self::new(cluster, port, true, false)))
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
    /// of its own under the temp dir when the server account cannot reach it
    /// (see [`data_dir_for`](crate::data_dir_for)).
    pub fn data_dir(&self) -> &Path {
        &self.cluster.data_dir
    }

    /// The folder of its own that holds this server's files when they could
    /// not live where they were asked to, or `None`. Tests that start
    /// throwaway servers remove it afterwards.
    pub fn relocated_folder(&self) -> Option<&Path> {
        location::relocated_folder(&self.cluster.data_dir)
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
            crate::command::run(self.cluster.stop_command()).await?;
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
                return Err(Error::Failed(format!(
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

    /// Lets go of the server without stopping it, for a process that starts a
    /// server for others and exits (the command-line tool's `start`).
    pub fn leave_running(self) {
        self.owned.store(false, Ordering::SeqCst);
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

/// The cluster asked for at `requested`: binaries found, the account to run
/// them as chosen, and the data directory relocated if that account cannot
/// reach it.
fn open_cluster(requested: &Path) -> Result<Cluster> {
    let bin_dir = find_bin_dir()?;
    let run_as = server_account()?;
    let data_dir = match run_as {
        Some(account) => reachable_data_dir(requested, account)?,
        None => requested.to_path_buf(),
    };
    Cluster::new(&data_dir, bin_dir, run_as)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::free_port;
    use std::net::Ipv4Addr;
    use std::process::Command;
    use std::time::{Duration, SystemTime};
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
            std::fs::create_dir_all(&dir).unwrap();
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
            let _ = std::fs::remove_dir_all(&self.0);
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

    #[tokio::test]
    async fn a_left_running_server_is_found_and_stopped_by_its_data_dir() {
        let scratch = Scratch::new("leave");
        let data_dir = scratch.options().data_dir;
        assert!(DevPostgres::running(&data_dir).await.unwrap().is_none());

        let pg = DevPostgres::start(scratch.options()).await.unwrap();
        let port = pg.port();
        pg.leave_running();
        assert!(listens(port).await, "left running");

        let found = DevPostgres::running(&data_dir)
            .await
            .unwrap()
            .expect("found");
        assert_eq!(found.port(), port);
        found.stop().await.unwrap();
        assert!(!listens(port).await);
        assert!(DevPostgres::running(&data_dir).await.unwrap().is_none());
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
        let pid_file = std::fs::read_to_string(scratch.0.join("data/postmaster.pid")).unwrap();
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
}
