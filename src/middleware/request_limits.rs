//! Limits on the request head: a very long URL gets `414`, very large headers `431`.
//!
//! actix-web's only limit on a request head is a fixed 128 KiB buffer. Nothing
//! this app serves needs more than a few KiB, so anything far larger is refused
//! before any other work (no session load, no routing). Form bodies have their
//! own limit (16 KiB, `forms.rs`).

use actix_web::{
    ResponseError,
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
};

use crate::error::AppError;

/// The longest URL (path and query) accepted, in bytes.
pub(crate) const MAX_URI_BYTES: usize = 8 * 1024;

/// The most header bytes (names and values together) accepted.
pub(crate) const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses oversized request heads with a page in the layout.
pub(crate) async fn limit_request_head(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let uri_bytes = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    let refusal = if uri_bytes > MAX_URI_BYTES {
        Some(AppError::UriTooLong)
    } else if header_bytes > MAX_HEADER_BYTES {
        Some(AppError::HeadersTooLarge)
    } else {
        None
    };
    match refusal {
        Some(error) => Ok(req
            .into_response(error.error_response())
            .map_into_right_body()),
        None => Ok(next.call(req).await?.map_into_left_body()),
    }
}
