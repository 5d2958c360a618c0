//! Metrics in the Prometheus text format, served on `METRICS_ADDR` only.
//!
//! Names follow OpenTelemetry's semantic conventions as Prometheus renders
//! them (dots become underscores, the unit a suffix, counters end in
//! `_total`): the HTTP server's `http_server_request_duration_seconds` and
//! `http_server_active_requests`, the pools' `db_client_connection_*`, and
//! the app's own under `session_demo_`. `docs/operations.md` says what each
//! means and which alerts are worth setting.
//!
//! **Why the `prometheus` crate.** A registry belongs to one `Metrics`,
//! made by one `Application`, instead of a process-wide recorder (the
//! `metrics` crate's model): every app a test starts counts on its own. Its
//! metric handles are updated with atomics, and a label set that exists
//! costs a hash lookup, no allocation. Histograms get their buckets
//! explicitly (OpenTelemetry's advisory ones). Without its default features
//! it brings no protobuf and no HTTP server: `serve` is a one-worker
//! actix-web server on a listener of its own.
//!
//! **Bounded labels.** No label value comes from a client as it is: the
//! method is one of the nine HTTP methods or `_OTHER`, the route is a
//! template of the route table (or empty when nothing matched), the status a
//! three-digit code. A flood of random paths or methods adds no series
//! (`tests/api/metrics.rs` checks it).

use std::{
    net::TcpListener,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use actix_web::{App, HttpResponse, HttpServer, dev::Server, http::Method, web};
use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use sqlx::PgPool;

use actix_session_postgres::{WorkerPools, observe::SharedObserver};

use crate::auth::password;

mod store;

use store::{DB_BUCKETS, StoreMetrics};

/// OpenTelemetry's advisory buckets for `http.server.request.duration` (seconds).
const HTTP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The methods OpenTelemetry names; any other is `_OTHER`.
const METHODS: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::CONNECT,
    Method::OPTIONS,
    Method::TRACE,
    Method::PATCH,
];

/// The label of `method`, and its index in [`METHODS`] (9 for `_OTHER`).
pub(crate) fn method_label(method: &Method) -> (usize, &'static str) {
    match METHODS.iter().position(|known| known == method) {
        Some(index) => (index, METHODS[index].as_str()),
        None => (METHODS.len(), "_OTHER"),
    }
}

/// A login attempt's result, for `session_demo_login_attempts_total`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LoginResult {
    /// Signed in.
    Success,
    /// Wrong name or password.
    Failure,
    /// Too many failures for the name: no password was checked.
    Locked,
    /// Too many attempts from the address: refused before anything else.
    Limited,
}

impl LoginResult {
    fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Locked => "locked",
            Self::Limited => "limited",
        }
    }
}

