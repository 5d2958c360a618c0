//! With nothing configured, the app runs its own PostgreSQL: data survives a
//! restart of the app, and SIGTERM stops the server too.

use std::path::PathBuf;

use crate::support::{Browser, start_binary};

#[tokio::test]
async fn without_database_url_the_app_runs_and_stops_its_own_postgres() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(format!("dev-data-test-{}", std::process::id()));
    let dir_text = dir.to_string_lossy().into_owned();
    let vars = [
        ("DEV_DATA_DIR", dir_text.as_str()),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("RUST_LOG", "info"),
    ];
    let mut app = start_binary(&vars);
    let browser = Browser::new(&app.address);
    // Where the server keeps its data: under DEV_DATA_DIR, or in a folder of
    // its own when the `postgres` account cannot reach it.
    let data_dir = dev_postgres::data_dir_for(&dir.join("dev-postgres")).expect("a location");
    assert!(
        app.log
            .iter()
            .any(|line| line.contains(&*data_dir.to_string_lossy())),
        "the log says where the data is: {:?}",
        app.log
    );
    let pid_file = data_dir.join("postmaster.pid");
    for _ in 0..2 {
        let page = browser.get("/").await;
        assert_eq!(page.status(), 200);
    }
    assert!(pid_file.exists(), "the private server runs");
    assert!(
        dir.join("dev-session-secret").exists(),
        "the generated secret is kept"
    );
    assert!(app.terminate(), "exit 0 on SIGTERM: {}", app.drain());
    let log = app.drain();
    assert!(log.contains("stopped PostgreSQL"), "{log}");
    assert!(
        !pid_file.exists(),
        "the private server stopped with the app"
    );

    // Started again on the same folder: the same secret, the same data.
    let mut again = start_binary(&vars);
    let visits: serde_json::Value = browser
        .at(&again.address)
        .get("/visits")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(visits["visits"], 2, "the session survived the restart");
    assert!(again.terminate(), "exit 0: {}", again.drain());
    assert!(!pid_file.exists());
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(folder) = dev_postgres::relocated_folder(&data_dir) {
        let _ = std::fs::remove_dir_all(folder);
    }
}
