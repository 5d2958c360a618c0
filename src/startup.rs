//! `Application::build`: from settings to a running server. `main` and every
//! test call it, so the tests exercise exactly what production runs.

use std::{net::TcpListener, path::PathBuf, sync::Arc};

use actix_web::{App, HttpServer, cookie::Key, dev::Server, middleware::from_fn, web};
use anyhow::Context;
use sqlx::{PgPool, postgres::PgPoolOptions};
use tokio::{sync::watch, task::JoinHandle};

use actix_session_postgres::{ExpiryPolicy, PgSessionStore, WorkerPools};
#[cfg(feature = "dev-postgres")]
use dev_postgres::{DevPostgres, DevPostgresOptions};

use crate::{
    access_log::access_log,
    auth::{device::DeviceCookies, password, throttle, users},
    config::Settings,
    cookie_header::keep_readable_cookies,
    database::{self, PoolSettings},
    forms::BodyTimeout,
    headers, housekeeping,
    instance::{self, Draining},
    random::random_hex,
    request_limits::limit_request_head,
    routes::{self, error_page::render_error_pages, login::DemoAccount},
    session::{
        current::SessionCookie,
        middleware::{CookieSettings, session_middleware, store_errors_as_pages},
        rotation::{SecretRotation, reissue_old_cookies},
    },
};

/// The static files served under `/static`.
fn static_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("static")
}

/// A built, listening application, ready to run.
pub struct Application {
    port: u16,
    server: Server,
    pool: PgPool,
    session_pools: WorkerPools,
    pruner: JoinHandle<()>,
    stop_pruner: watch::Sender<bool>,
    /// The private PostgreSQL started because `DATABASE_URL` is unset.
    #[cfg(feature = "dev-postgres")]
    dev_postgres: Option<DevPostgres>,
}

impl Application {
    /// Connects to (or starts) PostgreSQL, migrates it, binds the listener and
    /// builds the server. Nothing is served until [`Application::run_until_stopped`].
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // Without DATABASE_URL (development), the app starts a PostgreSQL of its own.
        #[cfg(feature = "dev-postgres")]
        let (database_url, dev_postgres) = match &settings.database_url {
            Some(url) => (url.expose().to_owned(), None),
            None => {
                let server = start_dev_postgres(&settings).await?;
                (server.url("session_demo"), Some(server))
            }
        };
        #[cfg(not(feature = "dev-postgres"))]
        let database_url = settings
            .database_url
            .as_ref()
            .map(|url| url.expose().to_owned())
            .context("DATABASE_URL: required (this build has no private development PostgreSQL)")?;
        // One worker per CPU (actix's default, made explicit because each
        // worker gets a session pool of its own: see actix_session_postgres::pool).
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        let budget = ConnectionBudget::split(settings.database_max_connections, workers);
        log::info!(
            "at most {} PostgreSQL connections: {} shared, {} per worker for the pages, \
             {} session pool(s) of {}",
            settings.database_max_connections,
            budget.shared,
            budget.pages_per_worker,
            budget.session_pools,
            budget.per_session_pool
        );
        let pool_settings = PoolSettings {
            max_connections: budget.shared,
            acquire_timeout: settings.database_acquire_timeout,
            statement_timeout: settings.database_statement_timeout,
        };
        // Two pools on one database: sqlx's for the pages' queries and the
        // migrations, and the session store's own, which skips sqlx's ping per
        // query on the hottest path (see actix_session_postgres::pool).
        let pool = database::connect_and_migrate(&database_url, pool_settings).await?;
        let mut session_options = database::connect_options(&database_url, pool_settings)?;
        if !settings.session_synchronous_commit {
            // Opt-in: session writes stop waiting for the disk (see config.rs).
            session_options = session_options.options([("synchronous_commit", "off")]);
        }
        let session_pools = WorkerPools::new(
            session_options,
            budget.session_pools,
            budget.session_pools * budget.per_session_pool,
            settings.database_acquire_timeout,
        );
        let policy = ExpiryPolicy {
            inactivity: settings.session_ttl,
            absolute: settings.session_absolute_ttl,
        };

        let key = cookie_key(&settings)?;
        let cookie = CookieSettings {
            name: settings.cookie_name().into(),
            secure: settings.cookie_secure,
        };

