//! The benchmark's visit counter on actix-web + actix-session with its
//! `CookieSessionStore`: the whole session travels in the (encrypted) cookie
//! and nothing is stored on the server. It is the benchmark's ceiling for
//! the session middleware: the cost of actix-web, actix-session and the
//! cookie's encryption, without any storage.
//!
//! The contract every peer follows (scripts/bench.sh relies on it):
//! - `GET /` counts the visit in the session and answers with the count;
//!   without a session cookie it creates the session (a first visit);
//! - `GET /visits` answers `{"visits":N}` (0 without a session) and writes nothing;
//! - `BIND_ADDR` (default 127.0.0.1:0) comes from the environment (there is
//!   no store to point at); the bound address is printed as
//!   `listening on http://ADDR`.
//!
//! The benchmark replays the cookie each session got at its first visit, so
//! with this store every `GET /` counts from that cookie's value (the new
//! cookie a visit sends back is not kept): the work per request is the same
//! as with a server-side store, only the count does not grow.

use actix_session::{Session, SessionMiddleware, storage::CookieSessionStore};
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
    let bind = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());
    // A fresh key per start: the benchmark needs no session to outlive the process.
    let key = Key::generate();

    let server = HttpServer::new(move || {
        App::new()
            .wrap(SessionMiddleware::new(
                CookieSessionStore::default(),
                key.clone(),
            ))
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
