//! The one error type of the web layer, and how each kind becomes a page.
//!
//! Handlers return `Result<_, AppError>` and use `?`. Each variant chooses its
//! status code; the page shown is `templates/error.html` inside the layout. The
//! cause of a 5xx is logged once, with its chain, and never shown to the visitor.

use std::fmt;

use actix_web::{
    HttpResponse, ResponseError,
    http::{StatusCode, header},
};
use askama::Template;

use crate::routes::layout::Layout;

/// Everything a request can fail with.
#[derive(Debug)]
pub enum AppError {
    /// 404: no such page.
    NotFound,
    /// 405: the page exists, the method does not.
    MethodNotAllowed,
    /// 403: a POST without this session's CSRF token.
    CsrfRejected,
    /// 413: a request body over the limit.
    PayloadTooLarge,
    /// 414: a URL longer than the app accepts.
    UriTooLong,
    /// 431: request headers larger than the app accepts.
    HeadersTooLarge,
    /// 400: a body that is not a form at all.
    BadRequest(String),
    /// 429: too many attempts; the client may retry after this many seconds.
    TooManyRequests {
        /// Seconds until the next attempt is accepted (the `Retry-After` header).
        retry_after: u64,
    },
    /// 503: too many password checks at once; the client may retry after this many seconds.
    Busy {
        /// Seconds until a retry is likely to be served (the `Retry-After` header).
        retry_after: u64,
    },
    /// 503: the database did not answer; the app recovers by itself when it does.
    Unavailable(anyhow::Error),
    /// 500: a bug in this app (for example a template that fails to render).
    Internal(anyhow::Error),
}

impl AppError {
    /// The page title and message shown for this error.
    fn title_and_message(&self) -> (&'static str, String) {
        match self {
            Self::NotFound => ("Page not found", "There is no page at this address.".into()),
            Self::MethodNotAllowed => (
                "Method not allowed",
                "This page does not accept that kind of request.".into(),
            ),
            Self::CsrfRejected => (
                "Form expired",
                "This form was missing its security token or it did not match your session. \
                 Go back, reload the page and try again."
                    .into(),
            ),
            Self::PayloadTooLarge => (
                "Request too large",
                "The form you sent was larger than this site accepts.".into(),
            ),
            Self::UriTooLong => (
                "Address too long",
                "The address of this request is longer than this site accepts.".into(),
            ),
            Self::HeadersTooLarge => (
                "Request headers too large",
                "Your browser sent more header data (for example cookies) than this site \
                 accepts. Clearing this site's cookies fixes it."
                    .into(),
            ),
            Self::BadRequest(message) => ("Bad request", message.clone()),
            Self::TooManyRequests { retry_after } => (
                "Too many attempts",
                format!("Too many attempts. Try again in {retry_after} seconds."),
            ),
            Self::Busy { retry_after } => (
                "Busy",
                format!("The site is busy checking passwords. Try again in {retry_after} seconds."),
            ),
            Self::Unavailable(_) => (
                "Temporarily unavailable",
                "The site is temporarily unavailable, try again in a moment.".into(),
            ),
            Self::Internal(_) => (
                "Something went wrong",
                "Something went wrong on our side. Try again later.".into(),
            ),
        }
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(cause) => write!(f, "database unavailable: {cause:#}"),
            Self::Internal(cause) => write!(f, "internal error: {cause:#}"),
            other => f.write_str(other.title_and_message().0),
        }
    }
}

impl std::error::Error for AppError {}

/// Every database error during a request means "unavailable": the 503 page, never a 500.
/// (Errors that a client's input can cause, such as a taken username, are
/// recognised and answered by the handler before they get here.)
impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        Self::Unavailable(error.into())
    }
}

impl From<askama::Error> for AppError {
    fn from(error: askama::Error) -> Self {
        Self::Internal(error.into())
    }
}

/// The error page: `templates/error.html`.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// The layout; error pages show the anonymous navigation.
    pub layout: Layout,
    /// The HTTP status code, shown to the visitor.
    pub status: u16,
    /// The page's heading.
    pub title: String,
    /// What happened and what to do.
    pub message: String,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::CsrfRejected => StatusCode::FORBIDDEN,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Busy { .. } | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            // `{:#}` prints anyhow's whole cause chain on one line.
            log::error!("{status}: {self}");
        }
        let (title, message) = self.title_and_message();
        let page = ErrorPage {
            layout: Layout::anonymous(""),
            status: status.as_u16(),
            title: title.into(),
            message: message.clone(),
        };
        let mut response = HttpResponse::build(status);
        response.insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]));
        if let Self::TooManyRequests { retry_after } | Self::Busy { retry_after } = self {
            response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
        }
        match page.render() {
            Ok(html) => response.content_type("text/html; charset=utf-8").body(html),
            Err(error) => {
                log::error!("rendering the error page failed: {error}");
                response
                    .content_type("text/plain; charset=utf-8")
                    .body(message)
            }
        }
    }
}
