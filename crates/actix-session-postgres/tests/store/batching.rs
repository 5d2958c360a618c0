//! Concurrent requests share statements, and one bad job fails only itself.
//!
//! A row's `xmin` is the transaction that wrote it, so rows written by one
//! statement (outside `BEGIN`, a statement is a transaction) share it.

use std::time::Duration;

use actix_session::storage::{SessionKey, SessionStore};
use actix_session_postgres::{ExpiryPolicy, PgSessionStore, SessionPool};
use sqlx::PgPool;
use tokio::task::JoinSet;

use crate::support::{TTL, migrated_database, rows, same_key, state};

/// A store whose pool has one connection, so concurrent work must queue.
async fn store_on_one_connection() -> (PgSessionStore, PgPool) {
    let (url, pool) = migrated_database().await;
    let sessions = SessionPool::new(url.parse().expect("a URL"), 1, Duration::from_secs(10));
    (PgSessionStore::new(sessions, ExpiryPolicy::default()), pool)
}

/// How many transactions wrote the rows the table holds now.
async fn writing_transactions(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(DISTINCT xmin::text) FROM sessions")
        .fetch_one(pool)
        .await
        .expect("count")
}

/// Saves `count` sessions at once, `{"n": i}` each.
async fn save_many(store: &PgSessionStore, count: usize) -> Vec<SessionKey> {
    let mut saves = JoinSet::new();
    for i in 0..count {
        let store = store.clone();
        saves.spawn(async move { store.save(state(&[("n", &i.to_string())]), &TTL).await });
    }
    let keys: Vec<SessionKey> = saves
        .join_all()
        .await
        .into_iter()
        .map(|saved| saved.expect("saved"))
        .collect();
    assert_eq!(keys.len(), count);
    keys
}

#[tokio::test]
async fn concurrent_new_sessions_share_insert_statements() {
    let (store, pool) = store_on_one_connection().await;
    save_many(&store, 50).await;
    assert_eq!(rows(&pool).await, 50);
    let transactions = writing_transactions(&pool).await;
    assert!(
        transactions <= 5,
        "50 saves queued for one connection took {transactions} INSERTs"
    );
}

#[tokio::test]
async fn concurrent_writes_share_update_statements_and_each_lands() {
    let (store, pool) = store_on_one_connection().await;
    let keys = save_many(&store, 50).await;

    let mut updates = JoinSet::new();
    for (i, key) in keys.iter().enumerate() {
        let (store, key) = (store.clone(), same_key(key));
        updates.spawn(async move {
            store
                .update(key, state(&[("n", &format!("{}", 1000 + i))]), &TTL)
                .await
        });
    }
    for updated in updates.join_all().await {
        updated.expect("updated");
    }
    let transactions = writing_transactions(&pool).await;
    assert!(
        transactions <= 5,
        "50 updates queued for one connection took {transactions} UPDATEs"
    );

    let mut loads = JoinSet::new();
    for (i, key) in keys.iter().enumerate() {
        let (store, key) = (store.clone(), same_key(key));
        loads.spawn(async move { (i, store.load(&key).await) });
    }
    for (i, loaded) in loads.join_all().await {
        let loaded = loaded.expect("loads").expect("present");
        assert_eq!(
            loaded["n"],
            (1000 + i).to_string(),
            "session {i} has its own write"
        );
    }
}

#[tokio::test]
async fn two_writes_of_one_session_in_one_batch_keep_the_later() {
    let (store, pool) = store_on_one_connection().await;
    let key = store.save(state(&[("n", "0")]), &TTL).await.expect("saved");

    // Queued in this order behind the first, which takes the connection.
    let mut updates = JoinSet::new();
    for n in 1..=20 {
        let (store, key) = (store.clone(), same_key(&key));
        updates.spawn(async move {
            store
                .update(key, state(&[("n", &n.to_string())]), &TTL)
                .await
        });
    }
    for updated in updates.join_all().await {
        updated.expect("updated");
    }
    let loaded = store.load(&key).await.expect("loads").expect("present");
    assert_eq!(loaded["n"], "20", "the last write queued is the one kept");
    assert_eq!(rows(&pool).await, 1);
}

#[tokio::test]
async fn a_job_that_fails_its_batch_fails_alone() {
    let (store, pool) = store_on_one_connection().await;
    // A rule only one session's data breaks: its row cannot be written.
    sqlx::query("ALTER TABLE sessions ADD CONSTRAINT no_poison CHECK (NOT state ? 'poison')")
        .execute(&pool)
        .await
        .expect("a constraint");

    let mut saves = JoinSet::new();
    for i in 0..30 {
        let store = store.clone();
        let name = if i == 17 { "poison" } else { "n" };
        saves.spawn(async move { (i, store.save(state(&[(name, "1")]), &TTL).await) });
    }
    let mut keys = Vec::new();
    for (i, saved) in saves.join_all().await {
        match saved {
            Ok(key) => keys.push(key),
            Err(error) => assert_eq!(i, 17, "session {i} failed: {error}"),
        }
    }
    assert_eq!(keys.len(), 29, "every other new session is stored");
    assert_eq!(rows(&pool).await, 29);

    // The same for writes: one poisoned update, 28 good ones, in one queue.
    let mut updates = JoinSet::new();
    for (i, key) in keys.iter().enumerate() {
        let (store, key) = (store.clone(), same_key(key));
        let name = if i == 5 { "poison" } else { "n" };
        updates.spawn(async move { (i, store.update(key, state(&[(name, "2")]), &TTL).await) });
    }
    for (i, updated) in updates.join_all().await {
        assert_eq!(
            updated.is_err(),
            i == 5,
            "only the poisoned write fails ({i})"
        );
    }
    let written: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sessions WHERE state = '{\"n\": 2}'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(written, 28);
}
