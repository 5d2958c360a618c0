//! `DATABASE_MAX_CONNECTIONS` is the most connections one process opens, all
//! its pools together; when PostgreSQL refuses a connection (too many
//! clients), pages are 503 and the app recovers by itself once connections
//! free up.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use session_demo::{config::Secret, database::ConnectionBudget, random::random_hex};
use sqlx::{AssertSqlSafe, Connection, PgConnection, postgres::PgConnectOptions};

use crate::support::{Browser, TestApp, connect, database_url, spawn_app_with};

/// The app's client backends on its database, leaving out the test's own
/// connections (`own` pids) and PostgreSQL's background workers.
async fn app_connections(watcher: &mut PgConnection, own: &[i32]) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND backend_type = 'client backend'
           AND pid <> pg_backend_pid() AND pid <> ALL($1)",
    )
    .bind(own)
    .fetch_one(watcher)
    .await
    .expect("a count")
}

async fn backend_pid(connection: &mut PgConnection) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(connection)
        .await
        .expect("a pid")
}

/// Samples the app's connections every 10 ms for `how_long`; returns the most seen.
async fn peak_connections(app: &TestApp, own: &[i32], how_long: Duration) -> i64 {
    let mut watcher = connect(app).await;
    let deadline = Instant::now() + how_long;
    let mut peak = 0;
    while Instant::now() < deadline {
        peak = peak.max(app_connections(&mut watcher, own).await);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    peak
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_never_opens_more_connections_than_database_max_connections() {
    const MAX: u32 = 6;
    const CLIENTS: usize = 12;
    let app = spawn_app_with(|s| {
        s.database_max_connections = MAX;
        s.database_acquire_timeout = Duration::from_secs(15);
        s.database_statement_timeout = Duration::from_secs(15);
    })
    .await;
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let budget = ConnectionBudget::split(MAX, workers);
    let browsers: Vec<Browser> = (0..CLIENTS).map(|_| app.new_browser()).collect();
    for browser in &browsers {
        app.get_with(browser, "/").await;
    }

    // Make every pool as busy as it can be: requests that wait on locks the
    // test holds keep their connections. Cart pages wait on the products
    // (the pages' pool); counter visits wait on the sessions (the session pools).
    let mut products_lock = connect(&app).await;
    let mut sessions_lock = connect(&app).await;
    let own = [
        backend_pid(&mut products_lock).await,
        backend_pid(&mut sessions_lock).await,
    ];
    let mut products_tx = products_lock.begin().await.expect("a transaction");
    sqlx::query("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *products_tx)
        .await
        .expect("locked");
    let carts =
        join_all((0..CLIENTS).map(|_| async { app.get_with(&app.new_browser(), "/cart").await }));
    let then_visits = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut sessions_tx = sessions_lock.begin().await.expect("a transaction");
        sqlx::query("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
            .execute(&mut *sessions_tx)
            .await
            .expect("locked");
        let visits = join_all(browsers.iter().map(|browser| app.get_with(browser, "/")));
        tokio::join!(visits, async {
            let peak = peak_connections(&app, &own, Duration::from_secs(2)).await;
            sessions_tx.commit().await.expect("released");
            products_tx.commit().await.expect("released");
            peak
        })
    };
    let (carts, (visits, saturated)) = tokio::join!(carts, then_visits);
    assert!(visits.iter().all(|r| r.status() == StatusCode::OK));
    assert!(carts.iter().all(|r| r.status() == StatusCode::OK));

    // And a free-running mix: counters, cart pages, health checks.
    let app = &app;
    let mixed = join_all(browsers.iter().enumerate().map(|(i, browser)| async move {
        for round in 0..15 {
            let path = ["/", "/cart", "/healthz", "/visits"][(i + round) % 4];
            assert_eq!(
                app.get_with(browser, path).await.status(),
                StatusCode::OK,
                "{path}"
            );
        }
    }));
    let (_, free_running) =
        tokio::join!(mixed, peak_connections(app, &own, Duration::from_secs(1)));

    eprintln!(
        "DATABASE_MAX_CONNECTIONS={MAX} with {workers} workers: {budget:?}; \
         peak {saturated} connections with every pool saturated, {free_running} under a free-running mix"
    );
    assert!(
        saturated <= i64::from(MAX),
        "{saturated} connections > {MAX}"
    );
    assert!(
        free_running <= i64::from(MAX),
        "{free_running} connections > {MAX}"
    );
    // Saturated, the requests fill every pool they can reach: the workers'
    // own, or the shared one when the budget is too small for those (which
    // otherwise holds what migrations and the demo user opened at start).
    let reachable = match budget.pages_per_worker {
        0 => budget.total(),
        _ => budget.total() - budget.shared as usize,
    };
    assert!(
        saturated >= reachable as i64,
        "saturated, the pools are full"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_postgresql_refuses_connections_pages_are_503_and_the_app_recovers_by_itself() {
    // The app signs in as a role of its own that PostgreSQL lets open at most
    // LIMIT connections; the test fills them up.
    const LIMIT: usize = 6;
    let admin_url = database_url("postgres").await;
    let mut admin = PgConnection::connect(&admin_url).await.expect("the server");
    // Not `test_...`: the harness drops idle databases of that name.
    let name = format!(
        "connection_limit_{}",
        random_hex::<8>().expect("randomness")
    );
    for statement in [
        format!("CREATE ROLE {name} LOGIN CONNECTION LIMIT {LIMIT}"),
        format!("CREATE DATABASE {name} OWNER {name}"),
    ] {
        sqlx::query(AssertSqlSafe(statement))
            .execute(&mut admin)
            .await
            .expect("created");
    }
    let server: PgConnectOptions = admin_url.parse().expect("a URL");
    let url = format!(
        "postgres://{name}@{}:{}/{name}",
        server.get_host(),
        server.get_port()
    );
    let app = spawn_app_with(|s| {
        s.database_url = Some(Secret::new(&url));
        s.database_max_connections = 4;
        s.database_acquire_timeout = Duration::from_secs(2);
    })
    .await;
    app.get("/").await;
    app.get("/").await;
    assert_eq!(app.visits().await, 2);

    // Fill the role's connections: the test's fillers take every free one,
    // then the app's own are cut (as a restart of a connection pooler or a
    // network blip would), and the fillers take those too.
    let mut fillers: Vec<PgConnection> = Vec::new();
    let fill = async |fillers: &mut Vec<PgConnection>| loop {
        match PgConnection::connect(&url).await {
            Ok(connection) => fillers.push(connection),
            Err(sqlx::Error::Database(error)) => {
                assert_eq!(error.code().as_deref(), Some("53300"), "{error}");
                break;
            }
            Err(other) => panic!("{other}"),
        }
    };
    fill(&mut fillers).await;
    let mut filler_pids = Vec::new();
    for filler in &mut fillers {
        filler_pids.push(backend_pid(filler).await);
    }
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE usename = $1 AND pid <> ALL($2)",
    )
    .bind(&name)
    .bind(&filler_pids)
    .execute(&mut admin)
    .await
    .expect("terminated");
    let deadline = Instant::now() + Duration::from_secs(10);
    while fillers.len() < LIMIT {
        fill(&mut fillers).await;
        assert!(
            Instant::now() < deadline,
            "the app's connections did not go"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Every page that needs the database: 503, quickly, in the layout.
    for path in ["/", "/", "/cart", "/visits"] {
        let started = Instant::now();
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{path}: {:?}",
            started.elapsed()
        );
        let page = response.text().await.expect("a body");
        assert!(page.contains("temporarily unavailable"), "{path}: {page}");
    }
    assert_eq!(
        app.get("/healthz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    // Connections free up: the app serves again, no restart, nothing lost.
    fillers.truncate(LIMIT / 2);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = app.get("/").await;
        if response.status() == StatusCode::OK {
            let page = response.text().await.expect("a body");
            assert!(
                page.contains("You have visited this page 3 times."),
                "{page}"
            );
            break;
        }
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(Instant::now() < deadline, "the app did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/cart").await.status(), StatusCode::OK);

    app.stop().await;
    drop(fillers);
    for statement in [
        format!("DROP DATABASE {name} WITH (FORCE)"),
        format!("DROP ROLE {name}"),
    ] {
        let _ = sqlx::query(AssertSqlSafe(statement))
            .execute(&mut admin)
            .await;
    }
}
