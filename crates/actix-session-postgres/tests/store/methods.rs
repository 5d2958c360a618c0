//! Every method of actix-session's `SessionStore`, one after another.

use actix_session::storage::{SessionKey, SessionStore};
use serde_json::Value;

use crate::support::{TTL, rows, state, store, visible};

#[tokio::test]
async fn save_load_update_update_ttl_and_delete_do_what_actix_session_expects() {
    let (store, pool) = store().await;
    let original = state(&[("visits", "1"), ("flash", "\"hello\"")]);

    let key = store.save(original.clone(), &TTL).await.expect("saved");
    assert_eq!(
        visible(store.load(&key).await.expect("loads")),
        Some(original)
    );

    let changed = state(&[("visits", "2")]);
    let key = store
        .update(key, changed.clone(), &TTL)
        .await
        .expect("updated");
    assert_eq!(
        visible(store.load(&key).await.expect("loads")),
        Some(changed)
    );

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
    assert_eq!(rows(&pool).await, 0);
}

#[tokio::test]
async fn an_unknown_key_loads_nothing() {
    let (store, _) = store().await;
    let key = SessionKey::try_from("f".repeat(64)).expect("a key");
    assert_eq!(store.load(&key).await.expect("loads"), None);
}

#[tokio::test]
async fn the_store_chooses_a_new_random_key_for_every_session() {
    let (store, _) = store().await;
    let a = store.save(state(&[]), &TTL).await.expect("saved");
    let b = store.save(state(&[]), &TTL).await.expect("saved");
    assert_ne!(a.as_ref(), b.as_ref());
    assert_eq!(a.as_ref().len(), 64);
    assert!(a.as_ref().chars().all(|c| c.is_ascii_hexdigit()));
}

#[tokio::test]
async fn the_data_is_one_readable_json_object() {
    let (store, pool) = store().await;
    store
        .save(
            state(&[("visits", "3"), ("name", "\"Ada\""), ("cart", "[1,2]")]),
            &TTL,
        )
        .await
        .expect("saved");
    let column: Value = serde_json::from_str(
        &sqlx::query_scalar::<_, String>("SELECT state::text FROM sessions")
            .fetch_one(&pool)
            .await
            .expect("one row"),
    )
    .expect("JSON");
    assert_eq!(
        column,
        serde_json::json!({"visits": 3, "name": "Ada", "cart": [1, 2]})
    );
}