        let demo = if settings.is_production() {
            DemoAccount(None)
        } else {
            users::ensure_demo_user(&pool).await?;
            DemoAccount(Some((
                users::DEMO_USERNAME.into(),
                users::DEMO_PASSWORD.into(),
            )))
        };
        password::warm_up().await;
        // Two limiters, two buckets per address: signing up does not use up
        // an address's sign-in attempts, nor the other way round.
        let address_limiter = || {
            throttle::address_limiter(settings.address_limit)
                .context("the per-address limit needs a burst and a period above zero")
        };
        let address_limits = routes::AddressLimits {
            login: address_limiter()?,
            register: address_limiter()?,
        };
        // The per-address limiter reads it to find the client behind a proxy.
        let trusted_proxies = settings.trusted_proxies.clone();
        let instance_name = instance::header_value(settings.instance_name.as_deref());
        let draining = Draining::default();
        let rotation = settings.session_secret_previous.as_ref().map(|previous| {
            Arc::new(SecretRotation {
                cookie_name: cookie.name.clone(),
                current: key.clone(),
                previous: Key::derive_from(previous.expose().as_bytes()),
                secure: cookie.secure,
            })
        });
        let session_cookie = SessionCookie {
            name: cookie.name.clone(),
            key: key.clone(),
        };
        let device_cookies =
            DeviceCookies::new(key.clone(), cookie.secure, settings.is_production());

        let listener = TcpListener::bind(settings.bind_addr)
            .with_context(|| format!("binding {}", settings.bind_addr))?;
        let address = listener.local_addr()?;
        log::info!("listening on http://{address}");

        let production = settings.is_production();
        // A store step (queue, statement and retries together) waits at most
        // as long as a request may wait for a connection.
        let store_deadline = settings.database_acquire_timeout;
        let body_timeout = BodyTimeout(settings.request_body_timeout);
        let shared_pool = pool.clone();
        let pages_options = database::connect_options(&database_url, pool_settings)?;
        let worker_pools = session_pools.clone();
        let stop_signal = draining.clone().on_stop_signal(settings.shutdown_drain);
        let server = HttpServer::new(move || {
            // This closure runs once in each worker thread.
            let session_pool = worker_pools.for_new_worker();
            // `visits` is a counter: concurrent requests of one session add
            // their visits up instead of overwriting each other's count.
            let store = PgSessionStore::new(session_pool.clone(), policy)
                .with_counters([crate::session::typed::VISITS])
                .with_deadline(store_deadline);
            // The pages' pool of this worker (see `ConnectionBudget`), opened
            // lazily on the worker's own runtime; or the shared one.
            let pages = match budget.pages_per_worker {
                0 => shared_pool.clone(),
                size => PgPoolOptions::new()
                    .max_connections(size)
                    .acquire_timeout(pool_settings.acquire_timeout)
                    .connect_lazy_with(pages_options.clone()),
            };
            App::new()
                .app_data(web::Data::new(pages))
                .app_data(web::Data::new(session_pool))
                .app_data(web::PayloadConfig::new(crate::forms::MAX_BODY_BYTES))
                .app_data(body_timeout)
                .app_data(web::Data::new(demo.clone()))
                .app_data(web::Data::new(session_cookie.clone()))
                .app_data(web::Data::new(device_cookies.clone()))
                .app_data(trusted_proxies.clone())
                // Static files and the health check: no session is ever loaded for them.
                .service(routes::static_files(static_dir()))
                .service(routes::health_route())
                // Everything else is a page of a session.
                .service(
                    web::scope("")
                        .wrap(headers::private_page())
                        .wrap(session_middleware(store, key.clone(), &cookie))
                        .wrap(from_fn({
                            let rotation = rotation.clone();
                            move |req, next| reissue_old_cookies(rotation.clone(), req, next)
                        }))
                        .wrap(from_fn(store_errors_as_pages))
                        .configure(|cfg| routes::session_routes(cfg, &address_limits))
                        .default_service(web::to(routes::not_found)),
                )
                // The last `wrap` runs first: the access log sees everything,
                // every response gets the security headers, errors become pages
                // in the layout, the head limits refuse early, and unreadable
                // cookies are dropped before anything reads cookies.
                .wrap(from_fn(keep_readable_cookies))
                .wrap(from_fn(limit_request_head))
                .wrap(from_fn(render_error_pages))
                .wrap(from_fn(move |req, next| {
                    headers::security_headers(production, req, next)
                }))
                .wrap(from_fn(access_log))
                .wrap(from_fn({
                    let (name, draining) = (instance_name.clone(), draining.clone());
                    move |req, next| {
                        instance::instance_headers(name.clone(), draining.clone(), req, next)
                    }
                }))
        })
        .workers(workers)
        .listen(listener)?
        // On SIGTERM or Ctrl-C: serve SHUTDOWN_DRAIN_SECONDS more, closing
        // kept-alive connections after their next response, then stop
        // accepting and finish what is in flight (instance.rs).
        .shutdown_signal(stop_signal)
        .shutdown_timeout(10)
        .run();

