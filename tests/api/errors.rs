//! Unknown pages and wrong methods get pages in the layout, never a 500.

use reqwest::StatusCode;

use crate::support::spawn_app;

#[tokio::test]
async fn an_unknown_route_is_a_404_page_in_the_layout() {
    let app = spawn_app().await;
    for path in ["/nope", "/static/nope.css", "/visits/extra", "/%ff%fe"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body = response.text().await.expect("body");
        assert!(body.contains("<html lang=\"en\">"), "{path}: {body}");
        assert!(body.contains("Page not found"), "{path}");
        assert!(body.contains("class=\"error"), "{path}");
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_405_page_in_the_layout() {
    let app = spawn_app().await;
    for path in ["/", "/visits", "/healthz"] {
        let response = app.post(path, &[]).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        let body = response.text().await.expect("body");
        assert!(body.contains("Method not allowed"), "{path}");
    }
}

#[tokio::test]
async fn healthz_answers_ok_without_touching_sessions() {
    let app = spawn_app().await;
    app.get("/").await; // now the browser has a cookie
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("set-cookie").is_none());
    assert_eq!(response.text().await.expect("body"), "ok");
}

#[tokio::test]
async fn static_files_are_served_with_security_headers() {
    let app = spawn_app().await;
    let response = app.get("/static/style.css").await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert!(
        headers["content-type"]
            .to_str()
            .expect("text")
            .starts_with("text/css")
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers.get("content-security-policy").is_some());
    assert!(headers.get("set-cookie").is_none());
}
