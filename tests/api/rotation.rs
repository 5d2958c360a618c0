//! Rotating SESSION_SECRET: old cookies are honoured and re-issued under the
//! new secret, until the old secret is retired.

use session_demo::config::Secret;

use crate::support::{TEST_SECRET, TestApp, spawn_app, spawn_app_with};

const NEW_SECRET: &str =
    "the-new-secret-the-new-secret-the-new-secret-the-new-secret-the-new-secret-0002";

/// The session cookie value a response sets, if any.
fn set_cookie_value(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("session="))
        .map(|v| v.split(';').next().unwrap_or_default().to_string())
}

/// An app on `old`'s database, with the new secret and `old`'s as previous.
async fn spawn_rotating(old: &TestApp) -> TestApp {
    spawn_app_with(|s| {
        s.database_url = old.settings.database_url.clone();
        s.session_secret = Some(Secret::new(NEW_SECRET));
        s.session_secret_previous = Some(Secret::new(TEST_SECRET));
    })
    .await
}

#[tokio::test]
async fn an_old_cookie_is_honoured_and_reissued_until_the_old_secret_is_retired() {
    let old = spawn_app().await;
    old.get("/").await;
    old.get("/").await;
    let old_cookie = old.session_cookie().expect("a cookie under the old secret");

    // The same database, now with a new secret and the old one as previous.
    let rotating = spawn_rotating(&old).await;
    let browser = rotating.browser_with_cookie(&old_cookie);
    // A read-only request: the same session, and a re-issued cookie.
    let response = rotating.get_with(&browser, "/visits").await;
    let reissued = set_cookie_value(&response).expect("re-issued on a read");
    assert_ne!(reissued, old_cookie);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("text")
        .to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"));
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["visits"], 2, "the same session");

    // A cookie already under the new secret is not re-issued on a read.
    let fresh = rotating.browser_with_cookie(&reissued);
    let response = rotating.get_with(&fresh, "/visits").await;
    assert!(set_cookie_value(&response).is_none());

    // The old secret retired: the old cookie is no session; the re-issued one is.
    let retired = spawn_app_with(|s| {
        s.database_url = old.settings.database_url.clone();
        s.session_secret = Some(Secret::new(NEW_SECRET));
    })
    .await;
    let stale = retired.browser_with_cookie(&old_cookie);
    assert_eq!(retired.visits_with(&stale).await, 0);
    let current = retired.browser_with_cookie(&reissued);
    assert_eq!(retired.visits_with(&current).await, 2);
    let page = retired
        .get_with(&current, "/")
        .await
        .text()
        .await
        .expect("body");
    assert!(page.contains("You have visited this page 3 times."));
}

#[tokio::test]
async fn a_changing_request_with_an_old_cookie_keeps_its_changes() {
    let old = spawn_app().await;
    old.get("/").await;
    let old_cookie = old.session_cookie().expect("a cookie");
    let rotating = spawn_rotating(&old).await;
    let browser = rotating.browser_with_cookie(&old_cookie);
    let response = rotating.get_with(&browser, "/").await;
    let cookies: Vec<_> = response.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies.len(), 1, "one cookie, not two: {cookies:?}");
    let page = response.text().await.expect("body");
    assert!(page.contains("You have visited this page 2 times."));
}
