//! Bad input: random requests thrown at one running app (a proptest property),
//! and plain tests for oversized heads and bodies, binary bodies, and every
//! handler that reads user input.
//!
//! The handlers that read user input, and the tests that give each bad input
//! (besides the property, which reaches all of them at random):
//! - `GET /login?next=...` (query `next`): `every_handler_that_reads_input_refuses_bad_input`
//! - `POST /login` (username, password, next): the same, plus the 2 MiB and binary bodies
//! - `POST /register` (username, password, password_confirm): the same
//! - `POST /logout` (csrf_token, no other field): the same
//! - `POST /account/password` (current_password, new_password, new_password_confirm): the same
//! - `POST /account/sessions/revoke` (session, all_others): the same
//! - `POST /cart/add`, `/cart/update`, `/cart/remove` (product_id, quantity): the same
//! - `POST /cart/clear` (csrf_token only): the same
//! - every route: the method, the path, the headers and the session cookie
//!   (the property; oversized heads in `request_heads_over_*`).

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use proptest::{prelude::*, sample::select, test_runner::Config as ProptestConfig};
use reqwest::StatusCode;
use session_demo::auth::throttle::AddressLimit;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{TestApp, csrf_token, spawn_app_with};

/// No request may take longer than this: a hang is a failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

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
    "/session",
    "/static/style.css",
    "/nope",
];

/// Every POST route.
const POST_ROUTES: &[&str] = &[
    "/login",
    "/register",
    "/logout",
    "/account/password",
    "/account/sessions/revoke",
    "/cart/add",
    "/cart/update",
    "/cart/remove",
    "/cart/clear",
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

/// The app with the per-address limit on login and registration lifted: every
/// request of these tests comes from 127.0.0.1.
async fn spawn_fuzzable_app() -> TestApp {
    spawn_app_with(|s| {
        s.address_limit = AddressLimit {
            burst: 100_000,
            refill_every: Duration::from_millis(1),
        };
    })
    .await
}

fn socket_address(app: &TestApp) -> SocketAddr {
    app.address
        .trim_start_matches("http://")
        .parse()
        .expect("an address")
}

/// The status of the final (non-1xx) response in `response`.
fn final_status(mut response: &[u8]) -> Option<u16> {
    loop {
        let status: u16 = std::str::from_utf8(response.get(9..12)?)
            .ok()?
            .parse()
            .ok()?;
        if !(100..200).contains(&status) {
            return Some(status);
        }
        let head_end = response.windows(4).position(|w| w == b"\r\n\r\n")?;
        response = &response[head_end + 4..];
    }
}

/// Sends raw bytes on a new connection (`Connection: close`), reads the
/// answer to its end and returns the final status code.
///
/// Writing and reading run at once, so a server that answers before it has
/// read the whole body (a 413) is heard. Fails on a timeout and when the
/// server closes the connection without an answer.
async fn send_raw(address: SocketAddr, request: Vec<u8>) -> Result<u16, String> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        if writer.write_all(&request).await.is_ok() {
            let _ = writer.shutdown().await;
        }
    });
    let mut response = Vec::new();
    let read = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let mut chunk = [0u8; 8192];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) => return Ok(()),
                Ok(n) => response.extend_from_slice(&chunk[..n]),
                Err(error) => return Err(error),
            }
        }
    })
    .await;
    writing.abort();
    let preview = || String::from_utf8_lossy(&response[..response.len().min(200)]).into_owned();
    match (read, final_status(&response)) {
        (_, Some(status)) => Ok(status),
        (Err(_), None) => Err(format!(
            "no answer within {REQUEST_TIMEOUT:?}: {}",
            preview()
        )),
        (Ok(Err(error)), None) => Err(format!("connection failed: {error}: {}", preview())),
        (Ok(Ok(())), None) => Err(format!("closed without an answer: {:?}", preview())),
    }
}

/// A request head: `method target HTTP/1.1`, Host, the headers, then Content-Length.
fn request_bytes(
    method: &[u8],
    target: &[u8],
    headers: &[(String, Vec<u8>)],
    body: &[u8],
) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(body.len() + 512);
    bytes.extend_from_slice(method);
    bytes.push(b' ');
    bytes.extend_from_slice(target);
    bytes.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    bytes.extend_from_slice(body);
    bytes
}

