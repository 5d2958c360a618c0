//! A highly available PostgreSQL for the failover test: one etcd, three
//! PostgreSQL 15 nodes managed by Patroni, and HAProxy leading to the
//! primary, configured by the files `scripts/ha.sh` uses (`deploy/ha/`),
//! on free loopback ports, in a scratch folder under `target/`. Every
//! process is a child of the test, stopped on drop, and the folder removed.
//!
//! When the tests run as root, Patroni (and so PostgreSQL, which refuses
//! root) runs as the `postgres` account; when that account cannot reach
//! `target/` the folder moves under the temp dir (the rule of
//! `dev_postgres::data_dir_for`).
//!
//! Needs Debian's `patroni`, `etcd-server`, `haproxy` and `postgresql-15`.
//! Without them [`HaDatabase::start`] says the test was skipped and returns
//! `None`, unless `CI_REQUIRE_HA` is set (CI sets it): then it panics.

use std::{
    fs::File,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use session_demo::random::random_hex;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use super::deployment::{find_program, free_port, render, target_dir};

/// The PostgreSQL server binaries Patroni runs (the version deploy/ha names).
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// The app's role and database on the cluster.
const APP_ROLE: &str = "session_demo";

/// One Patroni node: its PostgreSQL and REST API ports and its folder.
pub struct Node {
    /// `pg1`, `pg2`, `pg3`: the Patroni member name.
    pub name: String,
    /// PostgreSQL's port on 127.0.0.1.
    pub pg_port: u16,
    /// Patroni's REST API port on 127.0.0.1.
    pub rest_port: u16,
    dir: PathBuf,
    patroni: Option<Child>,
}

/// etcd, three Patroni nodes and HAProxy, running; stopped on drop.
pub struct HaDatabase {
    folder: PathBuf,
    /// The three nodes.
    pub nodes: Vec<Node>,
    etcd: Child,
    haproxy: Child,
    haproxy_port: u16,
    superuser_password: String,
    app_password: String,
    http: reqwest::Client,
}

impl HaDatabase {
    /// Starts everything and waits until a primary and a synchronous standby
    /// run, or says why the test is skipped and returns `None`.
    pub async fn start(what: &str) -> Option<HaDatabase> {
        let missing: Vec<&str> = [
            ("patroni", "patroni"),
            ("patronictl", "patroni"),
            ("etcd", "etcd-server"),
            ("haproxy", "haproxy"),
        ]
        .into_iter()
        .filter(|(program, _)| find_program(program).is_none())
        .map(|(_, package)| package)
        .chain((!Path::new(PG_BIN).join("postgres").is_file()).then_some("postgresql-15"))
        .collect();
        if !missing.is_empty() {
            if std::env::var_os("CI_REQUIRE_HA").is_some() {
                panic!("CI_REQUIRE_HA is set but these Debian packages are missing: {missing:?}");
            }
            println!("{what} skipped: install Debian's {}", missing.join(", "));
            return None;
        }

        let requested = target_dir().join(format!(
            "ha-test-{}-{}",
            std::process::id(),
            random_hex::<4>().expect("randomness")
        ));
        let folder = dev_postgres::data_dir_for(&requested).expect("a folder for the cluster");
        if folder != requested {
            println!(
                "the postgres account cannot reach {}; the cluster lives in {}",
                requested.display(),
                folder.display()
            );
        }
        std::fs::create_dir_all(&folder).expect("the cluster's folder");
        open_to_everyone(&folder);

        let (etcd_client, etcd_peer) = (free_port(), free_port());
        let etcd_config = folder.join("etcd.yml");
        std::fs::write(
            &etcd_config,
            render(
                "ha/etcd.yml",
                &[
                    ("DATA_DIR", folder.join("etcd").display().to_string()),
                    ("CLIENT_PORT", etcd_client.to_string()),
                    ("PEER_PORT", etcd_peer.to_string()),
                ],
            ),
        )
        .expect("written");
        let etcd = daemon(
            Command::new(find_program("etcd").expect("etcd"))
                .arg("--config-file")
                .arg(&etcd_config),
            &folder.join("etcd.log"),
        );

        let superuser_password = random_hex::<16>().expect("randomness");
        let replication_password = random_hex::<16>().expect("randomness");
        let app_password = random_hex::<16>().expect("randomness");
        let nodes: Vec<Node> = (1..=3)
            .map(|n| {
                let node = Node {
                    name: format!("pg{n}"),
                    pg_port: free_port(),
                    rest_port: free_port(),
                    dir: folder.join(format!("pg{n}")),
                    patroni: None,
                };
                std::fs::create_dir_all(&node.dir).expect("a node's folder");
                let config = render(
                    "ha/patroni.yml",
                    &[
                        ("SCOPE", "session-demo-test".to_owned()),
                        ("NAME", node.name.clone()),
                        ("REST_PORT", node.rest_port.to_string()),
                        ("ETCD_HOSTS", format!("127.0.0.1:{etcd_client}")),
                        ("PG_PORT", node.pg_port.to_string()),
                        ("DATA_DIR", node.dir.join("data").display().to_string()),
                        ("BIN_DIR", PG_BIN.to_owned()),
                        ("NODE_DIR", node.dir.display().to_string()),
                        ("SUPERUSER_PASSWORD", superuser_password.clone()),
                        ("REPLICATION_PASSWORD", replication_password.clone()),
                    ],
                );
                std::fs::write(node.config(), config).expect("written");
                give_to_server_account(&node.dir);
                node
            })
            .collect();

        let haproxy_port = free_port();
        let mut values = vec![
            ("LISTEN", format!("127.0.0.1:{haproxy_port}")),
            ("STATS_LISTEN", format!("127.0.0.1:{}", free_port())),
        ];
        let names = [
            ["NODE_1_NAME", "NODE_1_PG_PORT", "NODE_1_REST_PORT"],
            ["NODE_2_NAME", "NODE_2_PG_PORT", "NODE_2_REST_PORT"],
            ["NODE_3_NAME", "NODE_3_PG_PORT", "NODE_3_REST_PORT"],
        ];
        for (node, [name, pg, rest]) in nodes.iter().zip(names) {
            values.push((name, node.name.clone()));
            values.push((pg, node.pg_port.to_string()));
            values.push((rest, node.rest_port.to_string()));
        }
        let haproxy_config = folder.join("haproxy.cfg");
        std::fs::write(&haproxy_config, render("ha/haproxy.cfg", &values)).expect("written");
        let haproxy = daemon(
            Command::new(find_program("haproxy").expect("haproxy"))
                .arg("-db")
                .arg("-f")
                .arg(&haproxy_config),
            &folder.join("haproxy.log"),
        );

        let mut ha = HaDatabase {
            folder,
            nodes,
            etcd,
            haproxy,
            haproxy_port,
            superuser_password,
            app_password,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .expect("a client"),
        };
        let started = Instant::now();
        ha.wait_for_etcd(etcd_client).await;
        for n in 0..3 {
            ha.start_node(n);
        }
        let primary = ha
            .wait_primary(Duration::from_secs(120))
            .await
            .unwrap_or_else(|| panic!("no primary within 120 s\n{}", ha.logs()));
        let bootstrapped = started.elapsed();
        ha.create_app_database(primary).await;
        ha.wait_healthy(Duration::from_secs(120)).await;
        println!(
            "Patroni: {} primary after {bootstrapped:.1?}, every member running with a \
             synchronous standby after {:.1?}",
            ha.nodes[primary].name,
            started.elapsed()
        );
        Some(ha)
    }

    /// The app's `DATABASE_URL`: through HAProxy, as its own role.
    pub fn app_url(&self) -> String {
        format!(
            "postgres://{APP_ROLE}:{}@127.0.0.1:{}/session_demo",
            self.app_password, self.haproxy_port
        )
    }

    /// The app's database through HAProxy, as the superuser (for the test's
    /// own setup and reading).
    pub fn superuser_url(&self) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/session_demo",
            self.superuser_password, self.haproxy_port
        )
    }

    /// (Re)starts node `n`'s Patroni, which starts its PostgreSQL.
    pub fn start_node(&mut self, n: usize) {
        let node = &mut self.nodes[n];
        let mut command = Command::new(find_program("patroni").expect("patroni"));
        command
            .arg(node.config())
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LC_ALL", "C.UTF-8")
            .env("HOME", &node.dir)
            .current_dir(&node.dir);
        if let Some((uid, gid)) = server_account() {
            // std drops root's supplementary groups when it changes the uid.
            command.uid(uid).gid(gid);
        }
        node.patroni = Some(daemon(&mut command, &node.dir.join("patroni.log")));
    }

    /// SIGKILL to node `n`'s postmaster (Patroni lives on and notices).
    pub fn kill_postmaster(&self, n: usize) {
        let pid = self.nodes[n]
            .postmaster_pid()
            .unwrap_or_else(|| panic!("{} has no postmaster", self.nodes[n].name));
        signal("-KILL", pid);
    }

    /// The node is lost: SIGKILL to its Patroni, then to its postmaster, so
    /// neither can hand anything over (its leader key expires after `ttl`).
    pub fn lose_node(&mut self, n: usize) {
        let node = &mut self.nodes[n];
        let postmaster = node.postmaster_pid();
        if let Some(mut patroni) = node.patroni.take() {
            let _ = patroni.kill();
            let _ = patroni.wait();
        }
        if let Some(pid) = postmaster {
            signal("-KILL", pid);
        }
    }

    /// A planned switchover away from the leader: `patronictl switchover --force`
    /// (as `scripts/ha.sh switchover` does).
    pub fn switchover(&self) {
        let output = Command::new(find_program("patronictl").expect("patronictl"))
            .arg("-c")
            .arg(self.nodes[0].config())
            .args(["switchover", "--force"])
            .output()
            .expect("patronictl runs");
        assert!(
            output.status.success(),
            "patronictl switchover: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The node whose Patroni answers `OPTIONS /primary` with 200 (what
    /// HAProxy asks), if one does.
    pub async fn primary(&self) -> Option<usize> {
        for (n, node) in self.nodes.iter().enumerate() {
            let url = format!("http://127.0.0.1:{}/primary", node.rest_port);
            if let Ok(response) = self
                .http
                .request(reqwest::Method::OPTIONS, &url)
                .send()
                .await
                && response.status() == StatusCode::OK
            {
                return Some(n);
            }
        }
        None
    }

    /// Waits up to `limit` for a primary.
    pub async fn wait_primary(&self, limit: Duration) -> Option<usize> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(n) = self.primary().await {
                return Some(n);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits up to `limit` until all three members run, one leads, one is its
    /// synchronous standby and the replicas have caught up: a failover is
    /// possible again without losing anything. Panics with the logs if not.
    pub async fn wait_healthy(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let last = match self.members().await {
                Ok(members) if healthy(&members) => return,
                Ok(members) => format!("{members:#}"),
                Err(error) => error,
            };
            if Instant::now() > deadline {
                panic!(
                    "the cluster was not healthy within {limit:?}: {last}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Patroni's `GET /cluster` (members, roles, states, lag), from the first
    /// node that answers.
    pub async fn members(&self) -> Result<serde_json::Value, String> {
        let mut error = String::from("no node answered");
        for node in &self.nodes {
            let url = format!("http://127.0.0.1:{}/cluster", node.rest_port);
            match self.http.get(&url).send().await {
                Ok(response) => match response.json::<serde_json::Value>().await {
                    Ok(members) => return Ok(members),
                    Err(e) => error = format!("{url}: {e}"),
                },
                Err(e) => error = format!("{url}: {e}"),
            }
        }
        Err(error)
    }

    /// The last lines of every node's and HAProxy's log (for a failure's message).
    pub fn logs(&self) -> String {
        let mut logs = String::new();
        let files = self
            .nodes
            .iter()
            .map(|node| (node.name.clone(), node.dir.join("patroni.log")))
            .chain([("haproxy".to_owned(), self.folder.join("haproxy.log"))]);
        for (name, file) in files {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            for line in &lines[lines.len().saturating_sub(15)..] {
                logs.push_str(&format!("{name}: {line}\n"));
            }
        }
        logs
    }

    async fn wait_for_etcd(&self, port: u16) {
        let url = format!("http://127.0.0.1:{port}/health");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(self.http.get(&url).send().await, Ok(r) if r.status() == StatusCode::OK) {
            assert!(
                Instant::now() < deadline,
                "etcd did not start: {}",
                std::fs::read_to_string(self.folder.join("etcd.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The app's role, and its database owned by it (the app migrates it).
    async fn create_app_database(&self, primary: usize) {
        let url = format!(
            "postgres://postgres:{}@127.0.0.1:{}/postgres",
            self.superuser_password, self.nodes[primary].pg_port
        );
        let mut connection = PgConnection::connect(&url)
            .await
            .expect("the primary accepts the superuser");
        // DDL takes no bind parameters; the password is our own hex.
        for statement in [
            format!(
                "CREATE ROLE {APP_ROLE} LOGIN PASSWORD '{}'",
                self.app_password
            ),
            format!("CREATE DATABASE session_demo OWNER {APP_ROLE}"),
        ] {
            sqlx::raw_sql(AssertSqlSafe(statement))
                .execute(&mut connection)
                .await
                .expect("the app's role and database");
        }
    }
}

impl Drop for HaDatabase {
    fn drop(&mut self) {
        let _ = self.haproxy.kill();
        let _ = self.haproxy.wait();
        // SIGTERM: each Patroni stops its PostgreSQL (fast shutdown) and exits.
        for node in &self.nodes {
            if let Some(patroni) = &node.patroni {
                signal("-TERM", patroni.id());
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in &mut self.nodes {
            if let Some(mut patroni) = node.patroni.take() {
                while Instant::now() < deadline && matches!(patroni.try_wait(), Ok(None)) {
                    std::thread::sleep(Duration::from_millis(100));
                }
                let _ = patroni.kill();
                let _ = patroni.wait();
            }
            // A postmaster a killed Patroni left behind.
            if let Some(pid) = node.postmaster_pid() {
                signal("-KILL", pid);
            }
        }
        let _ = self.etcd.kill();
        let _ = self.etcd.wait();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

impl Node {
    fn config(&self) -> PathBuf {
        self.dir.join("patroni.yml")
    }

    /// The pid of its running postmaster (first line of `postmaster.pid`).
    fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.dir.join("data/postmaster.pid")).ok()?;
        let pid: u32 = text.lines().next()?.trim().parse().ok()?;
        let alive = Command::new("kill")
            .args(["-0", &pid.to_string()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        alive.then_some(pid)
    }
}

/// Whether Patroni's `/cluster` shows three running members, a leader, a
/// synchronous standby, and no replica lagging.
fn healthy(members: &serde_json::Value) -> bool {
    let Some(members) = members["members"].as_array() else {
        return false;
    };
    let role = |name: &str| members.iter().filter(|m| m["role"] == name).count();
    members.len() == 3
        && members.iter().all(|m| m["state"] == "running")
        && role("leader") == 1
        && role("sync_standby") == 1
        && members
            .iter()
            .filter(|m| m["role"] != "leader")
            .all(|m| m["lag"] == 0)
}

/// Spawns `command` with its output appended to `log`.
fn daemon(command: &mut Command, log: &Path) -> Child {
    let file = File::options()
        .create(true)
        .append(true)
        .open(log)
        .expect("a log file");
    command
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("a log file"))
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?} starts: {e}"))
}

fn signal(signal: &str, pid: u32) {
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// The `postgres` account's uid and gid when we are root (PostgreSQL refuses
/// to run as root), else `None`: we run it ourselves.
fn server_account() -> Option<(u32, u32)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid_line = status.lines().find(|line| line.starts_with("Uid:"))?;
    if uid_line.split_whitespace().nth(2)? != "0" {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let fields: Vec<&str> = passwd
        .lines()
        .find(|line| line.starts_with("postgres:"))
        .expect("PostgreSQL refuses to run as root and there is no `postgres` account")
        .split(':')
        .collect();
    Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
}

/// Lets every account enter `dir` (the server account must reach its nodes).
fn open_to_everyone(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Hands `dir` to the server account (when we are root), so Patroni can
/// write its data, log and password file there.
fn give_to_server_account(dir: &Path) {
    if let Some((uid, gid)) = server_account() {
        for entry in [dir.to_path_buf(), dir.join("patroni.yml")] {
            std::os::unix::fs::chown(&entry, Some(uid), Some(gid)).expect("chown");
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.join("patroni.yml"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod");
    }
}
