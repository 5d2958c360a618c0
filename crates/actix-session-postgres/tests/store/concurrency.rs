//! Many sessions at once, concurrent requests of one session, a sign-out
//! racing a write or a sign-in, and a row held by someone else.

use std::time::{Duration, Instant};

use actix_session::storage::{SessionKey, SessionStore};
use actix_session_postgres::{ExpiryPolicy, PgSessionStore, SessionPool};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{TTL, migrated_database, rows, same_key, state, store, visible};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_sessions_each_see_their_own_last_write() {
    let (store, pool) = store().await;
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut key = store
                    .save(state(&[("n", &i.to_string())]), &TTL)
                    .await
                    .expect("saved");
                let mut expected = i.to_string();
                for step in 0..5 {
                    let loaded = store.load(&key).await.expect("loads").expect("present");
                    assert_eq!(
                        loaded["n"], expected,
                        "each session sees its own last write"
                    );
                    expected = (i * 100 + step).to_string();
                    key = store
                        .update(key, state(&[("n", &expected)]), &TTL)
                        .await
                        .expect("updated");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("no panic");
    }
    assert_eq!(rows(&pool).await, 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_racing_a_delete_never_leave_a_row_behind() {
    let (store, pool) = store().await;
    for round in 0..20 {
        let key = store
            .save(state(&[("round", "0")]), &TTL)
            .await
            .expect("saved");
        let writers: Vec<_> = (0..4)
            .map(|n| {
                let (store, key) = (store.clone(), same_key(&key));
                tokio::spawn(async move {
                    store
                        .update(key, state(&[("round", &n.to_string())]), &TTL)
                        .await
                        .expect("no error")
                })
            })
            .collect();
        store.delete(&key).await.expect("deleted");
        for writer in writers {
            writer.await.expect("no panic");
        }
        assert_eq!(
            rows(&pool).await,
            0,
            "round {round}: the deleted session stayed deleted"
        );
    }
}

/// One request of a visit counter: load, add one, write back, as a handler does.
async fn count_one_visit(store: &PgSessionStore, key: &SessionKey) {
    let mut state = store.load(key).await.expect("loads").expect("present");
    let visits: u64 = state
        .get("visits")
        .map_or(0, |v| v.parse().expect("a number"));
    state.insert("visits".into(), (visits + 1).to_string());
    store
        .update(same_key(key), state, &TTL)
        .await
        .expect("updated");
}

async fn stored_visits(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT (state->>'visits')::bigint FROM sessions")
        .fetch_one(pool)
        .await
        .expect("one session")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_visits_of_one_session_add_fifty() {
    let (store, pool) = store().await;
    let store = store.with_counters(["visits"]);
    let key = store
        .save(state(&[("visits", "1")]), &TTL)
        .await
        .expect("saved");
    let visits: Vec<_> = (0..50)
        .map(|_| {
            let (store, key) = (store.clone(), same_key(&key));
            tokio::spawn(async move { count_one_visit(&store, &key).await })
        })
        .collect();
    for visit in visits {
        visit.await.expect("no panic");
    }
    assert_eq!(stored_visits(&pool).await, 51);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_visits_through_two_processes_pools_add_up() {
    // Two stores on pools of their own stand for two app processes sharing
    // the database: only PostgreSQL sees both.
    let (url, pool) = migrated_database().await;
    let store = |connections| {
        let pool = SessionPool::new(
            url.parse().expect("a URL"),
            connections,
            Duration::from_secs(10),
        );
        PgSessionStore::new(pool, ExpiryPolicy::default()).with_counters(["visits"])
    };
    let (one, two) = (store(2), store(2));
    let key = one
        .save(state(&[("visits", "1")]), &TTL)
        .await
        .expect("saved");
    let visits: Vec<_> = (0..50)
        .map(|i| {
            let store = if i % 2 == 0 { one.clone() } else { two.clone() };
            let key = same_key(&key);
            tokio::spawn(async move { count_one_visit(&store, &key).await })
        })
        .collect();
    for visit in visits {
        visit.await.expect("no panic");
    }
    assert_eq!(stored_visits(&pool).await, 51);
}

#[tokio::test]
async fn two_requests_that_change_different_values_both_keep_their_change() {
    let (store, pool) = store().await;
    let key = store
        .save(state(&[("theme", "\"light\""), ("flash", "\"hi\"")]), &TTL)
        .await
        .expect("saved");
    // Both load before either writes, as two overlapping requests do.
    let mut first = store.load(&key).await.expect("loads").expect("present");
    let mut second = store.load(&key).await.expect("loads").expect("present");
    first.insert("theme".into(), "\"dark\"".into());
    second.insert("cart_id".into(), "\"c-1\"".into());
    second.remove("flash");
    store
        .update(same_key(&key), first, &TTL)
        .await
        .expect("first");
    store
        .update(same_key(&key), second, &TTL)
        .await
        .expect("second");

    let stored: Value = sqlx::query_scalar("SELECT state FROM sessions")
        .fetch_one(&pool)
        .await
        .expect("the session");
    assert_eq!(stored, json!({"theme": "dark", "cart_id": "c-1"}));
}

#[tokio::test]
async fn a_request_that_cleared_the_session_replaces_it() {
    let (store, pool) = store().await;
    let key = store
        .save(state(&[("theme", "\"light\""), ("visits", "3")]), &TTL)
        .await
        .expect("saved");
    store.load(&key).await.expect("loads");
    // actix-session's `clear()` empties the state, the store's snapshot too.
    store
        .update(same_key(&key), state(&[("visits", "1")]), &TTL)
        .await
        .expect("updated");
    let stored: Value = sqlx::query_scalar("SELECT state FROM sessions")
        .fetch_one(&pool)
        .await
        .expect("the session");
    assert_eq!(stored, json!({"visits": 1}));
}

#[tokio::test]
async fn a_sign_in_that_renews_a_session_signed_out_meanwhile_brings_nothing_back() {
    let (store, pool) = store().await;
    let key = store
        .save(state(&[("cart_id", "\"c-1\"")]), &TTL)
        .await
        .expect("saved");
    // A slow sign-in loaded the session...
    let mut signing_in = store.load(&key).await.expect("loads").expect("present");
    // ...the user signed out in another tab...
    store.delete(&key).await.expect("signed out");
    // ...then the sign-in renews the key, as actix-session does: delete the
    // old key, save the data under a new one.
    signing_in.insert("user_id".into(), "1".into());
    store.delete(&key).await.expect("the old key");
    let new_key = store.save(signing_in, &TTL).await.expect("no error");

    assert_eq!(rows(&pool).await, 0, "nothing came back, under any key");
    assert_eq!(store.load(&new_key).await.expect("loads"), None);
}

#[tokio::test]
async fn a_sign_in_that_renews_a_live_session_moves_its_data_to_the_new_key() {
    let (store, pool) = store().await;
    let key = store
        .save(state(&[("cart_id", "\"c-1\"")]), &TTL)
        .await
        .expect("saved");
    let mut signing_in = store.load(&key).await.expect("loads").expect("present");
    signing_in.insert("user_id".into(), "1".into());
    store.delete(&key).await.expect("the old key");
    let new_key = store.save(signing_in, &TTL).await.expect("saved");

    assert_eq!(rows(&pool).await, 1);
    assert_eq!(
        store.load(&key).await.expect("loads"),
        None,
        "the old key is dead"
    );
    let moved = visible(store.load(&new_key).await.expect("loads")).expect("present");
    assert_eq!(moved, state(&[("cart_id", "\"c-1\""), ("user_id", "1")]));
}

#[tokio::test]
async fn stored_data_that_is_not_an_object_starts_a_fresh_session_and_is_deleted() {
    let (store, pool) = store().await;
    for odd in ["[1, 2]", "\"text\"", "42", "null"] {
        let key = store
            .save(state(&[("visits", "1")]), &TTL)
            .await
            .expect("saved");
        sqlx::query("UPDATE sessions SET state = $1::jsonb")
            .bind(odd)
            .execute(&pool)
            .await
            .expect("odd data, as by hand");
        assert_eq!(store.load(&key).await.expect("no error"), None, "{odd}");
        assert_eq!(rows(&pool).await, 0, "{odd}: the unreadable row is gone");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_held_by_another_transaction_costs_only_its_own_session() {
    // Requests wait at most two seconds, as long as for a connection.
    let deadline = Duration::from_secs(2);
    let (url, pool) = migrated_database().await;
    let sessions = SessionPool::new(url.parse().expect("a URL"), 8, deadline);
    let store = PgSessionStore::new(sessions, ExpiryPolicy::default()).with_deadline(deadline);
    let mut keys = Vec::new();
    for i in 0..20 {
        let key = store
            .save(state(&[("n", &i.to_string())]), &TTL)
            .await
            .expect("saved");
        keys.push(key);
    }
    // Someone holds the first session's row and does not let go.
    let mut holder = pool.begin().await.expect("a transaction");
    sqlx::query("SELECT 1 FROM sessions WHERE state->>'n' = '0' FOR UPDATE")
        .execute(&mut *holder)
        .await
        .expect("locked");

    let writes: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let (store, key) = (store.clone(), same_key(key));
            tokio::spawn(async move {
                let started = Instant::now();
                let mut loaded = store.load(&key).await.expect("a read never waits");
                let mut loaded = loaded.take().expect("present");
                loaded.insert("n".into(), format!("{}", 100 + i));
                let written = store.update(key, loaded, &TTL).await;
                (i, written.is_ok(), started.elapsed())
            })
        })
        .collect();
    let mut slowest_other = Duration::ZERO;
    for write in writes {
        let (i, ok, took) = write.await.expect("no panic");
        if i == 0 {
            assert!(!ok, "the held row's own write gives up");
            assert!(
                took < deadline * 2,
                "it gives up at its deadline, not when the row is let go: {took:?}"
            );
        } else {
            assert!(ok, "session {i} is written");
            slowest_other = slowest_other.max(took);
        }
    }
    assert!(
        slowest_other < deadline / 2,
        "the other sessions did not wait for the held row: the slowest took {slowest_other:?}"
    );
    holder.rollback().await.expect("let go");
    let written: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sessions WHERE (state->>'n')::int >= 100")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(
        written, 19,
        "the held row's write gave up on the server too (its lock timeout is \
         shorter than the deadline), so it did not land once the row was let go"
    );
}
