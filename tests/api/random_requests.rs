//! Random requests thrown at one running app (a proptest property): random
//! methods, paths, headers, session cookies and form bodies, half of them
//! shaped like a browser's form submission with a live session and its CSRF
//! token, so that the handlers behind the CSRF check see random fields too.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicU32, Ordering},
    },
    time::Instant,
};

use proptest::{prelude::*, sample::select, test_runner::Config as ProptestConfig};
use reqwest::StatusCode;

use crate::support::{
    POST_ROUTES, REQUEST_TIMEOUT, TestApp, csrf_token,
    raw_http::{request_bytes, send_raw, socket_address},
    spawn_app_without_address_limit,
};

/// The user the property signs in as.
const USERNAME: &str = "fuzzer";
const PASSWORD: &str = "fuzzing is good for you";

/// Every path the app routes (and a few it does not).
const ROUTES: &[&str] = &[
    "/",
    "/visits",
    "/healthz",
    "/login",
    "/register",
    "/logout",
    "/cart",
    "/cart/add",
    "/cart/update",
    "/cart/remove",
    "/cart/clear",
    "/account",
    "/account/password",
    "/account/sessions/revoke",
    "/account/devices/forget",
    "/session",
    "/static/style.css",
    "/nope",
];

/// Every form field name the app reads.
const FIELDS: &[&str] = &[
    "csrf_token",
    "username",
    "password",
    "password_confirm",
    "product_id",
    "quantity",
    "next",
    "session",
    "all_others",
    "current_password",
    "new_password",
    "new_password_confirm",
];

const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

/// Which session cookie a random request carries.
#[derive(Debug, Clone)]
enum CookieHeader {
    None,
    /// A `Cookie` header of random text.
    Garbage(String),
    /// `session=` with random base64-ish junk.
    SessionJunk(String),
    /// A fresh anonymous session (with a CSRF token and a cart).
    Anonymous,
    /// The signed-in session of [`USERNAME`].
    SignedIn,
    /// A junk `session` cookie and then the signed-in one.
    Twice(String),
}

/// A form value: random text, or this session's real CSRF token.
#[derive(Debug, Clone)]
enum Value {
    Text(String),
    Csrf,
}

#[derive(Debug, Clone)]
enum Body {
    Empty,
    Form {
        pairs: Vec<(String, Value)>,
        with_csrf: bool,
        encoded: bool,
    },
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone)]
struct Case {
    method: String,
    target: Vec<u8>,
    cookie: CookieHeader,
    content_type: Option<String>,
    user_agent: Option<Vec<u8>>,
    headers: Vec<(String, String)>,
    body: Body,
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        // POST most: the POST routes are where forms are read.
        8 => Just("POST".to_owned()),
        3 => Just("GET".to_owned()),
        3 => select(METHODS).prop_map(String::from),
        1 => "[A-Z]{1,12}",
        1 => "[!#$%&'*+.^_`|~0-9a-z-]{1,10}",
    ]
}

fn next_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("https://evil.example/".to_owned()),
        Just("//evil.example".to_owned()),
        Just("/\\evil.example".to_owned()),
        Just("/%0d%0aSet-Cookie:%20x=1".to_owned()),
        Just("javascript:alert(1)".to_owned()),
        Just("/account".to_owned()),
        "/[!-~]{0,30}",
        "\\PC{0,20}",
    ]
}

/// A query string: encoded pairs of real and random names, or raw junk.
/// `text` with every byte but the unreserved ones percent-encoded.
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A query string: encoded pairs of real and random names, or junk (mostly
/// characters a URL may hold; the rest stops at actix-web's request parser).
fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::collection::vec((field_name(), text_value()), 0..4)
            .prop_map(|pairs| serde_urlencoded::to_string(pairs).unwrap_or_default()),
        2 => "[A-Za-z0-9%=&;._~:/?@!$'()*+,-]{0,40}",
        1 => "[!-~]{0,40}",
        2 => next_value().prop_map(|next| format!("next={}", percent_encoded(&next))),
        1 => next_value().prop_map(|next| format!("next={next}")),
    ]
}

