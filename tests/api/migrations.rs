//! The schema: the session store's migrations and the app's, each side
//! numbered and recorded on its own; databases migrated by earlier releases
//! (which recorded both in one table) still start.

use actix_session_postgres::MIGRATIONS_TABLE;
use session_demo::{config::Secret, database::MIGRATOR};
use sqlx::{AssertSqlSafe, Connection, PgConnection, migrate::Migrator};

use crate::support::{database_url, fresh_database_url, spawn_app_with};

/// Every migration as a database migrated by the app before the store moved
/// into `crates/actix-session-postgres` recorded it in `_sqlx_migrations`:
/// version, description, SHA-384 of the SQL (sqlx refuses to start when a
/// recorded checksum differs from the migration's), and the SQL itself.
const RECORDED: [(i64, &str, &str, &str); 4] = [
    (
        1,
        "sessions",
        "fca4b532239afa420d98aacc8bf80307dee824416a8238db6fcd9159fbb62d6917e5bd1979c5d5ba3931759927e06ebe",
        include_str!("../../crates/actix-session-postgres/migrations/0001_sessions.sql"),
    ),
    (
        2,
        "users",
        "7a45d1d7393857f40918bfdb94f38863374c68fbb94a78eba615a5564731cba496e4a0088ad821bd80aba9af04c437c7",
        include_str!("../../migrations/0002_users.sql"),
    ),
    (
        3,
        "cart",
        "28b9b6ea07b9e06c5d675ad5f3fff91b3b0a25f69eb58598946c229cee3119effac2d54bedac8bf35a1d9e26f2286ef7",
        include_str!("../../migrations/0003_cart.sql"),
    ),
    (
        4,
        "touch session",
        "7e9992f1f0b8489439b60db42a4974ce808152a4ab58b364da28da9a3d4173d1f67b80fd3e874e581082c2fd951cb219",
        include_str!("../../crates/actix-session-postgres/migrations/0004_touch_session.sql"),
    ),
];

#[test]
fn the_store_and_the_app_number_their_migrations_apart() {
    let app: Vec<i64> = MIGRATOR.iter().map(|migration| migration.version).collect();
    let store: Vec<i64> = actix_session_postgres::migrations()
        .map(|migration| migration.version)
        .collect();
    assert!(
        app.iter().all(|version| !store.contains(version)),
        "no version on both sides yet ({app:?}, {store:?}), though it would not matter now"
    );
    let recorded: Vec<(i64, String)> = RECORDED
        .iter()
        .map(|(version, _, checksum, _)| (*version, checksum.to_string()))
        .collect();
    let everything: Vec<(i64, String)> = actix_session_postgres::migrations()
        .chain(MIGRATOR.iter())
        .map(|migration| (migration.version, hex::encode(&migration.checksum)))
        .collect();
    for old in &recorded {
        assert!(
            everything.contains(old),
            "version {} keeps its SQL (sqlx compares checksums)",
            old.0
        );
    }
    assert!(
        MIGRATOR.ignore_missing,
        "the store's old records in _sqlx_migrations are tolerated"
    );
}

/// The versions recorded in `table`.
async fn versions(connection: &mut PgConnection, table: &str) -> Vec<i64> {
    sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT version FROM {table} ORDER BY version"
    )))
    .fetch_all(connection)
    .await
    .expect("the table's versions")
}

#[tokio::test]
async fn a_new_database_records_the_stores_migrations_and_the_apps_apart() {
    let url = fresh_database_url().await;
    let app = spawn_app_with(|s| s.database_url = Some(Secret::new(&url))).await;
    app.get("/").await;
    let mut connection = PgConnection::connect(&url).await.expect("connects");
    let app_versions: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    let store_versions: Vec<i64> = actix_session_postgres::migrations()
        .map(|m| m.version)
        .collect();
    assert_eq!(
        versions(&mut connection, "_sqlx_migrations").await,
        app_versions
    );
    assert_eq!(
        versions(&mut connection, MIGRATIONS_TABLE).await,
        store_versions
    );
}

