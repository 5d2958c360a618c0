//! Sessions: the PostgreSQL store, its pruning task, the typed view handlers use,
//! and the middleware stack that ties them to actix-session.

pub mod current;
pub mod details;
pub mod key;
pub mod middleware;
pub mod pool;
pub mod prune;
pub mod rotation;
pub mod store;
pub mod typed;
pub mod user_sessions;

pub use store::{ExpiryPolicy, PgSessionStore};
pub use typed::AppSession;
