//! The connection pool: making sure the database exists, connecting, migrating.

use std::{sync::LazyLock, time::Duration};

use anyhow::Context;
use sqlx::{
    AssertSqlSafe, PgPool, Postgres,
    migrate::{MigrateDatabase, Migrator},
    postgres::{PgConnectOptions, PgPoolOptions},
};

/// The app's own migrations (`migrations/`: users, carts, and the columns
/// they add to `sessions`), recorded in sqlx's usual `_sqlx_migrations`.
///
/// The session store's migrations are not among them: the store's crate
/// runs its own ([`actix_session_postgres::migrator`]) and records them in a
/// table of its own, so each side numbers its migrations as it likes and a
/// new one on either side can never clash with the other's. Until this
/// release both were recorded here; the store's versions found in this table
/// are tolerated (`ignore_missing`), and moved to the store's table once
/// (`adopt_store_migrations`).
pub static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    let mut migrator = sqlx::migrate!();
    migrator.set_ignore_missing(true);
    migrator
});

/// Brings the schema up to date: the store's migrations first (the app's
/// alter the store's `sessions` table), then the app's.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    adopt_store_migrations(pool)
        .await
        .context("moving the session store's migration records to its own table")?;
    actix_session_postgres::migrator()
        .run(pool)
        .await
        .context("running the session store's migrations")?;
    MIGRATOR
        .run(pool)
        .await
        .context("running the app's migrations")?;
    Ok(())
}

/// For a database migrated by a release that recorded the store's migrations
/// in `_sqlx_migrations` with the app's: copies those records, as they are
/// (same versions, same checksums), into the store's own table, so that the
/// store's migrator finds them applied instead of running them again. Does
/// nothing on a new database, or once the store's table exists.
///
/// One transaction under an advisory lock: instances starting at once take
/// turns, and only the first one copies.
async fn adopt_store_migrations(pool: &PgPool) -> Result<(), sqlx::Error> {
    const TABLE: &str = actix_session_postgres::MIGRATIONS_TABLE;
    let store_versions: Vec<i64> = actix_session_postgres::migrations()
        .map(|migration| migration.version)
        .collect();
    let mut tx = pool.begin().await?;
    // An arbitrary constant ("SDADOPT!" in ASCII), taken for this transaction only.
    sqlx::query("SELECT pg_advisory_xact_lock(x'5344414450544f21'::bigint)")
        .execute(&mut *tx)
        .await?;
    let (store_table, legacy_table): (bool, bool) = sqlx::query_as(
        "SELECT to_regclass($1) IS NOT NULL, to_regclass('_sqlx_migrations') IS NOT NULL",
    )
    .bind(TABLE)
    .fetch_one(&mut *tx)
    .await?;
    if store_table || !legacy_table {
        return Ok(());
    }
    // `LIKE ... INCLUDING ALL`: the same columns, defaults and key as the
    // table sqlx makes, so the store's migrator takes it for its own.
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE TABLE {TABLE} (LIKE _sqlx_migrations INCLUDING ALL)"
    )))
    .execute(&mut *tx)
    .await?;
    let adopted = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {TABLE} SELECT * FROM _sqlx_migrations WHERE version = ANY($1)"
    )))
    .bind(&store_versions)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    log::info!("the session store's {adopted} migration record(s) now live in {TABLE}");
    Ok(())
}

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

    migrate(&pool).await?;
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
