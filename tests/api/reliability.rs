//! Reliability: the database goes away mid-traffic, the pool runs dry, many
//! clients at once, SIGTERM under load, and what the log says about a 5xx.
//!
//! Every test bounds its time (client timeouts, deadlines) and its number of
//! requests, and talks to loopback only. The figures of each run are printed
//! (`cargo test --test api reliability -- --nocapture` shows them).

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::future::join_all;
use reqwest::{StatusCode, redirect::Policy};
use session_demo::{
    auth::{throttle::AddressLimit, users},
    config::Secret,
    dev_postgres::{DevPostgres, DevPostgresOptions},
    session::key::random_hex,
};
use sqlx::{Connection, PgConnection};

use crate::helpers::{
    RunningBinary, TEST_SECRET, cart_lines, connect, cookie_in, csrf_token, fresh_database_url,
    location, relocated_server_folder, spawn_app_with, start_binary,
};

/// No request of these tests may take longer than this: a hang is a failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A scratch folder for a private PostgreSQL, removed on drop (declare it
/// before the server handle, so that the server is stopped first).
///
/// It lives under `target/`, not in the system temp folder: when the tests run
/// as root, the server runs as the `postgres` account, which must be able to
/// enter every parent folder.
struct Scratch {
    dir: PathBuf,
    /// Where the server's data really went, if not under `dir`.
    relocated: std::sync::Mutex<Option<PathBuf>>,
}

impl Scratch {
    fn new(name: &str) -> Self {
        let unique = random_hex::<4>().expect("randomness");
        Self {
            dir: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("target")
                .join(format!(
                    "reliability-{name}-{}-{unique}",
                    std::process::id()
                )),
            relocated: Default::default(),
        }
    }

    fn options(&self, fsync: bool) -> DevPostgresOptions {
        DevPostgresOptions {
            data_dir: self.dir.join("data"),
            fsync,
            port: None,
        }
    }

    /// Starts a private server in this scratch folder (removed with it).
    async fn server(&self, fsync: bool) -> DevPostgres {
        let server = DevPostgres::start(self.options(fsync))
            .await
            .expect("a private PostgreSQL");
        *self.relocated.lock().expect("lock") = relocated_server_folder(&server);
        server
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(folder) = self.relocated.lock().ok().and_then(|mut r| r.take()) {
            let _ = std::fs::remove_dir_all(folder);
        }
    }
}

/// A browser with its own cookies, no redirects followed, and a timeout.
/// Not `TestBrowser`: it must be owned (`Clone`, moved into spawned tasks), talk
/// to the binary (no `TestApp`), time out, and hand back transport errors.
#[derive(Clone)]
struct Browser {
    client: reqwest::Client,
    jar: Arc<reqwest::cookie::Jar>,
    address: String,
}

impl Browser {
    fn new(address: &str) -> Self {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        Self {
            client: reqwest::Client::builder()
                .cookie_provider(jar.clone())
                .redirect(Policy::none())
                .timeout(REQUEST_TIMEOUT)
                .build()
                .expect("a client"),
            jar,
            address: address.to_owned(),
        }
    }

    /// The value of the session cookie this browser holds.
    fn session_cookie(&self) -> String {
        cookie_in(&self.jar, &self.address, "session").expect("the session cookie")
    }

    async fn get(&self, path: &str) -> reqwest::Result<reqwest::Response> {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
    }

    /// `GET path`, asserting a 200, and its body.
    async fn page(&self, path: &str) -> String {
        let response = self.get(path).await.expect("an answer");
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.expect("a body")
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .form(form)
            .send()
            .await
            .expect("an answer")
    }

    /// POSTs a form with the CSRF token of `page`, asserting a `303` to `to`.
    async fn submit(&self, page: &str, path: &str, fields: &[(&str, &str)], to: &str) {
        let token = csrf_token(&self.page(page).await);
        let mut form = fields.to_vec();
        form.push(("csrf_token", &token));
        let response = self.post(path, &form).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "POST {path}");
        assert_eq!(location(&response), to, "POST {path}");
    }

    async fn visits(&self) -> u64 {
        let response = self.get("/visits").await.expect("an answer");
        assert_eq!(response.status(), StatusCode::OK);
        let body: serde_json::Value = response.json().await.expect("JSON");
        body["visits"].as_u64().expect("a number")
    }
}

