//! Behind a reverse proxy: the per-address limiter keys on the client the
//! trusted proxy names in `X-Forwarded-For`, never on a header a client wrote;
//! sign-in and sign-up count in separate buckets.
//!
//! The test client plays the proxy: it connects from 127.0.0.1 and sets the
//! header itself, as nginx would.

use reqwest::StatusCode;
use session_demo::auth::throttle::AddressLimit;

use crate::support::{TestApp, spawn_app_with};

/// Three attempts per address, refilled slowly enough not to matter here.
const LIMIT: AddressLimit = AddressLimit {
    burst: 3,
    refill_every: std::time::Duration::from_secs(600),
};

async fn app_trusting(proxies: &str) -> TestApp {
    let proxies = proxies.parse().expect("a valid list");
    spawn_app_with(|s| {
        s.address_limit = LIMIT;
        s.trusted_proxies = proxies;
    })
    .await
}

/// `POST path` (a form without a CSRF token: cheap, and still counted by the
/// limiter) with `X-Forwarded-For: forwarded_for`, if given; returns the status.
async fn post_from(app: &TestApp, path: &str, forwarded_for: Option<&str>) -> StatusCode {
    let mut request = app
        .browser
        .client
        .post(format!("{}{path}", app.address))
        .form(&[("username", "someone"), ("password", "not the password")]);
    if let Some(header) = forwarded_for {
        request = request.header("x-forwarded-for", header);
    }
    request.send().await.expect("an answer").status()
}

/// Posts until the limit answers; returns how many were let through first.
async fn exhaust(app: &TestApp, path: &str, forwarded_for: Option<&str>) -> u32 {
    for let_through in 0..=LIMIT.burst {
        if post_from(app, path, forwarded_for).await == StatusCode::TOO_MANY_REQUESTS {
            return let_through;
        }
    }
    panic!("{path} was never limited for {forwarded_for:?}");
}

#[tokio::test]
async fn a_forged_forwarded_for_from_an_untrusted_peer_is_ignored() {
    // The peer (127.0.0.1) is not a trusted proxy: whatever it claims, it is one client.
    let app = app_trusting("10.0.0.0/8").await;
    for (attempt, forged) in ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
        .iter()
        .enumerate()
    {
        assert_ne!(
            post_from(&app, "/login", Some(forged)).await,
            StatusCode::TOO_MANY_REQUESTS,
            "attempt {attempt}"
        );
    }
    assert_eq!(
        post_from(&app, "/login", Some("198.51.100.4")).await,
        StatusCode::TOO_MANY_REQUESTS,
        "a new forged address does not buy a new bucket"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_client_it_names_gets_its_own_bucket() {
    let app = app_trusting("127.0.0.1").await;
    assert_eq!(
        exhaust(&app, "/login", Some("198.51.100.1")).await,
        LIMIT.burst
    );

    // Another client behind the same proxy is not limited.
    assert_ne!(
        post_from(&app, "/login", Some("198.51.100.2")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The rightmost entry is the one the proxy wrote: a client that puts
    // another address in front of its own is still itself...
    assert_eq!(
        post_from(&app, "/login", Some("198.51.100.7, 198.51.100.1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ...and trusted hops on the right are skipped.
    assert_eq!(
        post_from(&app, "/login", Some("198.51.100.1, 127.0.0.1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Without the header, the proxy itself is the client: a third bucket.
    assert_ne!(
        post_from(&app, "/login", None).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn login_and_registration_count_in_separate_buckets() {
    let app = app_trusting("").await;
    assert_eq!(exhaust(&app, "/login", None).await, LIMIT.burst);
    // Signing up still works for this address, with a full burst of its own.
    assert_eq!(exhaust(&app, "/register", None).await, LIMIT.burst);
    assert_eq!(
        post_from(&app, "/login", None).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}
