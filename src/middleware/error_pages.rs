//! Error responses become pages in the layout: a response that carries an
//! [`ErrorPage`] (every response made from an `AppError` does) gets its body
//! rendered by `routes/error_page.rs`.

use actix_web::{
    HttpResponse,
    body::{BoxBody, EitherBody, MessageBody},
    dev::ServiceResponse,
    http::header::{self, HeaderValue},
};

use super::request_id::RequestId;
use crate::{error::ErrorPage, routes::error_page};

/// `response` with its error page rendered, if it carries one.
pub(crate) fn render<B: MessageBody>(
    response: ServiceResponse<B>,
    id: &RequestId,
) -> ServiceResponse<EitherBody<B, BoxBody>> {
    match page_html(response.response(), id) {
        Some(html) => response.map_body(|head, _| {
            head.headers.insert(header::CONTENT_TYPE, html_type());
            EitherBody::right(BoxBody::new(html))
        }),
        None => response.map_into_left_body(),
    }
}

/// The same for a response made from an error that reached the edge.
pub(crate) fn render_boxed(mut response: HttpResponse, id: &RequestId) -> HttpResponse {
    match page_html(&response, id) {
        Some(html) => {
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, html_type());
            response.set_body(BoxBody::new(html))
        }
        None => response,
    }
}

fn page_html<B>(response: &HttpResponse<B>, id: &RequestId) -> Option<String> {
    error_page::html(response.extensions().get::<ErrorPage>()?, id.as_str())
}

fn html_type() -> HeaderValue {
    HeaderValue::from_static("text/html; charset=utf-8")
}