/// What one counting client saw. Times are offsets from the start of the test.
#[derive(Debug, Default)]
struct Tally {
    /// `200` answers to `GET /`: each must have been counted.
    ok: u64,
    /// `503` answers: none may have been counted, except `ambiguous` ones.
    unavailable: u64,
    /// `503`s of requests in flight while PostgreSQL was being stopped, answered
    /// by the cut itself (not after waiting out the acquire timeout). Such a
    /// request may have committed its update just before its connection was cut
    /// and then learnt nothing of the commit: the app answers 503 although the
    /// visit counted. No server can tell the client about a commit whose
    /// acknowledgement was lost, so these are allowed to have counted.
    ambiguous: u64,
    /// Anything else: another status, a timeout, a broken connection.
    failures: Vec<String>,
    /// The longest a request took.
    slowest: Duration,
    /// When the last request that did not get a 200 was sent.
    last_not_ok_sent: Option<Duration>,
    /// `200`s answered after PostgreSQL was started again.
    ok_after_restart: u64,
}

/// Milliseconds since `t0`, as stored in the shared markers.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The phases of the outage, as offsets (ms) from the start; `u64::MAX` = not yet.
struct Markers {
    stop_began: AtomicU64,
    stop_done: AtomicU64,
    restarted: AtomicU64,
    done: AtomicBool,
}

