//! The production deployment, end to end: Debian's nginx with the site in
//! `deploy/` terminating TLS in front of three instances of the real binary,
//! each started with `deploy/production.env` (`APP_ENV=production`), all on
//! one PostgreSQL.
//!
//! Through nginx over HTTPS: a real browser walks the app; one browser's
//! requests land on every instance with its session intact; an instance
//! stopped with SIGTERM, and then a rolling restart of all three under load,
//! fail no request and lose no update; the per-address limit tells clients
//! behind nginx apart, ignores a forged `X-Forwarded-For`, and allows an
//! address 20 sign-in attempts for all three instances together; nginx's
//! `limit_req` bounds the new sessions one address starts across the
//! instances; request headers up to the app's limit reach the app, whose 431
//! page answers past it, over HTTP/1.1 and HTTP/2; Debian's Prometheus
//! scrapes every instance's `METRICS_ADDR` and sees the requests.
//!
//! Needs `nginx` and `openssl` (Debian's packages). Without nginx the tests
//! say they were skipped and pass, unless `CI_REQUIRE_NGINX` is set (CI sets
//! it), then they fail. The browser walk also needs chromedriver (see
//! browser.rs). Every request is bounded in time; only loopback is used.
//! The figures of each run are printed (`-- --nocapture` shows them).

