//! The real app on port 0, on its own fresh database, and its first browser.

use actix_session_postgres::WorkerPools;
use reqwest::{Response, StatusCode};
use session_demo::{auth::throttle::AddressLimit, config::Settings, startup::Application};
use sqlx::PgPool;

use super::{
    browser::Browser,
    database::{fresh_database_url, test_settings},
    html::csrf_token,
};

/// Every POST route.
pub const POST_ROUTES: &[&str] = &[
    "/login",
    "/register",
    "/logout",
    "/account/password",
    "/account/sessions/revoke",
    "/account/devices/forget",
    "/cart/add",
    "/cart/update",
    "/cart/remove",
    "/cart/clear",
];

/// A running app and its first browser.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    /// The app's own pool, for looking into the database.
    pub pool: PgPool,
    /// The session store's pools, one per worker (a test can hold their connections).
    pub session_pools: WorkerPools,
    /// The settings the app was built with.
    pub settings: Settings,
    /// `http://127.0.0.1:PORT/metrics` when the settings have `METRICS_ADDR`.
    pub metrics_url: Option<String>,
    /// The browser that [`TestApp::get`], [`TestApp::post`] and the other
    /// methods without `_with` use.
    pub browser: Browser,
    handle: actix_web::dev::ServerHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts the app on a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app on a fresh database, with settings adjusted by `adjust`.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings(&fresh_database_url().await);
    adjust(&mut settings);
    spawn_app_from(settings).await
}

/// Starts the app with the per-address limits (on login and registration,
/// and on new sessions) lifted: every request of a test comes from 127.0.0.1.
pub async fn spawn_app_without_address_limit() -> TestApp {
    spawn_app_with(|s| {
        let unlimited = AddressLimit {
            burst: 100_000,
            refill_every: std::time::Duration::from_millis(1),
        };
        s.address_limit = unlimited;
        s.new_session_limit = unlimited;
    })
    .await
}

/// An app without the per-address limit, signed in: the app, this session's
/// cookie and its CSRF token.
pub async fn spawn_signed_in_app() -> (TestApp, String, String) {
    let app = spawn_app_without_address_limit().await;
    let response = app.register("bad-input", "correct horse battery").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let token = app.csrf_from("/account").await;
    let cookie = app.session_cookie().expect("a cookie");
    (app, cookie, token)
}

/// Starts the app with exactly these settings (for a second instance or a restart).
pub async fn spawn_app_from(settings: Settings) -> TestApp {
    let app = Application::build(settings.clone())
        .await
        .expect("the application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_url = app
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}/metrics"));
    let pool = app.pool().clone();
    let session_pools = app.session_pools().clone();
    let handle = app.handle();
    let server = tokio::spawn(app.run_until_stopped());
    let browser = Browser::with_cookie_name(&address, settings.cookie_name());
    TestApp {
        address,
        pool,
        session_pools,
        settings,
        metrics_url,
        browser,
        handle,
        server,
    }
}

impl TestApp {
    /// `GET path` with this app's browser.
    pub async fn get(&self, path: &str) -> Response {
        self.get_with(&self.browser, path).await
    }

    /// `GET path` with another browser.
    pub async fn get_with(&self, browser: &Browser, path: &str) -> Response {
        browser
            .client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    /// The body of `GET path`, asserting a 200.
    pub async fn get_html(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.expect("a body")
    }

    /// `POST path` with a form body.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.post_with(&self.browser, path, form).await
    }

    /// `POST path` with a form body, from another browser.
    pub async fn post_with(
        &self,
        browser: &Browser,
        path: &str,
        form: &[(&str, &str)],
    ) -> Response {
        browser
            .client
            .post(format!("{}{path}", self.address))
            .form(form)
            .send()
            .await
            .expect("request sent")
    }

    /// The visit count `GET /visits` reports for this browser.
    pub async fn visits(&self) -> u64 {
        self.visits_with(&self.browser).await
    }

    /// The visit count `GET /visits` reports for `browser`.
    pub async fn visits_with(&self, browser: &Browser) -> u64 {
        let response = self.get_with(browser, "/visits").await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: serde_json::Value = response.json().await.expect("JSON");
        body["visits"].as_u64().expect("a number")
    }

    /// The raw value of this browser's session cookie, if it has one.
    pub fn session_cookie(&self) -> Option<String> {
        self.browser.session_cookie()
    }

    /// Stops the server (gracefully) and waits until it has stopped.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.server.await;
    }
}

impl TestApp {
    /// Fetches `page` and returns the CSRF token of its first form.
    pub async fn csrf_from(&self, page: &str) -> String {
        csrf_token(&self.get_html(page).await)
    }

    /// Fetches `page` with `browser`, asserting a 200, and returns the CSRF
    /// token of its first form.
    pub async fn csrf_from_with(&self, browser: &Browser, page: &str) -> String {
        let response = self.get_with(browser, page).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {page}");
        csrf_token(&response.text().await.expect("a body"))
    }

    /// Registers `username` with `password` through the form (and so signs in).
    pub async fn register(&self, username: &str, password: &str) -> Response {
        let token = self.csrf_from("/register").await;
        self.post(
            "/register",
            &[
                ("csrf_token", &token),
                ("username", username),
                ("password", password),
                ("password_confirm", password),
            ],
        )
        .await
    }

    /// Logs in through the form.
    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.login_with(&self.browser, username, password).await
    }

    /// Logs in through the form, with another browser.
    pub async fn login_with(&self, browser: &Browser, username: &str, password: &str) -> Response {
        let token = self.csrf_from_with(browser, "/login").await;
        self.post_with(
            browser,
            "/login",
            &[
                ("csrf_token", &token),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// Logs out with this session's CSRF token (any page with a form shows it).
    pub async fn logout(&self) -> Response {
        let token = self.csrf_from("/login").await;
        self.post("/logout", &[("csrf_token", &token)]).await
    }
}
