//! Security headers on every kind of response; no-store on private pages; the
//! production cookie.

use reqwest::{Response, StatusCode};

use crate::support::{spawn_app, spawn_app_with};

fn assert_security_headers(response: &Response, what: &str) {
    let headers = response.headers();
    let csp = headers
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: a CSP"))
        .to_str()
        .expect("text");
    assert!(csp.contains("default-src 'self'"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: no inline scripts");
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(headers["x-frame-options"], "DENY", "{what}");
    assert_eq!(headers["referrer-policy"], "same-origin", "{what}");
}

#[tokio::test]
async fn every_kind_of_response_carries_the_security_headers() {
    let app = spawn_app().await;
    app.register("olga", "correct horse battery").await;
    let token = app.csrf_from("/cart").await;

    let mut responses = Vec::new();
    for path in [
        "/",
        "/visits",
        "/cart",
        "/session",
        "/account",
        "/login",
        "/static/style.css",
        "/healthz",
        "/missing",
        "/static/missing.css",
    ] {
        responses.push((path.to_string(), app.get(path).await));
    }
    responses.push((
        "redirect".into(),
        app.post("/cart/add", &[("csrf_token", &token), ("product_id", "1")])
            .await,
    ));
    responses.push((
        "403".into(),
        app.post("/cart/add", &[("product_id", "1")]).await,
    ));
    responses.push(("405".into(), app.post("/visits", &[]).await));
    responses.push((
        "422".into(),
        app.post("/cart/add", &[("csrf_token", &token), ("product_id", "x")])
            .await,
    ));
    for (what, response) in &responses {
        assert_security_headers(response, what);
    }
    assert_eq!(responses[10].1.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn pages_with_session_data_are_never_cached() {
    let app = spawn_app().await;
    app.register("pete", "correct horse battery").await;
    for path in [
        "/",
        "/cart",
        "/session",
        "/account",
        "/account/password",
        "/login",
        "/register",
        "/visits",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
    }
    let css = app.get("/static/style.css").await;
    assert_ne!(
        css.headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap_or("")),
        Some("no-store"),
        "static files may be cached"
    );
}

#[tokio::test]
async fn production_names_the_cookie_with_the_host_prefix_and_sends_hsts() {
    let app = spawn_app_with(|s| {
        s.environment = session_demo::config::Environment::Production;
        s.cookie_secure = true;
    })
    .await;
    let response = app.get("/").await;
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("text")
        .to_owned();
    assert!(cookie.starts_with("__Host-session="), "{cookie}");
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.to_lowercase().contains("domain="), "{cookie}");
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_some()
    );
    // No demo account in production.
    let page = app.get_html("/login").await;
    assert!(!page.contains("Demo account"));
    let demo: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE username = 'demo'")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(demo, 0);
}

#[tokio::test]
async fn development_sends_no_hsts() {
    let app = spawn_app().await;
    assert!(
        app.get("/")
            .await
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
}

#[tokio::test]
async fn static_files_are_cached_briefly_then_revalidated_and_pages_never() {
    let app = spawn_app().await;
    let css = app.get("/static/style.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(css.headers()["cache-control"], "public, max-age=300");
    let etag = css.headers()["etag"].to_str().expect("text").to_owned();
    let modified = css.headers()["last-modified"]
        .to_str()
        .expect("text")
        .to_owned();

    // Revalidation: unchanged, so a 304 without a body, still cacheable.
    for (header, value) in [("if-none-match", &etag), ("if-modified-since", &modified)] {
        let response = app
            .browser
            .client
            .get(format!("{}/static/style.css", app.address))
            .header(header, value)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{header}");
        assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    }
    // A missing file, a wrong method, a page: never kept.
    for response in [
        app.get("/static/missing.css").await,
        app.post("/static/style.css", &[]).await,
        app.get("/").await,
    ] {
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
}