/// Every metric of one application, and what it reads at each scrape.
pub struct Metrics {
    registry: Registry,
    request_duration: HistogramVec,
    /// By method, in [`METHODS`] order, `_OTHER` last: no lookup per request.
    active_requests: Vec<IntGauge>,
    login_attempts: IntCounterVec,
    unavailable: IntCounterVec,
    hashes_waiting: IntGauge,
    hashes_refused: IntCounter,
    connections: IntGaugeVec,
    connections_max: IntGaugeVec,
    pending: IntGaugeVec,
    store: Arc<StoreMetrics>,
    /// Pool handles read at each scrape: `("pages" | "shared", pool)`.
    pages_pools: Mutex<Vec<(&'static str, PgPool)>>,
    session_pools: WorkerPools,
}

impl Metrics {
    /// Registers every metric; `shared` is the process's sqlx pool and
    /// `session_pools` the store's (the pages' pools of the workers are
    /// added by `Metrics::watch_pages_pool`).
    pub fn new(shared: PgPool, session_pools: WorkerPools) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_server_request_duration_seconds",
                "Duration of HTTP server requests.",
            )
            .buckets(HTTP_BUCKETS.to_vec()),
            &[
                "http_request_method",
                "http_route",
                "http_response_status_code",
            ],
        )?;
        let active = IntGaugeVec::new(
            Opts::new(
                "http_server_active_requests",
                "Number of active HTTP server requests.",
            ),
            &["http_request_method"],
        )?;
        let active_requests = METHODS
            .iter()
            .map(Method::as_str)
            .chain(["_OTHER"])
            .map(|method| active.with_label_values(&[method]))
            .collect();
        let login_attempts = IntCounterVec::new(
            Opts::new(
                "session_demo_login_attempts_total",
                "POST /login attempts, by result: success, failure (wrong name or password), \
                 locked (too many failures for the name), limited (too many from the address).",
            ),
            &["result"],
        )?;
        for result in [
            LoginResult::Success,
            LoginResult::Failure,
            LoginResult::Locked,
            LoginResult::Limited,
        ] {
            login_attempts.with_label_values(&[result.label()]);
        }
        let unavailable = IntCounterVec::new(
            Opts::new(
                "session_demo_unavailable_responses_total",
                "503 answers to requests, by cause.",
            ),
            &["cause"],
        )?;
        for cause in [
            "pool_timeout",
            "connection",
            "statement_timeout",
            "server_shutdown",
            "resources",
            "read_only",
            "conflict",
            "lock_timeout",
            "store_timeout",
            "store_overloaded",
            "password_hashing",
            "other",
        ] {
            unavailable.with_label_values(&[cause]);
        }
        let hashes_waiting = IntGauge::new(
            "session_demo_password_hashes_waiting",
            "Password hashes waiting for a hashing slot.",
        )?;
        let hashes_refused = IntCounter::new(
            "session_demo_password_hashes_refused_total",
            "Password hashes refused (503) after waiting too long for a slot.",
        )?;
        let connections = IntGaugeVec::new(
            Opts::new(
                "db_client_connection_count",
                "PostgreSQL connections open, by state (idle, used) and pool.",
            ),
            &["state", "pool"],
        )?;
        let connections_max = IntGaugeVec::new(
            Opts::new(
                "db_client_connection_max",
                "The most PostgreSQL connections each pool may open.",
            ),
            &["pool"],
        )?;
        let pending = IntGaugeVec::new(
            Opts::new(
                "db_client_connection_pending_requests",
                "Requests waiting for a connection, by pool (the session pools; sqlx's pools \
                 do not say).",
            ),
            &["pool"],
        )?;
        let wait_time = HistogramVec::new(
            HistogramOpts::new(
                "db_client_connection_wait_time_seconds",
                "Time a request waited for a connection, by pool (the session pools).",
            )
            .buckets(DB_BUCKETS.to_vec()),
            &["pool"],
        )?;
        let timeouts = IntCounterVec::new(
            Opts::new(
                "db_client_connection_timeouts_total",
                "Waits for a connection that timed out, by pool (the session pools).",
            ),
            &["pool"],
        )?;
        let store = Arc::new(StoreMetrics::new(
            &registry,
            wait_time.with_label_values(&["sessions"]),
            timeouts.with_label_values(&["sessions"]),
        )?);
        let build_info = IntGaugeVec::new(
            Opts::new(
                "session_demo_build_info",
                "This build: its version and git commit (always 1).",
            ),
            &["version", "git_commit"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), env!("SESSION_DEMO_GIT_COMMIT")])
            .set(1);

        registry.register(Box::new(request_duration.clone()))?;
        registry.register(Box::new(active))?;
        registry.register(Box::new(login_attempts.clone()))?;
        registry.register(Box::new(unavailable.clone()))?;
        registry.register(Box::new(hashes_waiting.clone()))?;
        registry.register(Box::new(hashes_refused.clone()))?;
        registry.register(Box::new(connections.clone()))?;
        registry.register(Box::new(connections_max.clone()))?;
        registry.register(Box::new(pending.clone()))?;
        registry.register(Box::new(wait_time))?;
        registry.register(Box::new(timeouts))?;
        registry.register(Box::new(build_info))?;
        Ok(Self {
            registry,
            request_duration,
            active_requests,
            login_attempts,
            unavailable,
            hashes_waiting,
            hashes_refused,
            connections,
            connections_max,
            pending,
            store,
            pages_pools: Mutex::new(vec![("shared", shared)]),
            session_pools,
        })
    }

    /// The session store's observer, recording into this registry (install
    /// it on the session pools and pruning).
    pub fn store_observer(&self) -> SharedObserver {
        self.store.clone()
    }

    /// Adds a worker's pool for the pages' queries to what each scrape reads.
    pub(crate) fn watch_pages_pool(&self, pool: PgPool) {
        self.pages_pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(("pages", pool));
    }

    /// A request has started: counted as active until the guard is dropped
    /// (answered, or abandoned by its client).
    pub(crate) fn request_started(&self, method: usize) -> ActiveRequest {
        let gauge = self.active_requests[method.min(METHODS.len())].clone();
        gauge.inc();
        ActiveRequest(gauge)
    }

    /// A request has been answered.
    pub(crate) fn request_finished(
        &self,
        method: &'static str,
        route: &str,
        status: &str,
        took: Duration,
    ) {
        self.request_duration
            .with_label_values(&[method, route, status])
            .observe(took.as_secs_f64());
    }

    /// A `POST /login` came to `result`.
    pub(crate) fn login_attempt(&self, result: LoginResult) {
        self.login_attempts
            .with_label_values(&[result.label()])
            .inc();
    }

    /// A request was answered 503 because of `cause`.
    pub(crate) fn unavailable(&self, cause: &'static str) {
        self.unavailable.with_label_values(&[cause]).inc();
    }

    /// The whole text of `GET /metrics`, with the gauges read now.
    pub fn render(&self) -> String {
        self.read_gauges();
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|error| {
                log::error!("encoding the metrics failed: {error}");
                String::new()
            })
    }

    /// What is read rather than counted: the pools and the hashing slots.
    fn read_gauges(&self) {
        let mut sums = [("shared", 0, 0, 0), ("pages", 0, 0, 0)];
        for (name, pool) in self
            .pages_pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let sum = if *name == "shared" {
                &mut sums[0]
            } else {
                &mut sums[1]
            };
            let (open, idle) = (pool.size() as i64, pool.num_idle() as i64);
            sum.1 += idle;
            sum.2 += open - idle;
            sum.3 += i64::from(pool.options().get_max_connections());
        }
        for (pool, idle, used, max) in sums {
            self.connections
                .with_label_values(&["idle", pool])
                .set(idle);
            self.connections
                .with_label_values(&["used", pool])
                .set(used);
            self.connections_max.with_label_values(&[pool]).set(max);
        }
        let (mut idle, mut used, mut waiting, mut max) = (0, 0, 0, 0);
        for pool in self.session_pools.all() {
            let status = pool.status();
            (idle, used) = (idle + status.idle, used + status.used);
            (waiting, max) = (waiting + status.waiting, max + status.max);
        }
        let gauge = |vec: &IntGaugeVec, labels: &[&str], value: usize| {
            vec.with_label_values(labels).set(value as i64);
        };
        gauge(&self.connections, &["idle", "sessions"], idle);
        gauge(&self.connections, &["used", "sessions"], used);
        gauge(&self.pending, &["sessions"], waiting);
        gauge(&self.connections_max, &["sessions"], max);

        let hashing = password::queue();
        self.hashes_waiting.set(hashing.waiting as i64);
        let refused = hashing.refused.saturating_sub(self.hashes_refused.get());
        self.hashes_refused.inc_by(refused);
    }
}

/// Keeps one request counted in `http_server_active_requests`.
pub(crate) struct ActiveRequest(IntGauge);

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The metrics server on `listener` (`METRICS_ADDR`): `GET /metrics`, and a
/// 404 for anything else. One worker; it stops with the application.
pub fn serve(listener: TcpListener, metrics: Arc<Metrics>) -> std::io::Result<Server> {
    let metrics = web::Data::from(metrics);
    Ok(HttpServer::new(move || {
        App::new().app_data(metrics.clone()).route(
            "/metrics",
            web::get().to(|metrics: web::Data<Metrics>| async move {
                HttpResponse::Ok()
                    .content_type("text/plain; version=0.0.4; charset=utf-8")
                    .body(metrics.render())
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}
