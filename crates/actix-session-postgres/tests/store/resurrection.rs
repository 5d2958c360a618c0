//! A deleted or expired session stays gone, whatever a late request writes.

use actix_session::storage::SessionStore;

use crate::support::{TTL, rows, same_key, state, store};

#[tokio::test]
async fn a_deleted_session_is_never_resurrected() {
    let (store, pool) = store().await;
    let key = store
        .save(state(&[("secret_note", "\"resurrect me\"")]), &TTL)
        .await
        .expect("saved");

    // A slow request loaded the session...
    let mut loaded = store.load(&key).await.expect("loads").expect("present");
    // ...meanwhile the user signed out...
    store.delete(&key).await.expect("deleted");
    // ...and then the slow request finishes and writes back what it loaded,
    // with a change of its own.
    loaded.insert("secret_note".into(), "\"still here?\"".into());
    let returned = store
        .update(same_key(&key), loaded, &TTL)
        .await
        .expect("no error");
    store.update_ttl(&key, &TTL).await.expect("no error");

    assert_eq!(
        rows(&pool).await,
        0,
        "no row holds the deleted data, under any key"
    );
    assert_eq!(store.load(&returned).await.expect("loads"), None);
    assert_eq!(store.load(&key).await.expect("loads"), None);
}

#[tokio::test]
async fn an_expired_session_is_not_revived_by_an_update_or_a_touch() {
    let (store, pool) = store().await;
    let key = store
        .save(state(&[("visits", "1")]), &TTL)
        .await
        .expect("saved");
    sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .expect("expire it");

    store
        .update(same_key(&key), state(&[("visits", "2")]), &TTL)
        .await
        .expect("update is a no-op");
    store
        .update_ttl(&key, &TTL)
        .await
        .expect("touch is a no-op");
    assert_eq!(store.load(&key).await.expect("loads"), None);
    let visits: String = sqlx::query_scalar("SELECT state->>'visits' FROM sessions")
        .fetch_one(&pool)
        .await
        .expect("the expired row, not yet pruned");
    assert_eq!(visits, "1", "the late write changed nothing");
}
