//! Security headers, added to every response by one middleware.

use std::fmt;

use actix_web::{
    HttpResponse, ResponseError,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::{
        StatusCode,
        header::{self, HeaderMap, HeaderName, HeaderValue},
    },
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
/// response (the session store does, when PostgreSQL is down); that error is
/// wrapped so the page it becomes carries the same headers.
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
        Err(error) => Err(WithSecurityHeaders { error, production }.into()),
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

/// An error whose response gets the security headers too.
struct WithSecurityHeaders {
    error: actix_web::Error,
    production: bool,
}

impl fmt::Debug for WithSecurityHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.error, f)
    }
}

impl fmt::Display for WithSecurityHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl ResponseError for WithSecurityHeaders {
    fn status_code(&self) -> StatusCode {
        self.error.as_response_error().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = self.error.error_response();
        add_security_headers(response.headers_mut(), self.production);
        response
    }
}

/// Pages of a session show private data (the cart, the account): no cache may keep them.
pub fn private_page() -> DefaultHeaders {
    DefaultHeaders::new().add((header::CACHE_CONTROL, "no-store"))
}
