//! Changing the password renews this session and ends every other one.

use reqwest::StatusCode;

use crate::support::{assert_redirect_to, spawn_app, spawn_app_from};

const OLD: &str = "correct horse battery";
const NEW: &str = "a brand new passphrase";

#[tokio::test]
async fn a_password_change_ends_every_other_session_and_renews_this_one() {
    let app = spawn_app().await;
    app.register("kate", OLD).await;
    // Another browser, on another app instance sharing the database.
    let second = spawn_app_from(app.settings.clone()).await;
    let elsewhere = second.new_browser();
    assert_redirect_to(&elsewhere.login("kate", OLD).await, "/account");

    let before = app.session_cookie().expect("a cookie");
    let token = app.csrf_from("/account/password").await;
    let response = app
        .post(
            "/account/password",
            &[
                ("csrf_token", &token),
                ("current_password", OLD),
                ("new_password", NEW),
                ("new_password_confirm", NEW),
            ],
        )
        .await;
    assert_redirect_to(&response, "/account");
    assert_ne!(app.session_cookie().expect("a cookie"), before, "a new key");
    assert_eq!(
        app.get("/account").await.status(),
        StatusCode::OK,
        "still signed in"
    );

    assert_redirect_to(&elsewhere.get("/account").await, "/login?next=/account");
    let stale = app.browser_with_cookie(&before);
    assert_redirect_to(
        &app.get_with(&stale, "/account").await,
        "/login?next=/account",
    );

    app.logout().await;
    assert_eq!(
        app.login("kate", OLD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_redirect_to(&app.login("kate", NEW).await, "/account");
}

#[tokio::test]
async fn bad_password_changes_are_422_and_change_nothing() {
    let app = spawn_app().await;
    app.register("liam", OLD).await;
    let other = app.new_browser();
    other.login("liam", OLD).await;
    let hash_before: String =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'liam'")
            .fetch_one(&app.pool)
            .await
            .expect("hash");

    let token = app.csrf_from("/account/password").await;
    for (current, new, confirm, message) in [
        ("wrong current", NEW, NEW, "current password is not correct"),
        (OLD, "short", "short", "8 to 128 characters"),
        (
            OLD,
            &"y".repeat(129),
            &"y".repeat(129),
            "8 to 128 characters",
        ),
        (OLD, NEW, "a different one", "do not match"),
    ] {
        let response = app
            .post(
                "/account/password",
                &[
                    ("csrf_token", &token),
                    ("current_password", current),
                    ("new_password", new),
                    ("new_password_confirm", confirm),
                ],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{message}"
        );
        let page = response.text().await.expect("body");
        assert!(page.contains("class=\"error"));
        assert!(page.contains(message), "{message}");
    }
    let hash_after: String =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'liam'")
            .fetch_one(&app.pool)
            .await
            .expect("hash");
    assert_eq!(hash_before, hash_after);
    assert_eq!(
        other.get("/account").await.status(),
        StatusCode::OK,
        "others not ended"
    );
}
