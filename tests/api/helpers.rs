//! Test harness: a fresh database per test, the real app on port 0, and a
//! cookie-keeping HTTP client that does not follow redirects.

use std::sync::{Arc, OnceLock};

use actix_session_postgres::WorkerPools;
use dev_postgres::DevPostgres;
use reqwest::{Response, StatusCode, redirect::Policy};
use session_demo::{
    config::{Secret, Settings},
    random::random_hex,
    startup::Application,
};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};
use tokio::sync::OnceCell;

/// The session secret every test app uses (so two apps share cookies).
pub const TEST_SECRET: &str =
    "test-secret-test-secret-test-secret-test-secret-test-secret-test-secret-0001";

/// The PostgreSQL server the tests use: `DATABASE_URL`'s server when it is set,
/// else the private one the workspace's tests share (`dev_postgres::test_server`).
pub enum TestServer {
    /// A server given by `DATABASE_URL`: its URL without the database name.
    External(String),
    /// The private server.
    Private(&'static DevPostgres),
}

static SERVER: OnceCell<TestServer> = OnceCell::const_new();

/// The test server, started on first use.
pub async fn test_server() -> &'static TestServer {
    SERVER
        .get_or_init(|| async {
            if let Ok(url) = std::env::var("DATABASE_URL") {
                let base = match url.rfind('/') {
                    Some(slash) if slash > "postgres://".len() => url[..slash].to_string(),
                    _ => url,
                };
                return TestServer::External(base);
            }
            let server = dev_postgres::test_server()
                .await
                .expect("the private test PostgreSQL starts (or set DATABASE_URL)");
            TestServer::Private(server)
        })
        .await
}

/// The URL of database `name` on the test server.
pub async fn database_url(name: &str) -> String {
    match test_server().await {
        TestServer::External(base) => format!("{base}/{name}"),
        TestServer::Private(server) => server.url(name),
    }
}

/// Creates an empty database with a unique name and returns its URL.
/// The app creates and migrates it itself when given a name that does not exist,
/// so tests usually just need a fresh name: [`fresh_database_url`].
pub async fn fresh_database_url() -> String {
    let name = format!("test_{}", random_hex::<8>().expect("randomness"));
    drop_stale_databases().await;
    database_url(&name).await
}

/// Drops databases left by earlier runs (once per test process).
async fn drop_stale_databases() {
    static ONCE: OnceLock<()> = OnceLock::new();
    if ONCE.set(()).is_err() {
        return;
    }
    let Ok(mut conn) = PgConnection::connect(&database_url("postgres").await).await else {
        return;
    };
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'test\\_%'
         AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = pg_database.datname)",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap_or_default();
    for name in names {
        let _ = sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\"")))
            .execute(&mut conn)
            .await;
    }
}

/// Settings for a test app on `database_url`: port 0, the test secret, quiet logs.
pub fn test_settings(database_url: &str) -> Settings {
    let mut settings = Settings::from_lookup(|_| None).expect("default settings are valid");
    settings.database_url = Some(Secret::new(database_url));
    settings.session_secret = Some(Secret::new(TEST_SECRET));
    settings.bind_addr = "127.0.0.1:0".parse().expect("an address");
    settings.database_max_connections = 4;
    settings
}

/// A running app and a client that talks to it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    /// The app's own pool, for looking into the database.
    pub pool: PgPool,
    /// The session store's pools, one per worker (a test can hold their connections).
    pub session_pools: WorkerPools,
    /// The settings the app was built with.
    pub settings: Settings,
    /// A client that keeps cookies (one browser) and never follows redirects.
    pub client: reqwest::Client,
    /// The browser's cookie jar, to inspect or forge cookies.
    pub cookies: Arc<reqwest::cookie::Jar>,
    handle: actix_web::dev::ServerHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts the app on a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app on a fresh database, with settings adjusted by `adjust`.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings(&fresh_database_url().await);
    adjust(&mut settings);
    spawn_app_from(settings).await
}

/// Starts the app with exactly these settings (for a second instance or a restart).
pub async fn spawn_app_from(settings: Settings) -> TestApp {
    let app = Application::build(settings.clone())
        .await
        .expect("the application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let pool = app.pool().clone();
    let session_pools = app.session_pools().clone();
    let handle = app.handle();
    let server = tokio::spawn(app.run_until_stopped());
    let cookies = Arc::new(reqwest::cookie::Jar::default());
    TestApp {
        address,
        pool,
        session_pools,
        settings,
        client: client_with(cookies.clone()),
        cookies,
        handle,
        server,
    }
}

/// A new "browser": its own cookie jar, no redirects followed.
pub fn client_with(cookies: Arc<reqwest::cookie::Jar>) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(cookies)
        .redirect(Policy::none())
        .build()
        .expect("a client")
}

