//! `GET /healthz`: is the database answering?

use actix_web::{HttpResponse, web};
use sqlx::PgPool;

/// `200 ok` when PostgreSQL answers a trivial query, `503` otherwise.
///
/// This route sits outside the session middleware: a load balancer polling it
/// every second must not load (or create) sessions. Its one query is its check.
pub async fn healthz(pool: web::Data<PgPool>) -> HttpResponse {
    match sqlx::query("SELECT 1").execute(pool.get_ref()).await {
        Ok(_) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body("ok"),
        Err(error) => {
            log::warn!("health check failed: {error}");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain; charset=utf-8")
                .body("database unavailable")
        }
    }
}
