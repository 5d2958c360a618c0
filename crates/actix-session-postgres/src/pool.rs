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
//! reused; when the failure says the connection itself broke (the server
//! went away, or it is a standby since a failover), every connection the pool
//! opened before it is dropped too as it comes back, unused: they lead to the
//! same server. So a restart or a failover costs the requests in flight at
//! that moment, not one failed request per stale idle connection (and the
//! store retries what is safe to retry, see `store.rs`).
//!
//! [`WorkerPools`] gives each actix worker a pool of its own. Each worker is a
//! thread with a Tokio runtime of its own, and a socket belongs to the runtime
//! that opened it: a connection opened by worker A but used by worker B has
//! A's thread woken for every reply, only to wake B. Keeping each connection
//! on the thread that opened it saves those two thread switches per query.

use std::{
    ops::{Deref, DerefMut},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use deadpool::managed::{self, Metrics, Object, PoolError, RecycleError, RecycleResult};
use sqlx::{Connection, PgConnection, postgres::PgConnectOptions};

use crate::{
    error::{StoreError, breaks_connection},
    observe::{self, SharedObserver},
};

/// Opens PostgreSQL connections for the pool, and reuses them without a check.
#[derive(Debug)]
struct PgManager {
    options: PgConnectOptions,
    /// Connections opened before this instant are not reused: one of them
    /// broke (see [`SessionPool::connection_broken`]).
    broken_before: Mutex<Option<Instant>>,
}

impl managed::Manager for PgManager {
    type Type = PgConnection;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<PgConnection, sqlx::Error> {
        PgConnection::connect_with(&self.options).await
    }

    async fn recycle(&self, _: &mut PgConnection, metrics: &Metrics) -> RecycleResult<sqlx::Error> {
        // No ping: see the module documentation. A connection is dropped
        // only if it was opened before another one broke: after a failover
        // every idle connection leads to a server that is gone or demoted,
        // and each would otherwise cost a request a failure to find out.
        let broken_before = *self
            .broken_before
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match broken_before {
            Some(instant) if metrics.created <= instant => Err(RecycleError::message(
                "opened before a connection of this pool broke",
            )),
            _ => Ok(()),
        }
    }
}

/// A pool of PostgreSQL connections without a ping per query.
///
/// Cloning it is cheap: clones share the same connections.
///
/// ```no_run
/// # async fn example() -> Result<(), actix_session_postgres::StoreError> {
/// use std::time::Duration;
/// use actix_session_postgres::SessionPool;
///
/// let options = "postgres://app@localhost/app".parse().expect("a URL");
/// let pool = SessionPool::new(options, 8, Duration::from_secs(5));
/// let one: i32 = pool
///     .run(async |conn| sqlx::query_scalar("SELECT 1").fetch_one(conn).await)
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SessionPool {
    pool: managed::Pool<PgManager>,
    observer: SharedObserver,
}

impl std::fmt::Debug for SessionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SessionPool")
            .field(&self.pool.status())
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

/// How full a [`SessionPool`] is, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// The most connections the pool opens.
    pub max: usize,
    /// Connections open now and idle in the pool.
    pub idle: usize,
    /// Connections open now and in use.
    pub used: usize,
    /// Requests waiting for a connection.
    pub waiting: usize,
}