// ---------------------------------------------------------------------------
// The property.

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
            let app = spawn_fuzzable_app().await;
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
    /// A fresh anonymous session: its cookie value and CSRF token.
    async fn anonymous_session(&self) -> (String, String) {
        let browser = self.app.new_browser();
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

// ---------------------------------------------------------------------------
// Plain tests.

#[tokio::test]
async fn request_heads_over_the_server_limit_are_refused_with_431() {
    let app = spawn_fuzzable_app().await;
    let socket = socket_address(&app);
    let huge = "A".repeat(200 * 1024);
    let cases = [
        (
            "a 200 KiB cookie",
            request_bytes(
                b"GET",
                b"/",
                &[("Cookie".into(), format!("session={huge}").into_bytes())],
                b"",
            ),
        ),
        (
            "a 200 KiB URL",
            request_bytes(b"GET", format!("/login?next=/{huge}").as_bytes(), &[], b""),
        ),
        (
            "200 headers",
            request_bytes(
                b"GET",
                b"/",
                &(0..200)
                    .map(|i| (format!("X-Header-{i}"), b"x".to_vec()))
                    .collect::<Vec<_>>(),
                b"",
            ),
        ),
    ];
    for (what, request) in cases {
        let status = send_raw(socket, request).await.expect(what);
        assert!((400..500).contains(&status), "{what}: {status}");
    }
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

/// actix-web's own limit on a request head is 128 KiB (`MAX_BUFFER_SIZE` in
/// actix-http's h1 decoder, not configurable); the app refuses far less
/// (`src/request_limits.rs`): 8 KiB of URL (414), 16 KiB of headers (431).
#[tokio::test]
async fn a_40_kib_cookie_or_url_is_refused_with_4xx() {
    let app = spawn_fuzzable_app().await;
    let socket = socket_address(&app);
    let big = "A".repeat(40 * 1024);
    let cookie = request_bytes(
        b"GET",
        b"/",
        &[("Cookie".into(), format!("session={big}").into_bytes())],
        b"",
    );
    let url = request_bytes(b"GET", format!("/{big}").as_bytes(), &[], b"");
    let query = request_bytes(b"GET", format!("/login?next=/{big}").as_bytes(), &[], b"");
    let mut statuses = Vec::new();
    for request in [cookie, url, query] {
        statuses.push(send_raw(socket, request).await.expect("an answer"));
    }
    for status in &statuses {
        assert!(
            [400, 414, 431].contains(status),
            "40 KiB cookie, URL, query: {statuses:?}"
        );
    }
}

/// A signed-in app and this session's cookie and CSRF token.
async fn signed_in_app() -> (TestApp, String, String) {
    let app = spawn_fuzzable_app().await;
    let response = app.register("bad-input", "correct horse battery").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let token = app.csrf_from("/account").await;
    let cookie = app.session_cookie().expect("a cookie");
    (app, cookie, token)
}

#[tokio::test]
async fn a_2_mib_body_to_every_post_route_is_413() {
    let (app, cookie, token) = signed_in_app().await;
    let socket = socket_address(&app);
    let mut body = format!("csrf_token={token}&username=x&padding=").into_bytes();
    body.resize(2 * 1024 * 1024, b'x');
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
    for path in POST_ROUTES {
        // With a Content-Length, then chunked (the size is known only while reading).
        let sized = request_bytes(b"POST", path.as_bytes(), &headers, &body);
        let status = send_raw(socket, sized).await.expect("an answer");
        assert_eq!(status, 413, "{path} with Content-Length");

        let mut chunked = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Cookie: session={cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Transfer-Encoding: chunked\r\n\r\n"
        )
        .into_bytes();
        for piece in body.chunks(64 * 1024) {
            chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            chunked.extend_from_slice(piece);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let status = send_raw(socket, chunked).await.expect("an answer");
        assert_eq!(status, 413, "{path} chunked");
    }
    // Nothing happened: still signed in, the cart still empty.
    assert_eq!(app.get("/account").await.status(), StatusCode::OK);
    assert!(!app.get_html("/cart").await.contains("class=\"cart-line\""));
}

#[tokio::test]
async fn a_binary_or_invalid_utf8_form_body_never_gets_a_5xx() {
    let (app, cookie, token) = signed_in_app().await;
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
        if !["/cart/clear", "/logout"].contains(&path) {
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
    let (app, _, token) = signed_in_app().await;
    let t = token.as_str();
    let huge = "9".repeat(40);
    let long = "é".repeat(700);
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        // The CSRF check, on every POST route (logout last, below).
        (
            "/login",
            vec![("username", "demo"), ("password", "demo-password")],
        ),
        ("/register", vec![("csrf_token", "wrong")]),
        ("/account/password", vec![("csrf_token", "")]),
        ("/account/sessions/revoke", vec![("all_others", "1")]),
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
                ("username", "ok-name"),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
        ),
        (
            "/register",
            vec![
                ("csrf_token", t),
                ("username", "ok-name"),
                ("password", "long enough 1"),
                ("password_confirm", "different 12"),
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
                ("username", "bad input"),
                ("password", "long enough 1"),
                ("password_confirm", "long enough 1"),
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
                ("current_password", "wrong"),
                ("new_password", "long enough 1"),
                ("new_password_confirm", "long enough 1"),
            ],
        ),
        (
            "/account/password",
            vec![
                ("csrf_token", t),
                ("current_password", "correct horse battery"),
                ("new_password", "short"),
                ("new_password_confirm", "short"),
            ],
        ),
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
        ("/cart/add", vec![("csrf_token", t), ("product_id", "abc")]),
        ("/cart/add", vec![("csrf_token", t), ("product_id", &huge)]),
        ("/cart/add", vec![("csrf_token", t), ("product_id", "-1")]),
        (
            "/cart/add",
            vec![("csrf_token", t), ("product_id", "999999")],
        ),
        (
            "/cart/add",
            vec![("csrf_token", t), ("product_id", "1"), ("quantity", &huge)],
        ),
        (
            "/cart/add",
            vec![("csrf_token", t), ("product_id", "1"), ("quantity", "-1")],
        ),
        (
            "/cart/add",
            vec![("csrf_token", t), ("product_id", "1"), ("quantity", "٣")],
        ),
        (
            "/cart/add",
            vec![("csrf_token", t), ("product_id", "1"), ("product_id", "2")],
        ),
        ("/cart/update", vec![("csrf_token", t), ("product_id", "1")]),
        (
            "/cart/update",
            vec![("csrf_token", t), ("product_id", "1"), ("quantity", "100")],
        ),
        (
            "/cart/update",
            vec![("csrf_token", t), ("product_id", ""), ("quantity", "1")],
        ),
        ("/cart/remove", vec![("csrf_token", t)]),
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
    let app = spawn_fuzzable_app().await;
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
