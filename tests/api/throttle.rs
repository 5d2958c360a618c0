//! Failed logins lock a username out for a while; addresses are rate-limited.

use reqwest::StatusCode;
use session_demo::auth::throttle::AddressLimit;

use crate::support::{assert_redirect_to, spawn_app, spawn_app_from, spawn_app_with};

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn ten_failures_lock_the_username_until_the_window_passes() {
    let app = spawn_app().await;
    app.register("ivan", PASSWORD).await;
    app.register("judy", PASSWORD).await;
    app.logout().await;

    for attempt in 1..=10 {
        let response = app.login("ivan", "wrong password").await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    // Now even the right password is refused, with a time to wait.
    let response = app.login("ivan", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("class=\"error")
    );
    // Whatever the letter case.
    assert_eq!(
        app.login("IVAN", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    // Another user is not affected, and neither is another app instance's view of ivan.
    assert_redirect_to(&app.login("judy", PASSWORD).await, "/account");
    app.logout().await;
    let second = spawn_app_from(app.settings.clone()).await;
    let token = second.csrf_from("/login").await;
    let response = second
        .post(
            "/login",
            &[
                ("csrf_token", &token),
                ("username", "ivan"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "shared across instances"
    );

    // Fifteen minutes later (moved back in time in the database) the lock is gone.
    sqlx::query("UPDATE login_failures SET failed_at = failed_at - interval '15 minutes'")
        .execute(&app.pool)
        .await
        .expect("time passes");
    assert_redirect_to(&app.login("ivan", PASSWORD).await, "/account");
}

#[tokio::test]
async fn one_address_is_rate_limited_on_login_and_register() {
    let app = spawn_app_with(|s| {
        s.address_limit = AddressLimit {
            burst: 3,
            refill_every: std::time::Duration::from_secs(60),
        }
    })
    .await;
    let token = app.csrf_from("/login").await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = app
            .post(
                "/login",
                &[
                    ("csrf_token", &token),
                    ("username", "x_user"),
                    ("password", "nope"),
                ],
            )
            .await;
        statuses.push(response.status());
    }
    assert_eq!(statuses[..3], [StatusCode::UNAUTHORIZED; 3]);
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS);
    // Registration counts in a bucket of its own, limited the same way.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = app
            .post(
                "/register",
                &[("csrf_token", &token), ("username", "y_user")],
            )
            .await;
        statuses.push((
            response.status(),
            response.headers().contains_key("retry-after"),
        ));
    }
    assert!(
        statuses[..3]
            .iter()
            .all(|(s, _)| *s != StatusCode::TOO_MANY_REQUESTS)
    );
    assert_eq!(statuses[3], (StatusCode::TOO_MANY_REQUESTS, true));
    // Pages other than the two limited POSTs are unaffected.
    assert_eq!(app.get("/login").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_address_limit_holds_across_instances_sharing_the_database() {
    let first = spawn_app_with(|s| {
        s.address_limit = AddressLimit {
            burst: 4,
            refill_every: std::time::Duration::from_secs(60),
        }
    })
    .await;
    let second = spawn_app_from(first.settings.clone()).await;
    // Attempts without a CSRF token: counted by the limit, then refused (403).
    let mut statuses = Vec::new();
    for app in [&first, &second, &first, &second, &first, &second] {
        statuses.push(app.post("/login", &[("username", "x_user")]).await.status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::FORBIDDEN,
            StatusCode::FORBIDDEN,
            StatusCode::FORBIDDEN,
            StatusCode::FORBIDDEN,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS,
        ],
        "four attempts for the address, whichever instance counts them"
    );
}
