//! Browsers: the one way a test acts as a browser.
//!
//! A [`Browser`] keeps its cookies, never follows a redirect (a test checks
//! each `303` itself), and gives up on a request after a timeout, so a hang is
//! a failure rather than a stuck test. It is owned and `Clone`, so it can move
//! into a spawned task, and it needs only an address: it talks to a
//! [`TestApp`] and to the real binary alike.

use std::{net::IpAddr, sync::Arc, time::Duration};

use reqwest::{Response, StatusCode, cookie::Jar, redirect::Policy};

use super::{
    app::TestApp,
    html::{csrf_token, location},
};

/// A shorter limit, for tests where a hang is the failure they look for.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a browser waits for an answer before it gives up.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A browser: its own cookie jar, talking to one address.
#[derive(Clone)]
pub struct Browser {
    /// Its HTTP client (for requests the methods below do not cover).
    pub client: reqwest::Client,
    /// Its cookie jar, to inspect or forge cookies.
    pub cookies: Arc<Jar>,
    /// `http://127.0.0.1:PORT`: where its requests go.
    pub address: String,
    cookie_name: String,
    local_address: Option<IpAddr>,
}

impl Browser {
    /// A browser with an empty cookie jar, talking to `address`, whose session
    /// cookie is called `session` (the app's default).
    pub fn new(address: &str) -> Self {
        Self::build(address, "session", Arc::default(), None, DEFAULT_TIMEOUT)
    }

    /// A browser with an empty cookie jar, talking to `address`, an app whose
    /// session cookie is called `cookie_name`.
    pub fn with_cookie_name(address: &str, cookie_name: &str) -> Self {
        Self::build(address, cookie_name, Arc::default(), None, DEFAULT_TIMEOUT)
    }

    /// A browser whose connections leave from `local_address`: the app sees a
    /// client of that address. Every address of 127.0.0.0/8 reaches the app
    /// over loopback, so one test can be many clients (the per-address limit
    /// counts each apart). Browsers given the same `cookies` share them.
    pub fn from_ip(address: &str, local_address: IpAddr, cookies: Arc<Jar>) -> Self {
        Self::build(
            address,
            "session",
            cookies,
            Some(local_address),
            DEFAULT_TIMEOUT,
        )
    }

    /// The same browser (same cookies), giving up on a request after `limit`.
    pub fn timeout(self, limit: Duration) -> Self {
        Self::build(
            &self.address,
            &self.cookie_name,
            self.cookies,
            self.local_address,
            limit,
        )
    }

    /// The same browser (same cookies, same client), talking to `address`:
    /// a restarted app on another port still gets its cookies.
    pub fn at(&self, address: &str) -> Self {
        Self {
            address: address.to_owned(),
            ..self.clone()
        }
    }

    fn build(
        address: &str,
        cookie_name: &str,
        cookies: Arc<Jar>,
        local_address: Option<IpAddr>,
        timeout: Duration,
    ) -> Self {
        let client = reqwest::Client::builder()
            .cookie_provider(cookies.clone())
            .redirect(Policy::none())
            .local_address(local_address)
            .timeout(timeout)
            .build()
            .expect("a client");
        Self {
            client,
            cookies,
            address: address.to_owned(),
            cookie_name: cookie_name.to_owned(),
            local_address,
        }
    }

    /// Puts `value` in the jar as this browser's session cookie.
    pub fn set_session_cookie(&self, value: &str) {
        let url = self.address.parse().expect("a URL");
        self.cookies
            .add_cookie_str(&format!("{}={value}; Path=/", self.cookie_name), &url);
    }

    /// The raw value of its session cookie, if it has one.
    pub fn session_cookie(&self) -> Option<String> {
        cookie_in(&self.cookies, &self.address, &self.cookie_name)
    }

    /// `GET path`, handing back a transport error (a refused connection, a
    /// timeout) instead of failing on it.
    pub async fn try_get(&self, path: &str) -> reqwest::Result<Response> {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Response {
        self.try_get(path).await.expect("an answer")
    }

    /// `GET path`, asserting a 200, and its body.
    pub async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.expect("a body")
    }

    /// `POST path` with a form body.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(format!("{}{path}", self.address))
            .form(form)
            .send()
            .await
            .expect("an answer")
    }

    /// POSTs a form with the CSRF token of `page`, asserting a `303` to `to`.
    pub async fn submit(&self, page: &str, path: &str, fields: &[(&str, &str)], to: &str) {
        let token = csrf_token(&self.page(page).await);
        let mut form = fields.to_vec();
        form.push(("csrf_token", &token));
        let response = self.post(path, &form).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "POST {path}");
        assert_eq!(location(&response), to, "POST {path}");
    }

    /// Logs in through the form.
    pub async fn login(&self, username: &str, password: &str) -> Response {
        let token = csrf_token(&self.page("/login").await);
        self.post(
            "/login",
            &[
                ("csrf_token", &token),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// The visit count `GET /visits` reports for this browser.
    pub async fn visits(&self) -> u64 {
        let response = self.get("/visits").await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: serde_json::Value = response.json().await.expect("JSON");
        body["visits"].as_u64().expect("a number")
    }
}

/// The value of cookie `name` that `jar` would send to `address`, if any.
pub fn cookie_in(jar: &Jar, address: &str, name: &str) -> Option<String> {
    use reqwest::cookie::CookieStore;
    let header = jar.cookies(&address.parse().expect("a URL"))?;
    let prefix = format!("{name}=");
    header
        .to_str()
        .ok()?
        .split("; ")
        .find_map(|pair| pair.strip_prefix(&prefix).map(str::to_owned))
}

impl TestApp {
    /// Another browser of this app: its own, empty, cookie jar.
    pub fn new_browser(&self) -> Browser {
        Browser::with_cookie_name(&self.address, self.settings.cookie_name())
    }

    /// A browser of this app that sends exactly `value` as its session cookie.
    pub fn browser_with_cookie(&self, value: &str) -> Browser {
        let browser = self.new_browser();
        browser.set_session_cookie(value);
        browser
    }
}
