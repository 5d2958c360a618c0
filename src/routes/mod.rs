//! The pages: one file per page, and the table of routes.

pub mod account;
pub mod cart;
pub mod health;
pub mod home;
pub mod inspector;
pub mod layout;
pub mod login;
pub mod register;
pub mod time_text;

use actix_governor::Governor;
use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    middleware::from_fn,
    web,
};
use askama::Template;

use crate::{
    auth::{guard::require_sign_in, throttle::AddressLimiter},
    error::AppError,
};

/// The per-address limiters of the two routes that hash passwords for
/// anyone: each route counts an address's attempts in a bucket of its own.
#[derive(Clone)]
pub struct AddressLimits {
    /// `POST /login`.
    pub login: AddressLimiter,
    /// `POST /register`.
    pub register: AddressLimiter,
}

/// The routes that use the session (everything but static files and `/healthz`).
///
/// `address_limits` are shared by all workers, so they are built once and passed in.
pub fn session_routes(cfg: &mut web::ServiceConfig, address_limits: &AddressLimits) {
    cfg.service(resource("/").get(home::counter))
        .service(resource("/visits").get(home::visits))
        .service(resource("/session").get(inspector::show))
        .service(
            resource("/register").get(register::form).route(
                web::post()
                    .to(register::submit)
                    .wrap(Governor::new(&address_limits.register)),
            ),
        )
        .service(
            resource("/login").get(login::form).route(
                web::post()
                    .to(login::submit)
                    .wrap(Governor::new(&address_limits.login)),
            ),
        )
        .service(resource("/logout").post(login::logout))
        .service(resource("/cart").get(cart::show))
        .service(resource("/cart/add").post(cart::add))
        .service(resource("/cart/update").post(cart::update))
        .service(resource("/cart/remove").post(cart::remove))
        .service(resource("/cart/clear").post(cart::clear))
        .service(
            web::scope("/account")
                .wrap(from_fn(require_sign_in))
                .service(resource("").get(account::show))
                .service(
                    resource("/password")
                        .get(account::password_form)
                        .post(account::change_password),
                )
                .service(resource("/sessions/revoke").post(account::revoke)),
        );
}

/// A resource that answers 405 (in the layout) to methods it does not route.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// 405: the path exists but not with this method.
pub async fn method_not_allowed() -> Result<HttpResponse, AppError> {
    Err(AppError::MethodNotAllowed)
}

/// 404: nothing at this path.
pub async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound)
}

/// Renders a page with a status code.
pub fn render(status: StatusCode, page: &impl Template) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page.render()?))
}

/// `303 See Other` to `location`: after a POST, the browser GETs the next page
/// (so reloading it does not send the form again).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// The request's `User-Agent`, or an empty string.
pub fn user_agent(req: &HttpRequest) -> &str {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}
