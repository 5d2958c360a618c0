//! The store's pools: a broken connection is not reused, the budget is shared
//! out among the workers, and connections open only when needed.

use std::time::Duration;

use actix_session_postgres::{SessionPool, StoreError, WorkerPools};
use sqlx::postgres::PgConnectOptions;

use crate::support::migrated_database;

async fn options() -> PgConnectOptions {
    let (url, _) = migrated_database().await;
    url.parse().expect("a URL")
}

#[tokio::test]
async fn a_connection_whose_query_failed_is_closed_not_reused() {
    let pool = SessionPool::new(options().await, 2, Duration::from_secs(5));
    assert_eq!(pool.open_connections(), 0, "connections open on first use");

    let one: i32 = pool
        .run(async |conn| sqlx::query_scalar("SELECT 1").fetch_one(conn).await)
        .await
        .expect("a query");
    assert_eq!((one, pool.open_connections()), (1, 1));

    let failed = pool
        .run(async |conn| {
            sqlx::query("SELECT * FROM no_such_table")
                .execute(conn)
                .await
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(
        pool.open_connections(),
        0,
        "the failed connection was closed"
    );
}

#[tokio::test]
async fn a_pool_waits_at_most_its_acquire_timeout() {
    let pool = SessionPool::new(options().await, 1, Duration::from_millis(200));
    let held = pool.acquire().await.expect("the only connection");
    let started = std::time::Instant::now();
    let error = pool.acquire().await.expect_err("none left");
    assert!(
        matches!(&error, StoreError::Connect(cause) if matches!(**cause, sqlx::Error::PoolTimedOut)),
        "{error:?}"
    );
    assert!(error.is_unavailable(), "a 503, not a 500");
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(held);
    assert!(pool.acquire().await.is_ok(), "free again once returned");
}

#[tokio::test]
async fn workers_share_the_connection_budget_and_each_gets_its_own_pool() {
    let pools = WorkerPools::new(options().await, 3, 8, Duration::from_secs(5));
    assert_eq!(pools.all().len(), 3);
    let sizes: Vec<usize> = pools.all().iter().map(SessionPool::max_size).collect();
    assert_eq!(sizes, [3, 3, 2], "8 over 3: never more than 8 in all");

    let first = pools.for_new_worker();
    let second = pools.for_new_worker();
    first.acquire().await.expect("a connection");
    assert_eq!(first.open_connections(), 1);
    assert_eq!(second.open_connections(), 0, "another worker's pool");

    pools.close();
    assert!(first.acquire().await.is_err(), "closed pools refuse");
}

#[tokio::test]
async fn the_budget_is_a_ceiling_whatever_the_number_of_workers() {
    let options = options().await;
    for (workers, budget) in [(8, 4), (8, 8), (8, 20), (16, 4), (16, 16), (16, 50)] {
        let pools = WorkerPools::new(options.clone(), workers, budget, Duration::from_secs(5));
        assert_eq!(
            pools.max_connections(),
            budget,
            "{workers} workers, {budget} connections"
        );
        assert!(pools.all().len() <= workers.min(budget));
        // Every worker gets a pool, in turn, even with fewer pools than workers.
        for _ in 0..workers {
            assert!(pools.for_new_worker().max_size() >= 1);
        }
    }
}
