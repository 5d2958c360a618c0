//! The schema: one migrator for the session store's migrations and the app's,
//! and databases migrated before the store became a crate of its own still start.

use session_demo::{config::Secret, database::MIGRATOR};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

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
fn the_app_migrates_the_stores_schema_and_its_own_as_one_sequence() {
    let migrations: Vec<(i64, String)> = MIGRATOR
        .iter()
        .map(|migration| (migration.version, hex::encode(&migration.checksum)))
        .collect();
    let recorded: Vec<(i64, String)> = RECORDED
        .iter()
        .map(|(version, _, checksum, _)| (*version, checksum.to_string()))
        .collect();
    assert_eq!(
        migrations[..recorded.len()],
        recorded[..],
        "the first four: same versions, same SQL, in order"
    );
    let later: Vec<i64> = migrations[recorded.len()..].iter().map(|m| m.0).collect();
    assert!(
        later.windows(2).all(|pair| pair[0] < pair[1]) && later.iter().all(|v| *v > 4),
        "later migrations come after, in order: {later:?}"
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

    let (migrations, old_sessions): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM _sqlx_migrations),
                (SELECT count(*) FROM sessions WHERE state->>'visits' = '7')",
    )
    .fetch_one(&mut old)
    .await
    .expect("query");
    // The four recorded ones stay as they were; only the migrations added since run.
    let known = i64::try_from(MIGRATOR.iter().count()).expect("a count");
    assert_eq!(migrations, known, "nothing applied twice");
    assert_eq!(old_sessions, 1, "old sessions kept");
}
