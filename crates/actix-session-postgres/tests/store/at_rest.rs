//! What the table holds: a digest of the key, never the key.

use actix_session::storage::SessionStore;

use crate::support::{TTL, state, store};

#[tokio::test]
async fn the_table_holds_a_digest_of_the_key_never_the_key() {
    let (store, pool) = store().await;
    let key = store
        .save(state(&[("visits", "1")]), &TTL)
        .await
        .expect("saved");
    let key_text: &str = key.as_ref();

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
    assert_eq!(
        actix_session_postgres::key::digest(key_text).to_vec(),
        sqlx::query_scalar::<_, Vec<u8>>("SELECT key_hash FROM sessions")
            .fetch_one(&pool)
            .await
            .expect("one row")
    );
}

#[tokio::test]
async fn a_digest_copied_from_the_table_does_not_open_the_session() {
    let (store, pool) = store().await;
    store
        .save(state(&[("visits", "1")]), &TTL)
        .await
        .expect("saved");
    let digest: String = sqlx::query_scalar("SELECT encode(key_hash, 'hex') FROM sessions")
        .fetch_one(&pool)
        .await
        .expect("one row");
    // Presented as a key, the stored digest is hashed again and finds nothing.
    let stolen = actix_session::storage::SessionKey::try_from(digest).expect("a key");
    assert_eq!(store.load(&stolen).await.expect("loads"), None);
}
