//! Bad input to every handler that reads user input: a clear `4xx`, never a
//! `5xx`, and nothing changed.
//!
//! The handlers that read user input, and where each bad input is given
//! (besides `random_requests.rs`, which reaches all of them at random):
//! - `GET /login?next=...` (query `next`): `every_handler_that_reads_input_refuses_bad_input`
//! - `POST /login` (username, password, next): the same, plus binary bodies
//!   and a NUL in the username
//! - `POST /register` (username, password, password_confirm): the same, and
//!   `accounts.rs` for each refused registration and its message
//! - `POST /logout` (csrf_token, no other field): the same
//! - `POST /account/password` (current_password, new_password, new_password_confirm):
//!   the same, and `password_change.rs` for each refused change and its message
//! - `POST /account/sessions/revoke` (session, all_others): the same
//! - `POST /account/devices/forget` (csrf_token only): the same
//! - `POST /cart/add`, `/cart/update`, `/cart/remove` (product_id, quantity):
//!   the same, and `cart.rs` for each refused change and its message
//! - `POST /cart/clear` (csrf_token only): the same
//! - every route: the method, the path, the headers and the session cookie
//!   (`random_requests.rs`; oversized heads and bodies in `request_limits.rs`).

use std::collections::BTreeMap;

use reqwest::StatusCode;

use crate::support::{
    POST_ROUTES,
    raw_http::{request_bytes, send_raw, socket_address},
    spawn_app_without_address_limit, spawn_signed_in_app,
};

