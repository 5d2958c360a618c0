//! A PostgreSQL session store for [actix-session], built on [sqlx].
//!
//! [actix-session] keeps a session key in an encrypted cookie and leaves the
//! session's data to a *store*. [`PgSessionStore`] keeps it in one PostgreSQL
//! table, so sessions survive restarts, are shared by every process of an
//! app, and can be listed, inspected and ended with SQL.
//!
//! # Use it
//!
//! The crate is not published on crates.io (`publish = false`): depend on it
//! by path (or by git) from this repository.
//!
//! ```toml
//! [dependencies]
//! actix-session-postgres = { path = "crates/actix-session-postgres" }
//! actix-session = "=0.11.0"
//! actix-web = "4"
//! sqlx = { version = "0.9", default-features = false, features = ["runtime-tokio", "postgres"] }
//! ```
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use actix_session::SessionMiddleware;
//! use actix_session_postgres::{ExpiryPolicy, PgSessionStore, WorkerPools};
//! use actix_web::{App, HttpServer, cookie::Key};
//! use sqlx::{Connection, PgConnection, postgres::PgConnectOptions};
//!
//! #[actix_web::main]
//! async fn main() -> anyhow::Result<()> {
//!     let options: PgConnectOptions = std::env::var("DATABASE_URL")?.parse()?;
//!     // 1. The schema: the `sessions` table and one function.
//!     let mut connection = PgConnection::connect_with(&options).await?;
//!     actix_session_postgres::migrator().run(&mut connection).await?;
//!
//!     // 2. One connection pool per actix worker, 16 connections in all.
//!     let workers = 4;
//!     let pools = WorkerPools::new(options, workers, 16, Duration::from_secs(5));
//!     let key = Key::from(&[0; 64]); // Yours: 64 secret random bytes, from your settings.
//!
//!     // 3. In each worker, a store on that worker's pool, wrapped in actix-session.
//!     HttpServer::new(move || {
//!         // `visits` is a counter: concurrent requests add up (see below).
//!         let store = PgSessionStore::new(pools.for_new_worker(), ExpiryPolicy::default())
//!             .with_counters(["visits"]);
//!         App::new().wrap(SessionMiddleware::new(store, key.clone()))
//!     })
//!     .workers(workers)
//!     .bind("127.0.0.1:8080")?
//!     .run()
//!     .await?;
//!     Ok(())
//! }
//! ```
//!
//! Handlers then use actix-session's `Session` as with any store. Schedule
//! [`prune::prune_expired`] every few minutes to delete expired rows. The
//! crate's `examples/counter.rs` is a complete app in about 50 lines.
//!
//! # What it guarantees
//!
//! - **Digests at rest.** The table holds the SHA-256 digest of each session
//!   key (`key_hash`), never the key: a leaked copy of the database or a
//!   backup cannot be replayed as cookies. Keys are 256 random bits from the
//!   operating system, chosen by the store, never by the client.
//! - **Idle and absolute expiry.** A session ends after
//!   [`ExpiryPolicy::inactivity`] without activity and, however active, at
//!   [`ExpiryPolicy::absolute`] after it began. Both are decided by
//!   PostgreSQL's clock in every query (`expires_at > now()`), so every app
//!   process agrees, and an expired row is never returned, even before
//!   pruning deletes it.
//! - **Reads count as activity, cheaply.** A session that is only read does
//!   not expire while it is used: `load` pushes its expiry forward, but only
//!   once it has fallen more than [`ExpiryPolicy::touch_interval`] behind (a
//!   tenth of the inactivity timeout, at most a minute). Most reads are a
//!   plain `SELECT` that writes nothing.
//! - **Concurrent requests lose no update.** Two requests of one session
//!   (two tabs, a double click, two app processes) each load the session,
//!   change it and write it back. A store that writes back the whole session
//!   lets the last writer undo the other (express-session's counter loses
//!   visits this way). This store writes only what each request changed,
//!   applied by PostgreSQL to the row as it stands under the row's lock:
//!   values set and names removed follow the last writer, name by name, and
//!   names declared with [`PgSessionStore::with_counters`] add each
//!   request's difference, so fifty concurrent visits add fifty, on one
//!   process or several. A handler still sees the session as it was when its
//!   request began. The bookkeeping travels in the state actix-session holds
//!   for the request, under [`SNAPSHOT_KEY`] (never stored; skip it when
//!   listing entries: [`is_reserved_key`]).
//! - **No resurrection.** `update` changes a row only while it exists and has
//!   not expired; it never inserts. A request that loaded a session before
//!   the user signed out in another tab cannot bring the data back when it
//!   finishes, under the old key or, when it renews the key (a sign-in), under
//!   a new one: a renewal whose old session was already gone saves nothing.
//!   New sessions arrive only by `INSERT` (never an upsert), where an app's
//!   triggers can check them.
//! - **Bounded waits, fast failures.** Each step has one deadline
//!   ([`PgSessionStore::with_deadline`], 5 seconds by default) for queueing,
//!   the connection, the statement and retries together; a worker queues at
//!   most a thousand jobs per step; a row another transaction holds makes
//!   only its own session's requests wait (batched statements skip it), at
//!   most until their deadline.
//!   Failures are [`StoreError`]s; [`StoreError::is_unavailable`] tells a
//!   `503` (try again) from a bug.
//! - **Failover.** A connection that fails because the server went away or
//!   became a standby (`57P01`, `25006`, a reset, ...) is closed, and so is
//!   every connection its pool opened before it, as they come back; steps
//!   that are safe to run twice (load, delete, touch, a save, an update that
//!   adds to no counter) run again on a fresh connection, with short pauses,
//!   within the deadline. An update that adds to a counter and whose outcome
//!   is unknown fails instead of counting twice.
//! - **Pruning by one process at a time.** [`prune::prune_expired`] deletes
//!   expired rows in batches of [`prune::BATCH_SIZE`], each in a short
//!   transaction under a PostgreSQL advisory lock; a process that finds the
//!   lock taken skips its round. Every process may run it.
//!
//! # What it costs
//!
//! - One row per session. The data is a `jsonb` object (`{"visits": 3}`), so
//!   it is readable in `psql` and an app can derive indexed columns from it
//!   in its own migrations; a write sends only what changed (a small JSON
//!   patch) and PostgreSQL writes the row's new version.
//! - Per request, at most the statements above, and a fraction of them under
//!   load (in this project's benchmark, 64 concurrent requests on 2 cores: 0.2
//!   statements for a read and a write, 0.14 for a read). A write touches no
//!   index, so PostgreSQL can keep the new row version on its page (a HOT
//!   update). Every write and every new session waits for its commit, as
//!   PostgreSQL's defaults have it; connect with `synchronous_commit=off` to
//!   trade the last moment of session changes in a database crash for speed.
//! - Connections: [`WorkerPools`] opens at most the number you give, spread
//!   over the workers (fewer pools than workers when there are fewer
//!   connections than workers); they open on first use and stay open.
//! - Metrics: none recorded, no metrics crate pulled in; implement
//!   [`observe::StoreObserver`] and install it on the pools to record what
//!   the store does.
//! - Names: the table is `sessions` and the functions `touch_session` and
//!   `session_patch`, in the connection's schema search path; an app must not
//!   use these names for anything else, nor the session name `$loaded`.
//!   Tested with PostgreSQL 15.
//! - The `ttl` actix-session passes to the store is ignored ([`ExpiryPolicy`]
//!   decides). Keep actix-session's default `TtlExtensionPolicy::OnStateChanges`:
//!   `OnEveryRequest` makes actix-session call `update_ttl` on every request,
//!   a second statement each time, for what `load` already does.
//!
//! # Compared with the alternatives
//!
//! | | this crate | [`actix-session-sqlx-postgres`] 0.3 | tower-sessions' [`PostgresStore`] |
//! |---|---|---|---|
//! | framework | actix-session 0.11 | actix-session 0.10 | tower-sessions (axum) |
//! | key at rest | SHA-256 digest | the key itself | the session id itself |
//! | expiry | idle and absolute, database clock | one time, app clock | one time, app clock |
//! | reads extend expiry | yes, throttled, in the same statement | only with a second statement per request | only by writing the whole record |
//! | a session deleted or expired mid-request, then written back | stays gone | deleted: stays gone; expired: comes back | comes back (upsert) |
//! | deletes expired rows | batched, one process at a time | never | one unbatched `DELETE`, in every process |
//! | creates its table | migrations | no, left to the user | `migrate()` |
//! | connections | pool per worker, no ping | one connection, unless given a pool | sqlx's pool (a ping per query) |
//! | statements per request under load | shared by concurrent requests | one per step | one per step |
//! | concurrent requests of one session | changes combine; counters add | last write wins | last write wins |
//! | data format | `jsonb` object | `jsonb` | MessagePack bytes |
//! | documentation | a guide, every item | one example | every item |
//!
//! How fast each is, measured side by side, is in the session-demo
//! project's `docs/benchmark.md`.
//!
//! [actix-session]: https://docs.rs/actix-session
//! [sqlx]: https://docs.rs/sqlx
//! [`actix-session-sqlx-postgres`]: https://docs.rs/actix-session-sqlx-postgres/0.3.0
//! [`PostgresStore`]: https://docs.rs/tower-sessions-sqlx-store

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
    DEFAULT_DEADLINE, ExpiryPolicy, PgSessionStore, SNAPSHOT_KEY, SessionState, is_reserved_key,
};
