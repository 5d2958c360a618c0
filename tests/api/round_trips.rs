//! What each kind of request costs in PostgreSQL round trips: one to read a
//! session, two to change it, one for a first visit, none without a session.

use std::time::Duration;

use crate::{
    support::proxy::{CountingProxy, Counts},
    support::{spawn_app_with, test_settings},
};

/// Waits for stragglers (the pool's ping after a connection returns), then takes the counts.
async fn settle(proxy: &CountingProxy) -> Counts {
    tokio::time::sleep(Duration::from_millis(150)).await;
    proxy.take()
}

#[tokio::test]
async fn each_request_kind_costs_the_promised_round_trips() {
    // The app talks to PostgreSQL through the counting proxy, with pools of
    // one connection, so that statements are prepared after the warm-up.
    let real_url = test_settings(&crate::support::fresh_database_url().await)
        .database_url
        .expect("a URL")
        .expose()
        .to_owned();
    let (before_port, after_port) = real_url
        .rsplit_once('@')
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(host, db)| (host.to_owned(), db.to_owned()))
        .expect("postgres://user@host:port/db");
    let upstream: u16 = before_port
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or(5432);
    let proxy = CountingProxy::start(upstream).await;
    let proxied = real_url.replace(&before_port, &format!("127.0.0.1:{}", proxy.port));
    assert!(proxied.ends_with(&after_port));

    let app = spawn_app_with(|s| {
        s.database_url = Some(session_demo::config::Secret::new(&proxied));
        s.database_max_connections = 1;
    })
    .await;

    // Warm up: create the session and prepare every statement on the connection.
    for _ in 0..3 {
        app.get("/").await;
        app.visits().await;
    }
    let first_visitor = app.new_browser();
    app.get_with(&first_visitor, "/").await;
    app.get("/healthz").await;
    settle(&proxy).await;

    // A read of an existing session: one round trip.
    app.visits().await;
    let read = settle(&proxy).await;
    assert_eq!(read.statements, 1, "GET /visits with a session: {read:?}");
    assert_eq!(read.bare_syncs, 0, "the session store's pool does not ping");
    assert!(read.sql[0].contains("FROM sessions"));

    // A changed session: load, then update.
    app.get("/").await;
    let write = settle(&proxy).await;
    assert_eq!(write.statements, 2, "GET / with a session: {write:?}");
    assert_eq!(
        write.bare_syncs, 0,
        "the session store's pool does not ping"
    );
    assert!(write.sql[1].contains("UPDATE sessions"));

    // A first visit: one INSERT.
    let newcomer = app.new_browser();
    app.get_with(&newcomer, "/").await;
    let first = settle(&proxy).await;
    assert_eq!(first.statements, 1, "GET / without a cookie: {first:?}");
    assert!(first.sql[0].contains("INSERT INTO sessions"));

    // No cookie and nothing stored: nothing at all.
    let stranger = app.new_browser();
    app.visits_with(&stranger).await;
    let nothing = settle(&proxy).await;
    assert_eq!(
        nothing.statements, 0,
        "GET /visits without a cookie: {nothing:?}"
    );

    // A static file with a cookie: nothing.
    app.get("/static/style.css").await;
    let static_file = settle(&proxy).await;
    assert_eq!(static_file.statements, 0, "static file: {static_file:?}");
    assert_eq!(static_file.bare_syncs, 0);

    // /healthz with a cookie: only its own check, no session statement.
    app.get("/healthz").await;
    let health = settle(&proxy).await;
    assert_eq!(health.statements, 1, "/healthz: {health:?}");
    assert_eq!(health.bare_syncs, 0, "it runs on the session store's pool");
    assert!(
        health.sql[0].contains("WHERE false"),
        "its check reads no session: {health:?}"
    );

    println!(
        "round trips per request: read {} (+{} pings), write {} (+{} pings), first visit {} (+{} pings), \
         no cookie {}, static {}, healthz {} (its own check)",
        read.statements,
        read.bare_syncs,
        write.statements,
        write.bare_syncs,
        first.statements,
        first.bare_syncs,
        nothing.statements,
        static_file.statements,
        health.statements
    );
}
