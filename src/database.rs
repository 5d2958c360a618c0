//! The connection pool: making sure the database exists, connecting, migrating.

use std::{sync::LazyLock, time::Duration};

use anyhow::Context;
use sqlx::{
    AssertSqlSafe, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};

/// The whole schema in one sequence, by version: the session store's
/// migrations (the `sessions` table, versions 1 and 4) and the app's own in
/// `migrations/` (users, carts, and the columns they add to `sessions`).
///
/// One migrator, recording in sqlx's usual table, as before the store became
/// a crate of its own: databases migrated then find the same versions and
/// checksums.
pub static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    static APP: Migrator = sqlx::migrate!();
    Migrator::with_migrations(
        actix_session_postgres::migrations()
            .chain(APP.iter())
            .cloned()
            .collect(),
    )
});

/// How the pool behaves; filled from the settings.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// The most connections open at once.
    pub max_connections: u32,
    /// How long a request waits for a free connection before it gets a 503.
    pub acquire_timeout: Duration,
    /// PostgreSQL cancels a statement running longer than this.
    pub statement_timeout: Duration,
}

/// How to connect to `url`: the parsed URL plus the statement timeout.
pub fn connect_options(url: &str, settings: PoolSettings) -> anyhow::Result<PgConnectOptions> {
    let options: PgConnectOptions = url
        .parse()
        .context("DATABASE_URL is not a valid PostgreSQL URL")?;
    // The statement timeout travels in the startup packet: no extra round trip.
    let timeout_ms = settings.statement_timeout.as_millis().to_string();
    Ok(options.options([("statement_timeout", timeout_ms.as_str())]))
}

/// Connects to the database at `url`, creating it first if it does not exist,
/// and brings its schema up to date with the embedded migrations.
pub async fn connect_and_migrate(url: &str, settings: PoolSettings) -> anyhow::Result<PgPool> {
    let options = connect_options(url, settings)?;
    create_database_if_missing(&options).await?;
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL")?;

    MIGRATOR
        .run(&pool)
        .await
        .context("running the database migrations")?;
    Ok(pool)
}

/// Creates the database named in `options` when the server does not have it yet.
async fn create_database_if_missing(options: &PgConnectOptions) -> anyhow::Result<()> {
    let Some(name) = options.get_database().map(str::to_owned) else {
        return Ok(()); // No name: PostgreSQL uses the user's default database.
    };
    // Ask the server's maintenance database, which always exists.
    let admin = options.clone().database("postgres");
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(admin)
        .await
        .context("connecting to PostgreSQL (maintenance database `postgres`)")?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&pool)
            .await?;
    if !exists {
        // Identifiers cannot be bound as parameters, so the name is quoted by hand:
        // double quotes around it, and any double quote inside doubled.
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        match sqlx::query(AssertSqlSafe(sql)).execute(&pool).await {
            Ok(_) => log::info!("created database {name}"),
            // Another process created it at the same moment: just as good.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e).context("creating the database"),
        }
    }
    pool.close().await;
    Ok(())
}
