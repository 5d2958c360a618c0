//! The pages: one file per page, and the table of routes.

pub mod health;
pub mod home;
pub mod layout;

use actix_web::{HttpResponse, web};

use crate::error::AppError;

/// The routes that use the session (everything but static files and `/healthz`).
pub fn session_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/").get(home::counter))
        .service(resource("/visits").get(home::visits));
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
