//! `METRICS_ADDR`: the real binary serves `GET /metrics` on a listener of
//! its own, in a format a real parser (prometheus-parse) and Prometheus's own
//! `promtool` accept; the counters move as requests happen; label sets stay
//! bounded whatever clients send.

use std::collections::BTreeSet;

use prometheus_parse::{Sample, Scrape, Value};
use reqwest::{Method, StatusCode};

use crate::support::{
    Browser, RunningBinary, TEST_SECRET, csrf_token, fresh_database_url, start_binary,
};

/// The binary with metrics on a free port; its `/metrics` URL.
async fn binary_with_metrics(extra: &[(&str, &str)]) -> (RunningBinary, String) {
    let url = fresh_database_url().await;
    let mut vars = vec![
        ("DATABASE_URL", url.as_str()),
        ("SESSION_SECRET", TEST_SECRET),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("METRICS_ADDR", "127.0.0.1:0"),
        ("RUST_LOG", "info,access=warn"),
    ];
    vars.extend_from_slice(extra);
    let binary = start_binary(&vars);
    let metrics = binary
        .log
        .iter()
        .find_map(|line| line.split("metrics on ").nth(1))
        .map(|rest| rest.split(['"', ' ']).next().unwrap_or(rest).to_owned())
        .unwrap_or_else(|| panic!("the metrics address is logged: {:#?}", binary.log));
    (binary, metrics)
}

/// `GET /metrics`: its text, parsed.
async fn scrape(url: &str) -> (String, Scrape) {
    let response = reqwest::get(url).await.expect("scraped");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().expect("text");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.expect("a body");
    let scrape = Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("parses");
    (text, scrape)
}

/// The sample of `metric` with exactly these labels (others may be absent).
fn sample<'a>(scrape: &'a Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    scrape.samples.iter().find(|s| {
        s.metric == metric
            && labels
                .iter()
                .all(|(name, value)| s.labels.get(name) == Some(value))
    })
}

/// A counter's or gauge's value, or a histogram's count; 0 when absent.
fn number(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    match sample(scrape, metric, labels).map(|s| &s.value) {
        Some(Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v)) => *v,
        Some(Value::Histogram(buckets)) => buckets
            .iter()
            .find(|b| b.less_than.is_infinite())
            .map_or(0.0, |b| b.count),
        Some(Value::Summary(_)) | None => 0.0,
    }
}

/// Every series: its metric and labels, as text.
fn series(scrape: &Scrape) -> BTreeSet<String> {
    scrape
        .samples
        .iter()
        .map(|s| format!("{}{}", s.metric, s.labels))
        .collect()
}

#[tokio::test]
async fn metrics_are_served_on_their_own_listener_only_and_pass_promtool() {
    let (binary, metrics) = binary_with_metrics(&[]).await;
    let browser = Browser::new(&binary.address);
    // The public listener knows no /metrics.
    assert_eq!(
        browser.get("/metrics").await.status(),
        StatusCode::NOT_FOUND
    );
    browser.page("/").await;

    let (text, scrape) = scrape(&metrics).await;
    let version = sample(&scrape, "session_demo_build_info", &[]).expect("build info");
    assert_eq!(
        version.labels.get("version"),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert!(
        version
            .labels
            .get("git_commit")
            .is_some_and(|c| !c.is_empty())
    );
    assert_eq!(
        number(
            &scrape,
            "http_server_request_duration_seconds",
            &[
                ("http_request_method", "GET"),
                ("http_route", "/"),
                ("http_response_status_code", "200"),
            ]
        ),
        1.0
    );
    for pool in ["shared", "pages"] {
        assert!(
            number(&scrape, "db_client_connection_max", &[("pool", pool)]) >= 1.0,
            "{pool}"
        );
        assert!(
            sample(
                &scrape,
                "db_client_connection_count",
                &[("state", "idle"), ("pool", pool)]
            )
            .is_some()
        );
    }
    assert!(number(&scrape, "db_client_connection_max", &[("pool", "sessions")]) >= 1.0);

    // Prometheus's own checker: the only remark allowed is on the name that
    // OpenTelemetry's `db.client.connection.count` becomes.
    let Some(output) = promtool(&text) else {
        return;
    };
    let remarks: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        remarks
            .iter()
            .all(|r| r.starts_with("db_client_connection_count ")),
        "{output}"
    );
}

