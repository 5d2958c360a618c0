//! Liveness and readiness: after SIGTERM, while the instance drains, `/readyz`
//! fails so a balancer sends no new work, while `/livez` and `/healthz` still
//! answer 200; and `/readyz` fails while the session store cannot serve.

use std::time::Duration;

use reqwest::StatusCode;

use crate::support::{TEST_SECRET, fresh_database_url, spawn_app_with, start_binary};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_while_draining_and_liveness_stays_up() {
    let url = fresh_database_url().await;
    let mut binary = start_binary(&[
        ("DATABASE_URL", &url),
        ("SESSION_SECRET", TEST_SECRET),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("SHUTDOWN_DRAIN_SECONDS", "3"),
    ]);
    let status = |path: &'static str| {
        let url = format!("{}{path}", binary.address);
        async move { reqwest::get(url).await.expect("answered").status() }
    };
    for path in ["/livez", "/readyz", "/healthz"] {
        assert_eq!(status(path).await, StatusCode::OK, "{path} before");
    }
    binary.signal("-TERM");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(status("/readyz").await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(status("/livez").await, StatusCode::OK);
    assert_eq!(
        status("/healthz").await,
        StatusCode::OK,
        "the contract's check is unchanged"
    );
    let exited = binary.wait_exit(Duration::from_secs(20)).await;
    assert!(exited.is_some_and(|s| s.success()), "{exited:?}");
}

#[tokio::test]
async fn readiness_fails_while_the_session_store_cannot_serve() {
    let app = spawn_app_with(|_| {}).await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    sqlx::query("ALTER TABLE sessions RENAME COLUMN state TO renamed_state")
        .execute(&app.pool)
        .await
        .expect("renamed");
    assert_eq!(
        app.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        app.get("/livez").await.status(),
        StatusCode::OK,
        "alive all the same"
    );
    assert!(
        app.get("/readyz")
            .await
            .headers()
            .get("set-cookie")
            .is_none()
    );
}
