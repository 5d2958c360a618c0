//! Health checks for balancers and supervisors, outside the session
//! middleware: polling them never loads (or creates) a session.
//!
//! - `GET /healthz` (the contract's): can the session store serve? Its one
//!   query is its check.
//! - `GET /readyz`, readiness: should a balancer send new work here? No while
//!   the process drains after `SIGTERM` (`shutdown.rs`), and no while the
//!   session store cannot serve.
//! - `GET /livez`, liveness: is the process alive? Yes as long as it answers;
//!   it touches no database, so a supervisor that restarts on a failed
//!   liveness check does not restart every instance when the database is down.

use actix_web::{HttpResponse, web};

use actix_session_postgres::SessionPool;

use crate::shutdown::Draining;

fn text(mut response: actix_web::HttpResponseBuilder, body: &'static str) -> HttpResponse {
    response
        .content_type("text/plain; charset=utf-8")
        .body(body)
}

/// `200 ok` when the session store can serve, `503` otherwise.
///
/// The check ([`SessionPool::check_schema`]) runs through the session store's
/// own pool (this worker's), so a pool that cannot hand out a connection fails
/// it too, and against the `sessions` table the store uses.
pub async fn healthz(pool: web::Data<SessionPool>) -> HttpResponse {
    match pool.check_schema().await {
        Ok(()) => text(HttpResponse::Ok(), "ok"),
        Err(error) => {
            log::warn!("health check failed: {error}");
            text(
                HttpResponse::ServiceUnavailable(),
                "session store unavailable",
            )
        }
    }
}

/// `200 ready`, or `503` while draining or while the session store cannot serve.
pub async fn readyz(pool: web::Data<SessionPool>, draining: web::Data<Draining>) -> HttpResponse {
    if draining.is_draining() {
        return text(HttpResponse::ServiceUnavailable(), "draining");
    }
    healthz(pool).await
}

/// `200 alive`, always: the process answers.
pub async fn livez() -> HttpResponse {
    text(HttpResponse::Ok(), "alive")
}