#[tokio::test]
async fn a_database_migrated_by_the_previous_release_still_starts() {
    // The previous release ran the store's migrations (then 1, 4 and 6) and
    // the app's in one migrator, recording all of them in `_sqlx_migrations`.
    let url = fresh_database_url().await;
    let name = url.rsplit('/').next().expect("a database name").to_owned();
    let mut admin = PgConnection::connect(&database_url("postgres").await)
        .await
        .expect("the maintenance database");
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .expect("created");
    let previous = Migrator::with_migrations(
        actix_session_postgres::migrations()
            .filter(|migration| [1, 4, 6].contains(&migration.version))
            .chain(MIGRATOR.iter().filter(|migration| migration.version <= 5))
            .cloned()
            .collect(),
    );
    let mut old = PgConnection::connect(&url).await.expect("connects");
    previous
        .run(&mut old)
        .await
        .expect("the previous release's schema");

    let app = spawn_app_with(|s| s.database_url = Some(Secret::new(&url))).await;
    app.get("/").await;
    app.get("/").await;
    assert_eq!(app.visits().await, 2, "the app serves sessions");
    let store_versions: Vec<i64> = actix_session_postgres::migrations()
        .map(|m| m.version)
        .collect();
    assert_eq!(
        versions(&mut old, MIGRATIONS_TABLE).await,
        store_versions,
        "the store's records moved to its table, and its newer migrations ran"
    );
    assert_eq!(
        versions(&mut old, "_sqlx_migrations").await,
        [1, 2, 3, 4, 5, 6],
        "the old records stay where they were, untouched"
    );
}

#[tokio::test]
async fn a_database_migrated_before_the_store_became_a_crate_still_starts() {
    // Build the database as the app left it then: the four migrations applied
    // and recorded in sqlx's table, exactly as sqlx records them (later
    // migrations did not exist yet).
    let url = fresh_database_url().await;
    let name = url.rsplit('/').next().expect("a database name").to_owned();
    let mut admin = PgConnection::connect(&database_url("postgres").await)
        .await
        .expect("the maintenance database");
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut admin)
        .await
        .expect("created");
    let mut old = PgConnection::connect(&url).await.expect("connects");
    sqlx::raw_sql(
        "CREATE TABLE _sqlx_migrations (
             version BIGINT PRIMARY KEY,
             description TEXT NOT NULL,
             installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
             success BOOLEAN NOT NULL,
             checksum BYTEA NOT NULL,
             execution_time BIGINT NOT NULL
         )",
    )
    .execute(&mut old)
    .await
    .expect("sqlx's table");
    for (version, description, checksum, sql) in RECORDED {
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut old)
            .await
            .expect("applied");
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES ($1, $2, TRUE, $3, 1)",
        )
        .bind(version)
        .bind(description)
        .bind(hex::decode(checksum).expect("hex"))
        .execute(&mut old)
        .await
        .expect("recorded");
    }
    sqlx::query(
        "INSERT INTO sessions (key_hash, state, expires_at, absolute_expires_at)
         VALUES (sha256('an old session'), '{\"visits\": 7}', now() + interval '1 hour',
                 now() + interval '1 day')",
    )
    .execute(&mut old)
    .await
    .expect("a session from before");

    let app = spawn_app_with(|s| s.database_url = Some(Secret::new(&url))).await;
    app.get("/").await;
    assert_eq!(app.visits().await, 1, "the app serves sessions");

    let old_sessions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sessions WHERE state->>'visits' = '7'")
            .fetch_one(&mut old)
            .await
            .expect("query");
    assert_eq!(old_sessions, 1, "old sessions kept");
    // Nothing applied twice: the four recorded ones stay as they were, the
    // store's moved to its own table, and only the migrations added since ran.
    let store_versions: Vec<i64> = actix_session_postgres::migrations()
        .map(|m| m.version)
        .collect();
    assert_eq!(versions(&mut old, MIGRATIONS_TABLE).await, store_versions);
    assert_eq!(
        versions(&mut old, "_sqlx_migrations").await,
        [1, 2, 3, 4, 5]
    );
}
