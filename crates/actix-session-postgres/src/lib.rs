#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod batch;
mod error;
pub mod key;
pub mod observe;
mod pool;
pub mod prune;
mod schema;
mod store;

pub use error::{ErrorKind, StoreError, is_unavailable};
pub use pool::{PoolStatus, PooledConnection, SessionPool, WorkerPools};
pub use schema::{MIGRATIONS_TABLE, migrations, migrator};
pub use store::{
    DEFAULT_DEADLINE, DEFAULT_STATEMENTS_IN_FLIGHT, ExpiryPolicy, PgSessionStore, SNAPSHOT_KEY,
    SessionState, is_reserved_key,
};
