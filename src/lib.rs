//! session-demo: server-side HTTP sessions in PostgreSQL, with actix-web and sqlx.
//!
//! Start reading at [`startup`], then [`session`]. The session store itself is
//! the `actix-session-postgres` crate of this workspace.

/// Accounts: credentials, passwords, users, throttling, the sign-in guard.
pub mod auth;
/// The shopping cart: products, cart lines, and why they are not in the session.
pub mod cart;
/// Settings from the environment, validated once.
pub mod config;
/// The form token's home while the session holds nothing: the pre-session cookie.
pub mod csrf;
/// The connection pool and the embedded migrations.
pub mod database;
/// The one error type of the web layer.
pub mod error;
/// Form bodies: size limit, CSRF check, parsing.
pub mod forms;
/// The background task that deletes what has expired.
pub mod housekeeping;
/// Limits per client address: password attempts and new sessions.
pub mod limits;
/// The log's format: text or JSON lines, each with its request id.
pub mod logging;
/// Metrics in the Prometheus text format, on `METRICS_ADDR`.
pub mod metrics;
/// The middleware stack: errors become responses once, at its edge.
pub mod middleware;
/// Random tokens: CSRF tokens, cart ids, the development secret.
pub mod random;
/// The pages.
pub mod routes;
/// Sessions as this app uses them: the typed session, the middleware, rotation.
pub mod session;
/// The drain after a stop signal.
pub mod shutdown;
/// Building and running the application.
pub mod startup;
/// The client's address behind trusted reverse proxies (`X-Forwarded-For`).
pub mod trusted_proxies;
