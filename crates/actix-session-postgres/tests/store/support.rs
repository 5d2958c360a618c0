//! A fresh, migrated database per test, and a store on it.

use std::{collections::HashMap, time::Duration};

use actix_session::storage::SessionKey;
use actix_session_postgres::{ExpiryPolicy, PgSessionStore, SessionPool};
use sqlx::{
    AssertSqlSafe, Connection, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

/// The TTL argument of the trait's methods; the store applies its own policy instead.
pub const TTL: actix_web::cookie::time::Duration = actix_web::cookie::time::Duration::HOUR;

/// The URL of a new, empty database on the shared test server.
pub async fn fresh_database() -> String {
    let server = dev_postgres::test_server()
        .await
        .expect("the private test PostgreSQL starts");
    let name = format!(
        "test_store_{}",
        actix_session_postgres::key::generate().expect("randomness")[..12].to_owned()
    );
    let mut admin = PgConnection::connect(&server.url("postgres"))
        .await
        .expect("the maintenance database");
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("a new database");
    server.url(&name)
}

/// A plain sqlx pool on a fresh database that has the store's schema.
pub async fn migrated_database() -> (String, PgPool) {
    let url = fresh_database().await;
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await
        .expect("connects");
    actix_session_postgres::migrator()
        .run(&pool)
        .await
        .expect("the schema");
    (url, pool)
}

/// A store ending sessions after `inactivity` idle seconds and `absolute`
/// seconds in all, on a fresh database; and a plain pool to look into it.
pub async fn store_with(inactivity: u64, absolute: u64) -> (PgSessionStore, PgPool) {
    let (url, pool) = migrated_database().await;
    let options: PgConnectOptions = url.parse().expect("a URL");
    let policy = ExpiryPolicy {
        inactivity: Duration::from_secs(inactivity),
        absolute: Duration::from_secs(absolute),
    };
    let sessions = SessionPool::new(options, 8, Duration::from_secs(10));
    (PgSessionStore::new(sessions, policy), pool)
}

/// A store with the default policy (an hour idle, a day in all).
pub async fn store() -> (PgSessionStore, PgPool) {
    store_with(3600, 86_400).await
}

/// Session data from name and JSON-text pairs.
pub fn state(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What a loaded state holds for the app: the store's reserved snapshot left out.
pub fn visible(state: Option<HashMap<String, String>>) -> Option<HashMap<String, String>> {
    state.map(|state| {
        state
            .into_iter()
            .filter(|(name, _)| !actix_session_postgres::is_reserved_key(name))
            .collect()
    })
}

/// A copy of a key (the trait consumes keys by value in `update`).
pub fn same_key(key: &SessionKey) -> SessionKey {
    SessionKey::try_from(key.as_ref().to_owned()).expect("a key")
}

/// How many rows the `sessions` table holds, expired ones included.
pub async fn rows(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(pool)
        .await
        .expect("count")
}

/// Inserts `count` sessions that expired a minute ago.
pub async fn insert_expired(pool: &PgPool, count: i64) {
    sqlx::query(
        "INSERT INTO sessions (key_hash, state, expires_at, absolute_expires_at)
         SELECT sha256(i::text::bytea), '{}', now() - interval '1 minute', now()
         FROM generate_series(1, $1) AS i",
    )
    .bind(count)
    .execute(pool)
    .await
    .expect("expired rows");
}
