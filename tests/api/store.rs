//! `PgSessionStore` on its own, against a real database: every trait method,
//! expiry, pruning, hashing at rest, no resurrection, concurrency.

use std::{collections::HashMap, time::Duration};

use actix_session::storage::{SessionKey, SessionStore};
use session_demo::{
    database::{PoolSettings, connect_and_migrate, connect_options},
    session::{
        ExpiryPolicy, PgSessionStore,
        pool::SessionPool,
        prune::{BATCH_SIZE, PruneOutcome, prune_expired},
    },
};
use sqlx::PgPool;

use crate::helpers::fresh_database_url;

/// The TTL argument of the trait; this store applies its own policy instead.
const TTL: actix_web::cookie::time::Duration = actix_web::cookie::time::Duration::HOUR;

const POOL: PoolSettings = PoolSettings {
    max_connections: 8,
    acquire_timeout: Duration::from_secs(10),
    statement_timeout: Duration::from_secs(10),
};

/// A store on a fresh database, and a plain pool to look into that database.
async fn store_with(inactivity: u64, absolute: u64) -> (PgSessionStore, PgPool) {
    let url = fresh_database_url().await;
    let pool = connect_and_migrate(&url, POOL)
        .await
        .expect("a migrated database");
    let options = connect_options(&url, POOL).expect("options");
    let session_pool = SessionPool::new(options, 8, POOL.acquire_timeout).expect("a pool");
    let policy = ExpiryPolicy {
        inactivity: Duration::from_secs(inactivity),
        absolute: Duration::from_secs(absolute),
    };
    (PgSessionStore::new(session_pool, policy), pool)
}

