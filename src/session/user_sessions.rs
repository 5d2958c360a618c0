//! Sessions seen from their user: listing and ending them.
//!
//! The `user_id` column is derived by PostgreSQL from the session's state (see
//! `migrations/0002_users.sql`), so these queries can find a user's sessions
//! while the store itself stays generic. Ending a session is deleting its row:
//! the browser that holds it is anonymous on its very next request, on
//! whichever app process that request lands.

use sqlx::PgPool;

/// One of a user's live sessions, for the account page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserSession {
    /// The opaque id shown on the account page (never the key).
    pub id: i64,
    /// Seconds since the session was created.
    pub age_seconds: i64,
    /// Seconds since it was last seen (written or its expiry extended).
    pub idle_seconds: i64,
    /// Seconds until it expires by inactivity.
    pub expires_in_seconds: i64,
    /// Seconds until it expires absolutely.
    pub absolute_expires_in_seconds: i64,
    /// The browser's user agent at sign-in.
    pub user_agent: Option<String>,
    /// True for the session making this request.
    pub current: bool,
}

/// The user's live sessions, most recently seen first; `current` marks the one
/// whose key digest is `current_digest`.
pub async fn list(
    pool: &PgPool,
    user_id: i64,
    current_digest: Option<[u8; 32]>,
) -> Result<Vec<UserSession>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id,
                extract(epoch FROM now() - created_at)::bigint AS age_seconds,
                extract(epoch FROM now() - last_seen_at)::bigint AS idle_seconds,
                extract(epoch FROM expires_at - now())::bigint AS expires_in_seconds,
                extract(epoch FROM absolute_expires_at - now())::bigint AS absolute_expires_in_seconds,
                user_agent,
                key_hash IS NOT DISTINCT FROM $2 AS current
         FROM sessions
         WHERE user_id = $1 AND expires_at > now()
         ORDER BY current DESC, last_seen_at DESC",
    )
    .bind(user_id)
    .bind(current_digest.as_ref().map(|d| d.as_slice()))
    .fetch_all(pool)
    .await
}

/// Ends one of the user's sessions, never the current one; returns whether one ended.
///
/// `user_id = $2` makes sure nobody can end another user's session by guessing ids.
pub async fn revoke(
    pool: &PgPool,
    user_id: i64,
    session_id: i64,
    current_digest: Option<[u8; 32]>,
) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query(
        "DELETE FROM sessions
         WHERE id = $1 AND user_id = $2 AND key_hash IS DISTINCT FROM $3",
    )
    .bind(session_id)
    .bind(user_id)
    .bind(current_digest.as_ref().map(|d| d.as_slice()))
    .execute(pool)
    .await?
    .rows_affected();
    Ok(deleted > 0)
}

/// Ends every session of the user except the current one; returns how many ended.
pub async fn revoke_all_others(
    pool: &PgPool,
    user_id: i64,
    current_digest: Option<[u8; 32]>,
) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND key_hash IS DISTINCT FROM $2")
            .bind(user_id)
            .bind(current_digest.as_ref().map(|d| d.as_slice()))
            .execute(pool)
            .await?
            .rows_affected(),
    )
}
