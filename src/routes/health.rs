//! `GET /healthz`: can the session store serve?

use actix_web::{HttpResponse, web};

use actix_session_postgres::SessionPool;

/// `200 ok` when the session store can serve, `503` otherwise.
///
/// The check ([`SessionPool::check_schema`]) runs through the session store's
/// own pool (this worker's), so a pool that cannot hand out a connection fails
/// it too, and against the `sessions` table the store uses. This route sits
/// outside the session middleware: a load balancer polling it every second
/// never loads (or creates) a session. Its one query is its check.
pub async fn healthz(pool: web::Data<SessionPool>) -> HttpResponse {
    match pool.check_schema().await {
        Ok(()) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body("ok"),
        Err(error) => {
            log::warn!("health check failed: {error}");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain; charset=utf-8")
                .body("session store unavailable")
        }
    }
}
