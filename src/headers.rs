//! Security headers, added to every response by one middleware.

use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderMap, HeaderName, HeaderValue},
    middleware::{DefaultHeaders, Next},
};

/// The Content-Security-Policy: only our own files; no inline script or style,
/// no plugins, no framing, forms post only to us.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Tells browsers to use HTTPS for this host from now on (production only).
const HSTS: &str = "max-age=63072000; includeSubDomains";

/// Adds the security headers to every response: pages, redirects, static files and errors.
///
/// - `Content-Security-Policy`: no inline scripts, nothing from other origins, no framing;
/// - `X-Content-Type-Options: nosniff`: files are taken for what their type says;
/// - `X-Frame-Options: DENY`: clickjacking protection for older browsers too;
/// - `Referrer-Policy: same-origin`: our URLs are not leaked to other sites;
/// - `Strict-Transport-Security` in production.
///
/// A middleware deeper in the stack may answer with an error instead of a
/// response (the session store does, when PostgreSQL is down); the response
/// that error becomes gets the same headers.
pub async fn security_headers(
    production: bool,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    match next.call(req).await {
        Ok(mut response) => {
            add_security_headers(response.headers_mut(), production);
            Ok(response)
        }
        Err(mut error) => {
            error.add_response_mapper(move |mut response| {
                add_security_headers(response.headers_mut(), production);
                response
            });
            Err(error)
        }
    }
}

fn add_security_headers(headers: &mut HeaderMap, production: bool) {
    let mut add = |name: HeaderName, value: &'static str| {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    add(header::CONTENT_SECURITY_POLICY, CSP);
    add(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    add(header::X_FRAME_OPTIONS, "DENY");
    add(header::REFERRER_POLICY, "same-origin");
    if production {
        add(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
}

/// Pages of a session show private data (the cart, the account): no cache may keep them.
pub fn private_page() -> DefaultHeaders {
    DefaultHeaders::new().add((header::CACHE_CONTROL, "no-store"))
}
