//! Error pages in the layout.
//!
//! `error.rs` decides what an error answers (status, headers, words) and puts
//! an [`ErrorPage`] on the response; this middleware, wrapped around the whole
//! app, renders that page inside the site's layout. The error type so needs
//! nothing from the pages, and every error looks the same wherever it arose: a
//! handler, an extractor, a middleware.

use actix_web::{
    HttpResponse,
    body::{BoxBody, EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderValue},
    middleware::Next,
};
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
}

/// Renders every response that carries an [`ErrorPage`] in the layout.
///
/// An error returned by a middleware deeper in the stack (the session store's,
/// see `session/middleware.rs`) becomes its response only when actix-web asks
/// for it; the page is rendered then.
pub async fn render_error_pages(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    match next.call(req).await {
        Ok(response) => match page_html(response.response()) {
            Some(html) => Ok(response.map_body(|head, _| {
                head.headers.insert(header::CONTENT_TYPE, html_type());
                EitherBody::right(BoxBody::new(html))
            })),
            None => Ok(response.map_into_left_body()),
        },
        Err(mut error) => {
            error.add_response_mapper(in_layout);
            Err(error)
        }
    }
}

/// `response` with its error page rendered, if it carries one.
fn in_layout(mut response: HttpResponse) -> HttpResponse {
    match page_html(&response) {
        Some(html) => {
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, html_type());
            response.set_body(BoxBody::new(html))
        }
        None => response,
    }
}

/// The HTML of the error page `response` carries, if it carries one and it
/// renders (if not, its plain-text message stays).
fn page_html<B>(response: &HttpResponse<B>) -> Option<String> {
    let extensions = response.extensions();
    let page = extensions.get::<ErrorPage>()?;
    let html = ErrorTemplate {
        layout: Layout::anonymous(""),
        status: page.status.as_u16(),
        title: page.title,
        message: &page.message,
    }
    .render();
    html.inspect_err(|error| log::error!("rendering the error page failed: {error}"))
        .ok()
}

fn html_type() -> HeaderValue {
    HeaderValue::from_static("text/html; charset=utf-8")
}
