//! The password form is no way around the login lockout: a wrong current
//! password is a failed login, and the form has the per-address limit.

use reqwest::StatusCode;
use session_demo::auth::throttle::AddressLimit;

use crate::support::{assert_redirect_to, spawn_app, spawn_app_with};

const PASSWORD: &str = "correct horse battery";
const NEW: &str = "a brand new passphrase";

#[tokio::test]
async fn wrong_current_passwords_count_as_failed_logins() {
    let app = spawn_app().await;
    app.register("sam", PASSWORD).await;
    let token = app.csrf_from("/account/password").await;
    let change = |current: &'static str| {
        let token = token.clone();
        let app = &app;
        async move {
            app.post(
                "/account/password",
                &[
                    ("csrf_token", &token),
                    ("current_password", current),
                    ("new_password", NEW),
                    ("new_password_confirm", NEW),
                ],
            )
            .await
        }
    };
    for attempt in 1..=10 {
        let response = change("a wrong guess").await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{attempt}"
        );
    }
    // Now the form is locked like the login, even for the right password...
    let response = change(PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    // ...and so is the login of any other client.
    let stranger = app.new_browser();
    assert_eq!(
        stranger.login("sam", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Once the failures leave the window, the old password works: it never changed.
    sqlx::query("UPDATE login_failures SET failed_at = failed_at - interval '15 minutes'")
        .execute(&app.pool)
        .await
        .expect("time passes");
    assert_redirect_to(&stranger.login("sam", PASSWORD).await, "/account");
}

#[tokio::test]
async fn one_address_is_rate_limited_on_the_password_form() {
    let app = spawn_app_with(|s| {
        s.address_limit = AddressLimit {
            burst: 3,
            refill_every: std::time::Duration::from_secs(60),
        }
    })
    .await;
    app.register("tara", PASSWORD).await;
    // Posts without a valid token change nothing (403), but they still count.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let response = app
            .post(
                "/account/password",
                &[
                    ("csrf_token", "not the token"),
                    ("current_password", "a guess"),
                    ("new_password", NEW),
                    ("new_password_confirm", NEW),
                ],
            )
            .await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().get("retry-after").is_some());
        }
        statuses.push(response.status());
    }
    let limited = statuses
        .iter()
        .position(|status| *status == StatusCode::TOO_MANY_REQUESTS)
        .unwrap_or_else(|| panic!("no 429 in {statuses:?}"));
    assert!(limited <= 3, "{statuses:?}");
    assert!(
        statuses[..limited]
            .iter()
            .all(|status| *status == StatusCode::FORBIDDEN),
        "{statuses:?}"
    );
    // The form page itself is not limited.
    assert_eq!(app.get("/account/password").await.status(), StatusCode::OK);
}
