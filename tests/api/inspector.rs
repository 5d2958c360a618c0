//! `GET /session`: the inspector shows this request's session, read-only.

use crate::helpers::{client_with_cookie, spawn_app};

#[tokio::test]
async fn without_a_cookie_the_inspector_shows_step_one_and_creates_nothing() {
    let app = spawn_app().await;
    let response = app.get("/session").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("set-cookie").is_none());
    assert_eq!(response.headers()["cache-control"], "no-store");
    let page = response.text().await.expect("body");
    assert!(page.contains("Step 1: your browser sent no cookie"));
    assert!(page.contains("this request has no session on the server"));
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn with_a_session_it_shows_the_stored_state_and_the_digest_never_the_key() {
    let app = spawn_app().await;
    app.get("/").await;
    app.get("/").await;
    let cookie = app.session_cookie().expect("a cookie");

    let response = app.get("/session").await;
    assert!(response.headers().get("set-cookie").is_none(), "read-only");
    let page = response.text().await.expect("body");
    let page = page.replace("&#34;", "\"").replace("&quot;", "\"");
    assert!(page.contains("Step 5: the app decrypted your cookie"));
    assert!(
        page.contains("\"visits\": 2"),
        "the state as stored: {page}"
    );
    let digest: String = sqlx::query_scalar("SELECT encode(key_hash, 'hex') FROM sessions")
        .fetch_one(&app.pool)
        .await
        .expect("digest");
    assert!(page.contains(&digest[..12]), "the digest prefix");
    assert!(!page.contains(&digest), "only a prefix");
    assert!(!page.contains(&cookie), "never the cookie");
    assert!(page.contains("Expires if idle"));
    assert!(page.contains("Expires at the latest"));
    assert_eq!(app.visits().await, 2, "looking changed nothing");
}

#[tokio::test]
async fn a_bad_or_ended_cookie_is_explained() {
    let app = spawn_app().await;
    let garbage = client_with_cookie(&app, "garbage");
    let page = app
        .get_with(&garbage, "/session")
        .await
        .text()
        .await
        .expect("body");
    assert!(page.contains("failed decryption"));

    app.get("/").await;
    sqlx::query("DELETE FROM sessions")
        .execute(&app.pool)
        .await
        .expect("ended");
    let page = app.get_html("/session").await;
    assert!(page.contains("Step 6: the cookie decrypted, but its session has ended"));
}
