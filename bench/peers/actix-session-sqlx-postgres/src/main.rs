//! The benchmark's visit counter on actix-web + actix-session, with sessions in
//! PostgreSQL through actix-session-sqlx-postgres, the published PostgreSQL
//! store for actix-session.
//!
//! That crate leaves the table to its user (the schema below is the one its
//! own tests create), keeps no index for expiry and never deletes expired
//! rows, and its `new(url)` opens a pool of one connection; so the pool is made
//! here with the size every peer gets and handed to `from_pool`. The session
//! middleware is actix-session's default (`SessionMiddleware::new`): a
//! private (encrypted) cookie, state written only when it changed.
//!
//! The contract every peer follows (scripts/bench.sh relies on it):
//! - `GET /` counts the visit in the session and answers with the count;
//!   without a session cookie it creates the session (a first visit);
//! - `GET /visits` answers `{"visits":N}` (0 without a session) and writes nothing;
//! - `BIND_ADDR` (default 127.0.0.1:0) and `DATABASE_URL` come from the
//!   environment; the bound address is printed as `listening on http://ADDR`.

use std::sync::Arc;

use actix_session::{Session, SessionMiddleware};
use actix_session_sqlx_postgres::SqlxPostgresqlSessionStore;
use actix_web::{App, HttpResponse, HttpServer, cookie::Key, web};
use sqlx::postgres::PgPoolOptions;

/// The session's one entry.
const VISITS: &str = "visits";

/// The pool size every peer gets (the app's per-process default is 16 as well).
const POOL_SIZE: u32 = 16;

/// The table as actix-session-sqlx-postgres's own tests create it.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS sessions (
    key TEXT PRIMARY KEY NOT NULL,
    session_state JSONB,
    expires TIMESTAMP WITH TIME ZONE NOT NULL
)";

/// Counts this visit and shows the count.
async fn counter(session: Session) -> actix_web::Result<String> {
    let visits = session.get::<u64>(VISITS)?.unwrap_or(0) + 1;
    session.insert(VISITS, visits)?;
    Ok(format!("You have visited this page {visits} times."))
}

/// Shows the count without changing the session.
async fn visits(session: Session) -> actix_web::Result<HttpResponse> {
    let visits = session.get::<u64>(VISITS)?.unwrap_or(0);
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(format!("{{\"visits\":{visits}}}")))
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let database_url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    let bind = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());

    let pool = PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .connect(&database_url)
        .await?;
    sqlx::query(SCHEMA).execute(&pool).await?;
    let store = SqlxPostgresqlSessionStore::from_pool(Arc::new(pool));
    // A fresh key per start: the benchmark needs no session to outlive the process.
    let key = Key::generate();

    let server = HttpServer::new(move || {
        App::new()
            .wrap(SessionMiddleware::new(store.clone(), key.clone()))
            .route("/", web::get().to(counter))
            .route("/visits", web::get().to(visits))
    })
    .bind(&bind)?;
    for address in server.addrs() {
        eprintln!("listening on http://{address}");
    }
    server.run().await?;
    Ok(())
}
