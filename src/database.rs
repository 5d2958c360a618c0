//! The connection pool: making sure the database exists, connecting, migrating.

use std::{sync::LazyLock, time::Duration};

use anyhow::Context;
use sqlx::{
    PgPool, Postgres,
    migrate::{MigrateDatabase, Migrator},
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
    create_database_if_missing(url).await?;
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

/// Creates the database named in `url` when the server does not have it yet
/// (sqlx's `MigrateDatabase` asks the server's maintenance database).
async fn create_database_if_missing(url: &str) -> anyhow::Result<()> {
    if Postgres::database_exists(url)
        .await
        .context("connecting to PostgreSQL (maintenance database `postgres`)")?
    {
        return Ok(());
    }
    match Postgres::create_database(url).await {
        Ok(()) => {
            log::info!("created the database named in DATABASE_URL");
            Ok(())
        }
        Err(error) if created_by_someone_else(&error) => Ok(()),
        Err(error) => Err(error).context("creating the database"),
    }
}

/// Whether `CREATE DATABASE` failed because the database came into being
/// meanwhile: several instances starting at once against a new database all
/// find it missing and all create it. PostgreSQL lets one win and refuses the
/// others, with `42P04 duplicate_database`, or, when two creations overlap,
/// with `23505 unique_violation` on its catalog index of database names.
/// Either way the database now exists, which is all this start needed.
fn created_by_someone_else(error: &sqlx::Error) -> bool {
    let Some(error) = error.as_database_error() else {
        return false;
    };
    match error.code().as_deref() {
        Some("42P04") => true,
        Some("23505") => error.constraint() == Some("pg_database_datname_index"),
        _ => false,
    }
}
