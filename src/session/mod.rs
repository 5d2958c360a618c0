//! Sessions as this app uses them: the typed view handlers use, the middleware
//! stack that ties the store to actix-session, cookie-secret rotation, and the
//! queries that look at sessions from the user's side.
//!
//! The store itself (`PgSessionStore`: the `sessions` table, its pools,
//! expiry, pruning) is the generic `actix-session-postgres` crate; this app
//! adds its own columns to that table in `migrations/`.

pub mod cookie;
pub mod current;
pub mod details;
pub mod middleware;
pub mod rotation;
pub mod typed;
pub mod user_sessions;

pub use actix_session_postgres::{ExpiryPolicy, PgSessionStore};
pub use typed::AppSession;