fn state(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn same_key(key: &SessionKey) -> SessionKey {
    SessionKey::try_from(key.as_ref().to_owned()).expect("a key")
}

#[tokio::test]
async fn save_load_update_update_ttl_and_delete() {
    let (store, pool) = store_with(3600, 86_400).await;
    let original = state(&[("visits", "1"), ("flash", "\"hello\"")]);

    let key = store.save(original.clone(), &TTL).await.expect("saved");
    assert_eq!(store.load(&key).await.expect("loads"), Some(original));

    let changed = state(&[("visits", "2")]);
    let key = store
        .update(key, changed.clone(), &TTL)
        .await
        .expect("updated");
    assert_eq!(store.load(&key).await.expect("loads"), Some(changed));

    sqlx::query("UPDATE sessions SET expires_at = now() + interval '5 seconds'")
        .execute(&pool)
        .await
        .expect("shorten");
    store.update_ttl(&key, &TTL).await.expect("extended");
    let remaining: f64 =
        sqlx::query_scalar("SELECT extract(epoch FROM expires_at - now())::float8 FROM sessions")
            .fetch_one(&pool)
            .await
            .expect("one row");
    assert!(
        remaining > 3500.0,
        "update_ttl moved the expiry an hour out"
    );

    store.delete(&key).await.expect("deleted");
    assert_eq!(store.load(&key).await.expect("loads"), None);
    store.delete(&key).await.expect("deleting twice is fine");
}

#[tokio::test]
async fn an_unknown_key_loads_nothing() {
    let (store, _) = store_with(3600, 86_400).await;
    let key = SessionKey::try_from("f".repeat(64)).expect("a key");
    assert_eq!(store.load(&key).await.expect("loads"), None);
}

#[tokio::test]
async fn an_expired_row_is_never_loaded_even_before_pruning() {
    let (store, pool) = store_with(3600, 86_400).await;
    let key = store
        .save(state(&[("visits", "1")]), &TTL)
        .await
        .expect("saved");
    sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .expect("expire it");

    assert_eq!(store.load(&key).await.expect("loads"), None);
    // Nor can an update or a touch bring it back.
    store
        .update(same_key(&key), state(&[("visits", "2")]), &TTL)
        .await
        .expect("update is a no-op");
    store
        .update_ttl(&key, &TTL)
        .await
        .expect("touch is a no-op");
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
async fn reads_extend_the_expiry_only_when_due() {
    // Inactivity 10 s: a read extends the expiry at most once a second.
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
async fn pruning_deletes_exactly_the_expired_rows() {
    let (store, pool) = store_with(3600, 86_400).await;
    let mut live = Vec::new();
    for _ in 0..5 {
        live.push(
            store
                .save(state(&[("live", "true")]), &TTL)
                .await
                .expect("saved"),
        );
    }
    let expired = BATCH_SIZE as usize * 2 + 7;
    sqlx::query(
        "INSERT INTO sessions (key_hash, state, expires_at, absolute_expires_at)
         SELECT sha256(i::text::bytea), '{}', now() - interval '1 minute', now()
         FROM generate_series(1, $1) AS i",
    )
    .bind(expired as i32)
    .execute(&pool)
    .await
    .expect("expired rows");

    assert_eq!(
        prune_expired(&pool).await.expect("pruned"),
        PruneOutcome::Pruned(expired as u64)
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(left, 5);
    for key in &live {
        assert!(store.load(key).await.expect("loads").is_some());
    }
    assert_eq!(
        prune_expired(&pool).await.expect("pruned"),
        PruneOutcome::Pruned(0)
    );
}

#[tokio::test]
async fn two_pruners_at_once_do_not_collide() {
    let (_, pool) = store_with(3600, 86_400).await;
    let expired = BATCH_SIZE * 5;
    sqlx::query(
        "INSERT INTO sessions (key_hash, state, expires_at, absolute_expires_at)
         SELECT sha256(i::text::bytea), '{}', now() - interval '1 minute', now()
         FROM generate_series(1, $1) AS i",
    )
    .bind(expired as i32)
    .execute(&pool)
    .await
    .expect("expired rows");

    let (a, b) = tokio::join!(prune_expired(&pool), prune_expired(&pool));
    let count = |outcome: PruneOutcome| match outcome {
        PruneOutcome::Pruned(n) => n,
        PruneOutcome::Skipped => 0,
    };
    let total = count(a.expect("first pruner")) + count(b.expect("second pruner"));
    // Whatever one pruner skipped, the other (or the next round) deletes.
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(total + left as u64, expired as u64, "no row deleted twice");
    prune_expired(&pool).await.expect("next round");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(left, 0);
}

#[tokio::test]
async fn the_table_holds_a_digest_of_the_key_never_the_key() {
    let (store, pool) = store_with(3600, 86_400).await;
    let key = store
        .save(state(&[("visits", "1")]), &TTL)
        .await
        .expect("saved");
    let key_text: &str = key.as_ref();

    let (hex, state_text): (String, String) =
        sqlx::query_as("SELECT encode(key_hash, 'hex'), state::text FROM sessions")
            .fetch_one(&pool)
            .await
            .expect("one row");
    assert_ne!(hex, key_text);
    assert!(!state_text.contains(key_text));
    let whole_row: String = sqlx::query_scalar("SELECT sessions::text FROM sessions")
        .fetch_one(&pool)
        .await
        .expect("one row");
    assert!(
        !whole_row.contains(key_text),
        "the key appears nowhere in the row"
    );

    let matches: bool =
        sqlx::query_scalar("SELECT key_hash = sha256(convert_to($1, 'UTF8')) FROM sessions")
            .bind(key_text)
            .fetch_one(&pool)
            .await
            .expect("query");
    assert!(matches, "key_hash is SHA-256 of the key");
}

#[tokio::test]
async fn a_deleted_session_is_never_resurrected() {
    let (store, pool) = store_with(3600, 86_400).await;
    let key = store
        .save(state(&[("secret_note", "\"resurrect me\"")]), &TTL)
        .await
        .expect("saved");

    // A slow request loaded the session...
    let loaded = store.load(&key).await.expect("loads").expect("present");
    // ...meanwhile the user logged out...
    store.delete(&key).await.expect("deleted");
    // ...and then the slow request finishes and writes back what it loaded.
    let returned = store
        .update(same_key(&key), loaded, &TTL)
        .await
        .expect("no error");
    store.update_ttl(&key, &TTL).await.expect("no error");

    let holding: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sessions WHERE state ? 'secret_note'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(holding, 0, "no row holds the deleted data, under any key");
    assert_eq!(store.load(&returned).await.expect("loads"), None);
    assert_eq!(store.load(&key).await.expect("loads"), None);
}

#[tokio::test]
async fn many_concurrent_saves_and_loads_stay_consistent() {
    let (store, pool) = store_with(3600, 86_400).await;
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
                let last = store.load(&key).await.expect("loads").expect("present");
                assert_eq!(last["n"], (i * 100 + 4).to_string());
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("no panic");
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(rows, 64);
}
