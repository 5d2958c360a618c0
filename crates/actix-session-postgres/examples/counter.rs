//! The smallest complete app on this store: a visit counter.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1/counter cargo run -p actix-session-postgres --example counter
//! curl -c jar -b jar http://127.0.0.1:8080/    # 1, then 2, 3, ...
//! ```

use std::{net::TcpListener, time::Duration};

use actix_session::{Session, SessionMiddleware};
use actix_session_postgres::{ExpiryPolicy, PgSessionStore, WorkerPools};
use actix_web::{App, HttpServer, cookie::Key, get};
use sqlx::{Connection, PgConnection, postgres::PgConnectOptions};

/// Counts this browser's visits in its session.
#[get("/")]
async fn count(session: Session) -> actix_web::Result<String> {
    let visits = session.get::<u64>("visits")?.unwrap_or(0) + 1;
    session.insert("visits", visits)?;
    Ok(format!("{visits}\n"))
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let database_url = std::env::var("DATABASE_URL")?;
    let listener = TcpListener::bind("127.0.0.1:8080")?;
    println!("http://{}", listener.local_addr()?);
    serve(listener, &database_url).await
}

/// Creates the store's table if needed, then serves on `listener`.
pub async fn serve(listener: TcpListener, database_url: &str) -> anyhow::Result<()> {
    let options: PgConnectOptions = database_url.parse()?;
    let mut connection = PgConnection::connect_with(&options).await?;
    actix_session_postgres::migrator()
        .run(&mut connection)
        .await?;

    let workers = 2;
    let pools = WorkerPools::new(options, workers, 8, Duration::from_secs(5));
    // A real app reads its key from a secret setting: this one ends every
    // session when the process restarts.
    let key = Key::generate();
    let server = HttpServer::new(move || {
        // `visits` is a counter: two requests of one browser at once add two.
        let store = PgSessionStore::new(pools.for_new_worker(), ExpiryPolicy::default())
            .with_counters(["visits"]);
        let sessions = SessionMiddleware::builder(store, key.clone())
            .cookie_secure(false) // Plain HTTP here; keep the default behind HTTPS.
            .build();
        App::new().wrap(sessions).service(count)
    })
    .workers(workers)
    .listen(listener)?
    .run();
    Ok(server.await?)
}
