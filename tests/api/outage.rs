//! The database goes away and comes back: 503 pages meanwhile, then the same
//! session again, with no restart of the app.

use std::time::{Duration, Instant};

use dev_postgres::{DevPostgres, DevPostgresOptions};
use reqwest::StatusCode;
use session_demo::config::Secret;

use crate::support::spawn_app_with;

#[tokio::test]
async fn a_database_outage_gives_503_then_service_resumes_with_the_same_session() {
    // A private server this test may stop.
    // (Under target/: the `postgres` account must be able to enter every parent folder.)
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(format!("outage-{}", std::process::id()));
    let server = DevPostgres::start(DevPostgresOptions {
        data_dir: dir.join("data"),
        fsync: false,
        port: None,
    })
    .await
    .expect("a private PostgreSQL");
    let url = server.url("outage");
    let app = spawn_app_with(|s| {
        s.database_url = Some(Secret::new(&url));
        s.database_acquire_timeout = Duration::from_secs(2);
    })
    .await;
    app.get("/").await;
    app.get("/").await;
    assert_eq!(app.visits().await, 2);

    server.stop().await.expect("stopped");
    let started = Instant::now();
    let response = app.get("/").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        response.headers().get("content-security-policy").is_some(),
        "the 503 page carries the security headers too"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let page = response.text().await.expect("body");
    assert!(page.contains("temporarily unavailable"), "{page}");
    assert!(page.contains("<html lang=\"en\">"));
    assert_eq!(
        app.get("/healthz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    server.restart_after_stop().await.expect("started again");
    let deadline = Instant::now() + Duration::from_secs(20);
    let page = loop {
        let response = app.get("/").await;
        if response.status() == StatusCode::OK {
            break response.text().await.expect("body");
        }
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(Instant::now() < deadline, "the app did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        page.contains("You have visited this page 3 times."),
        "the same session, nothing lost"
    );
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    drop(app);
    server.stop().await.expect("stopped");
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(folder) = server.relocated_folder() {
        let _ = std::fs::remove_dir_all(folder);
    }
    let _ = std::fs::remove_file(dir.join("data.log"));
}
