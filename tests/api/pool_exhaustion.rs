//! The session store's pools: one per worker thread, and when every
//! connection is busy, requests queue for the acquire timeout, then get a 503,
//! and are served at once when a connection comes back.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::support::{Browser, REQUEST_TIMEOUT, spawn_app_with};

#[tokio::test]
async fn every_worker_thread_queries_through_a_session_pool_of_its_own() {
    // A connection is driven by the runtime of the worker that opened it, so
    // each worker must use its own pool (actix_session_postgres::WorkerPools).
    // Sixteen browsers, each on a connection of its own, land on every worker
    // (actix hands out accepted connections in turn); then every pool has
    // opened connections.
    let app = spawn_app_with(|s| s.database_max_connections = 16).await;
    let pools = app.session_pools.all();
    assert!(
        pools.iter().all(|pool| pool.open_connections() == 0),
        "connections open on first use"
    );
    let browsers: Vec<Browser> = (0..16)
        .map(|_| Browser::new(&app.address).timeout(REQUEST_TIMEOUT))
        .collect();
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
    let browsers: Vec<Browser> = (0..4)
        .map(|_| Browser::new(&app.address).timeout(REQUEST_TIMEOUT))
        .collect();
    for browser in &browsers {
        browser.page("/").await;
    }
    let newcomer = Browser::new(&app.address).timeout(REQUEST_TIMEOUT);

    // The test holds every connection of the app's pools: the pages' pool and
    // the session store's pools, one per worker (the two share the budget of 2).
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
    let held = (held_pages, held_sessions);

    // Requests queue for the acquire timeout (1 s), then get a 503: sessions
    // that exist, a first visit, and the health check.
    let timed = |browser: &Browser, path: &'static str| {
        let browser = browser.clone();
        async move {
            let started = Instant::now();
            let status = browser.get(path).await.status();
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
    // Six requests, none waiting out the 1 s acquire timeout (that would take
    // six seconds); the margin is for a busy machine.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
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

async fn health_status(address: &str) -> StatusCode {
    Browser::new(address)
        .timeout(REQUEST_TIMEOUT)
        .get("/healthz")
        .await
        .status()
}
