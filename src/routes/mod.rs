//! The pages: one file per page, and the table of routes.

pub mod account;
pub mod cart;
pub mod error_page;
pub mod health;
pub mod home;
pub mod inspector;
pub mod layout;
pub mod login;
pub mod register;
pub mod time_text;

use std::path::PathBuf;

use actix_files::Files;
use actix_web::{
    FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, Route,
    dev::{AppService, HttpServiceFactory},
    guard,
    http::{Method, StatusCode, header},
    middleware::{DefaultHeaders, from_fn},
    web,
};
use askama::Template;

use crate::{
    auth::guard::require_sign_in, error::AppError, limits::AddressLimits, middleware::metrics,
};

/// The routes that use the session (everything but static files and `/healthz`).
///
/// `address_limits` are shared by all workers, so they are built once and
/// passed in: the two routes that hash passwords for anyone count an
/// address's attempts, and the two that can start a session count its new
/// sessions (`limits.rs`).
pub fn session_routes(cfg: &mut web::ServiceConfig, address_limits: &AddressLimits) {
    let starts_session = &address_limits.new_sessions;
    cfg.service(Endpoint::at("/").get_route(starts_session.on(web::route().to(home::counter))))
        .service(Endpoint::at("/visits").get(home::visits))
        .service(Endpoint::at("/session").get(inspector::show))
        .service(
            Endpoint::at("/register")
                .get(register::form)
                .post_route(address_limits.register.on(web::post().to(register::submit))),
        )
        .service(
            Endpoint::at("/login").get(login::form).post_route(
                address_limits
                    .login
                    .on(web::post()
                        .to(login::submit)
                        .wrap(from_fn(metrics::past_address_limit)))
                    .wrap(from_fn(metrics::count_login_attempts)),
            ),
        )
        .service(Endpoint::at("/logout").post(login::logout))
        .service(Endpoint::at("/cart").get(cart::show))
        .service(Endpoint::at("/cart/add").post_route(starts_session.on(web::post().to(cart::add))))
        .service(Endpoint::at("/cart/update").post(cart::update))
        .service(Endpoint::at("/cart/remove").post(cart::remove))
        .service(Endpoint::at("/cart/clear").post(cart::clear))
        .service(
            web::scope("/account")
                .wrap(from_fn(require_sign_in))
                .service(Endpoint::at("").get(account::show))
                .service(
                    // The current password is a password guess like a login's:
                    // it counts in the address's login bucket.
                    Endpoint::at("/password")
                        .get(account::password_form)
                        .post_route(
                            address_limits
                                .login
                                .on(web::post().to(account::change_password)),
                        ),
                )
                .service(Endpoint::at("/sessions/revoke").post(account::revoke))
                .service(Endpoint::at("/devices/forget").post(account::forget_devices)),
        );
}

/// `/healthz`, `/readyz` and `/livez`, outside the session middleware (see `health.rs`).
pub fn health_routes() -> impl HttpServiceFactory {
    (
        Endpoint::at("/healthz").get(health::healthz),
        Endpoint::at("/readyz").get(health::readyz),
        Endpoint::at("/livez").get(health::livez),
    )
}

/// How long a browser may use a static file without asking again.
///
/// Five minutes, then a revalidation: the browser sends the `ETag` and
/// `Last-Modified` it was given (actix-files sends both) and gets a bodiless
/// `304` while the file is unchanged. A long `max-age` would need content-hashed
/// file names, so that a deploy's new stylesheet gets a new URL; this app has
/// two static files and no build step for them, and a changed stylesheet
/// reaches every browser within five minutes of a deploy. `public`: the files
/// are the same for everyone. Pages keep `no-store` (`headers::private_page`).
pub const STATIC_CACHE_CONTROL: &str = "public, max-age=300";

/// The files in `dir` under `/static`, for GET and HEAD; a missing file is the
/// 404 page, any other method the 405 page.
pub fn static_files(dir: impl Into<PathBuf>) -> impl HttpServiceFactory {
    let files = Files::new("", dir.into())
        .guard(get_or_head())
        .default_handler(web::to(not_found));
    // actix-files answers other methods itself, with a bare 405 and no
    // `Allow`; its guard above sends them here instead.
    let other_methods = Endpoint::at("/{file:.*}").allowing([Method::GET, Method::HEAD]);
    web::scope("/static")
        // Only where no Cache-Control is set: error pages keep their `no-store`.
        .wrap(DefaultHeaders::new().add((header::CACHE_CONTROL, STATIC_CACHE_CONTROL)))
        .service(files)
        .service(other_methods)
}

/// One path of the site and the methods it answers: a `web::resource` with
/// two rules added.
///
/// - A GET handler answers HEAD too: the same status and headers, and
///   actix-web leaves the body out.
/// - Any other method gets the 405 page, whose `Allow` header lists the
///   methods this path does accept.
pub struct Endpoint {
    resource: Resource,
    allow: Vec<Method>,
}

impl Endpoint {
    /// An endpoint at `path` that answers no method yet.
    pub fn at(path: &str) -> Self {
        Self {
            resource: web::resource(path),
            allow: Vec::new(),
        }
    }

    /// GET (and HEAD) go to `handler`.
    pub fn get<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.get_route(web::route().to(handler))
    }

    /// GET (and HEAD) go to `route`, a route with middleware of its own.
    pub fn get_route(mut self, route: Route) -> Self {
        self.resource = self.resource.route(route.guard(get_or_head()));
        self.allowing([Method::GET, Method::HEAD])
    }

    /// POST goes to `handler`.
    pub fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.post_route(web::post().to(handler))
    }

    /// POST goes to `route`, a `web::post()` route with middleware of its own.
    pub fn post_route(mut self, route: Route) -> Self {
        self.resource = self.resource.route(route);
        self.allowing([Method::POST])
    }

    /// Adds `methods` to the `Allow` header of this endpoint's 405.
    fn allowing(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.allow.extend(methods);
        self
    }
}

impl HttpServiceFactory for Endpoint {
    fn register(self, config: &mut AppService) {
        let allow = self.allow;
        let method_not_allowed = web::to(move || {
            let allow = allow.clone();
            async move { Err::<HttpResponse, _>(AppError::MethodNotAllowed { allow }) }
        });
        self.resource
            .default_service(method_not_allowed)
            .register(config);
    }
}

/// Matches GET and HEAD requests.
fn get_or_head() -> impl guard::Guard {
    guard::Any(guard::Get()).or(guard::Head())
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
