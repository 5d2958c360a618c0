//! The session store's connection pool.
//!
//! Every request that carries a session runs at least one store query, so this
//! is the hottest path of the app, and it does not use sqlx's `PgPool`: that
//! pool pings each connection it takes back (a bare `Sync` and a wait for the
//! answer, `return_to_pool` in sqlx-core), whatever its options, which adds a
//! round trip to every query. Measured with `scripts/bench.sh`, dropping it is
//! worth more throughput than anything else the store could do.
//!
//! The ping is not needed for correctness: a sqlx `PgConnection` finishes any
//! exchange an interrupted query left behind before it sends the next one. So
//! the store uses deadpool's managed pool (a well-kept generic pool) with the
//! small [`PgManager`] below: it knows how to open a connection and that
//! reusing one needs no check. A connection whose query failed is dropped
//! rather than reused, so after a database restart each stale connection costs
//! one failed request (a 503), exactly as with sqlx's pool.

use std::time::Duration;

use deadpool::managed::{self, Metrics, Object, PoolError, RecycleResult};
use sqlx::{Connection, PgConnection, postgres::PgConnectOptions};

/// Opens PostgreSQL connections for the pool.
#[derive(Debug)]
pub struct PgManager {
    options: PgConnectOptions,
}

impl managed::Manager for PgManager {
    type Type = PgConnection;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<PgConnection, sqlx::Error> {
        PgConnection::connect_with(&self.options).await
    }

    async fn recycle(&self, _: &mut PgConnection, _: &Metrics) -> RecycleResult<sqlx::Error> {
        // No ping: see the module documentation.
        Ok(())
    }
}

/// A pool of PostgreSQL connections without a ping per query.
#[derive(Clone)]
pub struct SessionPool(managed::Pool<PgManager>);

impl std::fmt::Debug for SessionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SessionPool")
            .field(&self.0.status())
            .finish()
    }
}

impl SessionPool {
    /// A pool of at most `max_size` connections made with `options`; a query
    /// waits at most `acquire_timeout` for one. Connections open on first use.
    pub fn new(
        options: PgConnectOptions,
        max_size: usize,
        acquire_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let pool = managed::Pool::builder(PgManager { options })
            .max_size(max_size)
            .wait_timeout(Some(acquire_timeout))
            .create_timeout(Some(acquire_timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()?;
        Ok(Self(pool))
    }

    /// Takes a connection, waiting at most the acquire timeout; it goes back to
    /// the pool when dropped. Prefer [`SessionPool::run`].
    pub async fn acquire(&self) -> Result<Object<PgManager>, sqlx::Error> {
        self.0.get().await.map_err(|error| match error {
            PoolError::Timeout(_) => sqlx::Error::PoolTimedOut,
            PoolError::Backend(error) => error,
            PoolError::Closed => sqlx::Error::PoolClosed,
            other => sqlx::Error::Configuration(other.to_string().into()),
        })
    }

    /// Runs `query` on a pooled connection. If it fails, the connection is
    /// closed instead of going back to the pool: it may be broken.
    pub async fn run<T>(
        &self,
        query: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        let mut connection = self.acquire().await?;
        let result = query(&mut connection).await;
        if result.is_err() {
            drop(Object::take(connection));
        }
        result
    }

    /// Closes the pool: idle connections are closed, later queries fail.
    pub fn close(&self) {
        self.0.close();
    }
}