#[tokio::test]
async fn a_binary_or_invalid_utf8_form_body_never_gets_a_5xx() {
    let (app, cookie, token) = spawn_signed_in_app().await;
    let socket = socket_address(&app);
    let headers = [
        (
            "Cookie".to_owned(),
            format!("session={cookie}").into_bytes(),
        ),
        (
            "Content-Type".to_owned(),
            b"application/x-www-form-urlencoded".to_vec(),
        ),
    ];
    let binary: Vec<u8> = (0..=255u8).cycle().take(1024).collect();
    let mut invalid_utf8 = format!("csrf_token={token}&").into_bytes();
    invalid_utf8.extend_from_slice(
        b"username=\xff\xfe\xc3&password=%ff%fe%c3&product_id=\xc0\x80&quantity=%c0%80\
          &session=\xed\xa0\x80&current_password=\xff&new_password=\xfe&new_password_confirm=\xfd\
          &password_confirm=\x00&next=/\xff",
    );
    // /logout last: it may sign the session out.
    let mut routes: Vec<&str> = POST_ROUTES
        .iter()
        .copied()
        .filter(|p| *p != "/logout")
        .collect();
    routes.push("/logout");
    let mut statuses = Vec::new();
    for path in routes {
        // Nothing but bytes: no CSRF token to find, so 403 (logout: 400 or 403).
        let status = send_raw(
            socket,
            request_bytes(b"POST", path.as_bytes(), &headers, &binary),
        )
        .await
        .expect("an answer");
        assert!(
            (400..500).contains(&status),
            "{path} with a binary body: {status}"
        );
        // The right token and invalid UTF-8 in every field.
        let status = send_raw(
            socket,
            request_bytes(b"POST", path.as_bytes(), &headers, &invalid_utf8),
        )
        .await
        .expect("an answer");
        assert!(status < 500, "{path} with invalid UTF-8: {status}");
        // Routes that read more than the token refuse it.
        if !["/cart/clear", "/account/devices/forget", "/logout"].contains(&path) {
            assert!(
                (400..500).contains(&status),
                "{path} with invalid UTF-8: {status}"
            );
        }
        statuses.push((path, status));
    }
    eprintln!("invalid UTF-8 bodies with a valid token: {statuses:?}");
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn every_handler_that_reads_input_refuses_bad_input() {
    let (app, _, token) = spawn_signed_in_app().await;
    let t = token.as_str();
    let huge = "9".repeat(40);
    let long = "é".repeat(700);
    // Forms refused with a message of their own are in `accounts.rs`,
    // `password_change.rs` and `cart.rs`, which check the message too; these
    // are the rest.
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        // The CSRF check, on every POST route (logout last, below).
        (
            "/login",
            vec![("username", "demo"), ("password", "demo-password")],
        ),
        ("/register", vec![("csrf_token", "wrong")]),
        ("/account/password", vec![("csrf_token", "")]),
        ("/account/sessions/revoke", vec![("all_others", "1")]),
        ("/account/devices/forget", vec![("csrf_token", "x")]),
        ("/cart/add", vec![("csrf_token", "x"), ("product_id", "1")]),
        ("/cart/update", vec![("csrf_token", &long)]),
        ("/cart/remove", vec![]),
        ("/cart/clear", vec![("csrf_token", t), ("csrf_token", t)]),
        // POST /login
        (
            "/login",
            vec![("csrf_token", t), ("username", ""), ("password", "")],
        ),
        (
            "/login",
            vec![("csrf_token", t), ("username", &long), ("password", &long)],
        ),
        (
            "/login",
            vec![
                ("csrf_token", t),
                ("username", "\u{1}\u{202e}"),
                ("password", "x"),
            ],
        ),
        (
            "/login",
            vec![("csrf_token", t), ("username", "a"), ("username", "b")],
        ),
        (
            "/login",
            vec![
                ("csrf_token", t),
                ("username", "nobody"),
                ("password", "x"),
                ("next", "//evil.example"),
            ],
        ),
        // POST /register
        (
            "/register",
            vec![
                ("csrf_token", t),
                ("username", ""),
                ("password", ""),
                ("password_confirm", ""),
            ],
        ),
        (
            "/register",
            vec![
                ("csrf_token", t),
                ("username", &long),
                ("password", &long),
                ("password_confirm", &long),
            ],
        ),
        (
            "/register",
            vec![
                ("csrf_token", t),
                ("username", "\u{1F600}\u{0}"),
                ("password", "long enough 1"),
                ("password_confirm", "long enough 1"),
            ],
        ),
        (
            "/register",
            vec![("csrf_token", t), ("username", "a"), ("username", "b")],
        ),
        // POST /account/password
        (
            "/account/password",
            vec![
                ("csrf_token", t),
                ("current_password", "correct horse battery"),
                ("new_password", &long),
                ("new_password_confirm", &long),
            ],
        ),
        (
            "/account/password",
            vec![
                ("csrf_token", t),
                ("current_password", "a"),
                ("current_password", "b"),
            ],
        ),
        // POST /account/sessions/revoke
        ("/account/sessions/revoke", vec![("csrf_token", t)]),
        (
            "/account/sessions/revoke",
            vec![("csrf_token", t), ("session", "abc")],
        ),
        (
            "/account/sessions/revoke",
            vec![("csrf_token", t), ("session", &huge)],
        ),
        (
            "/account/sessions/revoke",
            vec![("csrf_token", t), ("session", "")],
        ),
        (
            "/account/sessions/revoke",
            vec![("csrf_token", t), ("all_others", "yes")],
        ),
        (
            "/account/sessions/revoke",
            vec![("csrf_token", t), ("session", "1"), ("session", "2")],
        ),
        // POST /cart/add, /cart/update, /cart/remove
        ("/cart/add", vec![("csrf_token", t), ("product_id", &huge)]),
        ("/cart/add", vec![("csrf_token", t), ("product_id", "-1")]),
        (
            "/cart/add",
            vec![("csrf_token", t), ("product_id", "1"), ("quantity", &huge)],
        ),
        (
            "/cart/add",
            vec![("csrf_token", t), ("product_id", "1"), ("quantity", "٣")],
        ),
        (
            "/cart/add",
            vec![("csrf_token", t), ("product_id", "1"), ("product_id", "2")],
        ),
        (
            "/cart/update",
            vec![("csrf_token", t), ("product_id", ""), ("quantity", "1")],
        ),
        (
            "/cart/remove",
            vec![("csrf_token", t), ("product_id", &long)],
        ),
        // POST /logout: a wrong token leaves the session signed in.
        ("/logout", vec![("csrf_token", "wrong")]),
        ("/logout", vec![("csrf_token", t), ("csrf_token", t)]),
    ];
    let mut statuses = BTreeMap::new();
    for (path, form) in &cases {
        let response = app.post(path, form).await;
        let status = response.status();
        assert!(status.is_client_error(), "POST {path} {form:?}: {status}");
        *statuses.entry(status.as_u16()).or_insert(0) += 1;
    }
    // GET /login?next=...: a bad `next` is dropped, the page still shows.
    for next in [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "%2F%2Fevil.example",
        "/%0d%0aSet-Cookie:x=1",
        "javascript:alert(1)",
        &"%2Fa".repeat(1000),
        "%ff%fe",
    ] {
        let response = app.get(&format!("/login?next={next}")).await;
        assert_eq!(response.status(), StatusCode::OK, "next={next}");
        let page = response.text().await.expect("a body");
        assert!(!page.contains("evil.example"), "next={next}");
        assert!(response_has_no_injected_cookie(&page));
    }
    // Nothing got through: still signed in, with an empty cart.
    assert_eq!(app.get("/account").await.status(), StatusCode::OK);
    assert!(!app.get_html("/cart").await.contains("class=\"cart-line\""));
    eprintln!(
        "bad input: {} bad forms over {} POST routes, statuses {statuses:?}, 8 bad `next` values",
        cases.len(),
        POST_ROUTES.len()
    );
}

/// PostgreSQL refuses text that contains NUL (SQLSTATE 22021, `invalid byte
/// sequence for encoding "UTF8": 0x00`), so user input must be checked before it
/// reaches a query: `POST /login` refuses a name outside the username rules
/// like any failed login (401), without asking the database.
#[tokio::test]
async fn a_nul_in_the_login_username_is_not_a_503() {
    let app = spawn_app_without_address_limit().await;
    let error = sqlx::query("SELECT $1::text")
        .bind("a\u{0}b")
        .execute(&app.pool)
        .await
        .expect_err("PostgreSQL refuses NUL");
    assert!(error.to_string().contains("0x00"), "{error}");
    let token = app.csrf_from("/login").await;
    let response = app
        .post(
            "/login",
            &[
                ("csrf_token", token.as_str()),
                ("username", "a\u{0}b"),
                ("password", "whatever"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

fn response_has_no_injected_cookie(page: &str) -> bool {
    !page.contains("Set-Cookie:x=1")
}
