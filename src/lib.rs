//! session-demo: server-side HTTP sessions in PostgreSQL, with actix-web and sqlx.
//!
//! Start reading at [`startup`], then [`session`]. The session store itself is
//! the `actix-session-postgres` crate of this workspace.

/// The access log: one line per request, failed ones included.
pub mod access_log;
/// Accounts: credentials, passwords, users, throttling, the sign-in guard.
pub mod auth;
/// The shopping cart: products, cart lines, and why they are not in the session.
pub mod cart;
/// Settings from the environment, validated once.
pub mod config;
/// Dropping unreadable pairs from the `Cookie` header.
pub mod cookie_header;
/// The form token's home while the session holds nothing: the pre-session cookie.
pub mod csrf;
/// The connection pool and the embedded migrations.
pub mod database;
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
/// Limits per client address: password attempts and new sessions.
pub mod limits;
/// Random tokens: CSRF tokens, cart ids, the development secret.
pub mod random;
/// Limits on the request head (URL and header sizes).
pub mod request_limits;
/// The pages.
pub mod routes;
/// Sessions as this app uses them: the typed session, the middleware, rotation.
pub mod session;
/// Building and running the application.
pub mod startup;
/// The client's address behind trusted reverse proxies (`X-Forwarded-For`).
pub mod trusted_proxies;
