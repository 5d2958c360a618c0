//! The one error type of the web layer, and what each kind of failure answers.
//!
//! Handlers return `Result<_, AppError>` and use `?`. Each variant chooses its
//! status code, its headers and the words shown to the visitor; the cause of a
//! 5xx is logged once, with its chain, and never shown. How the page looks is
//! decided elsewhere: every error response carries an [`ErrorPage`](crate::error::ErrorPage), which
//! `routes::error_page` renders inside the site's layout. So this module, like
//! the settings, sits at the bottom of the crate and imports nothing from it.

use actix_session_postgres::StoreError;
use actix_web::{
    HttpResponse, ResponseError,
    http::{Method, StatusCode, header},
};

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 404: no such page.
    #[error("Page not found")]
    NotFound,
    /// 405: the page exists, the method does not.
    #[error("Method not allowed")]
    MethodNotAllowed {
        /// The methods the page does accept (the `Allow` header).
        allow: Vec<Method>,
    },
    /// 403: a POST without this session's CSRF token.
    #[error("Form expired")]
    CsrfRejected,
    /// 408: the request body did not arrive in time; the connection is closed.
    #[error("Request timed out")]
    RequestTimeout,
    /// 413: a request body over the limit.
    #[error("Request too large")]
    PayloadTooLarge,
    /// 414: a URL longer than the app accepts.
    #[error("Address too long")]
    UriTooLong,
    /// 431: request headers larger than the app accepts.
    #[error("Request headers too large")]
    HeadersTooLarge,
    /// 400: a body that is not a form at all.
    #[error("Bad request: {0}")]
    BadRequest(String),
    /// 429: too many attempts; the client may retry after this many seconds.
    #[error("Too many attempts")]
    TooManyRequests {
        /// Seconds until the next attempt is accepted (the `Retry-After` header).
        retry_after: u64,
    },
    /// 429: too many new sessions from one client address; it may retry after
    /// this many seconds.
    #[error("Too many new sessions")]
    TooManyNewSessions {
        /// Seconds until the address may start another session (the `Retry-After` header).
        retry_after: u64,
    },
    /// 503: too many password checks at once; the client may retry after this many seconds.
    #[error("too many password checks at once")]
    Busy {
        /// Seconds until a retry is likely to be served (the `Retry-After` header).
        retry_after: u64,
    },
    /// 503: the database is unavailable (see [`is_unavailable`]); the app
    /// recovers by itself when it is back.
    // `{:#}` prints anyhow's whole cause chain on one line.
    #[error("database unavailable: {0:#}")]
    Unavailable(anyhow::Error),
    /// 500: a bug or a mismatch in this app (a template that fails to render,
    /// a query the database schema does not match).
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl AppError {
    /// A failed database operation: [`AppError::Unavailable`] when an error in
    /// `cause`'s chain says the database cannot serve right now, else
    /// [`AppError::Internal`].
    pub fn database(cause: anyhow::Error) -> Self {
        let unavailable = cause.chain().any(|error| {
            if let Some(error) = error.downcast_ref::<StoreError>() {
                error.is_unavailable()
            } else if let Some(error) = error.downcast_ref::<sqlx::Error>() {
                is_unavailable(error)
            } else {
                false
            }
        });
        if unavailable {
            Self::Unavailable(cause)
        } else {
            Self::Internal(cause)
        }
    }

    /// The page title and message shown for this error.
    fn title_and_message(&self) -> (&'static str, String) {
        match self {
            Self::NotFound => ("Page not found", "There is no page at this address.".into()),
            Self::MethodNotAllowed { .. } => (
                "Method not allowed",
                "This page does not accept that kind of request.".into(),
            ),
            Self::CsrfRejected => (
                "Form expired",
                "This form was missing its security token or it did not match your session. \
                 Go back, reload the page and try again."
                    .into(),
            ),
            Self::RequestTimeout => (
                "Request timed out",
                "The form you sent did not arrive in time. Try again.".into(),
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
            Self::TooManyNewSessions { retry_after } => (
                "Too many new visitors",
                format!(
                    "Too many new sessions were started from your network address in a short \
                     time, so this one was not. Try again in {retry_after} seconds. (Browsers that \
                     already have a session here are not affected.)"
                ),
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

/// Why a 503 was answered, in a few fixed words: the label of
/// `session_demo_unavailable_responses_total` (see `metrics.rs`). Every 503
/// made from an [`AppError`] carries one in its extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnavailableCause(pub &'static str);

impl UnavailableCause {
    /// The cause of an unavailable database: the session store's deadline
    /// (`store_timeout`) or full queue (`store_overloaded`); else from the
    /// first `sqlx::Error` in `cause`'s chain: `pool_timeout` (no connection
    /// free in time), `connection` (refused, lost, TLS, closed),
    /// `statement_timeout`, `server_shutdown` (`57P01`-`57P03`), `read_only`
    /// (a write reached a standby during a failover), `conflict` (a
    /// serialization failure or deadlock), `lock_timeout`, `resources`
    /// (class `53`, such as too many connections); `other`.
    fn of(cause: &anyhow::Error) -> Self {
        let store = cause
            .chain()
            .find_map(|error| error.downcast_ref::<StoreError>())
            .map(StoreError::kind);
        match store {
            Some(actix_session_postgres::ErrorKind::Timeout) => return Self("store_timeout"),
            Some(actix_session_postgres::ErrorKind::Overloaded) => return Self("store_overloaded"),
            _ => {}
        }
        let sqlx = cause
            .chain()
            .find_map(|error| error.downcast_ref::<sqlx::Error>());
        Self(match sqlx {
            Some(sqlx::Error::PoolTimedOut) => "pool_timeout",
            Some(sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolClosed) => {
                "connection"
            }
            Some(sqlx::Error::Database(error)) => match error.code().as_deref() {
                Some(code) if code.starts_with("08") => "connection",
                Some(code) if code.starts_with("53") => "resources",
                Some("57014") => "statement_timeout",
                Some("57P01" | "57P02" | "57P03") => "server_shutdown",
                Some("25006") => "read_only",
                Some("40001" | "40P01") => "conflict",
                Some("55P03") => "lock_timeout",
                _ => "other",
            },
            _ => "other",
        })
    }
}

/// Whether a database error means "the database cannot serve right now" (a
/// `503`, worth retrying) rather than "this app and its database disagree" (a
/// `500`, a bug to fix). One list for the whole app: the session store's
/// ([`actix_session_postgres::is_unavailable`], which names each SQLSTATE and why).
pub use actix_session_postgres::is_unavailable;

/// A database error met by a handler: a `503` or a `500`, see [`AppError::database`].
/// (Errors that a client's input can cause, such as a taken username, are
/// recognised and answered by the handler before they get here.)
impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        Self::database(error.into())
    }
}

/// A template that fails to render is a bug: a `500`.
impl From<askama::Error> for AppError {
    fn from(error: askama::Error) -> Self {
        Self::Internal(error.into())
    }
}

/// What a `503` for an unavailable database tells clients to wait, in
/// seconds: about how long a PostgreSQL failover or restart takes to be
/// noticed and served around (docs/high-availability.md).
pub const UNAVAILABLE_RETRY_AFTER_SECONDS: u64 = 5;

/// What an error page says. Every response made from an [`AppError`] carries
/// one in its extensions, for `routes::error_page` to render in the layout.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    /// The status code, shown to the visitor too.
    pub status: StatusCode,
    /// The page's heading.
    pub title: &'static str,
    /// What happened and what to do.
    pub message: String,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::CsrfRejected => StatusCode::FORBIDDEN,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::TooManyRequests { .. } | Self::TooManyNewSessions { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::Busy { .. } | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The response: status, headers, and the message as plain text until the
    /// layout renders the [`ErrorPage`] it carries. The only place a 5xx is logged.
    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        // A busy answer is the hashing limit doing its job: a flood must not
        // write a log line per refused request.
        if status.is_server_error() && !matches!(self, Self::Busy { .. }) {
            log::error!("{status}: {self}");
        }
        let mut response = HttpResponse::build(status);
        response.insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]));
        match self {
            Self::TooManyRequests { retry_after }
            | Self::TooManyNewSessions { retry_after }
            | Self::Busy { retry_after } => {
                response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            Self::Unavailable(_) => {
                response.insert_header((
                    header::RETRY_AFTER,
                    UNAVAILABLE_RETRY_AFTER_SECONDS.to_string(),
                ));
            }
            Self::MethodNotAllowed { allow } => {
                response.insert_header(header::Allow(allow.clone()));
            }
            // The rest of the body may still be on its way: this connection is done.
            Self::RequestTimeout => {
                response.force_close();
            }
            _ => {}
        }
        let (title, message) = self.title_and_message();
        let mut response = response
            .content_type("text/plain; charset=utf-8")
            .body(message.clone());
        match self {
            Self::Busy { .. } => {
                response
                    .extensions_mut()
                    .insert(UnavailableCause("password_hashing"));
            }
            Self::Unavailable(cause) => {
                response
                    .extensions_mut()
                    .insert(UnavailableCause::of(cause));
            }
            _ => {}
        }
        response.extensions_mut().insert(ErrorPage {
            status,
            title,
            message,
        });
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database error with this SQLSTATE, as the PostgreSQL driver reports it.
    fn with_code(code: &str) -> sqlx::Error {
        #[derive(Debug)]
        struct Coded(String);
        impl std::fmt::Display for Coded {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "SQLSTATE {}", self.0)
            }
        }
        impl std::error::Error for Coded {}
        impl sqlx::error::DatabaseError for Coded {
            fn message(&self) -> &str {
                &self.0
            }
            fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
                Some(self.0.as_str().into())
            }
            fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
                self
            }
            fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
                self
            }
            fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
                self
            }
            fn kind(&self) -> sqlx::error::ErrorKind {
                sqlx::error::ErrorKind::Other
            }
        }
        sqlx::Error::Database(Box::new(Coded(code.into())))
    }

    #[test]
    fn only_availability_failures_are_503() {
        for code in [
            "08006", "08001", "53300", "53200", "57014", "57P01", "57P03", "25006", "55P03",
            "40001", "40P01",
        ] {
            let error = AppError::from(with_code(code));
            assert_eq!(
                error.status_code(),
                StatusCode::SERVICE_UNAVAILABLE,
                "{code}"
            );
        }
        for code in ["42703", "42P01", "23505", "22P02", "23503"] {
            let error = AppError::from(with_code(code));
            assert_eq!(
                error.status_code(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "{code}"
            );
        }
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
    }

    #[test]
    fn a_503_names_its_cause() {
        let cause = |error: sqlx::Error| {
            AppError::from(error)
                .error_response()
                .extensions()
                .get::<UnavailableCause>()
                .copied()
        };
        assert_eq!(
            cause(sqlx::Error::PoolTimedOut),
            Some(UnavailableCause("pool_timeout"))
        );
        assert_eq!(
            cause(with_code("57014")),
            Some(UnavailableCause("statement_timeout"))
        );
        assert_eq!(
            cause(with_code("53300")),
            Some(UnavailableCause("resources"))
        );
        assert_eq!(
            cause(with_code("57P01")),
            Some(UnavailableCause("server_shutdown"))
        );
        assert_eq!(cause(with_code("42703")), None, "a 500 has no such cause");
        let busy = AppError::Busy { retry_after: 1 }.error_response();
        assert_eq!(
            busy.extensions().get::<UnavailableCause>(),
            Some(&UnavailableCause("password_hashing"))
        );
    }

    #[test]
    fn the_cause_is_found_under_context() {
        use anyhow::Context;
        let wrapped = Err::<(), _>(sqlx::Error::PoolTimedOut)
            .context("loading a session")
            .context("session store")
            .unwrap_err();
        let error = AppError::database(wrapped);
        assert_eq!(error.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            error.to_string(),
            "database unavailable: session store: loading a session: \
             pool timed out while waiting for an open connection"
        );
    }

    #[test]
    fn a_405_says_which_methods_are_allowed() {
        let error = AppError::MethodNotAllowed {
            allow: vec![Method::GET, Method::HEAD],
        };
        let response = error.error_response();
        let allow = response
            .headers()
            .get(header::ALLOW)
            .expect("an Allow header");
        assert_eq!(allow.to_str().ok(), Some("GET, HEAD"));
        assert!(response.extensions().get::<ErrorPage>().is_some());
    }
}
