//! Many sessions at once, and a sign-out racing a write.

use actix_session::storage::SessionStore;

use crate::support::{TTL, rows, same_key, state, store};

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
