//! What the store holds for one session, row and all: the inspector's view.

use sqlx::PgPool;

/// The most characters of `state` a [`SessionDetails`] carries: a state
/// written straight into the database can be megabytes, and the inspector's
/// page must stay small and quick.
pub const STATE_CHARS: i32 = 16 * 1024;

/// One `sessions` row, with its times as text and as seconds from now.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionDetails {
    /// The row's opaque id.
    pub id: i64,
    /// The `state` column, pretty-printed JSON: its first [`STATE_CHARS`]
    /// characters.
    pub state: String,
    /// The size of the whole pretty-printed `state`, in bytes.
    pub state_bytes: i64,
    /// `created_at`, as UTC text.
    pub created_at: String,
    /// `last_seen_at`, as UTC text.
    pub last_seen_at: String,
    /// `expires_at`, as UTC text.
    pub expires_at: String,
    /// `absolute_expires_at`, as UTC text.
    pub absolute_expires_at: String,
    /// Seconds since creation.
    pub age_seconds: i64,
    /// Seconds since last seen.
    pub idle_seconds: i64,
    /// Seconds until the inactivity expiry.
    pub expires_in_seconds: i64,
    /// Seconds until the absolute expiry.
    pub absolute_expires_in_seconds: i64,
}

/// The live row whose key has this digest, if any.
pub async fn find(pool: &PgPool, digest: &[u8; 32]) -> Result<Option<SessionDetails>, sqlx::Error> {
    // Formatting in SQL keeps every time on the database's clock, like the
    // store. Only the beginning of the state crosses the wire (pretty-printed
    // once, in the LATERAL).
    sqlx::query_as(
        "SELECT id,
                left(pretty, $2) AS state,
                octet_length(pretty)::bigint AS state_bytes,
                to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"') AS created_at,
                to_char(last_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"') AS last_seen_at,
                to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"') AS expires_at,
                to_char(absolute_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"')
                    AS absolute_expires_at,
                extract(epoch FROM now() - created_at)::bigint AS age_seconds,
                extract(epoch FROM now() - last_seen_at)::bigint AS idle_seconds,
                extract(epoch FROM expires_at - now())::bigint AS expires_in_seconds,
                extract(epoch FROM absolute_expires_at - now())::bigint AS absolute_expires_in_seconds
         FROM sessions, LATERAL (SELECT jsonb_pretty(state) AS pretty) AS p
         WHERE key_hash = $1 AND expires_at > now()",
    )
    .bind(digest.as_slice())
    .bind(STATE_CHARS)
    .fetch_optional(pool)
    .await
}
