//! What the log says about a 503: each one logged once, with its cause chain
//! on one line, in the access log too, and nothing secret. The real binary
//! runs on a private PostgreSQL that the tests stop.

use std::time::Duration;

use dev_postgres::DevPostgres;
use reqwest::StatusCode;

use crate::support::{Browser, REQUEST_TIMEOUT, RunningBinary, Scratch, TEST_SECRET, start_binary};

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
    let browser = Browser::new(&binary.address).timeout(REQUEST_TIMEOUT);
    browser.page("/").await;
    server.stop().await.expect("stopped");
    (server, binary, browser)
}

/// Sends `GET path` with `browser`, expecting a 503, and returns the log
/// records `binary` wrote for it.
async fn records_of_503(binary: &mut RunningBinary, browser: &Browser, path: &str) -> Vec<String> {
    let before = binary.collect(Duration::from_millis(100)).len();
    let response = browser.get(path).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
    records(&binary.collect(Duration::from_millis(300))[before..])
}

fn errors(records: &[String]) -> Vec<&String> {
    records.iter().filter(|r| r.contains(" ERROR ")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_503_is_logged_once_on_one_line_with_its_cause_and_without_secrets() {
    let scratch = Scratch::new("log");
    let (_server, mut binary, browser) = binary_with_its_database_stopped(&scratch).await;
    let cookie = browser.session_cookie().expect("the session cookie");

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
    // The root cause: a pooled connection the server closed as it stopped,
    // a refused connection once those are gone (the store retried on a fresh
    // one), or no connection to be had within the acquire timeout.
    assert!(
        errors[0].contains("pool timed out")
            || errors[0].contains("Connection refused")
            || errors[0].contains("terminating connection due to administrator command"),
        "the root cause: {}",
        errors[0]
    );

    // On one line (anyhow's `{:#}`), not over several (its `{:?}`), so
    // line-based log processing keeps working.
    assert!(!errors[0].contains('\n'), "{}", errors[0]);
    // A 503 made from a session-store error travels up as an `Err`, which
    // actix-web's `Logger` would not log; the edge of the middleware stack logs both kinds.
    let access = logged
        .iter()
        .filter(|r| r.contains("\"GET / HTTP/1.1\" 503"))
        .count();
    assert_eq!(access, 1, "{logged:#?}");

    // The health check: a 503, one warning with its cause, one access-log line.
    let stranger = Browser::new(&binary.address).timeout(REQUEST_TIMEOUT);
    let logged = records_of_503(&mut binary, &stranger, "/healthz").await;
    let warnings: Vec<_> = logged
        .iter()
        .filter(|r| r.contains("health check failed"))
        .collect();
    assert_eq!(warnings.len(), 1, "{logged:#?}");
    // (It runs on the session store's pool, which reports a refused
    // connection as such rather than as a timeout.)
    assert!(
        warnings[0].contains("pool timed out")
            || warnings[0].contains("Connection refused")
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

/// `GET /cart` without a session would create the CSRF token in the session;
/// if its product query then fails, a changed session would make actix-session
/// try (and fail) to save it too: one 503, two ERROR records. Pages therefore
/// query first and change the session last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_from_a_handler_is_logged_once() {
    let scratch = Scratch::new("log-twice");
    let (_server, mut binary, _) = binary_with_its_database_stopped(&scratch).await;
    let stranger = Browser::new(&binary.address).timeout(REQUEST_TIMEOUT);
    let logged = records_of_503(&mut binary, &stranger, "/cart").await;
    assert_eq!(errors(&logged).len(), 1, "{logged:#?}");
}
