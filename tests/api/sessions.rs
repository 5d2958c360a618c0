//! Sessions across restarts, app instances, bad cookies and time.

use std::time::Duration;

use reqwest::StatusCode;

use crate::support::{TEST_SECRET, spawn_app, spawn_app_from, spawn_app_with};
use session_demo::config::Secret;

#[tokio::test]
async fn a_session_survives_a_restart_of_the_app() {
    let app = spawn_app().await;
    app.get("/").await;
    app.get("/").await;
    let cookie = app.session_cookie().expect("a session cookie");
    let settings = app.settings.clone();
    app.stop().await;

    let restarted = spawn_app_from(settings).await;
    let browser = restarted.browser_with_cookie(&cookie);
    assert_eq!(restarted.visits_with(&browser).await, 2);
    let page = restarted
        .get_with(&browser, "/")
        .await
        .text()
        .await
        .expect("body");
    assert!(page.contains("You have visited this page 3 times."));
}

#[tokio::test]
async fn two_app_instances_on_one_database_share_sessions() {
    let first = spawn_app().await;
    let second = spawn_app_from(first.settings.clone()).await;

    // One browser, alternating between the two instances.
    first.get("/").await;
    let cookie = first.session_cookie().expect("a cookie");
    let browser = second.browser_with_cookie(&cookie);
    second.get_with(&browser, "/").await;
    assert_eq!(first.visits().await, 2);
    first.get("/").await;
    assert_eq!(second.visits_with(&browser).await, 3);
}

#[tokio::test]
async fn bad_cookies_are_treated_as_no_session_at_all() {
    let app = spawn_app().await;
    app.get("/").await;
    app.get("/").await;
    let good = app.session_cookie().expect("a cookie");

    // A cookie from an app with another secret, on the same database.
    let other = spawn_app_with(|s| {
        s.database_url = app.settings.database_url.clone();
        s.session_secret = Some(Secret::new(TEST_SECRET.replace("test", "tset")));
    })
    .await;
    other.get("/").await;
    let foreign = other.session_cookie().expect("a cookie");

    let mut tampered = good.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");

    for (what, value) in [
        ("tampered", tampered.as_str()),
        ("truncated", &good[..good.len() / 2]),
        ("garbage", "not-a-session-cookie"),
        ("empty", ""),
        ("other secret", foreign.as_str()),
        ("very long", &"A".repeat(3000)),
    ] {
        let browser = app.browser_with_cookie(value);
        let response = app.get_with(&browser, "/").await;
        assert_eq!(response.status(), StatusCode::OK, "{what}");
        let page = response.text().await.expect("body");
        assert!(
            page.contains("Welcome to this page for the first time!"),
            "{what}: a fresh session"
        );
        assert_eq!(app.visits_with(&browser).await, 1, "{what}");
    }
    // The real session is untouched.
    assert_eq!(app.visits().await, 2);
}

#[tokio::test]
async fn a_session_ends_after_the_inactivity_timeout() {
    let app = spawn_app_with(|s| s.session_ttl = Duration::from_secs(2)).await;
    app.get("/").await;
    app.get("/").await;
    assert_eq!(app.visits().await, 2);

    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(app.visits().await, 0, "expired: no session");
    let page = app.get_html("/").await;
    assert!(page.contains("Welcome to this page for the first time!"));
}

#[tokio::test]
async fn reading_a_session_keeps_it_alive() {
    // TTL 3 s: a read extends it at most every 0.3 s; reading every second
    // for five seconds keeps the session alive well past its first expiry.
    let app = spawn_app_with(|s| s.session_ttl = Duration::from_secs(3)).await;
    app.get("/").await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(app.visits().await, 1);
    }
}

#[tokio::test]
async fn visiting_keeps_a_session_alive() {
    // The same as reading, for requests that change the session: TTL 3 s,
    // a visit every second for five seconds, and no visit is lost.
    let app = spawn_app_with(|s| s.session_ttl = Duration::from_secs(3)).await;
    for _ in 0..5 {
        app.get("/").await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(app.visits().await, 5);
}

#[tokio::test]
async fn a_write_moves_the_expiry_only_when_it_is_due() {
    // TTL 10 s: the expiry is pushed forward once it falls 1 s (the touch
    // interval) behind. Quick visits change the data but not `expires_at`, so
    // PostgreSQL can update the row without touching its indexes.
    let app = spawn_app_with(|s| s.session_ttl = Duration::from_secs(10)).await;
    app.get("/").await;
    let expiry = || async {
        sqlx::query_scalar::<_, f64>("SELECT extract(epoch FROM expires_at)::float8 FROM sessions")
            .fetch_one(&app.pool)
            .await
            .expect("one session")
    };
    let first = expiry().await;
    app.get("/").await;
    app.get("/").await;
    assert_eq!(app.visits().await, 3);
    assert_eq!(expiry().await, first, "not due: unchanged");

    tokio::time::sleep(Duration::from_millis(1200)).await;
    app.get("/").await;
    let moved = expiry().await;
    assert!(moved > first, "due: pushed forward ({first} -> {moved})");
}

/// What `SHOW synchronous_commit` says on the session store's connections
/// (every worker's pool must agree).
async fn session_synchronous_commit(app: &crate::support::TestApp) -> String {
    let mut answers = Vec::new();
    for pool in app.session_pools.all() {
        let answer: String = pool
            .run(async |conn| {
                sqlx::query_scalar("SHOW synchronous_commit")
                    .fetch_one(conn)
                    .await
            })
            .await
            .expect("a setting");
        answers.push(answer);
    }
    answers.dedup();
    assert_eq!(answers.len(), 1, "the pools disagree: {answers:?}");
    answers.remove(0)
}

#[tokio::test]
async fn session_writes_are_durable_unless_relaxed_by_setting() {
    let durable = spawn_app().await;
    assert_eq!(session_synchronous_commit(&durable).await, "on");
    let relaxed = spawn_app_with(|s| s.session_synchronous_commit = false).await;
    assert_eq!(session_synchronous_commit(&relaxed).await, "off");
    // Only the session store's connections: the pages' pool stays durable.
    let pages: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(&relaxed.pool)
        .await
        .expect("a setting");
    assert_eq!(pages, "on");
    relaxed.get("/").await;
    relaxed.get("/").await;
    assert_eq!(relaxed.visits().await, 2);
}
