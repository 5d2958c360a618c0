//! Registration, login, logout, the account page and its sessions.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::support::{
    assert_redirect_to, connect, csrf_token, location, spawn_app, spawn_app_with,
};

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn registering_signs_you_in_and_stores_an_argon2id_hash() {
    let app = spawn_app().await;
    let response = app.register("alice", PASSWORD).await;
    assert_redirect_to(&response, "/account");

    let page = app.get_html("/account").await;
    assert!(page.contains("alice"));
    assert!(
        page.contains("Your account is ready"),
        "a one-time flash message"
    );
    assert!(
        !app.get_html("/account")
            .await
            .contains("Your account is ready"),
        "shown once"
    );

    let mut db = connect(&app).await;
    let (hash,): (String,) =
        sqlx::query_as("SELECT password_hash FROM users WHERE username = 'alice'")
            .fetch_one(&mut db)
            .await
            .expect("the user");
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    let plain: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM users u, sessions s
         WHERE u.password_hash LIKE '%' || $1 || '%' OR s.state::text LIKE '%' || $1 || '%'",
    )
    .bind(PASSWORD)
    .fetch_one(&mut db)
    .await
    .expect("count");
    assert_eq!(plain, 0, "the password is stored nowhere in plain text");
}

#[tokio::test]
async fn registration_errors_are_422_with_the_message_and_the_username_kept() {
    let app = spawn_app().await;
    app.register("taken_name", PASSWORD).await;
    app.logout().await;

    let token = app.csrf_from("/register").await;
    let cases = [
        ("Taken_Name", PASSWORD, PASSWORD, "taken"),
        ("ab", PASSWORD, PASSWORD, "3 to 32 characters"),
        ("bad name!", PASSWORD, PASSWORD, "3 to 32 characters"),
        ("newbie", "short", "short", "8 to 128 characters"),
        (
            "newbie",
            &"x".repeat(129),
            &"x".repeat(129),
            "8 to 128 characters",
        ),
        ("newbie", PASSWORD, "something else", "do not match"),
    ];
    for (username, password, confirm, message) in cases {
        let response = app
            .post(
                "/register",
                &[
                    ("csrf_token", &token),
                    ("username", username),
                    ("password", password),
                    ("password_confirm", confirm),
                ],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{username}"
        );
        let page = response.text().await.expect("body");
        assert!(page.contains("class=\"error"), "{username}");
        assert!(page.contains(message), "{username}: expected {message:?}");
        assert!(
            page.contains(&format!("value=\"{username}\"")),
            "{username} kept"
        );
    }
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE username <> 'demo'")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(users, 1, "no account was created by a rejected form");
}

