//! HEAD works wherever GET does, and every 405 says which methods are allowed.

use reqwest::{Method, StatusCode, header::HeaderMap};

use crate::support::spawn_app;

/// The headers worth comparing between a GET and a HEAD of the same page
/// (`date` ticks, and a new session gets a new cookie each time).
fn comparable(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = headers
        .iter()
        // The date, a cookie, and the request id (one per request) differ.
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "set-cookie" | "x-request-id"))
        .map(|(name, value)| {
            (
                name.to_string(),
                value.to_str().unwrap_or("(bytes)").to_owned(),
            )
        })
        .collect();
    pairs.sort();
    pairs
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    for path in [
        "/",
        "/visits",
        "/session",
        "/cart",
        "/login",
        "/register",
        "/account",
        "/healthz",
        "/static/style.css",
        "/nope",
    ] {
        let url = format!("{}{path}", app.address);
        let get = client.get(&url).send().await.expect("an answer");
        let head = client.head(&url).send().await.expect("an answer");
        assert_eq!(head.status(), get.status(), "HEAD {path}");
        assert_eq!(
            comparable(head.headers()),
            comparable(get.headers()),
            "HEAD {path}"
        );
        assert_eq!(
            head.headers().contains_key("set-cookie"),
            get.headers().contains_key("set-cookie"),
            "HEAD {path}"
        );
        assert!(
            head.bytes().await.expect("a body").is_empty(),
            "HEAD {path} has no body"
        );
        if get.status() != StatusCode::SEE_OTHER {
            assert!(!get.bytes().await.expect("a body").is_empty(), "GET {path}");
        }
    }
}

#[tokio::test]
async fn every_405_lists_the_allowed_methods() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let cases: &[(Method, &str, &str)] = &[
        (Method::POST, "/", "GET, HEAD"),
        (Method::DELETE, "/visits", "GET, HEAD"),
        (Method::POST, "/healthz", "GET, HEAD"),
        (Method::PUT, "/login", "GET, HEAD, POST"),
        (Method::GET, "/logout", "POST"),
        (Method::GET, "/cart/add", "POST"),
        (Method::POST, "/static/style.css", "GET, HEAD"),
    ];
    for (method, path, allow) in cases {
        let response = client
            .request(method.clone(), format!("{}{path}", app.address))
            .send()
            .await
            .expect("an answer");
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(
            response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok()),
            Some(*allow),
            "{method} {path}"
        );
        let page = response.text().await.expect("a body");
        assert!(
            page.contains("Method not allowed"),
            "{method} {path}: {page}"
        );
    }
}
