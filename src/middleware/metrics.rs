//! Counting login attempts by result, around `POST /login` only.
//!
//! The route's own layers say which result it was: the handler answers 303
//! (signed in), 401 (wrong name or password) or 429 (locked: too many
//! failures for the name); the per-address limiter in front of it answers 429
//! too, without the handler running. [`past_address_limit`], just inside
//! the limiter, marks the requests it let through, so [`count_login_attempts`],
//! just outside it, tells the two 429s apart.
//!
//! (The HTTP metrics of every request are recorded by the edge,
//! `middleware/mod.rs`.)

use actix_web::{
    HttpMessage,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::StatusCode,
    middleware::Next,
    web,
};

use crate::metrics::{LoginResult, Metrics};

/// The mark of a login request that the per-address limiter let through.
#[derive(Debug, Clone, Copy)]
struct PastAddressLimit;

/// Marks the request as let through by the per-address limiter.
pub(crate) async fn past_address_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    req.extensions_mut().insert(PastAddressLimit);
    next.call(req).await
}

/// Counts the login attempt by its result (when metrics are on).
pub(crate) async fn count_login_attempts(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let response = next.call(req).await?;
    if let Some(metrics) = response.request().app_data::<web::Data<Metrics>>() {
        let passed = response
            .request()
            .extensions()
            .contains::<PastAddressLimit>();
        let result = match response.status() {
            StatusCode::SEE_OTHER => Some(LoginResult::Success),
            StatusCode::UNAUTHORIZED => Some(LoginResult::Failure),
            StatusCode::TOO_MANY_REQUESTS if passed => Some(LoginResult::Locked),
            StatusCode::TOO_MANY_REQUESTS => Some(LoginResult::Limited),
            // A form without its CSRF token, a 503: not an attempt at a password.
            _ => None,
        };
        if let Some(result) = result {
            metrics.login_attempt(result);
        }
    }
    Ok(response)
}