fn target() -> impl Strategy<Value = Vec<u8>> {
    let segment = prop_oneof![
        3 => "[a-zA-Z0-9._~-]{0,12}",
        2 => "(%[0-9A-Fa-f]{2}){1,6}",
        1 => "%[g-zG-Z]{0,2}",
        1 => "\\.{1,3}",
        3 => "\\PC{1,6}".prop_map(|s| percent_encoded(&s)),
        1 => "\\PC{1,6}",
    ];
    prop_oneof![
        8 => select(POST_ROUTES).prop_map(|r| r.as_bytes().to_vec()),
        3 => select(ROUTES).prop_map(|r| r.as_bytes().to_vec()),
        3 => (select(ROUTES), query()).prop_map(|(r, q)| format!("{r}?{q}").into_bytes()),
        2 => proptest::collection::vec(segment, 1..5)
            .prop_map(|segments| format!("/{}", segments.join("/")).into_bytes()),
        1 => (select(ROUTES), 1000usize..12_000)
            .prop_map(|(r, n)| format!("{r}/{}", "a".repeat(n)).into_bytes()),
        1 => (select(ROUTES), 1000usize..12_000)
            .prop_map(|(r, n)| format!("{r}?next=/{}", "%41".repeat(n / 3)).into_bytes()),
        1 => next_value().prop_map(|next| format!("/login?next={next}").into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 1..40).prop_map(|bytes| {
            let mut target = b"/".to_vec();
            target.extend(bytes.into_iter().filter(|b| !b" \r\n".contains(b)));
            target
        }),
        1 => select(&["*", "http://127.0.0.1/cart", "cart", "/%", "//", "/../../etc/passwd"][..])
            .prop_map(|t| t.as_bytes().to_vec()),
    ]
}

fn cookie() -> impl Strategy<Value = CookieHeader> {
    prop_oneof![
        2 => Just(CookieHeader::None),
        1 => "[ -~]{0,200}".prop_map(CookieHeader::Garbage),
        2 => "[A-Za-z0-9+/=_-]{0,300}".prop_map(CookieHeader::SessionJunk),
        3 => Just(CookieHeader::Anonymous),
        4 => Just(CookieHeader::SignedIn),
        1 => "[A-Za-z0-9+/=_-]{0,100}".prop_map(CookieHeader::Twice),
    ]
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        2 => Just(None),
        6 => Just(Some("application/x-www-form-urlencoded".to_owned())),
        1 => Just(Some("application/x-www-form-urlencoded; charset=latin1".to_owned())),
        1 => Just(Some("multipart/form-data; boundary=xyz".to_owned())),
        1 => Just(Some("application/json".to_owned())),
        1 => Just(Some("text/plain".to_owned())),
        1 => "[ -~]{0,60}".prop_map(Some),
    ]
}

fn user_agent() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        2 => Just(None),
        1 => "[ -~]{0,2000}".prop_map(|s| Some(s.into_bytes())),
        1 => proptest::collection::vec(128u8..=255, 1..50).prop_map(Some),
        1 => "\\PC{0,40}".prop_map(|s| Some(s.into_bytes())),
    ]
}

fn extra_headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let special = select(
        &[
            ("Transfer-Encoding", "chunked"),
            ("Expect", "100-continue"),
            ("Content-Encoding", "gzip"),
            ("Accept-Encoding", "gzip, br, *"),
            ("X-Forwarded-For", "203.0.113.9"),
            ("Origin", "https://evil.example"),
            ("Range", "bytes=0-1,5-"),
            ("If-None-Match", "*"),
        ][..],
    )
    .prop_map(|(n, v)| (n.to_owned(), v.to_owned()));
    let random = ("[A-Za-z][A-Za-z0-9-]{0,20}", "[ -~]{0,80}");
    proptest::collection::vec(prop_oneof![1 => special, 3 => random], 0..3)
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => select(FIELDS).prop_map(String::from),
        1 => "[a-z_\\[\\]]{1,12}",
        1 => "\\PC{0,8}",
    ]
}

/// A random field value. Never [`USERNAME`]: ten failed logins would lock the
/// property's own account out (`429`), and it signs in again after a logout.
fn text_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        select(
            &[
                "0", "1", "-1", "2", "12", "50", "99", "100", "1e9", "NaN", "0x10", " 1", "1 ",
                "1.5", "+1", "demo", "on", "true",
            ][..]
        )
        .prop_map(String::from),
        "[0-9]{1,3}",
        "-?[0-9]{10,40}",
        "\\PC{0,40}",
        "[ -~]{0,40}",
        // Control characters, NUL included (PostgreSQL refuses NUL in text).
        "[\\x00-\\x1f\\x7f]{1,4}",
        (0usize..3000).prop_map(|n| "é".repeat(n)),
        next_value(),
    ]
}

