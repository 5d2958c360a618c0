//! The benchmark's visit counter on actix-web + actix-session, with sessions in
//! Redis through actix-session's own `RedisSessionStore`.
//!
//! Set up as actix-session's documentation shows: `RedisSessionStore::new(url)`
//! (one multiplexed connection managed by the redis crate, shared by every
//! worker) and the default middleware (`SessionMiddleware::new`). Redis is
//! whatever server `REDIS_URL` names; scripts/bench.sh starts one of its own.
//!
//! The contract every peer follows (scripts/bench.sh relies on it):
//! - `GET /` counts the visit in the session and answers with the count;
//!   without a session cookie it creates the session (a first visit);
//! - `GET /visits` answers `{"visits":N}` (0 without a session) and writes nothing;
//! - `BIND_ADDR` (default 127.0.0.1:0) comes from the environment, and the
//!   store's address too: here `REDIS_URL` (default redis://127.0.0.1:6379);
//!   the bound address is printed as `listening on http://ADDR`.

use actix_session::{Session, SessionMiddleware, storage::RedisSessionStore};
use actix_web::{App, HttpResponse, HttpServer, cookie::Key, web};

/// The session's one entry.
const VISITS: &str = "visits";

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
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let bind = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());

    let store = RedisSessionStore::new(redis_url)
        .await
        .map_err(|error| format!("connecting to Redis: {error:#}"))?;
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
