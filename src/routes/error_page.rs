//! Error pages in the layout.
//!
//! `error.rs` decides what an error answers (status, headers, words) and puts
//! an [`ErrorPage`] on the response; the edge of the middleware stack
//! (`middleware/mod.rs`) renders that page here, inside the site's layout. The
//! error type so needs nothing from the pages, and every error looks the same
//! wherever it arose: a handler, an extractor, a middleware.

use askama::Template;

use crate::{error::ErrorPage, routes::layout::Layout};

/// `templates/error.html`.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorTemplate<'a> {
    /// Error pages show the anonymous navigation: they load no session.
    layout: Layout,
    status: u16,
    title: &'a str,
    message: &'a str,
    /// This request's id, shown on 5xx pages: a user who reports the error
    /// quotes it, and it finds the request's log lines.
    request_id: Option<&'a str>,
}

/// The HTML of `page` in the layout, or `None` if it does not render (the
/// response then keeps its plain-text message). A 5xx page shows `request_id`.
pub(crate) fn html(page: &ErrorPage, request_id: &str) -> Option<String> {
    let html = ErrorTemplate {
        layout: Layout::anonymous(""),
        status: page.status.as_u16(),
        title: page.title,
        message: &page.message,
        request_id: page.status.is_server_error().then_some(request_id),
    }
    .render();
    html.inspect_err(|error| log::error!("rendering the error page failed: {error}"))
        .ok()
}