fn form_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        8 => text_value().prop_map(Value::Text),
        1 => Just(Value::Csrf),
    ]
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        1 => Just(Body::Empty),
        6 => (
            proptest::collection::vec((field_name(), form_value()), 0..8),
            proptest::bool::weighted(0.8),
            any::<bool>(),
        )
            .prop_map(|(pairs, with_csrf, encoded)| Body::Form { pairs, with_csrf, encoded }),
        1 => proptest::collection::vec(any::<u8>(), 0..512).prop_map(Body::Bytes),
        1 => (17_000usize..40_000).prop_map(|n| Body::Bytes(vec![b'x'; n])),
    ]
}

/// Half the cases are anything at all; the other half look like a browser's
/// form submission (a POST route, a live session, mostly its CSRF token), so
/// that the handlers behind the CSRF check see random fields too.
fn case() -> impl Strategy<Value = Case> {
    prop_oneof![anything(), form_submission()]
}

fn form_submission() -> impl Strategy<Value = Case> {
    let target = prop_oneof![
        4 => select(POST_ROUTES).prop_map(|r| r.as_bytes().to_vec()),
        1 => (select(POST_ROUTES), query()).prop_map(|(r, q)| format!("{r}?{q}").into_bytes()),
    ];
    let cookie = prop_oneof![
        2 => Just(CookieHeader::Anonymous),
        3 => Just(CookieHeader::SignedIn),
        1 => "[A-Za-z0-9+/=_-]{0,100}".prop_map(CookieHeader::Twice),
    ];
    let content_type = prop_oneof![
        6 => Just(Some("application/x-www-form-urlencoded".to_owned())),
        1 => content_type(),
    ];
    let body = (
        proptest::collection::vec((field_name(), form_value()), 0..8),
        proptest::bool::weighted(0.9),
        proptest::bool::weighted(0.8),
    )
        .prop_map(|(pairs, with_csrf, encoded)| Body::Form {
            pairs,
            with_csrf,
            encoded,
        });
    (target, cookie, content_type, user_agent(), body).prop_map(
        |(target, cookie, content_type, user_agent, body)| Case {
            method: "POST".to_owned(),
            target,
            cookie,
            content_type,
            user_agent,
            headers: Vec::new(),
            body,
        },
    )
}

fn anything() -> impl Strategy<Value = Case> {
    (
        method(),
        target(),
        cookie(),
        content_type(),
        user_agent(),
        extra_headers(),
        body(),
    )
        .prop_map(
            |(method, target, cookie, content_type, user_agent, headers, body)| Case {
                method,
                target,
                cookie,
                content_type,
                user_agent,
                headers,
                body,
            },
        )
}

/// The one app all cases of the property talk to, and the runtime it runs on.
struct Harness {
    runtime: tokio::runtime::Runtime,
    app: TestApp,
    socket: SocketAddr,
    /// The signed-in session: cookie value and CSRF token.
    signed_in: Mutex<Option<(String, String)>>,
    /// Statuses seen, for the figures.
    statuses: Mutex<BTreeMap<u16, u32>>,
    cases: AtomicU32,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let app = runtime.block_on(async {
            let app = spawn_app_without_address_limit().await;
            let response = app.register(USERNAME, PASSWORD).await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
            app
        });
        let socket = socket_address(&app);
        Harness {
            runtime,
            app,
            socket,
            signed_in: Mutex::new(None),
            statuses: Mutex::new(BTreeMap::new()),
            cases: AtomicU32::new(0),
        }
    })
}

/// A browser without redirects or cookie jar, with the timeout.
fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("a client")
}

impl Harness {
    /// A fresh anonymous session: its cookie value and CSRF token. (The
    /// counter creates it: a form alone stores no session, see csrf.rs.)
    async fn anonymous_session(&self) -> (String, String) {
        let browser = self.app.new_browser();
        assert_eq!(browser.get("/").await.status(), StatusCode::OK);
        let page = browser.get("/cart").await;
        assert_eq!(page.status(), StatusCode::OK);
        let token = csrf_token(&page.text().await.expect("a body"));
        (browser.session_cookie().expect("a session cookie"), token)
    }

    /// The signed-in session, signing in again when a case ended it.
    async fn signed_in_session(&self) -> (String, String) {
        let current = self.signed_in.lock().expect("not poisoned").clone();
        if let Some((cookie, _)) = current {
            let response = plain_client()
                .get(format!("{}/account", self.app.address))
                .header("cookie", format!("session={cookie}"))
                .send()
                .await
                .expect("an answer");
            if response.status() == StatusCode::OK {
                let token = csrf_token(&response.text().await.expect("a body"));
                return (cookie, token);
            }
        }
        let browser = self.app.new_browser();
        let response = browser.login(USERNAME, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "signed in again");
        let page = browser.get("/account").await;
        let token = csrf_token(&page.text().await.expect("a body"));
        let cookie = browser.session_cookie().expect("a session cookie");
        *self.signed_in.lock().expect("not poisoned") = Some((cookie.clone(), token.clone()));
        (cookie, token)
    }

