//! `examples/counter.rs` runs: the count goes up per browser, and a new
//! browser starts at one.

use std::net::TcpListener;

use crate::support::fresh_database;

/// The example's own code (all but its three-line `main`).
#[allow(dead_code)]
#[path = "../../examples/counter.rs"]
mod counter;

#[tokio::test]
async fn the_counter_example_counts_each_browsers_visits() {
    let url = fresh_database().await;
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = format!("http://{}/", listener.local_addr().expect("an address"));
    // On a thread of its own, as `main` would run it.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(counter::serve(listener, &url))
    });

    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("a client");
    let mut counts = Vec::new();
    for _ in 0..3 {
        counts.push(visit(&browser, &address).await);
    }
    assert_eq!(counts, ["1", "2", "3"]);

    let another = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("a client");
    assert_eq!(visit(&another, &address).await, "1");
    assert_eq!(visit(&browser, &address).await, "4");
}

/// `GET /` as `browser`, waiting for the server to come up; the body, trimmed.
async fn visit(browser: &reqwest::Client, address: &str) -> String {
    for _ in 0..100 {
        if let Ok(response) = browser.get(address).send().await {
            assert_eq!(response.status(), 200);
            return response.text().await.expect("a body").trim().to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the example never answered on {address}");
}