use std::{
    collections::{BTreeMap, BTreeSet},
    net::Ipv4Addr,
    panic::AssertUnwindSafe,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use fantoccini::{ClientBuilder, Locator};
use futures_util::{FutureExt, StreamExt, future::join_all};
use hyper_util::client::legacy::connect::HttpConnector;
use reqwest::StatusCode;
use serde_json::json;
use session_demo::random::random_hex;

use crate::{
    browser::{self, BROWSER_START, Chromedriver, Page, WAIT},
    support::{
        attribute_values, cart_lines, csrf_token,
        deployment::{
            Cluster, Folder, Visitor, find_program, free_port, instance_of, plain_client, repo,
        },
        location, spawn_app, spawn_app_with,
    },
};

// ---------------------------------------------------------------------------
// Without nginx: the instance name.

#[tokio::test]
async fn the_instance_name_is_sent_on_every_response_only_when_configured() {
    let named = spawn_app_with(|s| s.instance_name = Some("web-7".into())).await;
    for path in ["/", "/healthz", "/static/style.css", "/no-such-page"] {
        let response = named.get(path).await;
        assert_eq!(response.headers()["x-instance"], "web-7", "{path}");
    }
    let token = named.csrf_from("/cart").await;
    let response = named.post("/cart/add", &[("csrf_token", &token)]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        response.headers()["x-instance"],
        "web-7",
        "an error page too"
    );

    let unnamed = spawn_app().await;
    assert!(unnamed.get("/").await.headers().get("x-instance").is_none());
}

// ---------------------------------------------------------------------------
// Through nginx.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_walks_the_https_deployment_and_one_session_spans_every_instance() {
    let Some(cluster) = Cluster::start("walk").await else {
        return;
    };

    // (1) A real browser: register, log out, log in, count, shop, account.
    match browser::find_chromedriver() {
        Some(chromedriver) => browser_walk(&cluster, &chromedriver).await,
        None if std::env::var_os("CI_REQUIRE_BROWSER").is_some() => {
            panic!("CI_REQUIRE_BROWSER is set but no chromedriver was found")
        }
        None => println!("deployment browser walk skipped: chromedriver not found"),
    }

    // (2) One browser's requests go round the instances; its session follows.
    let visitor = cluster.visitor(None);
    let mut served_by = BTreeMap::<String, u32>::new();
    for n in 1..=9 {
        let response = visitor.get("/").await.expect("an answer");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response
                .headers()
                .get_all("strict-transport-security")
                .iter()
                .collect::<Vec<_>>(),
            ["max-age=63072000; includeSubDomains"],
            "exactly one HSTS header"
        );
        if n == 1 {
            let cookie = response.headers()["set-cookie"].to_str().expect("text");
            assert!(cookie.starts_with("__Host-session="), "{cookie}");
            for attribute in ["; Secure", "; HttpOnly", "; Path=/", "; SameSite=Lax"] {
                assert!(cookie.contains(attribute), "{cookie}");
            }
        }
        *served_by.entry(instance_of(&response)).or_default() += 1;
        let page = response.text().await.expect("a body");
        let expected = if n == 1 {
            "Welcome to this page for the first time!".to_owned()
        } else {
            format!("You have visited this page {n} times.")
        };
        assert!(page.contains(&expected), "visit {n}: {page}");
    }
    println!("deployment: one browser's 9 visits were served by {served_by:?}");
    assert_eq!(served_by.len(), 3, "every instance served the browser");

    // Plain HTTP is sent to HTTPS.
    let response = plain_client()
        .get(format!("{}/cart?x=1", cluster.http_origin))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(location(&response), format!("{}/cart?x=1", cluster.origin));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_and_restarted_instances_fail_no_request_and_lose_no_update() {
    let Some(mut cluster) = Cluster::start("restarts").await else {
        return;
    };

    // (3) SIGTERM to one instance in the middle of one browser's sequence.
    let visitor = cluster.visitor(None);
    let token = csrf_token(&visitor.page("/cart").await);
    let product = first_product(&visitor.page("/cart").await);
    let mut tally = Tally::default();
    let mut served_after_exit = BTreeSet::new();
    let mut stopped_at = None;
    for step in 0..150 {
        if step == 40 {
            cluster.instances[1].signal_stop();
            stopped_at = Some(Instant::now());
        }
        let exited = cluster.instances[1].has_exited();
        let served = match step % 3 {
            0 | 1 => tally.visit(&visitor).await,
            _ => tally.add_to_cart(&visitor, &token, product).await,
        };
        if exited && let Some(instance) = served {
            served_after_exit.insert(instance);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = cluster.instances[1].wait_stopped().await;
    assert!(status.success(), "the stopped instance exited {status}");
    let lost = tally.lost_updates(&visitor, product).await;
    println!(
        "deployment step 3: {} requests, SIGTERM to instance-2 after 40 ({:.1?} before the end), \
         {} failed, {lost} lost updates; served after it exited by {served_after_exit:?}",
        tally.requests,
        stopped_at.map(|t| t.elapsed()).unwrap_or_default(),
        tally.failures.len(),
    );
    assert!(
        tally.failures.is_empty(),
        "failed requests: {:#?}\nthe instances logged: {:#?}",
        tally.failures,
        cluster.trouble()
    );
    assert_eq!(lost, 0, "lost updates");
    assert!(
        !served_after_exit.contains("instance-2"),
        "nothing is served by a stopped instance"
    );
    cluster.instances[1].start();
    cluster.instances[1].wait_healthy().await;

    // (4) A rolling restart of all three while clients load nginx throughout.
    const COUNTERS: usize = 8;
    const SHOPPERS: usize = 2;
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..COUNTERS + SHOPPERS)
        .map(|i| {
            let visitor = cluster.visitor(None);
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let shopper = i >= COUNTERS;
                let token = csrf_token(&visitor.page("/cart").await);
                let product = first_product(&visitor.page("/cart").await);
                while !stop.load(Ordering::SeqCst) {
                    if shopper && tally.added < 90 {
                        tally.add_to_cart(&visitor, &token, product).await;
                    } else {
                        tally.visit(&visitor).await;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let lost = tally.lost_updates(&visitor, product).await;
                (tally, lost)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rolling = Instant::now();
    for instance in &mut cluster.instances {
        instance.signal_stop();
        let status = instance.wait_stopped().await;
        assert!(status.success(), "{} exited {status}", instance.name);
        instance.start();
        instance.wait_healthy().await;
        // nginx's fail_timeout: the instance is back in rotation.
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
    let rolling = rolling.elapsed();
    stop.store(true, Ordering::SeqCst);
    let mut requests = 0;
    let mut failures = Vec::new();
    let mut lost = 0;
    let mut served_by = BTreeMap::<String, u64>::new();
    for task in join_all(load).await {
        let (tally, lost_by_one) = task.expect("a load task");
        requests += tally.requests;
        failures.extend(tally.failures);
        lost += lost_by_one;
        for (instance, n) in tally.served_by {
            *served_by.entry(instance).or_default() += n;
        }
    }
    println!(
        "deployment step 4: rolling restart of 3 instances in {rolling:.1?} under \
         {COUNTERS} counting and {SHOPPERS} shopping clients: {requests} requests, {} failed, \
         {lost} lost updates; served by {served_by:?}",
        failures.len()
    );
    let trouble = cluster.trouble();
    assert!(
        failures.is_empty(),
        "failed requests: {failures:#?}\nthe instances logged: {trouble:#?}"
    );
    assert_eq!(lost, 0, "lost updates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_address_limit_tells_clients_behind_nginx_apart_and_ignores_a_forged_header() {
    let Some(cluster) = Cluster::start("limits").await else {
        return;
    };
    let first = cluster.visitor(Some(Ipv4Addr::new(127, 0, 0, 2).into()));
    let second = cluster.visitor(Some(Ipv4Addr::new(127, 0, 0, 3).into()));

    // 127.0.0.2 uses up its allowance, one for all instances (sign-in
    // attempts without a CSRF token: counted by the limit, then refused with
    // 403), wherever nginx sends each attempt.
    let started = Instant::now();
    let mut let_through: u64 = 0;
    let mut limited_in_a_row = 0;
    for _ in 0..100 {
        match first.attempt_login(None).await {
            StatusCode::TOO_MANY_REQUESTS => limited_in_a_row += 1,
            StatusCode::FORBIDDEN => {
                let_through += 1;
                limited_in_a_row = 0;
            }
            other => panic!("unexpected {other}"),
        }
        if limited_in_a_row == 3 {
            break;
        }
    }
    assert_eq!(limited_in_a_row, 3, "127.0.0.2 was never limited");
    // 20 at once, and one more for every 3 seconds the attempts took.
    let refilled = started.elapsed().as_secs() / 3 + 1;
    assert!(
        (20..=20 + refilled).contains(&let_through),
        "{let_through} attempts let through by 3 instances: the allowance is 20 for all"
    );

    // A header of its own making does not get it a fresh bucket...
    for _ in 0..3 {
        assert_eq!(
            first.attempt_login(Some("203.0.113.7")).await,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    // ...the other client is not limited...
    for _ in 0..3 {
        assert_eq!(second.attempt_login(None).await, StatusCode::FORBIDDEN);
    }
    // ...and cannot be made to look like the first one either.
    for _ in 0..3 {
        assert_eq!(
            second.attempt_login(Some("127.0.0.2")).await,
            StatusCode::FORBIDDEN
        );
    }
    println!(
        "deployment step 5: 127.0.0.2 was let through {let_through} times by 3 instances \
         (allowance 20), then limited, forged header or not; 127.0.0.3 was not limited, \
         forged header or not"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_limits_new_sessions_for_all_instances_and_lets_big_headers_reach_the_app() {
    let Some(cluster) = Cluster::start("edge").await else {
        return;
    };

    // (6) A flood of first visits from one address: nginx lets 60 through at
    // once (and one a second), for all three instances together.
    let flood = |client: reqwest::Client, cookie: Option<&'static str>, requests: usize| {
        let url = format!("{}/", cluster.origin);
        futures_util::stream::iter(0..requests)
            .map(move |_| {
                let mut request = client.get(&url);
                if let Some(cookie) = cookie {
                    request = request.header("cookie", cookie);
                }
                async move {
                    let response = request.send().await.expect("an answer");
                    let retry_after = response.headers().contains_key("retry-after");
                    (response.status(), retry_after)
                }
            })
            .buffer_unordered(10)
            .collect::<Vec<_>>()
    };
    let started = Instant::now();
    let answers = flood(
        cluster.cookieless(Ipv4Addr::new(127, 0, 0, 2).into()),
        None,
        150,
    )
    .await;
    let seconds = started.elapsed().as_secs();
    let served = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count() as u64;
    assert!(
        answers
            .iter()
            .all(|(s, retry)| *s == StatusCode::OK
                || (*s == StatusCode::TOO_MANY_REQUESTS && *retry)),
        "{answers:?}"
    );
    assert!(
        (60..=60 + seconds + 1).contains(&served),
        "{served} first visits served in {seconds} s"
    );
    let rows = cluster.session_rows().await;
    assert_eq!(
        rows, served as i64,
        "one row per first visit served, none past the limit"
    );
    // Another address is not affected.
    let other = cluster.cookieless(Ipv4Addr::new(127, 0, 0, 3).into());
    let response = other
        .get(format!("{}/", cluster.origin))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);

    // (7) A made-up session cookie gets past nginx's count; each instance's
    // own limit (60 at once, one a second) still holds, so three instances
    // store at most three times that.
    let started = Instant::now();
    let answers = flood(
        cluster.cookieless(Ipv4Addr::new(127, 0, 0, 4).into()),
        Some("__Host-session=made-up"),
        300,
    )
    .await;
    let seconds = started.elapsed().as_secs();
    let forged = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count() as u64;
    assert!(
        forged <= 3 * (60 + seconds + 1),
        "{forged} sessions from made-up cookies in {seconds} s"
    );
    println!(
        "deployment step 6: 150 first visits from one address: {served} served (nginx: 60 at \
         once, then 1/s, for all 3 instances), {rows} rows; step 7: 300 with a made-up cookie: \
         {forged} served in {seconds} s (each instance's own limit)"
    );

    // (8) Request headers between nginx's old 8 KiB buffers and the app's
    // 16 KiB limit reach the app; past the app's limit, the app's 431 page
    // answers, over HTTP/1.1 and HTTP/2 alike (not nginx's 400 or a reset).
    let visitor = cluster.visitor(None);
    let header = |size: usize| format!("junk={}", "x".repeat(size));
    let response = visitor
        .client
        .get(format!("{}/", cluster.origin))
        .header("cookie", header(12 * 1024))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::OK, "12 KiB of cookies");
    let response = visitor
        .client
        .get(format!("{}/", cluster.origin))
        .header("cookie", header(20 * 1024))
        .send()
        .await
        .expect("an answer");
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    assert!(
        response
            .text()
            .await
            .expect("a body")
            .contains("Request headers too large")
    );
    match find_program("curl") {
        Some(curl) => {
            let output = Command::new(curl)
                .args(["--http2", "--silent", "--show-error", "--max-time", "15"])
                .arg("--cacert")
                .arg(cluster.authority_file())
                .args(["-H", &format!("cookie: {}", header(20 * 1024))])
                .args(["--write-out", "\n%{http_version} %{http_code}"])
                .arg(format!("{}/", cluster.origin))
                .output()
                .expect("curl runs");
            let said = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "curl: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(
                said.ends_with("\n2 431"),
                "HTTP/2 with 20 KiB of cookies: {said}"
            );
            assert!(said.contains("Request headers too large"), "{said}");
            println!(
                "deployment step 8: 20 KiB of headers: the app's 431 page over HTTP/1.1 and HTTP/2"
            );
        }
        None if std::env::var_os("CI_REQUIRE_NGINX").is_some() => {
            panic!("CI_REQUIRE_NGINX is set but curl (for HTTP/2) was not found")
        }
        None => println!("deployment step 8 over HTTP/2 skipped: curl not found"),
    }
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let Ok(output) = Command::new("systemd-analyze").arg("--version").output() else {
        // CI installs systemd and sets CI_REQUIRE_SYSTEMD: there, a missing
        // systemd-analyze fails this test instead of passing it unchecked.
        assert!(
            std::env::var_os("CI_REQUIRE_SYSTEMD").is_none(),
            "CI_REQUIRE_SYSTEMD is set but systemd-analyze is missing (Debian: apt-get install systemd)"
        );
        println!("systemd unit check skipped: systemd-analyze not found");
        return;
    };
    assert!(output.status.success());
    // The unit as installed, pointed at this build instead of /opt/session-demo.
    let folder = Folder::new("systemd");
    let unit = std::fs::read_to_string(repo().join("deploy/session-demo@.service"))
        .expect("the unit")
        .replace(
            "/opt/session-demo/target/release/session-demo",
            env!("CARGO_BIN_EXE_session-demo"),
        )
        .replace("/opt/session-demo", &repo().display().to_string());
    std::fs::write(folder.0.join("session-demo@8081.service"), unit).expect("written");
    let output = Command::new("systemd-analyze")
        .args(["verify", "./session-demo@8081.service"])
        .current_dir(&folder.0)
        .output()
        .expect("systemd-analyze runs");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && said.trim().is_empty(), "{said}");
}

// ---------------------------------------------------------------------------
// The browser walk.

/// Debian's Prometheus scrapes the three instances' `METRICS_ADDR`s: all three
/// targets are up, and the request count it reads rises with requests sent
/// through nginx. On the way, one request id runs from nginx's log to the
/// app's answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_every_instance_and_sees_the_requests() {
    let Some(prometheus) = find_program("prometheus") else {
        if std::env::var_os("CI_REQUIRE_PROMETHEUS").is_some() {
            panic!("CI_REQUIRE_PROMETHEUS is set but prometheus was not found");
        }
        println!("prometheus test skipped: prometheus not found (Debian: prometheus)");
        return;
    };
    let Some(cluster) = Cluster::start("prometheus").await else {
        return;
    };
    let folder = cluster.folder().join("prometheus");
    std::fs::create_dir_all(&folder).expect("a folder");
    let targets: Vec<String> = cluster
        .instances
        .iter()
        .map(|i| format!("'127.0.0.1:{}'", i.metrics_port))
        .collect();
    let config = folder.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: session-demo\n    static_configs:\n\
             \u{20}     - targets: [{}]\n",
            targets.join(", ")
        ),
    )
    .expect("the configuration");
    let port = free_port();
    let log = std::fs::File::create(folder.join("prometheus.log")).expect("a log");
    let child = Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            folder.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("prometheus starts");
    let _prometheus = KillOnDrop(child);

    let query = |promql: &'static str| async move {
        let response = plain_client()
            .post(format!("http://127.0.0.1:{port}/api/v1/query"))
            .form(&[("query", promql)])
            .send()
            .await
            .ok()?;
        let body: serde_json::Value = response.json().await.ok()?;
        let result = body["data"]["result"].as_array()?.clone();
        Some(
            result
                .iter()
                .filter_map(|sample| sample["value"][1].as_str()?.parse::<f64>().ok())
                .collect::<Vec<f64>>(),
        )
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(up) = query("up{job=\"session-demo\"}").await
            && up.len() == 3
            && up.iter().all(|&v| v == 1.0)
        {
            break;
        }
        let log = std::fs::read_to_string(folder.join("prometheus.log")).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "three targets up; prometheus: {log}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let total = || async {
        query("sum(http_server_request_duration_seconds_count{http_route=\"/\"})")
            .await
            .and_then(|values| values.first().copied())
            .unwrap_or(0.0)
    };
    let before = total().await;
    let visitor = cluster.visitor(None);

    // One request id from nginx's log line to the app's answer: nginx makes
    // one, or keeps the one that came with the request.
    let response = visitor.get("/visits").await.expect("an answer");
    let id = response.headers()["x-request-id"]
        .to_str()
        .expect("text")
        .to_owned();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "nginx's $request_id: {id}"
    );
    let kept = visitor
        .client
        .get(format!("{}/visits", visitor.origin))
        .header("x-request-id", "from-the-balancer-1")
        .send()
        .await
        .expect("an answer");
    assert_eq!(kept.headers()["x-request-id"], "from-the-balancer-1");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(cluster.folder().join("logs/session-demo.access.log"))
            .unwrap_or_default();
        if log.contains(&format!("request_id={id} "))
            && log.contains("request_id=from-the-balancer-1 ")
        {
            break;
        }
        assert!(Instant::now() < deadline, "nginx logs the ids: {log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for _ in 0..30 {
        let response = visitor.get("/").await.expect("an answer");
        assert_eq!(response.status(), StatusCode::OK);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = total().await;
        if now >= before + 30.0 {
            println!("GET / counted by Prometheus: {before} then {now}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the count rises by 30: {before} then {now}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A child process killed (and reaped) when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn browser_walk(cluster: &Cluster, chromedriver: &Path) {
    let driver = Chromedriver::start(chromedriver).await;
    let mut capabilities = browser::capabilities(driver.profile.path());
    // The local certificate authority is not one Chromium knows.
    capabilities.insert("acceptInsecureCerts".into(), json!(true));
    let mut builder = ClientBuilder::new(HttpConnector::new());
    builder.capabilities(capabilities);
    let client = match tokio::time::timeout(BROWSER_START, builder.connect(&driver.url)).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => panic!("chromedriver did not start Chromium: {e}\n{}", driver.log()),
        Err(_) => panic!("Chromium did not start within {BROWSER_START:?}"),
    };
    let page = Page {
        client: &client,
        base: &cluster.origin,
    };
    let walk = async {
        page.open("/").await;
        page.open("/").await;
        assert_eq!(
            page.text("p.counter").await,
            "You have visited this page 2 times."
        );

        let username = format!("deploy_{}", random_hex::<4>().expect("randomness"));
        let password = "behind nginx over https";
        page.open("/register").await;
        page.fill("#username", &username).await;
        page.fill("#password", password).await;
        page.fill("#password_confirm", password).await;
        page.click(Locator::XPath(
            "//main//button[normalize-space(.)='Create account']",
        ))
        .await;
        page.wait_for_path("/account").await;
        assert_eq!(
            page.text("#you-heading").await,
            format!("Signed in as {username}")
        );
        let cookie = client
            .get_named_cookie("__Host-session")
            .await
            .expect("the browser keeps the __Host-session cookie");
        assert_eq!(cookie.secure(), Some(true), "Secure");
        assert_eq!(cookie.http_only(), Some(true), "HttpOnly");

        page.click(Locator::XPath(
            "//nav//button[normalize-space(.)='Log out']",
        ))
        .await;
        page.wait_for(Locator::XPath("//nav//a[normalize-space(.)='Log in']"))
            .await;
        page.open("/login").await;
        page.fill("#username", &username).await;
        page.fill("#password", password).await;
        page.click(Locator::XPath(
            "//main//button[normalize-space(.)='Log in']",
        ))
        .await;
        page.wait_for_path("/account").await;

        page.open("/cart").await;
        let products = page.products().await;
        let (id, price) = &products[0];
        let product = format!("li.product[data-product-id='{id}']");
        page.fill(&format!("{product} input[name='quantity']"), "3")
            .await;
        page.click(Locator::Css(&format!("{product} button[type='submit']")))
            .await;
        page.wait_for_count("tr.cart-line", 1).await;
        assert_eq!(page.cart_lines().await, [(id.clone(), 3)]);
        assert_eq!(
            page.attr("[data-total-cents]", "data-total-cents").await,
            (price * 3).to_string()
        );

        page.open("/account").await;
        assert_eq!(page.text("h1").await, "Your account");
        assert_eq!(page.attr("[data-cart-count]", "data-cart-count").await, "3");
    };
    let walked = tokio::time::timeout(
        Duration::from_secs(120),
        AssertUnwindSafe(walk).catch_unwind(),
    )
    .await;
    let _ = tokio::time::timeout(WAIT, client.close()).await;
    drop(driver);
    match walked {
        Err(_) => panic!("the browser walk took longer than 120 s"),
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Ok(Ok(())) => println!("deployment step 1: a real browser walked the app over HTTPS"),
    }
}

fn first_product(cart_page: &str) -> i64 {
    attribute_values(cart_page, "data-product-id")[0]
        .parse()
        .expect("a product id")
}

/// What one client did and saw.
#[derive(Default)]
struct Tally {
    requests: u64,
    /// Visits answered 200: the counter must show each of them.
    visits: u64,
    /// Products added (303): the cart must hold each of them.
    added: u64,
    /// Anything else: a transport error, an unexpected status, a counter that
    /// did not show the expected number.
    failures: Vec<String>,
    served_by: BTreeMap<String, u64>,
}

impl Tally {
    /// `GET /`, checking that the counter counts this visit; returns the instance.
    async fn visit(&mut self, visitor: &Visitor) -> Option<String> {
        self.requests += 1;
        let response = match visitor.get("/").await {
            Ok(response) if response.status() == StatusCode::OK => response,
            Ok(response) => {
                self.failures
                    .push(format!("GET / answered {}", response.status()));
                return None;
            }
            Err(error) => {
                self.failures.push(format!("GET /: {error}"));
                return None;
            }
        };
        let instance = instance_of(&response);
        *self.served_by.entry(instance.clone()).or_default() += 1;
        let page = response.text().await.unwrap_or_default();
        self.visits += 1;
        let expected = match self.visits {
            1 => "for the first time".to_owned(),
            n => format!("visited this page {n} times."),
        };
        if !page.contains(&expected) {
            self.failures
                .push(format!("visit {} by {instance}: not counted", self.visits));
        }
        Some(instance)
    }

    /// `POST /cart/add` of one `product`; returns the instance.
    async fn add_to_cart(
        &mut self,
        visitor: &Visitor,
        token: &str,
        product: i64,
    ) -> Option<String> {
        self.requests += 1;
        let product = product.to_string();
        let form = [
            ("csrf_token", token),
            ("product_id", &product),
            ("quantity", "1"),
        ];
        match visitor.post("/cart/add", &form).await {
            Ok(response) if response.status() == StatusCode::SEE_OTHER => {
                self.added += 1;
                let instance = instance_of(&response);
                *self.served_by.entry(instance.clone()).or_default() += 1;
                Some(instance)
            }
            Ok(response) => {
                self.failures
                    .push(format!("POST /cart/add answered {}", response.status()));
                None
            }
            Err(error) => {
                self.failures.push(format!("POST /cart/add: {error}"));
                None
            }
        }
    }

    /// Updates the database does not show: visits the counter missed, and
    /// cart additions missing from (or extra in) the cart.
    async fn lost_updates(&self, visitor: &Visitor, product: i64) -> u64 {
        let response = visitor.get("/visits").await.expect("an answer");
        let body: serde_json::Value = response.json().await.expect("JSON");
        let visits = body["visits"].as_u64().expect("a number");
        let in_cart = cart_lines(&visitor.page("/cart").await)
            .get(&product)
            .copied()
            .unwrap_or(0);
        let in_cart = u64::try_from(in_cart).expect("a quantity");
        visits.abs_diff(self.visits) + in_cart.abs_diff(self.added)
    }
}