        let (stop_pruner, stopped) = watch::channel(false);
        let pruner = tokio::spawn(housekeeping::run(
            pool.clone(),
            settings.session_prune_interval,
            stopped,
        ));

        Ok(Self {
            port: address.port(),
            server,
            pool,
            session_pools,
            pruner,
            stop_pruner,
            #[cfg(feature = "dev-postgres")]
            dev_postgres,
        })
    }

    /// The port the server listens on (useful with `BIND_ADDR=...:0`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database pool the application uses.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The session store's own pools, one per worker (tests hold their
    /// connections to exhaust them).
    pub fn session_pools(&self) -> &WorkerPools {
        &self.session_pools
    }

    /// A handle to stop the server from elsewhere (tests use it to restart the app).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the server stops (Ctrl-C, SIGTERM or a handle's `stop`), then
    /// stops the pruning task, closes the pool and stops the private PostgreSQL.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        let _ = self.stop_pruner.send(true);
        let _ = self.pruner.await;
        self.session_pools.close();
        self.pool.close().await;
        #[cfg(feature = "dev-postgres")]
        if let Some(server) = &self.dev_postgres
            && let Err(error) = server.stop().await
        {
            log::warn!("stopping the private PostgreSQL failed: {error}");
        }
        log::info!("stopped");
        served
    }
}

/// Starts (or reuses) the private development PostgreSQL, with its data in
/// `DEV_DATA_DIR/dev-postgres` (`target/dev-postgres` by default).
#[cfg(feature = "dev-postgres")]
async fn start_dev_postgres(settings: &Settings) -> anyhow::Result<DevPostgres> {
    DevPostgres::start(DevPostgresOptions {
        data_dir: settings.dev_data_dir.join("dev-postgres"),
        fsync: true,
        port: None,
    })
    .await
    .context("DATABASE_URL is not set, and the private development PostgreSQL did not start")
}

/// How `DATABASE_MAX_CONNECTIONS` is shared between the process's pools, so
/// that all of them together never open more than that.
///
/// A quarter of the budget (but at least one connection per worker, while
/// half the budget allows) goes to the session store's pools, one per worker
/// thread (see `actix_session_postgres::pool`), the rest to the pages' queries
/// (users, carts, login failures; the health check runs on the session
/// store's pool). The store needs few connections: concurrent requests of a
/// worker share its statements (`actix_session_postgres::batch`), and fewer
/// connections make larger batches and leave PostgreSQL fewer backends to
/// switch between on the same cores. `scripts/bench.sh`'s pool sweep measured
/// it (docs/benchmark.md): two session connections per worker served `GET /`
/// about a third faster than four (27,414 against 20,671 requests a second). The pages' statements are not batched,
/// so they keep the larger share, and neither kind can starve the other.
///
/// The pages' share is split again: a small pool shared by the process
/// (migrations at start, pruning, the demo user) and one pool per worker for
/// the pages. Per worker for the same reason as the session pools, and one
/// more: a socket belongs to the runtime of the worker thread that opened
/// it, and at shutdown each worker stops as soon as its own connections are
/// done. A connection opened by a worker that has stopped fails for every
/// other worker still finishing its requests. With fewer connections than
/// that takes (fewer than about twice the workers, plus one), the workers
/// share the pages' pool, and a shutdown may fail such a request.
///
/// Splits round down, at least one connection each; what rounding leaves
/// over goes to the shared pool. A limit, not a reservation: every pool
/// opens connections only when needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionBudget {
    /// The most connections of the pool shared by the whole process (the
    /// pages use it too when `pages_per_worker` is 0).
    pub shared: u32,
    /// The most connections of each worker's own pool for the pages' queries;
    /// 0 when the budget is too small for such pools.
    pub pages_per_worker: u32,
    /// The worker threads.
    pub workers: usize,
    /// How many session pools there are (one per worker while the budget allows).
    pub session_pools: usize,
    /// The most connections of each session pool.
    pub per_session_pool: usize,
}

