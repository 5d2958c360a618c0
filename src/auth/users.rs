//! The `users` table.

use sqlx::PgPool;

use super::credentials::Username;

/// A user as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    /// The user's id.
    pub id: i64,
    /// The username as registered (its case kept).
    pub username: String,
    /// The Argon2id PHC string.
    pub password_hash: String,
    /// Raised by every password change. A session remembers the version it
    /// signed in with, and PostgreSQL refuses to store a signed-in session
    /// whose version is no longer current (migrations/0005).
    pub credentials_version: i64,
    /// Raised when the user forgets all trusted devices: device cookies sealed
    /// under an older version are no longer trusted (`device.rs`).
    pub devices_version: i64,
}

/// Why a user could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    /// The name is taken (in any letter case).
    #[error("the username is taken")]
    Taken,
    /// The database failed.
    #[error(transparent)]
    Database(sqlx::Error),
}

/// Creates a user; the unique index on `lower(username)` decides "taken",
/// atomically, even when two people register the same name at the same moment.
pub async fn create(
    pool: &PgPool,
    username: &Username,
    password_hash: &str,
) -> Result<User, CreateUserError> {
    // RETURNING hands back what the database filled in (the id, the first
    // credentials version) without a second query.
    let result = sqlx::query_as(
        "INSERT INTO users (username, password_hash) VALUES ($1, $2)
         RETURNING id, username, password_hash, credentials_version, devices_version",
    )
    .bind(username.as_str())
    .bind(password_hash)
    .fetch_one(pool)
    .await;
    match result {
        Ok(user) => Ok(user),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(CreateUserError::Taken),
        Err(e) => Err(CreateUserError::Database(e)),
    }
}

/// Finds a user by name, whatever its letter case.
pub async fn find_by_username(pool: &PgPool, username: &str) -> Result<Option<User>, sqlx::Error> {
    // `lower(username)` matches the unique index, so this is an index lookup.
    sqlx::query_as(
        "SELECT id, username, password_hash, credentials_version, devices_version
         FROM users WHERE lower(username) = lower($1)",
    )
    .bind(username)
    .fetch_optional(pool)
    .await
}

/// Replaces a user's password hash and raises the credentials version, which
/// invalidates every session signed in with the old password; returns the new
/// version (`None` if the user is gone).
pub async fn set_password_hash(
    pool: &PgPool,
    id: i64,
    hash: &str,
) -> Result<Option<i64>, sqlx::Error> {
    // One statement, so the new hash and the new version are never seen apart.
    sqlx::query_scalar(
        "UPDATE users SET password_hash = $2, credentials_version = credentials_version + 1
         WHERE id = $1
         RETURNING credentials_version",
    )
    .bind(id)
    .bind(hash)
    .fetch_optional(pool)
    .await
}

/// Raises a user's devices version: every device cookie issued until now
/// stops being trusted (`device.rs`). Returns whether the user exists.
pub async fn forget_devices(pool: &PgPool, id: i64) -> Result<bool, sqlx::Error> {
    // An increment in PostgreSQL: two forgets at once both count.
    let updated =
        sqlx::query("UPDATE users SET devices_version = devices_version + 1 WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await?;
    Ok(updated.rows_affected() == 1)
}

/// The demo account of development, shown on the login page.
pub const DEMO_USERNAME: &str = "demo";
/// The demo account's password (development only, never in production).
pub const DEMO_PASSWORD: &str = "demo-password";

/// Creates the demo account if it does not exist (development only).
pub async fn ensure_demo_user(pool: &PgPool) -> anyhow::Result<()> {
    if find_by_username(pool, DEMO_USERNAME).await?.is_some() {
        return Ok(());
    }
    let hash = super::password::hash(DEMO_PASSWORD.into()).await?;
    let username = Username::parse(DEMO_USERNAME).map_err(|e| anyhow::anyhow!("{e}"))?;
    match create(pool, &username, &hash).await {
        Ok(_) | Err(CreateUserError::Taken) => Ok(()),
        Err(CreateUserError::Database(e)) => Err(e.into()),
    }
}
