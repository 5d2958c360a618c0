//! Idle and absolute expiry, on the database's clock, and the throttled touch.

use std::time::Duration;

use actix_session::storage::SessionStore;

use crate::support::{TTL, same_key, state, store, store_with};

#[tokio::test]
async fn an_expired_row_is_never_loaded_even_before_pruning() {
    let (store, pool) = store().await;
    let key = store
        .save(state(&[("visits", "1")]), &TTL)
        .await
        .expect("saved");
    sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .expect("expire it");
    assert_eq!(store.load(&key).await.expect("loads"), None);
}

#[tokio::test]
async fn a_session_left_idle_for_the_inactivity_timeout_ends() {
    let (store, _) = store_with(1, 86_400).await;
    let key = store
        .save(state(&[("visits", "1")]), &TTL)
        .await
        .expect("saved");
    assert!(store.load(&key).await.expect("loads").is_some());
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(store.load(&key).await.expect("loads"), None);
}

#[tokio::test]
async fn the_absolute_limit_holds_under_constant_activity() {
    // Inactivity allows an hour, the absolute limit only 2 seconds.
    let (store, pool) = store_with(3600, 2).await;
    let mut key = store
        .save(state(&[("visits", "0")]), &TTL)
        .await
        .expect("saved");
    let started = std::time::Instant::now();
    let mut visits = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        visits += 1;
        key = store
            .update(key, state(&[("visits", &visits.to_string())]), &TTL)
            .await
            .expect("updated");
        store.update_ttl(&key, &TTL).await.expect("touched");
        assert!(store.load(&key).await.expect("loads").is_some());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let beyond: bool =
        sqlx::query_scalar("SELECT bool_or(expires_at > absolute_expires_at) FROM sessions")
            .fetch_one(&pool)
            .await
            .expect("query");
    assert!(
        !beyond,
        "activity never pushes expiry past the absolute limit"
    );

    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(store.load(&key).await.expect("loads"), None);
}

#[tokio::test]
async fn expiry_follows_the_database_clock_not_the_apps() {
    // The expiry columns are computed by PostgreSQL's now(): a row says what
    // the database thinks, whatever the clock of the process that wrote it.
    let (store, pool) = store_with(600, 3600).await;
    store.save(state(&[]), &TTL).await.expect("saved");
    let (idle, absolute): (f64, f64) = sqlx::query_as(
        "SELECT extract(epoch FROM expires_at - created_at)::float8,
                extract(epoch FROM absolute_expires_at - created_at)::float8
         FROM sessions",
    )
    .fetch_one(&pool)
    .await
    .expect("one row");
    assert_eq!((idle, absolute), (600.0, 3600.0));
}

#[tokio::test]
async fn reads_extend_the_expiry_only_when_due() {
    // Inactivity 10 s: the touch interval is 1 s.
    let (store, pool) = store_with(10, 86_400).await;
    let key = store
        .save(state(&[("visits", "1")]), &TTL)
        .await
        .expect("saved");
    let expiry = || async {
        sqlx::query_scalar::<_, f64>("SELECT extract(epoch FROM expires_at)::float8 FROM sessions")
            .fetch_one(&pool)
            .await
            .expect("one row")
    };
    let before = expiry().await;
    store.load(&key).await.expect("loads");
    assert_eq!(expiry().await, before, "a read right away writes nothing");

    tokio::time::sleep(Duration::from_millis(1200)).await;
    store.load(&key).await.expect("loads");
    assert!(
        expiry().await > before + 1.0,
        "a later read extends the expiry"
    );
}

#[tokio::test]
async fn a_session_that_is_only_read_stays_alive_past_its_timeout() {
    let (store, _) = store_with(2, 86_400).await;
    let key = store
        .save(state(&[("visits", "1")]), &TTL)
        .await
        .expect("saved");
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(store.load(&key).await.expect("loads").is_some());
    }
}

#[tokio::test]
async fn an_update_writes_the_data_but_leaves_the_expiry_to_load() {
    let (store, pool) = store_with(3600, 86_400).await;
    let key = store
        .save(state(&[("visits", "1")]), &TTL)
        .await
        .expect("saved");
    sqlx::query("UPDATE sessions SET expires_at = now() + interval '30 minutes'")
        .execute(&pool)
        .await
        .expect("age it");
    store
        .update(same_key(&key), state(&[("visits", "2")]), &TTL)
        .await
        .expect("updated");
    let remaining: f64 =
        sqlx::query_scalar("SELECT extract(epoch FROM expires_at - now())::float8 FROM sessions")
            .fetch_one(&pool)
            .await
            .expect("one row");
    assert!(remaining < 1801.0, "update left the expiry alone");
    store.load(&key).await.expect("loads");
    let remaining: f64 =
        sqlx::query_scalar("SELECT extract(epoch FROM expires_at - now())::float8 FROM sessions")
            .fetch_one(&pool)
            .await
            .expect("one row");
    assert!(remaining > 3590.0, "the next load extended it");
}
