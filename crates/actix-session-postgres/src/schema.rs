//! The store's schema, as sqlx migrations: the `sessions` table, the
//! `touch_session` function its reads call and the `session_patch` function
//! its writes call; and the check that a database has all of it.

use sqlx::migrate::{Migration, Migrator};

use crate::{error::StoreError, pool::SessionPool};

/// The SQL files in this crate's `migrations/`, embedded at compile time.
static SCHEMA: Migrator = sqlx::migrate!("./migrations");

/// Where [`migrator`] records what it applied, apart from an app's own
/// `_sqlx_migrations`, so that neither migrator mistakes the other's versions
/// for missing or unknown ones.
pub const MIGRATIONS_TABLE: &str = "_actix_session_postgres_migrations";

/// A migrator that creates (or updates) the store's schema, recording what it
/// applied in [`MIGRATIONS_TABLE`].
///
/// Run it at start-up, before serving. It is safe to run from several
/// processes at once (sqlx takes a lock) and does nothing when the schema is
/// up to date.
///
/// ```no_run
/// # async fn example(pool: sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
/// actix_session_postgres::migrator().run(&pool).await?;
/// # Ok(())
/// # }
/// ```
pub fn migrator() -> Migrator {
    let mut migrator = Migrator::with_migrations(migrations().cloned().collect());
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// The store's migrations, for an app that wants one migrator for everything:
/// merge them with its own. Prefer [`migrator`]: it records the store's
/// versions in a table of their own, so the app's versions can never clash
/// with the store's (1, 4, 6 and 7 so far, and more in later releases).
///
/// Columns an app derives from the session data belong in the app's own
/// migrations, e.g. a version 2 with
/// `ALTER TABLE sessions ADD COLUMN user_id bigint GENERATED ALWAYS AS ((state ->> 'user_id')::bigint) STORED`.
///
/// ```
/// use sqlx::migrate::Migrator;
///
/// # let app: Migrator = Migrator::with_migrations(Vec::new());
/// // `app` would be `sqlx::migrate!()`, your own migrations.
/// let everything = Migrator::with_migrations(
///     actix_session_postgres::migrations()
///         .cloned()
///         .chain(app.iter().cloned())
///         .collect(),
/// );
/// assert!(everything.version_exists(1));
/// ```
pub fn migrations() -> impl Iterator<Item = &'static Migration> {
    SCHEMA.iter()
}

/// Checks that the store can serve from `pool` (see [`SessionPool::check_schema`]).
pub(crate) async fn check(pool: &SessionPool) -> Result<(), StoreError> {
    // Every column and function the store's queries name, read from no
    // row: PostgreSQL still resolves each name and checks the privileges,
    // so a renamed column or a missing function fails here as it would in
    // the store. A simple query (`raw_sql`): nothing is prepared, so the
    // check stays one round trip on a fresh connection too.
    const SCHEMA_CHECK: &str = "
        SELECT id, key_hash, state, created_at, last_seen_at, expires_at,
               absolute_expires_at, touch_session(key_hash, interval '0'),
               session_patch(state, '{}')
        FROM sessions
        WHERE false";
    pool.run(async |conn| sqlx::raw_sql(SCHEMA_CHECK).execute(conn).await)
        .await
        .map(drop)
}