/// Visits `/` again and again until `markers.done`, keeping count.
async fn count_visits(browser: Browser, t0: Instant, markers: Arc<Markers>) -> (Browser, Tally) {
    let mut tally = Tally::default();
    while !markers.done.load(Ordering::SeqCst) {
        let sent = t0.elapsed();
        let result = match browser.get("/").await {
            Ok(response) => {
                let status = response.status();
                response.bytes().await.map(|_| status)
            }
            Err(error) => Err(error),
        };
        let answered = t0.elapsed();
        tally.slowest = tally.slowest.max(answered - sent);
        match result {
            Ok(StatusCode::OK) => {
                tally.ok += 1;
                if millis(sent) >= markers.restarted.load(Ordering::SeqCst) {
                    tally.ok_after_restart += 1;
                }
            }
            Ok(StatusCode::SERVICE_UNAVAILABLE) => {
                tally.unavailable += 1;
                tally.last_not_ok_sent = Some(sent);
                // In flight while the server went down, and answered by the cut
                // itself (a refused acquire takes the whole acquire timeout).
                let began = markers.stop_began.load(Ordering::SeqCst);
                let done = markers.stop_done.load(Ordering::SeqCst);
                if millis(sent) <= done
                    && millis(answered) >= began
                    && millis(answered) <= done.saturating_add(1000)
                {
                    tally.ambiguous += 1;
                }
            }
            Ok(status) => {
                tally.last_not_ok_sent = Some(sent);
                tally.failures.push(format!("status {status} at {sent:?}"));
            }
            Err(error) => {
                tally.last_not_ok_sent = Some(sent);
                tally.failures.push(format!("{error} at {sent:?}"));
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (browser, tally)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_under_load_gives_only_200_or_503_and_loses_no_session() {
    const CLIENTS: usize = 8;
    const OUTAGE: Duration = Duration::from_secs(2);
    let test_started = Instant::now();
    // fsync on, as in development: the point is that committed changes survive.
    let scratch = Scratch::new("outage-load");
    let server = scratch.server(true).await;
    let url = server.url("reliability");
    let app = spawn_app_with(|s| {
        s.database_url = Some(Secret::new(&url));
        s.database_acquire_timeout = Duration::from_secs(2);
        s.database_max_connections = 8;
    })
    .await;

    // Each client starts its session before the fault.
    let browsers: Vec<Browser> = (0..CLIENTS).map(|_| Browser::new(&app.address)).collect();
    for browser in &browsers {
        assert!(browser.page("/").await.contains("first time"));
    }

    let t0 = Instant::now();
    let markers = Arc::new(Markers {
        stop_began: AtomicU64::new(u64::MAX),
        stop_done: AtomicU64::new(u64::MAX),
        restarted: AtomicU64::new(u64::MAX),
        done: AtomicBool::new(false),
    });
    let load: Vec<_> = browsers
        .into_iter()
        .map(|browser| tokio::spawn(count_visits(browser, t0, markers.clone())))
        .collect();

    // Traffic, then the database goes away mid-traffic, then it comes back.
    tokio::time::sleep(Duration::from_secs(1)).await;
    markers
        .stop_began
        .store(millis(t0.elapsed()), Ordering::SeqCst);
    server.stop().await.expect("stopped");
    markers
        .stop_done
        .store(millis(t0.elapsed()), Ordering::SeqCst);
    tokio::time::sleep(OUTAGE).await;
    let restart_began = t0.elapsed();
    server.restart_after_stop().await.expect("started again");
    markers
        .restarted
        .store(millis(t0.elapsed()), Ordering::SeqCst);

    // Recovery: the health check answers 200 again, without a restart of the app.
    let health = Browser::new(&app.address);
    let recovered = loop {
        let healthy = matches!(health.get("/healthz").await, Ok(r) if r.status() == StatusCode::OK);
        if healthy {
            break t0.elapsed();
        }
        assert!(
            t0.elapsed() - restart_began < Duration::from_secs(20),
            "the app did not recover within 20 s of the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // A little more traffic on the recovered database, then stop.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    markers.done.store(true, Ordering::SeqCst);
    let mut results = Vec::new();
    for task in load {
        results.push(task.await.expect("a load task"));
    }

    // Every answer was a 200 or a 503, in bounded time; service came back; no session lost.
    let mut sent = 0;
    let mut unavailable = 0;
    let mut ambiguous = 0;
    let mut committed_despite_503 = 0;
    let mut slowest = Duration::ZERO;
    for (i, (browser, tally)) in results.iter().enumerate() {
        assert!(
            tally.failures.is_empty(),
            "client {i}: {:?}",
            tally.failures
        );
        assert!(tally.ok_after_restart > 0, "client {i} never recovered");
        if let Some(last) = tally.last_not_ok_sent {
            assert!(
                last < recovered + Duration::from_secs(1),
                "client {i} got a 503 for a request sent at {last:?}, after the app had recovered at {recovered:?}"
            );
        }
        // The first visit (before the load) counted too.
        let expected = tally.ok + 1;
        let visits = browser.visits().await;
        assert!(
            visits >= expected && visits <= expected + tally.ambiguous,
            "client {i}: {visits} visits recorded, but it got {expected} 200s \
             ({} 503s, {} of them in flight at the cut)",
            tally.unavailable,
            tally.ambiguous
        );
        sent += tally.ok + tally.unavailable + 1;
        unavailable += tally.unavailable;
        ambiguous += tally.ambiguous;
        committed_despite_503 += visits - expected;
        slowest = slowest.max(tally.slowest);
    }
    assert!(unavailable > 0, "the outage must have been noticed");
    assert!(slowest < REQUEST_TIMEOUT, "{slowest:?}");
    eprintln!(
        "outage under load: {CLIENTS} clients, {sent} requests, 1 fault (PostgreSQL stopped {OUTAGE:?}), \
         {unavailable} x 503, 0 x 500, 0 sessions lost; {ambiguous} 503s in flight at the cut, \
         {committed_despite_503} of them committed; slowest request {slowest:?}; \
         recovered {:?} after the restart; test took {:?}",
        recovered.saturating_sub(restart_began),
        test_started.elapsed()
    );
    drop(app);
    server.stop().await.expect("stopped");
}

#[tokio::test]
async fn every_worker_thread_queries_through_a_session_pool_of_its_own() {
    // A connection is driven by the runtime of the worker that opened it, so
    // each worker must use its own pool (session/pool.rs). Sixteen browsers,
    // each on a connection of its own, land on every worker (actix hands out
    // accepted connections in turn); then every pool has opened connections.
    let app = spawn_app_with(|s| s.database_max_connections = 16).await;
    let pools = app.session_pools.all();
    assert!(
        pools.iter().all(|pool| pool.open_connections() == 0),
        "connections open on first use"
    );
    let browsers: Vec<Browser> = (0..16).map(|_| Browser::new(&app.address)).collect();
    join_all(browsers.iter().map(|b| b.page("/"))).await;
    for browser in &browsers {
        assert_eq!(browser.visits().await, 1);
    }
    let open: Vec<usize> = pools.iter().map(|pool| pool.open_connections()).collect();
    println!("session connections open per worker pool: {open:?}");
    assert!(
        open.iter().all(|&n| n > 0),
        "every worker used its own pool: {open:?}"
    );
    assert!(open.iter().sum::<usize>() <= 16, "{open:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_connection_is_busy_requests_queue_then_get_503_and_recover_at_once() {
    let app = spawn_app_with(|s| {
        s.database_max_connections = 2;
        s.database_acquire_timeout = Duration::from_secs(1);
        s.database_statement_timeout = Duration::from_secs(30);
    })
    .await;
    let browsers: Vec<Browser> = (0..4).map(|_| Browser::new(&app.address)).collect();
    for browser in &browsers {
        browser.page("/").await;
    }
    let newcomer = Browser::new(&app.address);

    // The test holds every connection of the app's pools, the 2 of the
    // budget: the pages' pool and the session store's pool(s).
    let mut held_sessions = Vec::new();
    for pool in app.session_pools.all() {
        for _ in 0..pool.max_size() {
            held_sessions.push(pool.acquire().await.expect("a connection"));
        }
    }
    let mut held_pages = Vec::new();
    for _ in 0..app.pool.options().get_max_connections() {
        held_pages.push(app.pool.acquire().await.expect("a connection"));
    }
    assert_eq!(held_pages.len() + held_sessions.len(), 2);
    let held = (held_pages, held_sessions);

    // Requests queue for the acquire timeout (1 s), then get a 503: sessions
    // that exist, a first visit, and the health check.
    let timed = |browser: &Browser, path: &'static str| {
        let browser = browser.clone();
        async move {
            let started = Instant::now();
            let status = browser.get(path).await.expect("an answer").status();
            (status, started.elapsed())
        }
    };
    let mut requests: Vec<_> = browsers.iter().map(|b| timed(b, "/")).collect();
    requests.push(timed(&newcomer, "/"));
    requests.push(timed(&newcomer, "/healthz"));
    let answers = join_all(requests).await;
    for (status, took) in &answers {
        assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            *took >= Duration::from_millis(900) && *took < Duration::from_secs(3),
            "queued for the acquire timeout, then refused: {took:?}"
        );
    }

    // Queued requests are served as soon as a connection comes back.
    let queued: Vec<_> = browsers.iter().map(|b| timed(b, "/")).collect();
    let queued = tokio::spawn(join_all(queued));
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(held);
    for (status, took) in queued.await.expect("the queued requests") {
        assert_eq!(status, StatusCode::OK, "served once a connection was free");
        assert!(took < Duration::from_secs(1), "{took:?}");
    }

    // And everything works again, at once.
    let started = Instant::now();
    for browser in browsers.iter().chain([&newcomer]) {
        browser.page("/").await;
    }
    assert_eq!(
        health_status(&app.address).await,
        StatusCode::OK,
        "healthy again"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    // The 503s did not count: the first visit, the queued one, the last one.
    for browser in &browsers {
        assert_eq!(browser.visits().await, 3);
    }
    assert_eq!(newcomer.visits().await, 1);
    eprintln!(
        "pool exhaustion: 2 connections held, {} requests refused with 503 after the 1 s acquire timeout, \
         4 queued requests served on release, 0 x 500",
        answers.len()
    );
}

/// Locks `cart_lines` in a transaction of `db`: the pages of every session
/// with a cart wait until the returned transaction ends.
async fn lock_cart_lines(db: &mut PgConnection) -> sqlx::Transaction<'_, sqlx::Postgres> {
    let mut lock = db.begin().await.expect("a transaction");
    sqlx::query("LOCK TABLE cart_lines IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .expect("locked");
    lock
}

async fn health_status(address: &str) -> StatusCode {
    Browser::new(address)
        .get("/healthz")
        .await
        .expect("an answer")
        .status()
}

#[tokio::test]
async fn a_statement_over_the_statement_timeout_is_cancelled_and_the_page_is_503() {
    let app = spawn_app_with(|s| s.database_statement_timeout = Duration::from_millis(500)).await;

    // The setting is applied to the connections of the app's pool.
    let started = Instant::now();
    let error = sqlx::query("SELECT pg_sleep(5)")
        .execute(&app.pool)
        .await
        .expect_err("cancelled");
    assert!(started.elapsed() < Duration::from_secs(3));
    let code = error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    assert_eq!(code.as_deref(), Some("57014"), "query_canceled: {error}");

    // A page whose query waits on a lock gets a 503 once the timeout passes.
    let browser = Browser::new(&app.address);
    browser.page("/cart").await; // the session now has a cart, which the layout counts
    let mut blocker = connect(&app).await;
    let lock = lock_cart_lines(&mut blocker).await;
    let started = Instant::now();
    let response = browser.get("/").await.expect("an answer");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("temporarily unavailable")
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    lock.rollback().await.expect("released");
    browser.page("/").await;
}

/// A 503 page must not have changed the session: the visitor was told that
/// nothing happened.
///
/// actix-session saves the session's changes after the handler whatever the
/// response's status, so handlers run their queries before they change the
/// session (`counter` builds the layout, with its cart-count query, first).
#[tokio::test]
async fn a_503_page_does_not_count_the_visit() {
    let app = spawn_app_with(|s| s.database_statement_timeout = Duration::from_millis(500)).await;
    let browser = Browser::new(&app.address);
    browser.page("/cart").await;
    browser.page("/").await;
    assert_eq!(browser.visits().await, 1);

    let mut blocker = connect(&app).await;
    let lock = lock_cart_lines(&mut blocker).await;
    let response = browser.get("/").await.expect("an answer");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    lock.rollback().await.expect("released");

    assert_eq!(browser.visits().await, 1, "the 503 counted the visit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_clients_fifty_visits_each_all_200_and_every_counter_exact() {
    const CLIENTS: usize = 32;
    const VISITS: u64 = 50;
    let app = spawn_app_with(|s| s.database_max_connections = 8).await;
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let browser = Browser::new(&app.address);
            tokio::spawn(async move {
                for i in 1..=VISITS {
                    let response = browser.get("/").await.expect("an answer");
                    assert_eq!(response.status(), StatusCode::OK);
                    let page = response.text().await.expect("a body");
                    if i > 1 {
                        assert!(page.contains(&format!("visited this page {i} times")));
                    }
                }
                browser.visits().await
            })
        })
        .collect();
    for client in clients {
        assert_eq!(client.await.expect("a client"), VISITS);
    }
    eprintln!(
        "load: {CLIENTS} clients x {VISITS} visits = {} requests, all 200, every counter exact, in {:?}",
        CLIENTS as u64 * (VISITS + 1),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_mix_of_logins_cart_changes_and_visits_loses_nothing() {
    const ACCOUNTS: usize = 4;
    const DEMO_LOGINS: usize = 2;
    const CARTS: usize = 6;
    const ADDS: usize = 10;
    const COUNTERS: usize = 8;
    const VISITS: u64 = 25;
    let app = spawn_app_with(|s| {
        s.database_max_connections = 8;
        // Every client here comes from 127.0.0.1: lift the per-address limit.
        s.address_limit = AddressLimit {
            burst: 1000,
            refill_every: Duration::from_millis(1),
        };
    })
    .await;
    let products: Vec<i64> = sqlx::query_scalar("SELECT id FROM products ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .expect("the products");
    let run = random_hex::<4>().expect("randomness");
    let started = Instant::now();
    let mut tasks = Vec::new();

    // Register, sign out, sign in again: ends signed in.
    for i in 0..ACCOUNTS {
        let browser = Browser::new(&app.address);
        let username = format!("mix{i}{run}");
        tasks.push(tokio::spawn(async move {
            let password = "correct horse battery staple";
            let fields = [
                ("username", username.as_str()),
                ("password", password),
                ("password_confirm", password),
            ];
            browser
                .submit("/register", "/register", &fields, "/account")
                .await;
            browser.submit("/account", "/logout", &[], "/").await;
            assert!(!browser.page("/login").await.contains(&username));
            let fields = [("username", username.as_str()), ("password", password)];
            browser
                .submit("/login", "/login", &fields, "/account")
                .await;
            assert!(browser.page("/account").await.contains(&username));
            5
        }));
    }
    // The same account signed in from several browsers at once.
    for _ in 0..DEMO_LOGINS {
        let browser = Browser::new(&app.address);
        tasks.push(tokio::spawn(async move {
            let fields = [
                ("username", users::DEMO_USERNAME),
                ("password", users::DEMO_PASSWORD),
            ];
            browser
                .submit("/login", "/login", &fields, "/account")
                .await;
            assert!(
                browser
                    .page("/account")
                    .await
                    .contains(users::DEMO_USERNAME)
            );
            3
        }));
    }
    // Each cart its own: N adds, then exactly the expected quantities.
    for i in 0..CARTS {
        let browser = Browser::new(&app.address);
        let products = products.clone();
        tasks.push(tokio::spawn(async move {
            let mut expected = BTreeMap::new();
            for j in 0..ADDS {
                let product = products[(i + j) % 4];
                let quantity = (j % 3 + 1) as i64;
                *expected.entry(product).or_insert(0) += quantity;
                let (p, q) = (product.to_string(), quantity.to_string());
                let fields = [("product_id", p.as_str()), ("quantity", q.as_str())];
                browser.submit("/cart", "/cart/add", &fields, "/cart").await;
            }
            assert_eq!(cart_lines(&browser.page("/cart").await), expected);
            ADDS * 2 + 1
        }));
    }
    // Counters.
    for _ in 0..COUNTERS {
        let browser = Browser::new(&app.address);
        tasks.push(tokio::spawn(async move {
            for _ in 0..VISITS {
                browser.page("/").await;
            }
            assert_eq!(browser.visits().await, VISITS);
            VISITS as usize + 1
        }));
    }
    let mut requests = 0;
    for task in tasks {
        requests += task.await.expect("a client");
    }
    eprintln!(
        "mix: {ACCOUNTS} register+logout+login, {DEMO_LOGINS} logins of one account, \
         {CARTS} carts x {ADDS} adds, {COUNTERS} counters x {VISITS}: {requests} requests, \
         nothing lost, in {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_in_flight_requests_and_exits_0() {
    const SLOW: usize = 4;
    const FAST: usize = 3;
    let url = fresh_database_url().await;
    let mut binary = start_binary(&[
        ("DATABASE_URL", &url),
        ("SESSION_SECRET", TEST_SECRET),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("RUST_LOG", "info"),
        ("DATABASE_STATEMENT_TIMEOUT_MS", "20000"),
    ]);
    let address = binary.address.clone();

    // Slow requests: pages of sessions with a cart wait while the test holds a
    // lock on the cart lines, so they are surely in flight at the SIGTERM.
    let slow: Vec<Browser> = (0..SLOW).map(|_| Browser::new(&address)).collect();
    for browser in &slow {
        browser.page("/cart").await;
    }
    let mut db = PgConnection::connect(&url).await.expect("the database");
    let lock = lock_cart_lines(&mut db).await;
    let in_flight: Vec<_> = slow
        .iter()
        .cloned()
        .map(|browser| {
            tokio::spawn(async move {
                match browser.get("/").await {
                    Ok(response) => {
                        let status = response.status();
                        let body = response.text().await.map_err(|e| e.to_string())?;
                        Ok((status, body))
                    }
                    Err(error) => Err(error.to_string()),
                }
            })
        })
        .collect();
    let mut watcher = PgConnection::connect(&url).await.expect("the database");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watcher)
        .await
        .expect("a count");
        if waiting == SLOW as i64 {
            break;
        }
        assert!(Instant::now() < deadline, "{waiting} requests waiting");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Fast requests: a few clients visiting `/` in a loop, before and after the SIGTERM.
    let terminated = Arc::new(AtomicBool::new(false));
    let stop_load = Arc::new(AtomicBool::new(false));
    let fast: Vec<_> = (0..FAST)
        .map(|_| {
            let browser = Browser::new(&address);
            let (terminated, stop_load) = (terminated.clone(), stop_load.clone());
            tokio::spawn(async move {
                let mut answers: Vec<(StatusCode, bool)> = Vec::new();
                let mut refused_after_sigterm = 0;
                while !stop_load.load(Ordering::SeqCst) {
                    let after = terminated.load(Ordering::SeqCst);
                    match browser.get("/").await {
                        Ok(response) => answers.push((response.status(), after)),
                        Err(error) => {
                            // Sent after the SIGTERM: refused at connect, or sent on a
                            // kept-alive connection the server was closing. Never a hang.
                            assert!(after, "a request sent before the SIGTERM failed: {error}");
                            assert!(!error.is_timeout(), "{error}");
                            refused_after_sigterm += 1;
                            break; // the server no longer takes new requests
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                (answers, refused_after_sigterm)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Requests sent from here on count as sent after the SIGTERM; the pause
    // lets the fast requests sent before it finish first.
    terminated.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let sigterm = Instant::now();
    binary.signal("-TERM");
    // The process waits for its in-flight requests instead of exiting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop_load.store(true, Ordering::SeqCst);
    assert!(
        binary.exit_status().is_none(),
        "the app must wait for its in-flight requests"
    );
    // New connections are no longer accepted.
    let refused = tokio::net::TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .is_err();
    assert!(refused, "no new connections once shutting down");
    lock.rollback().await.expect("released");

    for (i, request) in in_flight.into_iter().enumerate() {
        let (status, body) = request
            .await
            .expect("a task")
            .unwrap_or_else(|e| panic!("in-flight request {i} was cut: {e}"));
        assert_eq!(status, StatusCode::OK, "in-flight request {i}");
        assert!(body.contains("for the first time"), "{body}");
    }
    let mut fast_answers = 0;
    let mut fast_after = 0;
    let mut fast_errors = 0;
    for task in fast {
        let (answers, errors) = task.await.expect("a task");
        for (status, after) in &answers {
            assert_eq!(
                *status,
                StatusCode::OK,
                "no 5xx, before or after the SIGTERM"
            );
            fast_after += usize::from(*after);
        }
        fast_answers += answers.len();
        fast_errors += errors;
    }
    drop(slow);

    let status = binary
        .wait_exit(Duration::from_secs(15))
        .await
        .expect("the app exits within 15 s of the SIGTERM");
    let exited_after = sigterm.elapsed();
    assert!(status.success(), "exit status {status}");
    let log = binary.collect(Duration::from_millis(200)).join("\n");
    assert!(log.contains("housekeeping stopped"), "{log}");
    assert!(log.lines().any(|l| l.ends_with("] stopped")), "{log}");
    assert!(!log.contains(" ERROR "), "no errors: {log}");
    eprintln!(
        "graceful shutdown: {SLOW} requests in flight at the SIGTERM all finished with 200, \
         {fast_answers} fast requests all 200 ({fast_after} answered after the SIGTERM), \
         {fast_errors} refused after it, new connections refused; exit 0 after {exited_after:?}"
    );
}

/// The log's records: a line that starts with `[` (env_logger's header) and
/// the lines that continue it.
fn records(lines: &[String]) -> Vec<String> {
    let mut records: Vec<String> = Vec::new();
    for line in lines {
        match records.last_mut() {
            Some(record) if !line.starts_with('[') => {
                record.push('\n');
                record.push_str(line);
            }
            _ => records.push(line.clone()),
        }
    }
    records
}

/// The binary on a private PostgreSQL, a browser with a session on it, and
/// then the database stopped. Requests wait at most 1 s for a connection.
async fn binary_with_its_database_stopped(
    scratch: &Scratch,
) -> (DevPostgres, RunningBinary, Browser) {
    let server = scratch.server(false).await;
    let url = server.url("reliability_log");
    let binary = start_binary(&[
        ("DATABASE_URL", &url),
        ("SESSION_SECRET", TEST_SECRET),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("RUST_LOG", "info"),
        ("DATABASE_ACQUIRE_TIMEOUT_SECONDS", "1"),
    ]);
    let browser = Browser::new(&binary.address);
    browser.page("/").await;
    server.stop().await.expect("stopped");
    (server, binary, browser)
}

/// Sends `GET path` with `browser`, expecting a 503, and returns the log
/// records `binary` wrote for it.
async fn records_of_503(binary: &mut RunningBinary, browser: &Browser, path: &str) -> Vec<String> {
    let before = binary.collect(Duration::from_millis(100)).len();
    let response = browser.get(path).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
    records(&binary.collect(Duration::from_millis(300))[before..])
}

fn errors(records: &[String]) -> Vec<&String> {
    records.iter().filter(|r| r.contains(" ERROR ")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_503_is_logged_once_with_its_cause_and_without_secrets() {
    let scratch = Scratch::new("log");
    let (_server, mut binary, browser) = binary_with_its_database_stopped(&scratch).await;
    let cookie = browser.session_cookie();

    // The store cannot load the session: one ERROR record, with the cause chain.
    let logged = records_of_503(&mut binary, &browser, "/").await;
    let errors = errors(&logged);
    assert_eq!(errors.len(), 1, "{logged:#?}");
    assert!(
        errors[0].contains("503 Service Unavailable: database unavailable: session store"),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("loading a session"), "{}", errors[0]);
    // The root cause: a pooled connection the server closed as it stopped, or,
    // once those are gone, no connection to be had within the acquire timeout.
    assert!(
        errors[0].contains("pool timed out")
            || errors[0].contains("terminating connection due to administrator command"),
        "the root cause: {}",
        errors[0]
    );

    // The health check: a 503, one warning with its cause, one access-log line.
    let stranger = Browser::new(&binary.address);
    let logged = records_of_503(&mut binary, &stranger, "/healthz").await;
    let warnings: Vec<_> = logged
        .iter()
        .filter(|r| r.contains("health check failed"))
        .collect();
    assert_eq!(warnings.len(), 1, "{logged:#?}");
    assert!(
        warnings[0].contains("pool timed out")
            || warnings[0].contains("terminating connection due to administrator command"),
        "{}",
        warnings[0]
    );
    let access = logged
        .iter()
        .filter(|r| r.contains("\"GET /healthz HTTP/1.1\" 503"))
        .count();
    assert_eq!(access, 1, "{logged:#?}");

    // Nothing secret, anywhere in the log.
    binary.signal("-TERM");
    let status = binary.wait_exit(Duration::from_secs(15)).await;
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let log = binary.collect(Duration::from_millis(200)).join("\n");
    assert!(!log.contains(&cookie), "no cookie in the log");
    assert!(!log.contains(TEST_SECRET), "no secret in the log");
    assert!(log.contains("housekeeping stopped"), "{log}");
}

/// A 503 made from a session-store error travels up as an `Err`, which
/// actix-web's `Logger` would not log; `src/access_log.rs` logs both kinds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_from_the_session_store_is_in_the_access_log() {
    let scratch = Scratch::new("log-access");
    let (_server, mut binary, browser) = binary_with_its_database_stopped(&scratch).await;
    let logged = records_of_503(&mut binary, &browser, "/").await;
    let access = logged
        .iter()
        .filter(|r| r.contains("\"GET / HTTP/1.1\" 503"))
        .count();
    assert_eq!(access, 1, "{logged:#?}");
}

/// A store error is logged with its cause chain on one line (anyhow's `{:#}`),
/// not over several (its `{:?}`), so line-based log processing keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_error_is_logged_on_one_line() {
    let scratch = Scratch::new("log-line");
    let (_server, mut binary, browser) = binary_with_its_database_stopped(&scratch).await;
    let logged = records_of_503(&mut binary, &browser, "/").await;
    let errors = errors(&logged);
    assert_eq!(errors.len(), 1, "{logged:#?}");
    assert!(!errors[0].contains('\n'), "{}", errors[0]);
}

/// `GET /cart` without a session would create the CSRF token in the session;
/// if its product query then fails, a changed session would make actix-session
/// try (and fail) to save it too: one 503, two ERROR records. Pages therefore
/// query first and change the session last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_from_a_handler_is_logged_once() {
    let scratch = Scratch::new("log-twice");
    let (_server, mut binary, _) = binary_with_its_database_stopped(&scratch).await;
    let stranger = Browser::new(&binary.address);
    let logged = records_of_503(&mut binary, &stranger, "/cart").await;
    assert_eq!(errors(&logged).len(), 1, "{logged:#?}");
}
