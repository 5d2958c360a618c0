//! The benchmark's visit counter on axum + tower-sessions, with sessions in
//! PostgreSQL through tower-sessions-sqlx-store's `PostgresStore`, set up the
//! way that store's README shows: `migrate()` at start, a task deleting expired
//! sessions every minute, and an inactivity expiry (one hour, the app's default).
//!
//! The contract every peer follows (scripts/bench.sh relies on it):
//! - `GET /` counts the visit in the session and answers with the count;
//!   without a session cookie it creates the session (a first visit);
//! - `GET /visits` answers `{"visits":N}` (0 without a session) and writes nothing;
//! - `BIND_ADDR` (default 127.0.0.1:0) and `DATABASE_URL` come from the
//!   environment; the bound address is printed as `listening on http://ADDR`.

use std::time::Duration;

use axum::{Router, http::StatusCode, response::IntoResponse, routing::get};
use tower_sessions::{Expiry, Session, SessionManagerLayer, session_store::ExpiredDeletion};
use tower_sessions_sqlx_store::{PostgresStore, sqlx::postgres::PgPoolOptions};

/// The session's one entry.
const VISITS: &str = "visits";

/// The pool size every peer gets (the app's per-process default is 16 as well).
const POOL_SIZE: u32 = 16;

/// Counts this visit and shows the count.
async fn counter(session: Session) -> Result<String, StatusCode> {
    let visits = session
        .get::<u64>(VISITS)
        .await
        .map_err(unavailable)?
        .unwrap_or(0)
        + 1;
    session.insert(VISITS, visits).await.map_err(unavailable)?;
    Ok(format!("You have visited this page {visits} times."))
}

/// Shows the count without changing the session.
async fn visits(session: Session) -> Result<impl IntoResponse, StatusCode> {
    let visits = session
        .get::<u64>(VISITS)
        .await
        .map_err(unavailable)?
        .unwrap_or(0);
    Ok((
        [("content-type", "application/json")],
        format!("{{\"visits\":{visits}}}"),
    ))
}

fn unavailable(error: tower_sessions::session::Error) -> StatusCode {
    eprintln!("session error: {error}");
    StatusCode::SERVICE_UNAVAILABLE
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let database_url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    let bind = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());

    let pool = PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .connect(&database_url)
        .await?;
    let store = PostgresStore::new(pool);
    store.migrate().await?;
    let _deletion_task = tokio::spawn(
        store
            .clone()
            .continuously_delete_expired(Duration::from_secs(60)),
    );

    let sessions = SessionManagerLayer::new(store)
        .with_secure(false)
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(1)));
    let app = Router::new()
        .route("/", get(counter))
        .route("/visits", get(visits))
        .layer(sessions);

    let listener = tokio::net::TcpListener::bind(&bind).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
