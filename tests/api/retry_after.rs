//! `Retry-After` of the per-address limit is a promise: a client that waits
//! exactly that long is let in.

use std::time::Duration;

use reqwest::StatusCode;
use session_demo::auth::throttle::AddressLimit;

use crate::support::spawn_app_with;

#[tokio::test]
async fn waiting_exactly_retry_after_seconds_is_enough() {
    let app = spawn_app_with(|s| {
        s.address_limit = AddressLimit {
            burst: 1,
            refill_every: Duration::from_secs(2),
        }
    })
    .await;
    // The first POST uses the address's allowance (its missing CSRF token is a 403).
    assert_eq!(
        app.post("/login", &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    let refused = app.post("/login", &[]).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("whole seconds");
    assert_eq!(retry_after, 2, "1.99... seconds to go, rounded up");

    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_ne!(
        app.post("/login", &[]).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}