impl TestApp {
    /// `GET path` with this app's browser.
    pub async fn get(&self, path: &str) -> Response {
        self.get_with(&self.client, path).await
    }

    /// `GET path` with another browser.
    pub async fn get_with(&self, client: &reqwest::Client, path: &str) -> Response {
        client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    /// The body of `GET path`, asserting a 200.
    pub async fn get_html(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.expect("a body")
    }

    /// `POST path` with a form body.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.post_with(&self.client, path, form).await
    }

    /// `POST path` with a form body, from another browser.
    pub async fn post_with(
        &self,
        client: &reqwest::Client,
        path: &str,
        form: &[(&str, &str)],
    ) -> Response {
        client
            .post(format!("{}{path}", self.address))
            .form(form)
            .send()
            .await
            .expect("request sent")
    }

    /// The visit count `GET /visits` reports for this browser.
    pub async fn visits(&self) -> u64 {
        self.visits_with(&self.client).await
    }

    /// The visit count `GET /visits` reports for `client`.
    pub async fn visits_with(&self, client: &reqwest::Client) -> u64 {
        let response = self.get_with(client, "/visits").await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: serde_json::Value = response.json().await.expect("JSON");
        body["visits"].as_u64().expect("a number")
    }

    /// The raw value of this browser's session cookie, if it has one.
    pub fn session_cookie(&self) -> Option<String> {
        cookie_in(&self.cookies, &self.address, self.settings.cookie_name())
    }

    /// Stops the server (gracefully) and waits until it has stopped.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.server.await;
    }
}

/// A browser whose connections leave from `address`: the app sees a client of
/// that address. Every address of 127.0.0.0/8 reaches the app over loopback, so
/// one test can be many clients (the per-address limit counts each apart).
pub fn client_from(
    address: std::net::IpAddr,
    cookies: Arc<reqwest::cookie::Jar>,
) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(cookies)
        .redirect(Policy::none())
        .local_address(address)
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("a client")
}

/// The value of cookie `name` that `jar` would send to `address`, if any.
pub fn cookie_in(jar: &reqwest::cookie::Jar, address: &str, name: &str) -> Option<String> {
    use reqwest::cookie::CookieStore;
    let header = jar.cookies(&address.parse().expect("a URL"))?;
    let prefix = format!("{name}=");
    header
        .to_str()
        .ok()?
        .split("; ")
        .find_map(|pair| pair.strip_prefix(&prefix).map(str::to_owned))
}

/// A browser that sends exactly `cookie` as its session cookie.
pub fn client_with_cookie(app: &TestApp, value: &str) -> reqwest::Client {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let url = app.address.parse().expect("a URL");
    jar.add_cookie_str(
        &format!("{}={value}; Path=/", app.settings.cookie_name()),
        &url,
    );
    client_with(jar)
}
/// The `Location` header of a redirect.
pub fn location(response: &Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Asserts a `303 See Other` to `path`.
pub fn assert_redirect_to(response: &Response, path: &str) {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(response), path);
}

/// The values of `attribute="..."` in `html`, in order.
pub fn attribute_values(html: &str, attribute: &str) -> Vec<String> {
    let marker = format!("{attribute}=\"");
    html.split(&marker)
        .skip(1)
        .map(|rest| rest[..rest.find('"').expect("closing quote")].to_string())
        .collect()
}

/// The cart lines on a cart page: product id -> quantity.
pub fn cart_lines(html: &str) -> std::collections::BTreeMap<i64, i64> {
    html.split("class=\"cart-line\"")
        .skip(1)
        .map(|row| {
            let id = attribute_values(row, "data-product-id")[0]
                .parse()
                .expect("id");
            let quantity = attribute_values(row, "data-quantity")[0]
                .parse()
                .expect("qty");
            (id, quantity)
        })
        .collect()
}

/// The value of the first hidden `csrf_token` field in a page.
pub fn csrf_token(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("the page has a CSRF field") + marker.len();
    let end = start + html[start..].find('"').expect("closing quote");
    html[start..end].to_string()
}

/// Connects to the app's database directly (for looking at tables).
pub async fn connect(app: &TestApp) -> PgConnection {
    let url = app
        .settings
        .database_url
        .as_ref()
        .expect("tests always set a URL")
        .expose()
        .to_owned();
    PgConnection::connect(&url).await.expect("connects")
}

impl TestApp {
    /// Fetches `page` and returns the CSRF token of its first form.
    pub async fn csrf_from(&self, page: &str) -> String {
        csrf_token(&self.get_html(page).await)
    }

