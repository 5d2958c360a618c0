//! The benchmark's visit counter on actix-web + actix-session, with sessions in
//! PostgreSQL through this project's own store crate,
//! `crates/actix-session-postgres`: the crate alone, without the rest of the
//! session-demo app (no HTML pages, no other middleware).
//!
//! Set up as the crate's guide shows: its migrations at start, one
//! `WorkerPools` pool per actix worker sharing `POOL_SIZE` connections in all
//! (default 16, what every peer gets), `PgSessionStore` at its defaults with
//! `visits` declared as a counter (concurrent visits of one session add up),
//! actix-session's default middleware (`SessionMiddleware::new`).
//!
//! The contract every peer follows (scripts/bench.sh relies on it):
//! - `GET /` counts the visit in the session and answers with the count;
//!   without a session cookie it creates the session (a first visit);
//! - `GET /visits` answers `{"visits":N}` (0 without a session) and writes nothing;
//! - `BIND_ADDR` (default 127.0.0.1:0) and `DATABASE_URL` come from the
//!   environment; the bound address is printed as `listening on http://ADDR`.
//!
//! `POOL_SIZE` (default 16): the connections of all the workers' pools
//! together; the benchmark's pool sweep sets it. `STATEMENTS_IN_FLIGHT`
//! (default: the crate's, `DEFAULT_STATEMENTS_IN_FLIGHT`): the shared
//! statements each worker's store runs at once, to measure other values.

use std::time::Duration;

use actix_session::{Session, SessionMiddleware};
use actix_session_postgres::{
    DEFAULT_STATEMENTS_IN_FLIGHT, ExpiryPolicy, PgSessionStore, WorkerPools,
};
use actix_web::{App, HttpResponse, HttpServer, cookie::Key, web};
use sqlx::{Connection, PgConnection, postgres::PgConnectOptions};

/// The session's one entry.
const VISITS: &str = "visits";

/// The pool size every peer gets (the app's `DATABASE_MAX_CONNECTIONS` default).
const DEFAULT_POOL_SIZE: usize = 16;

/// How long a request waits for a connection (the crate guide's figure).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

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

/// The whole number above 0 in environment variable `name`, if it is set.
fn whole_number(name: &str) -> Result<Option<usize>, String> {
    match std::env::var(name) {
        Ok(text) => text
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .map(Some)
            .ok_or_else(|| format!("{name} must be a whole number above 0, got {text:?}")),
        Err(_) => Ok(None),
    }
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let database_url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    let bind = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());
    let pool_size = whole_number("POOL_SIZE")?.unwrap_or(DEFAULT_POOL_SIZE);
    let in_flight = whole_number("STATEMENTS_IN_FLIGHT")?.unwrap_or(DEFAULT_STATEMENTS_IN_FLIGHT);

    let options: PgConnectOptions = database_url.parse()?;
    let mut connection = PgConnection::connect_with(&options).await?;
    actix_session_postgres::migrator()
        .run(&mut connection)
        .await?;
    connection.close().await?;

    // actix's default: one worker per CPU, made explicit because each gets a pool.
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let pools = WorkerPools::new(options, workers, pool_size, ACQUIRE_TIMEOUT);
    eprintln!(
        "{workers} workers, {} connections in all, {in_flight} statements in flight per worker",
        pools.max_connections()
    );
    // A fresh key per start: the benchmark needs no session to outlive the process.
    let key = Key::generate();

    let server = HttpServer::new(move || {
        // Runs once in each worker thread: each worker's store on its own pool.
        let store = PgSessionStore::new(pools.for_new_worker(), ExpiryPolicy::default())
            .with_counters([VISITS])
            .with_statements_in_flight(in_flight);
        App::new()
            .wrap(SessionMiddleware::new(store, key.clone()))
            .route("/", web::get().to(counter))
            .route("/visits", web::get().to(visits))
    })
    .workers(workers)
    .bind(&bind)?;
    for address in server.addrs() {
        eprintln!("listening on http://{address}");
    }
    server.run().await?;
    Ok(())
}