#[tokio::test]
async fn login_redirects_to_a_local_next_only() {
    let app = spawn_app().await;
    app.register("bob", PASSWORD).await;
    app.logout().await;

    let login_with_next = |next: &'static str| {
        let app = &app;
        async move {
            app.logout().await;
            let token = app.csrf_from("/login").await;
            app.post(
                "/login",
                &[
                    ("csrf_token", &token),
                    ("username", "bob"),
                    ("password", PASSWORD),
                    ("next", next),
                ],
            )
            .await
        }
    };
    assert_redirect_to(&login_with_next("/cart").await, "/cart");
    assert_redirect_to(
        &login_with_next("/account/password").await,
        "/account/password",
    );
    for evil in [
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "evil.example",
        "javascript:alert(1)",
        "",
    ] {
        assert_redirect_to(&login_with_next(evil).await, "/account");
    }

    // The login page only carries a local `next` into its form.
    let page = app.get_html("/login?next=//evil.example").await;
    assert!(!page.contains("evil.example"));
    let page = app.get_html("/login?next=/account").await;
    assert!(page.contains("name=\"next\" value=\"/account\""));
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_exactly_alike() {
    let app = spawn_app().await;
    app.register("carol", PASSWORD).await;
    app.logout().await;

    let mut timings = [Vec::new(), Vec::new()];
    for round in 0..3 {
        for (i, (user, password)) in [("carol", "wrong password"), ("nobody_here", PASSWORD)]
            .into_iter()
            .enumerate()
        {
            let token = app.csrf_from("/login").await;
            let started = Instant::now();
            let response = app
                .post(
                    "/login",
                    &[
                        ("csrf_token", &token),
                        ("username", user),
                        ("password", password),
                    ],
                )
                .await;
            timings[i].push(started.elapsed());
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{user} round {round}"
            );
            let page = response.text().await.expect("body");
            assert!(page.contains("Invalid username or password."));
            assert!(page.contains("class=\"error"));
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (wrong, unknown) = (median(&mut timings[0]), median(&mut timings[1]));
    // Both run one Argon2 verification; neither answers much faster.
    assert!(
        unknown * 3 > wrong && wrong * 3 > unknown,
        "wrong password {wrong:?} vs unknown user {unknown:?}"
    );
}

#[tokio::test]
async fn signing_in_changes_the_session_key_and_keeps_the_data() {
    let app = spawn_app().await;
    app.register("dave", PASSWORD).await;
    app.logout().await;

    app.get("/").await;
    app.get("/").await;
    let before = app.session_cookie().expect("a pre-login cookie");
    assert_redirect_to(&app.login("dave", PASSWORD).await, "/account");
    let after = app.session_cookie().expect("a cookie");
    assert_ne!(before, after, "a new key after login");

    assert_eq!(app.visits().await, 2, "the session's data came along");
    // Whoever held the pre-login cookie (session fixation) holds nothing now.
    let attacker = app.browser_with_cookie(&before);
    let response = app.get_with(&attacker, "/account").await;
    assert_redirect_to(&response, "/login?next=/account");
    assert_eq!(app.visits_with(&attacker).await, 0);
}

#[tokio::test]
async fn logout_deletes_the_session_and_removes_the_cookie() {
    let app = spawn_app().await;
    app.register("erin", PASSWORD).await;
    app.get("/").await;
    let cookie = app.session_cookie().expect("a cookie");

    let response = app.logout().await;
    assert_redirect_to(&response, "/");
    let removal = response.headers()["set-cookie"].to_str().expect("text");
    assert!(
        removal.starts_with("session=;") || removal.contains("Max-Age=0"),
        "{removal}"
    );
    assert!(
        app.session_cookie().is_none(),
        "the browser dropped the cookie"
    );

    let replay = app.browser_with_cookie(&cookie);
    assert_eq!(
        app.visits_with(&replay).await,
        0,
        "the old cookie names nothing"
    );
    assert_redirect_to(
        &app.get_with(&replay, "/account").await,
        "/login?next=/account",
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE user_id IS NOT NULL")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn logout_removes_the_cookie_even_when_the_session_row_is_already_gone() {
    let app = spawn_app().await;
    app.register("frank", PASSWORD).await;
    let token = app.csrf_from("/").await;
    sqlx::query("DELETE FROM sessions")
        .execute(&app.pool)
        .await
        .expect("sessions gone");

    let response = app.post("/logout", &[("csrf_token", &token)]).await;
    assert_redirect_to(&response, "/");
    assert!(response.headers().get("set-cookie").is_some());
    assert!(app.session_cookie().is_none());
}

#[tokio::test]
async fn the_account_page_requires_signing_in() {
    let app = spawn_app().await;
    assert_redirect_to(&app.get("/account").await, "/login?next=/account");
    assert_redirect_to(
        &app.get("/account/password").await,
        "/login?next=/account/password",
    );
}

#[tokio::test]
async fn the_account_lists_sessions_and_ends_one_or_all_others() {
    let app = spawn_app().await;
    app.register("grace", PASSWORD).await;
    let laptop = app.new_browser();
    let phone = app.new_browser();
    assert_redirect_to(&laptop.login("grace", PASSWORD).await, "/account");
    assert_redirect_to(&phone.login("grace", PASSWORD).await, "/account");

    let page = app.get_html("/account").await;
    assert_eq!(
        page.matches("data-session-id=").count(),
        3,
        "three sessions listed"
    );
    assert_eq!(page.matches("this session").count(), 1);

    // End the laptop's session by its id, found on the laptop's own page.
    let laptop_page = laptop.get("/account").await.text().await.expect("body");
    let marker = "class=\"current\"";
    let laptop_id = laptop_page
        .split("data-session-id=\"")
        .skip(1)
        .find(|row| row[..row.find('>').unwrap_or(0)].contains(marker))
        .and_then(|row| row.split('"').next())
        .expect("the laptop's own row")
        .to_string();
    let token = csrf_token(&page);
    let response = app
        .post(
            "/account/sessions/revoke",
            &[("csrf_token", &token), ("session", &laptop_id)],
        )
        .await;
    assert_redirect_to(&response, "/account");
    assert_redirect_to(&laptop.get("/account").await, "/login?next=/account");
    assert_eq!(phone.get("/account").await.status(), StatusCode::OK);

    // Ending a session of another user, or a made-up id, ends nothing.
    let response = app
        .post(
            "/account/sessions/revoke",
            &[("csrf_token", &token), ("session", "999999")],
        )
        .await;
    assert_redirect_to(&response, "/account");
    assert!(app.get_html("/account").await.contains("already ended"));

    let response = app
        .post(
            "/account/sessions/revoke",
            &[("csrf_token", &token), ("all_others", "1")],
        )
        .await;
    assert_redirect_to(&response, "/account");
    assert_redirect_to(&phone.get("/account").await, "/login?next=/account");
    let page = app.get_html("/account").await;
    assert_eq!(
        page.matches("data-session-id=").count(),
        1,
        "only this one is left"
    );

    // Nonsense in the form is a clear 400, not a 500.
    let response = app
        .post(
            "/account/sessions/revoke",
            &[("csrf_token", &token), ("session", "abc")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_demo_account_exists_in_development_only() {
    let app = spawn_app().await;
    let page = app.get_html("/login").await;
    assert!(page.contains("Demo account: user demo, password demo-password"));
    assert_redirect_to(&app.login("demo", "demo-password").await, "/account");
    assert!(location(&app.logout().await) == "/");
}

#[tokio::test]
async fn in_production_the_logout_removal_cookie_is_secure_for_path_slash_even_without_a_row() {
    let app = spawn_app_with(|s| {
        s.environment = session_demo::config::Environment::Production;
        s.cookie_secure = true;
    })
    .await;
    // A client keeps `Secure` cookies for HTTPS only, so this one carries its
    // cookies by hand.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let cookie_pair = |response: &reqwest::Response, name: &str| -> Option<String> {
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find(|value| value.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    };
    let page = plain
        .get(format!("{}/register", app.address))
        .send()
        .await
        .expect("sent");
    let pre_session = cookie_pair(&page, "__Host-csrf").expect("a form token cookie");
    let token = csrf_token(&page.text().await.expect("a body"));
    let registered = plain
        .post(format!("{}/register", app.address))
        .header("cookie", pre_session.split(';').next().expect("name=value"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", "production_user"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ])
        .send()
        .await
        .expect("sent");
    assert_redirect_to(&registered, "/account");
    let session = cookie_pair(&registered, "__Host-session").expect("a session cookie");
    let session = session.split(';').next().expect("name=value").to_owned();

    for row_exists in [true, false] {
        if !row_exists {
            sqlx::query("DELETE FROM sessions")
                .execute(&app.pool)
                .await
                .expect("the row is gone");
        }
        let account = plain
            .get(format!("{}/account", app.address))
            .header("cookie", &session)
            .send()
            .await
            .expect("sent");
        let token = if row_exists {
            csrf_token(&account.text().await.expect("a body"))
        } else {
            String::new()
        };
        let response = plain
            .post(format!("{}/logout", app.address))
            .header("cookie", &session)
            .form(&[("csrf_token", token.as_str())])
            .send()
            .await
            .expect("sent");
        assert_redirect_to(&response, "/");
        let removals: Vec<&str> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter(|value| value.starts_with("__Host-session="))
            .collect();
        assert!(!removals.is_empty(), "row exists: {row_exists}");
        for removal in removals {
            for attribute in ["; Secure", "; Path=/", "Max-Age=0"] {
                assert!(
                    removal.contains(attribute),
                    "row exists: {row_exists}: {removal}"
                );
            }
            assert!(!removal.to_lowercase().contains("domain="), "{removal}");
        }
    }
}
