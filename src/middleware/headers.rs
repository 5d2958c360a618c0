//! Security headers on every response, and `Cache-Control: no-store` on the
//! pages of a session.

use actix_web::{
    http::header::{self, HeaderMap, HeaderName, HeaderValue},
    middleware::DefaultHeaders,
};

/// The Content-Security-Policy: only our own files; no inline script or style,
/// no plugins, no framing, forms post only to us.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Tells browsers to use HTTPS for this host from now on (production only).
const HSTS: &str = "max-age=63072000; includeSubDomains";

/// Adds the security headers a response does not set itself (the edge of the
/// stack calls it for every response: pages, redirects, static files, errors):
///
/// - `Content-Security-Policy`: no inline scripts, nothing from other origins, no framing;
/// - `X-Content-Type-Options: nosniff`: files are taken for what their type says;
/// - `X-Frame-Options: DENY`: clickjacking protection for older browsers too;
/// - `Referrer-Policy: same-origin`: our URLs are not leaked to other sites;
/// - `Strict-Transport-Security` in production.
pub(crate) fn add_security_headers(headers: &mut HeaderMap, production: bool) {
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
pub(crate) fn private_page() -> DefaultHeaders {
    DefaultHeaders::new().add((header::CACHE_CONTROL, "no-store"))
}
