//! Nothing secret in the logs: the real binary, debug logging, a register,
//! login and logout; its output must hold no password, hash or cookie.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use crate::helpers::{TEST_SECRET, client_with, csrf_token, fresh_database_url};

#[tokio::test]
async fn the_log_holds_no_password_hash_or_cookie() {
    let password = "very-secret-password-4711";
    let url = fresh_database_url().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_session-demo"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &url)
        .env("SESSION_SECRET", TEST_SECRET)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "debug")
        .current_dir(std::env::temp_dir())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().expect("stderr");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut log = Vec::new();
    let address = loop {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the app logs its address");
        log.push(line.clone());
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().to_string();
        }
    };

    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = client_with(jar.clone());
    let page = client
        .get(format!("{address}/register"))
        .send()
        .await
        .expect("sent");
    let token = csrf_token(&page.text().await.expect("body"));
    client
        .post(format!("{address}/register"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", "loggy"),
            ("password", password),
            ("password_confirm", password),
        ])
        .send()
        .await
        .expect("sent");
    let page = client
        .get(format!("{address}/account"))
        .send()
        .await
        .expect("sent");
    let token = csrf_token(&page.text().await.expect("body"));
    client
        .post(format!("{address}/logout"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("sent");
    let page = client
        .get(format!("{address}/login"))
        .send()
        .await
        .expect("sent");
    let token = csrf_token(&page.text().await.expect("body"));
    client
        .post(format!("{address}/login"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", "loggy"),
            ("password", password),
        ])
        .send()
        .await
        .expect("sent");
    let cookie = {
        use reqwest::cookie::CookieStore;
        let header = jar
            .cookies(&address.parse().expect("url"))
            .expect("a cookie");
        header.to_str().expect("text").to_string()
    };
    let cookie_value = cookie.split('=').nth(1).expect("a value").to_string();
    let hash: String = {
        use sqlx::Connection;
        let mut db = sqlx::PgConnection::connect(&url).await.expect("db");
        sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'loggy'")
            .fetch_one(&mut db)
            .await
            .expect("hash")
    };

    // Stop the app and collect everything it wrote.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    while let Ok(line) = lines_rx.recv_timeout(Duration::from_millis(500)) {
        log.push(line);
    }
    let log = log.join("\n");
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
