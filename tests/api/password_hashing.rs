//! Password hashing is bounded: a flood of logins, registrations and password
//! changes neither exhausts the process's memory nor starves other visitors.
//!
//! Each Argon2id computation needs 19 MiB. The test floods the real binary,
//! 64 requests at a time, from many loopback addresses (every address of
//! 127.0.0.0/8 reaches the app, and the per-address limit counts each apart),
//! and reads the process's resident memory from `/proc/PID/status`.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::support::{Browser, TEST_SECRET, csrf_token, fresh_database_url, start_binary};

/// Requests in flight at once, each from its own address.
const CONCURRENCY: u8 = 64;
/// Requests each of them sends: 256 per route.
const EACH: usize = 4;
/// How far above its pre-flood size the process may stay once the flood is over.
const SETTLED_SLACK_KIB: u64 = 64 * 1024;
/// How far above its pre-flood size the process may go during the flood: the
/// hashing memory is reserved at start, so a flood adds only buffers and
/// connections, never one 19 MiB block per request.
const PEAK_SLACK_KIB: u64 = 128 * 1024;

const OWNER: &str = "flood_owner";
const PASSWORD: &str = "correct horse battery";

/// `VmRSS` or `VmHWM` of process `pid`, in KiB.
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process runs");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// The loopback address of flood client `client` of route number `route`.
fn address(route: u8, client: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 1, route, client + 1))
}

/// What one route's flood came to.
struct Figures {
    route: &'static str,
    statuses: BTreeMap<u16, usize>,
    before_kib: u64,
    peak_kib: u64,
    settled_kib: u64,
    settled_after: Duration,
    visits_answered: usize,
    visits_failed: usize,
    slowest_visit: Duration,
}