    /// Fetches `page` with `client`, asserting a 200, and returns the CSRF
    /// token of its first form.
    pub async fn csrf_from_with(&self, client: &reqwest::Client, page: &str) -> String {
        let response = self.get_with(client, page).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {page}");
        csrf_token(&response.text().await.expect("a body"))
    }

    /// Registers `username` with `password` through the form (and so signs in).
    pub async fn register(&self, username: &str, password: &str) -> Response {
        let token = self.csrf_from("/register").await;
        self.post(
            "/register",
            &[
                ("csrf_token", &token),
                ("username", username),
                ("password", password),
                ("password_confirm", password),
            ],
        )
        .await
    }

    /// Logs in through the form.
    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.login_with(&self.client, username, password).await
    }

    /// Logs in through the form, with another browser.
    pub async fn login_with(
        &self,
        client: &reqwest::Client,
        username: &str,
        password: &str,
    ) -> Response {
        let token = self.csrf_from_with(client, "/login").await;
        self.post_with(
            client,
            "/login",
            &[
                ("csrf_token", &token),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// Logs out with this session's CSRF token (any page with a form shows it).
    pub async fn logout(&self) -> Response {
        let token = self.csrf_from("/login").await;
        self.post("/logout", &[("csrf_token", &token)]).await
    }

    /// A second browser of this app: its own cookies.
    pub fn new_browser(&self) -> TestBrowser<'_> {
        let cookies = Arc::new(reqwest::cookie::Jar::default());
        TestBrowser {
            app: self,
            client: client_with(cookies.clone()),
            cookies,
        }
    }
}

/// Another browser talking to the same app.
pub struct TestBrowser<'a> {
    app: &'a TestApp,
    /// Its client.
    pub client: reqwest::Client,
    /// Its cookie jar.
    pub cookies: Arc<reqwest::cookie::Jar>,
}

impl TestBrowser<'_> {
    /// The raw value of its session cookie, if it has one.
    pub fn session_cookie(&self) -> Option<String> {
        cookie_in(
            &self.cookies,
            &self.app.address,
            self.app.settings.cookie_name(),
        )
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Response {
        self.app.get_with(&self.client, path).await
    }

    /// `POST path` with a form.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.app.post_with(&self.client, path, form).await
    }

    /// Logs in through the form.
    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.app.login_with(&self.client, username, password).await
    }
}

/// The real binary, running as a child process with the environment given.
pub struct RunningBinary {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`, read from its "listening on" log line.
    pub address: String,
    lines: std::sync::mpsc::Receiver<String>,
    /// Every log line read so far.
    pub log: Vec<String>,
}

/// Starts `target/.../session-demo` with only `vars` (and `PATH`) in its
/// environment, from a directory without a `.env`, and waits until it listens.
pub fn start_binary(vars: &[(&str, &str)]) -> RunningBinary {
    use std::io::{BufRead, BufReader};
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_session-demo"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(std::env::temp_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (name, value) in vars {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("the binary starts");
    let stderr = child.stderr.take().expect("stderr");
    let (sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let mut log = Vec::new();
    let address = loop {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(90))
            .unwrap_or_else(|_| panic!("the app logs its address; log so far: {log:#?}"));
        log.push(line.clone());
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().to_string();
        }
    };
    RunningBinary {
        child,
        address,
        lines,
        log,
    }
}

impl RunningBinary {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (as `kill` spells it, e.g. `"-TERM"`); returns whether it was delivered.
    fn send(&self, signal: &str) -> bool {
        std::process::Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .is_ok_and(|status| status.success())
    }

    /// Sends `signal` (as `kill` spells it, e.g. `"-TERM"`), asserting it was delivered.
    pub fn signal(&self, signal: &str) {
        assert!(self.send(signal), "kill {signal}");
    }

    /// Its exit status if it has exited, without waiting.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("waitable")
    }

    /// Waits up to `limit` for the process to exit.
    pub async fn wait_exit(
        &mut self,
        limit: std::time::Duration,
    ) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM and waits (at most 30 s) for the exit; returns whether it exited 0.
    pub fn terminate(&mut self) -> bool {
        self.send("-TERM");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(status) = self.exit_status() {
                self.drain();
                return status.success();
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Reads the log lines written so far, waiting `quiet` for each next one,
    /// and returns every line read since the start.
    pub fn collect(&mut self, quiet: std::time::Duration) -> &[String] {
        while let Ok(line) = self.lines.recv_timeout(quiet) {
            self.log.push(line);
        }
        &self.log
    }

    /// Reads the log lines written so far and returns the whole log.
    pub fn drain(&mut self) -> String {
        self.collect(std::time::Duration::from_millis(300))
            .join("\n")
    }
}

impl Drop for RunningBinary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
