//! Throttling sign-in attempts, two ways.
//!
//! - **Per username, in the database.** Every failed password check (a login,
//!   or a wrong current password on the password form) is recorded for the
//!   username, with the device id of the browser if it is a trusted device
//!   (see `device.rs`). Within [`WINDOW`]:
//!   - the untrusted clients of a username are locked out after
//!     [`MAX_FAILURES`] failures for it, counting every client's;
//!   - a trusted device is locked out after [`DEVICE_MAX_FAILURES`] failures of
//!     its own; strangers' failures never count against it.
//!
//!   A locked-out client gets `429` with `Retry-After`, even with the right
//!   password, until enough failures have left the window. The counts live in
//!   PostgreSQL (`login_failures`), so every app process enforces the same
//!   limits, and other users are untouched.
//! - **Per client address** on `POST /login`, `POST /register` and `POST
//!   /account/password`, so that one address cannot hammer many usernames
//!   either: see `limits.rs`.

use std::time::Duration;

use sqlx::PgPool;

use super::{credentials::Username, device::DeviceId};
pub use crate::config::AddressLimit;

/// Failed logins for one username, from any client, after which its untrusted
/// clients are locked out.
pub const MAX_FAILURES: i64 = 10;

/// Failed logins of one trusted device after which that device is locked out
/// too. As many as anyone else gets: being trusted buys immunity from
/// strangers' failures, not more guesses.
pub const DEVICE_MAX_FAILURES: i64 = 10;

/// The sliding window for counting failed logins.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Seconds until this client may try `username` again, or `None` if it is not
/// locked out. `device` is the client's trusted device for that username, if any.
pub async fn lockout(
    pool: &PgPool,
    username: &Username,
    device: Option<&DeviceId>,
) -> Result<Option<u64>, sqlx::Error> {
    // The newest `max` failures in the window are all that matter: when there
    // are that many, the client is locked out until the oldest of those leaves
    // the window (then fewer than `max` remain). So skip the `max - 1` newest
    // and look at the next one: no row means not locked out. Rounded up, so
    // that waiting exactly that long is enough. A trusted device counts only
    // its own failures; an untrusted client counts every failure for the
    // name, the trusted devices' included.
    let max = if device.is_some() {
        DEVICE_MAX_FAILURES
    } else {
        MAX_FAILURES
    };
    let seconds: Option<f64> = sqlx::query_scalar(
        "SELECT ceil(extract(epoch FROM failed_at + $2::interval - now()))::float8
         FROM login_failures
         WHERE username_key = $1 AND failed_at > now() - $2::interval
           AND ($3::text IS NULL OR device = $3)
         ORDER BY failed_at DESC
         OFFSET $4 - 1 LIMIT 1",
    )
    .bind(username.key())
    .bind(WINDOW)
    .bind(device.map(DeviceId::as_str))
    .bind(max)
    .fetch_optional(pool)
    .await?;
    Ok(seconds.map(|seconds| seconds.max(1.0) as u64))
}

/// Records one failed login for `username`, from `device` if it is trusted.
pub async fn record_failure(
    pool: &PgPool,
    username: &Username,
    device: Option<&DeviceId>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO login_failures (username_key, device) VALUES ($1, $2)")
        .bind(username.key())
        .bind(device.map(DeviceId::as_str))
        .execute(pool)
        .await?;
    Ok(())
}

/// Forgets the failures of the client that just signed in as `username`: a
/// trusted device's own, or those of the untrusted clients.
pub async fn clear_failures(
    pool: &PgPool,
    username: &Username,
    device: Option<&DeviceId>,
) -> Result<(), sqlx::Error> {
    // `IS NOT DISTINCT FROM` matches NULL to NULL: no device, the untrusted rows.
    sqlx::query(
        "DELETE FROM login_failures WHERE username_key = $1 AND device IS NOT DISTINCT FROM $2",
    )
    .bind(username.key())
    .bind(device.map(DeviceId::as_str))
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes failures that have left the window (run by the pruning task).
pub async fn prune_failures(pool: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM login_failures WHERE failed_at <= now() - $1::interval")
            .bind(WINDOW)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}
