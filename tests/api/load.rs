//! Many clients at once: every answer a 200, every counter and cart exact,
//! logins and cart changes mixed with visits, nothing lost.
//!
//! The figures of a run are printed (`-- --nocapture` shows them).

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use session_demo::{
    auth::{throttle::AddressLimit, users},
    random::random_hex,
};

use crate::support::{Browser, REQUEST_TIMEOUT, cart_lines, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_clients_fifty_visits_each_all_200_and_every_counter_exact() {
    const CLIENTS: usize = 32;
    const VISITS: u64 = 50;
    let app = spawn_app_with(|s| s.database_max_connections = 8).await;
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let browser = Browser::new(&app.address).timeout(REQUEST_TIMEOUT);
            tokio::spawn(async move {
                for i in 1..=VISITS {
                    let response = browser.get("/").await;
                    assert_eq!(response.status(), StatusCode::OK);
                    let page = response.text().await.expect("a body");
                    if i > 1 {
                        assert!(page.contains(&format!("visited this page {i} times")));
                    }
                }
                browser.visits().await
            })
        })
        .collect();
    for client in clients {
        assert_eq!(client.await.expect("a client"), VISITS);
    }
    eprintln!(
        "load: {CLIENTS} clients x {VISITS} visits = {} requests, all 200, every counter exact, in {:?}",
        CLIENTS as u64 * (VISITS + 1),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_mix_of_logins_cart_changes_and_visits_loses_nothing() {
    const ACCOUNTS: usize = 4;
    const DEMO_LOGINS: usize = 2;
    const CARTS: usize = 6;
    const ADDS: usize = 10;
    const COUNTERS: usize = 8;
    const VISITS: u64 = 25;
    let app = spawn_app_with(|s| {
        s.database_max_connections = 8;
        // Every client here comes from 127.0.0.1: lift the per-address limit.
        s.address_limit = AddressLimit {
            burst: 1000,
            refill_every: Duration::from_millis(1),
        };
    })
    .await;
    let products: Vec<i64> = sqlx::query_scalar("SELECT id FROM products ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .expect("the products");
    let run = random_hex::<4>().expect("randomness");
    let started = Instant::now();
    let mut tasks = Vec::new();

    // Register, sign out, sign in again: ends signed in.
    for i in 0..ACCOUNTS {
        let browser = Browser::new(&app.address).timeout(REQUEST_TIMEOUT);
        let username = format!("mix{i}{run}");
        tasks.push(tokio::spawn(async move {
            let password = "correct horse battery staple";
            let fields = [
                ("username", username.as_str()),
                ("password", password),
                ("password_confirm", password),
            ];
            browser
                .submit("/register", "/register", &fields, "/account")
                .await;
            browser.submit("/account", "/logout", &[], "/").await;
            assert!(!browser.page("/login").await.contains(&username));
            let fields = [("username", username.as_str()), ("password", password)];
            browser
                .submit("/login", "/login", &fields, "/account")
                .await;
            assert!(browser.page("/account").await.contains(&username));
            5
        }));
    }
    // The same account signed in from several browsers at once.
    for _ in 0..DEMO_LOGINS {
        let browser = Browser::new(&app.address).timeout(REQUEST_TIMEOUT);
        tasks.push(tokio::spawn(async move {
            let fields = [
                ("username", users::DEMO_USERNAME),
                ("password", users::DEMO_PASSWORD),
            ];
            browser
                .submit("/login", "/login", &fields, "/account")
                .await;
            assert!(
                browser
                    .page("/account")
                    .await
                    .contains(users::DEMO_USERNAME)
            );
            3
        }));
    }
    // Each cart its own: N adds, then exactly the expected quantities.
    for i in 0..CARTS {
        let browser = Browser::new(&app.address).timeout(REQUEST_TIMEOUT);
        let products = products.clone();
        tasks.push(tokio::spawn(async move {
            let mut expected = BTreeMap::new();
            for j in 0..ADDS {
                let product = products[(i + j) % 4];
                let quantity = (j % 3 + 1) as i64;
                *expected.entry(product).or_insert(0) += quantity;
                let (p, q) = (product.to_string(), quantity.to_string());
                let fields = [("product_id", p.as_str()), ("quantity", q.as_str())];
                browser.submit("/cart", "/cart/add", &fields, "/cart").await;
            }
            assert_eq!(cart_lines(&browser.page("/cart").await), expected);
            ADDS * 2 + 1
        }));
    }
    // Counters.
    for _ in 0..COUNTERS {
        let browser = Browser::new(&app.address).timeout(REQUEST_TIMEOUT);
        tasks.push(tokio::spawn(async move {
            for _ in 0..VISITS {
                browser.page("/").await;
            }
            assert_eq!(browser.visits().await, VISITS);
            VISITS as usize + 1
        }));
    }
    let mut requests = 0;
    for task in tasks {
        requests += task.await.expect("a client");
    }
    eprintln!(
        "mix: {ACCOUNTS} register+logout+login, {DEMO_LOGINS} logins of one account, \
         {CARTS} carts x {ADDS} adds, {COUNTERS} counters x {VISITS}: {requests} requests, \
         nothing lost, in {:?}",
        started.elapsed()
    );
}