impl SessionPool {
    /// A pool of at most `max_size` connections made with `options`; taking
    /// one waits at most `acquire_timeout` (and opening one at most as long
    /// again). Connections open on first use, so this needs no database yet.
    ///
    /// A statement on these connections waits for a lock another
    /// transaction holds at most three quarters of `acquire_timeout`
    /// (PostgreSQL's `lock_timeout`, sent in the startup packet: no extra
    /// round trip). The store's statements never wait for a row in a shared
    /// batch (they skip locked rows, see `store.rs`); this bounds the ones
    /// that then wait for their own row, and statements behind a table lock
    /// (a migration, say). Shorter than a request's wait (give the store the
    /// same deadline, see [`PgSessionStore::with_deadline`](crate::PgSessionStore::with_deadline)),
    /// so that such a write fails on the server, certainly not applied,
    /// before its request gives up on it: otherwise it could still commit
    /// after its request was told it failed.
    pub fn new(options: PgConnectOptions, max_size: usize, acquire_timeout: Duration) -> Self {
        let lock_timeout = (acquire_timeout * 3 / 4).as_millis().max(1).to_string();
        let options = options.options([("lock_timeout", lock_timeout.as_str())]);
        let manager = PgManager {
            options,
            broken_before: Mutex::new(None),
        };
        let pool = managed::Pool::builder(manager)
            .max_size(max_size.max(1))
            .wait_timeout(Some(acquire_timeout))
            .create_timeout(Some(acquire_timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            // The builder's one check, "timeouts need a runtime", holds: one is set above.
            .expect("a pool with a runtime builds");
        Self {
            pool,
            observer: observe::none(),
        }
    }

    /// This pool, reporting its waits (and the stores on it, their steps) to `observer`.
    pub fn observed_by(mut self, observer: SharedObserver) -> Self {
        self.observer = observer;
        self
    }

    /// The observer this pool and its stores report to.
    pub fn observer(&self) -> &SharedObserver {
        &self.observer
    }

    /// Takes a connection, waiting at most the acquire timeout. Prefer
    /// [`SessionPool::run`], which also drops a connection whose query failed.
    ///
    /// Fails with [`StoreError::Connect`]: nothing was sent to PostgreSQL.
    pub async fn acquire(&self) -> Result<PooledConnection, StoreError> {
        let started = Instant::now();
        let result = self.pool.get().await;
        match result {
            Ok(connection) => {
                self.observer.acquired(started.elapsed());
                Ok(PooledConnection(connection))
            }
            Err(error) => Err(StoreError::connect(match error {
                PoolError::Timeout(_) => {
                    self.observer.acquire_timed_out();
                    sqlx::Error::PoolTimedOut
                }
                PoolError::Backend(error) => error,
                PoolError::Closed => sqlx::Error::PoolClosed,
                other => sqlx::Error::Configuration(other.to_string().into()),
            })),
        }
    }

    /// Runs `query` on a pooled connection. If it fails, the connection is
    /// closed instead of going back to the pool: it may be broken.
    pub async fn run<T>(
        &self,
        query: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, StoreError> {
        let mut connection = self.acquire().await?;
        let result = query(&mut connection).await;
        result.map_err(|error| {
            self.failed(connection, &error);
            StoreError::statement(error)
        })
    }

    /// Runs `query` on a pooled connection, giving up at `deadline` (then
    /// [`StoreError::Deadline`], reporting `budget`). A connection whose query
    /// failed or ran out of time is closed, never reused: a statement cut
    /// short may still be running on it.
    pub(crate) async fn run_until<T>(
        &self,
        deadline: tokio::time::Instant,
        budget: Duration,
        query: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, StoreError> {
        let mut connection = tokio::time::timeout_at(deadline, self.acquire())
            .await
            .map_err(|_| StoreError::Deadline(budget))??;
        match tokio::time::timeout_at(deadline, query(&mut connection)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => {
                self.failed(connection, &error);
                Err(StoreError::statement(error))
            }
            Err(_elapsed) => {
                connection.discard();
                Err(StoreError::Deadline(budget))
            }
        }
    }

    /// Closes `connection` after its statement failed with `error`; when the
    /// error says the connection itself broke, every connection opened
    /// before it is dropped too as it comes back (see [`PgManager::recycle`]).
    pub(crate) fn failed(&self, connection: PooledConnection, error: &sqlx::Error) {
        if breaks_connection(error) {
            self.connection_broken();
        }
        connection.discard();
    }

    /// Marks every connection open now as suspect: none is reused once it
    /// comes back, new ones are opened instead. Called when a connection
    /// breaks (the server went away, or it is a standby now).
    pub fn connection_broken(&self) {
        let mut broken_before = self
            .pool
            .manager()
            .broken_before
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *broken_before = Some(Instant::now());
    }

    /// Checks that the store can serve from this pool: a connection can be
    /// had, and the `sessions` table and the functions the store calls are
    /// there with everything its queries use. Meant for a health check,
    /// which can call it as often as it likes: it reads no row, so it
    /// neither loads nor creates a session, and it costs one round trip.
    ///
    /// ```no_run
    /// # async fn example(pool: actix_session_postgres::SessionPool) {
    /// let healthy = pool.check_schema().await.is_ok();
    /// # }
    /// ```
    pub async fn check_schema(&self) -> Result<(), StoreError> {
        crate::schema::check(self).await
    }

    /// The most connections this pool opens.
    pub fn max_size(&self) -> usize {
        self.pool.status().max_size
    }

    /// How many connections this pool holds open now (busy or idle).
    pub fn open_connections(&self) -> usize {
        self.pool.status().size
    }

    /// How full the pool is now.
    pub fn status(&self) -> PoolStatus {
        let status = self.pool.status();
        PoolStatus {
            max: status.max_size,
            idle: status.available,
            used: status.size.saturating_sub(status.available),
            waiting: status.waiting,
        }
    }

    /// Closes the pool: idle connections are closed, later queries fail.
    pub fn close(&self) {
        self.pool.close();
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
    /// Pools for `workers` workers sharing `max_connections`, which all of
    /// them together never exceed: one pool per worker, each an equal part
    /// (what does not divide evenly goes one each to the first pools); with
    /// fewer connections than workers, one pool of one connection per
    /// connection, and workers take them in turn.
    pub fn new(
        options: PgConnectOptions,
        workers: usize,
        max_connections: usize,
        acquire_timeout: Duration,
    ) -> Self {
        let max_connections = max_connections.max(1);
        let count = workers.clamp(1, max_connections);
        let (each, extra) = (max_connections / count, max_connections % count);
        let pools = (0..count)
            .map(|index| {
                let size = each + usize::from(index < extra);
                SessionPool::new(options.clone(), size, acquire_timeout)
            })
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

    /// These pools, reporting to `observer` (see [`crate::observe`]).
    pub fn observed_by(self, observer: SharedObserver) -> Self {
        let pools = self
            .pools
            .iter()
            .map(|pool| pool.clone().observed_by(Arc::clone(&observer)))
            .collect();
        Self {
            pools,
            handed_out: self.handed_out,
        }
    }

    /// The most connections all the pools together open.
    pub fn max_connections(&self) -> usize {
        self.pools.iter().map(SessionPool::max_size).sum()
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
