//! The login decision: is this the user's password, and may this client ask?
//!
//! The login form and the password form (its "current password") ask the same
//! question, so both ask it here, and their handlers only turn the answer into
//! a page. One [`attempt`] goes like this:
//!
//! 1. A name that breaks the username rules belongs to no account: it is
//!    refused like any wrong login, without being sent to the database.
//! 2. The user is looked up (for an unknown name too: one query either way).
//! 3. Is this browser a trusted device for the user (`device.rs`): a genuine,
//!    unexpired device cookie sealed under the user's current versions?
//! 4. Is this client locked out for the name (`throttle.rs`)? Then no password
//!    is checked at all: [`LoginOutcome::LockedOut`].
//! 5. The password is verified; for an unknown user against a dummy hash, so
//!    that both cases take the same time and the answer does not reveal which
//!    usernames exist (`password.rs`).
//! 6. A wrong password is recorded as a failure for the name (and the
//!    device). The right one clears this client's failures and earns the
//!    browser a fresh device cookie.

use actix_web::{HttpRequest, cookie::Cookie};
use sqlx::PgPool;

use super::{
    credentials::Username,
    device::DeviceCookies,
    password, throttle,
    users::{self, User},
};
use crate::error::AppError;

/// What a login attempt came to.
#[allow(
    clippy::large_enum_variant,
    reason = "one short-lived value per login attempt; boxing would buy nothing"
)]
pub enum LoginOutcome {
    /// The right password for an existing user.
    Accepted {
        /// The user, as stored.
        user: User,
        /// A fresh device cookie for this browser: it is now trusted for this user.
        device_cookie: Cookie<'static>,
    },
    /// An unknown user or a wrong password: by design, nobody can tell which.
    Refused,
    /// Too many failures for this client and name: no password was checked.
    LockedOut {
        /// Seconds until this client may try again (rounded up, at least 1).
        retry_after: u64,
    },
}

/// Decides whether `password` signs `req`'s client in as `username`.
///
/// Errors are the app's own trouble (the database, hashing slots all busy), not
/// a verdict on the password.
pub async fn attempt(
    pool: &PgPool,
    devices: &DeviceCookies,
    req: &HttpRequest,
    username: &str,
    password: String,
) -> Result<LoginOutcome, AppError> {
    let Ok(username) = Username::parse(username) else {
        password::verify(password, None).await?;
        return Ok(LoginOutcome::Refused);
    };
    let user = users::find_by_username(pool, username.as_str()).await?;
    let device = devices.trusted(req, &username, user.as_ref());
    if let Some(retry_after) = throttle::lockout(pool, &username, device.as_ref()).await? {
        return Ok(LoginOutcome::LockedOut { retry_after });
    }
    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    // Unknown user or wrong password: the same Argon2 work, the same answer.
    let valid = password::verify(password, stored_hash).await?;
    let Some(user) = user.filter(|_| valid) else {
        throttle::record_failure(pool, &username, device.as_ref()).await?;
        return Ok(LoginOutcome::Refused);
    };
    throttle::clear_failures(pool, &username, device.as_ref()).await?;
    let device_cookie = devices
        .issue(&username, &user)
        .map_err(AppError::Internal)?;
    Ok(LoginOutcome::Accepted {
        user,
        device_cookie,
    })
}
