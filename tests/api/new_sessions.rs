//! No row until the session holds something, and a limit on new sessions per
//! client address: a client cannot fill the `sessions` table.
//!
//! A page with a form keeps its token in the pre-session cookie (`csrf`)
//! while the session holds nothing; the first visit to the counter still
//! stores its count at once.

use std::{net::IpAddr, sync::Arc, time::Duration};

use reqwest::{Response, StatusCode};
use session_demo::{auth::throttle::AddressLimit, config::Environment};

use crate::support::{
    Browser, TestApp, assert_redirect_to, cart_lines, csrf_token, spawn_app, spawn_app_with,
};

const PASSWORD: &str = "correct horse battery";

async fn session_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&app.pool)
        .await
        .expect("count")
}

/// The `Set-Cookie` headers of `response` for the cookie called `name`.
fn set_cookies(response: &Response, name: &str) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter(|value| value.starts_with(&format!("{name}=")))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn looking_at_a_form_stores_no_session_and_its_token_still_works() {
    let app = spawn_app().await;
    for path in [
        "/login",
        "/register",
        "/cart",
        "/session",
        "/visits",
        "/account",
    ] {
        let browser = app.new_browser();
        let response = app.get_with(&browser, path).await;
        assert!(response.status().is_success() || response.status().is_redirection());
        assert!(set_cookies(&response, "session").is_empty(), "{path}");
    }
    assert_eq!(session_rows(&app).await, 0, "looking stores nothing");

    // The form's token lives in its own cookie meanwhile.
    let response = app.get("/login").await;
    let cookie = set_cookies(&response, "csrf")
        .pop()
        .expect("a pre-session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let token = csrf_token(&response.text().await.expect("a body"));
    assert!(!cookie.contains(&token), "the value is sealed: {cookie}");
    // The same token on every form until the session holds something.
    assert_eq!(app.csrf_from("/register").await, token);
    assert_eq!(app.csrf_from("/cart").await, token);
    assert_eq!(session_rows(&app).await, 0);

    // A wrong token, or the right one without its cookie, is refused.
    let form = [
        ("username", "nina"),
        ("password", PASSWORD),
        ("password_confirm", PASSWORD),
    ];
    for (browser, token) in [
        (&app.browser, "0".repeat(64)),
        (&app.new_browser(), token.clone()),
    ] {
        let mut fields = form.to_vec();
        fields.push(("csrf_token", &token));
        let response = app.post_with(browser, "/register", &fields).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(session_rows(&app).await, 0, "a refused POST stores nothing");

    // Signing up with it: one row, the token moves into the session, and the
    // pre-session cookie goes.
    let mut fields = form.to_vec();
    fields.push(("csrf_token", &token));
    let response = app.post("/register", &fields).await;
    assert_redirect_to(&response, "/account");
    let removal = set_cookies(&response, "csrf").pop().expect("a removal");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    assert_eq!(session_rows(&app).await, 1);
    assert!(app.session_cookie().is_some());
    assert_ne!(
        app.csrf_from("/account").await,
        token,
        "a new token at sign-in"
    );
}

#[tokio::test]
async fn a_first_visit_still_counts_and_a_cart_starts_with_its_first_line() {
    let app = spawn_app().await;
    let page = app.get_html("/").await;
    assert!(page.contains("Welcome to this page for the first time!"));
    assert_eq!(session_rows(&app).await, 1, "the count is worth a row");
    assert_eq!(app.visits().await, 1);

    // A shopper: the cart page stores nothing; the first line does.
    let shopper = app.new_browser();
    let token = csrf_token(&shopper.page("/cart").await);
    assert_eq!(session_rows(&app).await, 1);
    let response = shopper
        .post(
            "/cart/add",
            &[
                ("csrf_token", &token),
                ("product_id", "3"),
                ("quantity", "2"),
            ],
        )
        .await;
    assert_redirect_to(&response, "/cart");
    assert_eq!(session_rows(&app).await, 2);
    let page = shopper.page("/cart").await;
    assert_eq!(cart_lines(&page).get(&3), Some(&2));
    assert_eq!(
        csrf_token(&page),
        token,
        "the session took over the form token"
    );
    // Changes that only shrink a cart start no session.
    let browser = app.new_browser();
    let token = csrf_token(&browser.page("/cart").await);
    for path in ["/cart/remove", "/cart/clear"] {
        let response = browser
            .post(path, &[("csrf_token", &token), ("product_id", "3")])
            .await;
        assert_redirect_to(&response, "/cart");
    }
    assert_eq!(session_rows(&app).await, 2);
}

#[tokio::test]
async fn in_production_the_pre_session_cookie_is_host_prefixed_and_secure() {
    let app = spawn_app_with(|s| {
        s.environment = Environment::Production;
        s.cookie_secure = true;
    })
    .await;
    let response = app.get("/login").await;
    let cookie = set_cookies(&response, "__Host-csrf")
        .pop()
        .expect("a pre-session cookie");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.to_lowercase().contains("domain="), "{cookie}");
}

/// A browser connecting from `ip` (127.0.0.0/8 all reaches the app).
fn browser_from(app: &TestApp, ip: [u8; 4]) -> Browser {
    Browser::from_ip(&app.address, IpAddr::from(ip), Arc::default())
}

#[tokio::test]
async fn a_flood_from_one_address_stores_at_most_its_allowance_and_spares_the_others() {
    const BURST: u32 = 5;
    let app = spawn_app_with(|s| {
        s.new_session_limit = AddressLimit {
            burst: BURST,
            refill_every: Duration::from_secs(600),
        }
    })
    .await;

    // Fifteen first visits from one address, each without a cookie.
    let mut statuses = Vec::new();
    for _ in 0..3 * BURST {
        let response = browser_from(&app, [127, 0, 0, 2]).get("/").await;
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry_after: u64 = response.headers()["retry-after"]
                .to_str()
                .expect("text")
                .parse()
                .expect("seconds");
            assert!((1..=600).contains(&retry_after), "{retry_after}");
            assert!(response.headers().get("set-cookie").is_none());
            let page = response.text().await.expect("a body");
            assert!(page.contains("class=\"error"), "the error page: {page}");
            assert!(page.contains("Too many new sessions"), "{page}");
        }
    }
    let served = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(served, BURST as usize, "{statuses:?}");
    assert_eq!(
        session_rows(&app).await,
        i64::from(BURST),
        "no row past the limit"
    );

    // A first cart line from that address is a new session too.
    let shopper = browser_from(&app, [127, 0, 0, 2]);
    let token = csrf_token(&shopper.page("/cart").await);
    let response = shopper
        .post("/cart/add", &[("csrf_token", &token), ("product_id", "1")])
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(session_rows(&app).await, i64::from(BURST));

    // Browsers of that address that have a session keep using it...
    let jar = Arc::default();
    let regular = Browser::from_ip(&app.address, IpAddr::from([127, 0, 0, 4]), jar);
    regular.get("/").await;
    let regular = Browser::from_ip(&app.address, IpAddr::from([127, 0, 0, 2]), regular.cookies);
    let page = regular.page("/").await;
    assert!(
        page.contains("You have visited this page 2 times."),
        "{page}"
    );
    // ...and other addresses are not affected.
    let other = browser_from(&app, [127, 0, 0, 3]);
    assert_eq!(other.get("/").await.status(), StatusCode::OK);
    assert_eq!(session_rows(&app).await, i64::from(BURST) + 2);
}
