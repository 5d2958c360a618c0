//! session-demo: server-side HTTP sessions in PostgreSQL, with actix-web and sqlx.
//!
//! Start reading at [`startup`], then [`session::store`].

/// The access log: one line per request, failed ones included.
pub mod access_log;
/// Accounts: credentials, passwords, users, throttling, the sign-in guard.
pub mod auth;
/// The shopping cart: products, cart lines, and why they are not in the session.
pub mod cart;
/// Settings from the environment, validated once.
pub mod config;
/// The connection pool and the embedded migrations.
pub mod database;
/// A private PostgreSQL server for development and tests.
pub mod dev_postgres;
/// The one error type of the web layer.
pub mod error;
/// Form bodies: size limit, CSRF check, parsing.
pub mod forms;
/// Security headers on every response.
pub mod headers;
/// The background task that deletes what has expired.
pub mod housekeeping;
/// One instance among several: its name on responses, its drain at shutdown.
pub mod instance;
/// Limits on the request head (URL and header sizes).
pub mod request_limits;
/// The pages.
pub mod routes;
/// Sessions: the PostgreSQL store, pruning, the typed session.
pub mod session;
/// Building and running the application.
pub mod startup;
/// The client's address behind trusted reverse proxies (`X-Forwarded-For`).
pub mod trusted_proxies;
