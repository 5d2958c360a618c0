//! Request ids: every response carries `X-Request-Id`; a proxy's id is kept
//! only from a trusted proxy and only when it is short and plain; the 500 and
//! 503 pages show it.

use std::time::Duration;

use reqwest::StatusCode;

use crate::support::{Browser, REQUEST_TIMEOUT, spawn_app, spawn_app_with};

fn id_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .expect("an X-Request-Id header")
        .to_str()
        .expect("plain text")
        .to_owned()
}

fn is_plain(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[tokio::test]
async fn every_kind_of_response_carries_a_fresh_request_id() {
    let app = spawn_app().await;
    let mut seen = std::collections::HashSet::new();
    for path in [
        "/",
        "/cart",
        "/nope",
        "/static/style.css",
        "/healthz",
        "/login",
    ] {
        let response = app.get(path).await;
        let id = id_of(&response);
        assert!(is_plain(&id) && id.len() == 32, "{path}: {id}");
        assert!(seen.insert(id), "{path}: ids are not reused");
    }
    // A 405 and a 413 made before any handler ran carry one too.
    let response = app
        .browser
        .client
        .delete(format!("{}/", app.address))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(is_plain(&id_of(&response)));
    let response = app
        .browser
        .client
        .get(format!("{}/{}", app.address, "a".repeat(9000)))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::URI_TOO_LONG);
    assert!(is_plain(&id_of(&response)));
}

#[tokio::test]
async fn an_id_from_an_untrusted_peer_is_replaced() {
    // No proxy is trusted by default: the test client's id is not believed.
    let app = spawn_app().await;
    let response = app
        .browser
        .client
        .get(format!("{}/", app.address))
        .header("x-request-id", "chosen-by-the-client")
        .send()
        .await
        .expect("sent");
    let id = id_of(&response);
    assert_ne!(id, "chosen-by-the-client");
    assert_eq!(id.len(), 32);
}

#[tokio::test]
async fn a_trusted_proxy_s_plain_id_is_kept_and_anything_else_replaced() {
    let app = spawn_app_with(|s| {
        s.trusted_proxies = "127.0.0.1".parse().expect("valid");
    })
    .await;
    let send = |id: String| {
        let (client, address) = (app.browser.client.clone(), app.address.clone());
        async move {
            let response = client
                .get(format!("{address}/visits"))
                .header("x-request-id", id)
                .send()
                .await
                .expect("sent");
            id_of(&response)
        }
    };
    let nginx_style = "4bf92f3577b34da6a3ce929d0e0e4736";
    assert_eq!(send(nginx_style.into()).await, nginx_style);
    let longest = "a.b_c-".repeat(10) + "abcd";
    assert_eq!(longest.len(), 64);
    assert_eq!(send(longest.clone()).await, longest);
    for bad in [
        "a".repeat(65),
        "two words".into(),
        "quote\"d".into(),
        "a;b".into(),
    ] {
        let id = send(bad.clone()).await;
        assert_ne!(id, bad);
        assert!(is_plain(&id));
    }
}

#[tokio::test]
async fn the_500_page_shows_the_request_id() {
    let app = spawn_app().await;
    sqlx::query("ALTER TABLE products RENAME COLUMN price_cents TO renamed_price")
        .execute(&app.pool)
        .await
        .expect("renamed");
    let response = app.get("/cart").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let id = id_of(&response);
    let page = response.text().await.expect("a body");
    assert!(
        page.contains(&format!("data-request-id=\"{id}\"")),
        "the page quotes {id}: {page}"
    );
    // A 4xx page does not: there is nothing to report.
    let response = app.get("/nope").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(
        !response
            .text()
            .await
            .expect("a body")
            .contains("data-request-id")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_503_page_of_a_store_failure_shows_the_request_id() {
    let app = spawn_app_with(|s| {
        s.database_acquire_timeout = Duration::from_secs(1);
    })
    .await;
    // Every session connection held: loading a session waits, then fails.
    let mut held = Vec::new();
    for pool in app.session_pools.all() {
        for _ in 0..pool.max_size() {
            held.push(pool.acquire().await.expect("a connection"));
        }
    }
    let browser = Browser::new(&app.address).timeout(REQUEST_TIMEOUT);
    let response = browser.get("/").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let id = id_of(&response);
    // The error became its response at the edge: it has everything every
    // response has, and its page is in the layout with the id.
    assert!(response.headers().get("content-security-policy").is_some());
    let page = response.text().await.expect("a body");
    assert!(page.contains("<html lang=\"en\">"), "{page}");
    assert!(
        page.contains(&format!("data-request-id=\"{id}\"")),
        "{page}"
    );
    drop(held);
}
