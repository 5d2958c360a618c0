//! Several instances started at once against a database that does not exist
//! yet all come up: one creates it, the others find it created.

use futures_util::future::join_all;
use session_demo::startup::Application;

use crate::support::{fresh_database_url, test_settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_instances_started_at_once_on_a_new_database_all_come_up() {
    for round in 0..3 {
        let settings = test_settings(&fresh_database_url().await);
        let builds = (0..4).map(|_| Application::build(settings.clone()));
        let apps: Vec<Application> = join_all(builds)
            .await
            .into_iter()
            .enumerate()
            .map(|(i, built)| {
                built.unwrap_or_else(|e| panic!("round {round}, instance {i}: {e:#}"))
            })
            .collect();
        for app in apps {
            let port = app.port();
            let handle = app.handle();
            let running = tokio::spawn(app.run_until_stopped());
            let health = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
                .await
                .expect("an answer");
            assert_eq!(health.status(), reqwest::StatusCode::OK);
            handle.stop(true).await;
            running.await.expect("joined").expect("stopped cleanly");
        }
    }
}