#[tokio::test]
async fn a_hashing_flood_leaves_memory_bounded_and_other_pages_answering() {
    let url = fresh_database_url().await;
    let binary = start_binary(&[
        ("DATABASE_URL", &url),
        ("SESSION_SECRET", TEST_SECRET),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("RUST_LOG", "info"),
    ]);
    let pid = binary.pid();
    let base = binary.address.clone();
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);

    // The owner registers and stays signed in; the password flood uses this session.
    let owner_jar = Arc::new(reqwest::cookie::Jar::default());
    let owner = Browser::from_ip(&base, localhost, owner_jar.clone()).client;
    let page = owner
        .get(format!("{base}/register"))
        .send()
        .await
        .expect("sent");
    let token = csrf_token(&page.text().await.expect("body"));
    let response = owner
        .post(format!("{base}/register"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", OWNER),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let mut all = Vec::new();
    for (number, route) in [(0, "/login"), (1, "/register"), (2, "/account/password")] {
        // Each flood client is a browser of its own with a form token, except
        // for the password change, which needs the owner's signed-in session.
        let mut clients = Vec::new();
        for client in 0..CONCURRENCY {
            let jar = if route == "/account/password" {
                owner_jar.clone()
            } else {
                Arc::new(reqwest::cookie::Jar::default())
            };
            let browser = Browser::from_ip(&base, address(number, client), jar).client;
            let page = browser
                .get(format!("{base}{route}"))
                .send()
                .await
                .expect("sent");
            assert_eq!(page.status(), StatusCode::OK, "GET {route}");
            let token = csrf_token(&page.text().await.expect("body"));
            clients.push((client, browser, token));
        }

        let visitor =
            Browser::from_ip(&base, localhost, Arc::new(reqwest::cookie::Jar::default())).client;
        let home = visitor.get(format!("{base}/")).send().await.expect("sent");
        assert_eq!(home.status(), StatusCode::OK);

        let before_kib = memory_kib(pid, "VmRSS");
        // Reset the process's high-water mark, so VmHWM is this flood's peak.
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("clear_refs");

        // Another visitor reads its counter all through the flood.
        let flooding = Arc::new(AtomicBool::new(true));
        let visits = tokio::spawn({
            let (flooding, base) = (flooding.clone(), base.clone());
            async move {
                let (mut answered, mut failed, mut slowest) = (0, 0, Duration::ZERO);
                while flooding.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let response = visitor.get(format!("{base}/visits")).send().await;
                    match response {
                        Ok(response) if response.status() == StatusCode::OK => answered += 1,
                        _ => failed += 1,
                    }
                    slowest = slowest.max(started.elapsed());
                }
                (answered, failed, slowest)
            }
        });

        let floods = clients.into_iter().map(|(client, browser, token)| {
            let base = base.clone();
            async move {
                let mut statuses = Vec::new();
                for i in 0..EACH {
                    let username = format!("nobody_{client}_{i}");
                    let form: Vec<(&str, &str)> = match route {
                        // Unknown users: each one costs a dummy-hash verification.
                        "/login" => vec![
                            ("csrf_token", &token),
                            ("username", &username),
                            ("password", "wrong password"),
                        ],
                        // A taken name: hashed first, then refused by the unique index.
                        "/register" => vec![
                            ("csrf_token", &token),
                            ("username", OWNER),
                            ("password", PASSWORD),
                            ("password_confirm", PASSWORD),
                        ],
                        // The right current password and a mismatched confirmation:
                        // one verification each, then a 422.
                        _ => vec![
                            ("csrf_token", &token),
                            ("current_password", PASSWORD),
                            ("new_password", "another passphrase"),
                            ("new_password_confirm", "not the same one"),
                        ],
                    };
                    // No answer at all (a reset, a timeout) is recorded as status 0.
                    let response = match browser
                        .post(format!("{base}{route}"))
                        .form(&form)
                        .send()
                        .await
                    {
                        Ok(r) => r,
                        Err(e) => {
                            eprintln!("POST {route} from client {client}: no answer: {e:?}");
                            statuses.push(0);
                            continue;
                        }
                    };
                    // A 503 must say when to retry; one that does not counts as a 500.
                    let retry_after: Option<u64> = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()?.parse().ok());
                    statuses.push(match response.status().as_u16() {
                        503 if retry_after.is_none_or(|seconds| seconds < 1) => 500,
                        status => status,
                    });
                }
                statuses
            }
        });
        let mut sampled_peak = before_kib;
        let flood = join_all(floods);
        tokio::pin!(flood);
        let results = loop {
            tokio::select! {
                results = &mut flood => break results,
                _ = tokio::time::sleep(Duration::from_millis(50)) => {
                    sampled_peak = sampled_peak.max(memory_kib(pid, "VmRSS"));
                }
            }
        };
        flooding.store(false, Ordering::Relaxed);
        let (visits_answered, visits_failed, slowest_visit) =
            visits.await.expect("the visitor kept going");
        let peak_kib = sampled_peak.max(memory_kib(pid, "VmHWM"));

        // The memory must come back within a few seconds.
        let ended = Instant::now();
        let settled_kib = loop {
            let now = memory_kib(pid, "VmRSS");
            if now <= before_kib + SETTLED_SLACK_KIB || ended.elapsed() > Duration::from_secs(5) {
                break now;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let mut statuses = BTreeMap::new();
        for status in results.into_iter().flatten() {
            *statuses.entry(status).or_insert(0) += 1;
        }
        all.push(Figures {
            route,
            statuses,
            before_kib,
            peak_kib,
            settled_kib,
            settled_after: ended.elapsed(),
            visits_answered,
            visits_failed,
            slowest_visit,
        });
    }

    for f in &all {
        eprintln!(
            "POST {}: answers {:?}; RSS before {} MiB, peak {} MiB, settled {} MiB after {:.1} s; \
             GET /visits: {} answered, {} failed, slowest {} ms",
            f.route,
            f.statuses,
            f.before_kib / 1024,
            f.peak_kib / 1024,
            f.settled_kib / 1024,
            f.settled_after.as_secs_f64(),
            f.visits_answered,
            f.visits_failed,
            f.slowest_visit.as_millis(),
        );
    }
    for f in &all {
        let expected: &[u16] = match f.route {
            "/login" => &[401, 503],
            _ => &[422, 503],
        };
        assert!(
            f.statuses.keys().all(|status| expected.contains(status)),
            "POST {}: {:?}",
            f.route,
            f.statuses
        );
        assert_eq!(
            f.statuses.values().sum::<usize>(),
            usize::from(CONCURRENCY) * EACH,
            "every request answered"
        );
        assert!(
            f.statuses.iter().any(|(status, _)| *status != 503),
            "POST {}: some requests were served",
            f.route
        );
        assert!(
            f.visits_answered > 0 && f.visits_failed == 0,
            "GET /visits answered 200 throughout"
        );
        assert!(
            f.peak_kib <= f.before_kib + PEAK_SLACK_KIB,
            "POST {}: peak RSS {} MiB from {} MiB",
            f.route,
            f.peak_kib / 1024,
            f.before_kib / 1024
        );
        assert!(
            f.settled_kib <= f.before_kib + SETTLED_SLACK_KIB,
            "POST {}: RSS stayed at {} MiB from {} MiB",
            f.route,
            f.settled_kib / 1024,
            f.before_kib / 1024
        );
    }
}
