//! `GET /` counts visits; `GET /visits` only reads the count.

use reqwest::StatusCode;

use crate::support::spawn_app;

#[tokio::test]
async fn the_counter_counts_one_two_three() {
    let app = spawn_app().await;

    let first = app.get_html("/").await;
    assert!(first.contains("Welcome to this page for the first time!"));
    let second = app.get_html("/").await;
    assert!(second.contains("You have visited this page 2 times."));
    let third = app.get_html("/").await;
    assert!(third.contains("You have visited this page 3 times."));
}

#[tokio::test]
async fn the_first_visit_sets_an_http_only_lax_session_cookie() {
    let app = spawn_app().await;
    let response = app.get("/").await;
    let cookie = response
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .expect("text");
    assert!(cookie.starts_with("session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "development cookies are not Secure: {cookie}"
    );
}

#[tokio::test]
async fn visits_reads_the_count_without_changing_it() {
    let app = spawn_app().await;
    app.get("/").await;
    app.get("/").await;

    for _ in 0..3 {
        let response = app.get("/visits").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers().get("set-cookie").is_none(),
            "a read sets no cookie"
        );
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!(body, serde_json::json!({ "visits": 2 }));
    }
    assert!(
        app.get_html("/")
            .await
            .contains("visited this page 3 times")
    );
}

#[tokio::test]
async fn visits_without_a_session_is_zero_and_creates_none() {
    let app = spawn_app().await;
    let response = app.get("/visits").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("set-cookie").is_none());
    assert_eq!(app.visits().await, 0);

    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(rows, 0, "no session row was created");
}

#[tokio::test]
async fn each_browser_has_its_own_count() {
    let app = spawn_app().await;
    let other = app.new_browser();
    app.get("/").await;
    app.get("/").await;
    app.get_with(&other, "/").await;
    assert_eq!(app.visits().await, 2);
    assert_eq!(app.visits_with(&other).await, 1);
}
