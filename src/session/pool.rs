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
//!
//! There is one such pool per actix worker ([`WorkerPools`]). Each worker is a
//! thread with a Tokio runtime of its own, and a socket belongs to the runtime
//! that opened it: a connection opened by worker A but used by worker B has
//! A's thread woken for every reply, only to wake B. Keeping each connection on
//! the thread that opened it saves those two thread switches per query
//! (measured: `GET /visits` 7,800 -> 9,700 requests per second).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

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

    /// The most connections this pool opens.
    pub fn max_size(&self) -> usize {
        self.0.status().max_size
    }

    /// How many connections this pool holds open now (busy or idle).
    pub fn open_connections(&self) -> usize {
        self.0.status().size
    }

    /// Closes the pool: idle connections are closed, later queries fail.
    pub fn close(&self) {
        self.0.close();
    }
}

/// One [`SessionPool`] for each actix worker, so that a connection is only
/// ever used by the thread that opened it (see the module documentation).
#[derive(Clone, Debug)]
pub struct WorkerPools {
    pools: Arc<[SessionPool]>,
    handed_out: Arc<AtomicUsize>,
}

impl WorkerPools {
    /// `workers` pools sharing `max_connections` (each gets an equal part,
    /// rounded up, and at least one connection).
    pub fn new(
        options: PgConnectOptions,
        workers: usize,
        max_connections: usize,
        acquire_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let workers = workers.max(1);
        let each = max_connections.div_ceil(workers).max(1);
        let pools = (0..workers)
            .map(|_| SessionPool::new(options.clone(), each, acquire_timeout))
            .collect::<anyhow::Result<Arc<[_]>>>()?;
        Ok(Self {
            pools,
            handed_out: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The pool for a worker that is starting: each call hands out the next
    /// pool, in turn. actix builds the app once in each worker thread, so each
    /// worker gets its own. (actix restarts a worker that crashed; the new one
    /// takes the next pool in turn, which a live worker may be using: still
    /// correct, only back to the cost of sharing. A connection of the crashed
    /// worker's runtime fails its next query, a 503, and is replaced.)
    pub fn for_new_worker(&self) -> SessionPool {
        let next = self.handed_out.fetch_add(1, Ordering::Relaxed);
        let index = next % self.pools.len();
        log::debug!(
            "session pool {index} goes to worker thread {:?}",
            std::thread::current().id()
        );
        self.pools[index].clone()
    }

    /// Every worker's pool (tests hold all their connections).
    pub fn all(&self) -> &[SessionPool] {
        &self.pools
    }

    /// Closes every pool.
    pub fn close(&self) {
        self.pools.iter().for_each(SessionPool::close);
    }
}
