//! The session store reaches every row by its key's digest (`key_hash`),
//! never by `id`: a request knows only its key, and a table reached by one key
//! can be distributed by that key (docs/scaling.md) without other changes.

use actix_session::storage::{SessionKey, SessionStore};
use actix_session_postgres::{ExpiryPolicy, PgSessionStore, prune::prune_expired};
use session_demo::random::random_hex;

use crate::{
    support::proxy::CountingProxy,
    support::{connect, fresh_database_url, spawn_app_with, test_settings},
};

/// The words of a statement, for checking which columns it names.
fn words(sql: &str) -> Vec<&str> {
    sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| !word.is_empty())
        .collect()
}

#[tokio::test]
async fn every_session_store_statement_finds_its_rows_by_key_hash() {
    // The app talks to PostgreSQL through a proxy that records every statement.
    let real_url = test_settings(&fresh_database_url().await)
        .database_url
        .expect("a URL")
        .expose()
        .to_owned();
    let (_, after_at) = real_url.rsplit_once('@').expect("user@host");
    let (host_port, _) = after_at.split_once('/').expect("host:port/db");
    let upstream: u16 = host_port
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or(5432);
    let proxy = CountingProxy::start(upstream).await;
    let proxied = real_url.replace(host_port, &format!("127.0.0.1:{}", proxy.port));
    let app = spawn_app_with(|s| {
        s.database_url = Some(session_demo::config::Secret::new(&proxied));
        // Every read extends the expiry, so the extension runs too.
        s.session_ttl = std::time::Duration::from_secs(5);
    })
    .await;
    proxy.take();

    // Every store operation: save (first visit), load and update (the
    // counter), renew (sign-up: delete, then save), delete (logout)...
    app.get("/").await;
    app.get("/").await;
    app.visits().await;
    app.register("keyed_user", "correct horse battery").await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    app.visits().await;
    app.logout().await;
    // ...the TTL extension on its own...
    let store = PgSessionStore::new(
        app.session_pools.all()[0].clone(),
        ExpiryPolicy {
            inactivity: app.settings.session_ttl,
            absolute: app.settings.session_absolute_ttl,
        },
    );
    let key = SessionKey::try_from(random_hex::<32>().expect("randomness")).expect("a key");
    store
        .update_ttl(&key, &actix_web::cookie::time::Duration::minutes(5))
        .await
        .expect("extended");
    // ...and pruning, with an expired session to prune.
    app.get("/").await;
    let mut db = connect(&app).await;
    sqlx::query("/* test */ UPDATE sessions SET expires_at = now() - interval '1 second'")
        .execute(&mut db)
        .await
        .expect("expired");
    prune_expired(&app.pool).await.expect("pruned");

    let statements: Vec<String> = proxy
        .take()
        .sql
        .into_iter()
        .filter(|sql| !sql.contains("/* test */") && words(sql).contains(&"sessions"))
        .collect();
    for kind in ["SELECT", "INSERT", "UPDATE", "DELETE"] {
        assert!(
            statements
                .iter()
                .any(|sql| sql.trim_start().starts_with(kind)),
            "no {kind} on sessions seen: {statements:#?}"
        );
    }
    for sql in &statements {
        let words = words(sql);
        assert!(words.contains(&"key_hash"), "not by key_hash: {sql}");
        assert!(!words.contains(&"id"), "by id: {sql}");
    }
    // The expiry extension the load calls finds its row by key_hash too.
    let touch: String = sqlx::query_scalar(
        "SELECT prosrc FROM pg_proc
         WHERE proname = 'touch_session' AND proargtypes[0] = 'bytea'::regtype",
    )
    .fetch_one(&mut db)
    .await
    .expect("touch_session(bytea, interval)");
    assert!(
        touch.contains("WHERE key_hash = session_key_hash"),
        "{touch}"
    );
    println!(
        "{} session statements, every one by key_hash: {statements:#?}",
        statements.len()
    );
}
