//! A PostgreSQL session store for [actix-session], built on [sqlx].
//!
//! [actix-session] keeps a session key in an encrypted cookie and leaves the
//! session's data to a *store*. [`PgSessionStore`] keeps it in one PostgreSQL
//! table, so sessions survive restarts, are shared by every process of an
//! app, and can be listed, inspected and ended with SQL.
//!
//! # Use it
//!
//! ```toml
//! [dependencies]
//! actix-session-postgres = "0.1"
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
//!         let store = PgSessionStore::new(pools.for_new_worker(), ExpiryPolicy::default());
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
//! - **No resurrection.** `update` changes a row only while it exists and has
//!   not expired; it never inserts. A request that loaded a session before
//!   the user signed out in another tab cannot bring the data back when it
//!   finishes, under the old key or any other.
//! - **One round trip per step.** A request that reads its session costs one
//!   statement (`load`), one that changes it two (`load`, `update`), a new
//!   session one (`save`), a request without a session cookie none. The pool
//!   adds no ping ([`SessionPool`]).
//! - **Fewer statements under load.** Concurrent requests of one worker that
//!   need the same step share one statement ([`batch`]): loads by
//!   `key_hash = ANY($1)`, writes and new sessions through `unnest`, one
//!   commit for all. Nothing waits for a batch to fill: a request alone runs
//!   at once, and each request is answered only after its statement has
//!   returned (committed), so durability is unchanged. If a batch of several
//!   fails, each request runs its job alone and sees only its own error.
//! - **Pruning by one process at a time.** [`prune::prune_expired`] deletes
//!   expired rows in batches of [`prune::BATCH_SIZE`], each in a short
//!   transaction under a PostgreSQL advisory lock; a process that finds the
//!   lock taken skips its round. Every process may run it.
//!
//! # What it costs
//!
//! - One row per session. The data is a `jsonb` object (`{"visits": 3}`), so
//!   it is readable in `psql` and an app can derive indexed columns from it
//!   in its own migrations; a write replaces the whole object.
//! - Per request, at most the statements above, and a fraction of them under
//!   load (in this project's benchmark, 64 concurrent requests on 2 cores: 0.2
//!   statements for a read and a write, 0.14 for a read). A write touches no
//!   index, so PostgreSQL can keep the new row version on its page (a HOT
//!   update). Every write and every new session waits for its commit, as
//!   PostgreSQL's defaults have it; connect with `synchronous_commit=off` to
//!   trade the last moment of session changes in a database crash for speed.
//! - Connections: [`WorkerPools`] opens at most the number you give, spread
//!   over the workers; they open on first use and stay open.
//! - Names: the table is `sessions` and the function `touch_session`, in the
//!   connection's schema search path; an app must not use these names for
//!   anything else. Tested with PostgreSQL 15.
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
//!
//! Measured side by side on two cores (the session-demo project's benchmark,
//! 64 connections, 2,000 sessions, each store with 16 connections in all,
//! medians of three runs), this crate served 4.7, 3.0 and 3.5 times the
//! requests per second of the faster of the two for a read and a write, a
//! read, and a new session.
//! | data format | `jsonb` object | `jsonb` | MessagePack bytes |
//! | documentation | a guide, every item | one example | every item |
//!
//! [actix-session]: https://docs.rs/actix-session
//! [sqlx]: https://docs.rs/sqlx
//! [`actix-session-sqlx-postgres`]: https://docs.rs/actix-session-sqlx-postgres/0.3.0
//! [`PostgresStore`]: https://docs.rs/tower-sessions-sqlx-store

#![deny(missing_docs)]

pub mod batch;
pub mod key;
pub mod pool;
pub mod prune;
mod schema;
pub mod store;

pub use pool::{SessionPool, WorkerPools};
pub use schema::{MIGRATIONS_TABLE, migrations, migrator};
pub use store::{ExpiryPolicy, PgSessionStore, SessionState};
