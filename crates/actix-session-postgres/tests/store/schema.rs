//! The store's schema, run on its own or beside an app's own migrations.

use actix_session_postgres::{MIGRATIONS_TABLE, migrations, migrator};
use sqlx::migrate::Migrator;
use sqlx::{AssertSqlSafe, PgPool, postgres::PgPoolOptions};

use crate::support::fresh_database;

async fn pool() -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .connect(&fresh_database().await)
        .await
        .expect("connects")
}

#[tokio::test]
async fn the_migrator_creates_the_schema_once_and_then_does_nothing() {
    let pool = pool().await;
    migrator().run(&pool).await.expect("creates");
    migrator()
        .run(&pool)
        .await
        .expect("a second run is a no-op");

    let recorded: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT version FROM {MIGRATIONS_TABLE} ORDER BY version"
    )))
    .fetch_all(&pool)
    .await
    .expect("its own record");
    assert_eq!(recorded, [1, 4, 6, 7]);
    let function: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'touch_session'
                          AND pg_get_function_identity_arguments(oid) LIKE '%bytea%')",
    )
    .fetch_one(&pool)
    .await
    .expect("query");
    assert!(function, "touch_session(key_hash, interval) exists");
}

#[tokio::test]
async fn an_app_with_its_own_version_1_migrates_beside_the_store() {
    let pool = pool().await;
    migrator().run(&pool).await.expect("the store's schema");
    // An app's migrator, numbering its own from 1 in sqlx's usual table, and
    // adding a column derived from the session data.
    let app = Migrator::with_migrations(vec![sqlx::migrate::Migration::new(
        1,
        "user id".into(),
        sqlx::migrate::MigrationType::Simple,
        sqlx::SqlSafeStr::into_sql_str(
            "ALTER TABLE sessions ADD COLUMN user_id bigint \
             GENERATED ALWAYS AS ((state ->> 'user_id')::bigint) STORED",
        ),
        false,
    )]);
    app.run(&pool).await.expect("the app's schema");
    migrator()
        .run(&pool)
        .await
        .expect("the store's again, untroubled");
    app.run(&pool).await.expect("the app's again, untroubled");
}

#[tokio::test]
async fn the_migrations_can_be_merged_into_an_apps_migrator() {
    let versions: Vec<i64> = migrations().map(|migration| migration.version).collect();
    assert_eq!(versions, [1, 4, 6, 7]);
    let pool = pool().await;
    let merged = Migrator::with_migrations(migrations().cloned().collect());
    merged.run(&pool).await.expect("runs in sqlx's usual table");
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .expect("query");
    assert_eq!(recorded, 4);
}

#[tokio::test]
async fn the_schema_check_passes_only_while_the_stores_schema_is_whole() {
    let url = fresh_database().await;
    let pool = actix_session_postgres::SessionPool::new(
        url.parse().expect("a URL"),
        1,
        std::time::Duration::from_secs(5),
    );
    assert!(
        pool.check_schema().await.is_err(),
        "an empty database fails the check"
    );

    let plain = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .expect("connects");
    migrator().run(&plain).await.expect("the store's schema");
    pool.check_schema()
        .await
        .expect("a migrated database passes");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&plain)
        .await
        .expect("count");
    assert_eq!(rows, 0, "the check creates no session");

    sqlx::raw_sql("ALTER TABLE sessions RENAME COLUMN last_seen_at TO seen_at")
        .execute(&plain)
        .await
        .expect("rename");
    assert!(
        pool.check_schema().await.is_err(),
        "a renamed column fails the check"
    );
    sqlx::raw_sql(
        "ALTER TABLE sessions RENAME COLUMN seen_at TO last_seen_at;
         DROP FUNCTION touch_session(bytea, interval);",
    )
    .execute(&plain)
    .await
    .expect("drop the function");
    assert!(
        pool.check_schema().await.is_err(),
        "a missing touch_session fails the check"
    );
}
