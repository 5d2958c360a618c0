//! `Application::build`: from settings to a running server. `main` and every
//! test call it, so the tests exercise exactly what production runs.
//!
//! Three steps: `Databases::open` (PostgreSQL, the migrations, the pools
//! within `DATABASE_MAX_CONNECTIONS`), `Shared::new` (everything the worker
//! threads share: keys, cookies, limiters, the middleware's settings), then
//! one `Shared::app` per worker thread.

use std::{net::TcpListener, path::PathBuf, rc::Rc, sync::Arc};

use actix_web::{
    App, Error, HttpServer,
    body::MessageBody,
    cookie::Key,
    dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse},
    middleware::from_fn,
    web,
};
use anyhow::Context;
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::{sync::watch, task::JoinHandle};

use actix_session_postgres::{ExpiryPolicy, PgSessionStore, WorkerPools};
#[cfg(feature = "dev-postgres")]
use dev_postgres::{DevPostgres, DevPostgresOptions};

use crate::{
    auth::{device::DeviceCookies, password, users},
    config::Settings,
    csrf::{PreSessionCookie, pre_session_cookie},
    database::{self, ConnectionBudget, PoolSettings},
    forms::BodyTimeout,
    housekeeping,
    limits::AddressLimits,
    metrics::{self, Metrics},
    middleware::{
        self, Edge, cookie_header::keep_readable_cookies, headers, instance::Instance,
        request_limits::limit_request_head,
    },
    random::random_hex,
    routes::{self, login::DemoAccount},
    session::{
        cookie::CookieConfig,
        middleware::{session_middleware, store_errors_as_pages},
        rotation::reissue_old_cookies,
    },
    shutdown::Draining,
    trusted_proxies::TrustedProxies,
};

/// The static files served under `/static`.
fn static_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("static")
}

/// A built, listening application, ready to run.
pub struct Application {
    port: u16,
    server: Server,
    /// The metrics server on `METRICS_ADDR`, and its port.
    metrics: Option<(Server, u16)>,
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
        // One worker per CPU (actix's default, made explicit because each
        // worker gets pools of its own: see `ConnectionBudget`).
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        let mut databases = Databases::open(&settings, workers).await?;
        let draining = Draining::default();
        // The metrics' listener first: `METRICS_ADDR` in use stops the start
        // before the public listener opens.
        let metrics = match settings.metrics_addr {
            None => None,
            Some(address) => {
                let listener = TcpListener::bind(address)
                    .with_context(|| format!("METRICS_ADDR: binding {address}"))?;
                let address = listener.local_addr()?;
                let registry = Arc::new(
                    Metrics::new(
                        databases.pools.shared.clone(),
                        databases.pools.sessions.clone(),
                    )
                    .context("registering the metrics")?,
                );
                // The store reports to the registry from now on.
                databases.pools.sessions = databases
                    .pools
                    .sessions
                    .clone()
                    .observed_by(registry.store_observer());
                log::info!("metrics on http://{address}/metrics");
                Some((
                    registry.clone(),
                    metrics::serve(listener, registry)?,
                    address.port(),
                ))
            }
        };
        let shared = Shared::new(
            &settings,
            &databases.pools,
            draining.clone(),
            metrics.as_ref().map(|(registry, ..)| registry.clone()),
        )
        .await?;

        let listener = TcpListener::bind(settings.bind_addr)
            .with_context(|| format!("binding {}", settings.bind_addr))?;
        let address = listener.local_addr()?;
        log::info!("listening on http://{address}");

        let shared_observer = shared.metrics.as_ref().map(|m| m.store_observer());
        let server = HttpServer::new(move || shared.clone().app())
            .workers(workers)
            .listen(listener)?
            // On SIGTERM or Ctrl-C: serve SHUTDOWN_DRAIN_SECONDS more, closing
            // kept-alive connections after their next response, then stop
            // accepting and finish what is in flight (shutdown.rs).
            .shutdown_signal(draining.on_stop_signal(settings.shutdown_drain))
            .shutdown_timeout(10)
            .run();

        let (stop_pruner, stopped) = watch::channel(false);
        let pruner = tokio::spawn(housekeeping::run(
            databases.pools.shared.clone(),
            settings.session_prune_interval,
            stopped,
            shared_observer,
        ));

