//! Throttling sign-in attempts, two ways.
//!
//! - **Per username, in the database.** After [`MAX_FAILURES`] failed logins for
//!   one username within [`WINDOW`], that username is locked out of login
//!   (`429` with `Retry-After`), even with the right password, until the oldest
//!   failure leaves the window. The count lives in PostgreSQL (`login_failures`),
//!   so every app process enforces the same limit, and other users are untouched.
//! - **Per client address, in memory**, with `actix-governor` on `POST /login`
//!   and `POST /register`: one address cannot hammer many usernames either.

use std::{net::IpAddr, time::Duration};

use actix_governor::{
    KeyExtractor, SimpleKeyExtractionError,
    governor::{
        NotUntil,
        clock::{Clock, DefaultClock, QuantaInstant},
    },
};
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError, dev::ServiceRequest};
use sqlx::PgPool;

use crate::{error::AppError, trusted_proxies::TrustedProxies};

/// Failed logins allowed per username within [`WINDOW`].
pub const MAX_FAILURES: i64 = 10;

/// The sliding window for counting failed logins.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// The key failures are counted under: the username in lower case, whether or
/// not such a user exists (so a lockout reveals nothing about existence).
fn failure_key(username: &str) -> String {
    username.to_lowercase()
}

/// Seconds until `username` may try again, or `None` if it is not locked out.
pub async fn lockout(pool: &PgPool, username: &str) -> Result<Option<u64>, sqlx::Error> {
    // Count the failures inside the window; when there are too many, the
    // lockout lasts until the oldest of them is older than the window.
    let (failures, retry_after): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*),
                extract(epoch FROM min(failed_at) + $2::interval - now())::float8
         FROM login_failures
         WHERE username_key = $1 AND failed_at > now() - $2::interval",
    )
    .bind(failure_key(username))
    .bind(WINDOW)
    .fetch_one(pool)
    .await?;
    Ok((failures >= MAX_FAILURES).then(|| retry_after.unwrap_or(1.0).ceil().max(1.0) as u64))
}

/// Records one failed login for `username`.
pub async fn record_failure(pool: &PgPool, username: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO login_failures (username_key) VALUES ($1)")
        .bind(failure_key(username))
        .execute(pool)
        .await?;
    Ok(())
}

/// Forgets the failures of `username` after a successful login.
pub async fn clear_failures(pool: &PgPool, username: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE username_key = $1")
        .bind(failure_key(username))
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

/// How many POSTs to `/login` and `/register` one address may make in a burst,
/// and how fast that allowance refills.
#[derive(Debug, Clone, Copy)]
pub struct AddressLimit {
    /// Requests allowed at once.
    pub burst: u32,
    /// One more request is allowed every this long.
    pub refill_every: Duration,
}

impl Default for AddressLimit {
    /// 20 attempts at once, then one every 3 seconds (20 a minute).
    fn default() -> Self {
        Self {
            burst: 20,
            refill_every: Duration::from_secs(3),
        }
    }
}

/// Identifies a client by its IP address for `actix-governor`, and answers
/// over-limit requests with our own 429 page.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress;

impl KeyExtractor for ClientAddress {
    type Key = IpAddr;
    type KeyExtractionError = SimpleKeyExtractionError<&'static str>;

    fn extract(&self, req: &ServiceRequest) -> Result<Self::Key, Self::KeyExtractionError> {
        // The TCP peer, or behind a trusted reverse proxy the client it names
        // in `X-Forwarded-For` (the rule is in trusted_proxies.rs).
        let peer = req.peer_addr().map(|addr| addr.ip()).ok_or_else(|| {
            SimpleKeyExtractionError::new("Could not identify the client address.")
                .set_status_code(actix_web::http::StatusCode::BAD_REQUEST)
        })?;
        Ok(match req.app_data::<TrustedProxies>() {
            Some(trusted) => trusted.client_address(
                peer,
                req.headers()
                    .get_all(actix_web::http::header::X_FORWARDED_FOR),
            ),
            None => peer,
        })
    }

    fn exceed_rate_limit_response(
        &self,
        negative: &NotUntil<QuantaInstant>,
        _response: HttpResponseBuilder,
    ) -> HttpResponse {
        let wait = negative.wait_time_from(DefaultClock::default().now());
        AppError::TooManyRequests {
            retry_after: wait.as_secs().max(1),
        }
        .error_response()
    }
}

/// The per-address limiter's configuration, built once at start so that every
/// worker thread shares one count per address.
pub type AddressLimiter = actix_governor::GovernorConfig<
    ClientAddress,
    actix_governor::governor::middleware::NoOpMiddleware,
>;

/// Builds the per-address limiter for `limit`; `None` for a zero burst or period.
pub fn address_limiter(limit: AddressLimit) -> Option<AddressLimiter> {
    actix_governor::GovernorConfigBuilder::default()
        .key_extractor(ClientAddress)
        .period(limit.refill_every)
        .burst_size(limit.burst)
        .finish()
}