impl ConnectionBudget {
    /// Splits `max_connections` (at least 2: settings refuse less) for `workers` worker threads.
    pub fn split(max_connections: u32, workers: usize) -> Self {
        let max_connections = max_connections.max(2) as usize;
        let workers = workers.max(1);
        let session_share = (max_connections / 4).max(workers.min(max_connections / 2));
        let session_pools = workers.min(session_share);
        let per_session_pool = session_share / session_pools;
        let pages = max_connections - session_pools * per_session_pool;
        // One connection stays with the shared pool; the rest, if every
        // worker can get one, is split between the workers.
        let pages_per_worker = (pages - 1) / workers;
        let shared = pages - pages_per_worker * workers;
        let small = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Self {
            shared: small(shared),
            pages_per_worker: small(pages_per_worker),
            workers,
            session_pools,
            per_session_pool,
        }
    }

    /// The most connections of all pools together.
    pub fn total(&self) -> usize {
        self.shared as usize
            + self.pages_per_worker as usize * self.workers
            + self.session_pools * self.per_session_pool
    }
}

/// The key that encrypts session cookies, derived from `SESSION_SECRET`.
///
/// Without a secret (development only) one is generated once and kept in
/// `target/dev-session-secret` (`DEV_DATA_DIR`), so sessions survive restarts of the app.
fn cookie_key(settings: &Settings) -> anyhow::Result<Key> {
    if let Some(secret) = &settings.session_secret {
        return Ok(Key::derive_from(secret.expose().as_bytes()));
    }
    let path = settings.dev_data_dir.join("dev-session-secret");
    let secret = match std::fs::read_to_string(&path) {
        Ok(secret) if secret.len() >= crate::config::MIN_SECRET_BYTES => secret,
        _ => {
            let secret = random_hex::<64>()
                .map_err(|e| anyhow::anyhow!("no randomness for a secret: {e}"))?;
            std::fs::create_dir_all(&settings.dev_data_dir)?;
            std::fs::write(&path, &secret)
                .with_context(|| format!("writing {}", path.display()))?;
            secret
        }
    };
    log::warn!(
        "SESSION_SECRET is not set: using a development secret kept in {} (never do this in production)",
        path.display()
    );
    Ok(Key::derive_from(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::ConnectionBudget;

    #[test]
    fn the_pools_together_never_exceed_the_budget() {
        for max in 2..=64 {
            for workers in 1..=16 {
                let budget = ConnectionBudget::split(max, workers);
                assert!(
                    budget.total() <= max as usize,
                    "{max} for {workers}: {budget:?}"
                );
                let pages = budget.shared as usize + budget.pages_per_worker as usize * workers;
                assert!(pages >= max as usize / 2, "{max} for {workers}: {budget:?}");
                assert!(budget.shared >= 1);
                assert!(budget.session_pools >= 1 && budget.per_session_pool >= 1);
                assert!(budget.session_pools <= workers);
            }
        }
        let default = ConnectionBudget::split(16, 2);
        assert_eq!(
            (
                default.shared,
                default.pages_per_worker,
                default.session_pools,
                default.per_session_pool
            ),
            (2, 5, 2, 2)
        );
        let small = ConnectionBudget::split(4, 2);
        assert_eq!(
            (
                small.shared,
                small.pages_per_worker,
                small.session_pools,
                small.per_session_pool
            ),
            (2, 0, 2, 1),
            "too small for pools of their own: the workers share the pages' pool"
        );
    }
}
