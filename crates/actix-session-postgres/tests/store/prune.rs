//! Pruning: exactly the expired rows, in batches, one process at a time.

use actix_session::storage::SessionStore;
use actix_session_postgres::prune::{BATCH_SIZE, LOCK_KEY, PruneOutcome, prune_expired};

use crate::support::{TTL, insert_expired, rows, state, store};

#[tokio::test]
async fn pruning_deletes_exactly_the_expired_rows_over_several_batches() {
    let (store, pool) = store().await;
    let mut live = Vec::new();
    for _ in 0..5 {
        live.push(
            store
                .save(state(&[("live", "true")]), &TTL)
                .await
                .expect("saved"),
        );
    }
    let expired = BATCH_SIZE * 2 + 7;
    insert_expired(&pool, expired).await;

    assert_eq!(
        prune_expired(&pool).await.expect("pruned"),
        PruneOutcome::Pruned(expired as u64)
    );
    assert_eq!(rows(&pool).await, 5);
    for key in &live {
        assert!(store.load(key).await.expect("loads").is_some());
    }
    assert_eq!(
        prune_expired(&pool).await.expect("pruned"),
        PruneOutcome::Pruned(0)
    );
}

#[tokio::test]
async fn a_pruner_that_finds_the_lock_taken_skips_its_round() {
    let (_, pool) = store().await;
    insert_expired(&pool, 10).await;

    // Another process is pruning: it holds the advisory lock in its transaction.
    let mut other = pool.begin().await.expect("a transaction");
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *other)
        .await
        .expect("locked");
    assert_eq!(
        prune_expired(&pool).await.expect("no error"),
        PruneOutcome::Skipped
    );
    assert_eq!(rows(&pool).await, 10, "nothing deleted");

    other.commit().await.expect("released");
    assert_eq!(
        prune_expired(&pool).await.expect("pruned"),
        PruneOutcome::Pruned(10)
    );
}

#[tokio::test]
async fn two_pruners_at_once_never_delete_a_row_twice() {
    let (_, pool) = store().await;
    let expired = BATCH_SIZE * 5;
    insert_expired(&pool, expired).await;

    let (a, b) = tokio::join!(prune_expired(&pool), prune_expired(&pool));
    let count = |outcome: PruneOutcome| match outcome {
        PruneOutcome::Pruned(n) => n,
        PruneOutcome::Skipped => 0,
    };
    let total = count(a.expect("first pruner")) + count(b.expect("second pruner"));
    // Whatever one pruner skipped, the other (or the next round) deletes.
    let left = rows(&pool).await;
    assert_eq!(total + left as u64, expired as u64, "no row deleted twice");
    prune_expired(&pool).await.expect("next round");
    assert_eq!(rows(&pool).await, 0);
}

#[tokio::test]
async fn a_row_a_request_holds_is_stepped_around_and_pruned_later() {
    let (_, pool) = store().await;
    insert_expired(&pool, 3).await;
    let mut request = pool.begin().await.expect("a transaction");
    sqlx::query("SELECT id FROM sessions ORDER BY id LIMIT 1 FOR UPDATE")
        .execute(&mut *request)
        .await
        .expect("row locked");

    assert_eq!(
        prune_expired(&pool).await.expect("pruned"),
        PruneOutcome::Pruned(2),
        "the pruner does not wait for the locked row"
    );
    request.commit().await.expect("released");
    assert_eq!(
        prune_expired(&pool).await.expect("pruned"),
        PruneOutcome::Pruned(1)
    );
}
