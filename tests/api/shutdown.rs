//! SIGTERM under load: the real binary finishes the requests in flight,
//! refuses new connections, and exits 0.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use sqlx::{Connection, PgConnection};

use crate::support::{
    Browser, REQUEST_TIMEOUT, TEST_SECRET, fresh_database_url, lock_cart_lines, start_binary,
};

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
    let slow: Vec<Browser> = (0..SLOW)
        .map(|_| Browser::new(&address).timeout(REQUEST_TIMEOUT))
        .collect();
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
                match browser.try_get("/").await {
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
            let browser = Browser::new(&address).timeout(REQUEST_TIMEOUT);
            let (terminated, stop_load) = (terminated.clone(), stop_load.clone());
            tokio::spawn(async move {
                let mut answers: Vec<(StatusCode, bool)> = Vec::new();
                let mut refused_after_sigterm = 0;
                while !stop_load.load(Ordering::SeqCst) {
                    let after = terminated.load(Ordering::SeqCst);
                    match browser.try_get("/").await {
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
