//! The access log: one line per request, failed ones included.
//!
//! actix-web's own `Logger` writes its line when a response is ready, so a
//! response that travels up the middleware stack as an error (the session
//! store's 503, see `session/middleware.rs`) never gets one. This middleware
//! logs both kinds in the same shape:
//! `127.0.0.1 "GET /cart HTTP/1.1" 200 1.234ms`. It logs no headers, so no
//! cookie ever reaches the log.

use std::time::Instant;

use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
};

/// Logs one line per request at `info` level, under the `access` target
/// (`RUST_LOG=access=warn` silences it, for example in a benchmark).
pub async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if !log::log_enabled!(target: "access", log::Level::Info) {
        return next.call(req).await;
    }
    let started = Instant::now();
    let peer = req
        .peer_addr()
        .map_or_else(|| "-".to_owned(), |addr| addr.ip().to_string());
    let request_line = format!("{} {} {:?}", req.method(), req.uri(), req.version());
    let result = next.call(req).await;
    let status = match &result {
        Ok(response) => response.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    log::info!(
        target: "access",
        "{peer} \"{request_line}\" {} {:.3}ms",
        status.as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    result
}