/// `promtool check metrics` on `text`: its remarks, or `None` when promtool
/// is missing (CI installs it: `.ci/run` sets `CI_REQUIRE_PROMETHEUS`).
fn promtool(text: &str) -> Option<String> {
    use std::io::Write;
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(_) if std::env::var_os("CI_REQUIRE_PROMETHEUS").is_none() => {
            eprintln!("skipped: promtool is not installed (Debian: prometheus)");
            return None;
        }
        Err(error) => panic!("promtool is required in CI: {error}"),
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("written");
    let output = child.wait_with_output().expect("promtool ran");
    // 0: clean; 3: lint remarks (checked by the caller); anything else: it
    // could not parse the text.
    assert!(matches!(output.status.code(), Some(0 | 3)), "{output:?}");
    Some(
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

#[tokio::test]
async fn without_metrics_addr_there_is_no_metrics_listener() {
    let url = fresh_database_url().await;
    let binary = start_binary(&[
        ("DATABASE_URL", &url),
        ("SESSION_SECRET", TEST_SECRET),
        ("BIND_ADDR", "127.0.0.1:0"),
    ]);
    assert!(
        !binary.log.iter().any(|line| line.contains("metrics on")),
        "{:#?}",
        binary.log
    );
}

#[tokio::test]
async fn login_attempts_are_counted_by_result() {
    let (binary, metrics) = binary_with_metrics(&[]).await;
    let browser = Browser::new(&binary.address);
    let attempt = |password: &'static str| {
        let browser = browser.clone();
        async move {
            let token = csrf_token(&browser.page("/login").await);
            browser
                .post(
                    "/login",
                    &[
                        ("csrf_token", token.as_str()),
                        ("username", "demo"),
                        ("password", password),
                    ],
                )
                .await
                .status()
        }
    };
    let result = |scrape: &Scrape, result: &str| {
        number(
            scrape,
            "session_demo_login_attempts_total",
            &[("result", result)],
        )
    };
    let (_, before) = scrape(&metrics).await;
    assert_eq!(
        result(&before, "failure"),
        0.0,
        "every result is there from the start"
    );
    for _ in 0..3 {
        assert_eq!(attempt("wrong password").await, StatusCode::UNAUTHORIZED);
    }
    let (_, after) = scrape(&metrics).await;
    assert_eq!(result(&after, "failure") - result(&before, "failure"), 3.0);
    assert_eq!(result(&after, "success"), 0.0);
    assert_eq!(
        number(
            &after,
            "http_server_request_duration_seconds",
            &[
                ("http_request_method", "POST"),
                ("http_route", "/login"),
                ("http_response_status_code", "401"),
            ]
        ),
        3.0
    );
    // The demo user's password (development): a success.
    assert_eq!(
        attempt(session_demo::auth::users::DEMO_PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    let (_, after) = scrape(&metrics).await;
    assert_eq!(result(&after, "success"), 1.0);
}

#[tokio::test]
async fn a_thousand_random_paths_and_methods_create_no_new_series() {
    use proptest::{
        strategy::{Strategy, ValueTree},
        test_runner::TestRunner,
    };
    let (binary, metrics) = binary_with_metrics(&[]).await;
    let client = reqwest::Client::new();
    let mut runner = TestRunner::deterministic();
    // Segments that never start with a dot (the client would fold `/..`).
    let paths = "(/[a-zA-Z0-9_~-][a-zA-Z0-9._~-]{0,11}){1,4}";
    // Methods nobody knows; the nine known ones are `GET` & co. themselves.
    let methods = "[A-Z]{3,10}".prop_filter("an unknown method", |m| {
        ![
            "GET", "PUT", "POST", "HEAD", "PATCH", "TRACE", "DELETE", "CONNECT", "OPTIONS",
        ]
        .contains(&m.as_str())
    });
    let mut send_random = async |count: usize| {
        for _ in 0..count {
            let path = paths.new_tree(&mut runner).expect("a path").current();
            let method = methods.new_tree(&mut runner).expect("a method").current();
            let method = Method::from_bytes(method.as_bytes()).expect("a method");
            let response = client
                .request(method, format!("{}{path}", binary.address))
                .send()
                .await
                .expect("answered");
            assert!(
                response.status().is_client_error(),
                "{path}: {}",
                response.status()
            );
        }
    };
    // A few first: the series random requests fall into (no route, the
    // method `_OTHER`, 404), then a thousand more.
    send_random(30).await;
    let (_, before) = scrape(&metrics).await;
    send_random(1000).await;
    let (_, after) = scrape(&metrics).await;
    let new: Vec<_> = series(&after)
        .difference(&series(&before))
        .cloned()
        .collect();
    assert!(new.is_empty(), "new series: {new:#?}");
    assert!(
        number(
            &after,
            "http_server_request_duration_seconds",
            &[("http_request_method", "_OTHER"), ("http_route", ""),]
        ) >= 1000.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_s_metrics_move_a_first_visit_creates_one_session_and_batches_are_seen() {
    let (binary, metrics) = binary_with_metrics(&[]).await;
    let created = |scrape: &Scrape| number(scrape, "session_store_sessions_created_total", &[]);
    let (_, before) = scrape(&metrics).await;
    let browser = Browser::new(&binary.address);
    browser.page("/").await;
    let (_, after_first) = scrape(&metrics).await;
    assert_eq!(
        created(&after_first) - created(&before),
        1.0,
        "a first visit"
    );
    browser.page("/").await;
    let (_, after_second) = scrape(&metrics).await;
    assert_eq!(
        created(&after_second),
        created(&after_first),
        "a second visit creates none"
    );

    // Under load: many sessions at once, so steps share statements.
    let browsers: Vec<Browser> = (0..40).map(|_| Browser::new(&binary.address)).collect();
    futures_util::future::join_all(browsers.iter().map(|b| b.page("/"))).await;
    futures_util::future::join_all(browsers.iter().map(|b| b.page("/"))).await;
    let (text, after_load) = scrape(&metrics).await;
    let batches = number(&after_load, "session_store_batch_size", &[("step", "load")]);
    assert!(batches >= 1.0, "batch sizes observed: {text}");
    assert!(created(&after_load) - created(&after_second) >= 40.0);
    let loads = number(
        &after_load,
        "session_store_operation_duration_seconds",
        &[("step", "load")],
    );
    assert!(loads >= 40.0, "{text}");
    for state in ["idle", "used"] {
        assert!(
            sample(
                &after_load,
                "db_client_connection_count",
                &[("state", state), ("pool", "sessions")]
            )
            .is_some()
        );
    }
    assert!(
        number(
            &after_load,
            "db_client_connection_wait_time_seconds",
            &[("pool", "sessions")]
        ) >= 1.0
    );
}

#[tokio::test]
async fn docs_operations_md_describes_every_metric_and_its_alerts_are_valid() {
    let (binary, metrics) = binary_with_metrics(&[]).await;
    Browser::new(&binary.address).page("/").await;
    let (text, _) = scrape(&metrics).await;
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md"))
        .expect("docs/operations.md");
    let served: BTreeSet<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split(' ').next())
        .collect();
    for name in &served {
        assert!(
            doc.contains(&format!("`{name}`")),
            "docs/operations.md names `{name}`"
        );
    }
    // Every metric a table row names is served.
    for row in doc.lines().filter(|line| line.starts_with("| `")) {
        for name in row
            .split('|')
            .nth(1)
            .unwrap_or("")
            .split('`')
            .skip(1)
            .step_by(2)
        {
            if name.contains('_') && !name.contains('/') && !name.contains('=') {
                assert!(served.contains(name), "{name} is documented but not served");
            }
        }
    }
    // The alert rules parse and their expressions are valid PromQL.
    let start = doc.find("```yaml\ngroups:").expect("the rules") + "```yaml\n".len();
    let rules = &doc[start..start + doc[start..].find("```").expect("the end")];
    let file = std::env::temp_dir().join(format!("session-demo-rules-{}.yml", std::process::id()));
    std::fs::write(&file, rules).expect("written");
    match std::process::Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&file)
        .output()
    {
        Ok(output) => assert!(output.status.success(), "{output:?}"),
        Err(_) if std::env::var_os("CI_REQUIRE_PROMETHEUS").is_none() => {
            eprintln!("skipped: promtool is not installed (Debian: prometheus)");
        }
        Err(error) => panic!("promtool is required in CI: {error}"),
    }
    let _ = std::fs::remove_file(file);
}

#[tokio::test]
async fn locked_and_limited_logins_are_told_apart() {
    use session_demo::auth::throttle::AddressLimit;
    let metric = |scrape: &Scrape, result: &str| {
        number(
            scrape,
            "session_demo_login_attempts_total",
            &[("result", result)],
        )
    };
    async fn login(app: &crate::support::TestApp) -> StatusCode {
        let token = csrf_token(&app.get("/login").await.text().await.expect("a page"));
        app.post(
            "/login",
            &[
                ("csrf_token", token.as_str()),
                ("username", "demo"),
                ("password", "wrong"),
            ],
        )
        .await
        .status()
    }

    // Ten failures for the name lock it: the eleventh attempt is `locked`.
    let app = crate::support::spawn_app_with(|s| {
        s.metrics_addr = Some("127.0.0.1:0".parse().expect("an address"));
        s.address_limit = AddressLimit {
            burst: 1000,
            refill_every: std::time::Duration::from_millis(1),
        };
    })
    .await;
    let url = app.metrics_url.clone().expect("metrics on");
    for _ in 0..10 {
        assert_eq!(login(&app).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login(&app).await, StatusCode::TOO_MANY_REQUESTS);
    let (_, scraped) = scrape(&url).await;
    assert_eq!(metric(&scraped, "failure"), 10.0);
    assert_eq!(metric(&scraped, "locked"), 1.0);
    assert_eq!(metric(&scraped, "limited"), 0.0);

    // Three attempts allowed from the address: the fourth is `limited`.
    let app = crate::support::spawn_app_with(|s| {
        s.metrics_addr = Some("127.0.0.1:0".parse().expect("an address"));
        s.address_limit = AddressLimit {
            burst: 3,
            refill_every: std::time::Duration::from_secs(3600),
        };
    })
    .await;
    let url = app.metrics_url.clone().expect("metrics on");
    for _ in 0..3 {
        assert_eq!(login(&app).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login(&app).await, StatusCode::TOO_MANY_REQUESTS);
    let (_, scraped) = scrape(&url).await;
    assert_eq!(metric(&scraped, "failure"), 3.0);
    assert_eq!(metric(&scraped, "limited"), 1.0);
    assert_eq!(metric(&scraped, "locked"), 0.0);
}
