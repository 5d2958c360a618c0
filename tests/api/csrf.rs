//! Every POST needs this session's CSRF token: without it, or with a wrong one,
//! the answer is 403 and nothing changes.

use reqwest::StatusCode;

use crate::support::{TestApp, spawn_app};

const PASSWORD: &str = "correct horse battery";

/// A snapshot of everything a POST could change.
async fn snapshot(app: &TestApp) -> (String, String, String) {
    let users: String = sqlx::query_scalar(
        "SELECT coalesce(string_agg(username || ':' || credentials_version || ':' \
         || devices_version, ',' ORDER BY id), '') FROM users",
    )
    .fetch_one(&app.pool)
    .await
    .expect("users");
    let sessions: String =
        sqlx::query_scalar("SELECT coalesce(string_agg(state::text || password_hash, ',' ORDER BY s.id), '') FROM sessions s LEFT JOIN users u ON u.id = s.user_id")
            .fetch_one(&app.pool)
            .await
            .expect("sessions");
    let carts: String = sqlx::query_scalar(
        "SELECT coalesce(string_agg(cart_id || ':' || product_id || 'x' || quantity, ','), '') FROM cart_lines",
    )
    .fetch_one(&app.pool)
    .await
    .expect("carts");
    (users, sessions, carts)
}

#[tokio::test]
async fn every_post_route_refuses_a_missing_or_wrong_token() {
    let app = spawn_app().await;
    app.register("henry", PASSWORD).await;
    let other = app.new_browser();
    other.login("henry", PASSWORD).await;
    let real_token = app.csrf_from("/account").await;

    let routes: [(&str, Vec<(&str, &str)>); 11] = [
        (
            "/register",
            vec![
                ("username", "mallory"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        ),
        (
            "/login",
            vec![("username", "henry"), ("password", PASSWORD)],
        ),
        ("/logout", vec![]),
        (
            "/account/password",
            vec![
                ("current_password", PASSWORD),
                ("new_password", "another password"),
                ("new_password_confirm", "another password"),
            ],
        ),
        ("/account/sessions/revoke", vec![("all_others", "1")]),
        ("/account/devices/forget", vec![]),
        ("/cart/add", vec![("product_id", "1"), ("quantity", "1")]),
        ("/cart/update", vec![("product_id", "1"), ("quantity", "5")]),
        ("/cart/remove", vec![("product_id", "1")]),
        ("/cart/clear", vec![]),
        ("/cart/add", vec![("product_id", "2")]),
    ];
    let before = snapshot(&app).await;
    for (path, fields) in &routes {
        for token in [
            None,
            Some("wrong-token"),
            Some(""),
            Some(&real_token[..real_token.len() - 1]),
        ] {
            let mut form = fields.clone();
            if let Some(token) = token {
                form.push(("csrf_token", token));
            }
            let response = app.post(path, &form).await;
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{path} with {token:?}"
            );
            let page = response.text().await.expect("body");
            assert!(page.contains("class=\"error"), "{path}: an error page");
        }
    }
    assert_eq!(snapshot(&app).await, before, "nothing changed");
    assert_eq!(
        other.get("/account").await.status(),
        StatusCode::OK,
        "still signed in"
    );
    assert_eq!(
        app.get("/account").await.status(),
        StatusCode::OK,
        "still signed in"
    );
}

#[tokio::test]
async fn a_token_from_another_session_is_refused() {
    let app = spawn_app().await;
    let mallory = app.new_browser();
    let page = mallory.get("/login").await.text().await.expect("body");
    let mallorys_token = crate::support::csrf_token(&page);
    app.get("/login").await;
    let response = app
        .post(
            "/register",
            &[
                ("csrf_token", &mallorys_token),
                ("username", "victim_account"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_session_fresh_from_signing_in_cannot_be_logged_out_by_another_site() {
    let app = spawn_app().await;
    app.register("freshly_signed", PASSWORD).await;
    app.logout().await;
    let signed_in = app.login("freshly_signed", PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);

    // No page has been shown since the sign-in, and another site's form sends
    // the cookie but cannot know the token.
    let response = app.post("/logout", &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/account").await.status(),
        StatusCode::OK,
        "still signed in"
    );
}
