//! Concurrent requests of one session lose no update (design.md section 4):
//! two tabs, a double click or a prefetch, on one instance or two.

use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::support::{connect, spawn_app, spawn_app_from};

#[tokio::test]
async fn fifty_parallel_visits_of_one_session_count_fifty() {
    let app = spawn_app().await;
    app.get("/").await;
    let visits = join_all((0..50).map(|_| app.get("/"))).await;
    assert!(visits.iter().all(|r| r.status() == StatusCode::OK));
    assert_eq!(app.visits().await, 51);
}

#[tokio::test]
async fn parallel_visits_spread_over_two_instances_all_count() {
    let first = spawn_app().await;
    let second = spawn_app_from(first.settings.clone()).await;
    first.get("/").await;
    let cookie = first.session_cookie().expect("a session cookie");
    let at_second = second.browser_with_cookie(&cookie);
    // 25 straight to each instance, all at once: no proxy, no affinity.
    let to_first = join_all((0..25).map(|_| first.get("/")));
    let to_second = join_all((0..25).map(|_| second.get_with(&at_second, "/")));
    let (one, two) = tokio::join!(to_first, to_second);
    assert!(one.iter().chain(&two).all(|r| r.status() == StatusCode::OK));
    assert_eq!(first.visits().await, 51);
}

#[tokio::test]
async fn requests_that_change_different_values_both_keep_their_change() {
    let app = spawn_app().await;
    app.register("two_tabs", "correct horse battery").await;
    let token = app.csrf_from("/account").await;
    // One tab counts visits while the other ends the user's other sessions,
    // which leaves a message for the next page.
    let form = [("csrf_token", token.as_str()), ("all_others", "1")];
    let revoke = app.post("/account/sessions/revoke", &form);
    let (revoked, visits) = tokio::join!(revoke, join_all((0..20).map(|_| app.get("/"))));
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    assert!(visits.iter().all(|r| r.status() == StatusCode::OK));
    assert_eq!(app.visits().await, 20, "every visit counted");
    let account = app.get_html("/account").await;
    assert!(
        account.contains("You were not signed in anywhere else."),
        "the other tab's message survived the visits: {account}"
    );
}

#[tokio::test]
async fn a_sign_out_is_never_undone_by_slow_requests_of_the_same_session() {
    let app = spawn_app().await;
    app.get("/").await;
    let cookie = app.session_cookie().expect("a session cookie");
    let other_tab = app.browser_with_cookie(&cookie);
    let token = app.csrf_from("/login").await;
    let visits = join_all((0..20).map(|_| app.get_with(&other_tab, "/")));
    let form = [("csrf_token", token.as_str())];
    let sign_out = app.post("/logout", &form);
    let (_, signed_out) = tokio::join!(visits, sign_out);
    assert_eq!(signed_out.status(), StatusCode::SEE_OTHER);

    let mut db = connect(&app).await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&mut db)
        .await
        .expect("count");
    assert_eq!(rows, 0, "no request brought the session back");
    let stale = app.browser_with_cookie(&cookie);
    assert_eq!(
        app.visits_with(&stale).await,
        0,
        "the old cookie names nothing"
    );
}

#[tokio::test]
async fn a_session_whose_stored_data_has_an_odd_shape_starts_afresh() {
    let app = spawn_app().await;
    app.get("/").await;
    let mut db = connect(&app).await;
    for odd in ["[1, 2, 3]", "\"a string\"", "null"] {
        app.get("/").await;
        sqlx::query("UPDATE sessions SET state = $1::jsonb")
            .bind(odd)
            .execute(&mut db)
            .await
            .expect("odd data, as by hand");
        for path in ["/", "/visits", "/session", "/cart", "/login"] {
            let response = app.get(path).await;
            assert!(
                response.status().is_success(),
                "{odd}: GET {path} gave {}",
                response.status()
            );
        }
    }
    // Values of an unexpected type inside an object are ignored, one by one.
    sqlx::query("UPDATE sessions SET state = '{\"visits\": {\"n\": 3}, \"flash\": 7}'")
        .execute(&mut db)
        .await
        .expect("odd values");
    let page = app.get_html("/").await;
    assert!(
        page.contains("first time") || page.contains("visited"),
        "{page}"
    );
}
