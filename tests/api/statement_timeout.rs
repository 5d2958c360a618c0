//! `DATABASE_STATEMENT_TIMEOUT_MS`: a statement that runs too long is
//! cancelled and the page is a 503, which changes nothing in the session.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::support::{Browser, REQUEST_TIMEOUT, connect, lock_cart_lines, spawn_app_with};

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
    let browser = Browser::new(&app.address).timeout(REQUEST_TIMEOUT);
    browser.page("/cart").await; // the session now has a cart, which the layout counts
    let mut blocker = connect(&app).await;
    let lock = lock_cart_lines(&mut blocker).await;
    let started = Instant::now();
    let response = browser.get("/").await;
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
    let browser = Browser::new(&app.address).timeout(REQUEST_TIMEOUT);
    browser.page("/cart").await;
    browser.page("/").await;
    assert_eq!(browser.visits().await, 1);

    let mut blocker = connect(&app).await;
    let lock = lock_cart_lines(&mut blocker).await;
    let response = browser.get("/").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    lock.rollback().await.expect("released");

    assert_eq!(browser.visits().await, 1, "the 503 counted the visit");
}
