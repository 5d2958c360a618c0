//! Nothing secret in the logs: the real binary, debug logging, a register,
//! login and logout; its output must hold no password, hash or cookie.

use crate::support::{Browser, TEST_SECRET, csrf_token, fresh_database_url, start_binary};

#[tokio::test]
async fn the_log_holds_no_password_hash_or_cookie() {
    let password = "very-secret-password-4711";
    let url = fresh_database_url().await;
    let mut binary = start_binary(&[
        ("DATABASE_URL", &url),
        ("SESSION_SECRET", TEST_SECRET),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("RUST_LOG", "debug"),
    ]);
    let address = binary.address.clone();

    let browser = Browser::new(&address);
    let token = csrf_token(&browser.page("/register").await);
    browser
        .post(
            "/register",
            &[
                ("csrf_token", token.as_str()),
                ("username", "loggy"),
                ("password", password),
                ("password_confirm", password),
            ],
        )
        .await;
    let token = csrf_token(&browser.page("/account").await);
    browser
        .post("/logout", &[("csrf_token", token.as_str())])
        .await;
    let token = csrf_token(&browser.page("/login").await);
    browser
        .post(
            "/login",
            &[
                ("csrf_token", token.as_str()),
                ("username", "loggy"),
                ("password", password),
            ],
        )
        .await;
    let cookie_value = browser.session_cookie().expect("a session cookie");
    let hash: String = {
        use sqlx::Connection;
        let mut db = sqlx::PgConnection::connect(&url).await.expect("db");
        sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'loggy'")
            .fetch_one(&mut db)
            .await
            .expect("hash")
    };

    // Stop the app and collect everything it wrote.
    assert!(binary.terminate(), "exit 0");
    let log = binary.drain();
    assert!(
        log.contains("POST /login"),
        "the log has the requests: {log}"
    );
    assert!(!log.contains(password), "no password in the log");
    assert!(!log.contains(&hash), "no password hash in the log");
    assert!(!log.contains(&hash[30..]), "no part of the hash in the log");
    assert!(!log.contains(&cookie_value), "no cookie in the log");
    assert!(!log.contains(TEST_SECRET), "no secret in the log");
    assert!(!log.contains(&token), "no CSRF token in the log");
}
