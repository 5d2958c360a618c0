//! The store's connection pools: no ping per query, one pool per actix worker.
//!
//! Every request that carries a session runs at least one store query, so this
//! is the hottest path of an app, and it does not use sqlx's `PgPool`: that
//! pool pings each connection it takes back (a bare `Sync` and a wait for the
//! answer), whatever its options, which adds a round trip to every query.
//!
//! The ping is not needed for correctness: a sqlx `PgConnection` finishes any
//! exchange an interrupted query left behind before it sends the next one. So
//! [`SessionPool`] is deadpool's managed pool (a well-kept generic pool) with
//! a small manager that knows how to open a connection and that reusing one
//! needs no check. A connection whose query failed is dropped rather than
//! reused, so after a database restart each stale connection costs one failed
//! request, exactly as with sqlx's pool.
//!
//! [`WorkerPools`] gives each actix worker a pool of its own. Each worker is a
//! thread with a Tokio runtime of its own, and a socket belongs to the runtime
//! that opened it: a connection opened by worker A but used by worker B has
//! A's thread woken for every reply, only to wake B. Keeping each connection
//! on the thread that opened it saves those two thread switches per query.

use std::{
    ops::{Deref, DerefMut},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use deadpool::managed::{self, Metrics, Object, PoolError, RecycleResult};
use sqlx::{Connection, PgConnection, postgres::PgConnectOptions};

/// Opens PostgreSQL connections for the pool, and reuses them without a check.
#[derive(Debug)]
struct PgManager {
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
///
/// Cloning it is cheap: clones share the same connections.
///
/// ```no_run
/// # async fn example() -> Result<(), sqlx::Error> {
/// use std::time::Duration;
/// use actix_session_postgres::SessionPool;
///
/// let options = "postgres://app@localhost/app".parse()?;
/// let pool = SessionPool::new(options, 8, Duration::from_secs(5));
/// let one: i32 = pool
///     .run(async |conn| sqlx::query_scalar("SELECT 1").fetch_one(conn).await)
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SessionPool(managed::Pool<PgManager>);

impl std::fmt::Debug for SessionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SessionPool")
            .field(&self.0.status())
            .finish()
    }
}

/// A connection taken from a [`SessionPool`]; it goes back to the pool when dropped.
///
/// It dereferences to sqlx's `PgConnection`, so queries run on `&mut *connection`.
#[derive(Debug)]
pub struct PooledConnection(Object<PgManager>);

impl Deref for PooledConnection {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.0
    }
}

impl DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.0
    }
}

impl PooledConnection {
    /// Closes the connection instead of handing it back: after a failed query
    /// it may be broken. The pool opens a new one when it needs one.
    pub fn discard(self) {
        drop(Object::take(self.0));
    }
}

impl SessionPool {
    /// A pool of at most `max_size` connections made with `options`; a query
    /// waits at most `acquire_timeout` for one (opening one included).
    /// Connections open on first use, so this needs no database yet.
    pub fn new(options: PgConnectOptions, max_size: usize, acquire_timeout: Duration) -> Self {
        let pool = managed::Pool::builder(PgManager { options })
            .max_size(max_size.max(1))
            .wait_timeout(Some(acquire_timeout))
            .create_timeout(Some(acquire_timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            // The builder's one check, "timeouts need a runtime", holds: one is set above.
            .expect("a pool with a runtime builds");
        Self(pool)
    }

    /// Takes a connection, waiting at most the acquire timeout. Prefer
    /// [`SessionPool::run`], which also drops a connection whose query failed.
    pub async fn acquire(&self) -> Result<PooledConnection, sqlx::Error> {
        self.0
            .get()
            .await
            .map(PooledConnection)
            .map_err(|error| match error {
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
            connection.discard();
        }
        result
    }

    /// Checks that the store can serve from this pool: a connection can be
    /// had, and the `sessions` table and the `touch_session` function are
    /// there with everything the store's queries use. Meant for a health
    /// check, which can call it as often as it likes: it reads no row, so it
    /// neither loads nor creates a session, and it costs one round trip.
    ///
    /// ```no_run
    /// # async fn example(pool: actix_session_postgres::SessionPool) {
    /// let healthy = pool.check_schema().await.is_ok();
    /// # }
    /// ```
    pub async fn check_schema(&self) -> Result<(), sqlx::Error> {
        // Every column and function the store's queries name, read from no
        // row: PostgreSQL still resolves each name and checks the privileges,
        // so a renamed column or a missing function fails here as it would in
        // the store. A simple query (`raw_sql`): nothing is prepared, so the
        // check stays one round trip on a fresh connection too.
        const SCHEMA_CHECK: &str = "
            SELECT id, key_hash, state, created_at, last_seen_at, expires_at,
                   absolute_expires_at, touch_session(key_hash, interval '0')
            FROM sessions
            WHERE false";
        self.run(async |conn| sqlx::raw_sql(SCHEMA_CHECK).execute(conn).await)
            .await
            .map(drop)
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
///
/// Build it outside `HttpServer::new`, and take one pool per worker inside
/// the closure, which actix runs once in each worker thread:
///
/// ```no_run
/// # fn example(options: sqlx::postgres::PgConnectOptions, key: actix_web::cookie::Key) {
/// use std::time::Duration;
/// use actix_session::SessionMiddleware;
/// use actix_session_postgres::{ExpiryPolicy, PgSessionStore, WorkerPools};
/// use actix_web::{App, HttpServer};
///
/// let workers = 4;
/// let pools = WorkerPools::new(options, workers, 16, Duration::from_secs(5));
/// let server = HttpServer::new(move || {
///     let store = PgSessionStore::new(pools.for_new_worker(), ExpiryPolicy::default());
///     App::new().wrap(SessionMiddleware::new(store, key.clone()))
/// })
/// .workers(workers);
/// # }
/// ```
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
    ) -> Self {
        let workers = workers.max(1);
        let each = max_connections.div_ceil(workers).max(1);
        let pools = (0..workers)
            .map(|_| SessionPool::new(options.clone(), each, acquire_timeout))
            .collect();
        Self {
            pools,
            handed_out: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The pool for a worker that is starting: each call hands out the next
    /// pool, in turn. actix builds the app once in each worker thread, so each
    /// worker gets its own. (actix restarts a worker that crashed; the new one
    /// takes the next pool in turn, which a live worker may be using: still
    /// correct, only back to the cost of sharing. A connection of the crashed
    /// worker's runtime fails its next query and is replaced.)
    pub fn for_new_worker(&self) -> SessionPool {
        let next = self.handed_out.fetch_add(1, Ordering::Relaxed);
        let index = next % self.pools.len();
        log::debug!(
            "session pool {index} goes to worker thread {:?}",
            std::thread::current().id()
        );
        self.pools[index].clone()
    }

    /// Every worker's pool.
    pub fn all(&self) -> &[SessionPool] {
        &self.pools
    }

    /// Closes every pool.
    pub fn close(&self) {
        self.pools.iter().for_each(SessionPool::close);
    }
}
