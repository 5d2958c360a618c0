//! A database that answers, but not as the app expects (a renamed column), is
//! a bug to fix, not an outage: 500 pages with the cause logged once, while
//! `/healthz` says the session store cannot serve. Only a database that does
//! not answer is a 503 (`outage.rs`).

use reqwest::StatusCode;
use sqlx::{Connection, PgConnection};

use crate::support::{Browser, TEST_SECRET, fresh_database_url, spawn_app, start_binary};

/// Runs one DDL statement on `app`'s database.
async fn alter(pool: &sqlx::PgPool, sql: &'static str) {
    sqlx::query(sql).execute(pool).await.expect(sql);
}

#[tokio::test]
async fn a_renamed_column_gives_500_pages_and_a_failing_health_check_until_it_is_restored() {
    let app = spawn_app().await;
    app.get("/").await;
    assert_eq!(app.visits().await, 1);

    // The session store's table.
    alter(
        &app.pool,
        "ALTER TABLE sessions RENAME COLUMN state TO renamed_state",
    )
    .await;
    let newcomer = app.new_browser();
    for (who, response) in [
        ("a session's page", app.get("/").await),
        ("a first visit", app.get_with(&newcomer, "/").await),
    ] {
        assert_eq!(
            response.status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "{who}"
        );
        let page = response.text().await.expect("a body");
        assert!(page.contains("Something went wrong"), "{who}: {page}");
        assert!(
            page.contains("<html lang=\"en\">"),
            "{who}: the page is in the layout"
        );
    }
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(health.headers().get("set-cookie").is_none());

    alter(
        &app.pool,
        "ALTER TABLE sessions RENAME COLUMN renamed_state TO state",
    )
    .await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
    assert_eq!(
        app.visits().await,
        2,
        "the session survived; the failed visit did not count"
    );

    // A table of the pages, not of the session store: the page that reads it
    // is a 500; the session store, and so /healthz, is fine.
    alter(
        &app.pool,
        "ALTER TABLE products RENAME COLUMN price_cents TO renamed_price",
    )
    .await;
    assert_eq!(
        app.get("/cart").await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    alter(
        &app.pool,
        "ALTER TABLE products RENAME COLUMN renamed_price TO price_cents",
    )
    .await;
    assert_eq!(app.get("/cart").await.status(), StatusCode::OK);
}

/// The ERROR records among `lines`.
fn error_records(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .filter(|line| line.contains(" ERROR "))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_session_store_failure_logs_its_cause_chain_once() {
    let url = fresh_database_url().await;
    let mut binary = start_binary(&[
        ("DATABASE_URL", &url),
        ("SESSION_SECRET", TEST_SECRET),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("RUST_LOG", "info"),
    ]);
    let browser = Browser::new(&binary.address);
    assert_eq!(browser.get("/").await.status(), StatusCode::OK);
    let mut db = PgConnection::connect(&url).await.expect("a connection");

    // A failed save (a first visit): the store's own words and the database's.
    sqlx::query("ALTER TABLE sessions RENAME COLUMN state TO renamed_state")
        .execute(&mut db)
        .await
        .expect("renamed");
    let before = binary.collect(std::time::Duration::from_millis(200)).len();
    let status = Browser::new(&binary.address).get("/").await.status();
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let logged = binary.collect(std::time::Duration::from_millis(300))[before..].to_vec();
    let errors = error_records(&logged);
    assert_eq!(errors.len(), 1, "{logged:#?}");
    assert!(
        errors[0].contains(
            "500 Internal Server Error: internal error: session store: saving a new session"
        ) && errors[0].contains("column \"state\""),
        "{}",
        errors[0]
    );
    sqlx::query("ALTER TABLE sessions RENAME COLUMN renamed_state TO state")
        .execute(&mut db)
        .await
        .expect("restored");

    // A failed update (a second visit, refused by a constraint the app does
    // not expect): likewise.
    sqlx::query(
        "ALTER TABLE sessions ADD CONSTRAINT one_visit_only \
         CHECK ((state->>'visits')::int < 2) NOT VALID",
    )
    .execute(&mut db)
    .await
    .expect("constrained");
    let before = binary.collect(std::time::Duration::from_millis(200)).len();
    assert_eq!(
        browser.get("/").await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let logged = binary.collect(std::time::Duration::from_millis(300))[before..].to_vec();
    let errors = error_records(&logged);
    assert_eq!(errors.len(), 1, "{logged:#?}");
    assert!(
        errors[0].contains("session store: updating a session")
            && errors[0].contains("one_visit_only"),
        "{}",
        errors[0]
    );
    assert!(binary.terminate(), "a clean stop");
}