        Ok(Self {
            port: address.port(),
            server,
            metrics: metrics.map(|(_, server, port)| (server, port)),
            pool: databases.pools.shared,
            session_pools: databases.pools.sessions,
            pruner,
            stop_pruner,
            #[cfg(feature = "dev-postgres")]
            dev_postgres: databases.dev_postgres,
        })
    }

    /// The port the server listens on (useful with `BIND_ADDR=...:0`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `GET /metrics` is served on, when `METRICS_ADDR` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, port)| *port)
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
        let metrics = self.metrics.map(|(server, _)| {
            let handle = server.handle();
            (handle, tokio::spawn(server))
        });
        let served = self.server.await;
        if let Some((handle, server)) = metrics {
            handle.stop(true).await;
            let _ = server.await;
        }
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

/// The database side: PostgreSQL (started here in development), migrated,
/// and the pools.
struct Databases {
    pools: Pools,
    #[cfg(feature = "dev-postgres")]
    dev_postgres: Option<DevPostgres>,
}

/// The pools, within `DATABASE_MAX_CONNECTIONS` (cheap to clone: handles).
#[derive(Clone)]
struct Pools {
    /// sqlx's pool shared by the process: migrations, pruning, the demo user,
    /// and the pages' queries when the budget is too small for pools per worker.
    shared: PgPool,
    /// How to open each worker's pool for the pages' queries.
    pages_options: PgConnectOptions,
    /// How the connections are split.
    budget: ConnectionBudget,
    /// How long a query waits for a connection.
    acquire_timeout: std::time::Duration,
    /// The session store's pools, one per worker.
    sessions: WorkerPools,
}

impl Databases {
    async fn open(settings: &Settings, workers: usize) -> anyhow::Result<Self> {
        // Without DATABASE_URL (development), the app starts a PostgreSQL of its own.
        #[cfg(feature = "dev-postgres")]
        let (database_url, dev_postgres) = match &settings.database_url {
            Some(url) => (url.expose().to_owned(), None),
            None => {
                let server = start_dev_postgres(settings).await?;
                (server.url("session_demo"), Some(server))
            }
        };
        #[cfg(not(feature = "dev-postgres"))]
        let database_url = settings
            .database_url
            .as_ref()
            .map(|url| url.expose().to_owned())
            .context("DATABASE_URL: required (this build has no private development PostgreSQL)")?;
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
        // Two kinds of pool on one database: sqlx's for the pages' queries and
        // the migrations, and the session store's own, which skips sqlx's ping
        // per query on the hottest path (see actix_session_postgres::pool).
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
        Ok(Self {
            pools: Pools {
                shared: pool,
                pages_options: database::connect_options(&database_url, pool_settings)?,
                budget,
                acquire_timeout: settings.database_acquire_timeout,
                sessions: session_pools,
            },
            #[cfg(feature = "dev-postgres")]
            dev_postgres,
        })
    }
}

impl Pools {
    /// The pool for the pages' queries of a new worker (see
    /// `ConnectionBudget`), opened lazily on the worker's own runtime; or the
    /// shared one.
    fn pages_pool_for_new_worker(&self) -> PgPool {
        match self.budget.pages_per_worker {
            0 => self.shared.clone(),
            size => PgPoolOptions::new()
                .max_connections(size)
                .acquire_timeout(self.acquire_timeout)
                .connect_lazy_with(self.pages_options.clone()),
        }
    }
}

/// Everything the worker threads share, made once: each worker builds its
/// `App` from it ([`Shared::app`]).
#[derive(Clone)]
struct Shared {
    pools: Pools,
    policy: ExpiryPolicy,
    /// The one cookie configuration: the session middleware, rotation, the
    /// key digest extractor and logout read it.
    cookie: Arc<CookieConfig>,
    /// Device cookies, sealed with the session cookie's key.
    device_cookies: DeviceCookies,
    /// The form token's cookie while a session holds nothing (`csrf.rs`).
    pre_session: PreSessionCookie,
    demo: DemoAccount,
    /// Built once: every worker shares one count per address.
    address_limits: AddressLimits,
    /// The per-address limiter reads it to find the client behind a proxy.
    trusted_proxies: TrustedProxies,
    body_timeout: BodyTimeout,
    edge: Edge,
    metrics: Option<Arc<Metrics>>,
    /// Readiness fails while it is set.
    draining: Draining,
}

