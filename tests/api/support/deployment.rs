//! The production deployment as the tests run it: Debian's nginx with the
//! site in `deploy/` terminating TLS in front of three instances of the real
//! binary, each started with `deploy/production.env` (`APP_ENV=production`),
//! all on one database: a fresh one on the test server, or one given (HAProxy
//! in front of Patroni, in failover.rs). Used by deployment.rs and failover.rs.

use std::{
    net::{IpAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::{Response, StatusCode, redirect::Policy};
use session_demo::random::random_hex;

use super::{RunningBinary, fresh_database_url, start_binary};

/// No request through the deployment may take longer than this: a hang is a failure.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------
// The parts: a folder, a certificate, nginx, the instances.

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The build's `target/` folder (`CARGO_TARGET_DIR` when set), found from
/// the binary under test: `target/<profile>/session-demo`.
pub fn target_dir() -> PathBuf {
    let binary = Path::new(env!("CARGO_BIN_EXE_session-demo"));
    binary
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| repo().join("target"), Path::to_path_buf)
}

/// A scratch folder under `target/` (nginx's workers, running as `nobody`
/// when the tests run as root, must be able to enter it), removed on drop.
pub struct Folder(pub PathBuf);

impl Folder {
    /// Creates `target/deployment-<name>-<pid>-<random>`.
    pub fn new(name: &str) -> Self {
        let path = target_dir().join(format!(
            "deployment-{name}-{}-{}",
            std::process::id(),
            random_hex::<4>().expect("randomness")
        ));
        std::fs::create_dir_all(&path).expect("a scratch folder");
        Self(path)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `name` on the `PATH`, or in /usr/sbin (where Debian puts nginx).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A port free on 127.0.0.1 at the time of asking.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// Runs a command, panicking with its output if it fails.
pub fn run(command: &mut Command) {
    let output = command.output().expect("the command starts");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A local certificate authority and a certificate for 127.0.0.1 signed by
/// it, made by openssl in `dir` (as scripts/cluster.sh does); returns the
/// authority's certificate (PEM).
pub fn make_certificate(openssl: &Path, dir: &Path) -> Vec<u8> {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    run(Command::new(openssl)
        .current_dir(dir)
        .args(["req", "-x509", "-days", "2"])
        .args(ec)
        .args([
            "-subj",
            "/CN=session-demo test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ]));
    run(Command::new(openssl)
        .current_dir(dir)
        .arg("req")
        .args(ec)
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]));
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("written");
    run(Command::new(openssl).current_dir(dir).args([
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.crt",
    ]));
    std::fs::read(dir.join("ca.crt")).expect("the authority's certificate")
}

/// Renders `deploy/<file>` with `values` for its `@@NAME@@` placeholders,
/// asserting none is left outside comments.
pub fn render(file: &str, values: &[(&str, String)]) -> String {
    let mut text = std::fs::read_to_string(repo().join("deploy").join(file)).expect(file);
    for (name, value) in values {
        text = text.replace(&format!("@@{name}@@"), value);
    }
    let left: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#') && line.contains("@@"))
        .collect();
    assert!(left.is_empty(), "{file}: placeholders left: {left:?}");
    text
}

/// nginx in the foreground, its prefix in a scratch folder; stopped on drop.
pub struct Nginx {
    child: Child,
}

impl Nginx {
    /// Starts nginx with the site of `deploy/` in front of `upstreams`.
    pub fn start(
        nginx: &Path,
        prefix: &Path,
        https_port: u16,
        http_port: u16,
        upstreams: &[u16],
    ) -> Self {
        let origin = format!("https://127.0.0.1:{https_port}");
        let mut site = vec![
            ("SERVER_NAME", "127.0.0.1 localhost".to_owned()),
            ("HTTPS_LISTEN", format!("127.0.0.1:{https_port}")),
            ("HTTP_LISTEN", format!("127.0.0.1:{http_port}")),
            ("PUBLIC_ORIGIN", origin),
            (
                "TLS_CERTIFICATE",
                prefix.join("server.crt").display().to_string(),
            ),
            (
                "TLS_CERTIFICATE_KEY",
                prefix.join("server.key").display().to_string(),
            ),
            ("LOG_DIR", prefix.join("logs").display().to_string()),
        ];
        let names = ["INSTANCE_1", "INSTANCE_2", "INSTANCE_3"];
        for (name, port) in names.into_iter().zip(upstreams) {
            site.push((name, format!("127.0.0.1:{port}")));
        }
        let prefix_value = [("PREFIX", prefix.display().to_string())];
        for dir in ["logs", "temp"] {
            std::fs::create_dir_all(prefix.join(dir)).expect("a folder");
        }
        std::fs::write(
            prefix.join("nginx.conf"),
            render("nginx-local.conf", &prefix_value),
        )
        .expect("written");
        std::fs::write(
            prefix.join("session-demo.conf"),
            render("session-demo.nginx.conf", &site),
        )
        .expect("written");
        let command = |extra: &[&str]| {
            let mut command = Command::new(nginx);
            command
                .arg("-p")
                .arg(prefix)
                .arg("-c")
                .arg(prefix.join("nginx.conf"))
                .arg("-e")
                .arg(prefix.join("logs/error.log"))
                .args(extra);
            command
        };
        run(&mut command(&["-t", "-q"]));
        let child = command(&["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        Self { child }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: nginx's fast shutdown; its workers exit with the master.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One app instance: the real binary on a fixed port, restartable.
pub struct Instance {
    /// `instance-N`, also its `INSTANCE_NAME`.
    pub name: String,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its `METRICS_ADDR` port.
    pub metrics_port: u16,
    vars: Vec<(String, String)>,
    binary: Option<RunningBinary>,
    /// Warnings and errors logged by its earlier processes.
    trouble: Vec<String>,
}

impl Instance {
    /// Starts the process (again).
    pub fn start(&mut self) {
        let vars: Vec<(&str, &str)> = self
            .vars
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        self.binary = Some(start_binary(&vars));
    }

    fn binary(&mut self) -> &mut RunningBinary {
        self.binary.as_mut().expect("started")
    }

    /// Sends SIGTERM, without waiting.
    pub fn signal_stop(&mut self) {
        self.binary().signal("-TERM");
    }

    /// Keeps the warnings and errors its process logged so far.
    fn keep_trouble(&mut self) {
        if let Some(binary) = self.binary.as_mut() {
            let log = binary.drain();
            self.trouble.extend(
                log.lines()
                    .filter(|line| {
                        // Text lines, or JSON ones (production.env: LOG_FORMAT=json).
                        [
                            " WARN ",
                            " ERROR ",
                            "\"level\":\"WARN\"",
                            "\"level\":\"ERROR\"",
                            "panicked",
                        ]
                        .iter()
                        .any(|word| line.contains(word))
                    })
                    .map(|line| format!("{}: {line}", self.name)),
            );
        }
    }

    /// Whether its process has exited.
    pub fn has_exited(&mut self) -> bool {
        self.binary().exit_status().is_some()
    }

    /// Waits for the exit after [`Instance::signal_stop`].
    pub async fn wait_stopped(&mut self) -> std::process::ExitStatus {
        let name = self.name.clone();
        let status = self
            .binary()
            .wait_exit(Duration::from_secs(30))
            .await
            .unwrap_or_else(|| panic!("{name} did not exit within 30 s of SIGTERM"));
        self.keep_trouble();
        self.binary = None;
        status
    }

    /// Waits (at most 60 s) until its `/healthz` answers 200.
    pub async fn wait_healthy(&self) {
        let url = format!("http://127.0.0.1:{}/healthz", self.port);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = plain_client().get(&url).send().await
                && response.status() == StatusCode::OK
            {
                return;
            }
            assert!(Instant::now() < deadline, "{} is not healthy", self.name);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The settings of `deploy/production.env`, with the two values it leaves to
/// the operator filled in.
pub fn production_env(database_url: &str, secret: &str) -> Vec<(String, String)> {
    let template =
        std::fs::read_to_string(repo().join("deploy/production.env")).expect("the template");
    let mut vars: Vec<(String, String)> = template
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (name, value) = line.split_once('=').expect("NAME=value");
            (name.to_owned(), value.to_owned())
        })
        .collect();
    for (name, value) in [("DATABASE_URL", database_url), ("SESSION_SECRET", secret)] {
        let slot = vars
            .iter_mut()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("the template has {name}"));
        assert!(
            slot.1.is_empty(),
            "the template leaves {name} to the operator"
        );
        slot.1 = value.to_owned();
    }
    let value = |name: &str| {
        vars.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(value("APP_ENV"), Some("production"));
    assert_eq!(
        value("TRUSTED_PROXIES"),
        Some("127.0.0.1"),
        "nginx on this machine"
    );
    vars
}

/// nginx over HTTPS in front of three production instances on one database.
pub struct Cluster {
    /// `https://127.0.0.1:PORT`: nginx.
    pub origin: String,
    /// `http://127.0.0.1:PORT`: nginx's redirect to HTTPS.
    pub http_origin: String,
    authority: reqwest::Certificate,
    /// The database every instance shares.
    database_url: String,
    /// Held while the cluster runs (see [`one_cluster_at_a_time`]).
    _alone: Option<tokio::sync::MutexGuard<'static, ()>>,
    /// The three instances.
    pub instances: Vec<Instance>,
    // Dropped in this order: nginx, then the folder it lives in.
    _nginx: Nginx,
    _folder: Folder,
}

impl Cluster {
    /// The certificate authority's file, for clients other than reqwest (curl).
    pub fn authority_file(&self) -> PathBuf {
        self.folder().join("ca.crt")
    }

    /// The folder nginx and the cluster's files live in.
    pub fn folder(&self) -> &std::path::Path {
        &self._folder.0
    }
}

impl Cluster {
    /// Whether nginx and openssl are installed; if not, says the test named
    /// `what` was skipped (or panics when `CI_REQUIRE_NGINX` is set).
    pub fn can_start(what: &str) -> bool {
        if find_program("nginx").is_some() && find_program("openssl").is_some() {
            return true;
        }
        if std::env::var_os("CI_REQUIRE_NGINX").is_some() {
            panic!("CI_REQUIRE_NGINX is set but nginx or openssl was not found");
        }
        println!("{what} skipped: nginx or openssl not found (install nginx and openssl)");
        false
    }

    /// Starts everything on a fresh database, or says why the test is
    /// skipped and returns `None`. The cluster runs alone among the tests
    /// that start clusters (see [`one_cluster_at_a_time`]).
    pub async fn start(name: &str) -> Option<Cluster> {
        if !Self::can_start("deployment test") {
            return None;
        }
        let alone = one_cluster_at_a_time().await;
        let mut cluster = Self::start_on(name, &fresh_database_url().await).await;
        cluster._alone = Some(alone);
        Some(cluster)
    }

    /// Starts everything on the database at `database_url` (nginx and
    /// openssl must be installed: see [`Cluster::can_start`]).
    pub async fn start_on(name: &str, database_url: &str) -> Cluster {
        let (Some(nginx), Some(openssl)) = (find_program("nginx"), find_program("openssl")) else {
            panic!("nginx or openssl not found");
        };
        let folder = Folder::new(name);
        let authority = make_certificate(&openssl, &folder.0);
        let secret = random_hex::<48>().expect("randomness");
        let env = production_env(database_url, &secret);
        let mut instances: Vec<Instance> = (1..=3)
            .map(|n| {
                let (port, metrics_port) = (free_port(), free_port());
                let mut vars = env.clone();
                vars.push(("BIND_ADDR".into(), format!("127.0.0.1:{port}")));
                vars.push(("INSTANCE_NAME".into(), format!("instance-{n}")));
                vars.push(("METRICS_ADDR".into(), format!("127.0.0.1:{metrics_port}")));
                Instance {
                    name: format!("instance-{n}"),
                    port,
                    metrics_port,
                    vars,
                    binary: None,
                    trouble: Vec::new(),
                }
            })
            .collect();
        // The first creates and migrates the database, then the others start.
        for instance in &mut instances {
            instance.start();
            instance.wait_healthy().await;
        }
        let (https_port, http_port) = (free_port(), free_port());
        let ports: Vec<u16> = instances.iter().map(|i| i.port).collect();
        let nginx = Nginx::start(&nginx, &folder.0, https_port, http_port, &ports);
        let cluster = Cluster {
            origin: format!("https://127.0.0.1:{https_port}"),
            http_origin: format!("http://127.0.0.1:{http_port}"),
            authority: reqwest::Certificate::from_pem(&authority).expect("a certificate"),
            database_url: database_url.to_owned(),
            _alone: None,
            instances,
            _nginx: nginx,
            _folder: folder,
        };
        let probe = cluster.visitor(None);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(probe.get("/healthz").await, Ok(r) if r.status() == StatusCode::OK) {
            assert!(
                Instant::now() < deadline,
                "nginx does not answer over HTTPS"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        cluster
    }

    /// The warnings and errors every instance has logged (for a failure's message).
    pub fn trouble(&mut self) -> Vec<String> {
        let nginx =
            std::fs::read_to_string(self._folder.0.join("logs/error.log")).unwrap_or_default();
        self.instances
            .iter_mut()
            .flat_map(|instance| {
                instance.keep_trouble();
                std::mem::take(&mut instance.trouble)
            })
            .chain(nginx.lines().map(|line| format!("nginx: {line}")))
            .collect()
    }

    /// A new browser over HTTPS that trusts the test authority, optionally
    /// connecting from another loopback address.
    pub fn visitor(&self, from: Option<IpAddr>) -> Visitor {
        self.visitor_with_timeout(from, REQUEST_TIMEOUT)
    }

    /// [`Cluster::visitor`] whose requests give up after `timeout`.
    pub fn visitor_with_timeout(&self, from: Option<IpAddr>, timeout: Duration) -> Visitor {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar)
            .redirect(Policy::none())
            .timeout(timeout)
            .add_root_certificate(self.authority.clone())
            .local_address(from)
            .build()
            .expect("a client");
        Visitor {
            client,
            origin: self.origin.clone(),
        }
    }

    /// A client over HTTPS that keeps no cookies: every request of it is a
    /// first visit.
    pub fn cookieless(&self, from: IpAddr) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(super::REQUEST_TIMEOUT)
            .add_root_certificate(self.authority.clone())
            .local_address(from)
            .build()
            .expect("a client")
    }

    /// How many session rows the shared database holds.
    pub async fn session_rows(&self) -> i64 {
        use sqlx::Connection;
        let mut db = sqlx::PgConnection::connect(&self.database_url)
            .await
            .expect("connects");
        sqlx::query_scalar("SELECT count(*) FROM sessions")
            .fetch_one(&mut db)
            .await
            .expect("a count")
    }
}

/// A client without cookies or TLS authority, for plain HTTP.
/// Waits until no other test runs a cluster, and keeps it so until the
/// guard is dropped.
///
/// A cluster is three instances, nginx (and for the failover test three
/// PostgreSQL nodes under Patroni) under load on a 2-core machine: two at once
/// stretch every timing the tests rely on (a drain of 5 s against nginx's
/// 4 s idle timeout for its connections to the instances, nginx's 2 s
/// `fail_timeout`), and a rolling restart then meets a race that a
/// deployment of its own does not have. The other tests still run beside it.
pub async fn one_cluster_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    ALONE.lock().await
}

pub fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("a client")
}

/// One browser on the deployment.
#[derive(Clone)]
pub struct Visitor {
    /// Its client: keeps cookies, follows no redirect.
    pub client: reqwest::Client,
    /// nginx's HTTPS origin.
    pub origin: String,
}

impl Visitor {
    /// `GET path`.
    pub async fn get(&self, path: &str) -> reqwest::Result<Response> {
        self.client
            .get(format!("{}{path}", self.origin))
            .send()
            .await
    }

    /// `POST path` with a form.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Result<Response> {
        self.client
            .post(format!("{}{path}", self.origin))
            .form(form)
            .send()
            .await
    }

    /// The body of `GET path`, asserting a 200.
    pub async fn page(&self, path: &str) -> String {
        let response = self.get(path).await.expect("an answer");
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.expect("a body")
    }

    /// A sign-in attempt without a CSRF token (the limiter counts it; if let
    /// through, it gets 403), with `X-Forwarded-For` if given.
    pub async fn attempt_login(&self, forwarded_for: Option<&str>) -> StatusCode {
        let mut request = self
            .client
            .post(format!("{}/login", self.origin))
            .form(&[("username", "nobody"), ("password", "nothing")]);
        if let Some(header) = forwarded_for {
            request = request.header("x-forwarded-for", header);
        }
        request.send().await.expect("an answer").status()
    }
}

/// The instance that answered (its `X-Instance` header).
pub fn instance_of(response: &Response) -> String {
    response
        .headers()
        .get("x-instance")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("(none)")
        .to_owned()
}