    /// Sends one random request; `Err` says what went wrong.
    async fn run(&self, case: &Case) -> Result<u16, String> {
        let (cookie, token) = match &case.cookie {
            CookieHeader::None => (None, None),
            CookieHeader::Garbage(text) => (Some(text.clone()), None),
            CookieHeader::SessionJunk(junk) => (Some(format!("session={junk}")), None),
            CookieHeader::Anonymous => {
                let (cookie, token) = self.anonymous_session().await;
                (Some(format!("session={cookie}")), Some(token))
            }
            CookieHeader::SignedIn => {
                let (cookie, token) = self.signed_in_session().await;
                (Some(format!("session={cookie}")), Some(token))
            }
            CookieHeader::Twice(junk) => {
                let (cookie, token) = self.signed_in_session().await;
                (
                    Some(format!("session={junk}; session={cookie}")),
                    Some(token),
                )
            }
        };
        let token = token.unwrap_or_else(|| "not-a-token".to_owned());
        let body = match &case.body {
            Body::Empty => Vec::new(),
            Body::Bytes(bytes) => bytes.clone(),
            Body::Form {
                pairs,
                with_csrf,
                encoded,
            } => {
                let mut pairs: Vec<(String, String)> = pairs
                    .iter()
                    .map(|(name, value)| {
                        let value = match value {
                            Value::Text(text) => text.clone(),
                            Value::Csrf => token.clone(),
                        };
                        (name.clone(), value)
                    })
                    .collect();
                if *with_csrf {
                    pairs.insert(0, ("csrf_token".to_owned(), token.clone()));
                }
                if *encoded {
                    serde_urlencoded::to_string(&pairs)
                        .unwrap_or_default()
                        .into_bytes()
                } else {
                    pairs
                        .iter()
                        .map(|(name, value)| format!("{name}={value}"))
                        .collect::<Vec<_>>()
                        .join("&")
                        .into_bytes()
                }
            }
        };
        let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
        if let Some(cookie) = cookie {
            headers.push(("Cookie".into(), cookie.into_bytes()));
        }
        if let Some(content_type) = &case.content_type {
            headers.push(("Content-Type".into(), content_type.clone().into_bytes()));
        }
        if let Some(user_agent) = &case.user_agent {
            headers.push(("User-Agent".into(), user_agent.clone()));
        }
        for (name, value) in &case.headers {
            headers.push((name.clone(), value.clone().into_bytes()));
        }
        let request = request_bytes(case.method.as_bytes(), &case.target, &headers, &body);
        let status = send_raw(self.socket, request).await?;
        *self
            .statuses
            .lock()
            .expect("not poisoned")
            .entry(status)
            .or_default() += 1;
        if status >= 500 {
            return Err(format!("answered {status}"));
        }
        // Still up and still healthy.
        let health = plain_client()
            .get(format!("{}/healthz", self.app.address))
            .send()
            .await
            .map_err(|e| format!("/healthz after the case: {e}"))?;
        if health.status() != StatusCode::OK {
            return Err(format!("/healthz after the case: {}", health.status()));
        }
        Ok(status)
    }
}

/// The number of cases: 256 (about 3 s), or `PROPTEST_CASES` for a longer run.
fn case_count() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: case_count(),
        failure_persistence: None,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    })]

    /// Random methods, paths, headers, cookies and form bodies at one app:
    /// never a 5xx, never a hang, and `/healthz` still answers 200 after each.
    #[test]
    fn random_requests_never_get_a_5xx_and_the_app_stays_up(case in case()) {
        let harness = harness();
        let started = Instant::now();
        let outcome = harness.runtime.block_on(harness.run(&case));
        prop_assert!(outcome.is_ok(), "{}: {case:?}", outcome.unwrap_err());
        prop_assert!(started.elapsed() < REQUEST_TIMEOUT * 2);
        let done = harness.cases.fetch_add(1, Ordering::SeqCst) + 1;
        if done == case_count() {
            eprintln!(
                "fuzz: {done} random requests (+ as many /healthz checks), statuses {:?}, 0 x 5xx",
                harness.statuses.lock().expect("not poisoned")
            );
        }
    }
}