impl Shared {
    async fn new(
        settings: &Settings,
        pools: &Pools,
        draining: Draining,
        metrics: Option<Arc<Metrics>>,
    ) -> anyhow::Result<Self> {
        let cookie = Arc::new(CookieConfig {
            name: settings.cookie_name().into(),
            key: cookie_key(settings)?,
            previous: settings
                .session_secret_previous
                .as_ref()
                .map(|previous| Key::derive_from(previous.expose().as_bytes())),
            secure: settings.cookie_secure,
            host_prefix: settings.is_production(),
        });
        let demo = if settings.is_production() {
            DemoAccount(None)
        } else {
            users::ensure_demo_user(&pools.shared).await?;
            DemoAccount(Some((
                users::DEMO_USERNAME.into(),
                users::DEMO_PASSWORD.into(),
            )))
        };
        password::warm_up().await;
        // Built once: every worker thread counts an address in the same place.
        let address_limits = AddressLimits::new(settings.address_limit, settings.new_session_limit)
            .context("the per-address limits need a burst and a period above zero")?;
        Ok(Self {
            pools: pools.clone(),
            policy: ExpiryPolicy {
                inactivity: settings.session_ttl,
                absolute: settings.session_absolute_ttl,
            },
            device_cookies: DeviceCookies::new(
                cookie.key.clone(),
                cookie.secure,
                cookie.host_prefix,
            ),
            pre_session: PreSessionCookie::new(
                cookie.key.clone(),
                cookie.secure,
                cookie.host_prefix,
            ),
            cookie,
            demo,
            address_limits,
            trusted_proxies: settings.trusted_proxies.clone(),
            body_timeout: BodyTimeout(settings.request_body_timeout),
            edge: Edge {
                production: settings.is_production(),
                instance: Instance::new(settings.instance_name.as_deref(), draining.clone()),
                trusted_proxies: settings.trusted_proxies.clone(),
                metrics: metrics.clone(),
            },
            metrics,
            draining,
        })
    }

    /// One worker's app: its pools, the routes, and the middleware stack
    /// (`middleware/mod.rs`). Runs once in each worker thread, on its own copy.
    fn app(
        self,
    ) -> App<
        impl ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<impl MessageBody>,
            Error = Error,
            InitError = (),
        >,
    > {
        let session_pool = self.pools.sessions.for_new_worker();
        // `visits` is a counter: concurrent requests of one session add
        // their visits up instead of overwriting each other's count. A store
        // step (queue, statement and retries together) waits at most as long
        // as a request may wait for a connection.
        let store = PgSessionStore::new(session_pool.clone(), self.policy)
            .with_counters([crate::session::typed::VISITS])
            .with_deadline(self.pools.acquire_timeout);
        let pages = self.pools.pages_pool_for_new_worker();
        if let Some(metrics) = &self.metrics
            && self.pools.budget.pages_per_worker > 0
        {
            metrics.watch_pages_pool(pages.clone());
        }
        let cookie = self.cookie;
        let address_limits = self.address_limits;
        let edge = Rc::new(self.edge);
        let mut app = App::new();
        if let Some(metrics) = self.metrics {
            app = app.app_data(web::Data::from(metrics));
        }
        app.app_data(web::Data::new(pages))
            .app_data(web::Data::new(self.draining))
            .app_data(web::Data::new(session_pool))
            .app_data(web::PayloadConfig::new(crate::forms::MAX_BODY_BYTES))
            .app_data(self.body_timeout)
            .app_data(web::Data::new(self.demo))
            .app_data(web::Data::from(cookie.clone()))
            .app_data(web::Data::new(self.device_cookies))
            .app_data(web::Data::new(self.pre_session))
            .app_data(self.trusted_proxies)
            // Static files and the health check: no session is ever loaded for them.
            .service(routes::static_files(static_dir()))
            .service(routes::health_routes())
            // Everything else is a page of a session.
            .service(
                web::scope("")
                    .wrap(headers::private_page())
                    // Inside the session middleware: it sees the session
                    // as the handler left it (csrf.rs).
                    .wrap(from_fn(pre_session_cookie))
                    .wrap(session_middleware(store, &cookie))
                    .wrap(from_fn(move |req, next| {
                        reissue_old_cookies(cookie.clone(), req, next)
                    }))
                    .wrap(from_fn(store_errors_as_pages))
                    .configure(move |cfg| routes::session_routes(cfg, &address_limits))
                    .default_service(web::to(routes::not_found)),
            )
            // The last `wrap` runs first (see middleware/mod.rs).
            .wrap(from_fn(keep_readable_cookies))
            .wrap(from_fn(limit_request_head))
            .wrap(from_fn(move |req, next| {
                middleware::edge(edge.clone(), req, next)
            }))
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
